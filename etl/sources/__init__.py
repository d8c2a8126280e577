"""Source modules in load order, and transform_bundle: every file of a bundle into warehouse frames."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etl.encoding import read_text
from etl.errors import SourceError
from etl.sources import cities, distribution, events, mymaps, progress, survey, targets
from etl.sources.base import Context, Transformed, quarantine_frame, rows_set_aside
from etl.vocab import UnknownLabel, Vocabulary

# Distribution must precede survey and mymaps: they match names against its organisations.
SOURCES = (cities, distribution, survey, mymaps, events, progress, targets)


@dataclass(frozen=True)
class FileStat:
    """Lineage of one file a run read (a source or a seed)."""

    file_name: str
    kind: str
    path: Path
    sha256: str
    size_bytes: int
    encoding: str | None
    rows_read: int
    rows_loaded: int
    rows_quarantined: int


@dataclass
class Bundle:
    """Every warehouse table of a bundle (DDL columns plus lineage), its quarantine and file lineage."""

    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    files: list[FileStat]
    warnings: list[str] = field(default_factory=list)
    # (file, sheet, data rows) of every sheet a workbook source should have, empty ones included.
    sheets: list[tuple[str, str, int]] = field(default_factory=list)
    # Warehouse table → the source file its rows come from, so a table-level failure can name the file.
    table_files: dict[str, str] = field(default_factory=dict)
    # Source file name → (fiscal year, how it was known: folder or default), set by etl.years.
    file_years: dict[str, tuple[int, str]] = field(default_factory=dict)


def source_path(source_dir: Path, module: object) -> Path:
    """Path of a module's file in the bundle (its FILE_NAME, else an accepted alternative)."""
    for name in (module.FILE_NAME, *getattr(module, "ALT_FILE_NAMES", ())):
        path = source_dir / name
        if path.is_file():
            return path
    raise SourceError(module.FILE_NAME, "ファイルがありません (file not found)")


def _stat(path: Path, kind: str, encoding: str | None, rows_read: int, quarantine: pl.DataFrame) -> FileStat:
    """FileStat of a file; rows quarantined are the distinct (sheet, row) pairs set aside."""
    data = path.read_bytes()
    bad = sum(rows_set_aside(quarantine).values())
    return FileStat(
        file_name=path.name,
        kind=kind,
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        encoding=encoding,
        rows_read=rows_read,
        rows_loaded=rows_read - bad,
        rows_quarantined=bad,
    )


def with_survey(organizations: pl.DataFrame, responses: pl.DataFrame) -> pl.DataFrame:
    """Set survey_answered, pf_intent_code and has_isolation_initiative of organisations from their answers."""
    answers = responses.select(
        pl.col("organization_id").alias("id"),
        pl.lit(True).alias("_answered"),
        pl.col("pf_intent_code").alias("_intent"),
        pl.col("has_isolation_initiative").alias("_initiative"),
    )
    return (
        organizations.join(answers, on="id", how="left", maintain_order="left")
        .with_columns(
            survey_answered=pl.col("_answered").fill_null(False),
            pf_intent_code=pl.col("_intent"),
            has_isolation_initiative=pl.col("_initiative"),
        )
        .select(organizations.columns)
    )


def _city_of(vocab: Vocabulary, label: str) -> str | None:
    """City code of a sheet name, or None when the sheet is not named by a city."""
    try:
        return vocab.city(label)
    except UnknownLabel:
        return None


def transform_bundle(source_dir: Path, seeds_dir: Path) -> Bundle:
    """Extract and transform every source of a bundle in order; a missing or unreadable file raises SourceError."""
    source_dir, seeds_dir = Path(source_dir), Path(seeds_dir)
    vocab = Vocabulary.load(seeds_dir)
    tables = vocab.tables()
    empty = quarantine_frame([])
    files = [
        _stat(path, "seed", read_text(path)[1], vocab.frames[name].height, empty) for name, path in vocab.seed.items()
    ]
    quarantines = []
    warnings: list[str] = []
    ctx = Context(vocab)
    sheets: list[tuple[str, str, int]] = []
    table_files: dict[str, str] = {}
    for module in SOURCES:
        path = source_path(source_dir, module)
        raw = module.extract(path)
        if hasattr(module, "SHEETS"):
            found = raw["_sheet"].value_counts() if raw.height else None
            counts = dict(found.iter_rows()) if found is not None else {}
            sheets.extend((path.name, sheet, int(counts.get(sheet, 0))) for sheet in module.SHEETS)
        result: Transformed = module.transform(raw, ctx)
        table_files.update(dict.fromkeys(result.tables, path.name))
        if module is distribution:
            ctx = Context(
                vocab,
                result.tables["organization"].select("id", "name", "name_key", "city_code"),
                rejected_organizations=result.rejected,
                # The list has one sheet per city, named by it (自主調査 is no city).
                empty_cities={
                    code: root
                    for sheet, root in result.empty_sheets.items()
                    if (code := _city_of(vocab, sheet)) is not None
                },
            )
        result.encoding = module.encoding(path) if hasattr(module, "encoding") else None
        tables.update(result.tables)
        files.append(_stat(path, module.KIND, result.encoding, result.rows_read, result.quarantine))
        quarantines.append(result.quarantine)
        warnings.extend(result.warnings)
    tables["organization"] = with_survey(tables["organization"], tables["survey_response"])
    return Bundle(
        tables=tables,
        quarantine=pl.concat([empty, *quarantines]),
        files=files,
        warnings=warnings,
        sheets=sheets,
        table_files=table_files,
    )
