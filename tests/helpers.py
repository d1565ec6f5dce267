"""Building blocks for tests: configs written to disk, the shipped example files, readings."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from floodwatch.readings import Reading

ROOT = Path(__file__).resolve().parent.parent
# the console script installed beside this interpreter: the command users run
FLOODWATCH = str(Path(sys.executable).parent / "floodwatch")
DEMO_CONFIG = ROOT / "config" / "floodwatch.yaml"
DEMO_READINGS = ROOT / "config" / "patapsco_2018-05-27.csv"
TOWNSHIP_ROSTER = ROOT / "rosters" / "township.yaml"


def write_config(directory: Path, **overrides: Any) -> Path:
    """A valid config for the Patapsco gauge (the demo's rule, without the demo clock), with
    `overrides` replacing top-level keys, written as YAML to directory/floodwatch.yaml."""
    settings: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    settings.pop("clock")
    settings["rosters"] = [str(TOWNSHIP_ROSTER)]
    settings["database"] = f"sqlite:///{directory / 'floodwatch.db'}"
    settings["feeds"] = []
    settings["notifiers"] = [{"name": "file", "type": "jsonl", "path": "pages.jsonl"}]
    settings.update(overrides)
    path = directory / "floodwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def demo_readings(parameter: str = "stage") -> list[Reading]:
    from floodwatch.feeds.csv import parse_floodwatch_csv

    parsed = parse_floodwatch_csv(DEMO_READINGS.read_text(encoding="utf-8"), str(DEMO_READINGS))
    assert not parsed.problems
    return [r for r in parsed.readings if r.parameter == parameter]


# The South Platte file gives local times without a zone; NWISWeb serves Colorado in MDT in
# September, so UTC-6 is assumed (see shared/fixtures/floods/SOURCES.md).
MDT = timezone(timedelta(hours=-6))


def south_platte_stage(fixtures: Path) -> list[Reading]:
    """Gage height at USGS 06721000 through the September 2013 Colorado flood."""
    path = fixtures / "floods" / "usgs_06721000_south_platte_at_fort_lupton_2013-09.csv"
    with path.open(encoding="utf-8") as f:
        return [
            Reading(
                "06721000",
                "stage",
                float(row["height_ft"]),
                "ft",
                datetime.strptime(row["date"], "%Y-%m-%d %H:%M").replace(tzinfo=MDT),
            )
            for row in csv.DictReader(f)
        ]


def pages_in(path: Path) -> list[dict[str, Any]]:
    """The records a jsonl notifier wrote."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
