"""Upgrading keeps every operational record: a store written by release 2db8cdc (progress and notes only,
tests/fixtures/upgrade) is backed up, then read and extended by this release, and the backup restores it as it was;
a warehouse written by an earlier schema is rebuilt at start from its archived sources, its run history kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from common.roles import Viewer
from etl import backup, cli, intake_worker, upgrade
from etl.pipeline import BOOKKEEPING, ddl_columns
from warehouse.fingerprint import recorded_fingerprint, schema_fingerprint
from warehouse import operations as ops

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
OLD_STORE = ROOT / "tests" / "fixtures" / "upgrade" / "operations-2db8cdc.sql"
ZAMA = ops.Manager("座間市地域福祉課", "14216")
ADMIN = Viewer("admin", None, "admin@city.example.jp")
OLD_TABLES = ("progress_event", "note_event")


def rows(store: Path, table: str) -> list[tuple]:
    """Every row of a table in insertion order, read with plain sqlite3 (no code of either release)."""
    con = sqlite3.connect(store)
    try:
        return con.execute(f"select * from {table} order by event_id").fetchall()  # table from OLD_TABLES
    finally:
        con.close()


@pytest.fixture
def old_instance(sample_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder as the previous release left it: its store, this sample warehouse."""
    live = tmp_path / "live"
    live.mkdir()
    con = sqlite3.connect(live / "operations.sqlite")
    con.executescript(OLD_STORE.read_text(encoding="utf-8"))
    con.close()
    shutil.copyfile(sample_warehouse, live / "warehouse.duckdb")
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(live / "warehouse.duckdb"))
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(live / "operations.sqlite"))
    monkeypatch.setenv("TSUNAGARI_ARCHIVE", str(live / "sources"))
    return live


def test_upgrade_keeps_the_previous_release_records(old_instance: Path, tmp_path: Path) -> None:
    store = old_instance / "operations.sqlite"
    before = {table: rows(store, table) for table in OLD_TABLES}
    assert all(before.values()), "the fixture store has no records"

    # 1. A backup first, as docs/operations.md says.
    made = backup.create(tmp_path / "backups", keep=3, report=lambda _: None)
    assert backup.sqlite_counts(made / "operations.sqlite") == {
        "note_event": len(before["note_event"]),
        "progress_event": len(before["progress_event"]),
    }

    # 2. This release reads the old records ...
    assert ops.read_progress_events().height == len(before["progress_event"])
    assert ops.read_note_events()["text"].to_list() == [row[4] for row in before["note_event"]]
    assert ops.read_audit().is_empty() and ops.read_intake().is_empty()
    # ... and writes beside them: its new tables appear on the first write, the old rows stay as they were.
    now = dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC)
    ops.record_note_event(ops.NoteUpdate("14216", dt.date(2026, 4, 19), "change", "新版で記録"), ZAMA, now=now, viewer=ADMIN)
    ops.record_audit(ADMIN, "download", "data/organisations.csv", {"rows": 157}, now=now)
    for table in OLD_TABLES:
        assert rows(store, table)[: len(before[table])] == before[table], table
    assert ops.read_note_events().height == len(before["note_event"]) + 1
    assert ops.read_audit()["action"].to_list() == ["note", "download"]
    # The old tables are still append-only under the new release.
    con = sqlite3.connect(store)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("update progress_event set note = 'changed' where event_id = 1")
    con.close()
    assert sqlite3.connect(store).execute("pragma integrity_check").fetchone()[0] == "ok"

    # 3. Going back: the pre-upgrade backup restores the store exactly as the old release left it.
    restored = tmp_path / "restored"
    backup.restore(made, restored, report=lambda _: None)
    assert {table: rows(restored / "operations.sqlite", table) for table in OLD_TABLES} == before


def bookkeeping_rows(warehouse: Path) -> dict[str, set[tuple]]:
    """Every bookkeeping row of a warehouse, by table, over the columns the previous release had."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found = {}
        for table in BOOKKEEPING:
            columns = [c for c in ddl_columns(con, table) if c != "schema_fingerprint"]
            found[table] = set(con.execute(f"select {', '.join(columns)} from {table}").fetchall())  # names from the DDL
        return found
    finally:
        con.close()


def test_upgrade_rebuilds_a_warehouse_of_the_previous_schema_from_its_archived_sources(
    sample_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # The previous release published from the intake archive and knew no schema fingerprint.
    archived = tmp_path / "live" / "sources" / "20260401T000000Z-0123456789ab"
    shutil.copytree(SAMPLE, archived)
    warehouse = tmp_path / "live" / "warehouse.duckdb"
    shutil.copyfile(sample_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update etl_run set source_dir = ?", [str(archived)])
        con.execute("alter table etl_run drop column schema_fingerprint")
    before = bookkeeping_rows(warehouse)
    (old_run,) = before["etl_run"]
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(warehouse))
    monkeypatch.delenv("TSUNAGARI_REFERENCE", raising=False)

    assert cli.main(["upgrade"]) == 0
    log = capsys.readouterr().err
    assert f"rebuild {warehouse} from {archived}" in log and "rebuilt as run" in log, log

    after = bookkeeping_rows(warehouse)
    for table, rows_before in before.items():
        assert rows_before <= after[table], f"{table} lost history rows"
    new_run = intake_worker.latest_published(warehouse)
    assert new_run.run_id != old_run[0] and new_run.source_dir == archived
    assert new_run.content_checksum == old_run[5], "the same sources must give the same content"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert recorded_fingerprint(con) == schema_fingerprint()
    # Run again at the next start: nothing to do, the file is left as it is.
    identity = warehouse.stat().st_ino
    assert upgrade.rebuild_if_schema_changed(warehouse).action == "current"
    assert warehouse.stat().st_ino == identity


def test_upgrade_without_sources_keeps_serving_the_old_warehouse(sample_warehouse: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(sample_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update etl_run set schema_fingerprint = 'older', source_dir = ?", [str(tmp_path / "pruned")])
    digest = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    outcome = upgrade.rebuild_if_schema_changed(warehouse, fallback_source=tmp_path / "absent")
    assert outcome.action == "kept" and "no sources" in outcome.message and "readiness" in outcome.message
    assert str(tmp_path / "pruned") in outcome.message and str(tmp_path / "absent") in outcome.message
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == digest
    assert upgrade.rebuild_if_schema_changed(tmp_path / "none.duckdb").action == "absent"
