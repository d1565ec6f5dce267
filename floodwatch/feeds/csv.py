"""Readings from a CSV file: floodwatch's own format, or a USGS NWISWeb table saved as CSV.

floodwatch's format (what ``replay --readings`` reads too)::

    station,parameter,value,unit,observed_at
    01589025,stage,11.57,ft,2018-05-27T05:00:00+00:00

A reading is one line: a line break ends it, even inside quotes, so a broken line never takes the
lines after it along. ``observed_at`` is ISO 8601 with a UTC offset; a time without one is
refused, not guessed.

The file is read as bytes and cut into lines here: each line is decoded and parsed on its own,
and a line longer than `MAX_LINE` bytes is passed over without being held in memory. A line that
cannot be read is skipped and counted in `rejected` once, when it is first read:
``undecodable`` (not UTF-8), ``oversized`` (longer than `MAX_LINE` bytes, or a station, parameter,
unit, value or time longer than 200 characters), ``malformed`` (not five fields, or broken
quoting: a quote that does not close on its line), ``empty``, ``unparseable_value``, ``nan``,
``unparseable_time``, ``missing_field`` (no station, parameter or unit). The rest of the file is
read. A file that cannot be read, or whose header is wrong (not UTF-8, too long, or not the
expected columns, so that no row can be read), fails the fetch with `FeedError`.

Position: `CsvFeed` reads a growing file from where it stopped (rows appended to it are read
at the next fetch) and holds the readings it parsed until `commit` says they are stored; each
fetch returns the held readings observed up to `now`, so a fetch after a store that failed
returns them again with whatever is new. A file that was replaced (another inode, shorter, gone
for a fetch, or its first bytes or those before the read position changed) is read again from
the top: the readings held are kept, and rows already stored come back (the store ignores
repeats). A last line without a line break is read at once, and read again in full when the file
grows (a writer may have been half-way through it). After a restart (`resume`), the first read
takes rows observed at or before the newest stored reading as stored.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field

from floodwatch.errors import Problem
from floodwatch.feeds.base import FeedError
from floodwatch.feeds.quality import Rejected, check_text, log_rejections, parse_time, parse_value
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading

log = logging.getLogger(__name__)

HEADER = ["station", "parameter", "value", "unit", "observed_at"]
MAX_LINE = 64 * 1024  # bytes in one line; a reading takes about 60
_CHUNK = 64 * 1024
_PRINT = 4096  # bytes compared to tell a grown file from a replaced one
_BOM = b"\xef\xbb\xbf"
_LOGGED = 5  # skipped lines logged one by one per read; the rest in the summary


@dataclass(frozen=True)
class Parsed:
    readings: list[Reading]
    problems: list[Problem]
    reasons: Counter[str] = field(default_factory=Counter)  # skipped rows by reason


class _Skip(Exception):
    """A line is not a reading: `reason` is the counter's key, `path` the column at fault."""

    def __init__(self, reason: str, path: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.path = path


# -- lines -----------------------------------------------------------------------------------


def _lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None, bool]]:
    """The lines from the stream's position to its end: (bytes taken including the line
    break, the line without it or None when longer than `limit`, whether it ended with a
    break). An over-long line is read through, never held."""
    buf = bytearray()
    skipping = False
    taken = 0
    while chunk := stream.read(_CHUNK):
        pos = 0
        while True:
            nl = chunk.find(b"\n", pos)
            piece = chunk[pos:] if nl < 0 else chunk[pos:nl]
            taken += len(piece)
            if not skipping and len(buf) + len(piece) > limit:
                skipping = True
                buf.clear()
            if nl < 0:
                if not skipping:
                    buf += piece
                break
            if skipping:
                content = None
            elif buf:
                buf += piece
                content = bytes(buf)
            else:
                content = piece
            yield taken + 1, content, True
            buf.clear()
            skipping = False
            taken = 0
            pos = nl + 1
    if taken:
        yield taken, None if skipping else bytes(buf), False


def _cells(data: bytes | None, number: int) -> list[str]:
    """The fields of one line; the line alone, so a stray quote cannot reach the next."""
    if data is None:
        raise _Skip("oversized", "", f"a line longer than {MAX_LINE} bytes")
    if number == 1 and data.startswith(_BOM):
        data = data[len(_BOM) :]
    if data.endswith(b"\r"):
        data = data[:-1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Skip(
            "undecodable", "", f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    if '"' not in text and "\r" not in text:
        return text.split(",")
    try:
        return next(csv.reader([text], strict=True), [])
    except csv.Error as exc:
        raise _Skip("malformed", "", f"broken quoting: {exc}") from None


# -- rows ------------------------------------------------------------------------------------

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


class _Rows:
    """The lines of one file, in order, become readings, problems and counted reasons.

    Line 1 is the header; `fatal` is set when it leaves no row readable. The dialect is
    floodwatch's, or NWISWeb's when `nwis_station` is given.
    """

    def __init__(
        self,
        name: str,
        nwis_station: str | None = None,
        columns: dict[str, NwisColumn] | None = None,
    ) -> None:
        self.name = name
        self.nwis_station = nwis_station
        self.columns = columns or DEFAULT_NWIS_COLUMNS
        self.picked: list[tuple[int, NwisColumn]] = []
        self.fatal: Problem | None = None
        self.readings: list[Reading] = []
        self.problems: list[Problem] = []
        self.reasons: Counter[str] = Counter()

    def line(self, number: int, data: bytes | None) -> None:
        try:
            cells = _cells(data, number)
        except _Skip as skip:
            if number == 1:
                self.fatal = self.problem(1, "", f"{self.expected()}; {skip}")
            else:
                self._skip(number, skip)
            return
        if number == 1:
            self._header(cells)
        elif any(c.strip() for c in cells):  # blank lines are no rows
            try:
                self._row(number, cells)
            except _Skip as skip:
                self._skip(number, skip)

    def expected(self) -> str:
        if self.nwis_station is None:
            return f"expected the header {','.join(HEADER)}"
        return "expected an NWISWeb header"

    def problem(self, number: int, path: str, message: str) -> Problem:
        return Problem(self.name, number, 1, path, message)

    def _skip(self, number: int, skip: _Skip) -> None:
        self.problems.append(self.problem(number, skip.path, str(skip)))
        self.reasons[skip.reason] += 1

    def _header(self, cells: list[str]) -> None:
        if self.nwis_station is None:
            if [c.strip() for c in cells] != HEADER:
                self.fatal = self.problem(1, "", self.expected())
            return
        header = [_clean(c) for c in cells]
        for prefix, spec in self.columns.items():
            idx = next((i for i, h in enumerate(header) if h.startswith(prefix)), None)
            if idx is None:
                self.problems.append(
                    self.problem(1, "", f"no column whose header starts with {prefix!r}")
                )
            else:
                self.picked.append((idx, spec))
        if not self.picked:
            self.fatal = self.problems.pop()

    def _row(self, number: int, cells: list[str]) -> None:
        if self.nwis_station is None:
            self.readings.append(_floodwatch_row(cells))
            return
        cells = [_clean(c) for c in cells]
        try:
            observed = _nwis_time(cells[0])
        except ValueError as exc:
            raise _Skip("unparseable_time", "time", str(exc)) from None
        for idx, spec in self.picked:
            raw = cells[idx] if idx < len(cells) else ""
            if not raw:
                continue
            m = _NWIS_VALUE.match(raw)
            if not m:
                self._skip(
                    number, _Skip("unparseable_value", spec.parameter, f"not a value: {raw!r}")
                )
                continue
            value = float(m.group(1).replace(",", ""))
            self.readings.append(
                Reading(self.nwis_station, spec.parameter, value, spec.unit, observed)
            )

    def parsed(self) -> Parsed:
        problems = [self.fatal] if self.fatal else []
        return Parsed(self.readings, problems + self.problems, self.reasons)


def _floodwatch_row(cells: list[str]) -> Reading:
    if len(cells) != len(HEADER):
        raise _Skip("malformed", "", f"expected {len(HEADER)} fields, found {len(cells)}")
    station, parameter, raw_value, unit, raw_time = (c.strip() for c in cells)
    try:
        value = parse_value(raw_value, no_data=())
    except Rejected as exc:
        raise _Skip(exc.reason, "value", str(exc)) from None
    try:
        observed = parse_time(raw_time)
    except Rejected as exc:
        raise _Skip(exc.reason, "observed_at", str(exc)) from None
    if not station or not parameter or not unit:
        raise _Skip("missing_field", "", "station, parameter and unit are required")
    try:
        for text, what in ((station, "station"), (parameter, "parameter"), (unit, "unit")):
            check_text(text, what)
    except Rejected as exc:
        raise _Skip(exc.reason, "", str(exc)) from None
    return Reading(station, parameter, value, unit, observed)


def _parse(data: str | bytes, rows: _Rows) -> Parsed:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    for number, (_, line, _) in enumerate(_lines(io.BytesIO(raw), MAX_LINE), start=1):
        rows.line(number, line)
        if rows.fatal:
            break
    if not raw:
        rows.fatal = rows.problem(1, "", f"{rows.expected()}; the file is empty")
    return rows.parsed()


def parse_floodwatch_csv(data: str | bytes, name: str) -> Parsed:
    """Parse floodwatch's CSV format; rows that cannot be read are problems with their line.
    Given bytes, each line is decoded on its own (a line that is not UTF-8 is ``undecodable``)."""
    return _parse(data, _Rows(name))


def write_floodwatch_csv(readings: Iterable[Reading]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for r in readings:
        writer.writerow([r.station, r.parameter, repr(r.value), r.unit, r.observed_at.isoformat()])
    return out.getvalue()


def parse_nwisweb_table(
    data: str | bytes, name: str, station: str, columns: dict[str, NwisColumn] | None = None
) -> Parsed:
    """Parse a NWISWeb table saved as CSV (BOM, no-break-space padding, qualifiers glued to
    values such as ``11.57P``, quoted thousands such as ``"1,040P"``, times ``MM/DD/YYYY HH:MM
    EST``). Columns are picked by the start of their header; blank cells are skipped."""
    return _parse(data, _Rows(name, station, columns))


def _clean(cell: str) -> str:
    return cell.replace("\u00a0", " ").strip()


def _nwis_time(cell: str) -> datetime:
    parts = cell.split()
    if len(parts) != 3 or parts[2] not in _NWIS_ZONES:
        raise ValueError(f"expected 'MM/DD/YYYY HH:MM ZONE', found {cell!r}")
    local = datetime.strptime(f"{parts[0]} {parts[1]}", "%m/%d/%Y %H:%M")
    return local.replace(tzinfo=timezone(timedelta(hours=_NWIS_ZONES[parts[2]])))


def _observed(r: Reading) -> datetime:
    return r.observed_at


# -- the feed --------------------------------------------------------------------------------


class CsvFeed:
    """Polls a CSV file; returns the readings observed up to `now` that are not yet stored."""

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
        self.rejected: Counter[str] = Counter()  # lines skipped, by reason, since built
        self.degraded = False  # the last fetch failed
        self._held: list[Reading] = []  # parsed and not committed, in time order
        self._held_keys: set[tuple[str, str, datetime]] = set()
        self._stored_until: datetime | None = None  # from resume: the first read skips these
        self._rows: _Rows | None = None  # the file being read; None: start from the top
        self._offset = 0  # bytes of whole lines read
        self._number = 0  # lines read
        self._tail: bytes | None = None  # a last line without a break, read at `_offset`
        self._tail_oversized = False  # ... or one too long to keep, read (and counted) there
        self._seen: tuple[int, int, int, int] | None = None  # dev, inode, size, mtime read
        self._head = b""  # the file's first bytes, as read
        self._back = b""  # the bytes before `_offset`, as read

    def fetch(self, now: datetime) -> list[Reading]:
        """The readings held (read and not committed) that were observed up to `now`."""
        before = Counter(self.rejected)
        try:
            self._refresh()
        except FeedError:
            self.degraded = True
            raise
        finally:
            log_rejections(log, self.name, before, self.rejected)
        self.degraded = False
        return self._held[: bisect_right(self._held, now, key=_observed)]

    def commit(self, readings: Sequence[Reading]) -> None:
        """The readings of the last fetch are stored: they are no longer held."""
        keys = {r.key for r in readings} & self._held_keys
        if not keys:
            return
        # normally the committed readings are the oldest held, in order: cut them off at once
        k = 0
        while k < len(self._held) and self._held[k].key in keys:
            k += 1
        rest = self._held[k:]
        if len(keys) > k:
            rest = [r for r in rest if r.key not in keys]
        self._held = rest
        self._held_keys -= keys

    def resume(self, last_stored: datetime | None) -> None:
        """Before the first fetch: rows observed at or before `last_stored` are stored."""
        if self._rows is None:
            self._stored_until = last_stored

    # -- reading the file ----------------------------------------------------------------------

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
            seen = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            if seen == self._seen:
                return
            with open(self.path, "rb") as f:
                rows = self._continuing(f, seen) or self._restart()
                f.seek(self._offset)
                self._read(f, rows)
                self._fingerprint(f)
        except OSError as exc:
            self._rows = None  # gone or unreadable: what comes back is read from the top
            raise FeedError(f"feed {self.name}: cannot read {self.path}: {exc}") from None
        self._seen = seen
        self._stored_until = None  # only the first read skips what was stored before a restart

    def _continuing(self, f: BinaryIO, seen: tuple[int, int, int, int]) -> _Rows | None:
        """The rows being read when the file is the one read so far, unchanged up to
        `_offset` (grown or not); None when it must be read from the top."""
        if self._rows is None or self._seen is None or seen[:2] != self._seen[:2]:
            return None
        if seen[2] < self._offset:
            return None
        f.seek(0)
        if f.read(len(self._head)) != self._head:
            return None
        f.seek(self._offset - len(self._back))
        return self._rows if f.read(len(self._back)) == self._back else None

    def _restart(self) -> _Rows:
        if self._rows is not None:
            log.info("feed %s: %s was replaced: reading it from the top", self.name, self.path)
        o = self.options
        station = (o.station or self.name) if o.dialect == "nwisweb" else None
        self._rows = _Rows(str(self.path), station, o.columns)
        self._offset = self._number = 0
        self._tail, self._tail_oversized = None, False
        return self._rows

    def _read(self, f: BinaryIO, rows: _Rows) -> None:
        first = True
        for taken, data, ended in _lines(f, MAX_LINE):
            # the last line read without a break, unchanged (or still too long): done already
            again = first and (
                (data is None and self._tail_oversized)
                or (self._tail is not None and data == self._tail)
            )
            first = False
            if ended:
                self._offset += taken
                self._number += 1
                self._tail, self._tail_oversized = None, False
                if not again:
                    rows.line(self._number, data)
            elif not again:
                # no line break yet: read now, and again in full once the line is finished
                rows.line(self._number + 1, data)
                self._tail, self._tail_oversized = data, data is None
            if rows.fatal:
                break
        if self._number == 0 and self._tail is None and not rows.fatal:
            rows.fatal = rows.problem(1, "", f"{rows.expected()}; the file is empty")
        if rows.fatal:
            problem, self._rows = rows.fatal, None  # read from the top at the next fetch
            raise FeedError(f"feed {self.name}: {problem}")
        self._take(rows)

    def _take(self, rows: _Rows) -> None:
        """Hold the readings just parsed; log and count the lines skipped."""
        for problem in rows.problems[:_LOGGED]:
            log.warning("feed %s: skipped: %s", self.name, problem)
        if len(rows.problems) > _LOGGED:
            log.warning(
                "feed %s: skipped %d more line(s) of %s",
                self.name, len(rows.problems) - _LOGGED, self.path,
            )  # fmt: skip
        self.rejected.update(rows.reasons)
        until = self._stored_until
        new = [
            r for r in rows.readings
            if r.key not in self._held_keys and (until is None or r.observed_at > until)
        ]  # fmt: skip
        rows.readings, rows.problems, rows.reasons = [], [], Counter()
        if new:
            self._held.extend(new)
            self._held.sort(key=_observed)
            self._held_keys.update(r.key for r in new)

    def _fingerprint(self, f: BinaryIO) -> None:
        f.seek(0)
        self._head = f.read(min(self._offset, _PRINT))
        start = max(self._offset - _PRINT, 0)
        f.seek(start)
        self._back = f.read(self._offset - start)
