"""Chart builders: frames in, alt.Chart out (no streamlit here)."""

from __future__ import annotations

import altair as alt
import polars as pl

from dashboard.charts import PRIMARY, TEXT_DARK
from dashboard.i18n import PHASE_CODES, phase_marker, with_phase_markers


def phase_chart(phases: pl.DataFrame, lang: str) -> alt.Chart:
    """Bar per city up to the phase it has reached (1 = (ア) … 4 = (エ))."""
    name = "name_ja" if lang == "ja" else "name_en"
    phase_name = "phase_name_ja" if lang == "ja" else "phase_name_en"
    data = (
        with_phase_markers(phases, lang)
        .select(
            pl.col(name).alias("city"),
            pl.col("phase_order").alias("phase"),
            (pl.col("phase_label").fill_null("") + pl.col(phase_name).fill_null("—")).alias("label"),
            "steps_done",
            "steps_in_progress",
            "steps_total",
        )
        .to_pandas()
    )
    titles = {
        "ja": ("到達段階", "市", "段階", "完了", "進行中", "ステップ数"),
        "en": ("Phase reached", "City", "Phase", "Done", "In progress", "Steps"),
    }[lang]
    markers = ", ".join(f"'{phase_marker(lang, code)}'" for code in PHASE_CODES)
    axis_labels = f"['', {markers}][datum.value]"
    base = alt.Chart(data).encode(
        y=alt.Y("city:N", title=titles[1], sort=None),
        x=alt.X(
            "phase:Q",
            title=titles[0],
            scale=alt.Scale(domain=[0, 4]),
            axis=alt.Axis(values=[0, 1, 2, 3, 4], labelExpr=axis_labels),
        ),
        tooltip=[
            alt.Tooltip("city:N", title=titles[1]),
            alt.Tooltip("label:N", title=titles[2]),
            alt.Tooltip("steps_done:Q", title=titles[3]),
            alt.Tooltip("steps_in_progress:Q", title=titles[4]),
            alt.Tooltip("steps_total:Q", title=titles[5]),
        ],
    )
    bars = base.mark_bar(color=PRIMARY, cornerRadiusEnd=3)
    text = base.mark_text(align="left", dx=4, color=TEXT_DARK).encode(text="label:N")
    return (bars + text).properties(height=alt.Step(34))


def city_kpis_download(table: pl.DataFrame) -> pl.DataFrame:
    """The per-city figures for the CSV: a consultee figure withheld from the viewer is empty (null), never text in a number column."""
    return table.with_columns(
        pl.when(pl.col("consultees_hidden"))
        .then(pl.lit(None, dtype=pl.Int64))
        .otherwise(pl.col("workshop_consultee_participations").cast(pl.Int64))
        .alias("workshop_consultee_participations")
    ).drop("consultees_hidden")
