"""What every polled HTTP feed shares: timeout, bounded retries with backoff, the degraded flag.

Requests go through the session from `PluginContext.http` (the one seam for outbound HTTP). A
fetch that cannot get a usable answer after its retries raises `FeedError`; the scheduler logs
it and polls again at the next interval.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.quality import log_rejections
from floodwatch.plugins import PluginContext

log = logging.getLogger(__name__)

# Worth another try: the server or the path to it may recover within seconds. Other 4xx mean
# the request itself is wrong (a bad site id, a moved URL) and repeating it only adds load.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class PollOptions(BaseModel):
    """Timeout and retry options every HTTP feed accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(default=10.0, gt=0, description="seconds to wait for each answer")
    retries: int = Field(default=2, ge=0, le=10, description="attempts after the first")
    backoff: float = Field(default=1.0, ge=0, description="seconds before the first retry")
    backoff_max: float = Field(default=30.0, ge=0, description="cap on the doubling wait")


class _Retryable(Exception):
    """An attempt failed in a way another attempt may not; `retry_after` is the server's ask."""

    def __init__(self, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class FetchRun:
    """What one fetch learned: the parts that failed while others succeeded."""

    failed_parts: list[str] = field(default_factory=list)


class HttpFeed:
    """Base of the HTTP feeds: `get_json` with retries, `rejected` counters, `degraded` flag.

    `sleep` is the wait between attempts; tests replace it with a recorder so they never sleep.
    `rejected` counts skipped items by reason since the feed was built. `degraded` is True after
    a fetch that failed (or that lost part of its sources) and False after a complete one.
    """

    name: str

    def __init__(self, name: str, poll: PollOptions, context: PluginContext) -> None:
        self.name = name
        self.sleep: Callable[[float], None] = time.sleep
        self.rejected: Counter[str] = Counter()
        self.degraded = False
        self._poll = poll
        self._session = context.http()

    @contextmanager
    def _run(self) -> Iterator[FetchRun]:
        """Wrap one fetch: set `degraded` from its outcome; log what it skipped, once."""
        before = Counter(self.rejected)
        run = FetchRun()
        try:
            yield run
        except BaseException:
            self.degraded = True
            raise
        finally:
            log_rejections(log, self.name, before, self.rejected)
        self.degraded = bool(run.failed_parts)

    def get_json(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET `url` and decode its JSON body, retrying transient failures with backoff.

        Retried: timeouts, refused or broken connections, HTTP 408/425/429/5xx, and bodies that
        are empty or not JSON (a truncated answer or a proxy's error page). Each failed attempt
        before the last logs one warning; the last raises FeedError with the cause.
        """
        p = self._poll
        attempts = 1 + p.retries
        delay = p.backoff
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(url, params, headers)
            except _Retryable as exc:
                if attempt == attempts:
                    raise FeedError(
                        f"feed {self.name}: GET {url} failed after {attempts} attempt(s): {exc}"
                    ) from exc
                wait = min(max(delay, _seconds(exc.retry_after)), p.backoff_max)
                log.warning(
                    "feed %s: GET %s failed (attempt %d of %d): %s; retrying in %gs",
                    self.name, url, attempt, attempts, exc, wait,
                )  # fmt: skip
                self.sleep(wait)
                delay = min(delay * 2, p.backoff_max)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _attempt(
        self, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str] | None
    ) -> Any:
        try:
            response = self._session.get(
                url,
                params=dict(params or {}),
                headers=dict(headers or {}),
                timeout=self._poll.timeout,
            )
        except requests.Timeout:
            raise _Retryable(f"no answer within {self._poll.timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise _Retryable(f"cannot connect: {exc}") from exc
        except requests.RequestException as exc:
            raise FeedError(f"feed {self.name}: GET {url} failed: {exc}") from exc
        if response.status_code in RETRYABLE_STATUS:
            raise _Retryable(
                f"HTTP {response.status_code} {response.reason}",
                response.headers.get("Retry-After"),
            )
        if response.status_code >= 400:
            raise FeedError(
                f"feed {self.name}: GET {url} answered HTTP {response.status_code} "
                f"{response.reason}; not retried, the request itself is refused"
            )
        if not response.content.strip():
            raise _Retryable(f"HTTP {response.status_code} with an empty body")
        try:
            # json accepts NaN and Infinity; the per-item checks count them as "nan"
            return json.loads(response.content)
        except ValueError as exc:
            raise _Retryable(f"the body is not JSON: {exc}") from None


def _seconds(raw: str | None) -> float:
    """Seconds the server asked us to wait (Retry-After in seconds), or 0."""
    try:
        return max(float(raw), 0.0) if raw is not None else 0.0
    except ValueError:
        return 0.0  # an HTTP-date: rare for these APIs; the backoff applies instead
