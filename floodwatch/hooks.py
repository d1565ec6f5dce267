"""Hooks: callbacks that run after something was committed.

`pages_written` is the one used today: whoever commits pages to the outbox calls it, and the
service connects its dispatcher's wake-up to it, so pages go out at once rather than at the next
sweep. A hook is built by the application factory and handed to those who call it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Hook:
    """A list of callbacks, called in the order they were connected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: tuple[Callable[[], None], ...] = ()
        self._lock = threading.Lock()

    def connect(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks = (*self._callbacks, callback)

    def disconnect(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks = tuple(c for c in self._callbacks if c != callback)

    def __call__(self) -> None:
        """Run every callback; one that fails is logged and does not stop the others (what
        was committed stays committed: the callbacks only hurry work along)."""
        for callback in self._callbacks:
            try:
                callback()
            except Exception:
                log.exception("hook %s: a callback failed", self.name)
