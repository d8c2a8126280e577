"""Great Expectations checks between normalisation and publishing: quarantine bad rows, abort on bad tables.

The structure of each table (its exact columns, ``_file`` lineage, not-null columns, primary key and
unique constraints) comes from its DDL through warehouse.schema; the domain rules live as data in
``expectations/<table>.json`` (GX's own suite shape), whose ``meta.structure`` gives the level of the
DDL's rules and the reason for duplicate keys. Each expectation's
``meta.level`` says what a failure means: ``row`` sets the failing rows aside in quarantine (with the
file, sheet and row they came from), ``table`` aborts the run. ``{"$ref": "table.column"}`` as a
``value_set`` is a referential rule, checked at every check against the parent table as it stands
after its own bad rows were removed, so rejected parents take their children with them and no
dangling reference is published. Membership is decided by a hash join in polars; GX then checks the
values not found in the parent against an empty value set, so GX still reports (and names the rows
and values of) every failure without ever holding the parent's values.

Great Expectations is imported inside the functions that need it: importing it costs about 3 s, and
nothing outside this module (the dashboard least of all) should pay for it.
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from etl.errors import EtlError, ValidationFailed
from warehouse import schema as ddl

EXPECTATIONS_DIR = Path(__file__).resolve().parent.parent / "expectations"
LINEAGE = ("_file", "_sheet", "_row")
LEVELS = ("row", "table")
# A table re-checked this many times without settling means the cascade is cyclic: abort, not loop.
MAX_CHECKS_PER_TABLE = 5
DETAIL_VALUES = 10

QUARANTINE_SCHEMA = ddl.quarantine_schema()
RESULTS_SCHEMA = ddl.results_schema()
SCHEMA_REASON = "列の構成が定義と一致しません (columns do not match the table definition)"
LINEAGE_REASON = "取込元ファイルの記録がありません (source file lineage is missing)"
REQUIRED_REASON = "必須項目が空です (required value is missing)"
_UNIQUENESS = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
_RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
# Setting up a GX context with its assets, suites and definitions costs seconds (about 0.6 s per
# table here), more than running them on the sample; a process that builds again with the same
# rules (tests, a benchmark, a long-lived worker) reuses the runner. Bounded: rule sets seen last.
_RUNNER_CACHE_SIZE = 4
_runners: OrderedDict[str, _GxRunner] = OrderedDict()
_runners_lock = threading.Lock()


@dataclass
class ValidationOutcome:
    """What validate() found: cleaned tables, quarantined rows, one result per expectation, fatal errors."""

    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    results: pl.DataFrame
    fatal: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no table-level expectation failed, so the tables may be published."""
        return not self.fatal

    def raise_if_fatal(self) -> None:
        """Raise ValidationFailed listing every fatal message, if there is any."""
        if self.fatal:
            raise ValidationFailed("validation failed:\n" + "\n".join(self.fatal))


def load_suites(dir: Path = EXPECTATIONS_DIR, ddl_dir: Path = ddl.DDL_DIR) -> dict[str, dict]:
    """Read every expectations/<table>.json suite, check its shape and add the structure its DDL table states."""
    tables = ddl.load(ddl_dir)
    suites: dict[str, dict] = {}
    for path in sorted(Path(dir).glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        if suite.get("name") != path.stem:
            raise EtlError(f"{path}: suite name {suite.get('name')!r} differs from the file name")
        for i, exp in enumerate(suite.get("expectations", [])):
            meta = exp.get("meta", {})
            if not exp.get("type") or not isinstance(exp.get("kwargs"), dict):
                raise EtlError(f"{path}: expectation {i} needs a type and kwargs")
            if meta.get("level") not in LEVELS or not meta.get("reason_ja"):
                raise EtlError(f"{path}: expectation {i} needs meta.level (row|table) and meta.reason_ja")
            meta["json_index"] = i
        if suite["name"] not in tables:
            raise EtlError(f"{path}: warehouse/ddl defines no table {suite['name']}")
        suite["expectations"] = with_structure(suite, tables[suite["name"]], path)
        suites[suite["name"]] = suite
    return suites


def structure(table: ddl.Table, meta: dict, where: Path | str = "") -> tuple[list[dict], list[dict]]:
    """The expectations a DDL table states: (table-wide, per-column).

    Exact columns (the DDL's, plus lineage unless meta says "lineage": false), ``_file`` not null,
    every not-null column, every primary key or unique constraint. meta is the suite's
    ``meta.structure``: the level of the not-null and key rules and the reason of each key.
    """
    level = meta.get("level")
    if level not in LEVELS:
        raise EtlError(f"{where}: meta.structure.level must be row or table")
    lineage = meta.get("lineage", True)
    columns = [c.name for c in table.columns] + (list(LINEAGE) if lineage else [])
    exact = {"column_set": columns, "exact_match": True}
    table_wide = [_expectation("expect_table_columns_to_match_set", exact, SCHEMA_REASON, "table")]
    not_null = "expect_column_values_to_not_be_null"
    per_column = [_expectation(not_null, {"column": "_file"}, LINEAGE_REASON, "table")] if lineage else []
    per_column += [_expectation(not_null, {"column": c}, REQUIRED_REASON, level) for c in table.not_null]
    reasons = meta.get("key_reason_ja", {})
    for key in table.keys:
        label = "+".join(key)
        if not reasons.get(label):
            raise EtlError(f"{where}: meta.structure.key_reason_ja needs the reason for duplicates of {label}")
        kwargs = {"column": key[0]} if len(key) == 1 else {"column_list": list(key)}
        kind = "expect_column_values_to_be_unique" if len(key) == 1 else "expect_compound_columns_to_be_unique"
        per_column.append(_expectation(kind, kwargs, reasons[label], level))
    return table_wide, per_column


def with_structure(suite: dict, table: ddl.Table, where: Path | str = "") -> list[dict]:
    """A suite's expectations with its table's structure: table-wide checks first, the DDL's before the suite's."""
    table_wide, per_column = structure(table, suite.get("meta", {}).get("structure", {}), where)
    own = suite.get("expectations", [])
    return [
        *table_wide,
        *(exp for exp in own if not _columns(exp["kwargs"])),
        *per_column,
        *(exp for exp in own if _columns(exp["kwargs"])),
    ]


def _expectation(type_: str, kwargs: dict, reason: str, level: str) -> dict:
    """One expectation in the suites' JSON shape."""
    return {"type": type_, "kwargs": kwargs, "meta": {"reason_ja": reason, "level": level}}


def validate(tables: dict[str, pl.DataFrame], suites: dict[str, dict] | None = None) -> ValidationOutcome:
    """Run every table's suite, quarantine failing rows (cascading to children) and collect fatal errors."""
    suites = load_suites() if suites is None else suites
    run = _Run(tables, suites)
    run.check_all()
    return run.outcome()


def prepare(suites: dict[str, dict]) -> None:
    """Set up the GX runner validate() will use when every suite's table comes (run it while the sources are read).

    Importing GX and adding its assets, suites and definitions costs seconds whatever the data; done ahead, a
    build's validate() finds the runner in the cache (_runner). A bundle whose tables differ (a parent table
    missing) gets a runner of its own, as without this call.
    """
    _runner({table: _rules(table, suite) for table, suite in suites.items()})


def build_data_docs(outcome_or_results: ValidationOutcome | pl.DataFrame, out_dir: Path) -> Path:
    """Write a self-contained HTML summary of a validation run to out_dir/index.html and return its path."""
    if isinstance(outcome_or_results, ValidationOutcome):
        results, fatal = outcome_or_results.results, outcome_or_results.fatal
        quarantined = outcome_or_results.quarantine.height
    else:
        results, fatal, quarantined = outcome_or_results, [], None
    failed = results.filter(~pl.col("success")).height

    def esc(value: Any) -> str:
        return "" if value is None else html.escape(str(value))

    rows = "\n".join(
        f'<tr class="{"ok" if r["success"] else "ng"}">'
        + "".join(f"<td>{esc(r[c])}</td>" for c in RESULTS_SCHEMA)
        + "</tr>"
        for r in results.iter_rows(named=True)
    )
    summary = f"{results.height} checks, {failed} failed"
    if quarantined is not None:
        summary += f", {quarantined} quarantine entries"
    fatal_html = "".join(f"<li>{esc(m)}</li>" for m in fatal)
    page = f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>データ検証結果 (validation results)</title>
<style>
body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}}
tr.ng td{{background:#fde2e1}} .fatal{{color:#a00}}
</style></head><body>
<h1>データ検証結果 (validation results)</h1>
<p>{esc(summary)}</p>
{f'<h2 class="fatal">取込中止の理由 (fatal)</h2><ul class="fatal">{fatal_html}</ul>' if fatal else ""}
<table><thead><tr>{"".join(f"<th>{c}</th>" for c in RESULTS_SCHEMA)}</tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


@dataclass
class _Tally:
    """One expectation's result accumulated over every check of its table."""

    element_count: int | None = None
    unexpected_count: int | None = None
    success: bool | None = None
    details: str | None = None


@dataclass
class _Rule:
    """One expectation of a suite as written in JSON, with what validate() needs to know about it."""

    table: str
    index: int
    type: str
    kwargs: dict[str, Any]
    level: str
    reason: str
    ref: str | None
    columns: list[str]
    label: str
    # Position in expectations/<table>.json, for messages (the DDL's rules come first in index).
    json_index: int
    active: bool = True
    tally: _Tally = field(default_factory=_Tally)


class _Run:
    """State of one validate() call: one ephemeral GX context, the frames as they get cleaned."""

    def __init__(self, tables: dict[str, pl.DataFrame], suites: dict[str, dict]) -> None:
        self.frames = dict(tables)
        self.fatal: list[str] = []
        self.quarantine: list[pl.DataFrame] = []
        self.rules = {t: _rules(t, suites[t]) for t in suites if t in tables}
        for table in sorted(set(tables) - set(suites)):
            self.fatal.append(f"{table}: 検証ルールがありません (no expectation suite for this table)")
        for rules in self.rules.values():
            for rule in rules:
                self._check_ref(rule)
        self.order = _topological(self.rules)
        self.children: dict[str, set[str]] = {t: set() for t in self.rules}
        for child, rules in self.rules.items():
            for rule in rules:
                if rule.active and rule.ref and _parent(rule.ref) != child:
                    self.children[_parent(rule.ref)].add(child)
        self.schema_ok: dict[str, bool] = {}
        self._reported: set[tuple[str, int]] = set()
        self._gx = _runner(self.rules) if self.rules else None

    def _check_ref(self, rule: _Rule) -> None:
        """Disable a $ref rule whose parent table or column is absent; a missing parent table is fatal."""
        if rule.ref is None:
            return
        parent, column = _split_ref(rule.ref)
        if parent not in self.frames:
            rule.active = False
            rule.tally = _Tally(success=False, details=f"parent table {parent} missing")
            self.fatal.append(f"{rule.table}: 参照先の表 {parent} がありません (parent table missing) [{rule.label}]")
        elif column not in self.frames[parent].columns:
            # The parent's own schema check already reports the missing column as fatal.
            rule.active = False
            rule.tally = _Tally(success=False, details=f"parent column {rule.ref} missing")

    def check_all(self) -> None:
        """Check tables parents first; re-check any table that lost rows, and the children of it."""
        pending = set(self.order)
        position = {t: i for i, t in enumerate(self.order)}
        checks = dict.fromkeys(self.order, 0)
        while pending:
            table = min(pending, key=position.__getitem__)
            pending.discard(table)
            checks[table] += 1
            if checks[table] > MAX_CHECKS_PER_TABLE:
                self.fatal.append(
                    f"{table}: 除外の連鎖が収束しません (quarantine cascade did not settle after "
                    f"{MAX_CHECKS_PER_TABLE} checks)"
                )
                continue
            if self._check(table):
                pending.add(table)
                pending |= self.children[table]

    def _check(self, table: str) -> int:
        """Validate one table with GX, quarantine its failing rows and return how many rows were removed."""
        frame = self.frames[table]
        dangling = {r.index: self._dangling(r, frame) for r in self.rules[table] if r.active and r.ref}
        outcome = self._gx.run(table, frame, dangling)
        failing: list[tuple[_Rule, list[int]]] = []
        for rule in self.rules[table]:
            if not rule.active:
                continue
            result = outcome[rule.index]
            self._tally(rule, result)
            if rule.type == "expect_table_columns_to_match_set":
                self.schema_ok[table] = bool(result["success"])
        for rule in self.rules[table]:
            if not rule.active:
                continue
            result = outcome[rule.index]
            if result["success"]:
                continue
            if rule.level == "table" or result["error"]:
                self._report(rule, result)
            elif self.schema_ok.get(table, True):
                indices = result["indices"]
                if not indices:
                    self._report(rule, result, "failing rows could not be identified")
                else:
                    failing.append((rule, indices))
        return self._remove(table, failing)

    def _dangling(self, rule: _Rule, frame: pl.DataFrame) -> pl.Series | None:
        """The rule's child column with every value found in the parent (as it stands now) set to null.

        A hash join in polars decides membership; GX then checks this column against an empty value
        set, so it still reports every dangling value with its row while never holding the parent's
        values (GX walks a value_set through pydantic ~100 times: a 100k-value set costs minutes).
        """
        column = rule.columns[0]
        if column not in frame.columns:
            # GX then reports the missing column as an error; the schema check has made it fatal.
            return None
        parent, parent_column = _split_ref(rule.ref)
        values = frame.get_column(column)
        allowed = self.frames[parent].get_column(parent_column).drop_nulls().cast(values.dtype, strict=False)
        return frame.select(
            pl.when(pl.col(column).is_in(allowed.implode()))
            .then(pl.lit(None, values.dtype))
            .otherwise(pl.col(column))
            .alias(column)
        ).to_series()

    def _tally(self, rule: _Rule, result: dict) -> None:
        """Fold one GX result into the rule's tally: first counts, summed failures, latest success."""
        tally = rule.tally
        if tally.element_count is None:
            tally.element_count = result["element_count"]
        if result["unexpected_count"] is not None:
            tally.unexpected_count = (tally.unexpected_count or 0) + result["unexpected_count"]
        tally.success = bool(result["success"])
        if tally.details is None and result["details"]:
            tally.details = result["details"]

    def _report(self, rule: _Rule, result: dict, problem: str | None = None) -> None:
        """Add a fatal message for a failed table-level rule (once per rule)."""
        key = (rule.table, rule.index)
        if key in self._reported:
            return
        if result["error"] and not self.schema_ok.get(rule.table, True):
            # A rule on a column the schema check already reported missing: nothing new to say.
            return
        self._reported.add(key)
        detail = problem or result["details"] or ""
        if result["error"]:
            detail = f"could not be evaluated: {detail}"
        self.fatal.append(f"{rule.table}: {rule.reason} [{rule.label}] {detail}".rstrip())

    def _remove(self, table: str, failing: list[tuple[_Rule, list[int]]]) -> int:
        """Quarantine the failing rows; uniqueness keeps the first otherwise-valid row of each group."""
        if not failing:
            return 0
        frame = self.frames[table]
        bad: set[int] = set()
        entries: list[tuple[_Rule, list[int]]] = []
        # Uniqueness last, so the copy that survives is the first one no other check rejects.
        for rule, indices in sorted(failing, key=lambda f: f[0].type in _UNIQUENESS):
            if rule.type in _UNIQUENESS:
                indices = _duplicates_after_first(frame, rule.columns, indices, bad)
            if indices:
                entries.append((rule, indices))
                bad.update(indices)
        for rule, indices in entries:
            self.quarantine.append(_quarantine_rows(frame, rule, indices))
        if not bad:
            return 0
        keep = pl.Series(range(frame.height)).is_in(list(bad)).not_()
        self.frames[table] = frame.filter(keep)
        return len(bad)

    def outcome(self) -> ValidationOutcome:
        """Assemble the ValidationOutcome from the cleaned frames, quarantine and tallies."""
        rows = [
            {
                "table_name": rule.table,
                "expectation": rule.label,
                "column_name": ", ".join(rule.columns) or None,
                "success": rule.tally.success,
                "element_count": rule.tally.element_count,
                "unexpected_count": rule.tally.unexpected_count,
                "details": rule.tally.details,
            }
            for table in self.order
            for rule in self.rules[table]
        ]
        # Sorted the way a city reads it back (file, sheet, row). One source row feeds several tables
        # (a survey answer → service, survey_response, respondent), so a cascade repeats the same entry:
        # the city needs it once.
        quarantine = (
            pl.concat(self.quarantine, how="vertical")
            .sort("file_name", "sheet", "row_number", nulls_last=True, maintain_order=True)
            .unique(maintain_order=True)
            if self.quarantine
            else pl.DataFrame(schema=QUARANTINE_SCHEMA)
        )
        return ValidationOutcome(
            tables=self.frames,
            quarantine=quarantine,
            results=pl.DataFrame(rows, schema=RESULTS_SCHEMA),
            fatal=self.fatal,
        )


def _runner(rules: dict[str, list[_Rule]]) -> _GxRunner:
    """The GX runner for these rules: reused when an earlier validate() in this process had the same ones."""
    shape = [
        (table, r.index, r.type, _gx_kwargs(r), r.active, r.ref is not None, r.columns)
        for table, table_rules in sorted(rules.items())
        for r in table_rules
    ]
    key = hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()
    with _runners_lock:
        runner = _runners.get(key)
        if runner is not None:
            _runners.move_to_end(key)
            return runner
    runner = _GxRunner(rules)
    with _runners_lock:
        _runners[key] = runner
        while len(_runners) > _RUNNER_CACHE_SIZE:
            _runners.popitem(last=False)
    return runner


class _GxRunner:
    """The GX side: one ephemeral context with pandas assets, suites and ValidationDefinitions per table.

    A table's own rules run on its frame. Its referential rules run on a second frame of the same
    height holding, under the child column's name, only the values missing from the parent (see
    _Run._dangling), against an empty value set: GX reports the same rows, values and counts as
    with the parent's values, at a cost independent of the parent's size. Two referential rules on
    one column go to separate frames ("layers").
    """

    def __init__(self, rules: dict[str, list[_Rule]]) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # One context is not safe for two threads at once; a reused runner may meet two builds.
        self.lock = threading.Lock()
        self.context = gx.get_context(mode="ephemeral")
        # GX draws a tqdm bar per validation otherwise, flooding the ETL's stderr.
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("tsunagari")
        self.definitions: dict[str, Any] = {}
        self.layers: dict[str, list[tuple[list[_Rule], Any]]] = {}
        for table, table_rules in rules.items():
            active = [rule for rule in table_rules if rule.active]
            self.definitions[table] = self._definition(table, [rule for rule in active if not rule.ref])
            layers: list[list[_Rule]] = []
            for rule in (rule for rule in active if rule.ref):
                layer = next((group for group in layers if rule.columns[0] not in {r.columns[0] for r in group}), None)
                if layer is None:
                    layers.append(layer := [])
                layer.append(rule)
            self.layers[table] = [
                (layer, self._definition(f"{table}#ref{n}", layer)) for n, layer in enumerate(layers, start=1)
            ]

    def _definition(self, name: str, rules: list[_Rule]) -> Any:
        """A pandas asset, suite and ValidationDefinition for some rules of one table."""
        import great_expectations as gx
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        batch = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        # Expectation objects are built fresh here: one object cannot belong to two suites.
        # They are built before the suite because ExpectationSuite() only logs invalid ones.
        expectations = []
        for rule in rules:
            config = ExpectationConfiguration(type=rule.type, kwargs=_gx_kwargs(rule), meta={"index": rule.index})
            try:
                expectations.append(config.to_domain_obj())
            except Exception as error:
                raise EtlError(
                    f"expectations/{rule.table}.json: expectation {rule.json_index} ({rule.type}) is invalid: {error}"
                ) from error
        suite = self.context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        return self.context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))

    def run(self, table: str, frame: pl.DataFrame, dangling: dict[int, pl.Series | None]) -> dict[int, dict]:
        """Validate one frame (and its referential rules on the dangling values) and summarise per rule index."""
        with self.lock:
            return self._run_table(table, frame, dangling)

    def _run_table(self, table: str, frame: pl.DataFrame, dangling: dict[int, pl.Series | None]) -> dict[int, dict]:
        """run() under the runner's lock."""
        summaries = self._run(self.definitions[table], frame.to_pandas(), frame.height)
        for layer, definition in self.layers.get(table, []):
            columns = [dangling[rule.index] for rule in layer if dangling.get(rule.index) is not None]
            pdf = pl.DataFrame(columns).to_pandas() if columns else None
            summaries |= self._run(definition, pdf, frame.height)
        return summaries

    @staticmethod
    def _run(definition: Any, pdf: Any, height: int) -> dict[int, dict]:
        """Run one ValidationDefinition on a pandas frame (None: no columns) of height rows."""
        import pandas as pd

        if pdf is None:
            pdf = pd.DataFrame(index=pd.RangeIndex(height))
        # unexpected_index_list holds pandas index labels; a RangeIndex makes them polars row positions.
        pdf.index = pd.RangeIndex(len(pdf))
        result = definition.run(batch_parameters={"dataframe": pdf}, result_format=_RESULT_FORMAT)
        return {r.expectation_config.meta["index"]: _summarise(r, height) for r in result.results}


def _rules(table: str, suite: dict) -> list[_Rule]:
    """Turn a JSON suite into _Rule objects."""
    rules = []
    for i, exp in enumerate(suite["expectations"]):
        kwargs = exp["kwargs"]
        value_set = kwargs.get("value_set")
        ref = value_set["$ref"] if isinstance(value_set, dict) and "$ref" in value_set else None
        columns = _columns(kwargs)
        rules.append(
            _Rule(
                table=table,
                index=i,
                type=exp["type"],
                kwargs=kwargs,
                level=exp["meta"]["level"],
                reason=exp["meta"]["reason_ja"],
                ref=ref,
                columns=columns,
                label=_label(exp["type"], kwargs),
                json_index=exp["meta"].get("json_index", i),
            )
        )
    return rules


def _columns(kwargs: dict) -> list[str]:
    """The columns an expectation looks at, in its own order."""
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_list" in kwargs:
        return list(kwargs["column_list"])
    return [kwargs[k] for k in ("column_A", "column_B") if k in kwargs]


def _label(type_: str, kwargs: dict) -> str:
    """Short description of an expectation: its type and key arguments."""
    parts = []
    if "column" in kwargs:
        parts.append(kwargs["column"])
    elif "column_list" in kwargs:
        parts.append("+".join(kwargs["column_list"]))
    elif "column_A" in kwargs:
        parts.append(
            f"{kwargs['column_A']} >= {kwargs['column_B']}"
            if kwargs.get("or_equal")
            else f"{kwargs['column_A']} > {kwargs['column_B']}"
        )
    for key, value in kwargs.items():
        if key in ("column", "column_list", "column_A", "column_B", "or_equal", "ignore_row_if"):
            continue
        if key == "value_set" and isinstance(value, dict) and "$ref" in value:
            parts.append(f"in {value['$ref']}")
        elif key == "column_set":
            parts.append(f"{len(value)} columns")
        elif key == "exact_match":
            parts.append("exact" if value else "at least")
        elif isinstance(value, list):
            shown = ", ".join(map(str, value[:6])) + (", …" if len(value) > 6 else "")
            parts.append(f"{key}=[{shown}]")
        else:
            parts.append(f"{key}={value}")
    return f"{type_}({', '.join(parts)})"


def _split_ref(ref: str) -> tuple[str, str]:
    """'pii.event_participant.participant_id' → ('pii.event_participant', 'participant_id')."""
    table, _, column = ref.rpartition(".")
    return table, column


def _parent(ref: str) -> str:
    """The table a $ref points at."""
    return _split_ref(ref)[0]


def _gx_kwargs(rule: _Rule) -> dict:
    """The rule's kwargs for GX; a $ref becomes an empty value set (checked on the dangling values)."""
    kwargs = dict(rule.kwargs)
    if rule.ref:
        kwargs["value_set"] = []
    return kwargs


def _topological(rules: dict[str, list[_Rule]]) -> list[str]:
    """Tables ordered parents before children ($ref edges), ties by name; cycles fall back to name order."""
    parents = {
        t: {_parent(r.ref) for r in rs if r.active and r.ref and _parent(r.ref) in rules and _parent(r.ref) != t}
        for t, rs in rules.items()
    }
    order: list[str] = []
    remaining = sorted(rules)
    while remaining:
        ready = [t for t in remaining if parents[t] <= set(order)] or remaining[:1]
        order.append(ready[0])
        remaining.remove(ready[0])
    return order


def _summarise(exp_result: Any, height: int) -> dict:
    """Reduce one ExpectationValidationResult to success, counts, failing indices, details and error."""
    result = exp_result.result or {}
    error = _exception_message(exp_result.exception_info)
    mismatched = result.get("details", {}).get("mismatched") if isinstance(result.get("details"), dict) else None
    if error:
        details = error
    elif mismatched:
        details = "; ".join(
            f"{k}: {', '.join(v)}" for k, v in sorted(mismatched.items(), key=lambda kv: kv[0] != "missing")
        )
    elif "unexpected_count" in result:
        counts = result.get("partial_unexpected_counts") or []
        details = ", ".join(f"{_show(c['value'])} ×{c['count']}" for c in counts[:DETAIL_VALUES]) or None
    elif not exp_result.success and "observed_value" in result:
        details = f"observed: {_show(result['observed_value'])}"
    else:
        details = None
    return {
        "success": bool(exp_result.success) and not error,
        "element_count": result.get("element_count", height),
        "unexpected_count": result.get("unexpected_count"),
        "indices": [int(i) for i in result.get("unexpected_index_list") or []],
        "details": details,
        "error": bool(error),
    }


def _exception_message(info: Any) -> str | None:
    """The exception message GX caught while evaluating an expectation, if any."""
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info["raised_exception"] else None
    for value in info.values():
        if isinstance(value, dict) and (value.get("raised_exception") or value.get("exception_message")):
            return value.get("exception_message") or "exception"
    return None


def _show(value: Any) -> str:
    """A failing value as text for details: lists and dicts joined with '/'."""
    if isinstance(value, dict):
        return "/".join(map(str, value.values()))
    if isinstance(value, (list, tuple)):
        return "/".join(map(str, value))
    return str(value)


def _duplicates_after_first(frame: pl.DataFrame, columns: list[str], indices: list[int], bad: set[int]) -> list[int]:
    """GX flags every copy of a duplicate; drop from that list the first copy no other check rejected."""
    flagged = frame.select(columns).with_row_index("_pos").filter(pl.col("_pos").is_in(indices))
    kept = (
        flagged.filter(~pl.col("_pos").is_in(list(bad)))
        .group_by(columns, maintain_order=True)
        .agg(pl.col("_pos").min())
        .get_column("_pos")
    )
    return flagged.filter(~pl.col("_pos").is_in(kept.implode())).get_column("_pos").to_list()


def _quarantine_rows(frame: pl.DataFrame, rule: _Rule, indices: list[int]) -> pl.DataFrame:
    """Quarantine entries for some rows of a frame: lineage, offending value, reason and check name."""
    rows = frame.with_row_index("_pos").filter(pl.col("_pos").is_in(indices)).drop("_pos")

    def lineage(column: str, dtype: pl.DataType, default: str | None = None) -> pl.Expr:
        return pl.col(column).cast(dtype) if column in rows.columns else pl.lit(default, dtype)

    value = (
        pl.concat_str([pl.col(c).cast(pl.String) for c in rule.columns], separator=", ")
        if rule.columns
        else pl.lit(None, pl.String)
    )
    return rows.select(
        # A table built without lineage (run metadata) still needs a non-null file_name: its own name.
        lineage("_file", pl.String, rule.table).alias("file_name"),
        lineage("_sheet", pl.String).alias("sheet"),
        lineage("_row", QUARANTINE_SCHEMA["row_number"]).alias("row_number"),
        pl.lit(", ".join(rule.columns) or None, pl.String).alias("column_name"),
        value.alias("value"),
        pl.lit(rule.reason, pl.String).alias("reason"),
        pl.lit(f"gx.{rule.type}", pl.String).alias("check_name"),
        pl.lit("row", pl.String).alias("scope"),
        pl.concat_str(
            [
                lineage("_file", pl.String, rule.table),
                pl.when(lineage("_sheet", pl.String).is_not_null())
                .then(pl.lit(", sheet ") + lineage("_sheet", pl.String))
                .otherwise(pl.lit("")),
                pl.when(lineage("_row", pl.Int64).is_not_null())
                .then(pl.lit(", row ") + lineage("_row", pl.Int64).cast(pl.String))
                .otherwise(pl.lit("")),
            ]
        ).alias("root_cause"),
        pl.lit(None, QUARANTINE_SCHEMA["dependants"]).alias("dependants"),
    )
