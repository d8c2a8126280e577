"""PF構築プロセス: the file's baseline from the warehouse, merged with in-app events for display."""

from __future__ import annotations

import duckdb
import polars as pl

from common.calendar import LOCAL_TZ
from common.roles import PUBLIC, Viewer
from warehouse.operations import ACTIVE_STATUSES, current_progress
from warehouse.query import city_filter, fetch, where

_KEY = ["city_code", "step_code"]
# Grid columns that say where a cell sits (city, step, phase), as opposed to its state.
_IDENTITY = (
    "city_code",
    "city_order",
    "city_name_ja",
    "city_name_en",
    "step_code",
    "step_label",
    "step_name_ja",
    "step_name_en",
    "step_order",
    "phase_code",
    "phase_label",
    "phase_name_ja",
    "phase_name_en",
    "phase_order",
)


def progress_grid(
    con: duckdb.DuckDBPyConnection, city_code: str | None = None, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """The ETL baseline for every city × step (one city, or all when city_code is None), in display order."""
    fragments, params = city_filter("city_code", city_code)
    return fetch(
        con, "select * from mart_pf_progress_grid" + where(fragments) + " order by city_order, step_order", params
    )


def statuses(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """The step statuses (未着手, 進行中, 完了, 未定) in display order."""
    return fetch(con, "select code, name_ja, name_en, sort_order from pf_status order by sort_order")


def phases(con: duckdb.DuckDBPyConnection, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """The phases (ア)…(エ) in order."""
    return fetch(con, "select code, label, name_ja, name_en, sort_order from pf_phase order by sort_order")


def notes(con: duckdb.DuckDBPyConnection, city_code: str | None = None, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """振り返り notes from the file (one city, or all), oldest first."""
    fragments, params = city_filter("n.city_code", city_code)
    return fetch(
        con,
        "select n.id, n.city_code, n.noted_on, n.kind, n.text from pf_note as n join city as c on c.code = n.city_code"
        + where(fragments)
        + " order by c.sort_order, n.noted_on, n.id",
        params,
    )


def progress_view(grid: pl.DataFrame, events: pl.DataFrame, status_table: pl.DataFrame) -> pl.DataFrame:
    """Every grid cell with its current state (current_progress) and status names, in display order."""
    current = current_progress(grid, events)
    names = status_table.select(
        pl.col("code").alias("status_code"),
        pl.col("name_ja").alias("status_name_ja"),
        pl.col("name_en").alias("status_name_en"),
        pl.col("sort_order").alias("status_order"),
    )
    return (
        grid.select(_IDENTITY)
        .join(current, on=_KEY, how="left")
        .join(names, on="status_code", how="left")
        .sort(["city_order", "step_order"])
    )


def phases_reached(view: pl.DataFrame, phase_table: pl.DataFrame) -> pl.DataFrame:
    """Per city: the highest phase with a step 進行中 or 完了 (phase_order 0 when none), and step counts."""
    status = pl.col("status_code")
    counts = (
        view.group_by("city_code", "city_order", "city_name_ja", "city_name_en")
        .agg(
            pl.col("phase_order").filter(status.is_in(ACTIVE_STATUSES)).max().fill_null(0).alias("phase_order"),
            status.is_not_null().sum().alias("steps_total"),
            (status == "done").sum().alias("steps_done"),
            (status == "in_progress").sum().alias("steps_in_progress"),
        )
        .with_columns(pl.col("phase_order").cast(pl.Int32))
    )
    phase_names = phase_table.select(
        pl.col("sort_order").cast(pl.Int32).alias("phase_order"),
        pl.col("code").alias("phase_code"),
        pl.col("label").alias("phase_label"),
        pl.col("name_ja").alias("phase_name_ja"),
        pl.col("name_en").alias("phase_name_en"),
    )
    return (
        counts.join(phase_names, on="phase_order", how="left")
        .select(
            "city_code",
            "city_name_ja",
            "city_name_en",
            "phase_code",
            "phase_label",
            "phase_name_ja",
            "phase_name_en",
            "phase_order",
            pl.col("steps_total").cast(pl.Int64),
            pl.col("steps_done").cast(pl.Int64),
            pl.col("steps_in_progress").cast(pl.Int64),
            "city_order",
        )
        .sort("city_order")
        .drop("city_order")
    )


_CHANGE = ("status_code", "start_label", "start_month", "start_precision", "end_label", "end_month", "note")

# A note as written, whether it came from the file or the app.
_NOTE = ("city_code", "noted_on", "kind", "text")


def progress_history(grid: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Every change, newest first: the file's rows (from nothing, on 記入日) and each in-app event (from → to).

    Only cities and steps present in grid are listed, so a grid for one city gives that city's history.
    """
    cells = grid.select(_IDENTITY)
    from_file = grid.filter(pl.col("status_code").is_not_null()).select(
        *_KEY,
        pl.lit("file").alias("source"),
        pl.lit(None, pl.Int64).alias("event_id"),
        pl.col("recorded_on").alias("changed_on"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("changed_at"),
        pl.col("recorded_by").alias("changed_by"),
        *(pl.lit(None, grid.schema[name]).alias(f"from_{name}") for name in _CHANGE),
        *(pl.col(name).alias(f"to_{name}") for name in _CHANGE),
    )
    from_app = events.select(
        *_KEY,
        pl.lit("app").alias("source"),
        "event_id",
        pl.col("changed_at").dt.convert_time_zone(LOCAL_TZ).dt.date().alias("changed_on"),
        "changed_at",
        "changed_by",
        *(pl.col(f"previous_{name}").alias(f"from_{name}") for name in _CHANGE),
        *(pl.col(name).alias(f"to_{name}") for name in _CHANGE),
    )
    both = pl.concat([from_file, from_app.cast(from_file.schema)], how="vertical")
    return (
        both.join(cells, on=_KEY, how="inner")
        .with_columns((pl.col("source") == "app").cast(pl.Int8).alias("_rank"))
        .sort(
            ["changed_on", "_rank", "event_id", "city_order", "step_order"],
            descending=[True, True, True, False, False],
            nulls_last=True,
        )
        .drop("_rank")
    )


def notes_view(file_notes: pl.DataFrame, note_events: pl.DataFrame, city_code: str | None = None) -> pl.DataFrame:
    """File notes and in-app notes together (one city, or all), oldest first; a note is never replaced."""
    from_file = file_notes.select(
        *_NOTE,
        pl.lit("file").alias("source"),
        pl.lit(None, pl.String).alias("recorded_by"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("recorded_at"),
        pl.lit(None, pl.Int64).alias("event_id"),
    )
    from_app = note_events.select(
        *_NOTE,
        pl.lit("app").alias("source"),
        pl.col("changed_by").alias("recorded_by"),
        pl.col("changed_at").alias("recorded_at"),
        "event_id",
    )
    both = pl.concat([from_file, from_app.cast(from_file.schema)], how="vertical")
    if city_code is not None:
        both = both.filter(pl.col("city_code") == city_code)
    # Within a day the file's notes come first; in-app notes keep their append order.
    return (
        both.with_row_index("_seq")
        .with_columns((pl.col("source") == "app").cast(pl.Int8).alias("_rank"))
        .sort(["noted_on", "_rank", "event_id", "_seq"], nulls_last=False)
        .drop("_seq", "_rank")
    )
