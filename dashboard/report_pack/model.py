"""The pack's content as data: sections of text, charts (the pages' Altair builders) and typed tables.

The Word, PDF and workbook writers only lay this out; every value here comes from warehouse.report's
figures, and every chart from the builder the page itself uses (charts/report.py for the map).
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import altair as alt

from common.calendar import date_label, fiscal_year_start, nendo_label, wareki_short
from dashboard.charts import activity as activity_charts
from dashboard.charts import events as event_charts
from dashboard.charts import progress as progress_charts
from dashboard.charts import report as report_charts
from dashboard.format import number
from dashboard.i18n import catalogue, translate
from warehouse.report import ReportFigures

# Column kinds: how a value is shown in Word/PDF and stored in the workbook (numbers and dates stay typed).
KINDS = ("text", "int", "dec1", "pct", "yen", "man_yen", "date")


def _t(lang: str, key: str, **values: object) -> str:
    """Message of the pack's catalogue."""
    return translate(lang, f"pack.{key}", **values)


def _figures(lang: str, key: str, figures: Mapping[str, Any]) -> Text:
    """A key sentence whose placeholders name columns of figures (a KPI row), each shown as a whole number."""
    names = [name for _, name, _, _ in string.Formatter().parse(catalogue(lang)[f"pack.{key}"]) if name]
    return Text(_t(lang, key, **{name: number(figures[name]) for name in names}), key=True)


@dataclass(frozen=True)
class Column:
    """A table column: label, kind (KINDS) and, for the workbook, the number format Excel shows it in."""

    label: str
    kind: str = "text"


@dataclass(frozen=True)
class Table:
    """A real table: typed rows (None = empty, a str in a numeric column = a notice such as withheld)."""

    sheet: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    caption: str
    source: str
    definition: str


@dataclass(frozen=True)
class Figure:
    """A chart from a page's builder, rendered to an image by build.py, with its caption."""

    name: str
    chart: alt.TopLevelMixin
    caption: str


@dataclass(frozen=True)
class Text:
    """A paragraph; a figure line (key=True) is set apart as one of the section's headline figures."""

    text: str
    key: bool = False


@dataclass
class Section:
    """A chapter of the report: its title and its blocks in order."""

    title: str
    blocks: list[Text | Figure | Table] = field(default_factory=list)


@dataclass(frozen=True)
class Pack:
    """The whole report pack: title lines, sections, and the file stem the three files share."""

    lang: str
    title: str
    subtitle: str
    as_of: str
    sections: tuple[Section, ...]
    stem: str

    def tables(self) -> list[Table]:
        """Every table in reading order (one workbook sheet each)."""
        return [block for section in self.sections for block in section.blocks if isinstance(block, Table)]

    def figures(self) -> list[Figure]:
        """Every chart in reading order."""
        return [block for section in self.sections for block in section.blocks if isinstance(block, Figure)]


def display(value: Any, kind: str, lang: str) -> str:
    """A cell as Word and the PDF show it: thousands separators, units where the column has one, 和暦 dates."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if kind == "int":
        return number(value)
    if kind == "dec1":
        return number(value, 1)
    if kind == "pct":
        return _t(lang, "unit.pct", n=number(value, 1))
    if kind == "yen":
        return _t(lang, "unit.yen", n=number(value))
    if kind == "man_yen":
        return _t(lang, "unit.man_yen", n=event_charts.man_yen(round(value * 10_000)))
    if kind == "date":
        return short_date(value, lang)
    return str(value)


def short_date(day: dt.date, lang: str) -> str:
    """A table's date in 和暦 and 西暦, short enough for a column: R6.12.1（2024-12-01）."""
    if lang == "ja":
        return f"{wareki_short(day)}（{day.isoformat()}）"
    return f"{day.isoformat()} ({wareki_short(day)})"


def scope_name(figures: ReportFigures) -> str:
    """The city's name, or the four cities', in the pack's language."""
    if figures.city_code is None:
        return _t(figures.lang, "all_cities")
    row = figures.cities.filter(figures.cities["code"] == figures.city_code).row(0, named=True)
    return row["name_ja" if figures.lang == "ja" else "name_en"]


def nendo_text(nendo: int, lang: str) -> str:
    """A 年度 in 和暦 and 西暦: R6年度（2024年度）."""
    return _t(lang, "nendo", wareki=nendo_label(fiscal_year_start(nendo), "fiscal_year"), year=nendo)


class _Builder:
    """Numbers figures and tables as the report does (図1, 表1 …) and writes their captions."""

    def __init__(self, figures: ReportFigures) -> None:
        self.f = figures
        self.lang = figures.lang
        self.as_of = date_label(figures.as_of, self.lang) if figures.as_of else _t(self.lang, "as_of_unknown")
        self.figure_no = 0
        self.table_no = 0

    def caption(self, kind: str, title: str, n: int | None, unit: str, source: str) -> str:
        """図n/表n title（N=…、単位：…、出典：…、…時点）."""
        if kind == "figure":
            self.figure_no += 1
            label = _t(self.lang, "figure_label", n=self.figure_no)
        else:
            self.table_no += 1
            label = _t(self.lang, "table_label", n=self.table_no)
        return _t(
            self.lang,
            "caption",
            label=label,
            title=title,
            n="—" if n is None else number(n),
            unit=unit,
            source=_t(self.lang, f"source.{source}"),
            as_of=self.as_of,
        )

    def figure(self, name: str, chart: alt.TopLevelMixin, n: int | None, unit: str, source: str) -> Figure:
        """A chart block with its numbered caption."""
        title = _t(self.lang, f"figure.{name}")
        return Figure(name, chart, self.caption("figure", title, n, unit, source))

    def table(
        self, sheet: str, columns: list[tuple[str, str]], rows: list[tuple], n: int | None, unit: str, source: str
    ) -> Table:
        """A table block: columns as (catalogue key under pack.col, kind); its caption and workbook sheet name."""
        title = _t(self.lang, f"table.{sheet}")
        return Table(
            sheet=_t(self.lang, f"sheet.{sheet}"),
            title=title,
            columns=tuple(Column(_t(self.lang, f"col.{key}"), kind) for key, kind in columns),
            rows=tuple(rows),
            caption=self.caption("table", title, n, unit, source),
            source=_t(self.lang, f"source.{source}"),
            definition=_t(self.lang, f"definition.{sheet}"),
        )


def _name(lang: str) -> str:
    """Suffix of the name columns for a language."""
    return "ja" if lang == "ja" else "en"


def survey_section(b: _Builder) -> Section:
    """リソース調査: reach, the activity-content sunburst, the support-form ranking, the rate by city and legal form."""
    f, lang = b.f, b.lang
    section = Section(_t(lang, "section.survey"))
    total = f.reach_total
    section.blocks.append(
        Text(
            _t(
                lang,
                "survey.reach",
                distributed=number(total["distributed"]),
                answered=number(total["answered"]),
                rate=display(total["rate_pct"], "pct", lang),
            ),
            key=True,
        )
    )
    for dimension, frame in (("city", f.reach_city), ("legal_form", f.reach_legal_form)):
        rows = [(r["label"], r["distributed"], r["answered"], r["rate_pct"]) for r in frame.iter_rows(named=True)]
        rows.append((_t(lang, "total"), total["distributed"], total["answered"], total["rate_pct"]))
        section.blocks.append(
            b.figure(
                f"reach_{dimension}",
                activity_charts.reach_chart(frame, lang),
                total["distributed"],
                _t(lang, "unit_orgs"),
                "survey",
            )
        )
        section.blocks.append(
            b.table(
                f"reach_{dimension}",
                [(dimension, "text"), ("distributed", "int"), ("answered", "int"), ("rate_pct", "pct")],
                rows,
                total["distributed"],
                _t(lang, "unit_orgs"),
                "survey",
            )
        )
    if not f.content_counts.is_empty():
        section.blocks.append(
            b.figure(
                "sunburst",
                activity_charts.sunburst_chart(f.content_counts, f.respondents, lang),
                f.respondents,
                _t(lang, "unit_orgs"),
                "answers",
            )
        )
        rows = [
            (r["group_label"], r["category_label"], r["category_orgs"], r["category_share_pct"])
            for r in f.content_counts.iter_rows(named=True)
        ]
        section.blocks.append(
            b.table(
                "contents",
                [("group", "text"), ("category", "text"), ("orgs", "int"), ("share_pct", "pct")],
                rows,
                f.respondents,
                _t(lang, "unit_orgs"),
                "answers",
            )
        )
    if not f.form_counts.is_empty():
        section.blocks.append(
            b.figure(
                "forms",
                activity_charts.form_ranking_chart(f.form_counts, lang),
                f.respondents,
                _t(lang, "unit_orgs"),
                "answers",
            )
        )
        rows = [(r["rank"], r["form_label"], r["orgs"], r["share_pct"]) for r in f.form_counts.iter_rows(named=True)]
        section.blocks.append(
            b.table(
                "forms",
                [("rank", "int"), ("form", "text"), ("orgs", "int"), ("share_pct", "pct")],
                rows,
                f.respondents,
                _t(lang, "unit_orgs"),
                "answers",
            )
        )
    return section


def map_section(b: _Builder) -> Section:
    """地域資源マップ: the static map (outlines and pins coloured as on the map page) and its colour key."""
    f, lang = b.f, b.lang
    section = Section(_t(lang, "section.map"))
    pins = f.map_points.height
    section.blocks.append(Text(_t(lang, "map.mapped", n=number(pins)), key=True))
    if f.boundaries.is_empty():
        section.blocks.append(Text(_t(lang, "map.no_outlines")))
    elif f.boundary_credit:
        section.blocks.append(Text(f.boundary_credit))
    section.blocks.append(
        b.figure(
            "map",
            report_charts.map_chart(f.map_points, f.boundaries, f.map_legend, lang),
            pins,
            _t(lang, "unit_orgs"),
            "map",
        )
    )
    rows = [
        (report_charts.legend_label(r, lang), r["colour_hex"], r["orgs"]) for r in f.map_legend.iter_rows(named=True)
    ]
    section.blocks.append(
        b.table(
            "legend",
            [("colour_label", "text"), ("colour", "text"), ("orgs", "int")],
            rows,
            pins,
            _t(lang, "unit_orgs"),
            "map",
        )
    )
    return section


def _consultee(value: int | None, hidden: bool | None, lang: str) -> int | str | None:
    """A consultee figure, or the withheld notice (the pages' visibility rule already applied by the query)."""
    return _t(lang, "restricted") if hidden else value


def art_section(b: _Builder) -> Section:
    """アート事業: visitors per venue and day, workshops, the symposium, the venue survey, contracts and costs."""
    f, lang = b.f, b.lang
    k, joint = f.event_kpis, f.joint_event_kpis
    people = _t(lang, "unit_people")
    section = Section(_t(lang, "section.art"))
    section.blocks.append(_figures(lang, "art.headline", k))
    if k["consultees_hidden"]:
        section.blocks.append(Text(_t(lang, "art.consultees_restricted")))
    else:
        section.blocks.append(_figures(lang, "art.consultees", k))
    name = _name(lang)
    exhibitions = f.events.filter(f.events["kind"] == "exhibition")
    for row in exhibitions.iter_rows(named=True):
        if row["open_days"]:
            section.blocks.append(
                Text(
                    _t(
                        lang,
                        "art.per_day",
                        venue=row["title"],
                        visitors=number(row["visitors"]),
                        days=row["open_days"],
                        shown=number(row["visitors_per_day"], row["visitors_per_day_decimals"]),
                    )
                )
            )
    rows = [
        (
            event_charts.kind_label(r["kind"], lang),
            r["title"],
            r["venue"],
            r[f"city_{name}"],
            r["start_date"],
            r["end_date"],
            r["open_days"],
            r["visitors"],
            r["visitors_per_day"],
            r["participations"],
            r["unique_participants"],
            _consultee(r["consultee_participations"], r["consultees_hidden"], lang)
            if r["kind"] == "workshop"
            else None,
            _consultee(r["unique_consultees"], r["consultees_hidden"], lang) if r["kind"] == "workshop" else None,
        )
        for r in f.events.iter_rows(named=True)
    ]
    section.blocks.append(
        b.table(
            "events",
            [
                ("kind", "text"),
                ("title", "text"),
                ("venue", "text"),
                ("city", "text"),
                ("start", "date"),
                ("end", "date"),
                ("open_days", "int"),
                ("visitors", "int"),
                ("per_day", "dec1"),
                ("participations", "int"),
                ("unique_participants", "int"),
                ("consultee_participations", "int"),
                ("unique_consultees", "int"),
            ],
            rows,
            f.events.height,
            people,
            "events",
        )
    )
    shown_sessions = f.sessions
    if not exhibitions.is_empty():
        section.blocks.append(
            b.figure(
                "exhibition_days",
                event_charts.exhibition_days_chart(shown_sessions, lang),
                k["exhibition_visitors"],
                people,
                "events",
            )
        )
    if k["workshops"]:
        section.blocks.append(
            b.figure(
                "workshops",
                event_charts.workshop_sessions_chart(shown_sessions, lang),
                k["workshop_participations"],
                people,
                "events",
            )
        )
    rows = [
        (
            r["session_date"],
            event_charts.kind_label(r["kind"], lang),
            r["title"],
            r["venue"],
            r["seq"],
            r["visitors"],
            r["participants"],
            _consultee(r["consultees"], r["consultees_hidden"], lang) if r["kind"] == "workshop" else None,
        )
        for r in shown_sessions.iter_rows(named=True)
    ]
    section.blocks.append(
        b.table(
            "sessions",
            [
                ("date", "date"),
                ("kind", "text"),
                ("title", "text"),
                ("venue", "text"),
                ("seq", "int"),
                ("visitors", "int"),
                ("participants", "int"),
                ("consultees", "int"),
            ],
            rows,
            shown_sessions.height,
            people,
            "events",
        )
    )
    for row in f.events.filter(f.events["kind"] == "symposium").iter_rows(named=True):
        section.blocks.append(
            Text(_t(lang, "art.symposium", title=row["title"], n=number(row["participations"])), key=True)
        )
    answers = f.survey_answers
    if not answers.is_empty():
        total_answers = int(answers.unique(["event_id", "question"])["question_answers"].sum())
        section.blocks.append(
            b.figure(
                "survey",
                event_charts.survey_chart(answers, f.survey_questions, lang),
                total_answers,
                _t(lang, "unit_answers"),
                "venue_survey",
            )
        )
        rows = [
            (r["title"], r["question"], r["choice"], r["answers"], r["share_pct"])
            for r in answers.iter_rows(named=True)
        ]
        section.blocks.append(
            b.table(
                "survey",
                [("title", "text"), ("question", "text"), ("choice", "text"), ("answers", "int"), ("share_pct", "pct")],
                rows,
                total_answers,
                _t(lang, "unit_answers"),
                "venue_survey",
            )
        )
    rows = [
        (r["contractor"], r["project"], r["amount_yen"], r["amount_man_yen"], r["period_start"], r["period_end"])
        for r in f.contracts.iter_rows(named=True)
    ]
    section.blocks.append(
        b.table(
            "contracts",
            [
                ("contractor", "text"),
                ("project", "text"),
                ("amount_yen", "yen"),
                ("amount_man_yen", "man_yen"),
                ("period_start", "date"),
                ("period_end", "date"),
            ],
            rows,
            f.contracts.height,
            _t(lang, "unit_yen"),
            "contracts",
        )
    )
    if joint["cost_per_person_yen"] is not None:
        section.blocks.append(_figures(lang, "art.cost", joint))
    return section


def progress_section(b: _Builder) -> Section:
    """PF構築プロセス: the phase reached per city, the status grid and the step × city table with notes."""
    f, lang = b.f, b.lang
    name = _name(lang)
    section = Section(_t(lang, "section.progress"))
    rows = [
        (
            r[f"city_name_{name}"],
            r["phase_label"] if r["phase_code"] else _t(lang, "progress.none"),
            r[f"phase_name_{name}"],
            r["steps_done"],
            r["steps_in_progress"],
            r["steps_total"],
        )
        for r in f.phases_reached.iter_rows(named=True)
    ]
    cities = f.phases_reached.height
    section.blocks.append(
        b.table(
            "phases",
            [
                ("city", "text"),
                ("phase_label", "text"),
                ("phase", "text"),
                ("steps_done", "int"),
                ("steps_in_progress", "int"),
                ("steps_total", "int"),
            ],
            rows,
            cities,
            _t(lang, "unit_steps"),
            "progress",
        )
    )
    section.blocks.append(
        b.figure(
            "status_grid",
            progress_charts.status_grid(f.progress, f.statuses, lang),
            f.progress.height,
            _t(lang, "unit_steps"),
            "progress",
        )
    )
    rows = [
        (
            progress_charts.step_title(r, lang),
            r[f"city_name_{name}"],
            r[f"status_name_{name}"],
            progress_charts.month_label(r["start_month"], lang, r["start_precision"])
            if r["start_month"]
            else r[f"status_name_{name}"],
            r["start_month"],
            progress_charts.month_label(r["end_month"], lang) if r["end_month"] else None,
            r["end_month"],
            r["note"],
        )
        for r in f.progress.sort(["step_order", "city_order"]).iter_rows(named=True)
    ]
    section.blocks.append(
        b.table(
            "progress",
            [
                ("step", "text"),
                ("city", "text"),
                ("status", "text"),
                ("start_label", "text"),
                ("start_month", "date"),
                ("end_label", "text"),
                ("end_month", "date"),
                ("note", "text"),
            ],
            rows,
            f.progress.height,
            _t(lang, "unit_steps"),
            "progress",
        )
    )
    return section


def sources_table(pack: Pack) -> Table:
    """Every table's caption, sheet, source and definition: the closing table and the workbook's last sheet."""
    lang = pack.lang
    return Table(
        sheet=_t(lang, "sheet.sources"),
        title=_t(lang, "table.sources"),
        columns=tuple(Column(_t(lang, f"col.{key}")) for key in ("caption", "sheet", "source", "definition")),
        rows=tuple((table.caption, table.sheet, table.source, table.definition) for table in pack.tables()),
        caption=_t(lang, "table.sources"),
        source="",
        definition=_t(lang, "definition.sources"),
    )


def build_pack(figures: ReportFigures, today: dt.date) -> Pack:
    """The pack of these figures: title, the four sections and the files' common name."""
    lang = figures.lang
    b = _Builder(figures)
    scope = scope_name(figures)
    sections = (survey_section(b), map_section(b), art_section(b), progress_section(b))
    return Pack(
        lang=lang,
        title=_t(lang, "title", scope=scope, nendo=nendo_text(figures.nendo, lang)),
        subtitle=_t(lang, "subtitle", today=date_label(today, lang)),
        as_of=_t(lang, "as_of", when=b.as_of),
        sections=sections,
        stem=f"tsunagari_report_{figures.city_code or 'all'}_{figures.nendo}_{lang}",
    )
