"""Backup and restore (etl.backup): a running instance with progress updates, notes, audit rows and an
intake submission is backed up, restored onto an empty directory, served again, and every record is there."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import threading
from pathlib import Path

import polars as pl
import pytest

from common.roles import Viewer
from etl import backup, health, intake, intake_worker
from tests.e2e.server import DASHBOARD_APP, ROOT, streamlit_server
from warehouse import operations as ops

pytestmark = pytest.mark.slow

ZAMA = ops.Manager("座間市地域福祉課", "14216")
ADMIN = Viewer("admin", None, "admin@city.example.jp")
SAMPLE = ROOT / "data" / "sample"
SETTINGS = (
    "TSUNAGARI_WAREHOUSE",
    "TSUNAGARI_OPERATIONS",
    "TSUNAGARI_ARCHIVE",
    "TSUNAGARI_ROLES",
    "TSUNAGARI_LOCAL_USERS",
)
# Audit rows written by a second writer while the backup runs (the dashboard keeps working).
CONCURRENT_AUDITS = 40


def settings_for(folder: Path) -> dict[str, str]:
    """The instance's settings when its data lives in `folder` (the layout restore produces)."""
    return {
        "TSUNAGARI_WAREHOUSE": str(folder / "warehouse.duckdb"),
        "TSUNAGARI_OPERATIONS": str(folder / "operations.sqlite"),
        "TSUNAGARI_ARCHIVE": str(folder / "sources"),
        "TSUNAGARI_ROLES": str(folder / "config" / "roles.toml"),
        "TSUNAGARI_LOCAL_USERS": str(folder / "config" / "local_users.toml"),
    }


def records(folder: Path) -> dict[str, pl.DataFrame]:
    """Every operational record of an instance, read the way the dashboard reads them."""
    store = folder / "operations.sqlite"
    return {
        "progress": ops.read_progress_events(store),
        "notes": ops.read_note_events(store),
        "audit": ops.read_audit(store),
        "intake": ops.read_intake(store),
    }


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()
    }


@pytest.fixture
def instance(sample_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A live data folder: the sample warehouse, a progress update, a note, audit rows, a published submission."""
    live = tmp_path / "live"
    (live / "config").mkdir(parents=True)
    shutil.copyfile(sample_warehouse, live / "warehouse.duckdb")
    for name in ("roles", "local_users"):
        shutil.copyfile(ROOT / "config" / f"{name}.example.toml", live / "config" / f"{name}.toml")
    # The publisher must be an admin in the role file: the intake worker checks the identity it records.
    with open(live / "config" / "roles.toml", "a", encoding="utf-8") as roles:
        roles.write(f'\n[[identity]]\nid = "{ADMIN.identity}"\nrole = "admin"\n')
    for key, value in settings_for(live).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TSUNAGARI_REFERENCE", raising=False)
    ops.record_progress_event(
        ops.ProgressUpdate("14216", "s4_2", "in_progress", start_label="R6年度4月", note="バックアップ試験"), ZAMA
    )
    ops.record_note_event(ops.NoteUpdate("14216", dt.date(2025, 4, 11), "breakthrough", "社協と合意"), ZAMA)
    ops.record_audit(ADMIN, "download", "data/organisations.csv", {"rows": 157})
    data = (SAMPLE / "survey_answers.csv").read_bytes()
    request = intake.new_request(
        "dry-run", ADMIN, operations=ops.store_path(), kind="survey", file_name="survey_answers.csv", data=data
    )
    # A publish names the admin's own dry run of the same bytes, as the page makes it.
    dry_run = intake.create_job(request, data, intake.jobs_dir())
    result = intake_worker.run_job(intake.publish_job(dry_run, ADMIN))
    assert result["status"] == "ok", result
    return live


def test_backup_of_a_running_instance_restores_and_serves(instance: Path, tmp_path: Path, monkeypatch) -> None:
    before = records(instance)
    assert all(frame.height for frame in before.values()), {name: frame.height for name, frame in before.items()}
    submissions = sorted(path.name for path in (instance / "sources").iterdir() if path.is_dir())
    assert submissions, "the intake publish archived no submission"

    log: list[str] = []
    with streamlit_server(DASHBOARD_APP, cwd=ROOT, log_path=tmp_path / "live.log", env=settings_for(instance)):
        # The dashboard keeps writing while the backup runs: the store copy must still be consistent.
        writer = threading.Thread(
            target=lambda: [ops.record_audit(ADMIN, "download", f"data/{i}.csv", {}) for i in range(CONCURRENT_AUDITS)]
        )
        writer.start()
        made = backup.create(tmp_path / "backups", keep=2, report=log.append)
        writer.join(timeout=60)
    assert any("operations store" in line for line in log) and any(line.startswith("backup ") for line in log), log
    assert backup.verify(made) == []
    audits_in_backup = backup.sqlite_counts(made / "operations.sqlite")["audit_event"]
    assert before["audit"].height <= audits_in_backup <= before["audit"].height + CONCURRENT_AUDITS

    restored = tmp_path / "restored"
    settings = backup.restore(made, restored, report=log.append)
    assert {key: str(value) for key, value in settings.items()} == settings_for(restored)
    assert sqlite3.connect(restored / "operations.sqlite").execute("pragma integrity_check").fetchone()[0] == "ok"

    # The restored instance serves and is ready, and holds every record the live one had at backup time.
    for key, value in settings_for(restored).items():
        monkeypatch.setenv(key, value)
    with streamlit_server(
        DASHBOARD_APP, cwd=ROOT, log_path=tmp_path / "restored.log", env=settings_for(restored)
    ) as url:
        report = health.readiness(url)
        assert report["ready"], report
    after = records(restored)
    for name in ("progress", "notes", "intake"):
        assert after[name].equals(before[name]), name
    assert after["audit"].head(before["audit"].height).equals(before["audit"])
    assert after["audit"].height == audits_in_backup
    assert files_under(restored / "sources") == files_under(instance / "sources")
    assert files_under(restored / "config") == files_under(instance / "config")
    assert backup.duckdb_counts(restored / "warehouse.duckdb") == backup.duckdb_counts(instance / "warehouse.duckdb")
    assert (
        intake_worker.latest_published(restored / "warehouse.duckdb").run_id
        == intake_worker.latest_published(instance / "warehouse.duckdb").run_id
    )


def test_restore_refuses_a_damaged_backup_or_a_used_directory(instance: Path, tmp_path: Path) -> None:
    made = backup.create(tmp_path / "backups", keep=5, report=lambda _: None)
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(made, used, report=lambda _: None)
    target = next(path for path in (made / "sources").rglob("*") if path.is_file())
    target.write_bytes(target.read_bytes() + b"\n")
    problems = backup.verify(made)
    assert problems == [f"{target.relative_to(made).as_posix()}: checksum differs from the manifest"]
    with pytest.raises(backup.BackupError, match="damaged backup"):
        backup.restore(made, tmp_path / "empty", report=lambda _: None)
    assert backup.main(["verify", str(made)]) == 1


def test_retention_keeps_the_newest(instance: Path, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "backups"
    moments = [dt.datetime(2026, 1, day, 2, 30, tzinfo=dt.UTC) for day in (1, 2, 3, 4)]
    made = [backup.create(folder, keep=3, report=lambda _: None, now=moment) for moment in moments]
    assert backup.backups_in(folder) == made[1:]
    (folder / "notes.txt").write_text("not a backup")
    monkeypatch.setenv(backup.KEEP_ENV, "1")
    assert backup.main(["create", "--to", str(folder)]) == 0
    kept = backup.backups_in(folder)
    assert len(kept) == 1 and kept[0] not in made, kept
    assert (folder / "notes.txt").exists()
    monkeypatch.setenv(backup.KEEP_ENV, "none")
    with pytest.raises(backup.BackupError, match="TSUNAGARI_BACKUP_KEEP"):
        backup.keep_count()


def test_a_failed_backup_leaves_nothing_behind(instance: Path, tmp_path: Path, monkeypatch) -> None:
    """An unreadable warehouse stops the backup with its name; no half-made backup stays or counts."""
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a warehouse" * 64)
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(junk))
    folder = tmp_path / "backups"
    with pytest.raises(backup.BackupError, match="junk.duckdb: not a readable DuckDB warehouse"):
        backup.create(folder, keep=3, report=lambda _: None)
    assert list(folder.iterdir()) == []
    assert backup.main(["create", "--to", str(folder)]) == 1
