"""Which open alerts lost their source in a config edit (alerts/orphans.py), for each kind of
alert. An official warning's alert belongs to its feed, not to a rule: it must survive as long
as the feed is configured, whatever its rule id.

Written for mutants that survived the rest of the suite (tests/README.md)."""

from __future__ import annotations

import pytest

from floodwatch.alerts.orphans import Configured, orphaned

WARNING_RULE = "official:b46b43a1c8ca3beb"  # rule_id_for("NWS-IDP-PROD-3965873-3369046")


def configured() -> Configured:
    """Built in each test, not at import (where a mutant of `of` would not be switched on)."""
    return Configured.of(
        rules=[("01589025", "patapsco-stage")], silent_watch=["01589025"], feeds=["nws"],
        policies=["default"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rule_type", "station", "rule_id", "policy", "why"),
    [
        ("official", "nws", WARNING_RULE, "default", None),
        ("official", "ea", WARNING_RULE, "default", "feed 'ea' is no longer in the config"),
        ("threshold", "01589025", "patapsco-stage", "default", None),
        ("threshold", "nws", WARNING_RULE, "default",
         f"rule {WARNING_RULE!r} for station 'nws' is no longer in the config"),
        ("silence", "01589025", "silence:01589025", "default", None),
        ("official", "nws", WARNING_RULE, "river",
         "escalation policy 'river' is no longer in the config"),
        # a handover record's and a drill's alert have no config behind them but their policy
        ("handover", "duty", "handover:2018-05-27", "default", None),
        ("drill", "01589025", "drill:1", "default", None),
        ("drill", "01589025", "drill:1", "river",
         "escalation policy 'river' is no longer in the config"),
    ],
)  # fmt: skip
def test_an_alert_is_orphaned_only_when_its_own_source_is_gone(
    rule_type: str, station: str, rule_id: str, policy: str, why: str | None
) -> None:
    assert orphaned(rule_type, station, rule_id, policy, configured()) == why
