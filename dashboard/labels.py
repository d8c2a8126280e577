"""Labels of the data explorer in the viewer's language: published tables, their columns and coded values.

Downloads keep the machine names (a labelled header is an option); the page shows these labels. Seeded
vocabularies (city, legal_form, …) come from the warehouse (warehouse.query.explore.seed_labels), the rest
from the message catalogue (locales/<lang>/explore_labels.toml).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import polars as pl
import pyarrow as pa

from dashboard.i18n import catalogue, phase_marker, translate
from warehouse.query.explore import VOCAB_COLUMNS

SeedLabels = Mapping[str, Mapping[str, tuple[str, str]]]


def column_label(lang: str, name: str) -> str:
    """A column's label; its machine name when the catalogue has none (a new column shows, never fails)."""
    return catalogue(lang).get(f"xcol.{name}", name)


def table_label(lang: str, name: str) -> str:
    """A published table's short label; its machine name when the catalogue has none."""
    return catalogue(lang).get(f"xtable.{name}", name)


def table_description(lang: str, name: str, fallback: str | None) -> str | None:
    """A published table's description in lang; the warehouse's own comment when the catalogue has none."""
    return catalogue(lang).get(f"xdesc.{name}", fallback)


def vocabulary_labels(seeds: SeedLabels, lang: str, vocabulary: str) -> dict[str, str]:
    """Code → label of one vocabulary in lang: the warehouse's seeded labels, then the catalogue's."""
    index = 0 if lang == "ja" else 1
    labels = {code: pair[index] for code, pair in seeds.get(vocabulary, {}).items()}
    if vocabulary == "pf_phase":
        labels = {code: f"{phase_marker(lang, code)} {label}" for code, label in labels.items()}
    prefix = f"xvalue.{vocabulary}."
    labels.update({key.removeprefix(prefix): text for key, text in catalogue(lang).items() if key.startswith(prefix)})
    return labels


def value_labels(seeds: SeedLabels, lang: str) -> dict[str, dict[str, str]]:
    """Column name → (code → label in lang) for every coded column the explorer knows."""
    vocabularies = {
        vocabulary: vocabulary_labels(seeds, lang, vocabulary) for vocabulary in set(VOCAB_COLUMNS.values())
    }
    return {column: vocabularies[vocabulary] for column, vocabulary in VOCAB_COLUMNS.items()}


def boolean_label(lang: str, value: bool) -> str:
    """はい / いいえ, Yes / No."""
    return translate(lang, "explore.yes" if value else "explore.no")


def labelled_frame(frame: pl.DataFrame, labels: Mapping[str, Mapping[str, str]]) -> pl.DataFrame:
    """The frame with each coded text column's codes replaced by their labels (unknown codes kept as they are)."""
    return frame.with_columns(
        pl.col(name).replace(dict(labels[name]))
        for name, dtype in frame.schema.items()
        if name in labels and dtype == pl.String
    )


def labelled_header(lang: str, names: Iterable[str]) -> list[str]:
    """Column labels for a download's header, unique: a label two columns share carries the machine name."""
    names = list(names)
    labels = [column_label(lang, name) for name in names]
    return [
        f"{label} ({name})" if labels.count(label) > 1 else label for label, name in zip(labels, names, strict=True)
    ]


def with_header(batches: Iterable[pa.RecordBatch], header: list[str]) -> Iterator[pa.RecordBatch]:
    """The same batches under another header (names in column order)."""
    for batch in batches:
        yield pa.RecordBatch.from_arrays(batch.columns, names=header)
