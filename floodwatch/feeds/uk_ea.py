"""UK Environment Agency real-time flood-monitoring API: station readings and flood warnings.

Readings: one ``GET /id/stations/{reference}`` per station; each of the station's measures
gives its ``latestReading``. When that may not reach back to the newest observation stored from
the station (after a restart, after a fetch that failed or whose readings were not committed,
or when a measure's latest reading is more than its ``period`` after it: EA transfers some
stations' readings in batches) the feed also asks ``GET
/id/stations/{reference}/readings?since=...`` (EA's advice for a complete trace; each item is
shaped like a ``latestReading`` and names its measure), newest first, at most
`READINGS_LIMIT` items. EA's real-time API keeps about four weeks of readings: an older start is
cut there, and what could not be asked for is logged once and listed in `uncovered`, as is the
oldest part of an answer cut at the limit. Readings returned and not committed are returned
again by the next fetch. Measures map to floodwatch parameters by EA parameter and qualifier:

====================================  =====================
EA parameter / qualifier              floodwatch parameter
====================================  =====================
``level`` / ``Stage``                 ``stage``
``level`` / ``Downstream Stage``      ``stage_downstream``
``level`` / ``Tidal Level``           ``tide``
``level`` / ``Groundwater``           ``groundwater``
``flow`` (any qualifier)              ``discharge``
``rainfall`` (any qualifier)          ``rain`` (the total over the measure's period)
====================================  =====================

Units come from ``unitName``: ``m`` and ``mASD`` (metres above the station's own datum, what the
station's typical range uses) are ``m``; ``mAOD`` (above Ordnance Datum Newlyn, a different zero)
is also ``m`` but the parameter gets ``_aod`` appended, so the two datums never mix in one
series; ``m3/s`` and ``mm`` are themselves.

Warnings: ``GET /id/floods`` (optionally by ``county`` and ``min-severity``), one
`OfficialWarning` per flood area. EA keeps one warning per flood area, so its id is the flood
area id (``122WAC952``) and an update repeats it. ``severityLevel`` maps explicitly
(`SEVERITY_LEVELS`); level 4 is "Warning no longer in force": a ``Cancel``, not in force.

EA writes warning times without a UTC offset (``2018-10-30T11:12:00``); they are read in
`naive_time_zone`, UTC unless configured (readings carry ``Z`` and need no assumption).

Skipped items, counted in `rejected`: ``empty`` (no latest reading, or a null value),
``ambiguous_value`` (EA sometimes gives a list of two values for one time), ``unparseable_value``,
``nan``, ``no_data_value``, ``unparseable_time``, ``duplicate``, ``future``,
``unknown_parameter`` (also a listed reading of a measure the station does not list),
``unknown_unit``, ``unknown_severity``, ``malformed``, ``undecodable`` (a station reference, flood
area id, value or time with bytes that are not UTF-8), ``oversized`` (one of those longer than
200 characters). A warning whose message text holds an undecodable byte is kept, the byte shown
as U+FFFD: a flood warning with one garbled letter must still reach the officer.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, NamedTuple
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.httpfeed import PollOptions, PositionedHttpFeed
from floodwatch.feeds.official import Certainty, MessageType, OfficialWarning, Severity, Urgency
from floodwatch.feeds.quality import Rejected, check_text, finish, parse_time, parse_value
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.units import canonical

log = logging.getLogger(__name__)

SOURCE = "uk_ea"
KEEPS = timedelta(days=28)  # how far back the real-time API serves readings
READINGS_LIMIT = 10000  # items asked for in one readings?since= request (EA's hard limit)
_STEP = timedelta(minutes=15)  # a measure's period when it gives none

_LEVEL_QUALIFIERS = {
    "Stage": "stage",
    "Downstream Stage": "stage_downstream",
    "Tidal Level": "tide",
    "Groundwater": "groundwater",
}
_OTHER_PARAMETERS = {"flow": "discharge", "rainfall": "rain"}
# unitName -> (unit, suffix of the parameter naming the datum)
_UNITS = {"m": ("m", ""), "mASD": ("m", ""), "mAOD": ("m", "_aod")}


class SeverityLevel(NamedTuple):
    """What one EA severity level means, and how it reads in CAP."""

    name: str
    meaning: str
    severity: Severity
    urgency: Urgency
    certainty: Certainty
    in_force: bool


SEVERITY_LEVELS: dict[int, SeverityLevel] = {
    1: SeverityLevel(
        "Severe Flood Warning", "Severe flooding. Danger to life.",
        "Extreme", "Immediate", "Likely", True,
    ),
    2: SeverityLevel(
        "Flood Warning", "Flooding is expected. Immediate action required.",
        "Severe", "Immediate", "Likely", True,
    ),
    3: SeverityLevel(
        "Flood Alert", "Flooding is possible. Be prepared.",
        "Moderate", "Expected", "Possible", True,
    ),
    4: SeverityLevel(
        "Warning no longer in force", "No further flooding is currently expected.",
        "Minor", "Past", "Unlikely", False,
    ),
}  # fmt: skip


class UkEaFeed(PositionedHttpFeed):
    """Latest readings of `stations`; with `warnings`, the current flood warnings too."""

    class Options(PollOptions):
        model_config = ConfigDict(extra="forbid", frozen=True)

        base_url: str = Field(
            default="https://environment.data.gov.uk/flood-monitoring", pattern=r"^https?://"
        )
        stations: tuple[str, ...] = Field(default=(), description="EA station references")
        warnings: bool = Field(default=False, description="also read /id/floods")
        county: str | None = Field(default=None, description="only warnings in this county")
        min_severity: int | None = Field(default=None, ge=1, le=4)
        flood_areas: tuple[str, ...] = Field(
            default=(), description="only warnings for these flood area ids (empty: all)"
        )
        naive_time_zone: str = "UTC"

        @field_validator("naive_time_zone")
        @classmethod
        def _zone_exists(cls, name: str) -> str:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name!r}") from None
            return name

        @field_validator("stations")
        @classmethod
        def _stations_are_references(cls, refs: tuple[str, ...]) -> tuple[str, ...]:
            bad = [r for r in refs if not r or not r.replace("-", "").isalnum()]
            if bad:
                raise ValueError(f"not EA station references: {', '.join(map(repr, bad))}")
            return refs

        @model_validator(mode="after")
        def _reads_something(self) -> UkEaFeed.Options:
            if not self.stations and not self.warnings:
                raise ValueError("set stations, or warnings: true, or both")
            return self

    def __init__(self, name: str, options: UkEaFeed.Options, context: PluginContext) -> None:
        super().__init__(name, options, context)
        self.options = options
        self.degraded_stations: set[str] = set()
        self._zone: tzinfo = ZoneInfo(options.naive_time_zone)

    # -- readings ------------------------------------------------------------------------------

    def fetch(self, now: datetime) -> list[Reading]:
        """The latest reading of each measure of each station, observed up to `now`, and the
        readings since the newest stored one when the latest may not reach back to it.

        A station whose request fails is left out and listed in `degraded_stations`; the
        fetch fails only when every station does.
        """
        o = self.options
        if not o.stations:
            return []
        with self._run() as run:
            found: list[Reading] = []
            failed: set[str] = set()
            for ref in o.stations:
                url = f"{o.base_url.rstrip('/')}/id/stations/{quote(ref)}"
                try:
                    latest, measures = self._station(self.get_json(url), ref)
                except FeedError as exc:
                    self._lost(ref, self.stood([ref]))
                    if len(o.stations) == 1:
                        self.degraded_stations = {ref}
                        raise
                    log.error("%s", exc)
                    failed.add(ref)
                    continue
                since = self._since(ref, measures)
                listed: list[Reading] = []
                if since is not None:
                    try:
                        listed = self._readings_since(ref, since, measures, now)
                    except FeedError as exc:
                        # the latest readings stand; the hole is asked for again next time
                        log.error("%s", exc)
                        self._lost(ref, since)
                    else:
                        self._found(ref)
                keys = {r.key for r in listed}
                found += listed + [r for r in latest if r.key not in keys]
            self.degraded_stations = failed
            run.failed_parts.extend(sorted(failed))
            if len(failed) == len(o.stations):
                raise FeedError(f"feed {self.name}: all {len(failed)} stations failed")
            return self._deliver(finish(found, self.rejected, now))

    def _station(self, body: Any, ref: str) -> tuple[list[Reading], dict[str, dict[str, Any]]]:
        """The latest readings of a station's measures, and its measures by their ``@id``."""
        items = body.get("items") if isinstance(body, dict) else None
        # /id/stations/{ref} gives one object; a list is what the API gives for a filter
        stations = (
            items if isinstance(items, list) else [items] if isinstance(items, dict) else None
        )
        if stations is None:
            raise FeedError(f"feed {self.name}: station {ref}: no items in the answer")
        out: list[Reading] = []
        measures: dict[str, dict[str, Any]] = {}
        for station in stations:
            if not isinstance(station, dict):
                self.rejected["malformed"] += 1
                continue
            given = station.get("measures")
            # one measure comes as an object, several as a list
            listed = given if isinstance(given, list) else [given] if given else []
            for measure in listed:
                if isinstance(measure, dict) and isinstance(measure.get("@id"), str):
                    measures.setdefault(measure["@id"], measure | {"_station": station})
                try:
                    out.append(self._measure(measure, station.get("stationReference") or ref))
                except Rejected as exc:
                    self.rejected[exc.reason] += 1
        return out, measures

    def _since(self, ref: str, measures: dict[str, dict[str, Any]]) -> datetime | None:
        """When to ask for the readings since the newest stored one: a request for them failed
        before, the feed has not caught up, or a measure's latest reading is more than its
        period after the stored one."""
        if ref in self._holes:
            return self._holes[ref]
        stored = self.stood([ref])
        if stored is None:
            return None
        if self.behind() is not None:
            return stored
        for m in measures.values():
            latest = m.get("latestReading")
            if not isinstance(latest, dict):
                continue
            try:
                when = parse_time(latest.get("dateTime"), naive_zone=self._zone)
            except Rejected:
                continue
            period = m.get("period")
            step = timedelta(seconds=period) if isinstance(period, int) and period > 0 else _STEP
            if when - stored > step:
                return stored
        return None

    def _readings_since(
        self, ref: str, since: datetime, measures: dict[str, dict[str, Any]], now: datetime
    ) -> list[Reading]:
        o = self.options
        start = self.reach_back(since, now, KEEPS, "the EA real-time API")
        url = f"{o.base_url.rstrip('/')}/id/stations/{quote(ref)}/readings?_sorted"
        params = {"since": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "_limit": str(READINGS_LIMIT)}  # fmt: skip
        body = self.get_json(url, params)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise FeedError(
                f"feed {self.name}: station {ref}: readings since {params['since']} "
                "answered without an items list"
            )
        out: list[Reading] = []
        for item in items:
            try:
                out.append(self._listed(item, measures, ref))
            except Rejected as exc:
                self.rejected[exc.reason] += 1
        if len(items) >= READINGS_LIMIT and out:
            # newest first: what the limit cut off is the oldest part
            oldest = min(r.observed_at for r in out)
            self.uncovered.append((start, oldest))
            log.warning(
                "feed %s: station %s: %d readings since %s, EA's limit: those before %s are not "
                "asked for", self.name, ref, len(items), params["since"], oldest.isoformat(),
            )  # fmt: skip
        return out

    def _listed(self, item: Any, measures: dict[str, dict[str, Any]], ref: str) -> Reading:
        """One item of a readings list: ``{"dateTime", "measure", "value"}``."""
        if not isinstance(item, dict):
            raise Rejected("malformed", f"a reading that is not an object: {item!r}")
        named = item.get("measure")
        measure_id = named.get("@id") if isinstance(named, dict) else named
        measure = measures.get(measure_id) if isinstance(measure_id, str) else None
        if measure is None:
            raise Rejected("unknown_parameter", f"a reading of a measure not listed: {named!r}")
        station = measure["_station"].get("stationReference") or ref
        return self._measure(measure, station, item)

    def _measure(self, measure: Any, station: str, reading: Any = None) -> Reading:
        """The measure's reading: `reading`, or its ``latestReading``."""
        if not isinstance(measure, dict):
            raise Rejected("malformed", f"a measure that is not an object: {measure!r}")
        parameter = _parameter(str(measure.get("parameter", "")), str(measure.get("qualifier", "")))
        unit_name = str(measure.get("unitName", ""))
        if unit_name in _UNITS:
            unit, suffix = _UNITS[unit_name]
            parameter += suffix
        else:
            known = canonical(unit_name)
            if known is None:
                raise Rejected("unknown_unit", f"unit {unit_name!r}")
            unit = known
        latest = measure.get("latestReading") if reading is None else reading
        if not isinstance(latest, dict):
            # a bare URL (or nothing) instead of the reading: the measure has no recent value
            raise Rejected("empty", f"no latest reading for {measure.get('notation')}")
        raw = latest.get("value")
        if isinstance(raw, list):
            raise Rejected("ambiguous_value", f"several values for one time: {raw!r}")
        value = parse_value(raw)
        when = parse_time(latest.get("dateTime"), naive_zone=self._zone)
        reference = check_text(str(measure.get("stationReference") or station), "station")
        return Reading(reference, parameter, value, unit, when)

    # -- warnings ------------------------------------------------------------------------------

    def fetch_warnings(self, now: datetime) -> list[OfficialWarning]:
        """The flood warnings EA publishes now, including those just ended (level 4)."""
        o = self.options
        if not o.warnings:
            return []
        params: dict[str, str] = {}
        if o.county:
            params["county"] = o.county
        if o.min_severity is not None:
            params["min-severity"] = str(o.min_severity)
        with self._run():
            body = self.get_json(f"{o.base_url.rstrip('/')}/id/floods", params)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise FeedError(f"feed {self.name}: /id/floods answered without an items list")
            out: list[OfficialWarning] = []
            seen: set[str] = set()
            for item in items:
                try:
                    warning = self._warning(item)
                except Rejected as exc:
                    self.rejected[exc.reason] += 1
                    continue
                if o.flood_areas and warning.id not in o.flood_areas:
                    continue
                if warning.id in seen:
                    self.rejected["duplicate"] += 1
                    continue
                seen.add(warning.id)
                out.append(warning)
            return out

    def _warning(self, item: Any) -> OfficialWarning:
        if not isinstance(item, dict) or not item.get("floodAreaID"):
            raise Rejected("malformed", "a flood item without floodAreaID")
        area_id = check_text(str(item["floodAreaID"]), "floodAreaID")
        level = item.get("severityLevel")
        if isinstance(level, bool) or not isinstance(level, int) or level not in SEVERITY_LEVELS:
            raise Rejected("unknown_severity", f"{area_id}: severityLevel {level!r}")
        meaning = SEVERITY_LEVELS[level]
        raised = self._time(item.get("timeRaised"))
        severity_changed = self._time(item.get("timeSeverityChanged"))
        message_changed = self._time(item.get("timeMessageChanged"))
        msg_type: MessageType
        if level == 4:
            msg_type = "Cancel"
        elif raised is not None and any(
            t is not None and t > raised for t in (severity_changed, message_changed)
        ):
            msg_type = "Update"
        else:
            msg_type = "Alert"
        event = str(item.get("severity") or meaning.name)
        area = str(item.get("description") or area_id)
        return OfficialWarning(
            source=SOURCE,
            id=area_id,
            references=(),
            msg_type=msg_type,
            status="Actual",
            event=event,
            severity=meaning.severity,
            urgency=meaning.urgency,
            certainty=meaning.certainty,
            headline=f"{event}: {area}",
            description=str(item.get("message") or meaning.meaning),
            areas=(area,),
            sent=message_changed or raised,
            effective=severity_changed or raised,
            expires=None,
            in_force=meaning.in_force,
            area_codes=(area_id,),
        )

    def _time(self, raw: Any) -> datetime | None:
        return None if raw in (None, "") else parse_time(raw, naive_zone=self._zone)


def _parameter(parameter: str, qualifier: str) -> str:
    if parameter == "level":
        if qualifier in _LEVEL_QUALIFIERS:
            return _LEVEL_QUALIFIERS[qualifier]
    elif parameter in _OTHER_PARAMETERS:
        return _OTHER_PARAMETERS[parameter]
    raise Rejected("unknown_parameter", f"parameter {parameter!r} qualifier {qualifier!r}")
