"""User-facing errors: one line naming the file and the offending node or line."""

from __future__ import annotations


class LumpcheckError(Exception):
    """An error caused by the user's input (bad file, unsupported op); the CLI prints it in one line."""

    exit_code = 2

    def __init__(self, message: str, path: str | None = None, where: str | None = None):
        self.message = message
        self.path = path
        self.where = where
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.path, self.where) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class ModelFormatError(LumpcheckError):
    """The model file is malformed or uses something lumpcheck cannot read exactly."""


class UnsupportedModelError(LumpcheckError):
    """The model is well-formed but outside lumpcheck's scope (conv, branches, unknown activation)."""

    exit_code = 3
