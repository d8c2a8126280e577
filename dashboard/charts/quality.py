"""Data-quality charts: trends over runs."""

from __future__ import annotations

import altair as alt
import polars as pl

SERIES = ("rows_read", "rows_quarantined", "checks_failed")


def trend_chart(runs: pl.DataFrame, labels: dict[str, str], lang: str) -> alt.Chart:
    """Lines of rows read, rows quarantined and failed checks per run, oldest first."""
    data = (
        runs.sort("started_at")
        .select("run_id", "started_at", *SERIES)
        .unpivot(index=["run_id", "started_at"], on=list(SERIES), variable_name="measure", value_name="value")
        .with_columns(pl.col("measure").replace_strict(labels))
        .to_pandas()
    )
    title = {"ja": ("取込日時", "件数", "指標", "実行ID"), "en": ("Run time", "Count", "Measure", "Run id")}[lang]
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("started_at:T", title=title[0]),
            y=alt.Y("value:Q", title=title[1]),
            color=alt.Color("measure:N", title=title[2]),
            tooltip=[
                alt.Tooltip("run_id:N", title=title[3]),
                alt.Tooltip("measure:N", title=title[2]),
                alt.Tooltip("value:Q", title=title[1]),
            ],
        )
        .properties(height=220)
    )
