"""Domain errors of the pipeline: every message names the file, and the row and column when known."""

from __future__ import annotations


class EtlError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class SourceError(EtlError):
    """A source file cannot be read at all (missing, empty, undecodable, wrong headers, unsafe)."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.sheet = sheet
        self.row = row
        self.column = column
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        """Render as 'file, sheet S, row R, column C: message'."""
        where = [self.file]
        if self.sheet is not None:
            where.append(f"sheet {self.sheet}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return ", ".join(where) + ": " + self.message


class ValidationFailed(EtlError):
    """Validation failed at table level, so the run is aborted and nothing is published."""
