"""Domain errors that carry where in a file the problem is."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration or roster file, with its place."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def close_matches(word: object, candidates: Iterable[str]) -> list[str]:
    """The candidates `word` looks like a misspelling of (at most two, closest first)."""
    if not isinstance(word, str) or not word:
        return []
    known = sorted({c for c in candidates if c != word})
    close = difflib.get_close_matches(word, known, n=2, cutoff=0.6)
    if not close:  # case slips (Officer, LI.MING) are not always close by difflib's measure
        close = [c for c in known if c.lower() == word.lower()][:1]
    return close


def did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """``"; did you mean 'officer'?"`` when `word` looks like a misspelling of a candidate,
    else ``""``: appended to messages about unknown keys and ids."""
    close = close_matches(word, candidates)
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""


def first_few(items: Sequence[str], most: int = 3) -> str:
    """``a, b, c and 2 more``: other places named in a message, kept to one line."""
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


class FloodwatchError(Exception):
    """Base of errors that the CLI reports as a message, not a traceback."""


class ConfigError(FloodwatchError):
    """A file was rejected; `problems` lists every reason, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class NotFound(FloodwatchError):
    """An alert, person or other named thing does not exist."""
