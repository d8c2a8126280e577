"""Chart builders for the cross-year views: the mix of two 年度 side by side, and coverage gaps closed or opened."""

from __future__ import annotations

import altair as alt
import polars as pl

from dashboard.charts import PRIMARY, PRIMARY_PALE
from dashboard.i18n import translate

YEAR_COLOURS = (PRIMARY_PALE, PRIMARY)  # earlier year, later year
# closed (good news), opened (a new gap), remaining
CHANGE_COLOURS = {"closed": "#4caf50", "opened": "#d1495b", "remaining": "#b0b7bf"}
LABEL_LIMIT = 240  # px before an axis label is cut with …
COUNT_AXIS = alt.Axis(tickMinStep=1, format="d")  # counts: whole numbers only


def _t(lang: str, key: str, **values: object) -> str:
    """Message of the cross-year views' catalogue."""
    return translate(lang, f"years_b.{key}", **values)


def mix_long(mix: pl.DataFrame, earlier_label: str, later_label: str) -> pl.DataFrame:
    """The comparison (years_mix.mix_comparison) as one row per term and year: term_label, year, orgs, share_pct."""
    return pl.concat(
        [
            mix.select(
                "term_label",
                pl.lit(label).alias("year"),
                pl.lit(order).alias("year_order"),
                pl.col(f"{side}_orgs").alias("orgs"),
                pl.col(f"{side}_share_pct").alias("share_pct"),
            )
            for order, (side, label) in enumerate((("earlier", earlier_label), ("later", later_label)))
        ]
    )


def mix_chart(mix: pl.DataFrame, lang: str, earlier_label: str, later_label: str) -> alt.Chart:
    """Horizontal bars: each term's share of answering organisations in the two years, side by side."""
    data = mix_long(mix, earlier_label, later_label)
    terms = mix["term_label"].to_list()
    years = [earlier_label, later_label]
    return (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=2)
        .encode(
            y=alt.Y("term_label:N", sort=terms, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
            yOffset=alt.YOffset("year:N", sort=years),
            x=alt.X("share_pct:Q", title=_t(lang, "col.share_pct")),
            color=alt.Color(
                "year:N",
                sort=years,
                scale=alt.Scale(domain=years, range=list(YEAR_COLOURS)),
                legend=alt.Legend(title=None, orient="top"),
            ),
            tooltip=[
                alt.Tooltip("term_label:N", title=_t(lang, "col.term")),
                alt.Tooltip("year:N", title=_t(lang, "col.year")),
                alt.Tooltip("orgs:Q", title=_t(lang, "col.orgs")),
                alt.Tooltip("share_pct:Q", title=_t(lang, "col.share_pct"), format=".1f"),
            ],
        )
        .properties(height=alt.Step(12))
    )


def gap_change_chart(counts: pl.DataFrame, lang: str) -> alt.Chart:
    """Bars per city: how many city × support form gaps closed, opened or remained between the two years."""
    changes = list(CHANGE_COLOURS)
    labels = [_t(lang, f"change.{change}") for change in changes]
    data = counts.with_columns(
        pl.col("change").replace_strict(dict(zip(changes, labels, strict=True))).alias("change_label")
    )
    cities = counts["city_label"].unique(maintain_order=True).to_list()
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("city_label:N", sort=cities, title=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("change_label:N", sort=labels),
            y=alt.Y("cells:Q", title=_t(lang, "col.cells"), axis=COUNT_AXIS),
            color=alt.Color(
                "change_label:N",
                sort=labels,
                scale=alt.Scale(domain=labels, range=list(CHANGE_COLOURS.values())),
                legend=alt.Legend(title=None, orient="top"),
            ),
            tooltip=[
                alt.Tooltip("city_label:N", title=_t(lang, "col.city")),
                alt.Tooltip("change_label:N", title=_t(lang, "col.change")),
                alt.Tooltip("cells:Q", title=_t(lang, "col.cells")),
            ],
        )
        .properties(height=220)
    )
