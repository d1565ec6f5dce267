"""Open alerts whose source left the config. Pure.

The config is read at start-up: after an edit and a restart, an alert may still be open for a
rule, a station or a feed that is no longer configured, or under a policy that no longer exists.
Such an alert can never move again, so it is retired with the reason, never left to escalate for
ever nor allowed to break the work of others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Configured:
    """What the config in force watches."""

    rules: frozenset[tuple[str, str]]  # (station, rule id) of every configured rule
    silent_watch: frozenset[str]  # stations watched for silence
    feeds: frozenset[str]
    policies: frozenset[str]

    @classmethod
    def of(
        cls, rules: Iterable[tuple[str, str]], silent_watch: Iterable[str], feeds: Iterable[str],
        policies: Iterable[str],
    ) -> Configured:  # fmt: skip
        return cls(frozenset(rules), frozenset(silent_watch), frozenset(feeds), frozenset(policies))


def orphaned(
    rule_type: str, station: str, rule_id: str, policy: str, configured: Configured
) -> str | None:
    """Why an open alert can no longer be followed, or None when its source is configured."""
    if rule_type == "silence":
        if station not in configured.silent_watch:
            return f"station {station!r} is no longer watched for silence (expect_every)"
    elif rule_type == "official":
        if station not in configured.feeds:
            return f"feed {station!r} is no longer in the config"
    elif rule_type == "handover":
        pass  # a handover record's confirmation (records.handover): no config behind it
    elif rule_type == "drill":
        pass  # a drill's own alert (villages.drills): the drill ends it
    elif (station, rule_id) not in configured.rules:
        return f"rule {rule_id!r} for station {station!r} is no longer in the config"
    if policy not in configured.policies:
        return f"escalation policy {policy!r} is no longer in the config"
    return None
