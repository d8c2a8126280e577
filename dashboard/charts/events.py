"""イベント実績: chart builders and display helpers for the art-project events (no streamlit here)."""

from __future__ import annotations

import datetime as dt
import json

import altair as alt
import polars as pl

from common.calendar import date_label, wareki_month, wareki_month_short, wareki_short
from dashboard.charts import PRIMARY, TEXT_DARK, tooltips
from dashboard.format import number, yen
from dashboard.i18n import translate, with_survey_texts

KIND_COLOURS = {"exhibition": PRIMARY, "workshop": "#70ad47", "symposium": "#ed7d31"}
CONSULTEE_COLOURS = ("#c55a11", "#f4b183")  # consultees, other participants
PARTICIPANTS_COLOUR = "#70ad47"  # participants of a session whose consultee figure is not shown
ACHIEVED_COLOURS = ("#2e7d32", "#e07b00")  # achieved, not achieved
TARGET_COLOUR = TEXT_DARK
# Venue-survey choices: positive ones in blues, negative ones in oranges, the rest grey.
POSITIVE_COLOURS = ("#1f4e79", "#5b9bd5", "#9dc3e6")
NEGATIVE_COLOURS = ("#f4b183", "#c55a11", "#843c0c")
NEUTRAL_COLOUR = "#bfbfbf"
RESTRICTED_COLOUR = "#e0e0e0"  # a target whose actual value is withheld from this viewer
# Catalogue keys (events.unit.*) of the KPI units.
UNIT_KEYS = {"名": "people", "名/日": "per_day", "%": "pct", "円": "yen"}
# A count is printed inside its survey segment only when the segment is at least this share wide (%).
LABEL_MIN_SHARE = 6.0
# The survey chart's share column is titled events.chart.share.
SURVEY_KEYS = {"share_pct": "share"}
# Events drawn on the page's charts (the first by date): one chart row each; the tables list every event.
CHART_EVENTS = 30
# Sessions listed on the page (the first by date); the CSV carries every one.
SESSION_ROWS = 1_000


def month_label(day: dt.date | None, lang: str) -> str:
    """A calendar month in 和暦 and 西暦: 令和6年11月（2024-11）; English puts 西暦 first; — when missing."""
    if day is None:
        return "—"
    if lang == "ja":
        return f"{wareki_month(day)}（{day:%Y-%m}）"
    return f"{day:%Y-%m} ({wareki_month_short(day)})"


def _month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of every month from first's month to the month after last (the axis end)."""
    months = [first.replace(day=1)]
    while months[-1] <= last:
        current = months[-1]
        months.append(dt.date(current.year + current.month // 12, current.month % 12 + 1, 1))
    return months


def _month_axis_expr(months: list[dt.date], lang: str) -> str:
    """Vega expression labelling each month tick in two lines (和暦, 西暦) from a precomputed table."""
    labels = {}
    for month in months:
        era = wareki_month(month) if lang == "ja" else wareki_month_short(month)
        labels[f"{month:%Y-%m}"] = [f"{month:%Y-%m}", era] if lang == "en" else [era, f"{month:%Y-%m}"]
    expr = "''"
    for key, lines in reversed(labels.items()):
        expr = (
            f"utcFormat(datum.value, '%Y-%m') == {json.dumps(key)} ? {json.dumps(lines, ensure_ascii=False)} : {expr}"
        )
    return expr


def kind_label(kind: str, lang: str) -> str:
    """Translated name of an event kind."""
    return translate(lang, f"events.kind.{kind}")


def event_label(kind: str, title: str, artist: str | None, lang: str) -> str:
    """How an event is named on charts: its kind and title, with the artist for workshops."""
    label = translate(lang, "event_name.title", kind=kind_label(kind, lang), title=title)
    return translate(lang, "event_name.artist", label=label, artist=artist) if kind == "workshop" and artist else label


def _time_range(start: dt.time | None, end: dt.time | None) -> str:
    """09:00–17:00, or — when the times are not recorded."""
    if start is None:
        return "—"
    return f"{start:%H:%M}–{end:%H:%M}" if end is not None else f"{start:%H:%M}"


def timeline_chart(sessions: pl.DataFrame, lang: str) -> alt.Chart:
    """Gantt of every session and exhibition open day: one row per event, one bar per day, 和暦 + 西暦 axis."""
    rows = []
    for s in sessions.iter_rows(named=True):
        day = s["session_date"]
        count = s["visitors"] if s["kind"] == "exhibition" else s["participants"]
        unit = "events.chart.visitors" if s["kind"] == "exhibition" else "events.chart.participants"
        rows.append(
            {
                "event": event_label(s["kind"], s["title"], s["artist_or_programme"], lang),
                "event_start": None if s["event_start"] is None else s["event_start"].isoformat(),
                "kind": kind_label(s["kind"], lang),
                "kind_code": s["kind"],
                "venue": s["venue"],
                "city": s["city_ja"] if lang == "ja" else s["city_en"],
                # ISO date strings are read as UTC by the browser, matching the utc scale and labels.
                "start": day.isoformat(),
                "end": (day + dt.timedelta(days=1)).isoformat(),
                "date": date_label(day, lang),
                "time": _time_range(s["start_time"], s["end_time"]),
                "count": translate(lang, unit, n=number(count)),
            }
        )
    data = pl.DataFrame(
        rows,
        schema={
            k: pl.String
            for k in (
                "event",
                "event_start",
                "kind",
                "kind_code",
                "venue",
                "city",
                "start",
                "end",
                "date",
                "time",
                "count",
            )
        },
        orient="row",
    )
    order = data.sort("event_start", "kind_code", maintain_order=True)["event"].unique(maintain_order=True).to_list()
    kinds = [k for k in KIND_COLOURS if k in set(data["kind_code"].to_list())] or list(KIND_COLOURS)
    axis = alt.Axis(title=translate(lang, "events.chart.date"), grid=True)
    scale = alt.Scale(type="utc")
    if data.height:
        days = [dt.date.fromisoformat(v) for v in data["start"].to_list()]
        months = _month_starts(min(days), max(days))
        axis = alt.Axis(
            title=translate(lang, "events.chart.date"),
            grid=True,
            values=[alt.DateTime(year=m.year, month=m.month, date=1, utc=True) for m in months],
            labelExpr=_month_axis_expr(months, lang),
        )
        scale = alt.Scale(
            type="utc",
            domain=[
                alt.DateTime(year=months[0].year, month=months[0].month, date=1, utc=True),
                alt.DateTime(year=months[-1].year, month=months[-1].month, date=1, utc=True),
            ],
        )
    return (
        alt.Chart(data.to_pandas())
        .mark_bar(height=16, cornerRadius=2)
        .encode(
            x=alt.X("start:T", scale=scale, axis=axis),
            x2="end:T",
            y=alt.Y("event:N", sort=order, title=None, axis=alt.Axis(labelLimit=300)),
            color=alt.Color(
                "kind:N",
                title=translate(lang, "events.chart.kind"),
                legend=alt.Legend(orient="top"),
                scale=alt.Scale(domain=[kind_label(k, lang) for k in kinds], range=[KIND_COLOURS[k] for k in kinds]),
            ),
            tooltip=tooltips(lang, "events.chart", "event:N", "date:N", "time:N", "venue:N", "city:N", "count:N"),
        )
        .properties(height=alt.Step(26))
    )


def exhibition_days_chart(sessions: pl.DataFrame, lang: str) -> alt.Chart:
    """Visitors per open day and venue (grouped bars), days labelled in 和暦 and 西暦."""
    days = sessions.filter(pl.col("kind") == "exhibition").sort("session_date", "event_start", "event_id")
    data = pl.DataFrame(
        [
            {
                # Two axis lines split at "|": 和暦 then 西暦 (English the other way round).
                "day": f"{wareki_short(d['session_date'])}|{d['session_date']:%Y-%m-%d}"
                if lang == "ja"
                else f"{d['session_date']:%Y-%m-%d}|{wareki_short(d['session_date'])}",
                "date": date_label(d["session_date"], lang),
                "venue": d["venue"],
                "visitors": d["visitors"],
            }
            for d in days.iter_rows(named=True)
        ],
        schema={"day": pl.String, "date": pl.String, "venue": pl.String, "visitors": pl.Int64},
        orient="row",
    )
    order = data["day"].unique(maintain_order=True).to_list()
    return (
        alt.Chart(data.to_pandas())
        .mark_bar(cornerRadiusEnd=2)
        .encode(
            x=alt.X(
                "day:O",
                sort=order,
                title=translate(lang, "events.chart.open_day"),
                axis=alt.Axis(labelExpr="split(datum.label, '|')", labelAngle=0),
            ),
            xOffset=alt.XOffset("venue:N"),
            y=alt.Y("visitors:Q", title=translate(lang, "events.chart.visitors_axis")),
            color=alt.Color("venue:N", title=translate(lang, "events.chart.venue"), legend=alt.Legend(labelLimit=280)),
            tooltip=[
                alt.Tooltip("date:N", title=translate(lang, "events.chart.date")),
                alt.Tooltip("venue:N", title=translate(lang, "events.chart.venue")),
                alt.Tooltip("visitors:Q", title=translate(lang, "events.chart.visitors_axis"), format=","),
            ],
        )
        .properties(height=280)
    )


def consultee_text(value: int | None, hidden: bool | None, lang: str) -> str | None:
    """A consultee figure for display: the number, the restricted notice when withheld, None when absent."""
    if hidden:
        return translate(lang, "events.restricted")
    return None if value is None else number(value)


def workshop_sessions_chart(sessions: pl.DataFrame, lang: str) -> alt.Chart:
    """Participants per workshop session, split into consultees (相談者) and the other participants.

    A session without a consultee figure (withheld from this viewer, or not recorded) is one bar of all
    its participants.
    """
    workshop = sessions.filter(pl.col("kind") == "workshop").sort("session_date", "event_id", "seq")
    consultee, other = translate(lang, "events.chart.consultees"), translate(lang, "events.chart.others")
    everyone = translate(lang, "events.chart.all_participants")
    rows = []
    for s in workshop.iter_rows(named=True):
        label = translate(
            lang,
            "events.chart.session_label",
            artist=s["artist_or_programme"] or s["title"],
            seq=s["seq"],
            # 和暦 in Japanese (as the report dates sessions), 西暦 in English: R7.1.8 means nothing to most readers.
            date=wareki_short(s["session_date"]) if lang == "ja" else s["session_date"].isoformat(),
        )
        consultees = s["consultees"]
        participants = s["participants"] or 0
        groups = (
            ((everyone, participants, 1),)
            if consultees is None
            else ((consultee, consultees, 1), (other, participants - consultees, 2))
        )
        for group, count, order in groups:
            rows.append(
                {
                    "session": label,
                    "date": date_label(s["session_date"], lang),
                    "group": group,
                    "order": order,
                    "count": count,
                    "participants": participants,
                    "consultees": consultee_text(consultees, s.get("consultees_hidden"), lang),
                }
            )
    data = pl.DataFrame(
        rows,
        schema={
            "session": pl.String,
            "date": pl.String,
            "group": pl.String,
            "order": pl.Int64,
            "count": pl.Int64,
            "participants": pl.Int64,
            "consultees": pl.String,
        },
        orient="row",
    )
    order = data["session"].unique(maintain_order=True).to_list()
    present = set(data["group"].to_list())
    colours = [(consultee, CONSULTEE_COLOURS[0]), (other, CONSULTEE_COLOURS[1]), (everyone, PARTICIPANTS_COLOUR)]
    colours = [(g, c) for g, c in colours if g in present] or colours[:2]
    y = alt.Y("session:N", sort=order, title=None, axis=alt.Axis(labelLimit=320))
    tooltip = [
        alt.Tooltip("session:N", title=translate(lang, "events.chart.session")),
        alt.Tooltip("date:N", title=translate(lang, "events.chart.date")),
        alt.Tooltip("participants:Q", title=translate(lang, "events.chart.participants_axis")),
        alt.Tooltip("consultees:N", title=consultee),
    ]
    bars = (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("sum(count):Q", title=translate(lang, "events.chart.participants_axis"), stack="zero"),
            y=y,
            color=alt.Color(
                "group:N",
                title=None,
                scale=alt.Scale(domain=[g for g, _ in colours], range=[c for _, c in colours]),
                sort=[g for g, _ in colours],
            ),
            order=alt.Order("order:Q"),
            tooltip=tooltip,
        )
    )
    totals = (
        alt.Chart()
        .transform_filter(alt.datum.order == 1)
        .mark_text(align="left", dx=4, color=TARGET_COLOUR)
        .encode(x=alt.X("participants:Q"), y=y, text=alt.Text("participants:Q"), tooltip=tooltip)
    )
    return alt.layer(bars, totals, data=data.to_pandas()).properties(height=alt.Step(28))


def _choice_colours(answers: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Colour scale of the survey choices in display order: positives blue, negatives orange, others grey."""
    choices = (
        answers.select("choice", "choice_order", "polarity")
        .unique()
        .sort("choice_order", "choice")
        .unique(subset="choice", keep="first", maintain_order=True)
    )
    domain, colours = [], []
    positive, negative = 0, 0
    for choice in choices.iter_rows(named=True):
        domain.append(choice["choice"])
        if choice["polarity"] == "positive":
            colours.append(POSITIVE_COLOURS[min(positive, len(POSITIVE_COLOURS) - 1)])
            positive += 1
        elif choice["polarity"] == "negative":
            colours.append(NEGATIVE_COLOURS[min(negative, len(NEGATIVE_COLOURS) - 1)])
            negative += 1
        else:
            colours.append(NEUTRAL_COLOUR)
    return domain, colours


def survey_question_label(question: dict, lang: str) -> str:
    """A question's full text and its own positive share (two lines, never cut: the chart's row header)."""
    return translate(
        lang,
        "events.chart.survey_question",
        question=question["question"],
        pct=number(question["positive_pct"], 1),
        positive=number(question["positive"]),
        answers=number(question["answers"]),
    )


def survey_question_lines(questions: pl.DataFrame, lang: str) -> list[str]:
    """Each question's text (in lang where the catalogue has it) and its own share, one line each, for the page."""
    shown = with_survey_texts(questions, lang)
    return [survey_question_label(q, lang).replace("\n", " — ") for q in shown.iter_rows(named=True)]


def survey_chart(answers: pl.DataFrame, questions: pl.DataFrame, lang: str) -> alt.FacetChart:
    """Venue-survey answers per question (a row each, headed by its full text and share) and event, as stacked counts."""
    answers = with_survey_texts(answers, lang)
    questions = with_survey_texts(questions, lang)
    ordered = answers.sort("start_date", "event_id", "choice_order")
    headers = {q["question"]: survey_question_label(q, lang) for q in questions.iter_rows(named=True)}
    data = ordered.select(
        pl.Series(
            "event",
            [
                translate(
                    lang,
                    "events.chart.survey_label",
                    event=event_label(r["kind"], r["title"], None, lang),
                    n=number(r["question_answers"]),
                    pct=number(r["positive_pct"], 1),
                )
                for r in ordered.select("kind", "title", "question_answers", "positive_pct").iter_rows(named=True)
            ],
            dtype=pl.String,
        ),
        "question",
        pl.Series("question_header", [headers.get(q, q) for q in ordered["question"]], dtype=pl.String),
        "choice",
        "choice_order",
        pl.col("answers").cast(pl.Int64),
        pl.col("share_pct").cast(pl.Float64),
    )
    domain, colours = _choice_colours(answers)
    order = data["event"].unique(maintain_order=True).to_list()
    y = alt.Y("event:N", sort=order, title=None, axis=alt.Axis(labelLimit=360))
    tooltip = tooltips(
        lang, "events.chart", "event:N", "question:N", "choice:N", "answers:Q", "share_pct:Q", keys=SURVEY_KEYS
    )
    x = alt.X("answers:Q", stack="zero", title=translate(lang, "events.chart.answers"))
    bars = (
        alt.Chart()
        .mark_bar()
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "choice:N",
                title=translate(lang, "events.chart.choice"),
                scale=alt.Scale(domain=domain, range=colours),
                sort=domain,
            ),
            order=alt.Order("choice_order:Q"),
            tooltip=tooltip,
        )
    )
    labels = (
        alt.Chart()
        .transform_filter(alt.datum.share_pct >= LABEL_MIN_SHARE)
        .mark_text(color="white", fontWeight="bold")
        .encode(
            x=alt.X("answers:Q", stack="zero", bandPosition=0.5),
            y=y,
            detail="choice:N",
            order=alt.Order("choice_order:Q"),
            text=alt.Text("answers:Q"),
            tooltip=tooltip,
        )
    )
    # One row per question: the header holds the question's whole text on its own line (labelLimit 0), so a
    # long question is never cut off the way an axis label would be.
    header = alt.Header(
        title=None,
        labelAngle=0,
        labelOrient="top",
        labelAnchor="start",
        labelAlign="left",
        labelLimit=0,
        labelFontSize=13,
        labelExpr="split(datum.value, '\\n')",
    )
    row = alt.Row("question_header:N", sort=list(headers.values()), header=header)
    return (
        alt.layer(bars, labels)
        .properties(height=alt.Step(34))
        .facet(row=row, data=data.to_pandas())
        .resolve_scale(y="independent")
    )


def targets_chart(targets: pl.DataFrame, lang: str) -> alt.FacetChart:
    """Bullet per target: the actual value as a bar (green when achieved), the target as a dark rule."""
    everyone = translate(lang, "app.all_cities")
    rows = []
    for t in targets.sort("sort_order", maintain_order=True).iter_rows(named=True):
        scope = everyone if t["city_code"] is None else (t["city_ja"] if lang == "ja" else t["city_en"])
        unit = translate(lang, "events.unit." + UNIT_KEYS[t["unit"]], n="").strip()
        actual = t["actual"]
        shown_actual = number(actual, t["decimals"]) if actual is not None else None
        shown_target = number(t["target_value"], _target_decimals(t["target_value"]))
        status = _target_status(t)
        none_text = "events.target.bar_text_restricted" if status == "restricted" else "events.target.bar_text_none"
        rows.append(
            {
                "kpi": translate(
                    lang, "events.target.row_label", kpi=translate(lang, "events.kpi." + t["kpi_code"]), scope=scope
                ),
                "actual": actual,
                "target": t["target_value"],
                # The label starts after the longer of bar and rule; "room" widens the axis so it fits.
                "text_x": max(actual or 0, t["target_value"]),
                "room": max(actual or 0, t["target_value"]) * 1.35,
                "status": translate(lang, f"events.target.{status}"),
                "text": translate(lang, "events.target.bar_text", actual=shown_actual, target=shown_target, unit=unit)
                if shown_actual is not None
                else translate(lang, none_text, target=shown_target, unit=unit),
            }
        )
    data = pl.DataFrame(
        rows,
        schema={
            "kpi": pl.String,
            "actual": pl.Float64,
            "target": pl.Float64,
            "text_x": pl.Float64,
            "room": pl.Float64,
            "status": pl.String,
            "text": pl.String,
        },
        orient="row",
    )
    order = data["kpi"].to_list()
    statuses = [translate(lang, f"events.target.{s}") for s in ("achieved", "not_achieved", "no_actual", "restricted")]
    tooltip = [
        alt.Tooltip("kpi:N", title=translate(lang, "events.target.kpi")),
        alt.Tooltip("text:N", title=translate(lang, "events.target.actual_vs_target")),
        alt.Tooltip("status:N", title=translate(lang, "events.target.status")),
    ]
    bar = (
        alt.Chart()
        .mark_bar(height=14)
        .encode(
            x=alt.X("actual:Q", title=None),
            color=alt.Color(
                "status:N",
                title=translate(lang, "events.target.status"),
                scale=alt.Scale(domain=statuses, range=[*ACHIEVED_COLOURS, NEUTRAL_COLOUR, RESTRICTED_COLOUR]),
            ),
            tooltip=tooltip,
        )
    )
    rule = alt.Chart().mark_tick(color=TARGET_COLOUR, thickness=3, size=26).encode(x="target:Q", tooltip=tooltip)
    room = alt.Chart().mark_point(opacity=0).encode(x="room:Q")
    text = alt.Chart().mark_text(align="left", dx=6, color=TARGET_COLOUR).encode(x=alt.X("text_x:Q"), text="text:N")
    return (
        alt.layer(bar, rule, text, room, data=data.to_pandas())
        .properties(height=34, width=520)
        .facet(
            row=alt.Row(
                "kpi:N",
                sort=order,
                title=None,
                header=alt.Header(labelAngle=0, labelAlign="left", labelLimit=360),
            )
        )
        .resolve_scale(x="independent")
    )


def _target_status(target: dict) -> str:
    """Catalogue key (events.target.*) of a target's status: withheld, no actual, achieved or not."""
    if target.get("actual_hidden"):
        return "restricted"
    if target["actual"] is None:
        return "no_actual"
    return "achieved" if target["achieved"] else "not_achieved"


def _target_decimals(value: float) -> int:
    """Decimals a target is shown with: none for whole numbers, else one."""
    return 0 if float(value).is_integer() else 1


def unrounded(value: float) -> str:
    """A quotient before rounding, up to 4 decimals without trailing zeros (293.125, 85.3)."""
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def man_yen(amount_yen: int) -> str:
    """An amount in 万円: one decimal, a trailing .0 dropped (7,700,000 → 770; 299,000 → 29.9)."""
    value = round(amount_yen / 10_000, 1)
    return number(value, 0 if float(value).is_integer() else 1)


def _city(row: dict, lang: str) -> str:
    """City name of a row in the UI language."""
    return row["city_ja"] if lang == "ja" else row["city_en"]


def _period(start: dt.date, end: dt.date, lang: str) -> str:
    """A date or a date range in 和暦 and 西暦."""
    return date_label(start, lang) if start == end else f"{date_label(start, lang)} ～ {date_label(end, lang)}"


def events_table(events: pl.DataFrame, lang: str) -> pl.DataFrame:
    """Per-event records for display: where, when, open days, visitors and per-day mean, participants."""
    rows = [
        {
            "kind": kind_label(e["kind"], lang),
            "title": e["title"],
            "artist_or_programme": e["artist_or_programme"],
            "city": _city(e, lang),
            "venue": e["venue"],
            "period": _period(e["start_date"], e["end_date"], lang),
            "open_days": e["open_days"],
            "visitors": e["visitors"],
            "visitors_per_day": None
            if e["visitors_per_day"] is None
            else number(e["visitors_per_day"], e["visitors_per_day_decimals"]),
            "visitors_per_day_exact": e["visitors_per_day_exact"],
            "participations": e["participations"],
            "consultee_participations": consultee_text(
                e["consultee_participations"], e.get("consultees_hidden") and e["kind"] != "exhibition", lang
            ),
            "unique_participants": e["unique_participants"],
            "unique_consultees": consultee_text(
                e["unique_consultees"], e.get("consultees_hidden") and e["kind"] == "workshop", lang
            ),
        }
        for e in events.iter_rows(named=True)
    ]
    schema = {
        "kind": pl.String, "title": pl.String, "artist_or_programme": pl.String, "city": pl.String,
        "venue": pl.String, "period": pl.String, "open_days": pl.Int64, "visitors": pl.Int64,
        "visitors_per_day": pl.String, "visitors_per_day_exact": pl.Float64, "participations": pl.Int64,
        "consultee_participations": pl.String, "unique_participants": pl.Int64, "unique_consultees": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def sessions_table(sessions: pl.DataFrame, lang: str) -> pl.DataFrame:
    """Per-session records for display: date in 和暦 and 西暦, time, event, venue, counts."""
    rows = [
        {
            "date": date_label(s["session_date"], lang),
            "time": _time_range(s["start_time"], s["end_time"]),
            "kind": kind_label(s["kind"], lang),
            "title": s["title"],
            "seq": s["seq"],
            "artist_or_programme": s["artist_or_programme"],
            "venue": s["venue"],
            "city": _city(s, lang),
            "participants": s["participants"],
            "consultees": consultee_text(
                s["consultees"], s.get("consultees_hidden") and s["kind"] != "exhibition", lang
            ),
            "visitors": s["visitors"],
        }
        for s in sessions.iter_rows(named=True)
    ]
    schema = {
        "date": pl.String, "time": pl.String, "kind": pl.String, "title": pl.String, "seq": pl.Int64,
        "artist_or_programme": pl.String, "venue": pl.String, "city": pl.String, "participants": pl.Int64,
        "consultees": pl.String, "visitors": pl.Int64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def survey_table(answers: pl.DataFrame, lang: str) -> pl.DataFrame:
    """Venue-survey counts per event and choice, with each choice's share of the event's answers."""
    answers = with_survey_texts(answers, lang)
    return answers.select(
        pl.Series(
            "event",
            [
                event_label(kind, title, None, lang)
                for kind, title in zip(answers["kind"], answers["title"], strict=True)
            ],
            dtype=pl.String,
        ),
        "question",
        "choice",
        pl.col("answers").cast(pl.Int64),
        pl.col("question_answers").cast(pl.Int64),
        pl.col("share_pct").cast(pl.Float64),
    )


def contracts_table(contracts: pl.DataFrame, lang: str) -> pl.DataFrame:
    """Contracts for display: contractor, project, amount in 万円 and in yen, period in 和暦 and 西暦 months."""
    rows = [
        {
            "contractor": c["contractor"],
            "project": c["project"],
            "amount_man_yen": None if c["amount_yen"] is None else man_yen(c["amount_yen"]),
            "amount_yen": yen(c["amount_yen"], lang),
            "period": f"{month_label(c['period_start'], lang)} ～ {month_label(c['period_end'], lang)}",
        }
        for c in contracts.iter_rows(named=True)
    ]
    schema = {
        "contractor": pl.String,
        "project": pl.String,
        "amount_man_yen": pl.String,
        "amount_yen": pl.String,
        "period": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def targets_table(targets: pl.DataFrame, lang: str) -> pl.DataFrame:
    """Targets beside actual values, with the unit, attainment, status and who set them when."""
    everyone = translate(lang, "app.all_cities")
    rows = []
    for t in targets.iter_rows(named=True):
        unit_key = "events.unit." + UNIT_KEYS[t["unit"]]
        actual = t["actual"]
        status = _target_status(t)
        shown = translate(lang, "events.restricted") if status == "restricted" else "—"
        rows.append(
            {
                "kpi": translate(lang, "events.kpi." + t["kpi_code"]),
                "scope": everyone if t["city_code"] is None else _city(t, lang),
                "target": translate(lang, unit_key, n=number(t["target_value"], _target_decimals(t["target_value"]))),
                "actual": translate(lang, unit_key, n=number(actual, t["decimals"])) if actual is not None else shown,
                "attainment_pct": t["attainment_pct"],
                "status": translate(lang, f"events.target.{status}"),
                "set_by": t["set_by"],
                "set_on": date_label(t["set_on"], lang),
            }
        )
    schema = {
        "kpi": pl.String,
        "scope": pl.String,
        "target": pl.String,
        "actual": pl.String,
        "attainment_pct": pl.Float64,
        "status": pl.String,
        "set_by": pl.String,
        "set_on": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
