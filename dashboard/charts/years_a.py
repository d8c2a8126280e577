"""Cross-year comparisons of イベント実績 and PF構築プロセス: display tables and charts (no streamlit here)."""

from __future__ import annotations

import altair as alt
import polars as pl

from common.calendar import fiscal_year_label
from dashboard.charts import PRIMARY
from dashboard.charts.progress import STATUS_COLOURS
from dashboard.i18n import translate

# The event figures the chart draws (one panel each); the table lists every figure of event_years.
CHARTED_EVENT_FIGURES = ("exhibition_visitors", "workshop_participations", "symposium_participants", "total_reach")


def year_label(fiscal_year: int, lang: str) -> str:
    """A 年度 as a column or axis label: R6年度（2024） in Japanese, FY2024 (R6) in English (和暦 and 西暦 both)."""
    if lang == "ja":
        return f"{fiscal_year_label(fiscal_year, 'ja')}（{fiscal_year}）"
    return f"{fiscal_year_label(fiscal_year, 'en')} ({fiscal_year_label(fiscal_year, 'ja').removesuffix('年度')})"


def event_years_table(years: pl.DataFrame, figures: tuple[str, ...], lang: str) -> pl.DataFrame:
    """One row per figure, one column per 年度, and the change of the last year from the one before it."""
    labels = [year_label(year, lang) for year in years["fiscal_year"]]
    rows = {"figure": [translate(lang, f"yoy.event.{figure}") for figure in figures]}
    for label, row in zip(labels, years.iter_rows(named=True), strict=True):
        rows[label] = [row[figure] for figure in figures]
    if years.height > 1:
        last, before = years.row(-1, named=True), years.row(-2, named=True)
        rows["change"] = [
            None if last[figure] is None or before[figure] is None else last[figure] - before[figure]
            for figure in figures
        ]
    return pl.DataFrame(rows, schema={"figure": pl.String, **{label: pl.Int64 for label in rows if label != "figure"}})


def event_years_chart(years: pl.DataFrame, lang: str) -> alt.FacetChart:
    """Bars per 年度 for each charted figure, one panel per figure on its own scale."""
    long = pl.DataFrame(
        {
            "year": [year_label(row["fiscal_year"], lang) for row in years.iter_rows(named=True)]
            * len(CHARTED_EVENT_FIGURES),
            "figure": [
                translate(lang, f"yoy.event.{figure}") for figure in CHARTED_EVENT_FIGURES for _ in range(years.height)
            ],
            "value": [row[figure] for figure in CHARTED_EVENT_FIGURES for row in years.iter_rows(named=True)],
        }
    )
    order = [translate(lang, f"yoy.event.{figure}") for figure in CHARTED_EVENT_FIGURES]
    year_title = translate(lang, "yoy.chart.year")
    value_title = translate(lang, "yoy.chart.people")
    return (
        alt.Chart(long.to_pandas())
        .mark_bar(color=PRIMARY)
        .encode(
            x=alt.X("year:N", title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", title=value_title),
            tooltip=[
                alt.Tooltip("figure:N", title=translate(lang, "yoy.chart.figure")),
                alt.Tooltip("year:N", title=year_title),
                alt.Tooltip("value:Q", title=value_title, format=","),
            ],
        )
        .properties(width=150, height=180)
        .facet(column=alt.Column("figure:N", sort=order, title=None))
        .resolve_scale(y="independent")
    )


def _status(lang: str) -> str:
    """The status-name column of progress_years in the language."""
    return "status_name_ja" if lang == "ja" else "status_name_en"


def _step(row: dict, lang: str) -> str:
    """A step as listed: ① 主担当部署・主担当者の設定."""
    return f"{row['step_label']} {row['step_name_ja' if lang == 'ja' else 'step_name_en']}"


def progress_years_table(progress: pl.DataFrame, lang: str) -> pl.DataFrame:
    """One row per step, one column per city: the status each year's file recorded, oldest first (未着手 → 完了)."""
    city = "city_name_ja" if lang == "ja" else "city_name_en"
    cities = progress.sort("city_order")[city].unique(maintain_order=True).to_list()
    steps: dict[str, dict[str, list[str]]] = {}
    for row in progress.sort("step_order", "city_order", "fiscal_year").iter_rows(named=True):
        cells = steps.setdefault(_step(row, lang), {name: [] for name in cities})
        cells[row[city]].append(f"{fiscal_year_label(row['fiscal_year'], lang)} {row[_status(lang)]}")
    rows = {"step": list(steps)}
    for name in cities:
        rows[name] = [" → ".join(cells[name]) or "—" for cells in steps.values()]
    return pl.DataFrame(rows, schema={"step": pl.String, **{name: pl.String for name in cities}})


def progress_years_chart(progress: pl.DataFrame, statuses: pl.DataFrame, lang: str) -> alt.FacetChart:
    """Heat grid per city: steps down, 年度 across, each cell coloured by the status that year's file recorded."""
    city = "city_name_ja" if lang == "ja" else "city_name_en"
    data = pl.DataFrame(
        [
            {
                "city": row[city],
                "step": _step(row, lang),
                "year": year_label(row["fiscal_year"], lang),
                "status": row[_status(lang)],
            }
            for row in progress.sort("city_order", "step_order", "fiscal_year").iter_rows(named=True)
        ],
        schema={"city": pl.String, "step": pl.String, "year": pl.String, "status": pl.String},
    )
    ordered = statuses.sort("sort_order")
    colours = alt.Scale(
        domain=ordered["name_ja" if lang == "ja" else "name_en"].to_list(),
        range=[STATUS_COLOURS[code] for code in ordered["code"]],
    )
    steps = progress.sort("step_order").unique("step_code", maintain_order=True)
    step_order = [_step(row, lang) for row in steps.iter_rows(named=True)]
    cities = progress.sort("city_order")[city].unique(maintain_order=True).to_list()
    titles = {field: translate(lang, f"yoy.chart.{field}") for field in ("city", "step", "year", "status")}
    return (
        alt.Chart(data.to_pandas())
        .mark_rect(stroke="#ffffff", strokeWidth=2)
        .encode(
            x=alt.X("year:N", title=None, axis=alt.Axis(orient="top", labelAngle=0)),
            y=alt.Y("step:N", sort=step_order, title=None, axis=alt.Axis(labelLimit=260)),
            color=alt.Color("status:N", scale=colours, title=titles["status"]),
            tooltip=[alt.Tooltip(f"{field}:N", title=title) for field, title in titles.items()],
        )
        .properties(width=alt.Step(70), height=alt.Step(26))
        .facet(column=alt.Column("city:N", sort=cities, title=None))
    )
