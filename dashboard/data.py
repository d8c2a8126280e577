"""Cached read-only connection to the published warehouse (a new build gets a new connection)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import streamlit as st

from warehouse import query


@st.cache_resource(max_entries=2, show_spinner=False)
def _open(path: str, identity: tuple[int, int]) -> duckdb.DuckDBPyConnection:
    """One read-only connection per published file version (identity = inode, mtime)."""
    return query.connect(Path(path))


def connection() -> duckdb.DuckDBPyConnection:
    """Connection to the currently published warehouse; raises WarehouseMissing before the first build."""
    path = query.warehouse_path()
    return _open(str(path), query.file_identity(path))
