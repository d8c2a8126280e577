"""events.xlsx — アート事業の実績: events, sessions, participants, attendance, venue surveys, comments, contracts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from common.calendar import parse_date, parse_wareki_month
from common.text import clean_text, nfkc
from etl.normalise import parse_count, parse_time, parse_yen
from etl.sources.base import (
    Context,
    Dependants,
    RowCheck,
    Transformed,
    read_xlsx,
    reader_result,
    sheet_rows,
    table,
)

FILE_NAME = "events.xlsx"
KIND = "events"
EVENTS, SESSIONS, PARTICIPANTS, ATTENDANCE, SURVEY, COMMENTS, CONTRACTS = (
    "イベント",
    "開催回",
    "参加者名簿",
    "出欠",
    "アンケート集計",
    "自由記述",
    "契約",
)
SHEETS = {
    EVENTS: [
        "イベントID",
        "種別",
        "名称",
        "アーティスト・プログラム",
        "市",
        "会場",
        "会場住所",
        "開始日",
        "終了日",
        "開催日数",
    ],
    SESSIONS: ["イベントID", "回", "開催日", "開始時刻", "終了時刻", "参加者数", "うち相談者数", "来場者数"],
    PARTICIPANTS: ["参加者ID", "氏名", "区分"],
    ATTENDANCE: ["参加者ID", "イベントID", "回"],
    SURVEY: ["イベントID", "設問", "選択肢", "選択肢順", "回答数"],
    COMMENTS: ["イベントID", "会場", "コメント"],
    CONTRACTS: ["契約ID", "事業名", "発注先", "金額（円）", "期間開始", "期間終了"],
}
KINDS = {"展示": "exhibition", "ワークショップ": "workshop", "シンポジウム": "symposium"}
CONSULTEE = {"相談者": True, "一般": False}
UNKNOWN_EVENT = "未登録のイベントID (unknown event id)"
MORE_CONSULTEES = "相談者数が参加者数を超えています (more consultees than participants)"


def extract(path: Path) -> pl.DataFrame:
    """Read the seven sheets into one raw frame of strings with lineage."""
    return read_xlsx(path, SHEETS)


def _choice(options: dict[str, Any], what_ja: str, what_en: str) -> Callable[[Any], Any]:
    """Parser accepting the Japanese labels or the codes of a small fixed list."""
    index = {k.casefold(): v for k, v in options.items()} | {str(v).casefold(): v for v in options.values()}

    def parse(value: Any) -> Any:
        """The code of one label; anything else raises ValueError."""
        text = nfkc(value) or ""
        if text.casefold() not in index:
            raise ValueError(f"未知の{what_ja}「{text}」 (unknown category: {what_en})")
        return index[text.casefold()]

    return parse


def _positive(value: Any) -> int | None:
    """A count that must be at least 1 (回, 選択肢順, 開催日数)."""
    number = parse_count(value)
    if number == 0:
        raise ValueError(f"1以上の数を入れてください「{value}」 (must be 1 or more)")
    return number


def _duplicate(check: RowCheck, column: str, key: Any, seen: set, what_ja: str, what_en: str) -> None:
    """Quarantine the row if its key was already loaded."""
    if check.ok and key in seen:
        check.fail(column, check.row.get(column), f"{what_ja}が重複しています (duplicate {what_en})", "dedupe.key")
    if check.ok:
        seen.add(key)


def _load_keyed(
    check: RowCheck,
    record: dict[str, Any],
    key: str | None,
    column: str,
    seen: set,
    what_en: str,
    rows: list[dict[str, Any]],
    failed: dict[str, str],
    quarantine: list[dict[str, Any]],
) -> None:
    """Load a row identified by key, read from column (a repeated key is a duplicate); a row set aside leaves
    its key's root cause in failed, for the rows that point to it."""
    _duplicate(check, column, key, seen, column, what_en)
    if check.ok:
        rows.append(record | check.lineage)
    elif key is not None:
        failed.setdefault(key, check.label)
    quarantine.extend(check.problems)


def _event_ref(check: RowCheck, events: set[str], rejected: dict[str, str]) -> str | None:
    """The row's イベントID, which must name a loaded event (one set aside makes the row its dependant)."""
    event_id = check.get("イベントID", required=True)
    if event_id in rejected:
        check.depend(rejected[event_id])
    elif event_id is not None and event_id not in events:
        check.fail("イベントID", check.row.get("イベントID"), UNKNOWN_EVENT, "match.event")
    return event_id


def _rejected(failed: dict, loaded: set) -> dict:
    """Keys of rows set aside that no other row loaded under (key → the first such row's root cause)."""
    return {key: root for key, root in failed.items() if key not in loaded}


# What a dependent row is, per sheet (ja, en), as its root-cause record says it.
DEPENDANT = {
    SESSIONS: ("開催回", "sessions"),
    ATTENDANCE: ("出欠", "attendance rows"),
    SURVEY: ("アンケート集計", "venue-survey tallies"),
    COMMENTS: ("自由記述", "comments"),
}


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """All event tables; rows pointing to an unknown event, session or participant are quarantined."""
    out: dict[str, list[dict[str, Any]]] = {
        name: []
        for name in (
            "event",
            "event_session",
            "event_survey_result",
            "event_comment",
            "contract",
            "pii.event_participant",
            "pii.event_attendance",
            "pii.event_session_consultees",
        )
    }
    quarantine: list[dict[str, Any]] = []
    dependants = Dependants()
    kind = _choice(KINDS, "種別", "event kind")
    consultee = _choice(CONSULTEE, "区分", "participant class")

    events: set[str] = set()
    failed: dict[str, str] = {}
    for row in sheet_rows(raw, EVENTS):
        check = RowCheck(row)
        event = {
            "id": check.get("イベントID", required=True),
            "kind": check.get("種別", kind, check="normalise.event_kind", required=True),
            "title": check.get("名称", required=True),
            "artist_or_programme": check.get("アーティスト・プログラム"),
            "city_code": check.get("市", ctx.vocab.city, required=True),
            "venue": check.get("会場", required=True),
            "venue_address": check.get("会場住所"),
            "start_date": check.get("開始日", parse_date, check="normalise.date", needed=True),
            "end_date": check.get("終了日", parse_date, check="normalise.date", needed=True),
            "open_days": check.get("開催日数", _positive, check="normalise.count", needed=True),
        }
        # An unreadable date (null) cannot break the order; it is already its own cell record.
        dated = None not in (event["start_date"], event["end_date"])
        if check.ok and dated and event["end_date"] < event["start_date"]:
            check.fail(
                "終了日", row["終了日"], "終了日が開始日より前です (end date before start date)", "rule.date_order"
            )
        _load_keyed(check, event, event["id"], "イベントID", events, "event id", out["event"], failed, quarantine)
    rejected_events = _rejected(failed, events)

    def counted(check: RowCheck, sheet: str, column: str) -> None:
        """Count a row set aside with its parent under the parent's root cause; keep any other problem."""
        if check.root is not None:
            dependants.add(check, column, *DEPENDANT[sheet])
        quarantine.extend(check.problems)

    sessions: set[str] = set()
    failed = {}
    for row in sheet_rows(raw, SESSIONS):
        check = RowCheck(row)
        event_id = _event_ref(check, events, rejected_events)
        seq = check.get("回", _positive, check="normalise.count", required=True)
        session = {
            "id": f"{event_id}-{seq}",
            "event_id": event_id,
            "seq": seq,
            "session_date": check.get("開催日", parse_date, check="normalise.date", required=True),
            "start_time": check.get("開始時刻", parse_time, check="normalise.time"),
            "end_time": check.get("終了時刻", parse_time, check="normalise.time"),
            "participants": check.get("参加者数", parse_count, check="normalise.count"),
            "consultees": check.get("うち相談者数", parse_count, check="normalise.count"),
            "visitors": check.get("来場者数", parse_count, check="normalise.count"),
        }
        # うち相談者数 is sensitive: it goes to pii.event_session_consultees, never to event_session.
        consultees = session.pop("consultees")
        if check.ok and None not in (consultees, session["participants"]) and consultees > session["participants"]:
            # The session and its participants still count; only the impossible consultee figure is left out.
            check.fail(
                "うち相談者数", row["うち相談者数"], MORE_CONSULTEES, "rule.consultees_within_participants", cell=True
            )
            consultees = None
        _duplicate(check, "回", session["id"], sessions, "開催回", "session")
        if check.ok:
            out["event_session"].append(session | check.lineage)
            if consultees is not None:
                out["pii.event_session_consultees"].append(
                    {"session_id": session["id"], "consultees": consultees} | check.lineage
                )
        elif event_id is not None and seq is not None:
            failed.setdefault(session["id"], check.root or check.label)
        counted(check, SESSIONS, "イベントID")
    rejected_sessions = _rejected(failed, sessions)

    participants: set[str] = set()
    failed = {}
    for row in sheet_rows(raw, PARTICIPANTS):
        check = RowCheck(row)
        participant = {
            "participant_id": check.get("参加者ID", required=True),
            "name": check.get("氏名"),
            "is_consultee": check.get("区分", consultee, check="normalise.participant_class", required=True),
        }
        _load_keyed(
            check,
            participant,
            participant["participant_id"],
            "参加者ID",
            participants,
            "participant id",
            out["pii.event_participant"],
            failed,
            quarantine,
        )
    rejected_participants = _rejected(failed, participants)

    attended: set[tuple[str, str]] = set()
    for row in sheet_rows(raw, ATTENDANCE):
        check = RowCheck(row)
        participant_id = check.get("参加者ID", required=True)
        if participant_id in rejected_participants:
            check.depend(rejected_participants[participant_id])
        elif participant_id is not None and participant_id not in participants:
            check.fail(
                "参加者ID",
                row["参加者ID"],
                "名簿にない参加者IDです (participant not on the roster)",
                "match.participant",
            )
        event_id = _event_ref(check, events, rejected_events)
        seq = check.get("回", _positive, check="normalise.count", required=True)
        session_id = f"{event_id}-{seq}"
        if check.ok and session_id in rejected_sessions:
            check.depend(rejected_sessions[session_id])
        if check.ok and session_id not in sessions:
            check.fail("回", row["回"], "未登録の開催回です (unknown session)", "match.session")
        _duplicate(check, "参加者ID", (participant_id, session_id), attended, "出欠", "attendance")
        if check.ok:
            out["pii.event_attendance"].append(
                {"participant_id": participant_id, "session_id": session_id} | check.lineage
            )
        counted(check, ATTENDANCE, "参加者ID" if participant_id in rejected_participants else "イベントID")

    tallies: set[tuple[str, str, str]] = set()
    for row in sheet_rows(raw, SURVEY):
        check = RowCheck(row)
        result = {
            "event_id": _event_ref(check, events, rejected_events),
            "question": check.get("設問", required=True),
            "choice": check.get("選択肢", required=True),
            "choice_order": check.get("選択肢順", _positive, check="normalise.count", required=True),
            "answers": check.get("回答数", parse_count, check="normalise.count", required=True),
        }
        key = (result["event_id"], result["question"], result["choice"])
        _duplicate(check, "選択肢", key, tallies, "選択肢", "survey choice")
        if check.ok:
            out["event_survey_result"].append(result | check.lineage)
        counted(check, SURVEY, "イベントID")

    for row in sheet_rows(raw, COMMENTS):
        check = RowCheck(row)
        event_id = _event_ref(check, events, rejected_events)
        comment = {
            "id": f"{event_id}-C{row['_row']}",
            "event_id": event_id,
            "venue": check.get("会場"),
            "comment": check.get("コメント", clean_text, required=True),
        }
        if check.ok:
            out["event_comment"].append(comment | check.lineage)
        counted(check, COMMENTS, "イベントID")

    contracts: set[str] = set()
    for row in sheet_rows(raw, CONTRACTS):
        check = RowCheck(row)
        contract = {
            "id": check.get("契約ID", required=True),
            "project": check.get("事業名", required=True),
            "contractor": check.get("発注先", required=True),
            "amount_yen": check.get("金額（円）", parse_yen, check="normalise.amount", needed=True),
            "period_start": check.get("期間開始", parse_wareki_month, check="normalise.month", required=True),
            "period_end": check.get("期間終了", parse_wareki_month, check="normalise.month", required=True),
        }
        if check.ok and contract["period_end"] < contract["period_start"]:
            check.fail(
                "期間終了",
                row["期間終了"],
                "期間終了が期間開始より前です (period ends before it starts)",
                "rule.date_order",
            )
        _duplicate(check, "契約ID", contract["id"], contracts, "契約ID", "contract id")
        if check.ok:
            out["contract"].append(contract | check.lineage)
        quarantine.extend(check.problems)

    return reader_result(
        raw, SHEETS, {name: table(name, records) for name, records in out.items()}, quarantine + dependants.records()
    )
