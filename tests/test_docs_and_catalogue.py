"""The documentation and the message catalogue stay in step with the code."""

from __future__ import annotations

import datetime as dt

import pytest

from dashboard.downloads import csv_bytes, neutralise
from dashboard.format import date_label, wareki
from dashboard.i18n import catalogue
from warehouse import docs


def test_data_model_doc_is_current():
    assert docs.TARGET.read_text(encoding="utf-8") == docs.render(), "run: python -m warehouse.docs"


def test_catalogues_have_the_same_keys():
    assert sorted(catalogue("ja")) == sorted(catalogue("en"))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 3, 31), "令和7年3月31日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
    ],
)
def test_wareki(day, expected):
    assert wareki(day) == expected


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        (dt.date(2025, 2, 1), "ja", "令和7年2月1日（2025-02-01）"),
        (dt.date(2025, 2, 1), "en", "2025-02-01 (R7)"),
        (dt.datetime(2025, 3, 31, 9, 5), "ja", "令和7年3月31日（2025-03-31） 09:05"),
        (None, "ja", "—"),
    ],
)
def test_date_label(value, lang, expected):
    assert date_label(value, lang) == expected


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
