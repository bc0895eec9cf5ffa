"""Error types of cxrdet: every error names the file (and row) it is about and what is wrong."""

from __future__ import annotations

from os import PathLike


class CxrdetError(Exception):
    """Base class of every error cxrdet raises on purpose (the CLI prints these without a traceback)."""


class DicomError(CxrdetError):
    """A DICOM file cannot be turned into a single grey image.

    Attributes:
        path: the file.
        reason: what is wrong, in words.
        hint: what to do about it (e.g. which decoder package to install), or None.
    """

    def __init__(self, path: str | PathLike, reason: str, hint: str | None = None):
        self.path = str(path)
        self.reason = reason
        self.hint = hint
        message = f"{self.path}: {reason}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)

    def __reduce__(self):  # picklable (it may cross from a worker process)
        return type(self), (self.path, self.reason, self.hint)


class InputError(CxrdetError):
    """A table (labels CSV, prediction file, submission) has a bad value.

    Attributes:
        path: the file.
        row: 1-based line number in the file counting the header as line 1, or None for file-level problems.
        reason: what is wrong.
    """

    def __init__(self, path: str | PathLike, reason: str, row: int | None = None):
        self.path = str(path)
        self.row = row
        self.reason = reason
        where = self.path if row is None else f"{self.path}, line {row}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # picklable (it may cross from a worker process)
        return type(self), (self.path, self.reason, self.row)


class ConfigError(CxrdetError):
    """A config or command-line option is unknown or has a bad value."""
