"""Shared text normalisation (common/text.py) against a table of inputs and exact expected outputs."""

from __future__ import annotations

import pytest

from common.text import clean_text, nfkc


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
