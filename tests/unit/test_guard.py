"""The change guard's comparison: what needs confirmation, and what passes without asking."""

from __future__ import annotations

import pytest

from etl.errors import ChangesNeedConfirmation, EtlError
from etl.guard import (
    DEFAULT_MAX_SHARE,
    Figures,
    YearFigures,
    changed_files,
    compare,
    max_share_from_env,
    parse_share,
)

D = "distribution_list.xlsx"


def figures(**changes) -> Figures:
    """Published-like figures of two cities, with some parts replaced."""
    base = {
        "sheets": {(D, None): 43, (D, "綾瀬市"): 23, (D, "座間市"): 20, ("survey_answers.csv", None): 63},
        "files": {D: "aa", "survey_answers.csv": "bb"},
        "cities": {"14218": ("綾瀬市", "Ayase"), "14216": ("座間市", "Zama")},
        "events": {"EX-1": "海老名会場", "WS-1": "貝"},
        "headline": {
            ("organizations", "14218"): 20.0,
            ("organizations", "14216"): 30.0,
            ("organizations", None): 50.0,
            ("visitors", "14216"): 1000.0,
            ("visitors", None): 1000.0,
        },
    }
    return Figures(**(base | changes))


def test_first_build_and_identical_figures_pass():
    assert compare(None, figures()) == []
    assert compare(figures(), figures()) == []


def test_an_emptied_sheet_is_named():
    after = figures(sheets={**figures().sheets, (D, "綾瀬市"): 0})
    [change] = compare(figures(), after)
    assert (change.key, change.subject, change.before, change.after) == ("sheet_emptied", f"{D}, sheet 綾瀬市", 23, 0)
    assert str(change) == (
        f"{D} のシート「綾瀬市」: 前回 23 行あったデータ行がなくなります（見出し行だけです） "
        f"({D}, sheet 綾瀬市: had 23 rows, now none (header row only))"
    )


def test_an_emptied_file_a_vanished_city_and_event():
    after = figures(
        sheets={**figures().sheets, ("survey_answers.csv", None): 0},
        cities={"14216": ("座間市", "Zama")},
        events={"WS-1": "貝"},
    )
    keys = [(c.key, c.subject) for c in compare(figures(), after)]
    assert keys == [("file_emptied", "survey_answers.csv"), ("city_gone", "14218"), ("event_gone", "EX-1")]


def test_a_figure_moving_more_than_the_share_needs_confirmation():
    moved = {**figures().headline, ("visitors", "14216"): 790.0, ("visitors", None): 790.0}
    changes = compare(figures(), figures(headline=moved))
    assert [(c.subject, c.before, c.after) for c in changes] == [
        ("visitors:all", 1000.0, 790.0),
        ("visitors:14216", 1000.0, 790.0),
    ]
    assert changes[0].message_ja == "4市全体の来場者数が 1,000 → 790（-21.0%）"
    # Within the share, or with a wider share, it passes.
    within = {**figures().headline, ("visitors", "14216"): 800.0, ("visitors", None): 800.0}
    assert compare(figures(), figures(headline=within)) == []
    assert compare(figures(), figures(headline=moved), max_share=0.5) == []


def test_share_setting():
    assert max_share_from_env({}) == DEFAULT_MAX_SHARE
    assert max_share_from_env({"TSUNAGARI_CHANGE_SHARE": "35%"}) == pytest.approx(0.35)
    assert parse_share("0.1") == pytest.approx(0.1)
    with pytest.raises(EtlError, match="TSUNAGARI_CHANGE_SHARE"):
        parse_share("none")


def test_the_error_lists_each_change_and_the_changed_files():
    after = figures(sheets={**figures().sheets, (D, "綾瀬市"): 0}, files={D: "cc", "survey_answers.csv": "bb"})
    error = ChangesNeedConfirmation(compare(figures(), after), changed_files(figures(), after))
    assert isinstance(error, EtlError)
    assert error.files == [D]
    lines = str(error).splitlines()
    assert lines[1] == f"変更されたファイル (changed files): {D}"
    assert lines[2].startswith(f"- {D} のシート「綾瀬市」")


# --- per fiscal year (年度) -----------------------------------------------------------------------


def year(fiscal_year: int, folder: str, **changes) -> Figures:
    """figures() as one year of a bundle of year folders: its files named <folder>/<file>."""
    base = figures(**changes)
    return Figures(
        sheets={(f"{folder}/{name}", sheet): rows for (name, sheet), rows in base.sheets.items()},
        files={f"{folder}/{name}": sha for name, sha in base.files.items()},
        cities=base.cities,
        events=base.events,
        headline=base.headline,
        fiscal_year=fiscal_year,
    )


def test_a_new_year_beside_the_published_one_needs_no_confirmation():
    flat = YearFigures({2024: Figures(**{**figures().__dict__, "fiscal_year": 2024})})
    # The flat year moved into R6/ unchanged, with an R7 that has none of R6's events or cities.
    both = YearFigures({2024: year(2024, "R6"), 2025: year(2025, "R7", events={}, cities={})})
    assert compare(flat, both) == []
    assert changed_files(flat, both) == [f"R7/{D}", "R7/survey_answers.csv"]


def test_a_year_that_loses_most_of_its_rows_or_goes_is_named():
    published = YearFigures({2024: year(2024, "R6"), 2025: year(2025, "R7")})
    thinned = {**figures().headline, ("organizations", "14216"): 3.0, ("organizations", None): 23.0}
    after = YearFigures(
        {
            2024: year(2024, "R6", sheets={**figures().sheets, (D, "座間市"): 0}, headline=thinned),
            2025: year(2025, "R7"),
        }
    )
    changes = compare(published, after)
    assert [(c.key, c.subject) for c in changes] == [
        ("sheet_emptied", f"2024/{D}, sheet 座間市"),
        ("figure_moved", "2024/organizations:all"),
        ("figure_moved", "2024/organizations:14216"),
    ]
    assert changes[0].message_ja.startswith(f"R6年度 {D} のシート「座間市」: 前回 20 行")
    assert changes[0].message_en.startswith(f"FY2024: {D}, sheet 座間市: had 20 rows")
    assert changes[1].message_ja == "R6年度 4市全体の団体数が 50 → 23（-54.0%）"
    [gone] = compare(published, YearFigures({2025: year(2025, "R7")}))
    assert (gone.key, gone.subject, str(gone)) == (
        "year_gone",
        "2024",
        "R6年度のデータがすべてなくなります (FY2024: every file and figure of the year disappears)",
    )


def test_the_map_count_is_a_headline_figure_as_home_counts_it(sample_con):
    from etl import guard

    years = guard.figures(sample_con).years
    mapped = years[max(years)].headline
    home = dict(sample_con.execute("select city_code, organisations_mapped from mart_city_kpis").fetchall())
    assert {city: mapped["mapped", city] for city in home} == {city: float(n) for city, n in home.items()}
    # A list that keeps its organisations but loses a third of its pins is stopped and named.
    before = figures()
    after = figures(headline={**before.headline, ("mapped", None): 100.0})
    before = figures(headline={**before.headline, ("mapped", None): 150.0})
    changes = compare(before, after)
    assert [(c.subject, c.before, c.after) for c in changes] == [("mapped:all", 150.0, 100.0)]
    assert changes[0].message_ja == "4市全体の地図に載る団体数が 150 → 100（-33.3%）"
