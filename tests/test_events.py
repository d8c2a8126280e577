"""イベント実績: KPI targets through the ETL, the event marts and queries against the raw workbook, charts, page."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import shutil
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from common.roles import PUBLIC, Viewer
from dashboard.charts import events as charts
from dashboard.format import MISSING
from dashboard.i18n import translate
from etl.sources import SOURCES, targets
from etl.sources.base import TABLE_SCHEMAS, YEAR_COLUMNS, Context
from etl.validate import load_suites, validate
from etl.vocab import Vocabulary
from warehouse import docs
from warehouse.query import events as q

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SEEDS = ROOT / "warehouse" / "seeds"
APP = "../dashboard/app.py"
YAMATO, EBINA, ZAMA, AYASE = "14213", "14215", "14216", "14218"
WAREKI = re.compile(r"令和(\d+)年(\d+)月(\d+)日")
POSITIVE = ("すごく感じた", "感じた")
KINDS = {"展示": "exhibition", "ワークショップ": "workshop", "シンポジウム": "symposium"}
ADMIN = Viewer("admin")
RESTRICTED = "権限のある担当者のみ表示"
# A metric has room for a short word only; its help carries the sentence.
METRIC_RESTRICTED = "非公開"
# Viewers who may not see any consultee figure of Ayase (綾瀬市) nor of the four cities together.
NOT_FOR_AYASE = {
    "public": PUBLIC,
    "analyst": Viewer("analyst"),
    "liaison": Viewer("liaison"),
    "other-city manager": Viewer("city_manager", EBINA),
}


def manager(city: str) -> Viewer:
    """A city manager of one city."""
    return Viewer("city_manager", city)


def hidden(kpis: dict) -> dict:
    """KPIs as a viewer without the right to consultee figures gets them."""
    return kpis | {code: None for code in q.CONSULTEE_KPIS} | {"consultees_hidden": True}


def shown(kpis: dict) -> dict:
    """KPIs as a viewer allowed to see consultee figures gets them."""
    return kpis | {"consultees_hidden": False}


# --- the raw workbook, read independently of the ETL ------------------------------------------------


def raw_day(value) -> dt.date:
    """A workbook date cell: an Excel date or 令和N年M月D日."""
    if isinstance(value, dt.datetime):
        return value.date()
    match = WAREKI.fullmatch(value)
    return dt.date(2018 + int(match[1]), int(match[2]), int(match[3]))


def half_up(value: float, decimals: int) -> float:
    """Round half away from zero, as the marts do."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def three_figures(value: float) -> tuple[float, int]:
    """The per-day rule: 3 significant figures, and the decimals that leaves."""
    decimals = max(0, 2 - math.floor(math.log10(value)))
    return half_up(value, decimals), decimals


@pytest.fixture(scope="module")
def book() -> dict[str, list[dict]]:
    """Every sheet of data/sample/events.xlsx as dicts keyed by the header."""
    workbook = openpyxl.load_workbook(SAMPLE / "events.xlsx", read_only=True)
    sheets = {}
    for sheet in workbook.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        sheets[sheet.title] = [dict(zip(rows[0], row, strict=True)) for row in rows[1:] if any(row)]
    workbook.close()
    return sheets


@pytest.fixture(scope="module")
def city_codes() -> dict[str, str]:
    """City name → code from the seed CSV."""
    with open(SEEDS / "city.csv", encoding="utf-8", newline="") as handle:
        return {row["ja"]: row["code"] for row in csv.DictReader(handle)}


def raw_kpis(book: dict, city_codes: dict, city: str | None) -> dict:
    """Every column of mart_event_kpis for one scope, computed from the workbook."""
    events = [e for e in book["イベント"] if city is None or city_codes[e["市"]] == city]
    kind = {e["イベントID"]: KINDS[e["種別"]] for e in events}
    count = {k: sum(1 for v in kind.values() if v == k) for k in KINDS.values()}
    sessions = [s for s in book["開催回"] if s["イベントID"] in kind]
    workshop_sessions = {(s["イベントID"], s["回"]) for s in sessions if kind[s["イベントID"]] == "workshop"}
    consultees = {p["参加者ID"] for p in book["参加者名簿"] if p["区分"] == "相談者"}
    attendees = {a["参加者ID"] for a in book["出欠"] if (a["イベントID"], a["回"]) in workshop_sessions}
    survey = [r for r in book["アンケート集計"] if r["イベントID"] in kind]
    art = sum(c["金額（円）"] for c in book["契約"] if "アート" in c["事業名"])

    def total(kind_code: str, column: str) -> int | None:
        values = [s[column] or 0 for s in sessions if kind[s["イベントID"]] == kind_code]
        return sum(values) if count[kind_code] else None

    visitors = total("exhibition", "来場者数")
    open_days = sum(e["開催日数"] for e in events if KINDS[e["種別"]] == "exhibition") if count["exhibition"] else None
    per_day = (visitors / open_days) if visitors is not None else None
    participations = total("workshop", "参加者数")
    consultee_participations = total("workshop", "うち相談者数")
    unique = len(attendees) if count["workshop"] else None
    symposium = total("symposium", "参加者数")
    answers = sum(r["回答数"] for r in survey) if survey else None
    positive = sum(r["回答数"] for r in survey if r["選択肢"] in POSITIVE) if survey else None
    reach = (visitors or 0) + (participations or 0) + (symposium or 0)
    people = (visitors or 0) + (unique or 0) + (symposium or 0)
    return {
        "city_code": city,
        "exhibitions": count["exhibition"],
        "exhibition_open_days": open_days,
        "exhibition_visitors": visitors,
        "exhibition_visitors_per_day_exact": per_day,
        "exhibition_visitors_per_day": three_figures(per_day)[0] if per_day else None,
        "exhibition_visitors_per_day_decimals": three_figures(per_day)[1] if per_day else None,
        "workshops": count["workshop"],
        "workshop_sessions": len(workshop_sessions) if count["workshop"] else None,
        "workshop_participations": participations,
        "workshop_unique_participants": unique,
        "workshop_consultee_participations": consultee_participations,
        "workshop_unique_consultees": len(attendees & consultees) if count["workshop"] else None,
        "workshop_consultee_share_pct": half_up(100 * consultee_participations / participations, 1)
        if participations
        else None,
        "symposia": count["symposium"],
        "symposium_participants": symposium,
        "surveyed_events": len({r["イベントID"] for r in survey}),
        "survey_answers": answers,
        "survey_positive": positive,
        "survey_positive_pct": half_up(100 * positive / answers, 1) if answers else None,
        "total_reach": reach,
        "total_people": people,
        "art_contract_yen": art if city is None else None,
        "cost_per_contact_yen": half_up(art / reach, 0) if city is None else None,
        "cost_per_person_yen": half_up(art / people, 0) if city is None else None,
    }


# --- KPI figures against the workbook and the report -------------------------------------------------


def test_four_city_kpis_match_the_workbook_and_the_report(sample_con, book, city_codes):
    kpis = q.kpis(sample_con, None, ADMIN)
    assert kpis == shown(raw_kpis(book, city_codes, None))
    # The report: 来場者合計 3,198名（海老名 2,345名/1日平均293名、座間 853名/1日平均85.3名）, WS 102 participations by
    # about 60 people, 50 of them by consultees, symposium 126, art contract 770万円.
    assert {k: kpis[k] for k in (
        "exhibition_visitors", "exhibition_open_days", "workshop_participations", "workshop_unique_participants",
        "workshop_consultee_participations", "workshop_unique_consultees", "workshop_consultee_share_pct",
        "symposium_participants", "survey_answers", "survey_positive", "survey_positive_pct", "total_reach",
        "total_people", "art_contract_yen", "cost_per_contact_yen", "cost_per_person_yen",
    )} == {
        "exhibition_visitors": 3198, "exhibition_open_days": 18, "workshop_participations": 102,
        "workshop_unique_participants": 60, "workshop_consultee_participations": 50, "workshop_unique_consultees": 31,
        "workshop_consultee_share_pct": 49.0, "symposium_participants": 126, "survey_answers": 440,
        "survey_positive": 389, "survey_positive_pct": 88.4, "total_reach": 3426, "total_people": 3384,
        "art_contract_yen": 7_700_000, "cost_per_contact_yen": 2248.0, "cost_per_person_yen": 2275.0,
    }  # fmt: skip


@pytest.mark.parametrize("city", [YAMATO, EBINA, ZAMA, AYASE])
def test_city_kpis_match_the_workbook(sample_con, book, city_codes, city):
    assert q.kpis(sample_con, city, ADMIN) == shown(raw_kpis(book, city_codes, city))
    assert q.kpis(sample_con, city, manager(city)) == shown(raw_kpis(book, city_codes, city))


@pytest.mark.parametrize("viewer", NOT_FOR_AYASE.values(), ids=NOT_FOR_AYASE.keys())
def test_consultee_kpis_are_hidden_without_the_right(sample_con, book, city_codes, viewer, consultees_withheld):
    for city in (None, AYASE):
        assert q.kpis(sample_con, city, viewer) == hidden(raw_kpis(book, city_codes, city))
    # The four cities' figure would reveal the other cities' consultees to a city manager.
    assert q.kpis(sample_con, None, manager(AYASE)) == hidden(raw_kpis(book, city_codes, None))
    assert q.kpis(sample_con, AYASE, manager(AYASE))["workshop_consultee_participations"] == 33


def test_cities_without_an_event_kind_have_no_figure_for_it(sample_con):
    yamato, ayase = q.kpis(sample_con, YAMATO), q.kpis(sample_con, AYASE)
    assert (yamato["exhibitions"], yamato["workshops"], yamato["symposia"]) == (0, 0, 1)
    assert (yamato["exhibition_visitors"], yamato["workshop_participations"], yamato["symposium_participants"]) == (
        None,
        None,
        126,
    )
    assert (ayase["exhibitions"], ayase["workshops"], ayase["symposia"]) == (0, 2, 0)
    assert (ayase["exhibition_visitors_per_day"], ayase["survey_positive_pct"]) == (None, None)


def test_exhibitions_per_venue_and_per_day(sample_con, book):
    exhibitions = q.events(sample_con, None).filter(pl.col("kind") == "exhibition")
    raw = {}
    for row in book["開催回"]:
        if row["イベントID"].startswith("EX-"):
            raw.setdefault(row["イベントID"], []).append(row["来場者数"])
    open_days = {e["イベントID"]: e["開催日数"] for e in book["イベント"]}
    assert exhibitions.select(
        "event_id", "city_ja", "venue", "open_days", "sessions", "visitors", "visitors_per_day_exact",
        "visitors_per_day", "visitors_per_day_decimals",
    ).to_dicts() == [
        {
            "event_id": event_id, "city_ja": city, "venue": venue, "open_days": open_days[event_id],
            "sessions": len(raw[event_id]), "visitors": sum(raw[event_id]),
            "visitors_per_day_exact": sum(raw[event_id]) / open_days[event_id],
            "visitors_per_day": three_figures(sum(raw[event_id]) / open_days[event_id])[0],
            "visitors_per_day_decimals": three_figures(sum(raw[event_id]) / open_days[event_id])[1],
        }
        for event_id, city, venue in (
            ("EX-EBINA", "海老名市", "海老名中央公園・ビナウォーク"), ("EX-ZAMA", "座間市", "座間市役所"),
        )
    ]  # fmt: skip
    # As the report prints them: 2,345 over 8 days = 293 a day; 853 over 10 days = 85.3 a day.
    assert exhibitions.select("visitors", "open_days", "visitors_per_day", "visitors_per_day_decimals").rows() == [
        (2345, 8, 293.0, 0),
        (853, 10, 85.3, 1),
    ]
    shown = charts.events_table(exhibitions, "ja")
    assert shown.select("visitors", "visitors_per_day", "visitors_per_day_exact").rows() == [
        (2345, "293", 293.125),
        (853, "85.3", 85.3),
    ]


def test_workshop_sessions_participations_and_consultees(sample_con, book, consultees_withheld):
    columns = ("session_date", "event_id", "seq", "participants", "consultees", "consultees_hidden")
    sessions = q.sessions(sample_con, None, ADMIN).filter(pl.col("kind") == "workshop")
    raw = sorted(
        (raw_day(s["開催日"]), s["イベントID"], s["回"], s["参加者数"], s["うち相談者数"], False)
        for s in book["開催回"]
        if s["イベントID"].startswith("WS-")
    )
    assert sessions.select(columns).rows() == raw
    # WS①23(17), WS② 21(9) + 20(8), WS③ 16(6) + 11(5) + 11(5): 102 participations, 50 by consultees.
    assert [(r[3], r[4]) for r in raw] == [(16, 6), (23, 17), (11, 5), (11, 5), (21, 9), (20, 8)]
    assert sum(r[3] for r in raw) == 102 and sum(r[4] for r in raw) == 50
    # 綾瀬市's manager sees 綾瀬市's workshops (WS-1, WS-3) only, even among the four cities' sessions.
    ayase = q.sessions(sample_con, None, manager(AYASE)).filter(pl.col("kind") == "workshop")
    assert ayase.select(columns).rows() == [
        (*r[:4], r[4], False) if r[1] != "WS-2" else (*r[:4], None, True) for r in raw
    ]
    assert q.sessions(sample_con, AYASE, manager(AYASE))["consultees"].to_list() == [6, 17, 5, 5]
    in_ayase = [r for r in raw if r[1] != "WS-2"]
    for viewer in NOT_FOR_AYASE.values():
        assert q.sessions(sample_con, AYASE, viewer).select(columns).rows() == [(*r[:4], None, True) for r in in_ayase]
    everyone = [
        q.sessions(sample_con, None, v).filter(pl.col("kind") == "workshop") for v in (PUBLIC, Viewer("analyst"))
    ]
    assert [s.select(columns).rows() for s in everyone] == [[(*r[:4], None, True) for r in raw]] * 2


def test_unique_participants_count_each_person_once(sample_con, book):
    """実人数 = distinct 参加者ID over the workshop sessions: not the sum of sessions, nor of workshops."""
    by_event: dict[str, set[str]] = {}
    for a in book["出欠"]:
        by_event.setdefault(a["イベントID"], set()).add(a["参加者ID"])
    everyone = set().union(*by_event.values())
    summary = q.events(sample_con, None).filter(pl.col("kind") == "workshop").sort("event_id")
    assert summary.select("event_id", "participations", "unique_participants").rows() == [
        ("WS-1", 23, len(by_event["WS-1"])),
        ("WS-2", 41, len(by_event["WS-2"])),
        ("WS-3", 38, len(by_event["WS-3"])),
    ]
    assert [len(by_event[e]) for e in ("WS-1", "WS-2", "WS-3")] == [23, 25, 18]
    assert len(everyone) == 60 == q.kpis(sample_con, None)["workshop_unique_participants"]
    # 綾瀬市 held WS-1 and WS-3; people at both count once for the city.
    ayase = by_event["WS-1"] | by_event["WS-3"]
    assert len(ayase) == 35 < len(by_event["WS-1"]) + len(by_event["WS-3"])
    assert q.kpis(sample_con, AYASE)["workshop_unique_participants"] == len(ayase)


def test_unique_participant_definition_is_documented():
    text = docs.TARGET.read_text(encoding="utf-8")
    assert (
        "| `workshop_unique_participants` | 実人数: distinct 参加者ID in 出欠 over the scope's workshop sessions "
        "(the report's 約60名); a person at several sessions or workshops counts once |"
    ) in text
    assert "| `unique_participants` | workshops: distinct 参加者ID in 出欠 over the workshop's sessions" in text
    assert "出欠表で、表示範囲のワークショップのいずれかの回に参加した参加者IDの数" in translate(
        "ja", "events.def.unique_participants"
    )


def test_sessions_are_every_row_of_the_sheet(sample_con, book):
    sessions = q.sessions(sample_con, None)
    raw = sorted((raw_day(s["開催日"]), s["イベントID"], s["回"]) for s in book["開催回"])
    assert sorted(sessions.select("session_date", "event_id", "seq").rows()) == raw
    assert sessions.height == 25
    assert (sessions["session_date"].min(), sessions["session_date"].max()) == (
        dt.date(2024, 12, 17),
        dt.date(2025, 3, 2),
    )
    assert set(sessions.columns).isdisjoint({"participant_id", "name"})


def raw_questions(book: dict, events: set[str] | None = None) -> dict[str, tuple[int, int, float]]:
    """Per question (設問) of the tallies: (positive answers, all answers, share) over the given events (None = all)."""
    found: dict[str, list[int]] = {}
    for r in book["アンケート集計"]:
        if events is None or r["イベントID"] in events:
            counts = found.setdefault(r["設問"], [0, 0])
            counts[0] += r["回答数"] if r["選択肢"] in POSITIVE else 0
            counts[1] += r["回答数"]
    return {question: (p, n, half_up(100 * p / n, 1)) for question, (p, n) in found.items()}


def question_lines(at: AppTest) -> list[str]:
    """The page's per-question survey lines (markdown list items quoting a question)."""
    return [m.value for m in at.markdown if m.value.startswith("- 「")]


def test_survey_figures_stand_per_question(sample_con, book):
    """No share mixes two questions: each question's figure over its own answers, with its text."""
    questions = q.survey_questions(sample_con, None)
    assert {
        r["question"]: (r["positive"], r["answers"], r["positive_pct"]) for r in questions.iter_rows(named=True)
    } == (raw_questions(book))
    assert len(questions) == 2  # the exhibitions' question and the symposium's
    # The report's 9割程 answer to the symposium's question.
    assert raw_questions(book)["孤独・孤立支援にアートにできることがあると感じましたか"] == (72, 80, 90.0)
    label = charts.survey_question_label(questions.row(0, named=True), "ja")
    assert label.split("\n")[0] == "「孤独・孤立支援にアートにできることがあると感じましたか」"


def test_survey_distributions_match_the_tallies(sample_con, book):
    answers = q.survey_answers(sample_con, None)
    totals: dict[str, int] = {}
    for r in book["アンケート集計"]:
        totals[r["イベントID"]] = totals.get(r["イベントID"], 0) + r["回答数"]
    positive = {e: sum(r["回答数"] for r in book["アンケート集計"] if r["イベントID"] == e and r["選択肢"] in POSITIVE)
                for e in totals}  # fmt: skip
    expected = [
        (r["イベントID"], r["選択肢"], r["選択肢順"], r["回答数"], totals[r["イベントID"]],
         half_up(100 * r["回答数"] / totals[r["イベントID"]], 1), half_up(100 * positive[r["イベントID"]] / totals[r["イベントID"]], 1))
        for r in book["アンケート集計"]
    ]  # fmt: skip
    assert sorted(
        answers.select(
            "event_id", "choice", "choice_order", "answers", "question_answers", "share_pct", "positive_pct"
        ).rows()
    ) == sorted(expected)
    # The symposium: 9割程度が「すごく感じた」「感じた」 = 72 of 80.
    assert (positive["SYM"], totals["SYM"]) == (72, 80)
    assert set(answers.filter(pl.col("event_id") == "SYM")["positive_pct"]) == {90.0}
    assert answers.filter(pl.col("event_id") == "EX-EBINA").select("choice", "answers", "polarity").rows() == [
        ("すごく感じた", 98, "positive"),
        ("感じた", 112, "positive"),
        ("あまり感じなかった", 19, "negative"),
        ("感じなかった", 5, "negative"),
        ("無回答", 6, "no_answer"),
    ]


def test_comments_are_quoted_without_personal_data(sample_con, book):
    comments = q.comments(sample_con, None)
    assert comments.columns == [
        "comment_id", "event_id", "kind", "title", "venue", "city_code", "city_ja", "city_en", "comment",
    ]  # fmt: skip
    assert comments.select("event_id", "comment").rows() == [
        (c["イベントID"], unicodedata.normalize("NFKC", c["コメント"])) for c in book["自由記述"]
    ]
    names = {p["氏名"] for p in book["参加者名簿"]}
    assert not any(name in text for name in names for text in comments["comment"])
    assert q.comments(sample_con, AYASE).is_empty()


def test_contracts_in_man_yen_and_yen(sample_con, book):
    contracts = q.contracts(sample_con)
    assert contracts.select("id", "contractor", "amount_yen", "amount_man_yen", "is_art").rows() == [
        (c["契約ID"], c["発注先"], c["金額（円）"], c["金額（円）"] / 10_000, "アート" in c["事業名"])
        for c in sorted(book["契約"], key=lambda c: -c["金額（円）"])
    ]
    assert charts.contracts_table(contracts, "ja").select(
        "contractor", "amount_man_yen", "amount_yen", "period"
    ).rows() == [
        ("株式会社Little Barrel", "770", "7,700,000 円", "令和6年11月（2024-11） ～ 令和7年3月（2025-03）"),
        (
            "一般社団法人市民連帯経済つながるかながわ",
            "29.9",
            "299,000 円",
            "令和6年12月（2024-12） ～ 令和7年2月（2025-02）",
        ),
    ]


def test_costs_per_person_follow_their_definitions(sample_con, book):
    kpis = q.kpis(sample_con, None)
    art = next(c["金額（円）"] for c in book["契約"] if "アート" in c["事業名"])
    assert art == 7_700_000
    assert kpis["total_reach"] == 3198 + 102 + 126
    assert kpis["total_people"] == 3198 + 60 + 126
    assert kpis["cost_per_contact_yen"] == half_up(art / (3198 + 102 + 126), 0) == 2248
    assert kpis["cost_per_person_yen"] == half_up(art / (3198 + 60 + 126), 0) == 2275
    assert q.kpis(sample_con, ZAMA)["cost_per_contact_yen"] is None


# --- targets: ETL, validation, mart ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx() -> Context:
    """Context with the seed vocabularies."""
    return Context(Vocabulary.load(SEEDS))


def write_targets(tmp_path: Path, rows: list[list[str]]) -> Path:
    """A kpi_targets.csv with the standard header."""
    path = tmp_path / targets.FILE_NAME
    lines = [",".join(targets.COLUMNS), *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_targets_is_a_registered_source():
    assert targets in SOURCES
    assert (targets.FILE_NAME, targets.KIND) == ("kpi_targets.csv", "targets")


def test_sample_targets_load(sample_con):
    assert sample_con.execute(
        "select id, kpi_code, city_code, target_value, unit, set_by, set_on, source_row from kpi_target order by source_row"
    ).fetchall() == [
        ("exhibition_visitors:all", "exhibition_visitors", None, 3000.0, "名", "海老名市生活支援課", dt.date(2024, 11, 15), 2),
        ("exhibition_visitors_per_day:14216", "exhibition_visitors_per_day", ZAMA, 100.0, "名/日", "座間市地域福祉課",
         dt.date(2024, 11, 15), 3),
        ("workshop_unique_participants:all", "workshop_unique_participants", None, 50.0, "名", "綾瀬市福祉総務課",
         dt.date(2024, 11, 20), 4),
        ("symposium_participants:14213", "symposium_participants", YAMATO, 150.0, "名", "大和市健康福祉総務課",
         dt.date(2024, 11, 20), 5),
        ("survey_positive_pct:all", "survey_positive_pct", None, 80.0, "%", "座間市地域福祉課", dt.date(2024, 11, 20), 6),
        ("cost_per_contact_yen:all", "cost_per_contact_yen", None, 2500.0, "円", "座間市地域福祉課",
         dt.date(2024, 11, 20), 7),
    ]  # fmt: skip


def test_bad_targets_are_quarantined_with_reasons(tmp_path, ctx):
    path = write_targets(tmp_path, [
        ["来場者数", "", "3000", "名", "", ""],
        ["symposium_participants", "厚木市", "150", "名", "", ""],
        ["symposium_participants", "大和市", "百五十", "名", "", ""],
        ["symposium_participants", "大和市", "-5", "", "", ""],
        ["exhibition_visitors", "", "3000", "円", "", ""],
        ["cost_per_person_yen", "座間市", "2000", "円", "", ""],
        ["ＷＳ参加者数（実人数）", "綾瀬", "40", "人", "綾瀬市福祉総務課", "2024-11-01"],
        ["workshop_unique_participants", "綾瀬市", "45", "", "", "R6.12.1"],
        ["workshop_unique_participants", "14218", "30", "", "", ""],
    ])  # fmt: skip
    result = targets.transform(targets.extract(path), ctx)
    assert result.rows_read == 9
    assert result.quarantine.select("row_number", "column_name", "value", "reason", "check_name").rows() == [
        (2, "KPI", "来場者数", "未知のKPI「来場者数」 (unknown KPI: use a code or name listed in docs/source-formats.md)",
         "normalise.kpi"),
        (3, "市", "厚木市", "未知の市「厚木市」 (unknown category: city)", "normalise.city"),
        (4, "目標値", "百五十", "数値として読めません「百五十」 (not a number)", "normalise.number"),
        (5, "目標値", "-5", "数値として読めません「-5」 (not a number)", "normalise.number"),
        (6, "単位", "円", "単位がKPIの単位「名」と一致しません (unit does not match the KPI)", "rule.kpi_unit"),
        (7, "市", "座間市", "このKPIは4市全体でのみ設定できます (this KPI exists only for the four cities together)",
         "rule.kpi_scope"),
        (8, "KPI", "ＷＳ参加者数（実人数）",
         "同じKPI・市の新しい目標があります (superseded by a newer target for the same KPI and city)", "dedupe.superseded"),
        (10, "KPI", "workshop_unique_participants",
         "同じKPI・市の新しい目標があります (superseded by a newer target for the same KPI and city)", "dedupe.superseded"),
    ]  # fmt: skip
    # The latest 設定日 wins (R6.12.1); a row without a date counts as the oldest.
    assert result.tables["kpi_target"].drop("_file", "_sheet").to_dicts() == [
        {"id": "workshop_unique_participants:14218", "kpi_code": "workshop_unique_participants", "city_code": AYASE,
         "target_value": 45.0, "unit": "名", "set_by": None, "set_on": dt.date(2024, 12, 1), "source_row": 9, "_row": 9},
    ]  # fmt: skip


def test_header_only_targets_file_means_no_targets(tmp_path, ctx):
    result = targets.transform(targets.extract(write_targets(tmp_path, [])), ctx)
    assert (result.rows_read, result.tables["kpi_target"].height, result.quarantine.height) == (0, 0, 0)
    # fiscal_year comes later, per bundle year (etl.years).
    columns = [column for column in TABLE_SCHEMAS["kpi_target"] if column not in YEAR_COLUMNS]
    assert result.tables["kpi_target"].columns == [*columns, "_file", "_sheet", "_row"]


def test_suite_quarantines_what_slips_past_the_transform(ctx):
    city = ctx.vocab.tables()["city"]
    frame = pl.DataFrame(
        [
            {"fiscal_year": 2024, "id": "total_reach:all", "kpi_code": "total_reach", "city_code": None, "target_value": 3000.0,
             "unit": "名", "set_by": None, "set_on": None, "source_row": 2, "_file": "kpi_targets.csv", "_sheet": None,
             "_row": 2},
            {"fiscal_year": 2024, "id": "visitors:all", "kpi_code": "visitors", "city_code": None, "target_value": 1.0, "unit": "名",
             "set_by": None, "set_on": None, "source_row": 3, "_file": "kpi_targets.csv", "_sheet": None, "_row": 3},
            {"fiscal_year": 2024, "id": "total_reach:99999", "kpi_code": "total_reach", "city_code": "99999", "target_value": 0.0,
             "unit": "人", "set_by": None, "set_on": None, "source_row": 4, "_file": "kpi_targets.csv", "_sheet": None,
             "_row": 4},
        ],
        schema=TABLE_SCHEMAS["kpi_target"] | {"_file": pl.String, "_sheet": pl.String, "_row": pl.Int64},
    )  # fmt: skip
    suites = load_suites()
    outcome = validate(
        {"city": city, "kpi_target": frame}, {"city": suites["city"], "kpi_target": suites["kpi_target"]}
    )
    assert outcome.fatal == []
    assert outcome.tables["kpi_target"]["id"].to_list() == ["total_reach:all"]
    assert sorted(outcome.quarantine.select("row_number", "column_name").rows()) == [
        (3, "kpi_code"),
        (4, "city_code"),
        (4, "id"),
        (4, "target_value"),
        (4, "unit"),
    ]


def test_allow_list_is_what_the_marts_compute(sample_con):
    codes = [kpi.code for kpi in targets.KPIS]
    kpi_columns = [r[0] for r in sample_con.execute("describe mart_event_kpis").fetchall()]
    consultee_columns = [r[0] for r in sample_con.execute("describe pii.mart_city_consultees").fetchall()]
    # The consultee KPIs are computed only in the pii schema, and the query module knows which they are.
    assert [c for c in codes if c not in kpi_columns] == list(q.CONSULTEE_KPIS) == consultee_columns[1:]
    definitions = (ROOT / "warehouse" / "marts" / "mart_event_targets.sql").read_text(encoding="utf-8")
    listed = re.findall(r"\('(\w+)', (\d+), '([^']+)', (true|false)\)", definitions)
    assert [(code, unit, better == "true") for code, _, unit, better in listed] == [
        (kpi.code, kpi.unit, kpi.higher_is_better) for kpi in targets.KPIS
    ]
    suite = json.loads((ROOT / "expectations" / "kpi_target.json").read_text(encoding="utf-8"))
    allowed = next(e["kwargs"]["value_set"] for e in suite["expectations"] if e["kwargs"].get("column") == "kpi_code"
                   and e["type"] == "expect_column_values_to_be_in_set")  # fmt: skip
    assert allowed == codes
    for kpi in targets.KPIS:
        assert translate("ja", f"events.kpi.{kpi.code}") == kpi.name_ja


def test_targets_beside_actuals(sample_con):
    expected = [
        ("exhibition_visitors", None, 3000.0, 3198.0, 0, True, 106.6, False),
        ("exhibition_visitors_per_day", ZAMA, 100.0, 85.3, 1, False, 85.3, False),
        ("workshop_unique_participants", None, 50.0, 60.0, 0, True, 120.0, False),
        ("symposium_participants", YAMATO, 150.0, 126.0, 0, False, 84.0, False),
        ("survey_positive_pct", None, 80.0, 88.4, 1, True, 110.5, False),
        ("cost_per_contact_yen", None, 2500.0, 2248.0, 0, True, 89.9, False),
    ]
    columns = ("kpi_code", "city_code", "target_value", "actual", "decimals", "achieved", "attainment_pct")
    for viewer in (PUBLIC, ADMIN, manager(ZAMA)):
        assert q.targets(sample_con, None, viewer).select(*columns, "actual_hidden").rows() == expected
    assert q.targets(sample_con, YAMATO)["target_id"].to_list() == ["symposium_participants:14213"]
    assert q.targets(sample_con, AYASE).is_empty()
    assert charts.targets_table(q.targets(sample_con, ZAMA), "ja").to_dicts() == [
        {"kpi": "展示会1日平均来場者数", "scope": "座間市", "target": "100 名/日", "actual": "85.3 名/日",
         "attainment_pct": 85.3, "status": "未達成", "set_by": "座間市地域福祉課", "set_on": "令和6年11月15日（2024-11-15）"},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def consultee_targets(sample_warehouse, tmp_path_factory) -> Path:
    """A copy of the sample warehouse with targets for the three consultee KPIs and its target marts rebuilt."""
    path = tmp_path_factory.mktemp("consultee_targets") / "warehouse.duckdb"
    shutil.copy(sample_warehouse, path)
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "insert into kpi_target values "
            "(2024, 'workshop_consultee_participations:all', 'workshop_consultee_participations', null, 40, '名', "
            "'テスト', null, 8), "
            "(2024, 'workshop_unique_consultees:14218', 'workshop_unique_consultees', '14218', 25, '名', 'テスト', null, 9), "
            "(2024, 'workshop_consultee_share_pct:14215', 'workshop_consultee_share_pct', '14215', 40, '%', 'テスト', null, 10)"
        )
        marts = ROOT / "warehouse" / "marts"
        for name, sql in (
            ("mart_event_targets", marts / "mart_event_targets.sql"),
            ("pii.mart_event_consultee_targets", marts / "pii" / "mart_event_consultee_targets.sql"),
        ):
            con.execute(f"create or replace table {name} as {sql.read_text(encoding='utf-8')}")
    finally:
        con.close()
    return path


def test_consultee_targets_show_their_actual_only_with_the_right(consultee_targets, consultees_withheld):
    con = duckdb.connect(str(consultee_targets), read_only=True)
    columns = ("kpi_code", "city_code", "actual", "decimals", "achieved", "attainment_pct", "actual_hidden")
    try:
        # The main mart never holds a consultee figure: its actual stays empty for these KPIs.
        assert con.execute(
            "select count(*) from mart_event_targets where kpi_code like 'workshop_consultee%' "
            "or kpi_code = 'workshop_unique_consultees'"
        ).fetchone() == (3,)
        assert con.execute(
            "select count(*) from mart_event_targets where kpi_code in "
            "('workshop_consultee_participations', 'workshop_unique_consultees', 'workshop_consultee_share_pct') "
            "and (actual is not null or achieved is not null or attainment_pct is not null)"
        ).fetchone() == (0,)

        def rows(viewer: Viewer, city: str | None = None) -> list[tuple]:
            frame = q.targets(con, city, viewer)
            return frame.filter(pl.col("kpi_code").is_in(q.CONSULTEE_KPIS)).select(columns).rows()

        # 4市: WS相談者の参加（延べ）50 of 40; 綾瀬市 21 unique consultees of 25; 海老名市 17 of 41 = 41.5 % of 40 %.
        admin = [
            ("workshop_consultee_participations", None, 50.0, 0, True, 125.0, False),
            ("workshop_unique_consultees", AYASE, 21.0, 0, False, 84.0, False),
            ("workshop_consultee_share_pct", EBINA, 41.5, 1, True, 103.8, False),
        ]
        assert rows(ADMIN) == admin
        withheld = [(code, city, None, decimals, None, None, True) for code, city, _, decimals, *_ in admin]
        assert rows(manager(AYASE)) == [withheld[0], admin[1], withheld[2]]
        assert rows(manager(EBINA)) == [withheld[0], withheld[1], admin[2]]
        assert rows(manager(AYASE), AYASE) == [admin[1]]
        for viewer in NOT_FOR_AYASE.values():
            assert rows(viewer, AYASE) == [withheld[1]]
        for viewer in (PUBLIC, Viewer("analyst"), Viewer("liaison"), manager(ZAMA)):
            assert rows(viewer) == withheld
        # The other targets are the same for everyone.
        assert q.targets(con, None, PUBLIC).height == q.targets(con, None, ADMIN).height == 9
        table = charts.targets_table(q.targets(con, AYASE, PUBLIC), "ja").to_dicts()
        assert [(r["kpi"], r["actual"], r["attainment_pct"], r["status"]) for r in table] == [
            ("WS相談者数（実人数）", RESTRICTED, None, RESTRICTED)
        ]
        assert charts.targets_table(q.targets(con, AYASE, manager(AYASE)), "ja").select("actual", "status").rows() == [
            ("21 名", "未達成")
        ]
        bullet = chart_rows(charts.targets_chart(q.targets(con, AYASE, PUBLIC), "ja"))
        assert [(r["actual"], r["text"], r["status"]) for r in bullet] == [
            (None, "実績は権限のある担当者のみ表示・目標 25 名", RESTRICTED)
        ]
    finally:
        con.close()


# --- chart builders ---------------------------------------------------------------------------------


def chart_rows(chart) -> list[dict]:
    """The rows of a chart's (single) dataset."""
    datasets = chart.to_dict()["datasets"]
    assert len(datasets) == 1
    return next(iter(datasets.values()))


def test_timeline_chart_spans_the_sessions_in_wareki_and_western(sample_con):
    chart = charts.timeline_chart(q.sessions(sample_con, None), "ja")
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "bar"
    assert (spec["encoding"]["x"]["field"], spec["encoding"]["x"]["type"], spec["encoding"]["x2"]["field"]) == (
        "start",
        "temporal",
        "end",
    )
    label_expr = spec["encoding"]["x"]["axis"]["labelExpr"]
    for text in ('["令和6年12月", "2024-12"]', '["令和7年3月", "2025-03"]'):
        assert text in label_expr
    assert [v["month"] for v in spec["encoding"]["x"]["axis"]["values"]] == [12, 1, 2, 3, 4]
    rows = chart_rows(chart)
    assert len(rows) == 25
    first = rows[0]
    assert (first["start"], first["end"], first["date"], first["count"]) == (
        "2024-12-17",
        "2024-12-18",
        "令和6年12月17日（2024-12-17）",
        "参加者 16 名",
    )
    assert spec["encoding"]["y"]["sort"][0] == "ワークショップ｜写真と日記のワークショップ（金川晋吾）"


def test_survey_chart_stacks_counts_in_questionnaire_order(sample_con):
    chart = charts.survey_chart(q.survey_answers(sample_con, None), q.survey_questions(sample_con, None), "ja")
    spec = chart.to_dict()
    # One row per question, headed by the question's whole text (never cut: no label limit).
    header = spec["facet"]["row"]["header"]
    assert (header["labelLimit"], header["labelOrient"]) == (0, "top")
    assert spec["facet"]["row"]["sort"][0].startswith("「孤独・孤立支援にアートにできることがあると感じましたか」\n")
    bars = spec["spec"]["layer"][0]
    assert bars["mark"]["type"] == "bar"
    assert (bars["encoding"]["x"]["field"], bars["encoding"]["x"]["stack"]) == ("answers", "zero")
    assert bars["encoding"]["color"]["scale"] == {
        "domain": ["すごく感じた", "感じた", "あまり感じなかった", "感じなかった", "無回答"],
        "range": ["#1f4e79", "#5b9bd5", "#f4b183", "#c55a11", "#bfbfbf"],
    }
    rows = chart_rows(chart)
    assert [(r["event"], r["choice"], r["answers"]) for r in rows[:2]] == [
        ("展示｜海老名会場（回答 240 件・肯定的 87.5 %）", "すごく感じた", 98),
        ("展示｜海老名会場（回答 240 件・肯定的 87.5 %）", "感じた", 112),
    ]
    assert sum(r["answers"] for r in rows) == 440


def test_workshop_and_exhibition_charts(sample_con):
    sessions = q.sessions(sample_con, None, ADMIN)
    workshop = chart_rows(charts.workshop_sessions_chart(sessions, "ja"))
    assert sum(r["count"] for r in workshop) == 102
    assert sum(r["count"] for r in workshop if r["group"] == "うち相談者") == 50
    exhibition = charts.exhibition_days_chart(sessions, "ja")
    spec = exhibition.to_dict()
    assert (spec["encoding"]["x"]["field"], spec["encoding"]["y"]["field"]) == ("day", "visitors")
    rows = chart_rows(exhibition)
    assert sum(r["visitors"] for r in rows) == 3198
    assert rows[0]["day"] == "R7.2.21|2025-02-21"


def test_targets_chart_is_a_bullet_per_target(sample_con):
    chart = charts.targets_chart(q.targets(sample_con, None), "ja")
    spec = chart.to_dict()
    assert spec["resolve"] == {"scale": {"x": "independent"}}
    marks = [layer["mark"]["type"] for layer in spec["spec"]["layer"]]
    assert marks == ["bar", "tick", "text", "point"]
    rows = chart_rows(chart)
    assert [(r["kpi"], r["actual"], r["target"], r["text"]) for r in rows[:2]] == [
        ("展示会来場者数（4市全体）", 3198.0, 3000.0, "実績 3,198 名・目標 3,000 名"),
        ("展示会1日平均来場者数（座間市）", 85.3, 100.0, "実績 85.3 名/日・目標 100 名/日"),
    ]


def test_workshop_chart_without_consultee_figures_shows_participants_only(sample_con, consultees_withheld):
    everyone = "参加者（相談者の内訳は権限のある担当者のみ表示）"
    chart = charts.workshop_sessions_chart(q.sessions(sample_con, None, PUBLIC), "ja")
    rows = chart_rows(chart)
    assert [(r["session"], r["group"], r["count"], r["consultees"]) for r in rows] == [
        ("金川晋吾 第1回（R6.12.17）", everyone, 16, RESTRICTED),
        ("キュンチョメ 第1回（R6.12.26）", everyone, 23, RESTRICTED),
        ("金川晋吾 第2回（R7.1.8）", everyone, 11, RESTRICTED),
        ("金川晋吾 第3回（R7.1.27）", everyone, 11, RESTRICTED),
        ("飯川雄大 第1回（R7.2.18）", everyone, 21, RESTRICTED),
        ("飯川雄大 第2回（R7.2.19）", everyone, 20, RESTRICTED),
    ]
    colour = chart.to_dict()["layer"][0]["encoding"]["color"]["scale"]
    assert colour == {"domain": [everyone], "range": [charts.PARTICIPANTS_COLOUR]}
    # 綾瀬市's manager: 綾瀬市's sessions split, 海老名市's (WS-2) not; a frame without the flag copes too.
    mixed = chart_rows(charts.workshop_sessions_chart(q.sessions(sample_con, None, manager(AYASE)), "ja"))
    assert {(r["session"].split(" ")[0], r["group"]) for r in mixed} == {
        ("キュンチョメ", "うち相談者"), ("キュンチョメ", "その他の参加者"), ("金川晋吾", "うち相談者"),
        ("金川晋吾", "その他の参加者"), ("飯川雄大", everyone),
    }  # fmt: skip
    english = chart_rows(charts.workshop_sessions_chart(q.sessions(sample_con, None, PUBLIC), "en"))
    assert english[2]["session"] == "金川晋吾 session 2 (2025-01-08)"
    bare = q.sessions(sample_con, None, PUBLIC).drop("consultees_hidden")
    assert {r["consultees"] for r in chart_rows(charts.workshop_sessions_chart(bare, "en"))} == {None}


@pytest.mark.parametrize(
    "builder",
    [charts.timeline_chart, charts.exhibition_days_chart, charts.workshop_sessions_chart],
)
def test_session_charts_accept_empty_data(sample_con, builder):
    empty = q.sessions(sample_con, None).clear()
    assert chart_rows(builder(empty, "en")) == []


def test_survey_and_target_charts_accept_empty_data(sample_con):
    assert (
        chart_rows(
            charts.survey_chart(q.survey_answers(sample_con, AYASE), q.survey_questions(sample_con, AYASE), "ja")
        )
        == []
    )
    assert chart_rows(charts.targets_chart(q.targets(sample_con, AYASE), "ja")) == []


def test_display_helpers():
    assert (charts.man_yen(7_700_000), charts.man_yen(299_000), charts.man_yen(12_345)) == ("770", "29.9", "1.2")
    assert charts.month_label(dt.date(2024, 11, 1), "ja") == "令和6年11月（2024-11）"
    assert charts.month_label(dt.date(2025, 3, 1), "en") == "2025-03 (R7.3)"
    assert (charts.unrounded(293.125), charts.unrounded(85.3)) == ("293.125", "85.3")


# --- the page -----------------------------------------------------------------------------------------


@pytest.fixture()
def open_page(sample_warehouse, monkeypatch, sign_in):
    """A function opening the app on the events page, signed in as a role (public when None)."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))

    def apply(role: str | None = None, city: str | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        if role is not None:
            sign_in(at, role, city)
        return at.run().switch_page("pages/events.py").run()

    return apply


@pytest.fixture()
def page(open_page):
    """The app on the events page, pointed at the sample warehouse, for the public."""
    return open_page()


@pytest.fixture(scope="module")
def rendered(sample_warehouse, tmp_path_factory, page_runs):
    """A function giving the events page as a role sees it (public when None), each rendered once (read only)."""
    runs = page_runs(tmp_path_factory.mktemp("events"), {"TSUNAGARI_WAREHOUSE": str(sample_warehouse)})
    return lambda role="public", city=None: runs("pages/events.py", role, city)


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → shown value."""
    return {m.label: m.value for m in at.metric}


def cells(table, column: str) -> list[str | None]:
    """A text column of a shown table, missing cells (shown as —) as None."""
    return [value if isinstance(value, str) and value != MISSING else None for value in table[column]]


def texts(elements) -> list[str]:
    """The values of info boxes or captions."""
    return [e.value for e in elements]


def test_page_shows_the_four_cities_figures(rendered, book):
    at = rendered("admin")
    assert not at.exception
    assert at.title[0].value == "イベント実績"
    assert metrics(at) == {
        "展示会来場者数": "3,198 名",
        "WS参加者数（延べ）": "102 名",
        "WS参加者数（実人数）": "60 名",
        "シンポジウム参加者数": "126 名",
        "WS相談者の参加数（延べ）": "50 名",
        "WS相談者数（実人数）": "31 名",
        "来場・参加者数（延べ合計）": "3,426 名",
        "参加者数 — 孤独・孤立にアートができること": "126 名",
        "延べ1人当たり事業費": "2,248 円",
        "1人当たり事業費（WS実人数ベース）": "2,275 円",
    }
    assert sorted(question_lines(at)) == sorted(
        f"- 「{question}」 — 肯定的回答 {pct} %（「すごく感じた」「感じた」{positive} 件 ÷ 全回答 {answers} 件）"
        for question, (positive, answers, pct) in raw_questions(book).items()
    )
    captions = texts(at.caption)
    assert "海老名中央公園・ビナウォーク: 2,345 名 ÷ 8 日 = 293.125 → 293 名/日" in captions
    assert "座間市役所: 853 名 ÷ 10 日 = 85.3 → 85.3 名/日" in captions
    assert translate("ja", "events.def.per_day") in captions
    assert translate("ja", "events.def.unique_participants") in captions
    assert any(
        c.startswith("延べ1人当たり事業費 = アート事業の契約額 7,700,000 円 ÷（展示会来場者 3,198 名") for c in captions
    )
    assert "令和6年12月（2024-12） 〜 令和7年3月（2025-03） の全 25 回（展示は開催日ごと）" in captions
    assert len(at.get("vega_lite_chart")) == 5
    assert texts(at.info) == []
    events_table = at.dataframe[0].value
    assert [v for v in events_table["visitors_per_day"] if v != MISSING] == ["293", "85.3"]
    # WS-3, WS-1, WS-2, then the exhibitions and the symposium (no consultee figure recorded).
    assert cells(events_table, "consultee_participations") == ["16", "17", "17", None, None, None]
    assert cells(events_table, "unique_consultees") == ["7", "17", "10", None, None, None]
    contracts = next(d.value for d in at.dataframe if "amount_man_yen" in d.value.columns)
    assert list(contracts["amount_man_yen"]) == ["770", "29.9"]
    assert list(contracts["amount_yen"]) == ["7,700,000 円", "299,000 円"]


def test_page_quotes_the_comments(rendered):
    quotes = [t.value for t in rendered().text if t.value.startswith("“")]
    assert len(quotes) == 8
    assert quotes[0].startswith("“会場では地図パンフレットを持って")


def test_yamato_held_only_the_symposium(page):
    at = page
    at.selectbox(key="city__ja").select(YAMATO).run()
    assert not at.exception
    assert texts(at.info) == [
        "大和市では展示・ワークショップを開催していません。",
        "大和市では展示を開催していません。",
        "大和市ではワークショップを開催していません。",
    ]
    shown = metrics(at)
    assert shown["シンポジウム参加者数"] == "126 名"
    assert question_lines(at) == [
        "- 「孤独・孤立支援にアートにできることがあると感じましたか」 — "
        "肯定的回答 90.0 %（「すごく感じた」「感じた」72 件 ÷ 全回答 80 件）"
    ]
    assert "展示会来場者数" not in shown and "WS参加者数（延べ）" not in shown
    # Costs stay the four cities' figures: the contract is a joint one.
    assert shown["延べ1人当たり事業費"] == "2,248 円"
    assert translate("ja", "events.joint_contract") in texts(at.caption)
    targets_table = next(d.value for d in at.dataframe if "attainment_pct" in d.value.columns)
    assert targets_table.to_dict("records") == [
        {"kpi": "シンポジウム参加者数", "scope": "大和市", "target": "150 名", "actual": "126 名",
         "attainment_pct": 84.0, "status": "未達成", "set_by": "大和市健康福祉総務課",
         "set_on": "令和6年11月20日（2024-11-20）"},
    ]  # fmt: skip
    assert len(at.get("vega_lite_chart")) == 3  # timeline, survey, targets


@pytest.mark.parametrize("role, city", [("public", None), ("analyst", None), ("liaison", None), ("city_manager", ZAMA)])
def test_page_withholds_consultee_figures(open_page, role, city, consultees_withheld):
    at = open_page(role, city)
    assert not at.exception
    shown = metrics(at)
    assert (shown["WS相談者の参加数（延べ）"], shown["WS相談者数（実人数）"]) == (METRIC_RESTRICTED, METRIC_RESTRICTED)
    assert shown["WS参加者数（延べ）"] == "102 名"
    events_table = at.dataframe[0].value
    assert cells(events_table, "consultee_participations") == [RESTRICTED] * 3 + [None, None, RESTRICTED]
    assert cells(events_table, "unique_consultees") == [RESTRICTED] * 3 + [None, None, None]
    sessions_table = at.dataframe[1].value
    assert set(sessions_table["consultees"]) - {MISSING} == {RESTRICTED}
    assert "16" not in set(sessions_table["consultees"])
    assert len(at.get("vega_lite_chart")) == 5


def test_city_manager_sees_own_city_consultees_only(open_page, consultees_withheld):
    at = open_page("city_manager", AYASE)
    assert not at.exception
    shown = metrics(at)
    # 4市全体: the total would reveal 海老名市's consultees, so it stays withheld.
    assert (shown["WS相談者の参加数（延べ）"], shown["WS相談者数（実人数）"]) == (METRIC_RESTRICTED, METRIC_RESTRICTED)
    events_table = at.dataframe[0].value
    assert cells(events_table, "consultee_participations") == ["16", "17", RESTRICTED, None, None, RESTRICTED]
    at.selectbox(key="city__ja").select(AYASE).run()
    assert not at.exception
    shown = metrics(at)
    assert (shown["WS相談者の参加数（延べ）"], shown["WS相談者数（実人数）"]) == ("33 名", "21 名")
    at.selectbox(key="city__ja").select(EBINA).run()
    assert metrics(at)["WS相談者の参加数（延べ）"] == METRIC_RESTRICTED


def test_ayase_held_only_workshops(open_page):
    at = open_page("city_manager", AYASE)
    at.selectbox(key="city__ja").select(AYASE).run()
    assert not at.exception
    assert texts(at.info) == [
        "綾瀬市では展示・シンポジウムを開催していません。",
        "綾瀬市では展示を開催していません。",
        "綾瀬市ではシンポジウムを開催していません。",
        "綾瀬市のイベントには会場アンケートの集計がありません。",
        "綾瀬市の目標は設定されていません。",
        "綾瀬市のイベントには自由記述がありません。",
    ]
    shown = metrics(at)
    assert (shown["WS参加者数（延べ）"], shown["WS参加者数（実人数）"], shown["WS相談者の参加数（延べ）"]) == (
        "61 名",
        "35 名",
        "33 名",
    )
    assert len(at.get("vega_lite_chart")) == 2  # workshop sessions, timeline


def test_zama_and_english(page, book, city_codes):
    at = page
    at.selectbox(key="city__ja").select(ZAMA).run()
    assert not at.exception
    assert metrics(at)["展示会来場者数"] == "853 名"
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Art-project events"
    shown = metrics(at)
    assert shown["Exhibition visitors"] == "853 people"
    assert "Zama held no event of these kinds: Workshop, Symposium." in texts(at.info)
    at.selectbox(key="city__en").select(EBINA).run()
    # The cities publish these counts: a visitor who is not signed in sees them.
    ebina = {
        e["イベントID"] for e in book["イベント"] if city_codes[e["市"]] == EBINA and e["イベントID"].startswith("WS-")
    }
    consultees = sum(s["うち相談者数"] for s in book["開催回"] if s["イベントID"] in ebina)
    assert consultees > 0
    assert metrics(at)["Workshop participations by consultees"] == f"{consultees} people"


def test_comment_head_and_count_follow_the_full_list(sample_con):
    every = q.comments(sample_con, None)
    assert q.comment_count(sample_con, None) == every.height == 8
    assert q.comments(sample_con, None, limit=3).equals(every.head(3))
    assert q.comment_count(sample_con, AYASE) == 0


def test_a_long_event_list_charts_its_first_events_and_quotes_the_first_comments(open_page, monkeypatch):
    monkeypatch.setattr(charts, "CHART_EVENTS", 2)
    monkeypatch.setattr(q, "COMMENT_ROWS", 3)
    monkeypatch.setattr(charts, "SESSION_ROWS", 10)
    at = open_page()
    assert not at.exception
    assert (
        "図・図の表と開催ごとの注記は開催日順の最初の 2 件（全 6 件中）を示します。開催記録の表には全件があります。"
        in texts(at.caption)
    )
    assert "最初の 3 件を表示しています（全 8 件）。全件はCSVでダウンロードできます。" in texts(at.caption)
    assert len([t.value for t in at.text if t.value.startswith("“")]) == 3
    assert "最初の 10 件を表示しています（全 25 件）。全件はCSVでダウンロードできます。" in texts(at.caption)
    assert at.dataframe[1].value.shape[0] == 10
    # The records table still lists every event; the timeline draws the first two only.
    assert at.dataframe[0].value.shape[0] == 6
    (timeline,) = [c for c in at.get("vega_lite_chart") if '"x2"' in c.proto.spec]
    (dataset,) = timeline.proto.datasets
    drawn = set(pl.read_ipc_stream(io.BytesIO(dataset.data.data))["event"])
    assert len(drawn) == 2


def test_session_heads_spans_and_charted_events_follow_the_full_lists(sample_con):
    # The page reads the session list's head, count and dates and the charted events' sessions and answers, not
    # every session: each must be exactly the part of the full list it stands for, per city and viewer.
    for city in (None, YAMATO, EBINA, ZAMA, AYASE):
        for viewer in (PUBLIC, ADMIN, manager(AYASE)):
            every = q.sessions(sample_con, city, viewer)
            span = q.session_span(sample_con, city, viewer)
            assert span["sessions"] == every.height
            if every.height:
                assert (span["first_date"], span["last_date"]) == (
                    every["session_date"].min(),
                    every["session_date"].max(),
                )
            for limit in (0, 3, every.height + 1):
                assert q.sessions(sample_con, city, viewer, limit).equals(every.head(limit))
            answers = q.survey_answers(sample_con, city, viewer)
            events = q.events(sample_con, city, viewer)["event_id"].to_list()
            for chosen in ((), tuple(events[:2]), tuple(events)):
                assert q.sessions(sample_con, city, viewer, None, chosen).equals(
                    every.filter(pl.col("event_id").is_in(list(chosen)))
                )
                assert q.survey_answers(sample_con, city, viewer, chosen).equals(
                    answers.filter(pl.col("event_id").is_in(list(chosen)))
                )
            assert q.survey_questions(sample_con, city, viewer).is_empty() == answers.is_empty()
