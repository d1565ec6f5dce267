"""Outbound HTTP of the feeds, the health check and the CLI's web client: each gets its requests
session from here. (The paging channels POST through `notify.channels.common.HttpPoster`.)"""

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
