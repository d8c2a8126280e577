"""The warehouse schema's fingerprint: which DDL and marts SQL a warehouse file was built by.

Every build records the fingerprint of the code that built it (etl_run.schema_fingerprint). When the
published file's differs from the code's, its tables are not the ones the code reads: readiness says so
(warehouse.readiness) and `python -m etl upgrade` rebuilds it from the published run's sources.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent
DDL_DIR = ROOT / "ddl"
MARTS_DIR = ROOT / "marts"


def schema_fingerprint(ddl_dir: Path = DDL_DIR, marts_dir: Path = MARTS_DIR) -> str:
    """sha256 over the name and bytes of every warehouse/ddl/*.sql and warehouse/marts/**/*.sql file."""
    digest = hashlib.sha256()
    for label, folder, pattern in (("ddl", ddl_dir, "*.sql"), ("marts", marts_dir, "**/*.sql")):
        for path in sorted(folder.glob(pattern)):
            digest.update(f"{label}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """The fingerprint of this checkout's SQL (read once per process: the files do not change under a running server)."""
    return schema_fingerprint()


def recorded_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint the latest published run recorded; None for a file written before fingerprints existed."""
    has_column = con.execute(
        "select count(*) from duckdb_columns() where database_name = current_database() and schema_name = 'main' "
        "and table_name = 'etl_run' and column_name = 'schema_fingerprint'"
    ).fetchone()[0]
    if not has_column:
        return None
    row = con.execute(
        "select schema_fingerprint from etl_run where status = 'published' "
        "order by started_at desc, run_id desc limit 1"
    ).fetchone()
    return row[0] if row else None
