"""kpi_targets.csv — KPI の目標値: targets the cities' managers set for the art-project KPIs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from common.calendar import parse_date
from common.text import nfkc
from etl.encoding import read_text
from etl.errors import SourceError
from etl.sources.base import (
    Context,
    RowCheck,
    Transformed,
    header_key,
    raw_frame,
    read_csv,
    reader_result,
    table,
)

FILE_NAME = "kpi_targets.csv"
KIND = "targets"
COLUMNS = ["KPI", "市", "目標値", "単位", "設定者", "設定日"]
VARIANTS = {"KPI": ["指標", "KPIコード"], "目標値": ["目標"], "設定者": ["設定部署"], "設定日": ["設定年月日"]}
# read_csv's message for a file holding only its header: a bundle with no targets yet is valid.
NO_DATA_ROWS = "データ行がありません (no data rows)"


@dataclass(frozen=True)
class Kpi:
    """One KPI a target may be set for: code, Japanese name, unit, and how it is judged."""

    code: str
    name_ja: str
    unit: str
    higher_is_better: bool = True
    # Computed only for the four cities together (the art contract is a joint one).
    joint_only: bool = False


# The allow-list: exactly the KPIs warehouse/marts/mart_event_kpis.sql computes (a test keeps them equal).
KPIS: tuple[Kpi, ...] = (
    Kpi("exhibition_visitors", "展示会来場者数", "名"),
    Kpi("exhibition_visitors_per_day", "展示会1日平均来場者数", "名/日"),
    Kpi("workshop_participations", "WS参加者数（延べ）", "名"),
    Kpi("workshop_unique_participants", "WS参加者数（実人数）", "名"),
    Kpi("workshop_consultee_participations", "WS相談者の参加数（延べ）", "名"),
    Kpi("workshop_unique_consultees", "WS相談者数（実人数）", "名"),
    Kpi("workshop_consultee_share_pct", "WS参加に占める相談者の割合（延べ）", "%"),
    Kpi("symposium_participants", "シンポジウム参加者数", "名"),
    Kpi("survey_positive_pct", "アンケート肯定的回答の割合", "%"),
    Kpi("total_reach", "来場・参加者数（延べ合計）", "名"),
    Kpi("cost_per_contact_yen", "延べ1人当たり事業費", "円", higher_is_better=False, joint_only=True),
    Kpi("cost_per_person_yen", "1人当たり事業費（WS実人数ベース）", "円", higher_is_better=False, joint_only=True),
)
BY_LABEL = {header_key(label): kpi for kpi in KPIS for label in (kpi.code, kpi.name_ja)}
# Accepted spellings of each unit (after NFKC, so ％ and ／ are covered).
UNITS = {"名": ("名", "人"), "名/日": ("名/日", "人/日"), "%": ("%", "パーセント"), "円": ("円", "yen")}
UNIT_BY_LABEL = {header_key(label): unit for unit, labels in UNITS.items() for label in labels}
ALL_CITIES = {header_key(label) for label in ("4市全体", "4市", "全体", "全市", "all")}
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def extract(path: Path) -> pl.DataFrame:
    """Read kpi_targets.csv into a raw frame of strings with lineage (a header-only file gives no rows)."""
    try:
        raw, _ = read_csv(path, COLUMNS, VARIANTS)
    except SourceError as error:
        if error.message != NO_DATA_ROWS:
            raise
        return raw_frame([], COLUMNS)
    return raw


def encoding(path: Path) -> str | None:
    """Detected text encoding of the file."""
    return read_text(path)[1]


def parse_kpi(value: Any) -> Kpi:
    """The KPI named by its code or Japanese name; anything else raises ValueError."""
    kpi = BY_LABEL.get(header_key(value))
    if kpi is None:
        raise ValueError(
            f"未知のKPI「{nfkc(value)}」 (unknown KPI: use a code or name listed in docs/source-formats.md)"
        )
    return kpi


def parse_target(value: Any) -> float:
    """A target value: a positive number, thousands separators allowed ("3,000", "85.3")."""
    text = (nfkc(value) or "").replace(",", "").replace(" ", "")
    if not NUMBER.fullmatch(text):
        raise ValueError(f"数値として読めません「{nfkc(value)}」 (not a number)")
    number = float(text)
    if number <= 0:
        raise ValueError(f"目標値は0より大きい数です「{nfkc(value)}」 (target must be greater than 0)")
    return number


def parse_unit(value: Any) -> str:
    """A unit label as one of 名, 名/日, %, 円."""
    unit = UNIT_BY_LABEL.get(header_key(value))
    if unit is None:
        raise ValueError(f"未知の単位「{nfkc(value)}」 (unknown unit: 名, 名/日, % or 円)")
    return unit


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """kpi_target rows; unknown KPIs, units that disagree and superseded targets are quarantined."""
    vocab = ctx.vocab

    def city(value: Any) -> str | None:
        """City code, or None for the four cities together."""
        return None if header_key(value) in ALL_CITIES else vocab.city(value)

    candidates: list[tuple[dict[str, Any], RowCheck]] = []
    quarantine: list[dict[str, Any]] = []
    for row in raw.sort("_row").to_dicts():
        check = RowCheck(row)
        kpi = check.get("KPI", parse_kpi, check="normalise.kpi", required=True)
        # A bad city would otherwise read as "the four cities together": it is part of the key.
        city_code = check.get("市", city, key=True)
        target = check.get("目標値", parse_target, check="normalise.number", required=True)
        unit = check.get("単位", parse_unit, check="normalise.unit")
        set_by = check.get("設定者")
        set_on = check.get("設定日", parse_date, check="normalise.date")
        if kpi is not None and unit is not None and unit != kpi.unit:
            check.fail(
                "単位",
                row["単位"],
                f"単位がKPIの単位「{kpi.unit}」と一致しません (unit does not match the KPI)",
                "rule.kpi_unit",
            )
        if kpi is not None and kpi.joint_only and city_code is not None:
            check.fail(
                "市",
                row["市"],
                "このKPIは4市全体でのみ設定できます (this KPI exists only for the four cities together)",
                "rule.kpi_scope",
            )
        if check.ok:
            record = {
                "id": f"{kpi.code}:{city_code or 'all'}",
                "kpi_code": kpi.code,
                "city_code": city_code,
                "target_value": target,
                "unit": kpi.unit,
                "set_by": set_by,
                "set_on": set_on,
                "source_row": row["_row"],
            }
            candidates.append((record | check.lineage, check))
        quarantine.extend(check.problems)

    # The latest 設定日 wins for one KPI and city (no date counts as oldest; a tie goes to the later line).
    latest: dict[str, dict[str, Any]] = {}
    for record, _ in sorted(candidates, key=lambda c: (c[0]["set_on"] is not None, c[0]["set_on"] or 0, c[0]["_row"])):
        latest[record["id"]] = record
    kept = {id(record) for record in latest.values()}
    for record, check in candidates:
        if id(record) not in kept:
            check.fail(
                "KPI",
                check.row.get("KPI"),
                "同じKPI・市の新しい目標があります (superseded by a newer target for the same KPI and city)",
                "dedupe.superseded",
            )
            quarantine.extend(check.problems)
    records = sorted(latest.values(), key=lambda r: r["_row"])
    return reader_result(raw, {None: COLUMNS}, {"kpi_target": table("kpi_target", records)}, quarantine)
