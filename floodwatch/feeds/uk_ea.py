"""UK Environment Agency real-time flood-monitoring API: station readings and flood warnings.

Readings: one ``GET /id/stations/{reference}`` per station; each of the station's measures
gives its ``latestReading``. Measures map to floodwatch parameters by EA parameter and
qualifier:

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
``unknown_parameter``, ``unknown_unit``, ``unknown_severity``, ``malformed``.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Any, NamedTuple
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.httpfeed import HttpFeed, PollOptions
from floodwatch.feeds.official import Certainty, MessageType, OfficialWarning, Severity, Urgency
from floodwatch.feeds.quality import Rejected, finish, parse_time, parse_value
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.units import canonical

log = logging.getLogger(__name__)

SOURCE = "uk_ea"

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


class UkEaFeed(HttpFeed):
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
        """The latest reading of each measure of each station, observed up to `now`.

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
                    found.extend(self._station(self.get_json(url), ref))
                except FeedError as exc:
                    if len(o.stations) == 1:
                        self.degraded_stations = {ref}
                        raise
                    log.error("%s", exc)
                    failed.add(ref)
            self.degraded_stations = failed
            run.failed_parts.extend(sorted(failed))
            if len(failed) == len(o.stations):
                raise FeedError(f"feed {self.name}: all {len(failed)} stations failed")
            return finish(found, self.rejected, now)

    def _station(self, body: Any, ref: str) -> list[Reading]:
        items = body.get("items") if isinstance(body, dict) else None
        # /id/stations/{ref} gives one object; a list is what the API gives for a filter
        stations = (
            items if isinstance(items, list) else [items] if isinstance(items, dict) else None
        )
        if stations is None:
            raise FeedError(f"feed {self.name}: station {ref}: no items in the answer")
        out: list[Reading] = []
        for station in stations:
            if not isinstance(station, dict):
                self.rejected["malformed"] += 1
                continue
            measures = station.get("measures")
            # one measure comes as an object, several as a list
            listed = measures if isinstance(measures, list) else [measures] if measures else []
            for measure in listed:
                try:
                    out.append(self._measure(measure, str(station.get("stationReference") or ref)))
                except Rejected as exc:
                    self.rejected[exc.reason] += 1
        return out

    def _measure(self, measure: Any, station: str) -> Reading:
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
        latest = measure.get("latestReading")
        if not isinstance(latest, dict):
            # a bare URL (or nothing) instead of the reading: the measure has no recent value
            raise Rejected("empty", f"no latest reading for {measure.get('notation')}")
        raw = latest.get("value")
        if isinstance(raw, list):
            raise Rejected("ambiguous_value", f"several values for one time: {raw!r}")
        value = parse_value(raw)
        when = parse_time(latest.get("dateTime"), naive_zone=self._zone)
        return Reading(
            str(measure.get("stationReference") or station), parameter, value, unit, when
        )

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
        area_id = str(item["floodAreaID"])
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
