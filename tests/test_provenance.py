"""Every page says where its figures come from and as of when (JST), credits the reference geography, and
shows users no developer text and no raw None (issue #21 items 6 and 7), over real sample builds."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from common.calendar import parse_date
from dashboard.provenance import PAGE_TOPICS
from dashboard.registry import PAGES, PageSpec
from etl.reference import CREDITS

APP = "../dashboard/app.py"
CONTACT = "座間市 地域福祉課（テスト）046-000-0000"
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
ZAMA = "14216"
# Developer text that must not reach a user: set-up variables, secrets, docs paths, commands, config files.
DEVELOPER_TEXT = re.compile(r"TSUNAGARI_|secrets\.toml|\.streamlit|docs/|README|python -m|make run|\.toml\b|\.csv\b")
# On pages for everyone, no source file names either (the intake page names the file a manager sends).
FILE_NAMES = re.compile(r"\.(csv|xlsx|kmz|kml|json)\b", re.IGNORECASE)
HEADING = {"ja": "出典とデータの時点", "en": "Sources and data as of"}


def japan(moment: dt.datetime) -> dt.datetime:
    """A UTC moment as DuckDB stores it (naive) in Japan time, computed here with zoneinfo alone."""
    return moment.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Tokyo"))


def published_finish(warehouse) -> dt.datetime:
    """The finish time (UTC, naive) the build recorded for itself in etl_run."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select finished_at from etl_run where status = 'published'").fetchone()[0]
    finally:
        con.close()


@functools.cache  # the raw files do not change within a run; read them once, not per page
def raw_survey_period() -> tuple[dt.date, dt.date]:
    """From the raw files: the first 配布日 on any distribution sheet, the last answer's タイムスタンプ."""
    workbook = openpyxl.load_workbook(SAMPLE / "distribution_list.xlsx", read_only=True)
    sent = []
    for sheet in workbook.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        at = rows[0].index("配布日")
        sent += [parse_date(row[at]) for row in rows[1:] if row and row[at] not in (None, "")]
    workbook.close()
    with open(SAMPLE / "survey_answers.csv", encoding="cp932", newline="") as handle:
        answered = [
            dt.datetime.strptime(r["タイムスタンプ"], "%Y/%m/%d %H:%M:%S").date() for r in csv.DictReader(handle)
        ]
    return min(min(sent), min(answered)), max(answered)


@pytest.fixture(scope="module")
def pages(reference_build, tmp_path_factory, page_runs):
    """Pages over the sample with the synthetic geography and a contact, each rendered once (the tests only read)."""
    folder = tmp_path_factory.mktemp("provenance")
    env = {
        "TSUNAGARI_WAREHOUSE": str(reference_build.warehouse),
        "TSUNAGARI_OPERATIONS": str(folder / "operations.sqlite"),
        "TSUNAGARI_CONTACT": CONTACT,
        "TSUNAGARI_MANAGER": None,
    }
    return page_runs(folder, env)


def open_page(pages, spec: PageSpec, role: str, city: str | None = None, lang: str = "ja") -> AppTest:
    """The page as the role sees it, in the language (shared: read only)."""
    return pages(spec.script, role, city, lang)


def block(at: AppTest, lang: str = "ja") -> str:
    """The provenance block's text (exactly one per page)."""
    found = [c.value for c in at.caption if c.value.startswith(f"**{HEADING[lang]}**")]
    assert len(found) == 1, f"{len(found)} provenance blocks"
    return found[0]


def user_texts(at: AppTest) -> list[str]:
    """What a person reads on the page outside data tables: text elements, metrics, expanders, widget labels."""
    texts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "info", "warning", "error", "success"):
        texts += [str(element.value) for element in getattr(at, kind)]
    for metric in at.metric:
        texts += [metric.label, metric.value, metric.proto.help]
    texts += [expander.label for expander in at.expander]
    for node in at._tree:
        proto = getattr(node, "proto", None)
        for field in ("label", "help", "placeholder"):
            value = getattr(proto, field, None)
            if isinstance(value, str):
                texts.append(value)
    return texts


@pytest.mark.parametrize("spec", PAGES, ids=[spec.url_path for spec in PAGES])
def test_every_page_shows_as_of_in_jst_sources_licence_and_contact(pages, reference_build, spec):
    at = open_page(pages, spec, "admin")
    text = block(at)
    finished = japan(published_finish(reference_build.warehouse))
    assert f"（{finished:%Y-%m-%d}） {finished:%H:%M} JST" in text
    for licence, credit in CREDITS.values():
        assert f"{credit}（{licence}）" in text
    assert CONTACT in text
    first, last = raw_survey_period()
    assert (f"（{first.isoformat()}）" in text and f"（{last.isoformat()}）" in text) == (
        "survey" in PAGE_TOPICS[spec.url_path]
    )
    assert ("成果報告書" in text) == bool({"events", "progress"} & set(PAGE_TOPICS[spec.url_path]))


def test_every_page_has_its_sources_listed():
    assert set(PAGE_TOPICS) == {spec.url_path for spec in PAGES}


def test_english_block(pages, reference_build):
    at = open_page(pages, PAGES[0], "public", lang="en")
    text = block(at, "en")
    finished = japan(published_finish(reference_build.warehouse))
    assert f"Data as of: {finished:%Y-%m-%d}" in text
    assert f"{finished:%H:%M} JST" in text
    assert "project report" in text
    for licence, credit in CREDITS.values():
        assert f"{credit} ({licence})" in text


def test_without_reference_geography_the_block_says_so(sample_warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "operations.sqlite"))
    monkeypatch.delenv("TSUNAGARI_CONTACT", raising=False)
    at = AppTest.from_file(APP, default_timeout=90).run()
    text = block(at)
    assert "参照地理データ: 読み込まれていません" in text
    assert not any(credit in text for _, credit in CREDITS.values())
    assert "お問い合わせ" not in text


def test_overview_times_are_jst_and_labelled(pages, reference_build):
    at = open_page(pages, PAGES[0], "public")
    finished = japan(published_finish(reference_build.warehouse))
    metric = next(m for m in at.metric if m.label == "最終更新（JST）")
    assert metric.value == f"{finished:%Y-%m-%d %H:%M} JST"
    assert f"（{finished:%Y-%m-%d}） {finished:%H:%M} JST" in metric.proto.help


# Each page as the least-privileged role that opens it; staff pages also as their other non-admin roles.
NON_ADMIN = [
    (spec, role, city)
    for spec in PAGES
    for role, city in (("public", None), ("analyst", None), ("city_manager", ZAMA), ("liaison", None))
    if spec.allows(role) and (role == "public" or not spec.allows("public") or role == "city_manager")
]


@pytest.mark.parametrize(
    ("spec", "role", "city"), NON_ADMIN, ids=[f"{spec.url_path}-{role}" for spec, role, _ in NON_ADMIN]
)
def test_no_developer_text_for_non_admins(pages, spec, role, city):
    at = open_page(pages, spec, role, city)
    texts = user_texts(at)
    assert [text for text in texts if DEVELOPER_TEXT.search(text)] == []
    if spec.allows("public"):
        assert [text for text in texts if FILE_NAMES.search(text)] == []


def test_admins_get_the_pointer_to_the_docs(pages):
    platform = next(spec for spec in PAGES if spec.url_path == "platform")
    at = open_page(pages, platform, "admin")
    assert any("docs/progress-updates.md" in c.value for c in at.caption)
    assert "担当者がログインすると" in at.info[0].value


@pytest.mark.parametrize("spec", PAGES, ids=[spec.url_path for spec in PAGES])
def test_no_table_shows_none(pages, spec):
    at = open_page(pages, spec, "admin")
    for table in at.dataframe:
        frame = table.value
        missing = [c for c in frame.columns if frame[c].isna().any() or (frame[c].astype(str) == "None").any()]
        assert missing == [], f"{spec.title}: columns with a missing cell shown as None: {missing}"
