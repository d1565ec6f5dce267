"""The one seam for outbound HTTP: every feed and webhook gets its session from here."""

from __future__ import annotations

from collections.abc import Callable

import requests

from floodwatch import __version__

SessionFactory = Callable[[], requests.Session]


def default_session() -> requests.Session:
    """A requests session that identifies floodwatch; tests pass their own factory instead."""
    session = requests.Session()
    session.headers["User-Agent"] = f"floodwatch/{__version__}"
    return session
