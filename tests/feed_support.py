"""Building blocks for the feed tests: a plugin context, a sleep recorder, payload editing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from floodwatch.clock import SimulatedClock
from floodwatch.plugins import PluginContext


def context(base_dir: Path, now: datetime | None = None) -> PluginContext:
    """What the application hands a plugin; HTTP goes through the real default session."""
    return PluginContext(base_dir=base_dir, clock=SimulatedClock(now or datetime.now(UTC)))


class Sleeps:
    """Stands in for time.sleep: records each wait, never waits; may run a hook per call."""

    def __init__(self, hook: Callable[[float], object] | None = None) -> None:
        self.calls: list[float] = []
        self._hook = hook

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self._hook is not None:
            self._hook(seconds)


def load(fixtures: Path, relative: str) -> Any:
    """A recorded payload, parsed, for a test that edits it into a faulty one."""
    return json.loads((fixtures / "feeds" / relative).read_text(encoding="utf-8"))


def raw(fixtures: Path, relative: str) -> bytes:
    """A recorded payload byte for byte, as the source sent it."""
    return (fixtures / "feeds" / relative).read_bytes()


def dumps(data: Any) -> bytes:
    """JSON as a server would send it; NaN stays the bare literal some servers emit."""
    return json.dumps(data, allow_nan=True).encode("utf-8")
