"""USGS NWIS instantaneous values (``/nwis/iv/``, WaterML 1.1 as JSON), several sites a request.

Parameter codes become floodwatch parameters: 00065 gage height -> ``stage`` in ``ft``, 00060
discharge -> ``discharge`` in ``ft3/s``. A series whose unit differs is converted (see
`floodwatch.units`). Times carry the site's UTC offset and are kept as given.

Each value's qualifiers (``P`` provisional, ``A`` approved, ``e`` estimated, ``Ice``, ``Eqp`` ...)
are not part of a `Reading`; `fetch_qualified` returns them beside each reading, and
`qualifier_descriptions` keeps the meaning the payload gave for each code.

Position: the feed asks for the latest value of each series (or the look-back `period`); when
that may not reach back to the newest observation stored from it (after a restart, after a
fetch that failed or whose readings were not committed because the database was away) it asks
with ``startDT`` from that observation instead, so the whole gap is fetched. The IV service
serves 120 days back: an older start is cut there, and the span lost is logged once and listed
in `uncovered`. Readings returned and not committed are returned again by the next fetch.

Skipped items, counted in `rejected`: ``no_data_value`` (the series' ``noDataValue``, -999999:
USGS sends it with a qualifier such as ``Ice`` or ``Eqp`` when the gauge cannot read), ``empty``,
``unparseable_value``, ``nan``, ``unparseable_time``, ``duplicate`` (a second method's series for
the same site and parameter repeats the times: the first is kept), ``future``,
``unknown_parameter`` (a code the feed does not map), ``unknown_unit``, ``malformed``,
``undecodable`` (a site, code, unit, value or time with bytes that are not UTF-8), ``oversized``
(one of those longer than 200 characters).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.httpfeed import PollOptions, PositionedHttpFeed, iso
from floodwatch.feeds.quality import (
    NO_DATA_VALUES,
    Rejected,
    check_text,
    finish,
    parse_time,
    parse_value,
)
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.units import convert

log = logging.getLogger(__name__)

# USGS parameter code -> (floodwatch parameter, unit floodwatch reports it in)
PARAMETERS: dict[str, tuple[str, str]] = {
    "00065": ("stage", "ft"),
    "00060": ("discharge", "ft3/s"),
}
_SITE = re.compile(r"^\d{8,15}$")
_PERIOD = re.compile(r"^P(?:(\d+)D|T(\d+)([HM]))$")
KEEPS = timedelta(days=120)  # how far back the IV service serves instantaneous values


@dataclass(frozen=True)
class QualifiedReading:
    """A reading and the qualifier codes USGS attached to its value (``("P",)``)."""

    reading: Reading
    qualifiers: tuple[str, ...]


class UsgsIvFeed(PositionedHttpFeed):
    """Latest (or `period`'s) instantaneous values for `sites`, in one request per 100 sites."""

    class Options(PollOptions):
        model_config = ConfigDict(extra="forbid", frozen=True)

        sites: tuple[str, ...] = Field(min_length=1, description="USGS site numbers")
        parameters: tuple[str, ...] = Field(default=("00065", "00060"), min_length=1)
        base_url: str = Field(
            default="https://waterservices.usgs.gov/nwis/iv/", pattern=r"^https?://"
        )
        period: str | None = Field(
            default=None,
            pattern=_PERIOD.pattern,
            description="ISO 8601 look-back such as PT2H or P1D; unset: the latest value only",
        )
        sites_per_request: int = Field(default=100, ge=1, le=100)

        @field_validator("sites")
        @classmethod
        def _sites_are_site_numbers(cls, sites: tuple[str, ...]) -> tuple[str, ...]:
            bad = [s for s in sites if not _SITE.match(s)]
            if bad:
                raise ValueError(f"not USGS site numbers (8 to 15 digits): {', '.join(bad)}")
            if len(set(sites)) != len(sites):
                raise ValueError("a site is listed twice")
            return sites

        @field_validator("parameters")
        @classmethod
        def _parameters_are_known(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
            unknown = [c for c in codes if c not in PARAMETERS]
            if unknown:
                raise ValueError(
                    f"unknown parameter codes {', '.join(unknown)}; known: "
                    + ", ".join(f"{c} ({p})" for c, (p, _) in PARAMETERS.items())
                )
            return codes

    def __init__(self, name: str, options: UsgsIvFeed.Options, context: PluginContext) -> None:
        super().__init__(name, options, context)
        self.options = options
        self.qualifier_descriptions: dict[str, str] = {}
        self._qualifiers: dict[tuple[str, str, datetime], tuple[str, ...]] = {}

    def fetch(self, now: datetime) -> list[Reading]:
        """Readings observed up to `now`, in time order."""
        return [q.reading for q in self.fetch_qualified(now)]

    def fetch_qualified(self, now: datetime) -> list[QualifiedReading]:
        """Like `fetch`, with each value's qualifier codes beside its reading."""
        o = self.options
        chunks = [
            o.sites[i : i + o.sites_per_request]
            for i in range(0, len(o.sites), o.sites_per_request)
        ]
        behind = self.behind()
        with self._run() as run:
            found: list[QualifiedReading] = []
            for chunk in chunks:
                part = ",".join(chunk)
                since = min(
                    (t for t in (behind, self._holes.get(part)) if t is not None), default=None
                )
                window = self._window(since, now)
                params = {
                    "format": "json",
                    "sites": part,
                    "parameterCd": ",".join(o.parameters),
                }
                if window is not None:
                    params["startDT"] = iso(window)
                elif o.period:
                    params["period"] = o.period
                try:
                    body = self.get_json(o.base_url, params, {"Accept": "application/json"})
                    found.extend(self._parse(body))
                except FeedError as exc:
                    self._lost(part, since or self.stood(chunk))
                    if len(chunks) == 1:
                        raise
                    # the other chunks' sites still report; say which part is missing
                    log.error("%s (sites %s)", exc, part)
                    run.failed_parts.append(part)
                else:
                    self._found(part)
            if len(run.failed_parts) == len(chunks):
                raise FeedError(f"feed {self.name}: all {len(chunks)} requests failed")
            qualifiers: dict[tuple[str, str, datetime], tuple[str, ...]] = {}
            for q in found:
                qualifiers.setdefault(q.reading.key, q.qualifiers)
            readings = finish((q.reading for q in found), self.rejected, now)
            for key, codes in self._qualifiers.items():  # those of readings held from before
                qualifiers.setdefault(key, codes)
            held = self._deliver(readings)
            self._qualifiers = {r.key: qualifiers[r.key] for r in held}
            return [QualifiedReading(r, qualifiers[r.key]) for r in held]

    def _window(self, since: datetime | None, now: datetime) -> datetime | None:
        """The start of the window to ask for to reach back to `since`, or None: the latest
        values (or `period`) reach back far enough."""
        if since is None:
            return None
        if self.options.period and since >= now - _period(self.options.period):
            return None
        return self.reach_back(since, now, KEEPS, "the USGS IV service")

    def _parse(self, body: Any) -> list[QualifiedReading]:
        try:
            series_list = body["value"]["timeSeries"]
        except (KeyError, TypeError):
            raise FeedError(
                f"feed {self.name}: not a WaterML-JSON answer (no value.timeSeries)"
            ) from None
        if not isinstance(series_list, list):
            raise FeedError(f"feed {self.name}: value.timeSeries is not a list")
        out: list[QualifiedReading] = []
        for series in series_list:
            try:
                out.extend(self._series(series))
            except Rejected as exc:
                self.rejected[exc.reason] += 1
        return out

    def _series(self, series: Any) -> list[QualifiedReading]:
        try:
            site = str(series["sourceInfo"]["siteCode"][0]["value"])
            variable = series["variable"]
            code = str(variable["variableCode"][0]["value"])
            unit = str(variable["unit"]["unitCode"])
            blocks = series["values"]
            no_data = variable.get("noDataValue")
            sentinels = NO_DATA_VALUES + ((float(no_data),) if no_data is not None else ())
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise Rejected("malformed", f"a time series without {exc}") from None
        check_text(site, "site")
        check_text(code, "parameter code")
        check_text(unit, "unit")
        if code not in PARAMETERS:
            raise Rejected("unknown_parameter", f"parameter code {code}")
        parameter, want_unit = PARAMETERS[code]
        out: list[QualifiedReading] = []
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, dict):
                self.rejected["malformed"] += 1
                continue
            for q in block.get("qualifier") or ():
                if isinstance(q, dict) and "qualifierCode" in q:
                    desc = str(q.get("qualifierDescription", ""))
                    self.qualifier_descriptions[str(q["qualifierCode"])] = desc
            for point in block.get("value") or ():
                try:
                    out.append(self._point(site, parameter, unit, want_unit, sentinels, point))
                except Rejected as exc:
                    self.rejected[exc.reason] += 1
        return out

    @staticmethod
    def _point(
        site: str,
        parameter: str,
        unit: str,
        want_unit: str,
        sentinels: tuple[float, ...],
        point: Any,
    ) -> QualifiedReading:
        if not isinstance(point, dict):
            raise Rejected("malformed", f"a value that is not an object: {point!r}")
        value = parse_value(point.get("value"), sentinels)
        try:
            value = convert(value, unit, want_unit)
        except ValueError as exc:
            raise Rejected("unknown_unit", str(exc)) from None
        when = parse_time(point.get("dateTime"))
        qualifiers = tuple(str(q) for q in point.get("qualifiers") or ())
        return QualifiedReading(Reading(site, parameter, value, want_unit, when), qualifiers)


def _period(text: str) -> timedelta:
    """`period` (PnD, PTnH or PTnM) as a span."""
    m = _PERIOD.match(text)
    if m is None:  # pragma: no cover - the option's pattern admits nothing else
        raise ValueError(f"not a period: {text!r}")
    if m.group(1):
        return timedelta(days=int(m.group(1)))
    amount = int(m.group(2))
    return timedelta(hours=amount) if m.group(3) == "H" else timedelta(minutes=amount)
