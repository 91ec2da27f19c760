"""The one verdict type of every untrusted solver call and of `lumpcheck verify`."""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """A solver's (or `verify`'s) answer, VNN-COMP's words: `unsat` = the negated claim has no model (the claim is
    proved; for `verify`: equivalent), `sat` = a model / counterexample exists, `unknown`, `timeout`, `error`.

    The values are the strings certificates, reports and JSON output have always used; a Verdict compares equal
    to its string and serialises as it. Only `unsat` proves anything."""

    UNSAT = "unsat"
    SAT = "sat"
    UNKNOWN = "unknown"
    TIMEOUT = "timeout"
    ERROR = "error"
