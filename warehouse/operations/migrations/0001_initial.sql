-- Version 1: the store as release 0a7c565, the last one without schema versions, made it (every table it
-- created on first use). A store written by that or an earlier release (user_version 0, some of these
-- tables present, audit_event perhaps with a shorter list of actions) is adopted into this version by the
-- migration runner: missing tables and triggers are created, a table with another definition is rebuilt
-- with every row and id (warehouse/operations/store.py, _adopt).
-- append-only: progress_event note_event intake_submission intake_rollback audit_event

-- In-app progress updates: the new state of one step of one city, and the state it replaced (previous_*).
create table progress_event (
        event_id integer primary key autoincrement,
        city_code text not null,
        step_code text not null,
        status_code text not null,
        start_label text,
        start_month text,
        start_precision text,
        end_label text,
        end_month text,
        note text,
        changed_by text not null check (length(changed_by) > 0),
        changed_at text not null,
        previous_source text check (previous_source in ('file', 'app')),
        previous_event_id integer,
        previous_status_code text,
        previous_start_label text,
        previous_start_month text,
        previous_start_precision text,
        previous_end_label text,
        previous_end_month text,
        previous_note text
    ) strict;

-- Dated notes (breakthrough, issue, change) a manager adds for their city.
create table note_event (
        event_id integer primary key autoincrement,
        city_code text not null,
        noted_on text not null,
        kind text not null check (kind in ('breakthrough', 'issue', 'change')),
        text text not null check (length(text) > 0),
        changed_by text not null check (length(changed_by) > 0),
        changed_at text not null
    ) strict;

-- データ取込: each refused upload, dry run and publish, with its outcome.
create table intake_submission (
        event_id integer primary key autoincrement,
        job_id text not null,
        action text not null check (action in ('refused', 'dry_run', 'publish')),
        outcome text not null check (outcome in ('ok', 'failed', 'refused')),
        kind text not null,
        city_code text,
        file_name text not null,
        sha256 text,
        size_bytes integer,
        submitted_by text not null check (length(submitted_by) > 0),
        role text not null,
        submitted_at text not null,
        recorded_at text not null,
        base_run_id text,
        run_id text,
        archive_dir text,
        message text
    ) strict;

-- An admin's return of the published warehouse to an earlier run.
create table intake_rollback (
        event_id integer primary key autoincrement,
        job_id text not null,
        outcome text not null check (outcome in ('ok', 'failed')),
        from_run_id text,
        to_run_id text not null,
        rolled_back_by text not null check (length(rolled_back_by) > 0),
        role text not null,
        requested_at text not null,
        recorded_at text not null,
        message text
    ) strict;

-- The audit log: who downloaded, exported, signed in or out, saw personal data, changed progress or data.
-- The allowed actions are warehouse/operations/audit.py AUDIT_ACTIONS; a new action needs a migration.
create table audit_event (
    event_id integer primary key autoincrement,
    at text not null,
    identity text,
    role text not null,
    city_code text,
    action text not null check (action in ('download', 'export', 'progress_update', 'note', 'sign_in', 'sign_in_failed', 'sign_out', 'view_personal', 'intake_publish', 'intake_rollback')),
    target text not null check (length(target) > 0),
    detail text not null check (json_valid(detail))
) strict;

-- Failed local sign-ins per user name (SHA-256 digest) and per client: a counter, not history (no triggers).
create table sign_in_throttle (
        scope text not null check (scope in ('user', 'client')),
        key text not null,
        failures integer not null check (failures > 0),
        last_failure_at text not null,
        locked_until text,
        primary key (scope, key)
    ) strict;
