"""Domain errors that carry where in a file the problem is."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # floodwatch.i18n imports this module: its names are imported where used
    from floodwatch.i18n import Text


@dataclass(frozen=True, init=False)
class Problem:
    """One thing wrong in a configuration or roster file, with its place.

    It is made with its message in English (a str) or in the catalogue (a `Text`). `message`
    is always the English; `text` keeps the catalogue's message so `render` can show it in the
    reader's language. Two problems are equal when their place and English message are.
    """

    file: str
    line: int
    column: int
    path: str
    message: str
    text: Text | None = field(default=None, compare=False, repr=False)

    def __init__(self, file: str, line: int, column: int, path: str, message: str | Text) -> None:
        from floodwatch.i18n import Text

        object.__setattr__(self, "file", file)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "column", column)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "message", str(message))
        object.__setattr__(self, "text", message if isinstance(message, Text) else None)

    def render(self, language: str) -> str:
        """The problem in `language`: the place as it is, the message in the catalogue's words
        (English when it has none)."""
        message = self.text.render(language) if self.text is not None else self.message
        return self._placed(message)

    def _placed(self, message: str) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {message}" if self.path else f"{where}: {message}"

    def __str__(self) -> str:
        return self._placed(self.message)


def close_matches(word: object, candidates: Iterable[str]) -> list[str]:
    """The candidates `word` looks like a misspelling of (at most two, closest first)."""
    if not isinstance(word, str) or not word:
        return []
    known = sorted({c for c in candidates if c != word})
    close = difflib.get_close_matches(word, known, n=2, cutoff=0.6)
    if not close:  # case slips (Officer, LI.MING) are not always close by difflib's measure
        close = [c for c in known if c.lower() == word.lower()][:1]
    return close


def did_you_mean(word: object, candidates: Iterable[str]) -> Text | str:
    """``"; did you mean 'officer'?"`` when `word` looks like a misspelling of a candidate,
    else ``""``: appended to messages about unknown keys and ids (a {hint} placeholder)."""
    from floodwatch.i18n import _

    close = [repr(c) for c in close_matches(word, candidates)]
    if len(close) > 1:
        return _("; did you mean {first} or {second}?", first=close[0], second=close[1])
    return _("; did you mean {name}?", name=close[0]) if close else ""


def first_few(items: Sequence[str], most: int = 3) -> Text | str:
    """``a, b, c and 2 more``: other places named in a message, kept to one line."""
    from floodwatch.i18n import _

    shown = ", ".join(items[:most])
    if len(items) > most:
        return _("{items} and {n} more", items=shown, n=len(items) - most)
    return shown


class FloodwatchError(Exception):
    """Base of errors that the CLI reports as a message, not a traceback."""


class ConfigError(FloodwatchError):
    """A file was rejected; `problems` lists every reason, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class NotFound(FloodwatchError):
    """An alert, person or other named thing does not exist."""
