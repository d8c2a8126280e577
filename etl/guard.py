"""The change guard: what a build is about to publish, compared with what is published, before the swap.

A source sheet or file that had rows and now has none, a city or an event that disappears, or a headline
figure (organisations, answers, visitors, participants; per city and for the four cities together) that
moves by more than a share of its published value is a change the operator must confirm. A first build
(nothing published) or identical figures pass. Both sides are read from warehouse files, so the intake
dry run can compare its private candidate with the published warehouse the same way (check_changes).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl.errors import EtlError

# Default share of its published value a headline figure may move by without asking (0.2 = 20 %).
DEFAULT_MAX_SHARE = 0.2
SHARE_SETTING = ("TSUNAGARI_CHANGE_SHARE", "--change-share")

# Headline figures: (key, Japanese label, English label, SQL giving (city_code, value) rows).
FIGURES = (
    ("organizations", "団体数", "organisations", "select city_code, count(*) from organization group by city_code"),
    (
        "answers",
        "アンケート回答数",
        "survey answers",
        "select city_code, count(*) from survey_response group by city_code",
    ),
    (
        "visitors",
        "来場者数",
        "visitors",
        "select e.city_code, sum(s.visitors) from event_session s join event e on e.id = s.event_id group by e.city_code",
    ),
    (
        "participants",
        "参加者数",
        "participants",
        "select e.city_code, sum(s.participants) from event_session s join event e on e.id = s.event_id "
        "group by e.city_code",
    ),
)
ALL_CITIES = ("4市全体", "the four cities")


@dataclass(frozen=True)
class Change:
    """One change that needs the operator's confirmation, in Japanese and English, with its figures."""

    key: str  # sheet_emptied | file_emptied | city_gone | event_gone | figure_moved
    subject: str  # the sheet, file, city code, event id, or "<figure>:<city code or all>"
    before: float | None
    after: float | None
    message_ja: str
    message_en: str

    def __str__(self) -> str:
        """The message as the CLI and the error print it: Japanese, then English in parentheses."""
        return f"{self.message_ja} ({self.message_en})"


@dataclass(frozen=True)
class Figures:
    """What a warehouse holds, as far as the guard compares it."""

    sheets: dict[tuple[str, str | None], int]
    files: dict[str, str]  # source file → sha256
    cities: dict[str, tuple[str, str]]
    events: dict[str, str]
    headline: dict[tuple[str, str | None], float]


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


def figures(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> Figures:
    """The guard's figures of one warehouse (run_id: the run whose source rows count, default the newest)."""
    run_id = run_id or _latest_run(con)
    sheets: dict[tuple[str, str | None], int] = {}
    files: dict[str, str] = {}
    if run_id is not None:
        for name, rows, sha in con.execute(
            "select file_name, rows_read, sha256 from etl_source_file "
            "where run_id = ? and kind not in ('seed', 'reference')",
            [run_id],
        ).fetchall():
            sheets[name, None] = int(rows)
            files[name] = sha
        if _has_table(con, "etl_source_sheet"):
            for name, sheet, rows in con.execute(
                "select file_name, sheet, rows_read from etl_source_sheet where run_id = ?", [run_id]
            ).fetchall():
                sheets[name, sheet] = int(rows)
    cities = {
        code: (ja, en)
        for code, ja, en in con.execute(
            "select code, name_ja, name_en from city where code in "
            "(select city_code from organization union select city_code from event)"
        ).fetchall()
    }
    events = dict(con.execute("select id, title from event").fetchall())
    headline: dict[tuple[str, str | None], float] = {}
    for key, _, _, sql in FIGURES:
        total = 0.0
        for city, value in con.execute(sql).fetchall():
            value = float(value or 0)
            headline[key, city] = value
            total += value
        headline[key, None] = total
    return Figures(sheets, files, cities, events, headline)


def _number(value: float | None) -> str:
    """A figure as the messages print it: whole numbers with thousands separators."""
    return "0" if value is None else f"{value:,.0f}"


def compare(before: Figures | None, after: Figures, max_share: float = DEFAULT_MAX_SHARE) -> list[Change]:
    """Every change from before (published; None: nothing published) to after that needs confirmation."""
    if before is None:
        return []
    changes: list[Change] = []
    for (name, sheet), rows in sorted(before.sheets.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        now = after.sheets.get((name, sheet))
        if rows > 0 and now == 0:
            if sheet is None:
                changes.append(
                    Change(
                        "file_emptied",
                        name,
                        rows,
                        0,
                        f"{name}: 前回 {rows} 行あったデータ行がなくなります",
                        f"{name}: had {rows} rows, now none",
                    )
                )
            else:
                changes.append(
                    Change(
                        "sheet_emptied",
                        f"{name}, sheet {sheet}",
                        rows,
                        0,
                        f"{name} のシート「{sheet}」: 前回 {rows} 行あったデータ行がなくなります（見出し行だけです）",
                        f"{name}, sheet {sheet}: had {rows} rows, now none (header row only)",
                    )
                )
    for code, (ja, en) in sorted(before.cities.items()):
        if code not in after.cities:
            changes.append(
                Change(
                    "city_gone",
                    code,
                    None,
                    None,
                    f"{ja} の団体・イベントがすべてなくなります",
                    f"{en}: every organisation and event disappears",
                )
            )
    for event_id, title in sorted(before.events.items()):
        if event_id not in after.events:
            changes.append(
                Change(
                    "event_gone",
                    event_id,
                    None,
                    None,
                    f"イベント {event_id}「{title}」がなくなります",
                    f"event {event_id} ({title}) disappears",
                )
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
            changes.append(
                Change(
                    "figure_moved",
                    f"{key}:{city or 'all'}",
                    old,
                    new,
                    f"{where_ja}の{ja}が {_number(old)} → {_number(new)}{moved}",
                    f"{en} of {where_en}: {_number(old)} → {_number(new)}{moved_en}, more than {max_share:.0%}",
                )
            )
    return changes


def accepted(changes: list[Change], accept: bool | Collection[tuple[str, str]]) -> bool:
    """Whether the operator accepted these changes: True accepts any, a collection of (key, subject) exactly those."""
    if isinstance(accept, bool):
        return accept
    agreed = {tuple(pair) for pair in accept}
    return all((change.key, change.subject) in agreed for change in changes)


def changed_files(before: Figures | None, after: Figures) -> list[str]:
    """Source files whose bytes differ from the published run's (new files included), by name."""
    if before is None:
        return []
    return sorted(name for name, sha in after.files.items() if before.files.get(name) != sha)


def read_figures(path: Path) -> Figures | None:
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
