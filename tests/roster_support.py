"""Building blocks for roster tests: rosters written from YAML text, instants in a zone."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from floodwatch.roster import Roster, load_rosters

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")

PEOPLE = """
people:
  - {id: a, name: 甲, phone: "+8613800000001"}
  - {id: b, name: 乙, phone: "+8613800000002"}
  - {id: c, name: 丙, phone: "+8613800000003"}
  - {id: d, name: 丁, phone: "+8613800000004"}
  - {id: e, name: 戊, phone: "+8613800000005"}
"""


def roster_from(tmp_path: Path, text: str, zone: ZoneInfo = SHANGHAI, name: str = "r") -> Roster:
    """Write `text` (dedented) to tmp_path/<name>.yaml and load it."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_rosters([path], zone)


def local(text: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    """``"2026-06-01 08:00"`` as an aware datetime in `zone`."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)
