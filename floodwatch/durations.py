"""Durations as administrators write them: ``90s``, ``15m``, ``1h``, ``1h30m``, ``2d``."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from floodwatch.i18n import Refused, Text, _

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BadDuration(Refused, ValueError):
    """Text that is not a duration, or one out of range: a ValueError (pydantic's validators
    and the CLI's options catch those) whose message is in the catalogue."""


MAX_DURATION = timedelta(days=366)
"""No setting of floodwatch needs longer; larger values overflow date arithmetic (a typo such
as ``99999999999d`` would otherwise be a traceback, or an alert held for ever)."""


def parse_duration(value: Any, *, most: timedelta = MAX_DURATION) -> timedelta:
    """Parse ``1h30m`` etc.; a bare number is not accepted because its unit would be a guess.

    Raises BadDuration, a ValueError (never OverflowError), for text that is not a duration or
    is longer than `most`.
    """
    if isinstance(value, timedelta):
        return _at_most(value, value, most)
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise BadDuration(_expected(value))
    text = value.strip().replace(" ", "")
    pos, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise BadDuration(_expected(value))
    if not math.isfinite(seconds) or seconds > most.total_seconds():
        raise BadDuration(_too_long(most, value))
    return timedelta(seconds=seconds)


def _at_most(duration: timedelta, value: Any, most: timedelta) -> timedelta:
    if duration > most:
        raise BadDuration(_too_long(most, value))
    return duration


def _expected(found: Any) -> Text:
    return _("expected a duration such as '15m', '1h' or '90s', found {found}", found=_show(found))


def _too_long(most: timedelta, found: Any) -> Text:
    return _("expected a duration of at most {most}, found {found}",
             most=format_duration(most), found=_show(found))  # fmt: skip


def _show(value: Any) -> str:
    if isinstance(value, timedelta):
        return repr(format_duration(value))
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def format_duration(value: timedelta) -> str:
    """The shortest ``1h30m``-style text for a duration."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out


def _positive(value: Any, most: timedelta) -> timedelta:
    duration = parse_duration(value, most=most)
    if duration <= timedelta(0):
        raise BadDuration(
            _("expected a duration longer than 0s, found {found}", found=_show(value))
        )
    return duration


def positive_at_most(most: timedelta) -> BeforeValidator:
    """The validator of a duration that must be above 0 and at most `most`; use it as
    ``Annotated[timedelta, positive_at_most(timedelta(hours=1)), AS_TEXT]``."""
    return BeforeValidator(lambda value: _positive(value, most))


AS_TEXT = PlainSerializer(format_duration, return_type=str)

Duration = Annotated[timedelta, BeforeValidator(parse_duration), AS_TEXT]
"""A duration of 0 or more (a hold time, a delay), at most MAX_DURATION."""

PositiveDuration = Annotated[timedelta, positive_at_most(MAX_DURATION), AS_TEXT]
"""A duration above 0 (an interval, a timeout, a window), at most MAX_DURATION: ``interval: 0s``
would poll in a busy loop."""
