"""Cached read-only connection to the published warehouse (a new build gets a new connection), and cached queries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import streamlit as st

from warehouse import query

T = TypeVar("T")


@st.cache_resource(max_entries=2, show_spinner=False)
def _open(path: str, identity: tuple[int, int]) -> duckdb.DuckDBPyConnection:
    """One read-only connection per published file version (identity = inode, mtime)."""
    return query.connect(Path(path))


def connection() -> duckdb.DuckDBPyConnection:
    """Connection to the currently published warehouse; raises WarehouseMissing before the first build."""
    path = query.warehouse_path()
    return _open(str(path), query.file_identity(path))


@st.cache_data(max_entries=1024, show_spinner=False)
def _answer(
    _function: Callable[..., Any], _con: duckdb.DuckDBPyConnection, name: str, identity: tuple, args: tuple
) -> Any:
    """The function's answer on one published warehouse version (identity) for the hashed arguments."""
    return _function(_con, *args)


def cached(function: Callable[..., T], *args: Any) -> T:
    """function(connection(), *args), computed once per published warehouse version and arguments.

    Only for warehouse/query functions whose answer depends on nothing but the warehouse and the arguments
    (the viewer, the language, the day, the filters are arguments): every session then shares it, and a new
    build (another file identity) is computed afresh. Streamlit hands each caller its own copy.
    """
    path = query.warehouse_path()
    identity = query.file_identity(path)
    name = f"{function.__module__}.{function.__qualname__}"
    return _answer(function, _open(str(path), identity), name, identity, args)
