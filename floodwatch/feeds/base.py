"""The feed contract.

A feed's position (a CSV file's offset, an MQTT message not yet acknowledged, the start of an
HTTP window) moves on only after the readings it returned are committed to the database: the
service calls `commit` after the transaction that stored them, and never when storing failed.
A fetch after a failed store therefore returns those readings again (with whatever is new), so
a database outage delays readings and never loses them. At start-up the service tells a feed
where storage stands (`resume`), so the first window covers the time the service was down.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from floodwatch.readings import Reading


class FeedError(Exception):
    """A fetch failed; the message says which source and why."""


class Feed(Protocol):
    name: str

    def fetch(self, now: datetime) -> list[Reading]:
        """Readings observed up to `now`. Repeats of earlier readings are harmless; readings
        returned before and not yet committed are returned again."""
        ...


@runtime_checkable
class Positioned(Protocol):
    """A feed that keeps a position in its source and moves it only when told."""

    name: str

    def commit(self, readings: Sequence[Reading]) -> None:
        """The readings of the last fetch (exactly these) are stored: move the position on."""
        ...

    def resume(self, last_stored: datetime | None) -> None:
        """Before the first fetch: the newest observation stored from this feed (None: none)."""
        ...
