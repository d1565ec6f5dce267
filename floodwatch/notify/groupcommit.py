"""Group commit: the outcomes that lane workers have ready at the same moment are written in
one transaction, not one each.

A worker hands its item in and waits for the writer's lock; whoever gets the lock writes every
item handed in so far, in one call, and the others find theirs written when they get it. Under
load the groups grow by themselves (items pile up while a transaction runs); alone, an item
is written at once, as before. Each caller returns only once its own item is committed, so a
caller's guarantees are those of writing its item itself: if a group's write fails, each of
its items is written again alone, and its caller sees its own error (a database outage: each
worker keeps its outcome; one bad item: only its page is left to its claim's expiry).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Entry(Generic[T]):
    __slots__ = ("alone", "item", "written")

    def __init__(self, item: T) -> None:
        self.item = item
        self.written = False
        self.alone = False  # the group it was in failed: its caller writes it by itself


class GroupCommit(Generic[T]):
    """`write(item)` from any thread; `commit(items)` writes a group in one transaction."""

    def __init__(self, commit: Callable[[list[T]], None]) -> None:
        self._commit = commit
        self._queue: list[_Entry[T]] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()

    @property
    def queued(self) -> int:
        """Items handed in and not yet taken into a commit."""
        with self._queue_lock:
            return len(self._queue)

    def write(self, item: T) -> None:
        """Return once `item` is committed (with others, or alone); raise what committing it
        alone raised."""
        entry = _Entry(item)
        with self._queue_lock:
            self._queue.append(entry)
        with self._writer:
            if entry.written:
                return
            if not entry.alone:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                if len(group) == 1:
                    self._commit([item])  # its error is its caller's
                    return
                try:
                    self._commit([e.item for e in group])
                except Exception:
                    for e in group:
                        e.alone = True
                else:
                    for e in group:
                        e.written = True
                    return
        self._commit([item])  # the group failed: this item alone, outside the lock
