"""Typed progress of a build (etl.pipeline.build) and of an intake job: a step code and what it is about.

The pipeline and the intake worker emit StepEvents; the CLI prints them in English (str()), the intake
worker stores them in the job's progress.jsonl, and データ取込 renders them from the message catalogue
(dashboard/locales, `intake.event.<key>`) in the viewer's language.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    """Where a build or an intake job is; the page's progress bar follows the steps of its action."""

    QUEUED = "queued"
    WAIT_LOCK = "wait_lock"
    ASSEMBLE = "assemble"
    EXTRACT = "extract"
    WARNING = "warning"
    REFERENCE = "reference"
    VALIDATE = "validate"
    CLEANUP = "cleanup"
    STAGE = "stage"
    MARTS = "marts"
    GUARD = "guard"
    CHANGE = "change"
    SWAP = "swap"
    DIFF = "diff"
    ARCHIVE = "archive"
    ROLLBACK = "rollback"
    DONE = "done"
    FAILED = "failed"


# The English text of each message key: the CLI's output and, word for word, the `intake.event` entries of
# dashboard/locales/en (tests/test_intake.py checks both catalogues against these keys and placeholders).
TEXT = {
    "started": "{detail} started (pid {pid})",
    "wait_publish": "another publish is running; this one follows it",
    "wait_build": "a build of this warehouse is running; this one follows it",
    "assemble": "candidate bundle from {file} (run {run_id})",
    "assemble_archive": "candidate bundle from {file} (run {run_id}) into {detail}",
    "extract": "extract + normalise: {file}",
    "warning": "warning: {detail}",
    "reference_none": "reference geography: none configured (town search and coverage will say so)",
    "reference": "reference geography: {file}",
    "validate": "validate (Great Expectations)",
    "stale_temp": "removed a stale temp file from an interrupted build: {file}",
    "stage": "stage: load tables",
    "marts": "marts",
    "guard": "change guard: compare with the published warehouse",
    "change": "change: {detail}",
    "swap": "publish: {file}",
    "diff": "compare with the published warehouse",
    "interrupted_archive": "removed the archive of an interrupted publish: {file}",
    "retention": "removed by the retention policy: {file}",
    "archive": "keep warehouse {run_id}",
    "rollback": "return to run {run_id}",
    "done": "",
    "failed": "{detail}",
}


@dataclass(frozen=True)
class StepEvent:
    """One progress event: the step reached, which message of it, and what it is about."""

    step: Step
    # Message key (TEXT, catalogue intake.event.<key>); None = the step's own message.
    key: str | None = None
    # A file, folder or warehouse path the step is about, and a sheet of it.
    file: str | None = None
    sheet: str | None = None
    run_id: str | None = None
    # Whole numbers the message names, by placeholder (e.g. {"pid": 4242}).
    counts: Mapping[str, int] = field(default_factory=dict)
    # Text from elsewhere shown as it is: a warning, a change, an error, a second path.
    detail: str | None = None

    @property
    def message_key(self) -> str:
        """The key of this event's message in TEXT and in the catalogue."""
        return self.key or self.step.value

    def values(self) -> dict[str, Any]:
        """The placeholders of the message (empty text for what the event leaves out)."""
        text = {"file": self.file, "sheet": self.sheet, "run_id": self.run_id, "detail": self.detail}
        return {name: "" if value is None else value for name, value in text.items()} | dict(self.counts)

    def __str__(self) -> str:
        """The message in English, as the CLI prints it."""
        return TEXT[self.message_key].format(**self.values())

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object (fields left empty are left out)."""
        data = {name: value for name, value in dataclasses.asdict(self).items() if value not in (None, {})}
        return data | {"step": self.step.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepEvent:
        """An event from to_json() (other members, such as the time it was logged, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {name: value for name, value in data.items() if name in names}
        return cls(**values | {"step": Step(data["step"]), "counts": dict(data.get("counts") or {})})


Progress = Callable[[StepEvent], None]


def silent(_: StepEvent) -> None:
    """Progress sink that discards events."""
