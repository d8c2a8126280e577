"""データ取込: the intake log (each refused upload, dry run and publish) and the rollback audit.

Written by etl/intake.py (and by the page for uploads refused before any parsing). Same rules as the
progress tables: append-only, enforced by triggers; each write one short BEGIN IMMEDIATE transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from warehouse.operations.store import UTC_TYPE, read_table, store_path, utc_now, utc_text, write_transaction

_UTC = UTC_TYPE
INTAKE_ACTIONS = ("refused", "dry_run", "publish")
INTAKE_OUTCOMES = ("ok", "failed", "refused")
ROLLBACK_OUTCOMES = ("ok", "failed")

INTAKE_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    "job_id": pl.String,
    "action": pl.String,
    "outcome": pl.String,
    "kind": pl.String,
    "city_code": pl.String,
    "file_name": pl.String,
    "sha256": pl.String,
    "size_bytes": pl.Int64,
    "submitted_by": pl.String,
    "role": pl.String,
    "submitted_at": _UTC,
    "recorded_at": _UTC,
    "base_run_id": pl.String,
    "run_id": pl.String,
    "archive_dir": pl.String,
    "message": pl.String,
}
ROLLBACK_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    "job_id": pl.String,
    "outcome": pl.String,
    "from_run_id": pl.String,
    "to_run_id": pl.String,
    "rolled_back_by": pl.String,
    "role": pl.String,
    "requested_at": _UTC,
    "recorded_at": _UTC,
    "message": pl.String,
}


@dataclass(frozen=True)
class IntakeRecord:
    """One submission step: a refused upload, a dry run or a publish, with its outcome."""

    job_id: str
    action: str
    outcome: str
    kind: str
    file_name: str
    submitted_by: str
    role: str
    submitted_at: dt.datetime
    city_code: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    base_run_id: str | None = None
    run_id: str | None = None
    archive_dir: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class RollbackRecord:
    """An admin's return of the published warehouse to an earlier run (from → to)."""

    job_id: str
    outcome: str
    to_run_id: str
    rolled_back_by: str
    role: str
    requested_at: dt.datetime
    from_run_id: str | None = None
    message: str | None = None


def _insert_record(
    path: Path, table: str, schema: Mapping[str, pl.DataType], record: object, stamp: str, now: dt.datetime | None
) -> int:
    """Append a record's fields as one row of an intake table in its own write transaction; returns its event id.

    The record's own time (stamp) and the time of recording are stored as UTC text.
    """
    values = {name: getattr(record, name) for name in schema if hasattr(record, name)} | {
        stamp: utc_text(utc_now(getattr(record, stamp))),
        "recorded_at": utc_text(utc_now(now)),
    }
    columns = [name for name in schema if name != "event_id"]
    with write_transaction(path) as con:
        cursor = con.execute(
            "insert into " + table + " (" + ", ".join(columns) + ") values (" + ", ".join("?" * len(columns)) + ")",
            [values[name] for name in columns],
        )
        return int(cursor.lastrowid)


def record_intake(record: IntakeRecord, *, path: Path | None = None, now: dt.datetime | None = None) -> int:
    """Append one submission step to the intake log; returns its event id."""
    if record.action not in INTAKE_ACTIONS:
        raise ValueError(f"unknown intake action {record.action!r}")
    if record.outcome not in INTAKE_OUTCOMES:
        raise ValueError(f"unknown intake outcome {record.outcome!r}")
    return _insert_record(path or store_path(), "intake_submission", INTAKE_COLUMNS, record, "submitted_at", now)


def record_rollback(record: RollbackRecord, *, path: Path | None = None, now: dt.datetime | None = None) -> int:
    """Append one rollback (who, when, from run, to run) to the audit; returns its event id."""
    if record.outcome not in ROLLBACK_OUTCOMES:
        raise ValueError(f"unknown rollback outcome {record.outcome!r}")
    return _insert_record(path or store_path(), "intake_rollback", ROLLBACK_COLUMNS, record, "requested_at", now)


def read_intake(path: Path | None = None) -> pl.DataFrame:
    """Every intake log entry in append order (empty before the first)."""
    return read_table("intake_submission", INTAKE_COLUMNS, path)


def read_rollbacks(path: Path | None = None) -> pl.DataFrame:
    """Every rollback audit entry in append order (empty before the first)."""
    return read_table("intake_rollback", ROLLBACK_COLUMNS, path)
