"""Domain errors: every problem with a problem file becomes one :class:`SpecError`."""

from __future__ import annotations

import difflib


class ExprError(ValueError):
    """An expression string breaks the grammar; the loader adds file, key and line."""


class SpecError(Exception):
    """A problem file is invalid.

    ``str(err)`` is the one-line message shown to the user: ``file: key (line N): what``.
    """

    def __init__(self, message: str, *, file: str = "<problem>", key: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.key = key
        self.line = line

    def __str__(self) -> str:
        where = self.file
        if self.key:
            where += f": {self.key}"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


def unknown_name(name: str, known) -> str:
    """"unknown name Whh (did you mean W_hh?)": the closest of ``known`` names, if any is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"unknown name {name}" + (f" (did you mean {close[0]}?)" if close else "")
