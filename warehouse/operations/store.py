"""The store's file, its connections and its schema versions (numbered SQL migrations, PRAGMA user_version).

Every module of this package reads and writes through write_transaction and read_transaction. The schema
is migrations/NNNN_<name>.sql, applied in order by migrate() once, at start (the app launcher and the
intake worker call it), after an online backup of a store that has records; user_version records the
last one applied. Writers never create tables: a new, empty store is brought to the current version in
its first write transaction, an older store with records is refused until migrate() has run, and a store
newer than this code is refused by readers and writers alike.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl

from warehouse.query import warehouse_path

STORE_ENV = "TSUNAGARI_OPERATIONS"
# How long a writer or reader waits for another writer's lock before giving up (milliseconds).
BUSY_TIMEOUT_MS = 10_000
# The store holds who did what (audit) and staff names: readable by the app's own user only.
DIR_MODE, FILE_MODE = 0o700, 0o600
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
APPEND_ONLY_TEMPLATE = MIGRATIONS_DIR / "append_only.sql"
_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_APPEND_ONLY_LINE = re.compile(r"^--\s*append-only:(.*)$", re.MULTILINE)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
UTC_TYPE = pl.Datetime("us", "UTC")


class StoreVersionError(sqlite3.DatabaseError):
    """The store's schema version is not the one this code reads and writes (newer, or not migrated yet)."""


# --- values --------------------------------------------------------------------------------------


def utc_text(moment: dt.datetime) -> str:
    """ISO 8601 UTC with microseconds and Z (sorts as text)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_date(day: dt.date | None) -> str | None:
    """A date as ISO text, or None."""
    return None if day is None else day.isoformat()


def utc_now(now: dt.datetime | None) -> dt.datetime:
    """The given aware moment, or the current time, in UTC."""
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(dt.UTC)


def typed_frame(rows: Sequence[Sequence], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Rows read from SQLite (dates and times as ISO text) as a typed polars frame."""
    converted = []
    for row in rows:
        values = []
        for value, dtype in zip(row, schema.values(), strict=True):
            if value is not None and dtype == pl.Date:
                value = dt.date.fromisoformat(value)
            elif value is not None and dtype == UTC_TYPE:
                value = dt.datetime.fromisoformat(value)
            values.append(value)
        converted.append(values)
    return pl.DataFrame(converted, schema=dict(schema), orient="row")


def select_events(
    con: sqlite3.Connection, table: str, schema: Mapping[str, pl.DataType], where: str = "", params: Sequence = ()
) -> pl.DataFrame:
    """All columns of an event table in event order; table, columns and where come from this package."""
    sql = "select " + ", ".join(schema) + " from " + table + where + " order by event_id"
    return typed_frame(con.execute(sql, params).fetchall(), schema)


# --- the file and its connections ----------------------------------------------------------------


def store_path() -> Path:
    """Operational store: $TSUNAGARI_OPERATIONS, or operations.sqlite next to the published warehouse."""
    configured = os.environ.get(STORE_ENV, "").strip()
    return Path(configured) if configured else warehouse_path().parent / "operations.sqlite"


def _owner_only(path: Path) -> None:
    """Create the store owner-only (folder 0700, file 0600) and take group/other access off an older one.

    SQLite gives its -wal and -shm files the database file's mode, so they follow.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE))
    for member in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(member.stat().st_mode) & 0o077:
                member.chmod(FILE_MODE)


def _connect(path: Path) -> sqlite3.Connection:
    """A read-write connection in autocommit mode (transactions are explicit), WAL, durable commits."""
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        con.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS:d}")
        con.execute("pragma journal_mode = wal")
        # FULL: a committed event survives a power cut, not only a crash of the process.
        con.execute("pragma synchronous = full")
        con.execute("pragma recursive_triggers = on")
    except BaseException:
        con.close()
        raise
    return con


def _user_version(con: sqlite3.Connection) -> int:
    """The number of the last migration applied (0: a new store, or one written before versions)."""
    return int(con.execute("pragma user_version").fetchone()[0])


def _tables(con: sqlite3.Connection) -> list[str]:
    """The store's own tables (SQLite's internal ones left out)."""
    rows = con.execute("select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\'")
    return [name for (name,) in rows]


def _refuse_newer(path: Path, version: int, latest: int) -> None:
    """Raise when the store was written by a release with more migrations than this code has (latest)."""
    if version > latest:
        raise StoreVersionError(
            f"operations store {path} has schema version {version}, newer than this release knows "
            f"({latest}): it was upgraded by a newer release. Run that release, or restore the "
            "backup taken before that upgrade (docs/operations.md, upgrades)."
        )


@contextmanager
def write_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A short BEGIN IMMEDIATE transaction on a store at this release's version, committed on success.

    A new store (created owner-only here, no tables yet) gets every migration inside this transaction; a
    store with records at an older version is refused (migrate() backs it up first, so it runs at start).
    """
    _owner_only(path)
    con = _connect(path)
    try:
        con.execute("begin immediate")
        try:
            version = _user_version(con)
            _refuse_newer(path, version, schema_version())
            if version < schema_version():
                if version or _tables(con):
                    raise StoreVersionError(
                        f"operations store {path} is at schema version {version}, this release needs "
                        f"{schema_version()}: run `python -m warehouse.operations migrate` (the app launcher "
                        "does it at start, after a backup)"
                    )
                for migration in load_migrations():
                    _apply(con, migration)
            yield con
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
    finally:
        con.close()


@contextmanager
def read_transaction(path: Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection in one read transaction (one snapshot), or None before the first write."""
    if not path.exists():
        yield None
        return
    uri = path.resolve().as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        con.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS:d}")
        con.execute("begin")
        try:
            _refuse_newer(path, _user_version(con), schema_version())
            yield con
        finally:
            con.execute("rollback")
    finally:
        con.close()


def has_table(con: sqlite3.Connection, table: str) -> bool:
    """Whether the store has the table (a store not created yet, or not migrated yet, may lack it)."""
    return con.execute("select 1 from sqlite_master where type = 'table' and name = ?", [table]).fetchone() is not None


def read_table(table: str, schema: Mapping[str, pl.DataType], path: Path | None) -> pl.DataFrame:
    """A whole append-only table in append order, on a read-only connection (empty before its first write)."""
    with read_transaction(path or store_path()) as con:
        if con is None or not has_table(con, table):
            return pl.DataFrame(schema=schema)
        return select_events(con, table, schema)


# --- migrations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file: its statements, and the tables it makes append-only (triggers from the template)."""

    version: int
    name: str
    statements: tuple[str, ...]
    append_only: tuple[str, ...]


def _statements(sql: str) -> tuple[str, ...]:
    """The statements of a SQL text, comment lines dropped, split where SQLite says a statement is complete.

    Statements are run one by one: executescript would commit the caller's transaction first.
    """
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip().removesuffix(";").rstrip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"an unfinished statement at the end: {buffer.strip()[:80]!r}")
    return tuple(statements)


def append_only_triggers(table: str) -> tuple[str, ...]:
    """The triggers refusing UPDATE, DELETE and a reused event id on one table (migrations/append_only.sql)."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a table name: {table!r}")
    return tuple(statement.replace("{table}", table) for statement in _statements(_template()))


@cache
def _template() -> str:
    """The append-only trigger template's text."""
    return APPEND_ONLY_TEMPLATE.read_text(encoding="utf-8")


@cache
def load_migrations(folder: Path = MIGRATIONS_DIR) -> tuple[Migration, ...]:
    """The migrations of a folder in order; their numbers must run 1, 2, 3 … without a gap."""
    found = []
    for file in sorted(folder.iterdir()):
        match = _MIGRATION_FILE.match(file.name)
        if match:
            text = file.read_text(encoding="utf-8")
            tables = tuple(name for line in _APPEND_ONLY_LINE.findall(text) for name in line.split())
            found.append(Migration(int(match.group(1)), file.stem, _statements(text), tables))
    if [migration.version for migration in found] != list(range(1, len(found) + 1)):
        raise ValueError(f"{folder}: migrations must be numbered 0001, 0002, … without gaps")
    return tuple(found)


def schema_version() -> int:
    """The schema version this code reads and writes: the number of its last migration."""
    return load_migrations()[-1].version


def _apply(con: sqlite3.Connection, migration: Migration) -> None:
    """Run one migration and its append-only triggers inside the caller's transaction and record its number."""
    for statement in migration.statements:
        con.execute(statement)
    for table in migration.append_only:
        for statement in append_only_triggers(table):
            con.execute(statement)
    con.execute(f"pragma user_version = {migration.version:d}")


def _normal(sql: str) -> str:
    """A schema statement compared by tokens: case, line breaks and indentation do not count."""
    text = " ".join(sql.split()).lower().removesuffix(";")
    return re.sub(r" ?([(),]) ?", r"\1", text)


def schema_of(con: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """Tables, triggers and indexes of a database by name: (type, statement as SQLite keeps it)."""
    rows = con.execute(
        "select name, type, sql from sqlite_master where sql is not null and name not like 'sqlite\\_%' escape '\\'"
    )
    return {name: (kind, sql) for name, kind, sql in rows}


def _expected(migration: Migration) -> dict[str, tuple[str, str]]:
    """The schema a new store has after this one migration (built in memory)."""
    con = sqlite3.connect(":memory:", isolation_level=None)
    try:
        _apply(con, migration)
        return schema_of(con)
    finally:
        con.close()


def _adopt(con: sqlite3.Connection, migration: Migration, path: Path) -> None:
    """Bring a store written before schema versions to version 1, keeping every row and id.

    Releases before versions created each table on its first use, so such a store has some of version
    1's tables. The missing ones are created; a table whose definition differs (audit_event with an older
    list of actions in its CHECK, which SQLite cannot change in place) is renamed, created anew, its rows
    copied by column name with their event ids, and the old one dropped with its triggers; then every
    trigger of version 1 that is missing is created.
    """
    expected = _expected(migration)
    present = schema_of(con)
    unknown = sorted(name for name in present if name not in expected)
    if unknown:
        raise StoreVersionError(f"operations store {path} has objects no release made: {', '.join(unknown)}")
    for name, (kind, sql) in expected.items():
        if kind != "table":
            continue
        if name not in present:
            con.execute(sql)
        elif _normal(present[name][1]) != _normal(sql):
            _rebuild(con, name, sql)
    present = schema_of(con)
    for name, (kind, sql) in expected.items():
        if name in present and _normal(present[name][1]) == _normal(sql):
            continue
        if name in present:
            con.execute(f"drop {kind} {name}")  # kind and name from this package's migration
        con.execute(sql)


def _rebuild(con: sqlite3.Connection, table: str, sql: str) -> None:
    """Replace a table by its new definition with every row, columns named (table and sql from a migration)."""
    old = f"{table}__before_v1"
    con.execute(f"alter table {table} rename to {old}")
    con.execute(sql)
    columns = [row[1] for row in con.execute(f"pragma table_info({table})")]
    kept = {row[1] for row in con.execute(f"pragma table_info({old})")}
    if missing := [column for column in columns if column not in kept]:
        raise StoreVersionError(f"table {table} of this store lacks columns {missing}: not written by a release")
    names = ", ".join(columns)
    con.execute(f"insert into {table} ({names}) select {names} from {old} order by rowid")
    # Dropping the renamed table drops the triggers it took along; _adopt creates them anew.
    con.execute(f"drop table {old}")


@dataclass(frozen=True)
class Migrated:
    """What migrate() did: the versions before and after, and the backup it took (None: nothing to keep)."""

    path: Path
    from_version: int
    to_version: int
    backup: Path | None

    def summary(self) -> str:
        """One line for the log: the store, its versions, and the backup taken."""
        if self.from_version == self.to_version:
            return f"operations store {self.path}: schema version {self.to_version}, nothing to migrate"
        backup = f", backup {self.backup}" if self.backup else ""
        return f"operations store {self.path}: schema version {self.from_version} → {self.to_version}{backup}"


def _backup(path: Path, version: int, moment: dt.datetime) -> Path:
    """An online backup of the store beside it, owner-only, checked; called while holding the write lock.

    A second connection reads it (WAL lets it read while the migrating connection holds the lock), so the
    copy is the state before any migration of this run.
    """
    stamp = moment.strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.pre-v{version}-{stamp}.sqlite3")
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    source = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        check = copy.execute("pragma integrity_check").fetchone()[0]
    finally:
        copy.close()
        source.close()
    if check != "ok":
        raise sqlite3.DatabaseError(f"the backup {target} failed its integrity check ({check}); nothing was migrated")
    return target


def migrate(path: Path | None = None, *, now: dt.datetime | None = None, folder: Path = MIGRATIONS_DIR) -> Migrated:
    """Bring the store to this release's schema version; a no-op when it is there already.

    When migrations are pending on a store with records, an online backup is taken first
    (<store>.pre-v<N>-<UTC time>.sqlite3, mode 0600). Each migration then runs in its own BEGIN IMMEDIATE
    transaction that re-reads user_version under the lock, so two processes starting at once never
    apply one twice. A store newer than this code raises StoreVersionError.
    """
    path = path or store_path()
    migrations = load_migrations(folder)
    latest = migrations[-1].version
    _owner_only(path)
    con = _connect(path)
    start: int | None = None
    backup: Path | None = None
    try:
        while True:
            con.execute("begin immediate")
            try:
                version = _user_version(con)
                _refuse_newer(path, version, latest)
                start = version if start is None else start
                if version == latest:
                    con.execute("commit")
                    break
                tables = _tables(con)
                if backup is None and tables:
                    backup = _backup(path, latest, utc_now(now))
                if version == 0 and tables:
                    _adopt(con, migrations[0], path)
                    con.execute(f"pragma user_version = {migrations[0].version:d}")
                else:
                    _apply(con, migrations[version])
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
    finally:
        con.close()
    return Migrated(path, start, latest, backup)
