"""The roster in force: one holder, swapped atomically, with a version.

The service reads the roster from many threads while the roster reload job may replace it. A
reader takes `current` once and works with that roster to the end of its task, so one task never
sees two rosters.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from floodwatch.roster.model import Roster

# what the roster files looked like when read: (path, mtime, size) per file
Signature = tuple[tuple[str, float, int], ...]


def file_signature(paths: Iterable[Path]) -> Signature:
    """Taken before the files are read: an edit during the read shows as a change later."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((str(path), st.st_mtime, st.st_size))
        except OSError:
            out.append((str(path), -1.0, -1))
    return tuple(out)


class RosterHolder:
    def __init__(self, roster: Roster, files: Signature = ()) -> None:
        self._lock = threading.Lock()
        self._roster = roster
        self._files = files
        self._version = 1

    @property
    def current(self) -> Roster:
        """The roster in force now (take it once per task)."""
        return self._roster

    @property
    def version(self) -> int:
        """1 for the roster loaded at start-up, one more for each roster taken into force."""
        return self._version

    @property
    def files(self) -> Signature:
        """The signature of the files the roster in force was read from."""
        return self._files

    def swap(self, roster: Roster, files: Signature) -> int:
        """Put `roster`, read from `files`, in force; returns its version."""
        with self._lock:
            self._roster = roster
            self._files = files
            self._version += 1
            return self._version
