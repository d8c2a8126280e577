"""One message catalogue for the whole UI: Japanese by default, English on request.

Each language is a folder of TOML files (locales/<lang>/*.toml), one per page plus common.toml, merged
into one catalogue; a key defined in two files is an error.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

import polars as pl

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Flattened messages of one language ("home.title" → text)."""
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict, source: Path) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value, source)
            elif name in flat:
                raise ValueError(f"{source}: message {name!r} is defined twice")
            else:
                flat[name] = value

    for path in sorted((LOCALES_DIR / lang).glob("*.toml")):
        with open(path, "rb") as handle:
            walk("", tomllib.load(handle), path)
    return flat


def translate(lang: str, key: str, **values: object) -> str:
    """Message for key in lang, formatted with values; a missing key raises KeyError."""
    return catalogue(lang)[key].format(**values)


PHASE_CODES = ("a", "i", "u", "e")  # pf_phase.code in order, (ア)–(エ)


def phase_marker(lang: str, code: str | None) -> str | None:
    """The marker of a PF phase in lang: (ア) in Japanese, (a) in English; None without a phase."""
    return None if code is None else translate(lang, f"phase_marker.{code}")


def with_phase_markers(frame: pl.DataFrame, lang: str) -> pl.DataFrame:
    """The frame with phase_label in lang, from its phase_code (the warehouse keeps the report's (ア)–(エ))."""
    markers = {code: phase_marker(lang, code) for code in PHASE_CODES}
    return frame.with_columns(pl.col("phase_code").replace_strict(markers, default=None).alias("phase_label"))


def with_survey_texts(answers: pl.DataFrame, lang: str) -> pl.DataFrame:
    """Venue-survey answers with question and choice in lang where the catalogue has them (else as written)."""
    messages = catalogue(lang)

    def texts(name: str) -> dict[str, str]:
        prefix = f"survey_{name}."
        return {key.removeprefix(prefix): text for key, text in messages.items() if key.startswith(prefix)}

    return answers.with_columns(
        pl.col(name).replace(texts(name)) for name in ("question", "choice") if name in answers.columns
    )
