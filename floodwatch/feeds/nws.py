"""US National Weather Service active alerts (api.weather.gov ``/alerts/active``, GeoJSON, CAP).

Alerts are official warnings, not readings: `fetch_warnings` returns one `OfficialWarning` per
feature and `fetch` returns no readings. Select the alerts by exactly one of ``zones`` (UGC
zone or county codes such as ``ORZ004``), ``point`` (latitude, longitude) or ``areas`` (state
or marine area codes such as ``OR``); ``events`` narrows them to named events (``Flood
Warning``, ``Flash Flood Warning`` ...).

Each NWS message has its own id; an Update or Cancel lists the ids it replaces in
``references``. ``expires`` is CAP's: when this *message* stops being current (NWS usually
sends an update before then). `in_force` is False for a Cancel and once the hazard has ended:
at ``ends`` when NWS gives it, else at ``expires``.

No position: each poll asks for the alerts active now, which is the whole state; an alert
missed by one poll is still active at the next (or has ended), so there is nothing to resume.
The feed does not implement `Positioned`.

A CAP severity, urgency or certainty NWS spells in a way CAP does not know becomes
``Unknown``. Skipped features, counted in `rejected`: ``malformed`` (no properties or id),
``unknown_msg_type`` (CAP's Ack and Error, which announce nothing), ``unparseable_time``,
``duplicate``, ``undecodable`` (an id or a referenced id with bytes that are not UTF-8),
``oversized`` (an id longer than 200 characters). An alert whose text (headline, description,
instruction, areas) holds an undecodable byte is kept, the byte shown as U+FFFD: a flood warning
with one garbled letter must still reach the officer.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, cast

from pydantic import ConfigDict, Field, field_validator, model_validator

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.httpfeed import HttpFeed, PollOptions
from floodwatch.feeds.official import (
    CERTAINTIES,
    MESSAGE_TYPES,
    SEVERITIES,
    URGENCIES,
    Certainty,
    MessageType,
    OfficialWarning,
    Severity,
    Urgency,
)
from floodwatch.feeds.quality import Rejected, check_text, parse_time
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading

log = logging.getLogger(__name__)

SOURCE = "nws"
_ZONE = re.compile(r"^[A-Z]{2}[CZ]\d{3}$")
_AREA = re.compile(r"^[A-Z]{2}$")


class NwsAlertsFeed(HttpFeed):
    """Active NWS alerts for the configured zones, point or areas."""

    class Options(PollOptions):
        model_config = ConfigDict(extra="forbid", frozen=True)

        base_url: str = Field(default="https://api.weather.gov", pattern=r"^https?://")
        zones: tuple[str, ...] = Field(default=(), description="UGC codes such as ORZ004")
        point: tuple[float, float] | None = Field(default=None, description="[lat, lon]")
        areas: tuple[str, ...] = Field(default=(), description="state or marine area codes")
        events: tuple[str, ...] = Field(default=(), description="only these event names")
        user_agent: str | None = Field(
            default=None,
            description="NWS asks for an identifying User-Agent with a contact address",
        )

        @field_validator("zones")
        @classmethod
        def _zones_are_ugc(cls, zones: tuple[str, ...]) -> tuple[str, ...]:
            bad = [z for z in zones if not _ZONE.match(z)]
            if bad:
                raise ValueError(f"not UGC zone codes (like ORZ004): {', '.join(bad)}")
            return zones

        @field_validator("areas")
        @classmethod
        def _areas_are_codes(cls, areas: tuple[str, ...]) -> tuple[str, ...]:
            bad = [a for a in areas if not _AREA.match(a)]
            if bad:
                raise ValueError(f"not area codes (like OR): {', '.join(bad)}")
            return areas

        @field_validator("point")
        @classmethod
        def _point_on_earth(cls, point: tuple[float, float] | None) -> tuple[float, float] | None:
            if point is not None and not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
                raise ValueError(f"[latitude, longitude] out of range: {list(point)}")
            return point

        @model_validator(mode="after")
        def _one_selection(self) -> NwsAlertsFeed.Options:
            chosen = [n for n in ("zones", "point", "areas") if getattr(self, n)]
            if len(chosen) != 1:
                # the API does not combine them; a feed that guessed would watch the wrong place
                raise ValueError("set exactly one of zones, point or areas")
            return self

    def __init__(self, name: str, options: NwsAlertsFeed.Options, context: PluginContext) -> None:
        super().__init__(name, options, context)
        self.options = options

    def fetch(self, now: datetime) -> list[Reading]:
        """NWS alerts are warnings, not readings: always empty (see `fetch_warnings`)."""
        return []

    def fetch_warnings(self, now: datetime) -> list[OfficialWarning]:
        """The active alerts, in the order NWS lists them."""
        o = self.options
        params: dict[str, str] = {}
        if o.zones:
            params["zone"] = ",".join(o.zones)
        elif o.point:
            params["point"] = f"{o.point[0]:.4f},{o.point[1]:.4f}"
        else:
            params["area"] = ",".join(o.areas)
        if o.events:
            params["event"] = ",".join(o.events)
        headers = {"Accept": "application/geo+json"}
        if o.user_agent:
            headers["User-Agent"] = o.user_agent
        with self._run():
            body = self.get_json(f"{o.base_url.rstrip('/')}/alerts/active", params, headers)
            features = body.get("features") if isinstance(body, dict) else None
            if not isinstance(features, list):
                raise FeedError(f"feed {self.name}: not a GeoJSON FeatureCollection")
            out: list[OfficialWarning] = []
            seen: set[str] = set()
            for feature in features:
                try:
                    warning = _warning(feature, now)
                except Rejected as exc:
                    self.rejected[exc.reason] += 1
                    continue
                if warning.id in seen:
                    self.rejected["duplicate"] += 1
                    continue
                seen.add(warning.id)
                out.append(warning)
            return out


def _warning(feature: Any, now: datetime) -> OfficialWarning:
    props = feature.get("properties") if isinstance(feature, dict) else None
    if not isinstance(props, dict):
        raise Rejected("malformed", "a feature without properties")
    ident = props.get("id") or props.get("identifier") or feature.get("id")
    if not ident:
        raise Rejected("malformed", "an alert without an id")
    ident = check_text(str(ident), "id")
    msg_type = props.get("messageType")
    if msg_type not in MESSAGE_TYPES:
        raise Rejected("unknown_msg_type", f"{ident}: messageType {msg_type!r}")
    references = tuple(
        check_text(str(r.get("identifier") or r.get("@id")), "reference")
        for r in props.get("references") or ()
        if isinstance(r, dict) and (r.get("identifier") or r.get("@id"))
    )
    sent, effective, expires, ends = (
        _time(props.get(k)) for k in ("sent", "effective", "expires", "ends")
    )
    end = ends or expires
    parameters = props.get("parameters") if isinstance(props.get("parameters"), dict) else {}
    nws_headline = (parameters or {}).get("NWSheadline") or [""]
    event = str(props.get("event") or "")
    areas = tuple(a.strip() for a in str(props.get("areaDesc") or "").split(";") if a.strip())
    geocode = props.get("geocode") if isinstance(props.get("geocode"), dict) else {}
    return OfficialWarning(
        source=SOURCE,
        id=str(ident),
        references=references,
        msg_type=cast(MessageType, msg_type),
        status=str(props.get("status") or "Unknown"),
        event=event,
        severity=cast(Severity, _cap(props.get("severity"), SEVERITIES)),
        urgency=cast(Urgency, _cap(props.get("urgency"), URGENCIES)),
        certainty=cast(Certainty, _cap(props.get("certainty"), CERTAINTIES)),
        headline=str(props.get("headline") or nws_headline[0] or event),
        description=str(props.get("description") or ""),
        instruction=str(props.get("instruction") or ""),
        areas=areas,
        area_codes=tuple(str(c) for c in (geocode or {}).get("UGC") or ()),
        sent=sent,
        effective=effective,
        expires=expires,
        in_force=msg_type != "Cancel" and (end is None or end > now),
    )


def _cap(value: Any, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else "Unknown"


def _time(raw: Any) -> datetime | None:
    return None if raw in (None, "") else parse_time(raw)
