"""Backups of what cannot be rebuilt: `python -m etl.backup create | verify | restore` (docs/operations.md).

A backup is one directory `tsunagari-<UTC time>` holding
- operations.sqlite: the operational store (progress updates, notes, audit, intake log), copied with
  SQLite's online backup API, so writers may keep writing while it runs;
- warehouse.duckdb: the published warehouse, copied from an open descriptor under the intake lock
  (a publish waits; readers never do);
- sources/ and warehouses/: the archived submissions and the warehouses kept for rollback;
- config/: the role mapping and the local accounts (argon2 hashes); the secrets file is only
  referenced (path and sha256), never copied: it holds the OIDC client secret;
- manifest.json: sha256 and size of every file, row counts of every table, where each part came from.
Retention: after a backup verified, only the newest N (--keep or $TSUNAGARI_BACKUP_KEEP) are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from common.roles import ROLES_ENV, USERS_ENV, roles_path, users_path
from etl.intake import archive_root, lock_path, warehouses_dir
from warehouse import operations
from warehouse.query import warehouse_path

BACKUP_DIR_ENV = "TSUNAGARI_BACKUP_DIR"
KEEP_ENV = "TSUNAGARI_BACKUP_KEEP"
DEFAULT_KEEP = 14
PREFIX = "tsunagari-"
MANIFEST = "manifest.json"
FORMAT = 1
# Pages copied per step of SQLite's online backup; between steps writers may commit.
SQLITE_PAGES_PER_STEP = 1024
CHUNK = 1 << 20  # bytes read at a time for copies and checksums
STORE, WAREHOUSE, SOURCES, KEPT, CONFIG = "operations.sqlite", "warehouse.duckdb", "sources", "warehouses", "config"
SECRETS = Path(".streamlit") / "secrets.toml"
SECRETS_ENV = "STREAMLIT_SECRETS_FILES"  # Streamlit's secrets.files option (whitespace-separated paths)

Report = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message names the file and what is wrong."""


def config_files() -> dict[str, Path]:
    """Configuration that the backup copies: name in config/ → path on this machine."""
    return {
        "roles.toml": roles_path(),
        "local_users.toml": users_path(),
    }


def secrets_path() -> Path:
    """Streamlit's secrets file: the first of $STREAMLIT_SECRETS_FILES, else .streamlit/secrets.toml here."""
    configured = os.environ.get(SECRETS_ENV, "").split()
    return Path(configured[0]) if configured else Path.cwd() / SECRETS


def backup_dir() -> Path:
    """Where backups go: $TSUNAGARI_BACKUP_DIR, or `backups` beside the published warehouse."""
    configured = os.environ.get(BACKUP_DIR_ENV, "").strip()
    return Path(configured) if configured else warehouse_path().parent / "backups"


def keep_count() -> int:
    """How many backups to keep: $TSUNAGARI_BACKUP_KEEP (at least 1), else 14."""
    raw = os.environ.get(KEEP_ENV, "").strip()
    if not raw:
        return DEFAULT_KEEP
    if not raw.isdigit() or int(raw) < 1:
        raise BackupError(f"{KEEP_ENV}={raw!r}: expected a whole number of backups, 1 or more")
    return int(raw)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- the parts -----------------------------------------------------------------------------------


def sqlite_counts(path: Path) -> dict[str, int]:
    """Rows of every table of an SQLite file (table names from sqlite_master, quoted)."""
    con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        tables = [
            row[0]
            for row in con.execute(
                "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name"
            )
        ]
        quoted = {table: '"' + table.replace('"', '""') + '"' for table in tables}
        return {table: con.execute("select count(*) from " + quoted[table]).fetchone()[0] for table in tables}
    finally:
        con.close()


def sqlite_integrity(path: Path) -> str:
    """SQLite's integrity_check of a file: "ok" or its first complaint."""
    con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return con.execute("pragma integrity_check").fetchone()[0]
    finally:
        con.close()


def duckdb_counts(path: Path) -> dict[str, int]:
    """Rows of every table of a DuckDB file, opened read-only (names from its catalogue, quoted)."""
    con = duckdb.connect()
    try:
        con.execute("attach ? as snapshot (read_only)", [str(path)])
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'snapshot' order by 1, 2"
        ).fetchall()
        counts = {}
        for schema, table in tables:
            name = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table))
            counts[f"{schema}.{table}"] = con.execute("select count(*) from snapshot." + name).fetchone()[0]
        return counts
    except duckdb.Error as error:
        raise BackupError(f"{path}: not a readable DuckDB warehouse ({error})") from error
    finally:
        con.close()


def _backup_store(source: Path, target: Path) -> None:
    """SQLite online backup of the operational store (consistent even while the dashboard writes)."""
    uri = source.resolve().as_uri() + "?mode=ro"
    src = sqlite3.connect(uri, uri=True, timeout=operations.BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=SQLITE_PAGES_PER_STEP)
    finally:
        dst.close()
        src.close()


def _copy_open(source: Path, target: Path) -> None:
    """Copy a file from one open descriptor: a swap of `source` mid-copy does not mix two versions."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
        os.fsync(dst.fileno())


def _copy_tree(source: Path, target: Path) -> int:
    """Copy the files of a directory tree (not their modes: a backup must stay removable); file count."""
    count = 0
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            _copy_open(path, dest)
            count += 1
    return count


@contextlib.contextmanager
def _intake_lock(warehouse: Path) -> Iterator[None]:
    """The lock publishes and rollbacks hold: warehouse, archive and kept files are copied as one state."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(warehouse), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _checksums(folder: Path) -> dict[str, dict]:
    """sha256 and size of every file under a backup (manifest excluded), by relative path."""
    return {
        path.relative_to(folder).as_posix(): {"sha256": sha256_of(path), "bytes": path.stat().st_size}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path != folder / MANIFEST  # a submission's own manifest.json is data
    }


# --- create --------------------------------------------------------------------------------------


def _fill(work: Path, moment: dt.datetime, report: Report) -> dict:
    """Copy every part into `work`, write its manifest and verify it; the manifest."""
    warehouse, store, archive, kept = warehouse_path(), operations.store_path(), archive_root(), warehouses_dir()
    manifest: dict = {"format": FORMAT, "created_at": moment.isoformat(), "from": {}, "counts": {}, "absent": []}

    if store.exists():
        report(f"operations store {store}: online backup")
        _backup_store(store, work / STORE)
        manifest["counts"][STORE] = sqlite_counts(work / STORE)
        manifest["from"][STORE] = str(store)
    else:
        manifest["absent"].append(STORE)
    with _intake_lock(warehouse):
        if warehouse.exists():
            report(f"warehouse {warehouse}: copy")
            _copy_open(warehouse, work / WAREHOUSE)
            try:
                manifest["counts"][WAREHOUSE] = duckdb_counts(work / WAREHOUSE)
            except BackupError as error:
                raise BackupError(f"{warehouse}: not a readable DuckDB warehouse; nothing was backed up") from error
            manifest["from"][WAREHOUSE] = str(warehouse)
        else:
            manifest["absent"].append(WAREHOUSE)
        for part, folder in ((SOURCES, archive), (KEPT, kept)):
            if folder.is_dir():
                files = _copy_tree(folder, work / part)
                report(f"{part} {folder}: {files} files")
                manifest["from"][part] = str(folder)
            else:
                manifest["absent"].append(part)
    for file_name, path in config_files().items():
        if path.is_file():
            (work / CONFIG).mkdir(exist_ok=True)
            _copy_open(path, work / CONFIG / file_name)
            manifest["from"][f"{CONFIG}/{file_name}"] = str(path)
        else:
            manifest["absent"].append(f"{CONFIG}/{file_name}")
    secrets = secrets_path()
    manifest["secrets"] = {"path": str(secrets), "sha256": sha256_of(secrets) if secrets.is_file() else None}
    report("checksums")
    manifest["files"] = _checksums(work)
    (work / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    problems = verify(work)
    if problems:
        raise BackupError(f"{work}: the new backup does not verify: " + "; ".join(problems))
    return manifest


def create(to: Path, *, keep: int | None = None, report: Report = print, now: dt.datetime | None = None) -> Path:
    """Make a backup under `to`, verify it, then prune to the newest `keep`; returns its directory."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    keep = keep_count() if keep is None else keep
    if keep < 1:
        raise BackupError(f"keep={keep}: at least the new backup must be kept")
    to.mkdir(parents=True, exist_ok=True)
    name = PREFIX + moment.strftime("%Y%m%dT%H%M%SZ")
    final = to / name
    if final.exists():
        raise BackupError(f"{final}: a backup of that second exists already")
    work = to / f".{name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        manifest = _fill(work, moment, report)
    except BaseException:
        # A half-made backup must not count as one, nor stay behind taking space.
        shutil.rmtree(work, ignore_errors=True)
        raise
    os.replace(work, final)
    report(f"backup {final}: verified ({len(manifest['files'])} files)")
    for old in prune(to, keep):
        report(f"removed old backup {old}")
    return final


def backups_in(folder: Path) -> list[Path]:
    """Finished backups in a folder (named tsunagari-*, with a manifest), oldest first."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob(PREFIX + "*") if path.is_dir() and (path / MANIFEST).is_file())


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` backups; only directories this module made are touched."""
    old = backups_in(folder)[:-keep] if keep > 0 else []
    for path in old:
        shutil.rmtree(path)
    return old


# --- verify and restore --------------------------------------------------------------------------


def _manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BackupError(f"{path}: missing; {folder} is not a Tsunagari backup") from error
    except json.JSONDecodeError as error:
        raise BackupError(f"{path}: not valid JSON (line {error.lineno})") from error


def verify(folder: Path, manifest: dict | None = None) -> list[str]:
    """Problems of a backup or a restored directory: checksums, SQLite integrity, row counts ([] = good)."""
    manifest = manifest or _manifest(folder)
    problems = []
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != expected["bytes"] or sha256_of(path) != expected["sha256"]:
            problems.append(f"{name}: checksum differs from the manifest")
    if (folder / STORE).is_file():
        integrity = sqlite_integrity(folder / STORE)
        if integrity != "ok":
            problems.append(f"{STORE}: integrity_check says {integrity}")
        elif sqlite_counts(folder / STORE) != manifest["counts"].get(STORE):
            problems.append(f"{STORE}: row counts differ from the manifest")
    if (folder / WAREHOUSE).is_file():
        try:
            if duckdb_counts(folder / WAREHOUSE) != manifest["counts"].get(WAREHOUSE):
                problems.append(f"{WAREHOUSE}: row counts differ from the manifest")
        except BackupError as error:
            problems.append(str(error))
    return problems


def restore(source: Path, to: Path, *, report: Report = print) -> dict[str, Path]:
    """Verify a backup, lay it out in an empty directory `to`, verify the result; the paths to configure."""
    manifest = _manifest(source)
    problems = verify(source, manifest)
    if problems:
        raise BackupError(f"{source}: refusing to restore a damaged backup: " + "; ".join(problems))
    if to.exists() and any(to.iterdir()):
        raise BackupError(f"{to}: not empty; restore only onto an empty directory")
    to.mkdir(parents=True, exist_ok=True)
    for name in manifest["files"]:
        target = to / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_open(source / name, target)
    (to / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    problems = verify(to, manifest)
    if problems:
        raise BackupError(f"{to}: the restored files do not verify: " + "; ".join(problems))
    # Archived submissions are evidence and stay read-only, as etl.intake_worker leaves them.
    for path in (to / SOURCES).rglob("*") if (to / SOURCES).is_dir() else ():
        if path.is_file():
            path.chmod(0o444)
    settings = {
        "TSUNAGARI_WAREHOUSE": to / WAREHOUSE,
        "TSUNAGARI_OPERATIONS": to / STORE,
        "TSUNAGARI_ARCHIVE": to / SOURCES,
        ROLES_ENV: to / CONFIG / "roles.toml",
        USERS_ENV: to / CONFIG / "local_users.toml",
    }
    report(f"restored {len(manifest['files'])} files from {source} into {to}; verified")
    original = manifest["from"].get(SOURCES)
    if original and Path(original) != to / SOURCES:
        report(
            f"note: the warehouse names its sources under {original}; restore to that path (or rebuild) before the next upload"
        )
    if manifest["secrets"]["sha256"]:
        report(f"the secrets file is not in backups: put it back at {manifest['secrets']['path']}")
    return settings


# --- command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """create / verify / restore; exit 1 with one message on failure."""
    parser = argparse.ArgumentParser(prog="python -m etl.backup", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="back up now, verify, prune old backups")
    make.add_argument(
        "--to", type=Path, help=f"backup folder (default ${BACKUP_DIR_ENV} or backups/ beside the warehouse)"
    )
    make.add_argument("--keep", type=int, help=f"backups to keep (default ${KEEP_ENV} or {DEFAULT_KEEP})")
    check = commands.add_parser("verify", help="check a backup's checksums, integrity and row counts")
    check.add_argument("backup", type=Path)
    back = commands.add_parser("restore", help="restore a backup onto an empty directory and verify it")
    back.add_argument("--from", dest="source", type=Path, required=True)
    back.add_argument("--to", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            create(args.to or backup_dir(), keep=args.keep)
        elif args.command == "verify":
            problems = verify(args.backup)
            for problem in problems:
                print(f"{args.backup}: {problem}", file=sys.stderr)
            if problems:
                return 1
            print(f"{args.backup}: ok")
        else:
            for key, value in restore(args.source, args.to).items():
                print(f"{key}={value}")
    except (BackupError, OSError, sqlite3.Error) as error:
        print(f"backup: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
