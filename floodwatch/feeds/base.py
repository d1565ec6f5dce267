"""The feed contract."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from floodwatch.readings import Reading


class FeedError(Exception):
    """A fetch failed; the message says which source and why."""


class Feed(Protocol):
    name: str

    def fetch(self, now: datetime) -> list[Reading]:
        """Readings observed up to `now`. Repeats of earlier readings are harmless."""
        ...
