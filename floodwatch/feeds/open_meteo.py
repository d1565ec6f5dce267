"""Open-Meteo hourly precipitation forecast (``/v1/forecast?hourly=precipitation``).

Forecasts are not observations, so they never pass as rain that fell: each forecast hour
becomes a `Reading` with parameter ``rain_forecast``, unit ``mm``, and ``observed_at`` set to
the hour the forecast is for. Open-Meteo's hourly precipitation is the sum over the *preceding*
hour, so the reading at 15:00 is the rain forecast for 14:00-15:00. Only hours ending after
`now` are returned: the earlier hours of the day that Open-Meteo also sends are model values
for the past, neither forecast nor observation.

Units: the feed asks for millimetres, but honours whatever ``hourly_units.precipitation`` says
(``inch`` is converted: 1 in = 25.4 mm); a unit it does not know fails the fetch rather than
being guessed.

Times: the feed asks for UTC (``timezone=GMT``). When a response is in local time anyway, its
times are read with the response's single ``utc_offset_seconds``: Open-Meteo applies the offset
in force when it answers to the whole series and does not switch at a DST change within it (a
local zone would be an hour off after the change). ``hourly_units.time = unixtime`` is read as
UTC seconds.

A revised forecast for an hour already stored has the same reading key (station, parameter,
time), and the store keeps the first value of a key: downstream code that wants the latest
forecast must replace forecast readings, not skip the repeats.

No position: the window is the future (the hours ahead of each poll), so a poll that could not
be stored loses nothing the next poll does not ask for again, and there is nothing to resume.
The feed does not implement `Positioned`.

Skipped items, counted in `rejected`: ``empty`` (null), ``unparseable_value``, ``nan``,
``no_data_value``, ``negative``, ``unparseable_time``, ``duplicate``, ``malformed`` (the time and
value lists differ in length: the extra entries), ``undecodable`` (a time or value with bytes that
are not UTF-8), ``oversized`` (one longer than 200 characters).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import ConfigDict, Field

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.httpfeed import HttpFeed, PollOptions
from floodwatch.feeds.quality import Rejected, finish, parse_time, parse_value
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.units import canonical, convert

log = logging.getLogger(__name__)

PARAMETER = "rain_forecast"
UNIT = "mm"


class OpenMeteoFeed(HttpFeed):
    """The hourly precipitation forecast at one point, stored under `station`."""

    class Options(PollOptions):
        model_config = ConfigDict(extra="forbid", frozen=True)

        station: str = Field(min_length=1, description="the station id the forecast is for")
        latitude: float = Field(ge=-90, le=90)
        longitude: float = Field(ge=-180, le=180)
        base_url: str = Field(
            default="https://api.open-meteo.com/v1/forecast", pattern=r"^https?://"
        )
        forecast_hours: int = Field(default=48, ge=1, le=384)

    def __init__(self, name: str, options: OpenMeteoFeed.Options, context: PluginContext) -> None:
        super().__init__(name, options, context)
        self.options = options

    def fetch(self, now: datetime) -> list[Reading]:
        """The forecast hours ending after `now`, in time order, in millimetres."""
        o = self.options
        params = {
            "latitude": str(o.latitude),
            "longitude": str(o.longitude),
            "hourly": "precipitation",
            "precipitation_unit": "mm",
            "timezone": "GMT",
            "forecast_hours": str(o.forecast_hours),
        }
        with self._run():
            body = self.get_json(o.base_url, params, {"Accept": "application/json"})
            readings = finish(self._parse(body), self.rejected, None)
            return [r for r in readings if r.observed_at > now]

    def _parse(self, body: Any) -> list[Reading]:
        try:
            units = body["hourly_units"]
            hourly = body["hourly"]
            times, values = hourly["time"], hourly["precipitation"]
            unit, time_format = str(units["precipitation"]), str(units.get("time", "iso8601"))
        except (KeyError, TypeError) as exc:
            raise FeedError(
                f"feed {self.name}: not an hourly precipitation forecast (no {exc})"
            ) from None
        if not isinstance(times, list) or not isinstance(values, list):
            raise FeedError(f"feed {self.name}: hourly.time and hourly.precipitation not lists")
        if canonical(unit) not in ("mm", "in", "cm"):
            raise FeedError(f"feed {self.name}: unknown precipitation unit {unit!r}")
        offset = body.get("utc_offset_seconds", 0)
        if not isinstance(offset, int) or abs(offset) > 18 * 3600:
            raise FeedError(f"feed {self.name}: utc_offset_seconds {offset!r} is not an offset")
        zone = timezone(timedelta(seconds=offset))
        if len(times) != len(values):
            self.rejected["malformed"] += abs(len(times) - len(values))
        out: list[Reading] = []
        for raw_time, raw_value in zip(times, values, strict=False):
            try:
                when = _time(raw_time, time_format, zone)
                value = parse_value(raw_value)
                if value < 0:
                    raise Rejected("negative", f"negative precipitation {value}")
                out.append(
                    Reading(self.options.station, PARAMETER, convert(value, unit, UNIT), UNIT, when)
                )
            except Rejected as exc:
                self.rejected[exc.reason] += 1
        return out


def _time(raw: Any, time_format: str, zone: timezone) -> datetime:
    if time_format == "unixtime":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise Rejected("unparseable_time", f"not Unix seconds: {raw!r}")
        try:
            return datetime.fromtimestamp(raw, UTC)
        except (OverflowError, OSError, ValueError):
            raise Rejected("unparseable_time", f"not Unix seconds: {raw!r}") from None
    return parse_time(raw, naive_zone=zone)
