"""The documentation and the message catalogue stay in step with the code."""

from __future__ import annotations

import pytest

from dashboard.downloads import csv_bytes, neutralise
from dashboard.i18n import catalogue
from warehouse import docs


def test_data_model_doc_is_current():
    assert docs.TARGET.read_text(encoding="utf-8") == docs.render(), "run: python -m warehouse.docs"


def test_catalogues_have_the_same_keys():
    assert sorted(catalogue("ja")) == sorted(catalogue("en"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("+81", "'+81"), ("-2", "'-2"), ("@SUM", "'@SUM"), ("\tx", "'\tx"), ("大和市", "大和市")],
)
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_csv_bytes_has_bom_crlf_and_neutralised_cells():
    import polars as pl

    frame = pl.DataFrame({"市": ["大和市", "=HYPERLINK()"], "n": [1, -2]})
    assert csv_bytes(frame) == "\ufeff市,n\r\n大和市,1\r\n'=HYPERLINK(),-2\r\n".encode()
