"""Cached read-only connection to the published warehouse (a new build gets a new connection), and cached queries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import streamlit as st

from dashboard import state
from warehouse import masking, query

T = TypeVar("T")


# The latest year and an old and a new build of it, plus a few earlier years' readers.
@st.cache_resource(max_entries=8, show_spinner=False)
def _open(path: str, identity: tuple[int, int], fiscal_year: int | None) -> duckdb.DuckDBPyConnection:
    """One read-only connection per published file version (identity = inode, mtime) and 年度 (None = latest)."""
    return query.connect(Path(path), fiscal_year)


def connection() -> duckdb.DuckDBPyConnection:
    """Connection to the published warehouse for the selected 年度; raises WarehouseMissing before the first build."""
    path = query.warehouse_path()
    return _open(str(path), query.file_identity(path), state.fiscal_year())


def every_year() -> duckdb.DuckDBPyConnection:
    """Connection whose stored tables hold every 年度 (the latest year's reader): for comparisons across years."""
    path = query.warehouse_path()
    return _open(str(path), query.file_identity(path), None)


@st.cache_data(max_entries=1024, show_spinner=False)
def _answer(
    _function: Callable[..., Any],
    _con: duckdb.DuckDBPyConnection,
    name: str,
    identity: tuple,
    fiscal_year: int | None,
    args: tuple,
    rule: tuple,
) -> Any:
    """The function's answer on one published warehouse version (identity) and 年度 for the hashed arguments."""
    return _function(_con, *args)


def cached(function: Callable[..., T], *args: Any) -> T:
    """function(connection(), *args), computed once per published warehouse version, 年度 and arguments.

    Only for warehouse/query functions whose answer depends on nothing but the warehouse and the arguments
    (the viewer, the language, the day, the filters are arguments): every session then shares it, and a new
    build (another file identity) is computed afresh. Streamlit hands each caller its own copy. The 年度 is
    the session's (read here, on the script thread); masking's visibility rule is part of the key. Never for
    personal values (contact persons, consultees): those are read per run, not kept where sessions share them.
    """
    return _cached(function, state.fiscal_year(), args)


def latest(function: Callable[..., T], *args: Any) -> T:
    """cached() on the latest year whatever the session selected (the year list, before a year is known valid)."""
    return _cached(function, None, args)


def _cached(function: Callable[..., T], fiscal_year: int | None, args: tuple) -> T:
    """The answer of function on the published file's fiscal_year reader, from the cache."""
    path = query.warehouse_path()
    identity = query.file_identity(path)
    name = f"{function.__module__}.{function.__qualname__}"
    # The visibility rule decides what an answer may hold, so an answer is kept per rule too.
    rule = tuple(sorted(masking.VISIBILITY.items()))
    return _answer(function, _open(str(path), identity, fiscal_year), name, identity, fiscal_year, args, rule)
