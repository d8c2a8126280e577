"""The operational store: validation, manager identity, append-only history, the merge rule, concurrency."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from dashboard.i18n import translate
from warehouse import operations as ops

ROOT = Path(__file__).resolve().parent.parent
ZAMA = ops.Manager("座間市地域福祉課", "14216")
# 2025-04-10 10:00 in Japan.
NOW = dt.datetime(2025, 4, 10, 1, 0, tzinfo=dt.UTC)
TODAY = dt.date(2025, 4, 10)
D = dt.date


def utc(*parts: int) -> dt.datetime:
    """An aware UTC datetime."""
    return dt.datetime(*parts, tzinfo=dt.UTC)


def baseline_rows(*rows: dict) -> pl.DataFrame:
    """A baseline frame (the columns current_progress reads from mart_pf_progress_grid)."""
    defaults = dict.fromkeys(ops.progress._BASELINE_SCHEMA)
    return pl.DataFrame([defaults | row for row in rows], schema=ops.progress._BASELINE_SCHEMA)


def event_rows(*rows: dict) -> pl.DataFrame:
    """A progress-event frame as read_progress_events returns it."""
    defaults = dict.fromkeys(ops.PROGRESS_EVENT_SCHEMA)
    return pl.DataFrame([defaults | row for row in rows], schema=ops.PROGRESS_EVENT_SCHEMA)


FILE_S42 = {
    "city_code": "14216",
    "step_code": "s4_2",
    "status_code": "in_progress",
    "start_label": "R6年度2月~",
    "start_month": D(2025, 2, 1),
    "start_precision": "month",
    "note": "県にも依頼したい",
    "recorded_by": "座間市地域福祉課",
    "recorded_on": D(2025, 3, 31),
}


# --- validation ----------------------------------------------------------------------------------


def update(status: str, start: str | None = None, end: str | None = None, **more) -> ops.ProgressUpdate:
    """An update of 座間市 ④-2 (or another step via step_code=…)."""
    fields = {"city_code": "14216", "step_code": "s4_2"} | more
    return ops.ProgressUpdate(status_code=status, start_label=start, end_label=end, **fields)


@pytest.mark.parametrize(
    ("given", "field", "code", "message"),
    [
        (
            update("done", "R6年度2月~"),
            "end",
            "end_required",
            "完了にするには完了月を入力してください。",
        ),
        (
            update("done", "R6年度2月", "R6年度1月"),
            "end",
            "end_before_start",
            "完了月「R6年度1月」が開始月より前です。開始前に完了することはできません。",
        ),
        (
            update("done", "R6年度13月", "R7年度4月"),
            "start",
            "invalid_month",
            "「R6年度13月」は年度・月として読めません（例: R7年度4月、R6年度2月、未定）。",
        ),
        (
            update("done", "R6年度2月", "来月"),
            "end",
            "invalid_month",
            "「来月」は年度・月として読めません（例: R7年度4月、R6年度2月、未定）。",
        ),
        (
            update("in_progress", "未定"),
            "start",
            "start_required",
            "進行中・完了のステップには開始月が必要です。",
        ),
        (
            update("done", None, "R6年度3月"),
            "start",
            "start_required",
            "進行中・完了のステップには開始月が必要です。",
        ),
        (
            update("in_progress", "R6年度2月", "R6年度3月"),
            "end",
            "end_without_done",
            "完了月は、状態が「完了」のときだけ入力します。",
        ),
        (
            update("in_progress", "R7年度5月"),
            "start",
            "start_in_future",
            "開始月「R7年度5月」が今月より後です。進行中・完了のステップは今月までに始まっています。",
        ),
        (
            update("done", "R6年度2月", "R7年度6月"),
            "end",
            "end_in_future",
            "完了月「R7年度6月」が今月より後です。",
        ),
        (
            update("finished", "R6年度2月"),
            "status",
            "unknown_status",
            "状態「finished」はありません。",
        ),
        (
            update("in_progress", "R6年度2月", step_code="s10"),
            "step",
            "unknown_step",
            "ステップ「s10」はありません。",
        ),
        (
            update("in_progress", "R6年度2月", note="あ" * 2001),
            "note",
            "note_too_long",
            "2000 文字以内で入力してください。",
        ),
    ],
)
def test_each_rule_refuses_with_its_message(given, field, code, message, tmp_path):
    errors = ops.check_progress(given, TODAY).errors
    assert list(errors) == [field]
    assert errors[field].code == code
    assert translate("ja", f"progress.error.{code}", value=errors[field].value or "") == message
    store = tmp_path / "ops.sqlite"
    with pytest.raises(ops.ValidationError) as refused:
        ops.record_progress_event(given, ZAMA, path=store, now=NOW)
    assert refused.value.errors == errors
    assert not store.exists(), "nothing may be written when a rule fails"


@pytest.mark.parametrize(
    "given",
    [
        update("done", "R6年度2月~", "R7年度4月"),
        update("done", "R6年度2月", "R6年度2月"),
        update("done", "Ｒ６年度２月", "令和７年４月"),
        update("in_progress", "R7年度4月"),
        update("in_progress", "R7年度~"),
        update("not_started", "R7年度~"),
        update("not_started", "R8年度4月"),
        update("undecided", "未定"),
        update("undecided"),
    ],
)
def test_valid_updates_pass(given):
    assert ops.check_progress(given, TODAY).errors == {}


def test_several_problems_are_reported_together():
    errors = ops.check_progress(update("done", "そのうち", None, note="x"), TODAY).errors
    assert {name: problem.code for name, problem in errors.items()} == {
        "start": "invalid_month",
        "end": "end_required",
    }


def test_note_rules():
    note = ops.NoteUpdate("14216", D(2025, 4, 11), "praise", "  ")
    errors = ops.check_note(note, TODAY)
    assert {name: (problem.code, problem.value) for name, problem in errors.items()} == {
        "kind": ("unknown_kind", "praise"),
        "noted_on": ("date_in_future", "2025-04-11"),
        "text": ("text_required", None),
    }
    assert (
        translate("ja", "progress.error.date_in_future", value="2025-04-11") == "日付「2025-04-11」が今日より後です。"
    )
    assert ops.check_note(ops.NoteUpdate("14216", TODAY, "issue", "課題"), TODAY) == {}
    assert ops.check_note(ops.NoteUpdate("14216", None, "issue", "課題"), TODAY)["noted_on"].code == "date_required"


# --- manager identity ----------------------------------------------------------------------------


def test_manager_from_environment_and_secrets():
    env = {"TSUNAGARI_MANAGER": "座間市地域福祉課:14216"}
    secrets = {"manager": {"name": "綾瀬市福祉総務課", "city": 14218}}
    assert ops.manager_from_config(env) == ZAMA
    assert ops.manager_from_config({}, secrets) == ops.Manager("綾瀬市福祉総務課", "14218")
    assert ops.manager_from_config(env, secrets) == ZAMA, "the environment wins over secrets"
    assert ops.manager_from_config({"TSUNAGARI_MANAGER": "  "}, None) is None
    assert ops.manager_from_config({}, {}) is None
    assert ops.manager_from_config({"TSUNAGARI_MANAGER": "課:係:14213"}) == ops.Manager("課:係", "14213")


@pytest.mark.parametrize(
    ("env", "secrets", "code", "value"),
    [
        ({"TSUNAGARI_MANAGER": "座間市地域福祉課"}, None, "format", "座間市地域福祉課"),
        ({"TSUNAGARI_MANAGER": ":14216"}, None, "format", ":14216"),
        ({"TSUNAGARI_MANAGER": "座間市地域福祉課:99999"}, None, "unknown_city", "99999"),
        ({}, {"manager": {"name": "綾瀬市福祉総務課"}}, "format", "{'name': '綾瀬市福祉総務課'}"),
    ],
)
def test_unusable_manager_settings(env, secrets, code, value):
    with pytest.raises(ops.ManagerConfigError) as refused:
        ops.manager_from_config(env, secrets)
    assert (refused.value.code, refused.value.value) == (code, value)


def test_a_manager_writes_only_for_their_own_city(tmp_path):
    store = tmp_path / "ops.sqlite"
    with pytest.raises(PermissionError):
        ops.record_progress_event(update("in_progress", "R6年度2月", city_code="14213"), ZAMA, path=store, now=NOW)
    with pytest.raises(PermissionError):
        ops.record_note_event(ops.NoteUpdate("14218", TODAY, "issue", "他市の課題"), ZAMA, path=store, now=NOW)
    assert not store.exists()


def test_store_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(tmp_path / "wh" / "warehouse.duckdb"))
    monkeypatch.delenv("TSUNAGARI_OPERATIONS", raising=False)
    assert ops.store_path() == tmp_path / "wh" / "operations.sqlite"
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(tmp_path / "elsewhere.sqlite"))
    assert ops.store_path() == tmp_path / "elsewhere.sqlite"


# --- append-only history -------------------------------------------------------------------------


def test_history_records_from_and_to(tmp_path):
    store = tmp_path / "ops.sqlite"
    assert ops.read_progress_events(store).is_empty()
    base = baseline_rows(FILE_S42)
    first = ops.record_progress_event(
        update("done", "R6年度2月~", "R6年度3月", note="県と協議済み"), ZAMA, baseline=base, path=store, now=NOW
    )
    later = NOW + dt.timedelta(days=2)
    second = ops.record_progress_event(
        update("in_progress", "R6年度2月~", note="再検討"), ZAMA, baseline=base, path=store, now=later
    )
    assert (first, second) == (1, 2)
    events = ops.read_progress_events(store)
    assert events.to_dicts() == [
        {
            "event_id": 1,
            "city_code": "14216",
            "step_code": "s4_2",
            "status_code": "done",
            "start_label": "R6年度2月~",
            "start_month": D(2025, 2, 1),
            "start_precision": "month",
            "end_label": "R6年度3月",
            "end_month": D(2025, 3, 1),
            "note": "県と協議済み",
            "changed_by": "座間市地域福祉課",
            "changed_at": utc(2025, 4, 10, 1, 0),
            "previous_source": "file",
            "previous_event_id": None,
            "previous_status_code": "in_progress",
            "previous_start_label": "R6年度2月~",
            "previous_start_month": D(2025, 2, 1),
            "previous_start_precision": "month",
            "previous_end_label": None,
            "previous_end_month": None,
            "previous_note": "県にも依頼したい",
        },
        {
            "event_id": 2,
            "city_code": "14216",
            "step_code": "s4_2",
            "status_code": "in_progress",
            "start_label": "R6年度2月~",
            "start_month": D(2025, 2, 1),
            "start_precision": "month",
            "end_label": None,
            "end_month": None,
            "note": "再検討",
            "changed_by": "座間市地域福祉課",
            "changed_at": utc(2025, 4, 12, 1, 0),
            "previous_source": "app",
            "previous_event_id": 1,
            "previous_status_code": "done",
            "previous_start_label": "R6年度2月~",
            "previous_start_month": D(2025, 2, 1),
            "previous_start_precision": "month",
            "previous_end_label": "R6年度3月",
            "previous_end_month": D(2025, 3, 1),
            "previous_note": "県と協議済み",
        },
    ]


def test_a_step_without_a_file_row_starts_from_nothing(tmp_path):
    store = tmp_path / "ops.sqlite"
    ops.record_progress_event(update("in_progress", "R7年度4月", step_code="s9"), ZAMA, path=store, now=NOW)
    row = ops.read_progress_events(store).row(0, named=True)
    assert {k: v for k, v in row.items() if k.startswith("previous_")} == {
        "previous_source": None,
        "previous_event_id": None,
        "previous_status_code": None,
        "previous_start_label": None,
        "previous_start_month": None,
        "previous_start_precision": None,
        "previous_end_label": None,
        "previous_end_month": None,
        "previous_note": None,
    }


@pytest.mark.parametrize("table", ["progress_event", "note_event"])
def test_the_database_refuses_update_delete_and_replace(tmp_path, table):
    store = tmp_path / "ops.sqlite"
    ops.record_progress_event(update("in_progress", "R6年度2月"), ZAMA, path=store, now=NOW)
    ops.record_note_event(ops.NoteUpdate("14216", TODAY, "issue", "課題"), ZAMA, path=store, now=NOW)
    before = (ops.read_progress_events(store), ops.read_note_events(store))
    con = sqlite3.connect(store)
    try:
        attempts = {
            f"update {table} set changed_by = 'someone'": "updates are not allowed",
            f"delete from {table} where event_id = 1": "deletes are not allowed",
            f"delete from {table}": "deletes are not allowed",
            f"insert or replace into {table} select * from {table} where event_id = 1": "event ids are never reused",
        }
        for sql, reason in attempts.items():
            with pytest.raises(sqlite3.IntegrityError) as refused:
                con.execute(sql)
            assert str(refused.value) == f"{table} is append-only: {reason}"
    finally:
        con.close()
    after = (ops.read_progress_events(store), ops.read_note_events(store))
    assert [frame.to_dicts() for frame in after] == [frame.to_dicts() for frame in before]


def test_readers_cannot_write(tmp_path):
    store = tmp_path / "ops.sqlite"
    ops.record_progress_event(update("in_progress", "R6年度2月"), ZAMA, path=store, now=NOW)
    insert = (
        "insert into note_event (city_code, noted_on, kind, text, changed_by, changed_at) "
        "values ('14216', '2025-04-10', 'issue', 'x', 'y', 'z')"
    )
    with ops.store.read_transaction(store) as con, pytest.raises(sqlite3.OperationalError, match="readonly"):
        con.execute(insert)


def test_store_is_wal_and_batches_are_all_or_nothing(tmp_path):
    store = tmp_path / "ops.sqlite"
    good = update("in_progress", "R6年度2月")
    bad = update("done", "R6年度2月", step_code="s5")
    with pytest.raises(ops.ValidationError):
        ops.record_progress_events([good, bad], ZAMA, path=store, now=NOW)
    assert ops.read_progress_events(store).is_empty()
    assert ops.record_progress_events(
        [good, update("in_progress", "R6年度11月", step_code="s5")], ZAMA, path=store, now=NOW
    ) == [1, 2]
    con = sqlite3.connect(store)
    try:
        assert con.execute("pragma journal_mode").fetchone() == ("wal",)
    finally:
        con.close()


def mode(path: Path) -> int:
    """Permission bits of a file or folder."""
    return path.stat().st_mode & 0o777


def test_a_new_store_is_owner_only(tmp_path):
    store = tmp_path / "var" / "ops.sqlite"
    ops.record_note_event(ops.NoteUpdate("14216", TODAY, "issue", "課題"), ZAMA, path=store, now=NOW)
    assert (mode(store.parent), mode(store)) == (0o700, 0o600)
    con = sqlite3.connect(store)  # a reader's connection keeps the -wal and -shm files in place
    try:
        con.execute("select count(*) from note_event").fetchone()
        for member in (store.with_name("ops.sqlite-wal"), store.with_name("ops.sqlite-shm")):
            assert mode(member) == 0o600, member.name
    finally:
        con.close()


def test_an_older_world_readable_store_is_made_owner_only(tmp_path):
    store = tmp_path / "ops.sqlite"
    sqlite3.connect(store).close()
    store.chmod(0o644)
    ops.record_note_event(ops.NoteUpdate("14216", TODAY, "issue", "課題"), ZAMA, path=store, now=NOW)
    assert mode(store) == 0o600


def test_note_events_round_trip(tmp_path):
    store = tmp_path / "ops.sqlite"
    assert ops.read_note_events(store).is_empty()
    event_id = ops.record_note_event(
        ops.NoteUpdate("14216", D(2025, 4, 1), "change", " 県との連携が始まった "), ZAMA, path=store, now=NOW
    )
    assert event_id == 1
    assert ops.read_note_events(store).to_dicts() == [
        {
            "event_id": 1,
            "city_code": "14216",
            "noted_on": D(2025, 4, 1),
            "kind": "change",
            "text": "県との連携が始まった",
            "changed_by": "座間市地域福祉課",
            "changed_at": utc(2025, 4, 10, 1, 0),
        }
    ]


# --- the merge rule ------------------------------------------------------------------------------


def test_current_progress_merge_rule():
    baseline = baseline_rows(
        # tie on the day (event 10:00 JST on 記入日) → the event wins
        {
            "city_code": "14216",
            "step_code": "s1",
            "status_code": "in_progress",
            "start_label": "R6年度8月",
            "start_month": D(2024, 8, 1),
            "start_precision": "month",
            "recorded_by": "file",
            "recorded_on": D(2025, 3, 31),
        },
        # event at 2025-03-30 16:00 UTC is 2025-03-31 01:00 in Japan: still a tie → the event wins
        {
            "city_code": "14216",
            "step_code": "s2",
            "status_code": "in_progress",
            "recorded_by": "file",
            "recorded_on": D(2025, 3, 31),
        },
        # file filled in after the event (newer import) → the file wins
        {
            "city_code": "14216",
            "step_code": "s3",
            "status_code": "done",
            "start_label": "R6年度11月",
            "start_month": D(2024, 11, 1),
            "start_precision": "month",
            "end_label": "R6年度1月",
            "end_month": D(2025, 1, 1),
            "recorded_by": "file",
            "recorded_on": D(2025, 4, 2),
        },
        # a grid cell the file does not list and nobody updated → no state
        {"city_code": "14216", "step_code": "s5"},
        # a file row without 記入日 → kept, older than any event
        {
            "city_code": "14213",
            "step_code": "s1",
            "status_code": "undecided",
            "start_label": "未定",
            "recorded_by": "file",
        },
    )
    events = event_rows(
        {
            "event_id": 1,
            "city_code": "14216",
            "step_code": "s1",
            "status_code": "done",
            "start_label": "R6年度8月",
            "start_month": D(2024, 8, 1),
            "start_precision": "month",
            "end_label": "R7年度3月",
            "end_month": D(2026, 3, 1),
            "changed_by": "app",
            "changed_at": utc(2025, 3, 31, 1, 0),
        },
        {
            "event_id": 2,
            "city_code": "14216",
            "step_code": "s4_1",
            "status_code": "in_progress",
            "changed_by": "app",
            "changed_at": utc(2025, 5, 2, 0, 0),
        },
        {
            "event_id": 3,
            "city_code": "14216",
            "step_code": "s2",
            "status_code": "done",
            "changed_by": "app",
            "changed_at": utc(2025, 3, 30, 16, 0),
        },
        {
            "event_id": 4,
            "city_code": "14216",
            "step_code": "s3",
            "status_code": "in_progress",
            "changed_by": "app",
            "changed_at": utc(2025, 4, 1, 3, 0),
        },
        # appended later but with an earlier clock: append order (event_id) decides among events
        {
            "event_id": 5,
            "city_code": "14216",
            "step_code": "s4_1",
            "status_code": "done",
            "changed_by": "app",
            "changed_at": utc(2025, 5, 1, 0, 0),
        },
    )
    current = ops.current_progress(baseline, events)
    assert current.schema == pl.Schema(ops.CURRENT_SCHEMA)
    blank = dict.fromkeys(("start_label", "start_month", "start_precision", "end_label", "end_month", "note"))
    assert current.to_dicts() == [
        blank
        | {
            "city_code": "14213",
            "step_code": "s1",
            "status_code": "undecided",
            "start_label": "未定",
            "updated_by": "file",
            "updated_on": None,
            "updated_at": None,
            "source": "file",
            "event_id": None,
        },
        blank
        | {
            "city_code": "14216",
            "step_code": "s1",
            "status_code": "done",
            "start_label": "R6年度8月",
            "start_month": D(2024, 8, 1),
            "start_precision": "month",
            "end_label": "R7年度3月",
            "end_month": D(2026, 3, 1),
            "updated_by": "app",
            "updated_on": D(2025, 3, 31),
            "updated_at": utc(2025, 3, 31, 1, 0),
            "source": "app",
            "event_id": 1,
        },
        blank
        | {
            "city_code": "14216",
            "step_code": "s2",
            "status_code": "done",
            "updated_by": "app",
            "updated_on": D(2025, 3, 31),
            "updated_at": utc(2025, 3, 30, 16, 0),
            "source": "app",
            "event_id": 3,
        },
        blank
        | {
            "city_code": "14216",
            "step_code": "s3",
            "status_code": "done",
            "start_label": "R6年度11月",
            "start_month": D(2024, 11, 1),
            "start_precision": "month",
            "end_label": "R6年度1月",
            "end_month": D(2025, 1, 1),
            "updated_by": "file",
            "updated_on": D(2025, 4, 2),
            "updated_at": None,
            "source": "file",
            "event_id": None,
        },
        blank
        | {
            "city_code": "14216",
            "step_code": "s4_1",
            "status_code": "done",
            "updated_by": "app",
            "updated_on": D(2025, 5, 1),
            "updated_at": utc(2025, 5, 1, 0, 0),
            "source": "app",
            "event_id": 5,
        },
    ]


def test_current_progress_without_events_is_the_file():
    current = ops.current_progress(baseline_rows(FILE_S42), pl.DataFrame(schema=ops.PROGRESS_EVENT_SCHEMA))
    assert current.select("status_code", "source", "updated_on").to_dicts() == [
        {"status_code": "in_progress", "source": "file", "updated_on": D(2025, 3, 31)}
    ]


# --- concurrency ---------------------------------------------------------------------------------

PAIRS = 40
WRITER = """
import sys
from pathlib import Path
from warehouse import operations as ops
manager = ops.Manager("座間市地域福祉課", "14216")
for k in range(int(sys.argv[2])):
    ops.record_progress_events(
        [
            ops.ProgressUpdate("14216", "s1", "in_progress", "R6年度8月", None, f"pair {k}"),
            ops.ProgressUpdate("14216", "s2", "in_progress", "R6年度8月", None, f"pair {k}"),
        ],
        manager,
        path=Path(sys.argv[1]),
    )
"""
READER = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_operations import watch
print(json.dumps(watch(Path(sys.argv[1]), int(sys.argv[2]), deadline_s=120, ready=Path(sys.argv[4]))))
"""


def consistent(events: pl.DataFrame) -> str | None:
    """None when every transaction of the writer is complete: even count, each pair s1+s2 with adjacent ids."""
    if events.height % 2:
        return f"odd number of events: {events.height}"
    for k, pair in enumerate(events.iter_slices(2)):
        rows = pair.to_dicts()
        if [r["step_code"] for r in rows] != ["s1", "s2"] or {r["note"] for r in rows} != {f"pair {k}"}:
            return f"torn pair {k}: {rows}"
        if rows[1]["event_id"] != rows[0]["event_id"] + 1:
            return f"pair {k} ids not adjacent"
    return None


def watch(store: Path, expected: int, deadline_s: float, ready: Path | None = None) -> dict:
    """Read the store again and again until it holds `expected` events; report reads and problems.

    ready: a file created after the first read, so the test starts the writer only once every reader reads.
    """
    reads, problems, last = 0, [], 0
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        try:
            events = ops.read_progress_events(store)
        except Exception as error:  # noqa: BLE001 — every failure of a read counts; the test expects none
            problems.append(f"{type(error).__name__}: {error}")
            continue
        reads += 1
        if ready is not None and reads == 1:
            ready.touch()
        problem = consistent(events)
        if problem:
            problems.append(problem)
        if events.height < last:
            problems.append(f"went back from {last} to {events.height}")
        last = events.height
        if last >= expected:
            break
        time.sleep(0.002)  # leave the two cores some room for the writer
    return {"reads": reads, "problems": problems[:5], "errors": len(problems), "seen": last}


def test_one_writer_many_readers_never_see_a_torn_state(tmp_path):
    store = tmp_path / "ops.sqlite"
    expected = 2 * PAIRS
    env_path = str(Path(__file__).resolve().parent)
    # The writer starts only after every reader's first read (which finds no events), so each reader reads
    # before, during and after the writes however slowly the machine starts them: nothing here rests on timing.
    ready = [tmp_path / f"ready-{n}" for n in range(5)]
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(store), str(expected), env_path, str(ready[n])],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    results: list[dict] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(watch(store, expected, deadline_s=120, ready=ready[n])))
        for n in range(2, 5)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    while not all(path.exists() for path in ready):
        assert time.monotonic() - started < 120, "the readers never made their first read"
        assert all(reader.poll() is None for reader in readers), [r.communicate() for r in readers]
        time.sleep(0.01)
    writer = subprocess.run(
        [sys.executable, "-c", WRITER, str(store), str(PAIRS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert writer.returncode == 0, writer.stderr
    for thread in threads:
        thread.join(timeout=90)
    for reader in readers:
        out, err = reader.communicate(timeout=90)
        assert reader.returncode == 0, err
        results.append(json.loads(out))
    assert len(results) == 5
    assert [(r["errors"], r["seen"]) for r in results] == [(0, expected)] * 5, results
    assert all(r["reads"] > 1 for r in results)
    events = ops.read_progress_events(store)
    assert consistent(events) is None
    # Writes were serialised: each event's "from" is the event just before it for the same step.
    for step in ("s1", "s2"):
        ids = events.filter(pl.col("step_code") == step)["event_id"].to_list()
        previous = events.filter(pl.col("step_code") == step)["previous_event_id"].to_list()
        assert previous == [None, *ids[:-1]]
