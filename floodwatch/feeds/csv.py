"""Readings from a CSV file: floodwatch's own format, or a USGS NWISWeb table saved as CSV.

floodwatch's format (what ``replay --readings`` reads too)::

    station,parameter,value,unit,observed_at
    01589025,stage,11.57,ft,2018-05-27T05:00:00+00:00

``observed_at`` is ISO 8601 with a UTC offset; a time without one is refused, not guessed.

`CsvFeed` skips a row it cannot read and counts it in `rejected` (each time the file is read):
``malformed`` (not five fields), ``empty``, ``unparseable_value``, ``nan``, ``unparseable_time``,
``missing_field`` (no station, parameter or unit). A file it cannot read, or whose header is
wrong (so that no row can be read), fails the fetch with `FeedError`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from floodwatch.errors import Problem
from floodwatch.feeds.base import FeedError
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading

log = logging.getLogger(__name__)

HEADER = ["station", "parameter", "value", "unit", "observed_at"]


@dataclass(frozen=True)
class Parsed:
    readings: list[Reading]
    problems: list[Problem]
    reasons: Counter[str] = field(default_factory=Counter)  # skipped rows by reason


def parse_floodwatch_csv(text: str, name: str) -> Parsed:
    """Parse floodwatch's CSV format; rows that cannot be read are problems with their line."""
    readings: list[Reading] = []
    problems: list[Problem] = []
    reasons: Counter[str] = Counter()
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(rows, None)
    if header is None or [h.strip() for h in header] != HEADER:
        problems.append(Problem(name, 1, 1, "", f"expected the header {','.join(HEADER)}"))
        return Parsed(readings, problems, reasons)
    for row in rows:
        line = rows.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(HEADER):
            problems.append(Problem(name, line, 1, "", f"expected 5 fields, found {len(row)}"))
            reasons["malformed"] += 1
            continue
        station, parameter, raw_value, unit, raw_time = (c.strip() for c in row)
        try:
            value = float(raw_value)
            reason = "" if math.isfinite(value) else "nan"
        except ValueError:
            reason = "unparseable_value" if raw_value else "empty"
        if reason:
            problems.append(Problem(name, line, 1, "value", f"not a number: {raw_value!r}"))
            reasons[reason] += 1
            continue
        try:
            observed = datetime.fromisoformat(raw_time)
        except ValueError:
            problems.append(Problem(name, line, 1, "observed_at", f"not ISO 8601: {raw_time!r}"))
            reasons["unparseable_time"] += 1
            continue
        if observed.tzinfo is None:
            problems.append(
                Problem(name, line, 1, "observed_at", f"{raw_time!r} has no UTC offset")
            )
            reasons["unparseable_time"] += 1
            continue
        if not station or not parameter or not unit:
            problems.append(Problem(name, line, 1, "", "station, parameter and unit are required"))
            reasons["missing_field"] += 1
            continue
        readings.append(Reading(station, parameter, value, unit, observed))
    return Parsed(readings, problems, reasons)


def write_floodwatch_csv(readings: Iterable[Reading]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for r in readings:
        writer.writerow([r.station, r.parameter, repr(r.value), r.unit, r.observed_at.isoformat()])
    return out.getvalue()


# NWISWeb labels times with the zone abbreviation it used; only fixed US offsets are known.
_NWIS_ZONES = {
    "UTC": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10,
}  # fmt: skip
_NWIS_VALUE = re.compile(r"^(-?[\d,]*\.?\d+)([A-Za-z]*)$")


class NwisColumn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    parameter: str
    unit: str


DEFAULT_NWIS_COLUMNS = {
    "Gageheight": NwisColumn(parameter="stage", unit="ft"),
    "Dis-charge": NwisColumn(parameter="discharge", unit="ft3/s"),
}


def parse_nwisweb_table(
    text: str, name: str, station: str, columns: dict[str, NwisColumn] | None = None
) -> Parsed:
    """Parse a NWISWeb table saved as CSV (BOM, no-break-space padding, qualifiers glued to
    values such as ``11.57P``, quoted thousands such as ``"1,040P"``, times ``MM/DD/YYYY HH:MM
    EST``). Columns are picked by the start of their header; blank cells are skipped."""
    columns = columns or DEFAULT_NWIS_COLUMNS
    readings: list[Reading] = []
    problems: list[Problem] = []
    reasons: Counter[str] = Counter()
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [_clean(h) for h in next(rows, [])]
    picked: list[tuple[int, NwisColumn]] = []
    for prefix, spec in columns.items():
        idx = next((i for i, h in enumerate(header) if h.startswith(prefix)), None)
        if idx is None:
            problems.append(
                Problem(name, 1, 1, "", f"no column whose header starts with {prefix!r}")
            )
        else:
            picked.append((idx, spec))
    for row in rows:
        line = rows.line_num
        cells = [_clean(c) for c in row]
        if not any(cells):
            continue
        try:
            observed = _nwis_time(cells[0])
        except ValueError as exc:
            problems.append(Problem(name, line, 1, "time", str(exc)))
            reasons["unparseable_time"] += 1
            continue
        for idx, spec in picked:
            raw = cells[idx] if idx < len(cells) else ""
            if not raw:
                continue
            m = _NWIS_VALUE.match(raw)
            if not m:
                problems.append(Problem(name, line, 1, spec.parameter, f"not a value: {raw!r}"))
                reasons["unparseable_value"] += 1
                continue
            value = float(m.group(1).replace(",", ""))
            readings.append(Reading(station, spec.parameter, value, spec.unit, observed))
    return Parsed(readings, problems, reasons)


def _clean(cell: str) -> str:
    return cell.replace("\u00a0", " ").strip()


def _nwis_time(cell: str) -> datetime:
    parts = cell.split()
    if len(parts) != 3 or parts[2] not in _NWIS_ZONES:
        raise ValueError(f"expected 'MM/DD/YYYY HH:MM ZONE', found {cell!r}")
    local = datetime.strptime(f"{parts[0]} {parts[1]}", "%m/%d/%Y %H:%M")
    return local.replace(tzinfo=timezone(timedelta(hours=_NWIS_ZONES[parts[2]])))


class CsvFeed:
    """Polls a CSV file; returns the readings observed up to `now` that it has not returned."""

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        path: str
        dialect: Literal["floodwatch", "nwisweb"] = "floodwatch"
        station: str | None = Field(default=None, description="station id (nwisweb only)")
        columns: dict[str, NwisColumn] | None = None

    def __init__(self, name: str, options: CsvFeed.Options, context: PluginContext) -> None:
        self.name = name
        self.path = context.base_dir / options.path
        self.options = options
        self._mtime: float | None = None
        self._readings: list[Reading] = []
        self._returned_until: datetime | None = None
        self.rejected: Counter[str] = Counter()  # rows skipped, by reason, since built
        self.degraded = False  # the last fetch failed

    def fetch(self, now: datetime) -> list[Reading]:
        try:
            self._refresh()
        except FeedError:
            self.degraded = True
            raise
        self.degraded = False
        since = self._returned_until
        out = [
            r for r in self._readings
            if r.observed_at <= now and (since is None or r.observed_at > since)
        ]  # fmt: skip
        if out:
            self._returned_until = max(r.observed_at for r in out)
        return out

    def _refresh(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
            if mtime == self._mtime:
                return
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FeedError(f"feed {self.name}: cannot read {self.path}: {exc}") from None
        if self.options.dialect == "nwisweb":
            parsed = parse_nwisweb_table(
                text, str(self.path), self.options.station or self.name, self.options.columns
            )
        else:
            parsed = parse_floodwatch_csv(text, str(self.path))
        header = [p for p in parsed.problems if p.line == 1]
        if header and not parsed.readings:
            raise FeedError(f"feed {self.name}: {header[0]}")
        for problem in parsed.problems:
            log.warning("feed %s: skipped: %s", self.name, problem)
        self.rejected.update(parsed.reasons)
        self._readings = sorted(parsed.readings, key=lambda r: r.observed_at)
        self._mtime = mtime
        self._returned_until = None  # a changed file is read again; stored repeats are ignored
