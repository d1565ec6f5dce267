"""What every polled HTTP feed shares: timeout, bounded retries with backoff, the degraded flag,
how a body is read, and (for feeds of observations) a position that moves only on commit.

Requests go through the session from `PluginContext.http` (the one seam for outbound HTTP). A
fetch that cannot get a usable answer after its retries raises `FeedError`; the scheduler logs
it and polls again at the next interval.

A body is read in pieces and refused (FeedError, not retried) once it is larger than
`max_body`, so an endless or enormous answer costs at most that much memory. It is decoded with
undecodable bytes replaced (U+FFFD), so one bad byte inside a text never fails the whole
payload: the item whose text it is gets rejected as ``undecodable`` by the shared checks
(`floodwatch.feeds.quality`). A bad byte outside any text leaves JSON that does not parse: that
answer is retried like any other that is not JSON.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.quality import log_rejections
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading

log = logging.getLogger(__name__)

# Worth another try: the server or the path to it may recover within seconds. Other 4xx mean
# the request itself is wrong (a bad site id, a moved URL) and repeating it only adds load.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BODY = 50 * 1024 * 1024  # bytes: far above any answer these feeds ask for
_CHUNK = 64 * 1024


class PollOptions(BaseModel):
    """Timeout and retry options every HTTP feed accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(default=10.0, gt=0, description="seconds to wait for each answer")
    retries: int = Field(default=2, ge=0, le=10, description="attempts after the first")
    backoff: float = Field(default=1.0, ge=0, description="seconds before the first retry")
    backoff_max: float = Field(default=30.0, ge=0, description="cap on the doubling wait")
    max_body: int = Field(
        default=MAX_BODY, ge=1024, description="bytes an answer may have; a larger one fails"
    )


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
            self._missed()
            raise
        finally:
            log_rejections(log, self.name, before, self.rejected)
        self.degraded = bool(run.failed_parts)
        if run.failed_parts:
            self._missed()

    def _missed(self) -> None:
        """A fetch failed, or lost part of its sources: what it should have returned may be
        missing (a feed with a position asks for it next time)."""

    def get_json(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET `url` and decode its JSON body, retrying transient failures with backoff.

        Retried: timeouts, refused or broken connections, HTTP 408/425/429/5xx, and bodies that
        are empty or not JSON (a truncated answer or a proxy's error page). Each failed attempt
        before the last logs one warning; the last raises FeedError with the cause. A body
        larger than `max_body` fails at once.
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
                stream=True,  # the body is read here, in pieces, up to max_body
            )
        except requests.Timeout:
            raise _Retryable(f"no answer within {self._poll.timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise _Retryable(f"cannot connect: {exc}") from exc
        except requests.RequestException as exc:
            raise FeedError(f"feed {self.name}: GET {url} failed: {exc}") from exc
        with response:
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
            content = self._body(response, url)
        if not content.strip():
            raise _Retryable(f"HTTP {response.status_code} with an empty body")
        return self._json(content, url)

    def _body(self, response: requests.Response, url: str) -> bytes:
        """The body, read in pieces: FeedError as soon as it exceeds `max_body`."""
        limit = self._poll.max_body
        too_large = (
            f"feed {self.name}: GET {url}: the answer is larger than max_body ({limit} bytes); "
            "not read"
        )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise FeedError(too_large)
                chunks.append(chunk)
        except requests.Timeout:
            raise _Retryable(f"the answer stopped for {self._poll.timeout:g}s") from None
        except requests.RequestException as exc:  # broken off, or a damaged compressed body
            raise _Retryable(f"the answer broke off: {exc}") from exc
        return b"".join(chunks)

    def _json(self, content: bytes, url: str) -> Any:
        # An undecodable byte becomes U+FFFD: inside a text the JSON still parses and only the
        # item holding that text is rejected (quality.check_text). JSON is UTF-8 (RFC 8259);
        # detect_encoding also honours a BOM and the UTF-16/32 that json.loads(bytes) accepts.
        text = content.decode(json.detect_encoding(content), errors="replace")
        try:
            # json accepts NaN and Infinity; the per-item checks count them as "nan"
            return json.loads(text)
        except ValueError as exc:
            raise _Retryable(f"the body is not JSON: {exc}") from None
        except RecursionError:
            raise FeedError(
                f"feed {self.name}: GET {url}: the answer is nested too deeply to read"
            ) from None


def _seconds(raw: str | None) -> float:
    """Seconds the server asked us to wait (Retry-After in seconds), or 0."""
    try:
        return max(float(raw), 0.0) if raw is not None else 0.0
    except ValueError:
        return 0.0  # an HTTP-date: rare for these APIs; the backoff applies instead


def iso(when: datetime) -> str:
    """An instant as ISO 8601 in UTC with its offset, as a query parameter."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


class PositionedHttpFeed(HttpFeed):
    """An HTTP feed of observations with a position that moves only on `commit`.

    `stored` is the newest observation committed from this feed (or given by `resume`). The
    readings a fetch returned are held until they are committed, and the next fetch returns them
    again with whatever is new: a failed store loses nothing while the process runs. Until the
    feed has caught up (after `resume`, after a fetch that failed or lost a part, while readings
    are uncommitted) `behind()` is `stored`, the time the next request must reach back to, so a
    database outage, a source outage or a restart is covered from the source itself. A part of
    the source that failed while the others were stored (a station, a request of some sites)
    keeps a hole from where it stood until a request of its own reaches back over it. A source
    keeps only so much history: a span it can no longer serve is logged once and listed in
    `uncovered` (from, to).
    """

    def __init__(self, name: str, poll: PollOptions, context: PluginContext) -> None:
        super().__init__(name, poll, context)
        self.stored: datetime | None = None
        self.uncovered: list[tuple[datetime, datetime]] = []
        self._pending: dict[tuple[str, str, datetime], Reading] = {}
        self._caught_up = False  # the last fetch was complete and all it returned is stored
        self._complete = False  # the last fetch got everything it asked for
        self._holes: dict[str, datetime] = {}  # part of the source -> asked for again from
        self._station_stored: dict[str, datetime] = {}  # newest committed, per station

    def commit(self, readings: Sequence[Reading]) -> None:
        """The readings of the last fetch are stored: drop them and move `stored` on."""
        for r in readings:
            self._pending.pop(r.key, None)
            known = self._station_stored.get(r.station)
            if known is None or r.observed_at > known:
                self._station_stored[r.station] = r.observed_at
        newest = max((r.observed_at for r in readings), default=None)
        if newest is not None and (self.stored is None or newest > self.stored):
            self.stored = newest
        if not self._pending and self._complete:
            self._caught_up = True

    def resume(self, last_stored: datetime | None) -> None:
        """Before the first fetch: the newest observation stored from this feed."""
        if last_stored is not None and (self.stored is None or last_stored > self.stored):
            self.stored = last_stored
        self._caught_up = False

    def stood(self, stations: Iterable[str]) -> datetime | None:
        """Where these stations stood: the newest observation stored from any of them, else the
        feed's (`stored`)."""
        known = [self._station_stored[s] for s in stations if s in self._station_stored]
        return max(known) if known else self.stored

    def behind(self) -> datetime | None:
        """`stored`, when a request that only asks for the latest values may not reach back to
        it; None when the feed is caught up or has nothing stored."""
        return None if self._caught_up else self.stored

    def reach_back(self, since: datetime, now: datetime, keeps: timedelta, source: str) -> datetime:
        """The start of a window from `since`, no earlier than the source keeps (`keeps`)."""
        oldest = now - keeps
        if since >= oldest:
            return since
        if not any(start == since for start, _ in self.uncovered):
            self.uncovered.append((since, oldest))
            log.warning(
                "feed %s: readings from %s to %s cannot be asked for: %s keeps %s",
                self.name, iso(since), iso(oldest), source, _days(keeps),
            )  # fmt: skip
        return oldest

    def _lost(self, part: str, since: datetime | None) -> None:
        """A part of the source failed: its readings from `since` on are asked for again."""
        if since is not None and (part not in self._holes or since < self._holes[part]):
            self._holes[part] = since

    def _found(self, part: str) -> None:
        """A request for the part reached back over its hole."""
        self._holes.pop(part, None)

    def _deliver(self, readings: list[Reading]) -> list[Reading]:
        """What a fetch returns: `readings` and those returned before and not committed, in
        time order; all of them are held until committed."""
        merged = dict(self._pending)
        merged.update((r.key, r) for r in readings)
        out = sorted(merged.values(), key=lambda r: (r.observed_at, r.station, r.parameter))
        self._pending = {r.key: r for r in out}
        self._complete = True
        self._caught_up = not out
        return out

    def _missed(self) -> None:
        self._complete = False
        self._caught_up = False


def _days(span: timedelta) -> str:
    return f"{span.days} days" if span.days else str(span)
