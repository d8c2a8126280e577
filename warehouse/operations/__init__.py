"""The operational store: in-app progress updates and notes, the audit log, the intake log and the sign-in
throttle, append-only, in SQLite beside the warehouse.

DuckDB lets one process hold a file read-write and then nobody else may open it, so in-app writes
cannot live in the published warehouse (they would block the ETL's publish and every reader). They go
to a separate SQLite file in WAL mode instead: one writer at a time (short BEGIN IMMEDIATE
transactions, busy_timeout), any number of readers on read-only connections that see whole
transactions only. Triggers in the database forbid UPDATE and DELETE, so history cannot be rewritten.
This package is the only writer; see docs/progress-updates.md and docs/operations.md (upgrades).

Modules by concern:
- store: the file, connections and transactions, schema versions and migrate() (migrations/NNNN_*.sql,
  and migrations/append_only.sql, the one definition of the append-only triggers)
- progress: managers, progress updates and notes, their rules and the merge with the ETL's file
- audit: the audit log
- intake: the intake log and the rollback audit
- sign_in: the sign-in throttle
"""

from __future__ import annotations

from warehouse.operations.audit import AUDIT_ACTIONS, AUDIT_COLUMNS, read_audit, record_audit
from warehouse.operations.intake import (
    INTAKE_ACTIONS,
    INTAKE_COLUMNS,
    INTAKE_OUTCOMES,
    ROLLBACK_COLUMNS,
    ROLLBACK_OUTCOMES,
    IntakeRecord,
    RollbackRecord,
    read_intake,
    read_rollbacks,
    record_intake,
    record_rollback,
)
from warehouse.operations.progress import (
    ACTIVE_STATUSES,
    CURRENT_SCHEMA,
    LOCAL_TZ,
    MANAGER_ENV,
    NOTE_EVENT_SCHEMA,
    NOTE_KINDS,
    NOTE_MAX_CHARS,
    PROGRESS_EVENT_SCHEMA,
    SEEDS_DIR,
    Manager,
    ManagerConfigError,
    NoteUpdate,
    Problem,
    ProgressCheck,
    ProgressUpdate,
    ValidationError,
    check_note,
    check_progress,
    current_progress,
    manager_from_config,
    read_note_events,
    read_progress_events,
    record_note_event,
    record_progress_event,
    record_progress_events,
)
from warehouse.operations.sign_in import (
    SIGN_IN_FAILURE_REASONS,
    SIGN_IN_FIRST_LOCK_S,
    SIGN_IN_FORGET_S,
    SIGN_IN_FREE_FAILURES,
    SIGN_IN_MAX_LOCK_S,
    record_sign_in,
    record_sign_in_failure,
    sign_in_lock_seconds,
    sign_in_wait,
)
from warehouse.operations.store import (
    BUSY_TIMEOUT_MS,
    DIR_MODE,
    FILE_MODE,
    STORE_ENV,
    Migrated,
    StoreVersionError,
    migrate,
    schema_version,
    store_path,
)

__all__ = [
    "ACTIVE_STATUSES",
    "AUDIT_ACTIONS",
    "AUDIT_COLUMNS",
    "BUSY_TIMEOUT_MS",
    "CURRENT_SCHEMA",
    "DIR_MODE",
    "FILE_MODE",
    "INTAKE_ACTIONS",
    "INTAKE_COLUMNS",
    "INTAKE_OUTCOMES",
    "LOCAL_TZ",
    "MANAGER_ENV",
    "NOTE_EVENT_SCHEMA",
    "NOTE_KINDS",
    "NOTE_MAX_CHARS",
    "PROGRESS_EVENT_SCHEMA",
    "ROLLBACK_COLUMNS",
    "ROLLBACK_OUTCOMES",
    "SEEDS_DIR",
    "SIGN_IN_FAILURE_REASONS",
    "SIGN_IN_FIRST_LOCK_S",
    "SIGN_IN_FORGET_S",
    "SIGN_IN_FREE_FAILURES",
    "SIGN_IN_MAX_LOCK_S",
    "STORE_ENV",
    "IntakeRecord",
    "Manager",
    "ManagerConfigError",
    "Migrated",
    "NoteUpdate",
    "Problem",
    "ProgressCheck",
    "ProgressUpdate",
    "RollbackRecord",
    "StoreVersionError",
    "ValidationError",
    "check_note",
    "check_progress",
    "current_progress",
    "manager_from_config",
    "migrate",
    "read_audit",
    "read_intake",
    "read_note_events",
    "read_progress_events",
    "read_rollbacks",
    "record_audit",
    "record_intake",
    "record_note_event",
    "record_progress_event",
    "record_progress_events",
    "record_rollback",
    "record_sign_in",
    "record_sign_in_failure",
    "schema_version",
    "sign_in_lock_seconds",
    "sign_in_wait",
    "store_path",
]
