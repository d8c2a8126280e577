"""Display formatting (dashboard/format.py): yen amounts and table cells without a raw None."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from dashboard.format import MISSING, display, yen


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        (7_700_000, "ja", "7,700,000 円"),
        (299_000, "ja", "299,000 円"),
        (7_700_000, "en", "7,700,000 yen"),
        (0, "ja", "0 円"),
        (None, "ja", MISSING),
    ],
)
def test_yen(value, lang, expected):
    assert yen(value, lang) == expected


def test_display_shows_missing_cells_as_a_dash_and_keeps_full_columns_typed():
    frame = pl.DataFrame(
        {
            "name": ["a", None],
            "count": [1234, None],
            "share": [12.5, None],
            "day": [dt.date(2025, 3, 31), None],
            "flag": [True, None],
            "whole": [1, 2],
        }
    )
    shown = display(frame)
    assert shown.rows() == [
        ("a", "1,234", "12.5", "2025-03-31", "true", 1),
        (MISSING, MISSING, MISSING, MISSING, MISSING, 2),
    ]
    assert shown.schema["whole"] == pl.Int64
    assert shown.null_count().sum_horizontal().item() == 0


def test_display_of_an_empty_frame_keeps_its_columns():
    frame = pl.DataFrame(schema={"a": pl.Int64, "b": pl.String})
    assert display(frame).columns == ["a", "b"]
