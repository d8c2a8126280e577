"""The one era table and 年度 (common/calendar.py): parsing as cities write dates, and display formatting."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess

import pytest

from common import calendar, text
from common.calendar import (
    ERAS,
    NendoMonth,
    date_label,
    era_year,
    fiscal_year,
    fiscal_year_start,
    moment_label,
    nendo_label,
    parse_date,
    parse_nendo_month,
    parse_wareki_month,
    short_moment,
    vega_nendo_label,
    wareki,
    wareki_month,
    wareki_month_short,
    wareki_short,
)

D = dt.date


# --- the era table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "name", "year"),
    [
        (D(2019, 5, 1), "令和", 1),
        (D(2019, 4, 30), "平成", 31),
        (D(2025, 3, 31), "令和", 7),
        (D(1989, 1, 8), "平成", 1),
        (D(1989, 1, 7), "昭和", 64),
        (D(1926, 12, 25), "昭和", 1),
    ],
)
def test_era_boundaries(day, name, year):
    era, number = era_year(day)
    assert (era.name, number) == (name, year)


def test_no_era_before_showa():
    with pytest.raises(ValueError, match="date before 昭和"):
        era_year(D(1926, 12, 24))


def test_eras_are_newest_first_and_each_year_offset_matches_its_first_day():
    assert [era.start for era in ERAS] == sorted((era.start for era in ERAS), reverse=True)
    for era in ERAS:
        assert era_year(era.start) == (era, 1)
        assert era.offset + 1 == era.start.year


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2025, 3, 31), "令和7年3月31日"),
        (D(2019, 5, 1), "令和元年5月1日"),
        (D(2019, 4, 30), "平成31年4月30日"),
        (D(1989, 1, 8), "平成元年1月8日"),
        (D(1989, 1, 7), "昭和64年1月7日"),
    ],
)
def test_wareki(day, expected):
    assert wareki(day) == expected


@pytest.mark.parametrize(
    ("day", "short", "month", "month_short"),
    [
        (D(2025, 2, 21), "R7.2.21", "令和7年2月", "R7.2"),
        (D(2019, 5, 1), "R元.5.1", "令和元年5月", "R元.5"),
        (D(2019, 4, 30), "H31.4.30", "平成31年4月", "H31.4"),
    ],
)
def test_short_and_month_forms(day, short, month, month_short):
    assert (wareki_short(day), wareki_month(day), wareki_month_short(day)) == (short, month, month_short)


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        (D(2025, 2, 1), "ja", "令和7年2月1日（2025-02-01）"),
        (D(2025, 2, 1), "en", "2025-02-01 (R7)"),
        (D(2019, 5, 1), "en", "2019-05-01 (R1)"),
        (dt.datetime(2025, 3, 31, 9, 5), "ja", "令和7年3月31日（2025-03-31） 09:05"),
        (None, "ja", "—"),
    ],
)
def test_date_label(value, lang, expected):
    assert date_label(value, lang) == expected


@pytest.mark.parametrize(
    "written",
    ["令和元年5月1日", "R元.5.1", "平成31年4月30日", "H31.4.30", "昭和64年1月7日", "平成元年1月8日"],
)
def test_formatting_round_trips_through_the_parser(written):
    day = parse_date(written)
    assert parse_date(wareki(day)) == parse_date(wareki_short(day)) == day


# --- 年度 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "fiscal"),
    [
        (D(2025, 1, 1), 2024),
        (D(2025, 2, 28), 2024),
        (D(2025, 3, 31), 2024),
        (D(2025, 4, 1), 2025),
        (D(2025, 12, 31), 2025),
    ],
)
def test_fiscal_year_puts_january_to_march_in_the_previous_year(day, fiscal):
    assert fiscal_year(day) == fiscal
    assert fiscal_year_start(fiscal) <= day < fiscal_year_start(fiscal + 1)


@pytest.mark.parametrize(
    ("month", "precision", "label"),
    [
        (D(2025, 2, 1), "month", "R6年度2月"),
        (D(2024, 8, 1), "month", "R6年度8月"),
        (D(2025, 3, 1), "month", "R6年度3月"),
        (D(2025, 4, 1), "month", "R7年度4月"),
        (D(2025, 4, 1), "fiscal_year", "R7年度"),
        # 令和元年度 is April 2019 – March 2020, though 令和 began on 1 May 2019.
        (D(2019, 4, 1), "month", "R元年度4月"),
        (D(2020, 3, 1), "month", "R元年度3月"),
        (D(2019, 3, 1), "month", "H30年度3月"),
        (D(1989, 4, 1), "fiscal_year", "H元年度"),
        (None, "month", None),
    ],
)
def test_nendo_label(month, precision, label):
    assert nendo_label(month, precision) == label


def test_nendo_label_round_trips_through_the_parser():
    month = D(1989, 4, 1)
    while month < D(2031, 4, 1):
        assert parse_nendo_month(nendo_label(month)).month == month
        month = (month + dt.timedelta(days=32)).replace(day=1)


@pytest.mark.parametrize(
    ("month", "precision", "label"),
    [
        (D(2024, 10, 1), "month", "FY2024 Oct"),
        (D(2025, 2, 1), "month", "FY2024 Feb"),
        (D(2025, 4, 1), "month", "FY2025 Apr"),
        (D(2025, 4, 1), "fiscal_year", "FY2025"),
        (D(2020, 3, 1), "fiscal_year", "FY2019"),
        (None, "month", None),
    ],
)
def test_nendo_label_in_english_is_fy(month, precision, label):
    assert nendo_label(month, precision, "en") == label


# The Vega expression is JavaScript: node.js evaluates it where the machine has it.
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="needs node.js to evaluate the Vega expression")
def test_vega_nendo_label_agrees_with_nendo_label():
    months = []
    month = D(1988, 4, 1)
    while month < D(2032, 4, 1):
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    # Vega's utcyear/utcmonth are Date's getUTCFullYear/getUTCMonth; the rest is plain JavaScript.
    script = (
        "const utcyear = d => d.getUTCFullYear(), utcmonth = d => d.getUTCMonth();"
        f"const days = {[m.isoformat() for m in months]};"
        f"for (const day of days) {{ const datum = {{value: new Date(day + 'T00:00:00Z')}}; console.log({vega_nendo_label('datum.value')}); }}"
    )
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [nendo_label(m) for m in months]


@pytest.mark.skipif(NODE is None, reason="needs node.js to evaluate the Vega expression")
def test_vega_nendo_label_in_english_agrees_with_fy_label():
    months = [D(2024, 3, 1), D(2024, 4, 1), D(2024, 10, 1), D(2025, 1, 1), D(2025, 3, 1)]
    # utcFormat(d, '%b') is the English short month name; Intl gives the same for en-US.
    script = (
        "const utcyear = d => d.getUTCFullYear(), utcmonth = d => d.getUTCMonth();"
        "const utcFormat = d => d.toLocaleString('en-US', {month: 'short', timeZone: 'UTC'});"
        f"const days = {[m.isoformat() for m in months]};"
        f"for (const day of days) {{ const datum = {{value: new Date(day + 'T00:00:00Z')}}; console.log({vega_nendo_label('datum.value', 'en')}); }}"
    )
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [nendo_label(m, "month", "en") for m in months]


def test_vega_nendo_label_names_every_era_of_the_table():
    expression = vega_nendo_label("datum.value")
    assert set(re.findall(r"'([A-Z])'", expression)) == {era.letter for era in ERAS}


# --- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("令和6年12月26日", D(2024, 12, 26)),
        ("令和６年１２月２６日", D(2024, 12, 26)),
        ("R6.12.26", D(2024, 12, 26)),
        ("r6.12.26", D(2024, 12, 26)),
        ("R6/12/26", D(2024, 12, 26)),
        ("Ｒ６．１２．２６", D(2024, 12, 26)),
        ("R 6年12月26日", D(2024, 12, 26)),
        ("令和元年5月1日", D(2019, 5, 1)),
        ("令和1年5月1日", D(2019, 5, 1)),
        ("平成31年4月30日", D(2019, 4, 30)),
        ("H31.4.30", D(2019, 4, 30)),
        ("平成元年1月8日", D(1989, 1, 8)),
        ("昭和64年1月7日", D(1989, 1, 7)),
        ("S50.3.1", D(1975, 3, 1)),
        ("㋿6年12月26日", D(2024, 12, 26)),
        ("令和6年12月26日（木）", D(2024, 12, 26)),
        ("2024/12/26", D(2024, 12, 26)),
        ("2024/1/5", D(2024, 1, 5)),
        ("2024-12-26", D(2024, 12, 26)),
        ("2024.12.26", D(2024, 12, 26)),
        ("2024年12月26日", D(2024, 12, 26)),
        ("２０２４年１２月２６日", D(2024, 12, 26)),
        ("２０２４／１２／２６", D(2024, 12, 26)),
        ("2024-12-26 00:00:00", D(2024, 12, 26)),
        # An Excel date cell with a time part (cell_text gives this form): the date counts.
        ("2024-10-01 14:30:00", D(2024, 10, 1)),
        (" 2024-02-29 ", D(2024, 2, 29)),
        (dt.datetime(2024, 12, 26, 0, 0), D(2024, 12, 26)),
        (D(2024, 12, 26), D(2024, 12, 26)),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("令和6年2月30日", "存在しない日付です「令和6年2月30日」 (impossible date)"),
        ("R6.13.1", "存在しない日付です「R6.13.1」 (impossible date)"),
        ("2023-02-29", "存在しない日付です「2023-02-29」 (impossible date)"),
        ("２０２４年１２月３２日", "存在しない日付です「2024年12月32日」 (impossible date)"),
        ("令和元年4月30日", "元号の開始より前の日付です「令和元年4月30日」 (date before the start of the era)"),
        ("平成1年1月7日", "元号の開始より前の日付です「平成1年1月7日」 (date before the start of the era)"),
        ("令和0年1月1日", "日付として読めません「令和0年1月1日」 (unrecognised date)"),
        ("大正5年1月1日", "日付として読めません「大正5年1月1日」 (unrecognised date)"),
        ("12/26/2024", "日付として読めません「12/26/2024」 (unrecognised date)"),
        ("2024年12月", "日付として読めません「2024年12月」 (unrecognised date)"),
        ("45652", "日付として読めません「45652」 (unrecognised date)"),
        ("2024-12-26 10:30", "日付として読めません「2024-12-26 10:30」 (unrecognised date)"),
        ("未定", "日付として読めません「未定」 (unrecognised date)"),
        ("", "日付が空です (empty date)"),
    ],
)
def test_parse_date_rejects(value, message):
    with pytest.raises(ValueError) as error:
        parse_date(value)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("令和6年11月", D(2024, 11, 1)),
        ("令和７年３月", D(2025, 3, 1)),
        ("R6年11月", D(2024, 11, 1)),
        ("R7.3", D(2025, 3, 1)),
        ("R7/3", D(2025, 3, 1)),
        ("令和元年5月", D(2019, 5, 1)),
        ("平成31年4月", D(2019, 4, 1)),
        ("2024年11月", D(2024, 11, 1)),
        ("2024/11", D(2024, 11, 1)),
        ("2024-11", D(2024, 11, 1)),
        ("２０２４／１１", D(2024, 11, 1)),
        ("2024-11-15", D(2024, 11, 1)),
        ("令和6年11月15日", D(2024, 11, 1)),
        (dt.datetime(2024, 11, 15, 0, 0), D(2024, 11, 1)),
        (D(2024, 11, 15), D(2024, 11, 1)),
    ],
)
def test_parse_wareki_month(value, expected):
    assert parse_wareki_month(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("令和6年13月", "存在しない月です「令和6年13月」 (invalid month)"),
        ("2024/0", "存在しない月です「2024/0」 (invalid month)"),
        ("令和元年4月", "元号の開始より前の年月です「令和元年4月」 (month before the start of the era)"),
        ("来年3月", "年月として読めません「来年3月」 (unrecognised year and month)"),
        ("", "年月が空です (empty month)"),
    ],
)
def test_parse_wareki_month_rejects(value, message):
    with pytest.raises(ValueError) as error:
        parse_wareki_month(value)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("R6年度8月~", NendoMonth(D(2024, 8, 1), "month", "R6年度8月~")),
        ("R6年度4月", NendoMonth(D(2024, 4, 1), "month", "R6年度4月")),
        ("R6年度12月～", NendoMonth(D(2024, 12, 1), "month", "R6年度12月～")),
        ("R6年度1月〜", NendoMonth(D(2025, 1, 1), "month", "R6年度1月〜")),
        ("R6年度2月~", NendoMonth(D(2025, 2, 1), "month", "R6年度2月~")),
        ("R6年度3月から", NendoMonth(D(2025, 3, 1), "month", "R6年度3月から")),
        ("令和6年度12月", NendoMonth(D(2024, 12, 1), "month", "令和6年度12月")),
        ("令和６年度２月", NendoMonth(D(2025, 2, 1), "month", "令和６年度２月")),
        ("Ｒ６年度８月～", NendoMonth(D(2024, 8, 1), "month", "Ｒ６年度８月～")),
        ("2024年度2月", NendoMonth(D(2025, 2, 1), "month", "2024年度2月")),
        ("R7年度~", NendoMonth(D(2025, 4, 1), "fiscal_year", "R7年度~")),
        ("令和7年度", NendoMonth(D(2025, 4, 1), "fiscal_year", "令和7年度")),
        ("令和元年度", NendoMonth(D(2019, 4, 1), "fiscal_year", "令和元年度")),
        ("2025年度から", NendoMonth(D(2025, 4, 1), "fiscal_year", "2025年度から")),
        (" R7年度~ ", NendoMonth(D(2025, 4, 1), "fiscal_year", "R7年度~")),
        ("令和7年3月", NendoMonth(D(2025, 3, 1), "month", "令和7年3月")),
        ("R7.3~", NendoMonth(D(2025, 3, 1), "month", "R7.3~")),
        ("2025-03", NendoMonth(D(2025, 3, 1), "month", "2025-03")),
        ("2025/3", NendoMonth(D(2025, 3, 1), "month", "2025/3")),
        (dt.datetime(2025, 3, 10), NendoMonth(D(2025, 3, 1), "month", "2025-03")),
        ("未定", None),
        ("未定~", None),
        ("", None),
        ("  ", None),
        ("～", None),
        (None, None),
    ],
)
def test_parse_nendo_month(value, expected):
    assert parse_nendo_month(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("R6年度13月", "存在しない月です「R6年度13月」 (invalid month)"),
        ("R6年度0月~", "存在しない月です「R6年度0月」 (invalid month)"),
        ("令和7年13月", "存在しない月です「令和7年13月」 (invalid month)"),
        ("来年度", "年度・月として読めません「来年度」 (unrecognised fiscal-year month)"),
        ("R0年度", "年度・月として読めません「R0年度」 (unrecognised fiscal-year month)"),
    ],
)
def test_parse_nendo_month_rejects(value, message):
    with pytest.raises(ValueError) as error:
        parse_nendo_month(value)
    assert str(error.value) == message


def test_nendo_month_is_frozen():
    month = NendoMonth(D(2025, 4, 1), "fiscal_year", "R7年度")
    with pytest.raises(AttributeError):
        month.precision = "month"


def test_parse_nendo_month_puts_january_to_march_in_the_next_calendar_year():
    assert parse_nendo_month("R6年度3月").month == D(2025, 3, 1)
    assert parse_nendo_month("R6年度4月").month == D(2024, 4, 1)
    assert parse_nendo_month("令和６年度１１月〜").month == D(2024, 11, 1)


@pytest.mark.parametrize("module", [calendar, text])
def test_public_functions_have_one_line_docstrings(module):
    for name in dir(module):
        item = getattr(module, name)
        if name.startswith("_") or not callable(item) or getattr(item, "__module__", "") != module.__name__:
            continue
        assert item.__doc__ and "\n" not in item.__doc__.strip(), name


@pytest.mark.parametrize(
    ("value", "lang", "expected"),
    [
        # Naive = UTC, as DuckDB stores etl_run times: 2025-03-31 23:30 UTC is the next morning in Japan.
        (dt.datetime(2025, 3, 31, 23, 30), "ja", "令和7年4月1日（2025-04-01） 08:30 JST"),
        (dt.datetime(2025, 3, 31, 23, 30), "en", "2025-04-01 (R7) 08:30 JST"),
        (
            dt.datetime(2025, 4, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=9))),
            "ja",
            "令和7年4月1日（2025-04-01） 08:30 JST",
        ),
        ("2025-03-31T23:30:00+00:00", "en", "2025-04-01 (R7) 08:30 JST"),
        (None, "ja", "—"),
    ],
)
def test_moment_label_is_japan_time_labelled(value, lang, expected):
    assert moment_label(value, lang) == expected


def test_short_moment():
    assert short_moment(dt.datetime(2025, 3, 31, 23, 30)) == "2025-04-01 08:30 JST"
    assert short_moment(None) == "—"
