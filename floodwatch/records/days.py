"""The office's day: which instants a date covers, and the dates and times people type.

A day starts at `report.day_starts` local time (00:00 by default; "08:00" for an office that
reports 8时至次日8时) and lasts until the same wall-clock time the next day. Pure.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from floodwatch.i18n import Refused, _

FIRST, LAST = date(1900, 1, 1), date(9000, 12, 31)


def starts(text: str) -> time:
    """ "08:00" -> time(8, 0) (validated by the config's pattern)."""
    hour, minute = map(int, text.split(":"))
    return time(hour, minute)


def window(day: date, zone: ZoneInfo, day_starts: time = time(0)) -> tuple[datetime, datetime]:
    """The instants [start, end) of the office's day `day`."""
    start = datetime.combine(day, day_starts, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), day_starts, tzinfo=zone)
    return start, end


def day_of(when: datetime, zone: ZoneInfo, day_starts: time = time(0)) -> date:
    """The office's day an instant falls in."""
    local = when.astimezone(zone).replace(tzinfo=None)
    return (local - timedelta(hours=day_starts.hour, minutes=day_starts.minute)).date()


def parse_date(text: str, option: str) -> date:
    """A date as people type it (YYYY-MM-DD); one clear error naming the option otherwise."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise Refused(
            _("{option}: expected a date as YYYY-MM-DD, found {text}", option=option,
              text=repr(text))
        ) from None  # fmt: skip
    if not FIRST <= day <= LAST:
        raise Refused(
            _("{option}: {day} is outside the years {first}-{last}", option=option,
              day=day.isoformat(), first=FIRST.year, last=LAST.year)
        )  # fmt: skip
    return day


def parse_time(text: str, option: str, zone: ZoneInfo) -> datetime:
    """An instant: "2018-05-28 08:00" (in `zone`) or ISO 8601 with an offset."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Refused(
            _('{option}: expected "YYYY-MM-DD HH:MM" or ISO 8601, found {text}', option=option,
              text=repr(text))
        ) from None  # fmt: skip
    if not FIRST <= when.date() <= LAST:
        raise Refused(
            _("{option}: {day} is outside the years {first}-{last}", option=option,
              day=when.date().isoformat(), first=FIRST.year, last=LAST.year)
        )  # fmt: skip
    return when if when.tzinfo else when.replace(tzinfo=zone)


def parse_bound(text: str, option: str, zone: ZoneInfo, day_starts: time, end: bool) -> datetime:
    """--from / --to: a date (the start of that day; for --to, the end of it) or a time."""
    if len(text.strip()) == 10:
        start, stop = window(parse_date(text, option), zone, day_starts)
        return stop if end else start
    return parse_time(text, option, zone)
