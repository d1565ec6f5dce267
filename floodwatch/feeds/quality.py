"""Checks every feed applies to one item of a payload, and the tally of what they refused.

A bad item is skipped and counted by reason, never allowed to fail the whole fetch. Reasons:

``empty``             the value is missing, null or blank
``unparseable_value`` the value is not a number
``nan``               the value is NaN or infinite
``no_data_value``     the value is the source's "no data" sentinel (USGS -999999)
``unparseable_time``  the time is missing, not ISO 8601, or has no UTC offset
``duplicate``         a second item for the same station, parameter and time (the first is kept)
``future``            observed after `now` (a clock ahead, or a mislabelled zone)
``malformed``         the item is not shaped as the source documents (not an object, no id)
``undecodable``       a text field the feed reads holds bytes that are not text in the source's
                      encoding (decoded as U+FFFD, the replacement character)
``oversized``         a text field the feed reads is longer than `MAX_TEXT` characters (no
                      station id, parameter, unit, value or time is that long)

Feeds add their own reasons where a source has more (``unknown_parameter``, ``unknown_unit``,
``ambiguous_value``, ``unknown_severity`` ...); each module lists them.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime, tzinfo
from typing import Any

from floodwatch.readings import Reading

NO_DATA_VALUES: tuple[float, ...] = (-999999.0,)
MAX_TEXT = 200  # characters of a station id, parameter, unit, value or time read from a source
REPLACEMENT = "\ufffd"  # what an undecodable byte becomes when a body is decoded


class Rejected(Exception):
    """One item was refused; `reason` is the counter's key, the message says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def check_text(text: str, what: str) -> str:
    """`text` itself when it is sound: Rejected ``undecodable`` when it holds the replacement
    character (a byte the decoder could not read), ``oversized`` when longer than `MAX_TEXT`."""
    if len(text) > MAX_TEXT:
        raise Rejected("oversized", f"{what} of {len(text)} characters (at most {MAX_TEXT})")
    if REPLACEMENT in text:
        raise Rejected("undecodable", f"{what} {text!r} holds bytes that are not text")
    return text


def parse_value(raw: Any, no_data: Collection[float] = NO_DATA_VALUES) -> float:
    """A finite number from a JSON value (a number or a numeric string), or Rejected."""
    if isinstance(raw, str):
        check_text(raw, "value")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise Rejected("empty", "no value")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise Rejected("unparseable_value", f"not a number: {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise Rejected("unparseable_value", f"not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise Rejected("nan", f"value {raw!r} is not finite")
    if value in no_data:
        raise Rejected("no_data_value", f"value {raw!r} means no data")
    return value


def parse_time(raw: Any, naive_zone: tzinfo | None = None) -> datetime:
    """An aware datetime from ISO 8601 text. A time without a UTC offset is refused unless the
    source documents its zone (`naive_zone`): a guessed zone would move a flood by hours."""
    if not isinstance(raw, str) or not raw.strip():
        raise Rejected("unparseable_time", f"no time: {raw!r}")
    check_text(raw, "time")
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Rejected("unparseable_time", f"not ISO 8601: {raw!r}") from None
    if when.tzinfo is None:
        if naive_zone is None:
            raise Rejected("unparseable_time", f"{raw!r} has no UTC offset")
        when = when.replace(tzinfo=naive_zone)
    return when


def finish(
    readings: Iterable[Reading], rejected: Counter[str], now: datetime | None
) -> list[Reading]:
    """Drop repeats within one payload (the first is kept) and, when `now` is given, readings
    observed after it; return the rest in time order, whatever order the source used."""
    seen: set[tuple[str, str, datetime]] = set()
    out: list[Reading] = []
    for r in readings:
        if r.key in seen:
            rejected["duplicate"] += 1
            continue
        seen.add(r.key)
        if now is not None and r.observed_at > now:
            rejected["future"] += 1
            continue
        out.append(r)
    out.sort(key=lambda r: (r.observed_at, r.station, r.parameter))
    return out


def log_rejections(
    logger: logging.Logger, feed: str, before: Counter[str], after: Counter[str]
) -> None:
    """One line per fetch that skipped anything, rather than one per item: a gauge frozen by ice
    sends -999999 every 15 minutes and would drown the log."""
    new = after - before
    if new:
        summary = ", ".join(f"{reason}={n}" for reason, n in sorted(new.items()))
        logger.warning("feed %s: skipped %d item(s): %s", feed, sum(new.values()), summary)
