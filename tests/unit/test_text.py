"""Shared text normalisation (common/text.py) against a table of inputs and exact expected outputs."""

from __future__ import annotations

import pytest

from common.text import clean_text, kanji_number, nfkc, town_sort_key


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("\u3000\u3000", None),
        ("\t\n", None),
        ("  大和市 ", "大和市"),
        ("座間\u3000\u3000市", "座間 市"),
        ("a \t\n b", "a b"),
        ("ＮＰＯ法人", "NPO法人"),
        ("１２３", "123"),
        ("ｻﾝﾌﾟﾙ", "サンプル"),
        ("（サンプル）", "(サンプル)"),
        ("㈱", "(株)"),
        (12, "12"),
    ],
)
def test_nfkc(value, expected):
    assert nfkc(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("  \r\n ", None),
        ("一行目\r\n二行目", "一行目\n二行目"),
        ("  ａ　 ｂ  \n\n  ｃ  ", "a b\n\nc"),
        ("\n\n本文\n\n", "本文"),
        ("月～金 9:30-16:00", "月~金 9:30-16:00"),
    ],
)
def test_clean_text(value, expected):
    assert clean_text(value) == expected


def test_town_sort_key_orders_chome_by_number():
    # As the reference geography lists them (character order), and as a person counts them.
    listed = [
        "中央一丁目",
        "中央七丁目",
        "中央三丁目",
        "中央二丁目",
        "中央十一丁目",
        "中央十丁目",
        "中央二十丁目",
        "中央",
    ]
    assert sorted(listed, key=town_sort_key) == [
        "中央",
        "中央一丁目",
        "中央二丁目",
        "中央三丁目",
        "中央七丁目",
        "中央十丁目",
        "中央十一丁目",
        "中央二十丁目",
    ]


def test_town_sort_key_mixes_written_forms_and_keeps_names():
    # Arabic and full-width digits count as numbers too; a numeral inside a name (一之宮, 四谷) stays text.
    assert sorted(["上土棚10丁目", "上土棚２丁目", "上土棚三丁目"], key=town_sort_key) == [
        "上土棚２丁目",
        "上土棚三丁目",
        "上土棚10丁目",
    ]
    assert town_sort_key("一之宮") == "一之宮"
    assert town_sort_key("四谷二丁目") == "四谷00000002丁目"
    assert town_sort_key(None) == ""


@pytest.mark.parametrize(
    ("text", "value"), [("一", 1), ("十", 10), ("十一", 11), ("二十", 20), ("二十三", 23), ("百三", 103), ("一〇", 10)]
)
def test_kanji_number(text, value):
    assert kanji_number(text) == value
