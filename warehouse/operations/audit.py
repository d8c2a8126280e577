"""The audit log: who downloaded or exported what, who signed in, and who changed progress or data.

Not personal data (an identity is the sign-in name or e-mail of staff; public readers have none).
Append-only like every event table. Progress updates, notes and sign-ins write their audit row inside
their own transaction (append_audit), so none is stored without it; everything else goes through
record_audit.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from common.roles import Viewer
from warehouse.operations.store import UTC_TYPE, read_table, store_path, utc_now, utc_text, write_transaction

# The table's CHECK holds the same list (migrations/0001_initial.sql): a new action needs a migration too.
AUDIT_ACTIONS = (
    "download",
    "export",
    "progress_update",
    "note",
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "view_personal",
    "intake_publish",
    "intake_rollback",
)

AUDIT_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.Int64,
    "at": UTC_TYPE,
    "identity": pl.String,
    "role": pl.String,
    "city_code": pl.String,
    "action": pl.String,
    "target": pl.String,
    "detail": pl.String,
}


def append_audit(
    con: sqlite3.Connection, viewer: Viewer, action: str, target: str, detail: Mapping, moment: dt.datetime
) -> int:
    """Insert one audit row inside the caller's write transaction; returns its event id."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    cursor = con.execute(
        "insert into audit_event (at, identity, role, city_code, action, target, detail) values (?, ?, ?, ?, ?, ?, ?)",
        [
            utc_text(moment),
            viewer.identity,
            viewer.role,
            viewer.city_code,
            action,
            target,
            json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, default=str),
        ],
    )
    return int(cursor.lastrowid)


def record_audit(
    viewer: Viewer,
    action: str,
    target: str,
    detail: Mapping | None = None,
    *,
    path: Path | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Append one audit row (who, when, action, target, detail as JSON) in its own transaction; returns its id."""
    with write_transaction(path or store_path()) as con:
        return append_audit(con, viewer, action, target, detail or {}, utc_now(now))


def read_audit(path: Path | None = None) -> pl.DataFrame:
    """Every audit row in append order, read on a read-only connection (empty before the first)."""
    return read_table("audit_event", AUDIT_COLUMNS, path)
