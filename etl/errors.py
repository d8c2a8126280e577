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

    def __reduce__(self) -> tuple:
        """Pickle by its fields (a worker process raises it to the build)."""
        return (_source_error, (self.file, self.message, self.sheet, self.row, self.column))

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


def _source_error(file: str, message: str, sheet: str | None, row: int | None, column: str | None) -> SourceError:
    """A SourceError from its pickled fields."""
    return SourceError(file, message, sheet=sheet, row=row, column=column)


class ValidationFailed(EtlError):
    """Validation failed at table level, so the run is aborted and nothing is published."""


class ChangesNeedConfirmation(EtlError):
    """The build would change what is published more than the change guard allows; nothing was published.

    changes is a list of etl.guard.Change (key, subject, before, after, message_ja, message_en); publish them
    by building again with accept_changes=True (CLI: --accept-changes) once someone has checked them.
    """

    def __init__(self, changes: list, files: list[str] | None = None) -> None:
        self.changes = list(changes)
        # Source files whose bytes differ from the published run's: where the changes come from.
        self.files = list(files or [])
        super().__init__(str(self))

    def __str__(self) -> str:
        """Every change on its own line under one heading naming the changed files."""
        lines = "\n".join(f"- {change}" for change in self.changes)
        files = f"変更されたファイル (changed files): {', '.join(self.files)}\n" if self.files else ""
        return (
            "公開を止めました: 公開中のデータから次の点が大きく変わります。確認のうえ --accept-changes で公開してください "
            "(publish stopped: these changes from the published data need confirmation; "
            f"rerun with --accept-changes to publish them):\n{files}{lines}"
        )
