"""cities.csv — 市の基本情報: populations and their reference dates for per-capita figures."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from common.calendar import parse_date
from common.text import nfkc
from etl.encoding import read_text
from etl.normalise import parse_count
from etl.sources.base import (
    Context,
    RowCheck,
    Transformed,
    read_csv,
    reader_result,
    table,
)
from etl.vocab import Vocabulary

FILE_NAME = "cities.csv"
KIND = "cities"
COLUMNS = ["市区町村コード", "市名", "人口", "人口基準日"]
VARIANTS = {"市区町村コード": ["団体コード", "市町村コード"], "人口基準日": ["基準日"]}


def extract(path: Path) -> pl.DataFrame:
    """Read cities.csv into a raw frame of strings with lineage."""
    raw, _ = read_csv(path, COLUMNS, VARIANTS)
    return raw


def encoding(path: Path) -> str | None:
    """Detected text encoding of the file."""
    return read_text(path)[1]


def _city_code(vocab: Vocabulary, text: str) -> str:
    """City code from a 5-digit code, a 6-digit code with its check digit, or a city name."""
    text = nfkc(text) or ""
    if len(text) == 6 and text.isdigit():
        text = text[:5]
    return vocab.city(text)


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """Fill population and population_date onto the city vocabulary table."""
    vocab = ctx.vocab
    filled: dict[str, dict] = {}
    quarantine: list[dict] = []
    for row in raw.sort("_row").to_dicts():
        check = RowCheck(row)
        code = check.get("市区町村コード", lambda v: _city_code(vocab, v), required=True)
        named = check.get("市名", vocab.city, required=True)
        population = check.get("人口", parse_count, check="normalise.count", required=True)
        as_of = check.get("人口基準日", parse_date, check="normalise.date", required=True)
        if check.ok and code != named:
            check.fail(
                "市名",
                row["市名"],
                "市区町村コードと市名が一致しません (city code and name disagree)",
                "rule.city_code_name",
            )
        if check.ok and code in filled:
            check.fail(
                "市区町村コード", row["市区町村コード"], "同じ市の行が重複しています (duplicate city)", "rule.duplicate"
            )
        if check.ok:
            filled[code] = {"population": population, "population_date": as_of} | check.lineage
        quarantine.extend(check.problems)
    records = []
    for city in vocab.tables()["city"].to_dicts():
        records.append(city | filled.get(city["code"], {}))
    return reader_result(raw, {None: COLUMNS}, {"city": table("city", records)}, quarantine)
