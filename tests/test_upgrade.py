"""Upgrading keeps every operational record. Stores written before schema versions (release 2db8cdc: progress
and notes only; release 0a7c565: every table; tests/fixtures/upgrade) are migrated once, after an online backup,
and keep every row and id; the append-only triggers are on every event table once; a newer store is refused.
A warehouse written by an earlier schema is rebuilt at start from its archived sources, its run history kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import sqlite3
import stat
import threading
from pathlib import Path

import duckdb
import pytest

import dashboard.__main__ as launcher
from common.roles import Viewer
from etl import backup, cli, intake, intake_worker, upgrade
from etl.pipeline import BOOKKEEPING, ddl_columns
from etl.steps import Step
from warehouse import operations as ops
from warehouse.fingerprint import recorded_fingerprint, schema_fingerprint
from warehouse.operations import store as store_module
from warehouse.operations.__main__ import main as operations_cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
OLD_STORE = ROOT / "tests" / "fixtures" / "upgrade" / "operations-2db8cdc.sql"
PREVIOUS_STORE = ROOT / "tests" / "fixtures" / "upgrade" / "operations-0a7c565.sql"
MIGRATIONS = ROOT / "warehouse" / "operations" / "migrations"
NOW = dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC)
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

    # 2. This release reads the old records; it writes once the migration at start has run (with its own backup).
    assert ops.read_progress_events().height == len(before["progress_event"])
    assert ops.read_note_events()["text"].to_list() == [row[4] for row in before["note_event"]]
    assert ops.read_audit().is_empty() and ops.read_intake().is_empty()
    migrated = ops.migrate()
    assert (migrated.from_version, migrated.to_version) == (0, ops.schema_version()) and migrated.backup.exists()
    # ... and writes beside them: its new tables are there, the old rows stay as they were.
    now = NOW
    ops.record_note_event(
        ops.NoteUpdate("14216", dt.date(2026, 4, 19), "change", "新版で記録"), ZAMA, now=now, viewer=ADMIN
    )
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
            found[table] = set(
                con.execute(f"select {', '.join(columns)} from {table}").fetchall()
            )  # names from the DDL
        return found
    finally:
        con.close()


# --- migrations ----------------------------------------------------------------------------------


def load(store: Path, dump: Path) -> None:
    """A store file made from a frozen SQL dump (as the old release left it: user_version 0)."""
    con = sqlite3.connect(store)
    con.executescript(dump.read_text(encoding="utf-8"))
    con.close()


def everything(store: Path) -> dict[str, list[tuple]]:
    """Every row of every table (sqlite_sequence included), sorted, read with plain sqlite3."""
    con = sqlite3.connect(store)
    try:
        tables = [name for (name,) in con.execute("select name from sqlite_master where type = 'table'")]
        return {table: sorted(con.execute(f'select * from "{table}"').fetchall()) for table in tables}
    finally:
        con.close()


@pytest.mark.slow  # a whole-bundle rebuild with Great Expectations: make test only
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


def user_version(store: Path) -> int:
    """PRAGMA user_version of a store file."""
    con = sqlite3.connect(store)
    try:
        return con.execute("pragma user_version").fetchone()[0]
    finally:
        con.close()


def schema(store: Path) -> dict[str, tuple[str, str]]:
    """Tables, triggers and indexes by name, their statements compared by tokens (layout does not count)."""
    con = sqlite3.connect(store)
    try:
        return {name: (kind, store_module._normal(sql)) for name, (kind, sql) in store_module.schema_of(con).items()}
    finally:
        con.close()


def test_a_store_of_the_previous_release_is_migrated_once_after_a_backup(tmp_path: Path) -> None:
    store = tmp_path / "operations.sqlite"
    load(store, PREVIOUS_STORE)
    before = everything(store)
    assert user_version(store) == 0 and all(before[table] for table in before if table != "sqlite_sequence")

    migrated = ops.migrate(store, now=NOW)
    assert (migrated.from_version, migrated.to_version) == (0, ops.schema_version())
    # The backup came first: the store as the old release left it, owner-only, named after the version it precedes.
    assert re.fullmatch(
        rf"operations\.sqlite\.pre-v{ops.schema_version()}-20260420T010000\.\d{{6}}Z\.sqlite3", migrated.backup.name
    )
    assert migrated.backup.parent == tmp_path and stat.S_IMODE(migrated.backup.stat().st_mode) == 0o600
    assert everything(migrated.backup) == before and user_version(migrated.backup) == 0
    # Every row and id kept, the version recorded, and the schema exactly a new store's.
    assert everything(store) == before
    assert user_version(store) == ops.schema_version()
    fresh = tmp_path / "fresh.sqlite"
    assert ops.migrate(fresh).backup is None, "a new store has nothing to back up"
    assert schema(store) == schema(fresh)

    # A second start applies nothing and takes no backup.
    again = ops.migrate(store, now=NOW + dt.timedelta(hours=1))
    assert (again.from_version, again.to_version, again.backup) == (ops.schema_version(), ops.schema_version(), None)
    assert sorted(path.name for path in tmp_path.glob("operations.sqlite.pre-*")) == [migrated.backup.name]
    # The migrated store reads and writes: ids continue after the old ones.
    old_audit = len(before["audit_event"])
    assert ops.read_audit(store).height == old_audit
    assert ops.record_audit(ADMIN, "download", "data/organisations.csv", path=store, now=NOW) == old_audit + 1
    assert ops.read_intake(store)["job_id"].to_list() == ["job-1", "job-2", "job-3"]
    assert ops.read_rollbacks(store)["to_run_id"].to_list() == ["run-a"]
    assert ops.sign_in_wait("nobody", "192.0.2.11", path=store, now=NOW) == 0


def test_the_oldest_store_gains_the_tables_it_never_made(tmp_path: Path) -> None:
    store = tmp_path / "operations.sqlite"
    load(store, OLD_STORE)
    before = everything(store)
    ops.migrate(store, now=NOW)
    after = everything(store)
    assert {table: after[table] for table in before} == before
    assert schema(store) == schema(ops.migrate(tmp_path / "fresh.sqlite").path)


def append_only_tables() -> set[str]:
    """Every table a migration declares append-only."""
    return {table for migration in store_module.load_migrations() for table in migration.append_only}


def test_append_only_triggers_are_defined_once_and_on_every_event_table(tmp_path: Path) -> None:
    # One definition: the trigger text is in the template only, nowhere else in the package.
    package = ROOT / "warehouse"
    holders = [
        path
        for path in package.rglob("*")
        if path.suffix in (".py", ".sql") and "append-only: updates are not allowed" in path.read_text(encoding="utf-8")
    ]
    assert holders == [MIGRATIONS / "append_only.sql"]
    tables = append_only_tables()
    for made_by, store in (("new", tmp_path / "new.sqlite"), ("previous release", tmp_path / "old.sqlite")):
        if made_by != "new":
            load(store, PREVIOUS_STORE)
        ops.migrate(store, now=NOW)
        con = sqlite3.connect(store)
        try:
            # Every table with event ids is declared append-only (a new event table cannot be forgotten).
            event_tables = {
                name
                for (name,) in con.execute("select name from sqlite_master where type = 'table'")
                if "event_id" in [row[1] for row in con.execute(f'pragma table_info("{name}")')]
            }
            assert event_tables == tables, made_by
            triggers = con.execute("select tbl_name, name from sqlite_master where type = 'trigger'").fetchall()
            assert sorted(triggers) == sorted(
                (table, f"{table}_{suffix}") for table in tables for suffix in ("no_update", "no_delete", "no_replace")
            ), made_by
            for table in tables if made_by != "new" else ():  # the old store has rows in every table
                with pytest.raises(sqlite3.DatabaseError, match="append-only: deletes are not allowed"):
                    con.execute(f"delete from {table}")
                with pytest.raises(sqlite3.DatabaseError, match="append-only: updates are not allowed"):
                    con.execute(f"update {table} set event_id = event_id")
        finally:
            con.close()
    assert ops.record_audit(ADMIN, "download", "x.csv", path=tmp_path / "new.sqlite", now=NOW) == 1
    con = sqlite3.connect(tmp_path / "new.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: event ids are never reused"):
        con.execute(
            "insert or replace into audit_event (event_id, at, role, action, target, detail) "
            "values (1, 'x', 'admin', 'download', 't', '{}')"
        )
    con.close()


def test_a_store_newer_than_the_code_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = tmp_path / "operations.sqlite"
    ops.record_audit(ADMIN, "download", "x.csv", path=store, now=NOW)
    con = sqlite3.connect(store)
    con.execute(f"pragma user_version = {ops.schema_version() + 1}")
    con.close()
    newer = f"schema version {ops.schema_version() + 1}, newer than this release knows"
    with pytest.raises(ops.StoreVersionError, match=newer):
        ops.read_audit(store)
    with pytest.raises(ops.StoreVersionError, match=newer):
        ops.record_audit(ADMIN, "download", "x.csv", path=store, now=NOW)
    with pytest.raises(ops.StoreVersionError, match=newer):
        ops.migrate(store)
    assert operations_cli(["migrate", "--store", str(store)]) == 1
    assert newer in capsys.readouterr().err
    assert not list(tmp_path.glob("*.pre-*")), "nothing is backed up or changed"
    assert user_version(store) == ops.schema_version() + 1


def test_an_intake_job_on_a_newer_store_fails_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    store = tmp_path / "operations.sqlite"
    ops.record_audit(ADMIN, "download", "x.csv", path=store, now=NOW)
    con = sqlite3.connect(store)
    con.execute(f"pragma user_version = {ops.schema_version() + 1}")
    con.close()
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("TSUNAGARI_ARCHIVE", str(tmp_path / "archive"))
    monkeypatch.setenv("TSUNAGARI_JOBS", str(tmp_path / "jobs"))
    request = intake.new_request("rollback", ADMIN, operations=store, target_run_id="20260101T000000Z-00000000")
    job = intake.create_job(request, None, tmp_path / "jobs")
    assert intake_worker.main(["rollback", "--job", str(job)]) == 1
    result = intake.read_result(job)
    assert result is not None and result["status"] == "failed"
    assert "newer than this release knows" in result["error"]
    assert [entry.event.step for entry in intake.read_progress(job)] == [Step.FAILED]
    assert "Traceback" not in capsys.readouterr().err
    assert user_version(store) == ops.schema_version() + 1


def with_second_migration(tmp_path: Path, sql: str) -> Path:
    """A migrations folder holding this release's migrations and one more (0002)."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    (folder / "0002_next.sql").write_text(sql, encoding="utf-8")
    return folder


def test_concurrent_starts_apply_each_migration_once(tmp_path: Path) -> None:
    folder = with_second_migration(
        tmp_path,
        "-- append-only: referral_event\n"
        "create table referral_event (event_id integer primary key autoincrement, city_code text not null) strict;\n",
    )
    store = tmp_path / "operations.sqlite"
    load(store, PREVIOUS_STORE)
    before = everything(store)
    start = threading.Barrier(2)
    results: list[ops.Migrated] = []
    errors: list[BaseException] = []

    def starting() -> None:
        start.wait()
        try:
            results.append(ops.migrate(store, folder=folder))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=starting) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # However the two interleave, each migration ran once (a second "create table" would have failed).
    assert errors == [] and {result.to_version for result in results} == {2}
    assert user_version(store) == 2
    assert {table: rows for table, rows in everything(store).items() if table in before} == before
    backups = [result.backup for result in results if result.backup]
    assert backups and everything(sorted(backups)[0]) == before
    assert ops.migrate(store, folder=folder).backup is None


def test_a_failed_migration_leaves_the_store_at_the_last_good_version(tmp_path: Path) -> None:
    folder = with_second_migration(tmp_path, "create table half (x text);\ninsert into nowhere values (1);\n")
    store = tmp_path / "operations.sqlite"
    load(store, PREVIOUS_STORE)
    before = everything(store)
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        ops.migrate(store, folder=folder)
    # Version 1 was committed on its own; 0002 left nothing behind.
    assert user_version(store) == 1 and "half" not in everything(store)
    assert everything(store) == before
    # The app's own migrations see a current store and take no second backup.
    assert ops.migrate(store).backup is None


def test_the_launcher_migrates_before_streamlit_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "operations.sqlite"
    load(store, PREVIOUS_STORE)
    monkeypatch.setenv("TSUNAGARI_OPERATIONS", str(store))
    seen: list[int] = []
    monkeypatch.setattr(launcher.cli, "main", lambda: seen.append(user_version(store)) or 0)
    monkeypatch.setattr(launcher.PagesManager, "uses_pages_directory", launcher.PagesManager.uses_pages_directory)
    monkeypatch.setattr(launcher.starlette_app, "create_metrics_routes", launcher.starlette_app.create_metrics_routes)
    monkeypatch.setattr("sys.argv", ["python -m dashboard"])
    with pytest.raises(SystemExit) as started:
        launcher.main()
    assert started.value.code == 0 and seen == [ops.schema_version()]
    assert len(list(tmp_path.glob("operations.sqlite.pre-v*.sqlite3"))) == 1
    # A store from a newer release stops the launcher before Streamlit starts.
    con = sqlite3.connect(store)
    con.execute(f"pragma user_version = {ops.schema_version() + 1}")
    con.close()
    monkeypatch.setattr("sys.argv", ["python -m dashboard"])
    with pytest.raises(SystemExit) as refused:
        launcher.main()
    assert "newer than this release" in str(refused.value.code) and seen == [ops.schema_version()]
