"""events.xlsx: events, sessions, roster, attendance, venue surveys, comments and contracts."""

from __future__ import annotations

import datetime as dt
from functools import partial

import polars as pl
import pytest

from etl.errors import SourceError
from etl.sources import events

from .builders import events_sheets, lineage_of, write_xlsx

FILE = "events.xlsx"


def run(tmp_path, ctx, sheets=None):
    """Write the workbook, extract and transform it."""
    return events.transform(events.extract(write_xlsx(tmp_path / FILE, sheets or events_sheets())), ctx)


at = partial(lineage_of, FILE)


def test_happy_path(tmp_path, ctx):
    result = run(tmp_path, ctx)
    assert result.rows_read == 14
    assert result.quarantine.height == 0
    t = result.tables
    assert t["event"].to_dicts() == [
        {
            "id": "WS-1",
            "kind": "workshop",
            "title": "貝のワークショップ",
            "artist_or_programme": "作家A",
            "city_code": "14218",
            "venue": "プラザ",
            "venue_address": None,
            "start_date": dt.date(2024, 12, 17),
            "end_date": dt.date(2025, 1, 8),
            "open_days": 2,
            **at("イベント", 2),
        },
        {
            "id": "EX-1",
            "kind": "exhibition",
            "title": "街中展示",
            "artist_or_programme": None,
            "city_code": "14215",
            "venue": "公園",
            "venue_address": "神奈川県海老名市中央1-1",
            "start_date": dt.date(2025, 2, 21),
            "end_date": dt.date(2025, 2, 21),
            "open_days": 1,
            **at("イベント", 3),
        },
    ]
    assert t["event_session"].to_dicts() == [
        {
            "id": "WS-1-1",
            "event_id": "WS-1",
            "seq": 1,
            "session_date": dt.date(2024, 12, 17),
            "start_time": dt.time(14, 0),
            "end_time": dt.time(16, 0),
            "participants": 2,
            "visitors": None,
            **at("開催回", 2),
        },
        {
            "id": "WS-1-2",
            "event_id": "WS-1",
            "seq": 2,
            "session_date": dt.date(2025, 1, 8),
            "start_time": dt.time(14, 0),
            "end_time": dt.time(17, 0),
            "participants": 1,
            "visitors": None,
            **at("開催回", 3),
        },
        {
            "id": "EX-1-1",
            "event_id": "EX-1",
            "seq": 1,
            "session_date": dt.date(2025, 2, 21),
            "start_time": dt.time(9, 0),
            "end_time": dt.time(17, 0),
            "participants": None,
            "visitors": 1234,
            **at("開催回", 4),
        },
    ]
    # うち相談者数 is sensitive: it is kept apart, and only where the sheet gives it (not for the exhibition day).
    assert t["pii.event_session_consultees"].to_dicts() == [
        {"session_id": "WS-1-1", "consultees": 1, **at("開催回", 2)},
        {"session_id": "WS-1-2", "consultees": 0, **at("開催回", 3)},
    ]
    assert "consultees" not in t["event_session"].columns
    assert t["pii.event_participant"].to_dicts() == [
        {"participant_id": "P001", "name": "見本 一郎", "is_consultee": True, **at("参加者名簿", 2)},
        {"participant_id": "P002", "name": "見本 二郎", "is_consultee": False, **at("参加者名簿", 3)},
    ]
    assert t["pii.event_attendance"].to_dicts() == [
        {"participant_id": "P001", "session_id": "WS-1-1", **at("出欠", 2)},
        {"participant_id": "P002", "session_id": "WS-1-1", **at("出欠", 3)},
        {"participant_id": "P001", "session_id": "WS-1-2", **at("出欠", 4)},
    ]
    assert t["event_survey_result"].to_dicts() == [
        {
            "event_id": "EX-1",
            "question": "考えるきっかけになりましたか",
            "choice": "感じた",
            "choice_order": 1,
            "answers": 10,
            **at("アンケート集計", 2),
        },
        {
            "event_id": "EX-1",
            "question": "考えるきっかけになりましたか",
            "choice": "感じなかった",
            "choice_order": 2,
            "answers": 0,
            **at("アンケート集計", 3),
        },
    ]
    assert t["event_comment"].to_dicts() == [
        {
            "id": "EX-1-C2",
            "event_id": "EX-1",
            "venue": "海老名会場",
            "comment": "楽しかった。\nまた来たい。",
            **at("自由記述", 2),
        },
    ]
    assert t["contract"].to_dicts() == [
        {
            "id": "C-ART",
            "project": "アート事業",
            "contractor": "株式会社Little Barrel",
            "amount_yen": 7_700_000,
            "period_start": dt.date(2024, 11, 1),
            "period_end": dt.date(2025, 3, 1),
            **at("契約", 2),
        },
    ]


def test_bad_rows_are_quarantined_and_the_rest_loads(tmp_path, ctx):
    sheets = events_sheets()
    sheets[events.EVENTS].append(
        ["SYM", "講演会", "シンポジウム", None, "大和市", "センター", None, "2025-02-21", "2025-02-20", 1]
    )
    sheets[events.SESSIONS].append(["WS-9", 1, "2025-01-01", None, None, 3, None, None])
    sheets[events.SESSIONS].append(["WS-1", 3, "2025-01-09", None, None, "三", None, None])
    sheets[events.ATTENDANCE].append(["P003", "WS-1", 3])
    sheets[events.PARTICIPANTS].append(["P001", "見本 三郎", "関係者"])
    sheets[events.CONTRACTS].append(["C-RES", "調査", "一般社団法人X", "¥299,000", "令和7年2月", "令和6年12月"])
    result = run(tmp_path, ctx, sheets)
    # The WS-1 session with an unreadable 参加者数 loads, that count null (a cell-level record).
    assert [t.height for t in result.tables.values()] == [2, 4, 2, 1, 1, 2, 3, 2]
    assert result.tables["event_session"].filter(pl.col("id") == "WS-1-3")["participants"].to_list() == [None]
    assert result.quarantine.filter(pl.col("scope") == "cell")["row_number"].to_list() == [6]
    assert result.quarantine.select("sheet", "row_number", "column_name", "value", "reason", "check_name").rows() == [
        (
            "イベント",
            4,
            "種別",
            "講演会",
            "未知の種別「講演会」 (unknown category: event kind)",
            "normalise.event_kind",
        ),
        ("開催回", 5, "イベントID", "WS-9", "未登録のイベントID (unknown event id)", "match.event"),
        ("開催回", 6, "参加者数", "三", "数値として読めません「三」 (not a number)", "normalise.count"),
        (
            "参加者名簿",
            4,
            "区分",
            "関係者",
            "未知の区分「関係者」 (unknown category: participant class)",
            "normalise.participant_class",
        ),
        ("出欠", 5, "参加者ID", "P003", "名簿にない参加者IDです (participant not on the roster)", "match.participant"),
        (
            "契約",
            3,
            "期間終了",
            "令和6年12月",
            "期間終了が期間開始より前です (period ends before it starts)",
            "rule.date_order",
        ),
    ]


def test_end_before_start_and_duplicates(tmp_path, ctx):
    sheets = events_sheets()
    sheets[events.EVENTS].append(
        ["SYM", "シンポジウム", "シンポ", None, "大和市", "センター", None, "2025-02-21", "2025-02-20", 1]
    )
    sheets[events.EVENTS].append(
        ["WS-1", "workshop", "重複", None, "綾瀬市", "プラザ", None, "2025-01-01", "2025-01-01", 1]
    )
    sheets[events.SESSIONS].append(["WS-1", 1, "2025-01-01", None, None, 1, 0, None])
    sheets[events.SESSIONS].append(["EX-1", 0, "2025-02-22", None, None, None, None, 10])
    sheets[events.ATTENDANCE].append(["P002", "WS-1", 9])
    sheets[events.ATTENDANCE].append(["P001", "WS-1", 1])
    sheets[events.SURVEY].append(["EX-1", "考えるきっかけになりましたか", "感じた", 3, 1])
    result = run(tmp_path, ctx, sheets)
    assert result.quarantine.select("sheet", "row_number", "column_name", "reason").rows() == [
        ("イベント", 4, "終了日", "終了日が開始日より前です (end date before start date)"),
        ("イベント", 5, "イベントID", "イベントIDが重複しています (duplicate event id)"),
        ("開催回", 5, "回", "開催回が重複しています (duplicate session)"),
        ("開催回", 6, "回", "1以上の数を入れてください「0」 (must be 1 or more)"),
        ("出欠", 5, "回", "未登録の開催回です (unknown session)"),
        ("出欠", 6, "参加者ID", "出欠が重複しています (duplicate attendance)"),
        ("アンケート集計", 4, "選択肢", "選択肢が重複しています (duplicate survey choice)"),
    ]


def test_more_consultees_than_participants_leaves_out_only_the_consultee_count(tmp_path, ctx):
    sheets = events_sheets()
    sheets[events.SESSIONS].append(["WS-1", 3, "2025-01-20", None, None, 2, "３", None])
    sheets[events.SESSIONS].append(["WS-1", 4, "2025-01-21", None, None, None, 5, None])
    result = run(tmp_path, ctx, sheets)
    assert result.quarantine.select(
        "sheet", "row_number", "column_name", "value", "reason", "check_name", "scope"
    ).rows() == [
        (
            "開催回",
            5,
            "うち相談者数",
            "３",
            "相談者数が参加者数を超えています (more consultees than participants)",
            "rule.consultees_within_participants",
            "cell",
        ),
    ]
    # The session and its 参加者数 load; its impossible consultee count does not. A count without 参加者数
    # cannot be checked and is kept.
    assert result.tables["event_session"]["id"].to_list() == ["WS-1-1", "WS-1-2", "EX-1-1", "WS-1-3", "WS-1-4"]
    assert result.tables["event_session"].filter(pl.col("id") == "WS-1-3")["participants"].to_list() == [2]
    assert result.tables["pii.event_session_consultees"].select("session_id", "consultees").rows() == [
        ("WS-1-1", 1),
        ("WS-1-2", 0),
        ("WS-1-4", 5),
    ]


def test_counts_with_units_load_and_approximate_counts_are_cell_records(tmp_path, ctx):
    sheets = events_sheets()
    sheets[events.EVENTS][1][9] = "8日"
    sheets[events.SESSIONS].append(["EX-1", 2, "2025-02-23", None, None, None, None, "約60"])
    sheets[events.SESSIONS].append(["EX-1", 3, "2025-02-24", None, None, "23名", None, "1,234"])
    result = run(tmp_path, ctx, sheets)
    first = sheets[events.EVENTS][1][0]
    assert result.tables["event"].filter(pl.col("id") == first)["open_days"].to_list() == [8]
    sessions = {r["id"]: r for r in result.tables["event_session"].to_dicts()}
    assert sessions["EX-1-2"]["visitors"] is None
    assert (sessions["EX-1-3"]["participants"], sessions["EX-1-3"]["visitors"]) == (23, 1234)
    assert result.quarantine.select("row_number", "column_name", "value", "check_name", "scope").rows() == [
        (5, "来場者数", "約60", "normalise.count", "cell")
    ]


@pytest.mark.parametrize("value", ["約8日", None])
def test_unreadable_or_missing_open_days_is_a_cell_record_and_the_event_stays(tmp_path, ctx, value):
    sheets = events_sheets()
    row = next(i for i, r in enumerate(sheets[events.EVENTS]) if r[0] == "EX-1")
    sheets[events.EVENTS][row][9] = value
    (tmp_path / "clean").mkdir()
    clean = run(tmp_path / "clean", ctx)
    result = run(tmp_path, ctx, sheets)
    event = result.tables["event"].filter(pl.col("id") == "EX-1")
    assert event["open_days"].to_list() == [None]
    assert (
        event.drop("open_days").rows() == clean.tables["event"].filter(pl.col("id") == "EX-1").drop("open_days").rows()
    )
    # Its sessions, tallies and comments are not dependants of anything: every one loads.
    for name in ("event_session", "event_survey_result", "event_comment"):
        assert result.tables[name].rows() == clean.tables[name].rows()
    found = result.quarantine.select(
        "file_name", "sheet", "row_number", "column_name", "value", "check_name", "scope"
    ).rows()
    assert [r[:5] + r[6:] for r in found] == [(FILE, events.EVENTS, row + 1, "開催日数", value, "cell")]
    assert found[0][5] == ("normalise.required" if value is None else "normalise.count")
    reason = result.quarantine["reason"][0]
    if value is None:
        assert reason == "必須項目が空です (required value is missing)"
    else:
        assert "「約8日」" in reason and "approximate count" in reason


def test_an_event_set_aside_takes_its_dependants_under_one_root_cause(tmp_path, ctx):
    sheets = events_sheets()
    # EX-1 loses its host city (its parent reference): sessions, tallies and comments of EX-1 are its dependants.
    row = next(i for i, r in enumerate(sheets[events.EVENTS]) if r[0] == "EX-1")
    sheets[events.EVENTS][row][4] = "横浜市"
    result = run(tmp_path, ctx, sheets)
    assert "EX-1" not in result.tables["event"]["id"].to_list()
    root = f"{FILE}, sheet イベント, row {row + 1}"
    q = result.quarantine
    assert q.filter(pl.col("scope") == "row").select("row_number", "column_name", "root_cause").rows() == [
        (row + 1, "市", root)
    ]
    # No unrelated "unknown event id" rows: one record per dependent sheet, naming the root and the count.
    assert q.filter(pl.col("check_name") == "match.event").height == 0
    expected = {
        sheet: sum(1 for r in sheets[sheet][1:] if r[0] == "EX-1")
        for sheet in (events.SESSIONS, events.SURVEY, events.COMMENTS)
    }
    expected = {sheet: n for sheet, n in expected.items() if n}
    deps = q.filter(pl.col("scope") == "dependants")
    assert dict(deps.select("sheet", "dependants").rows()) == expected
    assert set(deps["root_cause"]) == {root}
    assert set(deps["row_number"].to_list()) == {None}


def test_missing_sheet_and_header(tmp_path):
    sheets = events_sheets()
    del sheets[events.COMMENTS]
    with pytest.raises(SourceError) as error:
        events.extract(write_xlsx(tmp_path / FILE, sheets))
    assert str(error.value) == f"{FILE}, sheet 自由記述: シート「自由記述」がありません (missing sheet)"
    sheets = events_sheets()
    sheets[events.CONTRACTS][0] = ["契約ID", "事業名", "発注先", "金額", "期間開始", "期間終了"]
    with pytest.raises(SourceError) as error:
        events.extract(write_xlsx(tmp_path / FILE, sheets))
    assert (
        str(error.value)
        == f"{FILE}, sheet 契約, column 金額（円）: 必須の見出し「金額（円）」がありません (missing required column)"
    )


def test_half_width_header_matches(tmp_path, ctx):
    sheets = events_sheets()
    sheets[events.CONTRACTS][0] = ["契約ID", "事業名", "発注先", "金額(円)", "期間開始", "期間終了"]
    assert run(tmp_path, ctx, sheets).tables["contract"]["amount_yen"].to_list() == [7_700_000]


def test_unreadable_contract_amount_is_a_cell_record_and_the_contract_stays(tmp_path, ctx):
    sheets = events_sheets()
    sheets[events.CONTRACTS][1][3] = "約770万円"
    result = run(tmp_path, ctx, sheets)
    contract = result.tables["contract"]
    assert contract["id"].to_list() == [sheets[events.CONTRACTS][1][0]]
    assert contract["amount_yen"].to_list() == [None]
    assert result.quarantine.select("sheet", "row_number", "column_name", "value", "check_name", "scope").rows() == [
        (events.CONTRACTS, 2, "金額（円）", "約770万円", "normalise.amount", "cell")
    ]


@pytest.mark.parametrize(("column", "index"), [("開始日", 7), ("終了日", 8)])
def test_unreadable_event_date_is_a_cell_record_and_the_event_stays(tmp_path, ctx, column, index):
    sheets = events_sheets()
    row = next(i for i, r in enumerate(sheets[events.EVENTS]) if r[0] == "EX-1")
    sheets[events.EVENTS][row][index] = "令和6年2月30日"
    (tmp_path / "clean").mkdir()
    clean = run(tmp_path / "clean", ctx)
    result = run(tmp_path, ctx, sheets)
    field = {"開始日": "start_date", "終了日": "end_date"}[column]
    assert result.tables["event"].filter(pl.col("id") == "EX-1")[field].to_list() == [None]
    for name in ("event", "event_session", "event_survey_result", "event_comment"):
        assert result.tables[name].height == clean.tables[name].height
    assert result.quarantine.select("row_number", "column_name", "value", "check_name", "scope").rows() == [
        (row + 1, column, "令和6年2月30日", "normalise.date", "cell")
    ]
