"""The change guard: what a build is about to publish, compared with what is published, before the swap.

A source sheet or file that had rows and now has none, a city or an event that disappears, or a headline
figure (organisations, answers, visitors, participants; per city and for the four cities together) that
moves by more than a share of its published value is a change the operator must confirm. A first build
(nothing published) or identical figures pass. Both sides are read from warehouse files, so the intake
dry run can compare its private candidate with the published warehouse the same way (check_changes).

Figures are compared per fiscal year (年度): a year the build adds is nothing to confirm, a published year
the build drops or thins out is. With more than one year involved each message and subject names its year.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb

from common.calendar import fiscal_year_label
from etl.errors import EtlError

# Default share of its published value a headline figure may move by without asking (0.2 = 20 %).
DEFAULT_MAX_SHARE = 0.2
SHARE_SETTING = ("TSUNAGARI_CHANGE_SHARE", "--change-share")

# Headline figures: (key, Japanese label, English label, SQL giving one year's (city_code, value) rows, $year bound).
# Organisations are the year's own list (organization_year): organization keeps one row per key across years.
FIGURES = (
    (
        "organizations",
        "団体数",
        "organisations",
        "select city_code, count(*) from organization_year where fiscal_year = $year group by city_code",
    ),
    (
        "mapped",
        "地図に載る団体数",
        "organisations on the map",
        "select o.city_code, count(distinct l.organization_id) from location l join organization_year o "
        "on o.organization_id = l.organization_id and o.fiscal_year = l.fiscal_year where l.fiscal_year = $year "
        "group by o.city_code",
    ),
    (
        "answers",
        "アンケート回答数",
        "survey answers",
        "select city_code, count(*) from survey_response where fiscal_year = $year group by city_code",
    ),
    (
        "visitors",
        "来場者数",
        "visitors",
        "select e.city_code, sum(s.visitors) from event_session s "
        "join event e on e.id = s.event_id and e.fiscal_year = s.fiscal_year where s.fiscal_year = $year "
        "group by e.city_code",
    ),
    (
        "participants",
        "参加者数",
        "participants",
        "select e.city_code, sum(s.participants) from event_session s "
        "join event e on e.id = s.event_id and e.fiscal_year = s.fiscal_year where s.fiscal_year = $year "
        "group by e.city_code",
    ),
)
ALL_CITIES = ("4市全体", "the four cities")


@dataclass(frozen=True)
class Change:
    """One change that needs the operator's confirmation, in Japanese and English, with its figures."""

    key: str  # sheet_emptied | file_emptied | city_gone | event_gone | figure_moved | year_gone
    # The sheet, file, city code, event id, "<figure>:<city code or all>", or the year; with more than one
    # year compared, prefixed "<西暦 year>/" (2024/answers:all).
    subject: str
    before: float | None
    after: float | None
    message_ja: str
    message_en: str

    def __str__(self) -> str:
        """The message as the CLI and the error print it: Japanese, then English in parentheses."""
        return f"{self.message_ja} ({self.message_en})"


@dataclass(frozen=True)
class Figures:
    """What a warehouse holds for one fiscal year (None: not known), as far as the guard compares it."""

    sheets: dict[tuple[str, str | None], int]  # (file as stored, e.g. R7/events.xlsx; sheet or None) → rows
    files: dict[str, str]  # source file as stored → sha256
    cities: dict[str, tuple[str, str]]
    events: dict[str, str]
    headline: dict[tuple[str, str | None], float]
    fiscal_year: int | None = None


@dataclass(frozen=True)
class YearFigures:
    """What a warehouse holds, per fiscal year (年度), oldest first."""

    years: dict[int | None, Figures]

    @property
    def files(self) -> dict[str, str]:
        """Every year's source files (their stored names carry the year folder)."""
        return {name: sha for figures in self.years.values() for name, sha in figures.files.items()}


def max_share_from_env(environ: dict[str, str] | None = None) -> float:
    """The share from TSUNAGARI_CHANGE_SHARE, else the default; a bad value raises EtlError."""
    raw = (os.environ if environ is None else environ).get(SHARE_SETTING[0])
    return DEFAULT_MAX_SHARE if raw in (None, "") else parse_share(raw)


def parse_share(raw: str | float) -> float:
    """A share as a number above 0 (0.2 or 20% both mean a fifth)."""
    text = str(raw).strip()
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise EtlError(
            f"{SHARE_SETTING[0]}: 0より大きい割合を指定してください「{raw}」 (must be a share above 0, e.g. 0.2)"
        )
    return value


def _latest_run(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run that wrote the warehouse's content (the newest recorded run)."""
    row = con.execute("select run_id from etl_run order by started_at desc, run_id desc limit 1").fetchone()
    return None if row is None else row[0]


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when the main schema has this table."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = 'main' and table_name = ?", [name]
        ).fetchone()[0]
    )


def figures(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> YearFigures:
    """The guard's figures of one warehouse per 年度 (run_id: the run whose source rows count, default the newest)."""
    run_id = run_id or _latest_run(con)
    years = [row[0] for row in con.execute("select fiscal_year from fiscal_year_bundle order by 1").fetchall()]
    return YearFigures({year: _year_figures(con, run_id, year) for year in years})


def _year_figures(con: duckdb.DuckDBPyConnection, run_id: str | None, year: int) -> Figures:
    """One 年度's figures: its source files and sheets, cities, events and headline figures."""
    sheets: dict[tuple[str, str | None], int] = {}
    files: dict[str, str] = {}
    if run_id is not None:
        for name, rows, sha in con.execute(
            "select file_name, rows_read, sha256 from etl_source_file "
            "where run_id = ? and kind not in ('seed', 'reference') and fiscal_year = ?",
            [run_id, year],
        ).fetchall():
            sheets[name, None] = int(rows)
            files[name] = sha
        if _has_table(con, "etl_source_sheet"):
            for name, sheet, rows in con.execute(
                "select s.file_name, s.sheet, s.rows_read from etl_source_sheet s "
                "join etl_source_file f on f.run_id = s.run_id and f.file_name = s.file_name "
                "where s.run_id = ? and f.fiscal_year = ?",
                [run_id, year],
            ).fetchall():
                sheets[name, sheet] = int(rows)
    cities = {
        code: (ja, en)
        for code, ja, en in con.execute(
            "select code, name_ja, name_en from city where code in "
            "(select city_code from organization_year where fiscal_year = $year "
            "union select city_code from event where fiscal_year = $year)",
            {"year": year},
        ).fetchall()
    }
    events = dict(con.execute("select id, title from event where fiscal_year = ?", [year]).fetchall())
    headline: dict[tuple[str, str | None], float] = {}
    for key, _, _, sql in FIGURES:
        total = 0.0
        for city, value in con.execute(sql, {"year": year}).fetchall():
            value = float(value or 0)
            headline[key, city] = value
            total += value
        headline[key, None] = total
    return Figures(sheets, files, cities, events, headline, year)


def _number(value: float | None) -> str:
    """A figure as the messages print it: whole numbers with thousands separators."""
    return "0" if value is None else f"{value:,.0f}"


def _by_year(figures: Figures | YearFigures) -> dict[int | None, Figures]:
    """Figures per year: a warehouse's as read, or one year's as given."""
    return figures.years if isinstance(figures, YearFigures) else {figures.fiscal_year: figures}


def _base_name(name: str) -> str:
    """A stored source file name without its year folder (R7/events.xlsx → events.xlsx)."""
    return name.rsplit("/", 1)[-1]


def compare(
    before: Figures | YearFigures | None, after: Figures | YearFigures, max_share: float = DEFAULT_MAX_SHARE
) -> list[Change]:
    """Every change from before (published; None: nothing published) to after that needs confirmation, per 年度.

    A year only after holds (a new year) needs nothing; a year only before holds is one year_gone change.
    """
    if before is None:
        return []
    old, new = _by_year(before), _by_year(after)
    named = len(set(old) | set(new)) > 1
    changes: list[Change] = []
    for year in sorted(old, key=lambda y: (y is not None, y or 0)):
        if year not in new:
            ja, en = _year_labels(year)
            changes.append(
                Change(
                    "year_gone",
                    str(year),
                    None,
                    None,
                    f"{ja}のデータがすべてなくなります",
                    f"{en}: every file and figure of the year disappears",
                )
            )
            continue
        changes.extend(_compare_year(old[year], new[year], max_share, year if named else None))
    return changes


def _year_labels(year: int | None) -> tuple[str, str]:
    """A 年度 as the messages name it: R6年度 and FY2024."""
    return ("", "") if year is None else (fiscal_year_label(year, "ja"), fiscal_year_label(year, "en"))


def _compare_year(before: Figures, after: Figures, max_share: float, year: int | None) -> list[Change]:
    """The changes within one year; year (when more than one is compared) is named in subjects and messages."""
    changes: list[Change] = []
    prefix = "" if year is None else f"{year}/"
    label_ja, label_en = _year_labels(year)

    def change(key: str, subject: str, old: float | None, new: float | None, ja: str, en: str) -> None:
        """Append one change, with the year in front of its subject and messages when years are named."""
        if year is not None:
            subject, ja, en = prefix + subject, f"{label_ja} {ja}", f"{label_en}: {en}"
        changes.append(Change(key, subject, old, new, ja, en))

    # The year's files by name without the year folder: a flat bundle moved into R6/ is the same file.
    now_sheets = {(_base_name(name), sheet): rows for (name, sheet), rows in after.sheets.items()}
    for (stored, sheet), rows in sorted(before.sheets.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        name = _base_name(stored) if year is not None else stored
        now = now_sheets.get((_base_name(stored), sheet))
        if rows > 0 and now == 0:
            if sheet is None:
                change(
                    "file_emptied",
                    name,
                    rows,
                    0,
                    f"{name}: 前回 {rows} 行あったデータ行がなくなります",
                    f"{name}: had {rows} rows, now none",
                )
            else:
                change(
                    "sheet_emptied",
                    f"{name}, sheet {sheet}",
                    rows,
                    0,
                    f"{name} のシート「{sheet}」: 前回 {rows} 行あったデータ行がなくなります（見出し行だけです）",
                    f"{name}, sheet {sheet}: had {rows} rows, now none (header row only)",
                )
    for code, (ja, en) in sorted(before.cities.items()):
        if code not in after.cities:
            change(
                "city_gone",
                code,
                None,
                None,
                f"{ja} の団体・イベントがすべてなくなります",
                f"{en}: every organisation and event disappears",
            )
    for event_id, title in sorted(before.events.items()):
        if event_id not in after.events:
            change(
                "event_gone",
                event_id,
                None,
                None,
                f"イベント {event_id}「{title}」がなくなります",
                f"event {event_id} ({title}) disappears",
            )
    names = {**before.cities, **after.cities}
    for key, ja, en, _ in FIGURES:
        for city in sorted({c for k, c in before.headline if k == key}, key=lambda c: (c is not None, c or "")):
            old, new = before.headline[key, city], after.headline.get((key, city), 0.0)
            if old == new or (old == 0 and new == 0):
                continue
            share = abs(new - old) / old if old else float("inf")
            if share <= max_share:
                continue
            where_ja, where_en = ALL_CITIES if city is None else names.get(city, (city, city))
            moved = "" if old == 0 else f"（{(new - old) / old:+.1%}）"
            moved_en = "" if old == 0 else f" ({(new - old) / old:+.1%})"
            change(
                "figure_moved",
                f"{key}:{city or 'all'}",
                old,
                new,
                f"{where_ja}の{ja}が {_number(old)} → {_number(new)}{moved}",
                f"{en} of {where_en}: {_number(old)} → {_number(new)}{moved_en}, more than {max_share:.0%}",
            )
    return changes


def accepted(changes: list[Change], accept: bool | Collection[tuple[str, str]]) -> bool:
    """Whether the operator accepted these changes: True accepts any, a collection of (key, subject) exactly those."""
    if isinstance(accept, bool):
        return accept
    agreed = {tuple(pair) for pair in accept}
    return all((change.key, change.subject) in agreed for change in changes)


def changed_files(before: Figures | YearFigures | None, after: Figures | YearFigures) -> list[str]:
    """Source files whose bytes differ from the published run's same year's (new files included), by stored name."""
    if before is None:
        return []
    old = _by_year(before)
    changed = []
    for year, figures in _by_year(after).items():
        published = {_base_name(name): sha for name, sha in old[year].files.items()} if year in old else {}
        changed += [name for name, sha in figures.files.items() if published.get(_base_name(name)) != sha]
    return sorted(changed)


def read_figures(path: Path) -> YearFigures | None:
    """The figures of a warehouse file, or None when there is none (or it cannot be read: a rebuild may repair it)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return figures(con)
    except duckdb.Error:
        return None


def check_changes(published: Path, candidate: Path, max_share: float | None = None) -> list[Change]:
    """The changes publishing candidate over published would make (empty: nothing to confirm).

    For a dry run: build the candidate into a private file (build(..., accept_changes=True)), then call this.
    """
    share = max_share_from_env() if max_share is None else max_share
    after = read_figures(candidate)
    if after is None:
        raise EtlError(f"{Path(candidate).name}: 候補の倉庫を読めません (cannot read the candidate warehouse)")
    return compare(read_figures(published), after, share)
