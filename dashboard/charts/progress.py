"""PF構築プロセス: 年度 labels, the status grid, the timeline and the display tables (no streamlit here)."""

from __future__ import annotations

import datetime as dt
import re

import altair as alt
import polars as pl

from common.calendar import date_label, fiscal_year, moment_label, nendo_label, vega_nendo_label
from dashboard.charts import PRIMARY, TEXT_DARK
from dashboard.i18n import phase_marker, translate

# Status colours by code: done is the app's primary blue, in progress a lighter blue.
STATUS_COLOURS = {
    "not_started": "#e7e6e6",
    "in_progress": "#9dc3e6",
    "done": PRIMARY,
    "undecided": "#fbe5d6",
}
# Text on a status cell: white only on the dark "done" colour.
_DARK = ("done",)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def month_axis_label(lang: str) -> str:
    """Vega expression for a month axis tick (UTC dates): its 年度 label (FY in English) and its western month."""
    return f"[{vega_nendo_label('datum.value', lang)}, utcFormat(datum.value, '%Y-%m')]"


def month_label(month: dt.date | None, lang: str, precision: str | None = "month") -> str:
    """A 年度 month with its western month: "R6年度2月 (2025-02)", in English "FY2024 Feb (2025-02)"; — when missing."""
    if month is None:
        return "—"
    nendo = nendo_label(month, precision or "month", lang)
    if precision == "fiscal_year":
        western = translate(lang, "progress.fiscal_year_western", year=fiscal_year(month))
        # English FY2025 is already western.
        return f"{nendo} ({western})" if lang == "ja" else nendo
    return f"{nendo} ({month:%Y-%m})"


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown syntax so user text shows literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _name(lang: str) -> str:
    """Suffix of the name columns for a language."""
    return "ja" if lang == "ja" else "en"


def cell_text(row: dict, lang: str) -> str:
    """A matrix cell: status with its start and end months (— when the step has no status)."""
    status = row.get(f"status_name_{_name(lang)}")
    if status is None:
        return "—"
    start = month_label(row.get("start_month"), lang, row.get("start_precision"))
    if row.get("start_month") is None:
        return status
    if row.get("end_month") is not None:
        end = month_label(row["end_month"], lang)
        return translate(lang, "progress.cell.range", status=status, start=start, end=end)
    if row.get("status_code") == "in_progress":
        return translate(lang, "progress.cell.open", status=status, start=start)
    return translate(lang, "progress.cell.planned", status=status, start=start)


def step_title(row: dict, lang: str) -> str:
    """① 主担当部署・主担当者の設定."""
    return f"{row['step_label']} {row[f'step_name_{_name(lang)}']}"


def matrix_table(view: pl.DataFrame, lang: str) -> pl.DataFrame:
    """Steps as rows (with their phase), one column per city code holding the cell text."""
    rows: dict[str, dict] = {}
    for row in view.sort(["step_order", "city_order"]).iter_rows(named=True):
        line = rows.setdefault(
            row["step_code"],
            {
                "step": step_title(row, lang),
                "phase": f"{phase_marker(lang, row['phase_code'])} {row[f'phase_name_{_name(lang)}']}",
            },
        )
        line[row["city_code"]] = cell_text(row, lang)
    cities = view.sort("city_order")["city_code"].unique(maintain_order=True).to_list()
    schema = {"step": pl.String, "phase": pl.String, **{code: pl.String for code in cities}}
    return pl.DataFrame(list(rows.values()), schema=schema)


def _display_frame(view: pl.DataFrame, lang: str) -> pl.DataFrame:
    """View rows with the labels the charts show (city, step, phase, status, months, note, last update)."""
    name = _name(lang)
    labels: dict[str, list[str]] = {key: [] for key in ("city", "step", "phase", "status", "start", "end", "updated")}
    for row in view.iter_rows(named=True):
        labels["city"].append(row[f"city_name_{name}"])
        labels["step"].append(step_title(row, lang))
        labels["phase"].append(f"{phase_marker(lang, row['phase_code'])} {row[f'phase_name_{name}']}")
        labels["status"].append(row[f"status_name_{name}"] or "—")
        labels["start"].append(month_label(row["start_month"], lang, row["start_precision"]))
        labels["end"].append(month_label(row["end_month"], lang))
        labels["updated"].append(f"{row['updated_by'] or '—'} {date_label(row['updated_on'], lang)}")
    return view.with_columns(
        *(pl.Series(key, values, dtype=pl.String) for key, values in labels.items()),
        pl.col("note").fill_null("—"),
    )


def _status_scale(statuses: pl.DataFrame, lang: str) -> alt.Scale:
    """Fixed status colours, legend in status order."""
    ordered = statuses.sort("sort_order")
    return alt.Scale(
        domain=ordered[f"name_{_name(lang)}"].to_list(),
        range=[STATUS_COLOURS[code] for code in ordered["code"]],
    )


def _tooltip(lang: str) -> list[alt.Tooltip]:
    """Hover details of a cell or bar."""
    return [
        alt.Tooltip(f"{field}:N", title=translate(lang, f"progress.chart.{field}"))
        for field in ("city", "step", "phase", "status", "start", "end", "note", "updated")
    ]


def status_grid(view: pl.DataFrame, statuses: pl.DataFrame, lang: str) -> alt.LayerChart:
    """Heat grid: steps down, cities across, coloured by status, with the status name in each cell."""
    data = _display_frame(view, lang).with_columns(pl.col("status_code").is_in(_DARK).fill_null(False).alias("dark"))
    steps = data.sort("step_order")["step"].unique(maintain_order=True).to_list()
    cities = data.sort("city_order")["city"].unique(maintain_order=True).to_list()
    base = alt.Chart(data.to_pandas()).encode(
        x=alt.X("city:N", sort=cities, title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("step:N", sort=steps, title=None, axis=alt.Axis(labelLimit=320)),
        tooltip=_tooltip(lang),
    )
    cells = base.mark_rect(stroke="#ffffff", strokeWidth=2).encode(
        color=alt.Color("status:N", scale=_status_scale(statuses, lang), title=translate(lang, "progress.chart.status"))
    )
    text = base.mark_text(fontSize=12).encode(
        text="status:N",
        color=alt.condition(alt.datum.dark, alt.value("#ffffff"), alt.value(TEXT_DARK)),
    )
    return (cells + text).properties(height=alt.Step(30))


def timeline(view: pl.DataFrame, statuses: pl.DataFrame, lang: str, today: dt.date) -> alt.FacetChart:
    """Gantt per city: start → completion month, in-progress bars open to today, planned starts as ◇."""
    data = _display_frame(view.filter(pl.col("start_month").is_not_null()), lang)
    month_end = pl.col("end_month").dt.offset_by("1mo")
    data = data.with_columns(
        pl.when(pl.col("status_code") == "done")
        .then(pl.lit("bar"))
        .when(pl.col("status_code") == "in_progress")
        .then(pl.lit("open"))
        .otherwise(pl.lit("planned"))
        .alias("kind"),
        pl.when(pl.col("status_code") == "done")
        .then(month_end)
        .when(pl.col("status_code") == "in_progress")
        .then(pl.max_horizontal(pl.lit(today), pl.col("start_month").dt.offset_by("1mo")))
        .otherwise(pl.col("start_month"))
        .alias("bar_end"),
    ).with_columns(
        # ISO date strings are read as UTC by the browser, matching the utc scale and labels below.
        pl.col("start_month").dt.strftime("%Y-%m-%d").alias("bar_start"),
        pl.col("bar_end").dt.strftime("%Y-%m-%d"),
    )
    ordered = _display_frame(view, lang)
    steps = ordered.sort("step_order")["step"].unique(maintain_order=True).to_list()
    cities = ordered.sort("city_order")["city"].unique(maintain_order=True).to_list()
    x_axis = alt.Axis(
        labelExpr=month_axis_label(lang),
        tickCount={"interval": "month", "step": 3},
        grid=True,
        title=translate(lang, "progress.chart.month_axis"),
    )
    x = alt.X("bar_start:T", scale=alt.Scale(type="utc"), axis=x_axis)
    y = alt.Y("step:N", sort=steps, title=None, axis=alt.Axis(labelLimit=320))
    colour = alt.Color("status:N", scale=_status_scale(statuses, lang), title=translate(lang, "progress.chart.status"))
    tooltip = _tooltip(lang)
    bars = (
        alt.Chart()
        .transform_filter(alt.FieldOneOfPredicate(field="kind", oneOf=["bar", "open"]))
        .mark_bar(height=14, cornerRadius=2)
        .encode(x=x, x2="bar_end:T", y=y, color=colour, tooltip=tooltip)
    )
    open_ends = (
        alt.Chart()
        .transform_filter(alt.datum.kind == "open")
        .mark_point(shape="triangle-right", filled=True, size=90, color=PRIMARY, opacity=1, xOffset=6)
        .encode(x=alt.X("bar_end:T", scale=alt.Scale(type="utc")), y=y, tooltip=tooltip)
    )
    planned = (
        alt.Chart()
        .transform_filter(alt.datum.kind == "planned")
        .mark_point(shape="diamond", filled=False, size=80, strokeWidth=2, color="#595959")
        .encode(x=x, y=y, tooltip=tooltip)
    )
    today_rule = (
        alt.Chart()
        .mark_rule(color="#c00000", strokeDash=[4, 3])
        .encode(x=alt.X("today:T", scale=alt.Scale(type="utc")))
        .transform_calculate(today=f"utc({today.year}, {today.month - 1}, {today.day})")
    )
    layered = alt.layer(bars, open_ends, planned, today_rule, data=data.drop("updated_at").to_pandas())
    return layered.properties(width=560, height=alt.Step(20)).facet(
        row=alt.Row("city:N", sort=cities, title=None, header=alt.Header(labelAngle=0, labelAlign="left"))
    )


def _start(row: dict, side: str, lang: str) -> str:
    """A history row's start month (from_ or to_ side) in 和暦 and 西暦, or its label such as 未定."""
    month = row[f"{side}_start_month"]
    if month is None:
        label = row[f"{side}_start_label"]
        # 未定 is the file's word for "no month yet" (common.calendar), shown in the viewer's language.
        return translate(lang, "app.undecided") if label and label.strip().rstrip("~〜") == "未定" else label or "—"
    return month_label(month, lang, row[f"{side}_start_precision"])


def history_table(history: pl.DataFrame, statuses: pl.DataFrame, lang: str) -> pl.DataFrame:
    """The change history with labels: when, city, step, who, source, status/start/end before → after, note."""
    name = _name(lang)
    status_names = dict(zip(statuses["code"], statuses[f"name_{name}"], strict=True))
    rows = []
    for row in history.iter_rows(named=True):
        # An in-app change has its moment (Japan time, labelled JST); a file row only its date.
        changed = moment_label(row["changed_at"], lang) if row["changed_at"] else date_label(row["changed_on"], lang)
        rows.append(
            {
                "changed": changed,
                "city": row[f"city_name_{name}"],
                "step": step_title(row, lang),
                "changed_by": row["changed_by"] or "—",
                "source": translate(lang, f"progress.source.{row['source']}"),
                "status_from": status_names.get(row["from_status_code"], "—"),
                "status_to": status_names.get(row["to_status_code"], "—"),
                "start_from": _start(row, "from", lang),
                "start_to": _start(row, "to", lang),
                "end_from": month_label(row["from_end_month"], lang),
                "end_to": month_label(row["to_end_month"], lang),
                "note": row["to_note"] or "—",
            }
        )
    columns = ("changed", "city", "step", "changed_by", "source", "status_from", "status_to")
    columns += ("start_from", "start_to", "end_from", "end_to", "note")
    return pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String))
