"""Fiscal years (年度) of a source bundle: one sub-folder per year, or a flat single-year bundle."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from common.calendar import fiscal_year_of_folder
from etl import sources
from etl.errors import EtlError
from etl.sources.base import TABLE_SCHEMAS

# A flat bundle (files directly in the source folder) is this 年度 unless TSUNAGARI_FISCAL_YEAR says otherwise:
# the shipped sample is R6年度 (2024).
DEFAULT_FISCAL_YEAR = 2024
FISCAL_YEAR_ENV = "TSUNAGARI_FISCAL_YEAR"
BUNDLE_TABLE = "fiscal_year_bundle"
YEAR_ORGANIZATIONS = "organization_year"
# Tables with this column hold a year's facts and are stacked; the others (seeds, cities) come from the latest year.
YEAR_COLUMN = "fiscal_year"


@dataclass(frozen=True)
class YearFolder:
    """One year's bundle: its 年度, its folder, the sub-folder name (None when flat) and how the year was known."""

    fiscal_year: int
    path: Path
    folder: str | None
    year_from: str


def default_year() -> int:
    """The 年度 of a flat bundle: TSUNAGARI_FISCAL_YEAR (西暦 start year, or a label such as R6), else 2024."""
    raw = os.environ.get(FISCAL_YEAR_ENV, "").strip()
    if not raw:
        return DEFAULT_FISCAL_YEAR
    year = fiscal_year_of_folder(raw)
    if year is None:
        raise EtlError(f"{FISCAL_YEAR_ENV}={raw!r} is not a fiscal year (2024, R6, 令和6年度)")
    return year


def year_folders(source_dir: Path) -> list[YearFolder]:
    """The bundle's years, oldest first: its year sub-folders, or the folder itself as one (flat) year."""
    source_dir = Path(source_dir)
    named = [
        (year, path)
        for path in sorted(source_dir.iterdir())
        if path.is_dir() and (year := fiscal_year_of_folder(path.name)) is not None
    ]
    if not named:
        return [YearFolder(default_year(), source_dir, None, "default")]
    flat = [module.FILE_NAME for module in sources.SOURCES if (source_dir / module.FILE_NAME).is_file()]
    if flat:
        raise EtlError(
            f"{source_dir}: holds year folders and also files of a single-year bundle ({', '.join(flat)}); "
            "move them into their year's folder"
        )
    seen: dict[int, str] = {}
    for year, path in named:
        if year in seen:
            raise EtlError(f"{source_dir}: folders {seen[year]} and {path.name} name the same fiscal year {year}")
        seen[year] = path.name
    return [YearFolder(year, path, path.name, "folder") for year, path in sorted(named)]


def transform_years(source_dir: Path, seeds_dir: Path) -> sources.Bundle:
    """Every year's bundle transformed (etl.sources.transform_bundle) and merged into one, each row with its year."""
    folders = year_folders(source_dir)
    parts = [_with_year(sources.transform_bundle(year.path, seeds_dir), year) for year in folders]
    merged = parts[-1] if len(parts) == 1 else _merge(parts)
    merged.tables[BUNDLE_TABLE] = pl.DataFrame(
        [
            {
                "fiscal_year": year.fiscal_year,
                "source_folder": year.folder,
                "year_from": year.year_from,
                "is_latest": year is folders[-1],
            }
            for year in folders
        ],
        schema=TABLE_SCHEMAS[BUNDLE_TABLE],
    )
    return merged


def _with_year(bundle: sources.Bundle, year: YearFolder) -> sources.Bundle:
    """A year's bundle with fiscal_year on its year tables and, from a sub-folder, file names as R7/<file>."""
    prefix = f"{year.folder}/" if year.folder else ""
    tables = {}
    for name, frame in bundle.tables.items():
        columns = TABLE_SCHEMAS.get(name, {})
        if YEAR_COLUMN in columns:
            frame = frame.with_columns(pl.lit(year.fiscal_year, dtype=columns[YEAR_COLUMN]).alias(YEAR_COLUMN))
        if name == "organization":
            frame = frame.with_columns(
                pl.lit(year.fiscal_year, dtype=columns["first_fiscal_year"]).alias("first_fiscal_year"),
                pl.lit(year.fiscal_year, dtype=columns["last_fiscal_year"]).alias("last_fiscal_year"),
            )
        if prefix and "_file" in frame.columns:
            frame = frame.with_columns((pl.lit(prefix) + pl.col("_file")).alias("_file"))
        tables[name] = frame
    # The year's own organisations, kept before organization merges the years into one row per key.
    tables[YEAR_ORGANIZATIONS] = tables["organization"].select(
        *(
            (pl.col("id") if column == "organization_id" else pl.col(column)).cast(dtype).alias(column)
            for column, dtype in TABLE_SCHEMAS[YEAR_ORGANIZATIONS].items()
            if column != YEAR_COLUMN
        ),
        pl.lit(year.fiscal_year, dtype=TABLE_SCHEMAS[YEAR_ORGANIZATIONS][YEAR_COLUMN]).alias(YEAR_COLUMN),
        *(column for column in ("_file", "_sheet", "_row") if column in tables["organization"].columns),
    )
    source_files = {stat.file_name for stat in bundle.files if stat.kind != "seed"}
    files = [
        dataclasses.replace(stat, file_name=prefix + stat.file_name) if stat.file_name in source_files else stat
        for stat in bundle.files
    ]
    quarantine = bundle.quarantine
    if prefix:
        named = pl.col("file_name").is_in(list(source_files))
        quarantine = quarantine.with_columns(
            pl.when(named).then(pl.lit(prefix) + pl.col("file_name")).otherwise(pl.col("file_name")).alias("file_name"),
            _prefixed_root(pl.col("root_cause"), source_files, prefix).alias("root_cause"),
        )
    return dataclasses.replace(
        bundle,
        tables=tables,
        quarantine=quarantine,
        files=files,
        warnings=[f"{year.folder}: {warning}" for warning in bundle.warnings] if prefix else bundle.warnings,
        sheets=[(prefix + file if file in source_files else file, sheet, rows) for file, sheet, rows in bundle.sheets],
        table_files={table: prefix + file for table, file in bundle.table_files.items()},
        file_years={prefix + name: (year.fiscal_year, year.year_from) for name in source_files},
    )


def _prefixed_root(column: pl.Expr, names: set[str], prefix: str) -> pl.Expr:
    """A root cause naming one of the year's files ("events.xlsx, sheet …") with the year folder in front."""
    starts = pl.lit(False)
    for name in sorted(names):
        starts = starts | column.str.starts_with(name)
    return pl.when(starts).then(pl.lit(prefix) + column).otherwise(column)


def _merge(parts: list[sources.Bundle]) -> sources.Bundle:
    """Years' bundles as one: year tables stacked, organisations one per key, the rest from the latest year."""
    latest = parts[-1]
    tables: dict[str, pl.DataFrame] = {}
    for name, frame in latest.tables.items():
        if name == "organization":
            tables[name] = _organizations([part.tables[name] for part in parts])
        elif YEAR_COLUMN in TABLE_SCHEMAS.get(name, {}):
            tables[name] = pl.concat([part.tables[name] for part in parts], how="vertical_relaxed")
        else:
            tables[name] = frame
    seeds = [stat for stat in latest.files if stat.kind == "seed"]
    return dataclasses.replace(
        latest,
        tables=tables,
        quarantine=pl.concat([part.quarantine for part in parts], how="vertical_relaxed"),
        files=seeds + [stat for part in parts for stat in part.files if stat.kind != "seed"],
        warnings=[warning for part in parts for warning in part.warnings],
        sheets=[sheet for part in parts for sheet in part.sheets],
        file_years={name: year for part in parts for name, year in part.file_years.items()},
        year_organizations={
            int(part.tables[YEAR_ORGANIZATIONS][YEAR_COLUMN][0]): part.tables["organization"]
            for part in parts[:-1]
            if part.tables[YEAR_ORGANIZATIONS].height
        },
    )


def _organizations(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One organisation per id (= matching key) across years: the latest year's row, first and last year seen."""
    stacked = pl.concat(frames, how="vertical_relaxed")
    first = stacked.group_by("id").agg(pl.col("first_fiscal_year").min().alias("_first"))
    latest = stacked.sort("last_fiscal_year", maintain_order=True).unique("id", keep="last", maintain_order=True)
    return (
        latest.join(first, on="id", how="left", maintain_order="left")
        .with_columns(pl.col("_first").alias("first_fiscal_year"))
        .select(stacked.columns)
    )
