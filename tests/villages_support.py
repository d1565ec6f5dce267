"""What the village tests share: the `Known` of the demo (its stations, the township's and the
villages' people, a notifier of each kind), and village files written from text."""

from __future__ import annotations

import textwrap
from pathlib import Path

from floodwatch.roster import load_rosters
from floodwatch.villages.load import Known

from .helpers import ROOT, TOWNSHIP_ROSTER
from .roster_support import SHANGHAI

VILLAGE_ROSTER = ROOT / "rosters" / "villages.yaml"
DEMO_VILLAGES = ROOT / "config" / "villages.yaml"

NOTIFIERS = {
    "sms": "twilio_sms",
    "speakers": "broadcast_http",
    "speakers-mqtt": "broadcast_mqtt",
    "speakers-call": "broadcast_call",
    "village-speakers": "broadcast_mqtt",
}


def known() -> Known:
    roster = load_rosters([TOWNSHIP_ROSTER, VILLAGE_ROSTER], SHANGHAI)
    return Known(
        people=set(roster.people), stations={"01589025", "R01"}, notifiers=NOTIFIERS,
        broadcast={n for n, t in NOTIFIERS.items() if t.startswith("broadcast_")},
    )  # fmt: skip


def write(directory: Path, text: str, name: str = "villages.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
