"""The shared SQL macros (warehouse/macros.sql): created in the build and in every read-only query connection."""

from __future__ import annotations

from pathlib import Path

import duckdb

SQL_PATH = Path(__file__).with_name("macros.sql")
SQL = SQL_PATH.read_text(encoding="utf-8")


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) every macro in the connection's default catalog."""
    con.execute(SQL)


def _constant(name: str):
    """The value of a constant macro, read from macros.sql so Python never restates it."""
    with duckdb.connect() as con:
        install(con)
        return con.execute(f"select {name}()").fetchone()[0]


# Radius of the density hexagons, metres (the map layer draws them at this size).
HEX_METRES: int = _constant("hex_metres")
# Mean Earth radius, km (referral's bounding box must agree with haversine_km).
EARTH_RADIUS_KM: float = float(_constant("earth_radius_km"))
