"""Source modules in load order, and transform_bundle: every file of a bundle into warehouse frames."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import multiprocessing
import sys
import types
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etl.encoding import read_text
from etl.errors import SourceError
from etl.sources import cities, distribution, events, mymaps, progress, survey, targets
from etl.sources.base import Context, Limits, Transformed, limits, quarantine_frame, rows_set_aside, use_limits
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
    # Every year but the latest → its organisations as its own bundle lists them (set by etl.years when the
    # bundle holds several years; stored as fy<year>.organization for that year's marts, warehouse/years.py).
    year_organizations: dict[int, pl.DataFrame] = field(default_factory=dict)


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


# Below this many bytes of source files a bundle is read in this process: starting the worker processes
# (each imports polars, openpyxl and the ETL, about a second) costs more than the second core saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
WORKERS = 2


@dataclass
class _Done:
    """One source read and transformed: its result and the (file, sheet, data rows) of its sheets."""

    path: Path
    result: Transformed
    sheets: list[tuple[str, str, int]]


def _read(module: object, path: Path) -> tuple[pl.DataFrame, str | None]:
    """A source's raw frame and its text encoding (None for a workbook or map), in one read where the module can."""
    if hasattr(module, "read"):
        return module.read(path)
    return module.extract(path), module.encoding(path) if hasattr(module, "encoding") else None


def _extract(module_name: str, path: Path, limits: Limits) -> tuple[pl.DataFrame, str | None]:
    """One source file's raw frame and encoding under the build's limits (run in a worker process)."""
    with use_limits(limits):
        return _read(importlib.import_module(module_name), path)


def _process(
    module_name: str, path: Path, ctx: Context, limits: Limits, read: tuple[pl.DataFrame, str | None] | None = None
) -> _Done:
    """Extract (unless read gives the raw frame and encoding) and transform one source; here or in a worker."""
    module = importlib.import_module(module_name)
    with use_limits(limits):
        raw, encoding = _read(module, path) if read is None else read
        sheets = []
        if hasattr(module, "SHEETS"):
            found = raw["_sheet"].value_counts() if raw.height else None
            counts = dict(found.iter_rows()) if found is not None else {}
            sheets = [(path.name, sheet, int(counts.get(sheet, 0))) for sheet in module.SHEETS]
        result: Transformed = module.transform(raw, ctx)
        result.encoding = encoding
    return _Done(path, result, sheets)


def _with_organizations(vocab: Vocabulary, result: Transformed) -> Context:
    """The context survey and mymaps match against: the distribution list's organisations and set-asides."""
    return Context(
        vocab,
        result.tables["organization"].select("id", "name", "name_key", "city_code"),
        rejected_organizations=result.rejected,
        # The list has one sheet per city, named by it (自主調査 is no city).
        empty_cities={
            code: root for sheet, root in result.empty_sheets.items() if (code := _city_of(vocab, sheet)) is not None
        },
    )


def _sequential(source_dir: Path, vocab: Vocabulary, limits: Limits) -> Iterator[_Done]:
    """Every source in load order, in this process."""
    ctx = Context(vocab)
    for module in SOURCES:
        done = _process(module.__name__, source_path(source_dir, module), ctx, limits)
        if module is distribution:
            ctx = _with_organizations(vocab, done.result)
        yield done


@contextlib.contextmanager
def _plain_main() -> Iterator[None]:
    """Start spawned workers from etl's modules only, not from the script that is __main__ here.

    A spawned child re-runs the parent's __main__ file first; inside Streamlit (and AppTest) that is a page
    script, which cannot run outside a session (the worker died and the pool broke). An empty module
    (no __file__, no __spec__) tells multiprocessing there is nothing to re-run.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _parallel(source_dir: Path, vocab: Vocabulary, limits: Limits) -> Iterator[_Done]:
    """Every source in load order, read in worker processes: the distribution list (the largest file) in one
    while the others are read in the other, then survey and mymaps matched against its organisations side by
    side. Results and errors come in load order, as _sequential gives them."""
    ctx = Context(vocab)
    paths: dict[object, Path | SourceError] = {}
    for module in SOURCES:
        try:
            paths[module] = source_path(source_dir, module)
        except SourceError as error:
            paths[module] = error
    # spawn, not fork: a forked child of a process running polars' or DuckDB's threads can deadlock.
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures: dict[object, Future] = {}
        extracts: dict[object, Future] = {}
        # The longest job first, so that the other worker takes every other file meanwhile. The pool starts a
        # worker on a submit while fewer than WORKERS run, so every submit goes under the plain __main__.
        with _plain_main():
            for module in (distribution, survey, mymaps, cities, events, progress, targets):
                path = paths[module]
                if isinstance(path, SourceError):
                    continue
                if module in (survey, mymaps):
                    extracts[module] = pool.submit(_extract, module.__name__, path, limits)
                else:
                    futures[module] = pool.submit(_process, module.__name__, path, ctx, limits)

        def matched(module: object) -> None:
            """Start matching a source read by a worker; its read error, if any, is raised at its turn."""
            extract = extracts.pop(module)
            result = extract.result()
            with _plain_main():  # a bundle with fewer files than workers starts its second worker here
                futures[module] = pool.submit(_process, module.__name__, paths[module], ctx, limits, result)

        try:
            for module in SOURCES:
                if isinstance(paths[module], SourceError):
                    raise paths[module]
                if module in extracts:
                    matched(module)
                # mymaps is matched beside survey; a failed read is raised at mymaps' turn.
                if module is survey and mymaps in extracts and extracts[mymaps].exception() is None:
                    matched(mymaps)
                done = futures[module].result()
                if module is distribution:
                    ctx = _with_organizations(vocab, done.result)
                yield done
        finally:
            for future in (*futures.values(), *extracts.values()):
                future.cancel()


def transform_bundle(source_dir: Path, seeds_dir: Path, *, parallel: bool | None = None) -> Bundle:
    """Extract and transform every source of a bundle in order; a missing or unreadable file raises SourceError.

    parallel: read the files in worker processes (None: when the bundle's files add up to PARALLEL_MIN_BYTES).
    """
    source_dir, seeds_dir = Path(source_dir), Path(seeds_dir)
    vocab = Vocabulary.load(seeds_dir)
    tables = vocab.tables()
    empty = quarantine_frame([])
    files = [
        _stat(path, "seed", read_text(path)[1], vocab.frames[name].height, empty) for name, path in vocab.seed.items()
    ]
    quarantines = []
    warnings: list[str] = []
    sheets: list[tuple[str, str, int]] = []
    table_files: dict[str, str] = {}
    if parallel is None:
        size = sum(path.stat().st_size for path in source_dir.iterdir() if path.is_file())
        parallel = size >= PARALLEL_MIN_BYTES
    run = _parallel if parallel else _sequential
    for module, done in zip(SOURCES, run(source_dir, vocab, limits()), strict=True):
        result = done.result
        sheets.extend(done.sheets)
        table_files.update(dict.fromkeys(result.tables, done.path.name))
        tables.update(result.tables)
        files.append(_stat(done.path, module.KIND, result.encoding, result.rows_read, result.quarantine))
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
