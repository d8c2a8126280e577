"""Chart builders for 活動分布: sunburst, support-form ranking and heat table, breakdowns, survey reach."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import altair as alt
import polars as pl

from dashboard.charts import PRIMARY, PRIMARY_PALE, TEXT_DARK, tooltips
from dashboard.i18n import translate

TAU = 2 * math.pi
# Name of the sunburst's point selection: st.altair_chart reports event["selection"][SELECTION].
SELECTION = "group"
SUNBURST_SIZE = 460  # px, width and height of the sunburst
# Ring radii in px (inner edge, outer edge); the hole in the middle holds N.
INNER_RING = (62, 140)
OUTER_RING = (144, 222)
# Arc labels: 11 px text; a label is drawn only where it fits (see _fits), otherwise the tooltip has it.
LABEL_PX = 11
LINE_PX = 14
# One colour per content group, by its position in the taxonomy (stable under filters).
GROUP_COLOURS = (PRIMARY, "#e07b39", "#4caf50", "#8e6cc1", "#d1495b", "#00a3a1", "#b8860b", "#7f8c8d")
REACH_COLOURS = (PRIMARY_PALE, PRIMARY)  # distributed, answered
LABEL_LIMIT = 240  # px before an axis label is cut with …
FACET_COLUMNS = 4  # small-multiples panels per row (they share the term axis on the left)
COUNT_AXIS = alt.Axis(tickMinStep=1, format="d")  # counts of organisations: whole numbers only


def _t(lang: str, key: str, **values: object) -> str:
    """Message of this page's catalogue."""
    return translate(lang, f"activity.{key}", **values)


def _fits(label: str, mid_radius: float) -> pl.Expr:
    """Whether each arc's label fits: the arc at mid radius must cover the text's extent along it."""
    # Horizontal text: its width counts near the top and bottom of the circle, its line height at the sides.
    theta = (pl.col("theta") + pl.col("theta2")) / 2
    arc = (pl.col("theta2") - pl.col("theta")) * mid_radius
    extent = theta.cos().abs() * pl.col(label).str.len_chars() * LABEL_PX + theta.sin().abs() * LINE_PX
    return arc >= extent


def sunburst_data(counts: pl.DataFrame, group: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Arc geometry (radians, px) of the group ring and the category ring, from query.activity.content_counts."""
    # A group's angle is proportional to its organisations; its categories share that angle in proportion
    # to theirs, so each category sits inside its group. With group set, that group fills the circle.
    if group is not None:
        counts = counts.filter(pl.col("group_code") == group)
    groups = counts.select("group_code", "group_label", "group_rank", "group_orgs", "group_share_pct").unique(
        maintain_order=True
    )
    total = groups["group_orgs"].sum() or 1
    end = pl.col("group_orgs").cum_sum() * TAU / total
    groups = groups.with_columns(
        theta=end - pl.col("group_orgs") * TAU / total,
        theta2=end,
        colour=pl.Series([GROUP_COLOURS[(rank - 1) % len(GROUP_COLOURS)] for rank in groups["group_rank"]]),
    )
    mid = (INNER_RING[0] + INNER_RING[1]) / 2
    groups = groups.with_columns(
        r_inner=pl.lit(INNER_RING[0]),
        r_outer=pl.lit(INNER_RING[1]),
        theta_mid=(pl.col("theta") + pl.col("theta2")) / 2,
        r_mid=pl.lit(mid),
        text=pl.when(_fits("group_label", mid)).then(pl.col("group_label")).otherwise(pl.lit("")),
    )

    span = pl.col("theta2") - pl.col("theta")
    cum = pl.col("category_orgs").cum_sum().over("group_code")
    within = pl.col("category_orgs").sum().over("group_code")
    mid = (OUTER_RING[0] + OUTER_RING[1]) / 2
    categories = (
        counts.drop("group_share_pct")
        .join(groups.select("group_code", "theta", "theta2", "colour"), on="group_code", maintain_order="left")
        .with_columns(
            theta_c=pl.col("theta") + (cum - pl.col("category_orgs")) / within * span,
            theta2_c=pl.col("theta") + cum / within * span,
        )
        .drop("theta", "theta2")
        .rename({"theta_c": "theta", "theta2_c": "theta2"})
        .with_columns(
            r_inner=pl.lit(OUTER_RING[0]),
            r_outer=pl.lit(OUTER_RING[1]),
            theta_mid=(pl.col("theta") + pl.col("theta2")) / 2,
            r_mid=pl.lit(mid),
        )
        .with_columns(text=pl.when(_fits("category_label", mid)).then(pl.col("category_label")).otherwise(pl.lit("")))
    )
    return groups, categories


def _arcs(data: pl.DataFrame) -> alt.Chart:
    """Arc marks positioned by precomputed angles (radians) and radii (px): no scales."""
    return alt.Chart(data).encode(
        theta=alt.Theta("theta:Q", scale=None),
        theta2=alt.Theta2("theta2:Q"),
        radius=alt.Radius("r_outer:Q", scale=None),
        radius2=alt.Radius2("r_inner:Q"),
        color=alt.Color("colour:N", scale=None),
    )


def _labels(data: pl.DataFrame, colour: str) -> alt.Chart:
    """Text at the middle of each arc (empty text for arcs too short to label)."""
    return (
        alt.Chart(data)
        .mark_text(fontSize=11, color=colour)
        .encode(
            theta=alt.Theta("theta_mid:Q", scale=None),
            radius=alt.Radius("r_mid:Q", scale=None),
            text=alt.Text("text:N"),
        )
    )


def sunburst_chart(counts: pl.DataFrame, n: int, lang: str, group: str | None = None) -> alt.LayerChart:
    """Two-ring sunburst of query.activity.content_counts: clickable groups inside, categories outside."""
    groups, categories = sunburst_data(counts, group)
    orgs, share = _t(lang, "col.orgs"), _t(lang, "col.share_pct")
    pick = alt.selection_point(name=SELECTION, fields=["group_code"], on="click")
    inner = (
        _arcs(groups)
        .mark_arc(stroke="white", strokeWidth=2, cursor="pointer")
        .encode(
            tooltip=[
                alt.Tooltip("group_label:N", title=_t(lang, "col.group")),
                alt.Tooltip("group_orgs:Q", title=orgs),
                alt.Tooltip("group_share_pct:Q", title=share, format=".1f"),
            ]
        )
        .add_params(pick)
    )
    outer = (
        _arcs(categories)
        .mark_arc(stroke="white", strokeWidth=1, opacity=0.7)
        .encode(
            tooltip=[
                alt.Tooltip("group_label:N", title=_t(lang, "col.group")),
                alt.Tooltip("category_label:N", title=_t(lang, "col.category")),
                alt.Tooltip("category_orgs:Q", title=orgs),
                alt.Tooltip("category_share_pct:Q", title=share, format=".1f"),
            ]
        )
    )
    centre = pl.DataFrame({"theta": [0.0], "r": [0.0], "text": [f"N={n}\n{_t(lang, 'unit_orgs')}"]})
    middle = (
        alt.Chart(centre)
        .mark_text(fontSize=14, fontWeight="bold", color=TEXT_DARK, lineBreak="\n")
        .encode(theta=alt.Theta("theta:Q", scale=None), radius=alt.Radius("r:Q", scale=None), text="text:N")
    )
    return alt.layer(inner, outer, _labels(groups, "white"), _labels(categories, TEXT_DARK), middle).properties(
        width=SUNBURST_SIZE, height=SUNBURST_SIZE
    )


def selected_group(event: Mapping[str, Any] | None) -> str | None:
    """Content group code clicked on the sunburst, from st.altair_chart's selection event (None if none)."""
    if not event:
        return None
    points = (event.get("selection") or {}).get(SELECTION) or []
    codes = [point.get("group_code") for point in points if point.get("group_code")]
    return codes[0] if codes else None


def form_ranking_chart(forms: pl.DataFrame, lang: str) -> alt.LayerChart:
    """Horizontal bars of organisations per support form, most frequent first, coloured by the form's colour."""
    order = forms["form_label"].to_list()
    base = alt.Chart(forms).encode(
        y=alt.Y("form_label:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
        x=alt.X("orgs:Q", title=_t(lang, "col.orgs"), axis=COUNT_AXIS),
        tooltip=tooltips(lang, "activity.col", "rank:Q", "form_label:N", "orgs:Q", "share_pct:Q"),
    )
    bars = base.mark_bar(cornerRadiusEnd=3).encode(color=alt.Color("color_hex:N", scale=None))
    text = base.mark_text(align="left", dx=4, color=TEXT_DARK).encode(text=alt.Text("orgs:Q"))
    return (bars + text).properties(height=alt.Step(28))


def form_city_heatmap(matrix: pl.DataFrame, lang: str) -> alt.LayerChart:
    """Heat table: support forms (rows, by rank) × cities (columns), cell colour and text = organisations."""
    forms = matrix.sort("form_rank")["form_label"].unique(maintain_order=True).to_list()
    cities = matrix["city_label"].unique(maintain_order=True).to_list()
    half = (matrix["orgs"].max() or 0) / 2
    base = alt.Chart(matrix).encode(
        x=alt.X("city_label:N", sort=cities, title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("form_label:N", sort=forms, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("orgs:Q", title=_t(lang, "col.orgs"), scale=alt.Scale(scheme="blues")),
        tooltip=tooltips(lang, "activity.col", "city_label:N", "form_label:N", "orgs:Q"),
    )
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("orgs:Q"),
        color=alt.condition(alt.datum.orgs > half, alt.value("white"), alt.value(TEXT_DARK)),
    )
    return (cells + text).properties(height=alt.Step(30), width=alt.Step(90))


def breakdown_chart(frame: pl.DataFrame, by: str, lang: str, small_multiples: bool = False) -> alt.Chart:
    """Bars of query.activity.breakdown (by = its dimension): grouped, or one panel per value (small multiples)."""
    terms = frame["term_label"].unique(maintain_order=True).to_list()
    values = frame["by_label"].unique(maintain_order=True).to_list()
    by_title = _t(lang, f"by.{by}")
    tooltip = [
        alt.Tooltip("by_label:N", title=by_title),
        *tooltips(lang, "activity.col", "term_label:N", "orgs:Q", "respondents:Q", "share_pct:Q"),
    ]
    colour = alt.Color("by_label:N", sort=values, title=by_title, scale=alt.Scale(scheme="tableau10"))
    base = alt.Chart(frame).mark_bar(cornerRadiusEnd=2)
    if small_multiples:
        return (
            base.encode(
                y=alt.Y("term_label:N", sort=terms, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
                x=alt.X("orgs:Q", title=_t(lang, "col.orgs"), axis=COUNT_AXIS),
                color=colour.legend(None),
                tooltip=tooltip,
            )
            .properties(width=150, height=alt.Step(24))
            .facet(facet=alt.Facet("by_label:N", sort=values, title=None), columns=FACET_COLUMNS)
        )
    return base.encode(
        y=alt.Y("term_label:N", sort=terms, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
        yOffset=alt.YOffset("by_label:N", sort=values),
        x=alt.X("orgs:Q", title=_t(lang, "col.orgs"), axis=COUNT_AXIS),
        color=colour,
        tooltip=tooltip,
    ).properties(height=alt.Step(max(12, 26 // max(1, len(values)))))  # px per bar (with yOffset the step is per bar)


def reach_chart(frame: pl.DataFrame, lang: str) -> alt.LayerChart:
    """Distributed vs answered bars per row of query.activity.reach, with counts at the bar ends."""
    distributed, answered = _t(lang, "col.distributed"), _t(lang, "col.answered")
    long = frame.unpivot(
        index=["label", "rate_pct"], on=["distributed", "answered"], variable_name="measure", value_name="orgs"
    ).with_columns(pl.col("measure").replace_strict({"distributed": distributed, "answered": answered}))
    labels = frame["label"].to_list()
    base = alt.Chart(long).encode(
        y=alt.Y("label:N", sort=labels, title=None),
        yOffset=alt.YOffset("measure:N", sort=[distributed, answered]),
        x=alt.X("orgs:Q", title=_t(lang, "col.orgs"), axis=COUNT_AXIS),
        tooltip=tooltips(lang, "activity.col", "label:N", "measure:N", "orgs:Q", "rate_pct:Q"),
    )
    bars = base.mark_bar(cornerRadiusEnd=2).encode(
        color=alt.Color(
            "measure:N",
            title=None,
            sort=[distributed, answered],
            scale=alt.Scale(domain=[distributed, answered], range=list(REACH_COLOURS)),
            legend=alt.Legend(orient="top"),
        )
    )
    text = base.mark_text(align="left", dx=3, fontSize=11, color=TEXT_DARK).encode(text=alt.Text("orgs:Q"))
    return (bars + text).properties(height=alt.Step(14))
