"""Shared vocabularies from warehouse/seeds/*.csv: label lookups for the sources and the vocabulary tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partialmethod
from pathlib import Path

import polars as pl

from common.text import nfkc
from etl.errors import SourceError
from warehouse import schema as ddl

SEED_FILES = {
    "city": "city.csv",
    "legal_form": "legal_form.csv",
    "channel": "channel.csv",
    "pf_intent": "pf_intent.csv",
    "taxonomy_content": "taxonomy_content.csv",
    "taxonomy_form": "taxonomy_form.csv",
    "taxonomy_target": "taxonomy_target.csv",
    "pf_phase": "pf_phase.csv",
    "pf_step": "pf_step.csv",
    "pf_status": "pf_status.csv",
}

# What each lookup is called in a quarantine reason, Japanese and English.
KIND_LABELS = {
    "city": ("市", "city"),
    "legal_form": ("法人格", "legal form"),
    "channel": ("配布方法", "distribution channel"),
    "pf_intent": ("参画意向", "participation intent"),
    "content": ("活動内容", "activity content"),
    "form": ("支援の形態", "support form"),
    "target": ("対象者", "target group"),
    "pf_step": ("ステップ", "step"),
    "pf_status": ("状態", "status"),
}

TAXONOMIES = [
    (
        "content",
        "活動内容",
        "Activity contents",
        "団体の活動内容（分野 → カテゴリの2階層） / What organisations work on, group → category",
    ),
    (
        "form",
        "支援の形態",
        "Support forms",
        "支援の形態（アウトリーチ〜安全に過ごせる場所のグラデーション） / How support is given",
    ),
    ("target", "対象者", "Target groups", "主な対象者 / Who the support is for"),
]

LINEAGE = {"_file": pl.String, "_sheet": pl.String, "_row": pl.Int64}

# The vocabulary tables built from the seeds, with their DDL columns and dtypes.
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    name: ddl.load()[name].polars
    for name in (
        "city",
        "legal_form",
        "channel",
        "pf_intent",
        "taxonomy",
        "taxonomy_term",
        "pf_phase",
        "pf_step",
        "pf_status",
    )
}


class UnknownLabel(ValueError):
    """A label that matches no code, Japanese or English name or alias of its vocabulary."""

    def __init__(self, kind: str, label: str) -> None:
        self.kind = kind
        self.label = label
        ja, en = KIND_LABELS.get(kind, (kind, kind))
        super().__init__(f"未知の{ja}「{label}」 (unknown category: {en})")


def _key(label: object) -> str | None:
    """Lookup key of a label: NFKC, casefolded."""
    text = nfkc(label)
    return None if text is None else text.casefold()


def _read_seed(path: Path) -> pl.DataFrame:
    """Read one seed CSV as strings, with its CSV record number (header = 1) as lineage."""
    if not path.is_file():
        raise SourceError(path.name, "語彙ファイルがありません (seed file not found)")
    frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    return frame.with_columns(
        _file=pl.lit(path.name, pl.String),
        _sheet=pl.lit(None, pl.String),
        _row=pl.int_range(2, frame.height + 2, dtype=pl.Int64),
    )


def _index(frame: pl.DataFrame, kind: str, value: Iterable[str], label_columns: Iterable[str]) -> dict[str, str]:
    """Map every NFKC'd label (code, ja, en, aliases) of a seed to its value; clashes are seed errors."""
    index: dict[str, str] = {}
    columns = list(label_columns)
    for target, row in zip(value, frame.iter_rows(named=True), strict=True):
        labels = [row[c] for c in columns if c in row]
        labels += (row.get("aliases") or "").split("|")
        for label in labels:
            key = _key(label)
            if key is None:
                continue
            if index.get(key, target) != target:
                raise SourceError(
                    row["_file"],
                    f"語彙のラベル「{label}」が重複しています (label used twice in {kind})",
                    row=row["_row"],
                )
            index[key] = target
    return index


@dataclass
class Vocabulary:
    """The seed vocabularies, their label indexes and the files they came from."""

    frames: dict[str, pl.DataFrame]
    seed: dict[str, Path]
    _indexes: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, seeds_dir: Path | str) -> Vocabulary:
        """Read every seed CSV in seeds_dir and index its labels."""
        seeds_dir = Path(seeds_dir)
        seed = {name: seeds_dir / file for name, file in SEED_FILES.items()}
        frames = {name: _read_seed(path) for name, path in seed.items()}
        names = ["code", "ja", "en"]
        content = frames["taxonomy_content"]
        indexes = {
            "city": _index(frames["city"], "city", frames["city"]["code"], names),
            "legal_form": _index(frames["legal_form"], "legal_form", frames["legal_form"]["code"], names),
            "channel": _index(frames["channel"], "channel", frames["channel"]["code"], names),
            "pf_intent": _index(frames["pf_intent"], "pf_intent", frames["pf_intent"]["code"], names),
            "content": _index(content, "content", ("content:" + content["code"]).to_list(), names),
            "form": _index(
                frames["taxonomy_form"], "form", ("form:" + frames["taxonomy_form"]["code"]).to_list(), names
            ),
            "target": _index(
                frames["taxonomy_target"], "target", ("target:" + frames["taxonomy_target"]["code"]).to_list(), names
            ),
            "pf_step": _index(frames["pf_step"], "pf_step", frames["pf_step"]["code"], ["code", "label", "ja", "en"]),
            "pf_status": _index(frames["pf_status"], "pf_status", frames["pf_status"]["code"], names),
        }
        return cls(frames=frames, seed=seed, _indexes=indexes)

    def lookup(self, kind: str, label: object) -> str:
        """Code (or term id) of a label in vocabulary kind; raises UnknownLabel."""
        key = _key(label)
        found = None if key is None else self._indexes[kind].get(key)
        if found is None:
            raise UnknownLabel(kind, nfkc(label) or "")
        return found

    def lookup_many(self, kind: str, labels: Iterable[str]) -> list[str]:
        """Codes of several labels, without repeats; raises UnknownLabel naming every unknown label."""
        codes: list[str] = []
        unknown: list[str] = []
        for label in labels:
            try:
                code = self.lookup(kind, label)
            except UnknownLabel:
                unknown.append(nfkc(label) or "")
                continue
            if code not in codes:
                codes.append(code)
        if unknown:
            raise UnknownLabel(kind, "」「".join(unknown))
        return codes

    # One lookup per kind, which the sources pass around as normalisers (vocab.channel): lookup with its kind.
    city = partialmethod(lookup, "city")  # city code: 14213 …
    legal_form = partialmethod(lookup, "legal_form")
    channel = partialmethod(lookup, "channel")  # distribution channel
    pf_intent = partialmethod(lookup, "pf_intent")  # platform-participation intent
    content = partialmethod(lookup, "content")  # content category term id: content:hikikomori
    form = partialmethod(lookup, "form")  # support-form term id: form:employment
    target = partialmethod(lookup, "target")  # target-group term id: target:children
    pf_step = partialmethod(lookup, "pf_step")  # platform-building step code: s4_1
    pf_status = partialmethod(lookup, "pf_status")  # step status code

    def tables(self) -> dict[str, pl.DataFrame]:
        """The vocabulary warehouse tables (DDL columns plus lineage), city without populations."""
        f = self.frames
        lineage = list(LINEAGE)
        simple = [
            pl.col("code"),
            pl.col("ja").alias("name_ja"),
            pl.col("en").alias("name_en"),
            pl.col("sort_order").cast(pl.Int32),
        ]
        tables = {
            "city": f["city"].select(
                *simple,
                pl.lit(None, pl.Int32).alias("population"),
                pl.lit(None, pl.Date).alias("population_date"),
                *lineage,
            ),
            "legal_form": f["legal_form"].select(*simple, *lineage),
            "channel": f["channel"].select(*simple, *lineage),
            "pf_intent": f["pf_intent"].select(*simple, *lineage),
            "pf_status": f["pf_status"].select(*simple, *lineage),
            "pf_phase": f["pf_phase"].select(
                "code",
                "label",
                pl.col("ja").alias("name_ja"),
                pl.col("en").alias("name_en"),
                pl.col("sort_order").cast(pl.Int32),
                *lineage,
            ),
            "pf_step": f["pf_step"].select(
                "code",
                "label",
                pl.col("ja").alias("name_ja"),
                pl.col("en").alias("name_en"),
                "phase_code",
                pl.col("sort_order").cast(pl.Int32),
                *lineage,
            ),
            "taxonomy": pl.DataFrame(
                [
                    {
                        "id": i,
                        "name": n,
                        "name_en": e,
                        "description": d,
                        "_file": SEED_FILES[f"taxonomy_{i}"],
                        "_sheet": None,
                        "_row": None,
                    }
                    for i, n, e, d in TAXONOMIES
                ],
                schema={**SCHEMAS["taxonomy"], **LINEAGE},
            ),
            "taxonomy_term": self._taxonomy_terms(),
        }
        return {
            name: frame.select(pl.col(c).cast(t) for c, t in {**SCHEMAS[name], **LINEAGE}.items())
            for name, frame in tables.items()
        }

    def _taxonomy_terms(self) -> pl.DataFrame:
        """Content groups and categories, support forms and target groups as HSDS taxonomy terms."""
        content = self.frames["taxonomy_content"].with_columns(pl.col("sort_order").cast(pl.Int32))
        # Group codes clash with category codes (disability, poverty, community), so groups get the
        # code "group_<code>"; a group sorts at its first category, before it (parent_id null first).
        groups = (
            content.group_by("group_code", maintain_order=True)
            .agg(
                pl.col("group_ja").first(),
                pl.col("group_en").first(),
                pl.col("sort_order").min(),
                pl.col("_file").first(),
                pl.col("_row").min(),
            )
            .select(
                pl.concat_str(pl.lit("content:group_"), "group_code").alias("id"),
                pl.lit("content").alias("taxonomy_id"),
                pl.concat_str(pl.lit("group_"), "group_code").alias("code"),
                pl.lit(None, pl.String).alias("parent_id"),
                pl.col("group_ja").alias("name"),
                pl.col("group_en").alias("name_en"),
                "sort_order",
                pl.lit(None, pl.Int32).alias("gradient_rank"),
                pl.lit(None, pl.String).alias("color_hex"),
                "_file",
                pl.lit(None, pl.String).alias("_sheet"),
                "_row",
            )
        )
        no_rank, no_colour = pl.lit(None, pl.Int32), pl.lit(None, pl.String)
        categories = content.select(
            _term_columns(
                "content",
                pl.concat_str(pl.lit("content:group_"), "group_code"),
                pl.col("sort_order"),
                no_rank,
                no_colour,
            )
        )
        forms = self.frames["taxonomy_form"].select(
            _term_columns(
                "form",
                pl.lit(None, pl.String),
                pl.col("report_order").cast(pl.Int32),
                pl.col("gradient_rank").cast(pl.Int32),
                pl.col("color_hex"),
            )
        )
        targets = self.frames["taxonomy_target"].select(
            _term_columns("target", pl.lit(None, pl.String), pl.col("sort_order").cast(pl.Int32), no_rank, no_colour)
        )
        terms = pl.concat([groups, categories], how="vertical_relaxed").sort(
            "sort_order", pl.col("parent_id").is_not_null(), maintain_order=True
        )
        return pl.concat([terms, forms, targets], how="vertical_relaxed")


def _term_columns(
    taxonomy: str, parent_id: pl.Expr, sort_order: pl.Expr, gradient_rank: pl.Expr, color_hex: pl.Expr
) -> list[pl.Expr | str]:
    """taxonomy_term's columns from a seed frame with code, ja and en (id = taxonomy:code), then lineage."""
    return [
        pl.concat_str(pl.lit(f"{taxonomy}:"), "code").alias("id"),
        pl.lit(taxonomy).alias("taxonomy_id"),
        "code",
        parent_id.alias("parent_id"),
        pl.col("ja").alias("name"),
        pl.col("en").alias("name_en"),
        sort_order.alias("sort_order"),
        gradient_rank.alias("gradient_rank"),
        color_hex.alias("color_hex"),
        *LINEAGE,
    ]
