"""Every ETL normaliser against a table of inputs and exact expected outputs or messages."""

from __future__ import annotations

import datetime as dt
import unicodedata

import polars as pl
import pytest

from etl import normalise
from etl.normalise import (
    normalise_phone,
    org_name_key,
    parse_count,
    parse_email,
    parse_time,
    parse_timestamp,
    parse_yen,
    parse_yes_no,
    split_multi,
)

from .builders import SEEDS


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("（サンプル）NPO法人 さくら", "サンプルさくら"),
        ("（サンプル）特定非営利活動法人 さくら", "サンプルさくら"),
        ("特定非営利活動法人（サンプル）さくら", "サンプルさくら"),
        ("認定NPO法人 （サンプル）さくら", "サンプルさくら"),
        ("認定特定非営利活動法人（サンプル）さくら", "サンプルさくら"),
        ("ＮＰＯ法人\u3000（サンプル）さくら", "サンプルさくら"),
        ("npo法人（サンプル）さくら", "サンプルさくら"),
        ("（サンプル）社会福祉法人 ひかり会", "サンプルひかり会"),
        ("（サンプル）（福）ひかり会", "サンプルひかり会"),
        ("(福)（サンプル）ひかり会", "サンプルひかり会"),
        ("社福 （サンプル）ひかり会", "サンプルひかり会"),
        ("（サンプル）株式会社あさひファーム", "サンプルあさひファーム"),
        ("（サンプル）（株）あさひファーム", "サンプルあさひファーム"),
        ("（サンプル）㈱あさひファーム", "サンプルあさひファーム"),
        ("（サンプル）あさひファーム（株）", "サンプルあさひファーム"),
        ("（サンプル）合同会社あさひファーム", "サンプルあさひファーム"),
        ("（サンプル）有限会社あさひファーム", "サンプルあさひファーム"),
        ("（サンプル）一般社団法人 つながる", "サンプルつながる"),
        ("（サンプル）（一社）つながる", "サンプルつながる"),
        ("（サンプル）一社 つながる", "サンプルつながる"),
        ("（サンプル）公益財団法人 国際交流協会", "サンプル国際交流協会"),
        ("（サンプル）（公財）国際交流協会", "サンプル国際交流協会"),
        ("（サンプル）一般財団法人 文化振興財団", "サンプル文化振興財団"),
        ("（サンプル）医療法人 みらい会", "サンプルみらい会"),
        ("（サンプル）（医）みらい会", "サンプルみらい会"),
        ("（サンプル）労働者協同組合 わかばワーカーズ", "サンプルわかばワーカーズ"),
        ("（サンプル）ｻﾝﾌﾟﾙﾜｰｸｽ", "サンプルサンプルワークス"),
        ("（サンプル）ユースＬｉｎｋ", "サンプルユースlink"),
        ("（サンプル）ユース Link", "サンプルユースlink"),
        ("（サンプル）子育てひろば・めだか", "サンプル子育てひろばめだか"),
        ("（サンプル）子育てひろばめだか", "サンプル子育てひろばめだか"),
        ("（サンプル）「ほっと」カフェ、ＯＮＥ.", "サンプルほっとカフェone"),
        ("（サンプル）ラーメン‐ワークス", "サンプルラーメンワークス"),
        ("（サンプル）中央自治会", "サンプル中央自治会"),
        ("（サンプル）中央地域包括支援センター", "サンプル中央地域包括支援センター"),
        ("第一社会館", "第一社会館"),
        ("認定こども園あおば", "こども園あおば"),
        ("   ", None),
        (None, None),
        ("（株）", None),
    ],
)
def test_org_name_key(name, expected):
    assert org_name_key(name) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("（サンプル）NPO法人 さくら", "（サンプル）特定非営利活動法人　さくら"),
        ("（サンプル）社会福祉法人 ひかり会", "（サンプル）（福）ひかり会"),
        ("（サンプル）株式会社あさひ", "（サンプル）(株)あさひ"),
        ("（サンプル）ユース Link", "（サンプル）ユース　Ｌｉｎｋ"),
        ("（サンプル）NPO法人 さくら・ワークス", "（サンプル）NPO法人さくらワークス"),
    ],
)
def test_org_name_key_matches_spellings_of_one_organisation(a, b):
    assert org_name_key(a) == org_name_key(b)


def test_org_name_key_drops_every_legal_form_spelling_of_the_seed():
    seed = pl.read_csv(SEEDS / "legal_form.csv", infer_schema=False)
    spellings = seed["ja"].to_list() + [a for aliases in seed["aliases"].to_list() for a in aliases.split("|")]
    # Generic nouns that are part of a group's own name are kept on purpose (see normalise).
    kept = {"市民団体", "ボランティア団体", "自治会", "行政", "地域包括支援センター", "公共施設", "企業"}
    for spelling in spellings:
        if spelling in kept:
            assert unicodedata.normalize("NFKC", spelling).casefold() in org_name_key(f"{spelling}あおば")
        else:
            assert org_name_key(f"{spelling} （サンプル）あおば") == "サンプルあおば", spelling


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("a, b", ["a", "b"]),
        ("a,b", ["a", "b"]),
        ("a、b", ["a", "b"]),
        ("a，b", ["a", "b"]),
        ("a;b", ["a", "b"]),
        ("a；b", ["a", "b"]),
        ("a／b", ["a", "b"]),
        ("a/b", ["a", "b"]),
        ("a\nb", ["a", "b"]),
        ("a\r\nb", ["a", "b"]),
        ("a\rb", ["a", "b"]),
        ("ひきこもり, 子ども食堂、ＤＶ", ["ひきこもり", "子ども食堂", "DV"]),
        ("文化・芸術, 見守り", ["文化・芸術", "見守り"]),
        (" a ,, b ,a, ", ["a", "b"]),
        ("居場所\u3000づくり", ["居場所 づくり"]),
    ],
)
def test_split_multi(value, expected):
    assert split_multi(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("-", None),
        ("ー", None),
        (0, 0),
        (12, 12),
        (12.0, 12),
        ("12", 12),
        ("12.0", 12),
        ("1,234", 1234),
        ("１２", 12),
        ("１，２３４", 1234),
        ("12名", 12),
        ("12 人", 12),
        ("３件", 3),
        ("+5", 5),
        ("8日", 8),
        ("8日間", 8),
        ("3回", 3),
        ("23名", 23),
        ("1,234名", 1234),
    ],
)
def test_parse_count(value, expected):
    assert parse_count(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "負の数です「-1」 (negative number)"),
        ("-3", "負の数です「-3」 (negative number)"),
        (1.5, "整数ではありません「1.5」 (not a whole number)"),
        ("1.5", "整数ではありません「1.5」 (not a whole number)"),
        ("abc", "数値として読めません「abc」 (not a number)"),
        ("約60名", "概数は数として読めません「約60名」 (approximate count: enter the exact number)"),
        ("60名程度", "概数は数として読めません「60名程度」 (approximate count: enter the exact number)"),
        ("100以上", "概数は数として読めません「100以上」 (approximate count: enter the exact number)"),
        ("12個", "数値として読めません「12個」 (not a number)"),
        (True, "数値として読めません「True」 (not a number)"),
    ],
)
def test_parse_count_rejects(value, message):
    with pytest.raises(ValueError) as error:
        parse_count(value)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7,700,000", 7_700_000),
        ("¥299,000", 299_000),
        ("￥299,000", 299_000),
        ("299000円", 299_000),
        (7700000, 7_700_000),
        (None, None),
    ],
)
def test_parse_yen(value, expected):
    assert parse_yen(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("14:00", dt.time(14, 0)),
        ("9:00", dt.time(9, 0)),
        ("１４：００", dt.time(14, 0)),
        ("14:00:30", dt.time(14, 0, 30)),
        ("14時", dt.time(14, 0)),
        ("14時30分", dt.time(14, 30)),
        (dt.time(9, 30), dt.time(9, 30)),
        (dt.datetime(1899, 12, 30, 9, 30), dt.time(9, 30)),
    ],
)
def test_parse_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("25:00", "存在しない時刻です「25:00」 (impossible time)"),
        ("14:60", "存在しない時刻です「14:60」 (impossible time)"),
        ("午後2時", "時刻として読めません「午後2時」 (unrecognised time)"),
    ],
)
def test_parse_time_rejects(value, message):
    with pytest.raises(ValueError) as error:
        parse_time(value)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025/01/15 10:23:45", dt.datetime(2025, 1, 15, 10, 23, 45)),
        ("2025/1/5 9:03:00", dt.datetime(2025, 1, 5, 9, 3, 0)),
        ("2025/1/5 9:03", dt.datetime(2025, 1, 5, 9, 3, 0)),
        ("2025-01-15 10:23:45", dt.datetime(2025, 1, 15, 10, 23, 45)),
        ("２０２５／０１／１５　１０：２３：４５", dt.datetime(2025, 1, 15, 10, 23, 45)),
        (dt.datetime(2025, 1, 15, 10, 23, 45), dt.datetime(2025, 1, 15, 10, 23, 45)),
    ],
)
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025/01/15", "日時として読めません「2025/01/15」 (unrecognised timestamp)"),
        ("2025/02/30 10:00:00", "存在しない日時です「2025/02/30 10:00:00」 (impossible timestamp)"),
        ("2025/01/15 24:00:00", "存在しない日時です「2025/01/15 24:00:00」 (impossible timestamp)"),
        (None, "日時が空です (empty timestamp)"),
    ],
)
def test_parse_timestamp_rejects(value, message):
    with pytest.raises(ValueError) as error:
        parse_timestamp(value)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("はい", True), ("いいえ", False), ("Yes", True), ("no", False), ("", None), (None, None)],
)
def test_parse_yes_no(value, expected):
    assert parse_yes_no(value) == expected


def test_parse_yes_no_rejects():
    with pytest.raises(ValueError) as error:
        parse_yes_no("たぶん")
    assert str(error.value) == "「はい」か「いいえ」ではありません「たぶん」 (expected はい or いいえ)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("taro@example.jp", "taro@example.jp"), ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"), ("", None)],
)
def test_parse_email(value, expected):
    assert parse_email(value) == expected


def test_parse_email_rejects():
    with pytest.raises(ValueError) as error:
        parse_email("taro at example")
    assert str(error.value) == "メールアドレスの形式ではありません「taro at example」 (not an email address)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("なし", None),
        ("046-000-0001", "046-000-0001"),
        ("０４６－０００－０００１", "046-000-0001"),
        ("046ー000ー0001", "046-000-0001"),
        ("046‐000−0001", "046-000-0001"),
        ("(046)000-0001", "046000-0001"),
        ("TEL: 046-000-0001", "046-000-0001"),
        ("046 000 0001", "0460000001"),
        ("--046--000--", "046-000"),
    ],
)
def test_normalise_phone(value, expected):
    assert normalise_phone(value) == expected


def test_public_functions_have_one_line_docstrings():
    for name in normalise.__all__ if hasattr(normalise, "__all__") else dir(normalise):
        item = getattr(normalise, name)
        if name.startswith("_") or not callable(item) or getattr(item, "__module__", "") != normalise.__name__:
            continue
        assert item.__doc__ and "\n" not in item.__doc__.strip(), name
