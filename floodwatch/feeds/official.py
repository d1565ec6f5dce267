"""Official warnings: what a weather service or river authority has issued, as CAP sees it.

A warning is not a reading: it is a message with an identity, a lifecycle (Alert, then Updates,
then a Cancel or expiry) and CAP's severity, urgency and certainty. Feeds that read warnings
implement `WarningFeed`; what floodwatch does with them (open an alert of its own, update or end
it) is decided downstream, never in the feed.

How an update finds the warning it changes: a source that reissues a message with a new id lists
the ids it replaces in `references` (NWS, CAP); a source that keeps one id per warning for its
whole life repeats that `id` (UK EA: one warning per flood area). A consumer matches a new
message to a known warning when its `id`, or any of its `references`, is already known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, get_args, runtime_checkable

from floodwatch.clock import require_aware

MessageType = Literal["Alert", "Update", "Cancel"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]

MESSAGE_TYPES: tuple[str, ...] = get_args(MessageType)
SEVERITIES: tuple[str, ...] = get_args(Severity)
URGENCIES: tuple[str, ...] = get_args(Urgency)
CERTAINTIES: tuple[str, ...] = get_args(Certainty)


@dataclass(frozen=True)
class OfficialWarning:
    """One message of an official warning, in CAP 1.2 terms.

    `status` is CAP's (Actual, Exercise, System, Test, Draft): a consumer must look at it, since
    an exercise or a test is delivered by the same feed. `in_force` is the source's own verdict
    at the time of the fetch (not cancelled, not ended, not expired). `areas` are the names of
    the areas covered; `area_codes` the source's codes for them (NWS UGC zones, EA flood area
    ids) for matching against configured areas. Datetimes are aware, in UTC.
    """

    source: str
    id: str
    references: tuple[str, ...]
    msg_type: MessageType
    status: str
    event: str
    severity: Severity
    urgency: Urgency
    certainty: Certainty
    headline: str
    description: str
    areas: tuple[str, ...]
    sent: datetime | None
    effective: datetime | None
    expires: datetime | None
    in_force: bool
    instruction: str = ""
    area_codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError(f"{self.source}: a warning needs an id")
        for field, value, allowed in (
            ("msg_type", self.msg_type, MESSAGE_TYPES),
            ("severity", self.severity, SEVERITIES),
            ("urgency", self.urgency, URGENCIES),
            ("certainty", self.certainty, CERTAINTIES),
        ):
            if value not in allowed:
                raise ValueError(
                    f"{self.source} {self.id}: {field} must be one of {', '.join(allowed)}, "
                    f"found {value!r}"
                )
        for name in ("sent", "effective", "expires"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, require_aware(value, name))


@runtime_checkable
class WarningFeed(Protocol):
    """A feed of official warnings."""

    name: str

    def fetch_warnings(self, now: datetime) -> list[OfficialWarning]:
        """The warnings the source publishes at `now`, including those just cancelled."""
        ...
