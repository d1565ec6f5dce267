"""csv on copies of the demo's real readings (config/patapsco_2018-05-27.csv) with faults put in:
a line that is not UTF-8, a 10 MB line, an unterminated quote, wrong column counts; a file that
grows, is replaced, or ends half-way through a line; a position that moves only on commit; and
the NWISWeb dialect on a real NWISWeb table. Each test says exactly which readings come back
and what is counted."""

from __future__ import annotations

import os
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.csv import MAX_LINE, CsvFeed, parse_floodwatch_csv, parse_nwisweb_table
from floodwatch.readings import Reading

from .feed_support import context
from .helpers import DEMO_READINGS

HEADER, *ROWS = DEMO_READINGS.read_bytes().splitlines(keepends=True)  # 770 rows, in time order
DEMO = parse_floodwatch_csv(DEMO_READINGS.read_bytes(), str(DEMO_READINGS)).readings
END = datetime(2018, 6, 1, tzinfo=UTC)  # after the last row: every reading is due
NWIS_TABLE = "floods/usgs_01589025_patapsco_nr_catonsville_2018-05-27.csv"


class File:
    """The feed's file in tmp_path; each write gets a modification time of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.path.write_bytes(data)
        self._touch()

    def append(self, data: bytes) -> None:
        with self.path.open("ab") as f:
            f.write(data)
        self._touch()

    def _touch(self) -> None:
        self.writes += 1
        when = 1_700_000_000 + self.writes
        os.utime(self.path, (when, when))


@pytest.fixture
def file(tmp_path: Path) -> File:
    return File(tmp_path / "patapsco.csv")


def feed(tmp_path: Path, **options: Any) -> CsvFeed:
    o = CsvFeed.Options.model_validate({"path": "patapsco.csv"} | options)
    return CsvFeed("patapsco", o, context(tmp_path))


def demo_with(lines: dict[int, bytes]) -> bytes:
    """The demo file with a line put in before each given row index (0: before the first)."""
    out = [HEADER]
    for i, row in enumerate(ROWS):
        out.append(lines.get(i, b""))
        out.append(row)
    return b"".join(out)


# -- a bad line costs that line only ---------------------------------------------------------


def test_a_line_that_is_not_utf8_is_skipped_and_the_rest_is_read(
    file: File, tmp_path: Path
) -> None:
    # a gauge name typed on a Latin-1 terminal: one byte that is not UTF-8
    file.write(demo_with({385: b"01589025,stage,12.01,ft,2018-05-31T00:00:00+00:00 (\xe9t\xe9)\n"}))
    f = feed(tmp_path)
    assert f.fetch(END) == DEMO
    assert f.rejected == {"undecodable": 1}
    assert f.degraded is False


def test_a_10_mb_line_in_the_middle_is_passed_over_without_being_held(
    file: File, tmp_path: Path
) -> None:
    huge = b"01589025,stage," + b"9" * (10 * 1024 * 1024) + b",ft,2018-05-27T12:00:00+00:00\n"
    file.write(demo_with({385: huge}))
    f = feed(tmp_path)
    tracemalloc.start()
    try:
        readings = f.fetch(END)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert readings == DEMO
    assert f.rejected == {"oversized": 1}
    assert peak < 2 * 1024 * 1024, f"reading the file took {peak} bytes at its peak"


def test_a_line_just_within_the_limit_is_read_and_one_byte_more_is_not(
    file: File, tmp_path: Path
) -> None:
    row = b"01589025,stage,1.5,ft,2018-05-27T12:00:00+00:00"
    pad = b" " * (MAX_LINE - len(row))  # spaces around the value are allowed
    at_limit = row.replace(b",1.5,", b"," + pad + b"1.5,")
    over = row.replace(b",1.5,", b"," + pad + b" 1.6,")
    assert (len(at_limit), len(over)) == (MAX_LINE, MAX_LINE + 1)
    file.write(HEADER + at_limit + b"\n" + over + b"\n")
    f = feed(tmp_path)
    assert [r.value for r in f.fetch(END)] == [1.5]
    assert f.rejected == {"oversized": 1}


def test_an_unterminated_quote_breaks_its_own_line_only(file: File, tmp_path: Path) -> None:
    # a note pasted into the value column, its closing quote lost; 300 good rows follow
    file.write(
        demo_with({100: b'01589025,stage,"12.0 (gauge reset,ft,2018-05-27T12:00:00+00:00\n'})
    )
    f = feed(tmp_path)
    readings = f.fetch(END)
    assert readings == DEMO
    assert len([r for r in readings if r.observed_at > DEMO[100].observed_at]) >= 300
    assert f.rejected == {"malformed": 1}


def test_rows_with_four_or_seven_columns_are_malformed(file: File, tmp_path: Path) -> None:
    file.write(
        demo_with({
            10: b"01589025,stage,11.9,2018-05-27T07:30:00+00:00\n",
            20: b"01589025,stage,11.9,ft,2018-05-27T07:30:00+00:00,P,extra\n",
        })
    )  # fmt: skip
    f = feed(tmp_path)
    assert f.fetch(END) == DEMO
    assert f.rejected == {"malformed": 2}


def test_every_fault_at_once_and_each_counted_once(file: File, tmp_path: Path) -> None:
    file.write(
        demo_with({
            1: b"01589025,stage,\xff\xfe,ft,2018-05-27T05:00:00+00:00\n",
            2: b"x" * (MAX_LINE + 10) + b"\n",
            3: b'01589025,"stage,11.57,ft,2018-05-27T05:00:00+00:00\n',
            4: b"01589025,stage,11.57\n",
            5: b"01589025,stage,11.57,ft,2018-05-27T05:00:00\n",
            6: b"01589025,stage,11.57,ft,2018-05-27T05:00:00+00:00,\n",  # a trailing comma
            7: b"01589025," + b"s" * 201 + b",11.57,ft,2018-05-27T05:00:00+00:00\n",
            8: b"\r\n",  # blank lines, or lines of empty cells, are no rows
            9: b",,,,\n",
        })
    )  # fmt: skip
    f = feed(tmp_path)
    assert f.fetch(END) == DEMO
    expected = {"undecodable": 1, "oversized": 2, "malformed": 3, "unparseable_time": 1}
    assert f.rejected == expected
    f.commit(DEMO)
    assert f.fetch(END) == []
    assert f.rejected == expected  # a line is judged once, not at every poll


def test_a_wrong_header_still_fails_the_fetch(file: File, tmp_path: Path) -> None:
    file.write(b"station;parameter;value;unit;observed_at\n" + b"".join(ROWS))
    with pytest.raises(FeedError, match=r"feed patapsco: \S+:1:1: expected the header station,"):
        feed(tmp_path).fetch(END)


def test_the_demo_file_with_windows_line_ends_and_a_bom(file: File, tmp_path: Path) -> None:
    file.write(b"\xef\xbb\xbf" + b"".join(line.replace(b"\n", b"\r\n") for line in [HEADER, *ROWS]))
    f = feed(tmp_path)
    assert f.fetch(END) == DEMO
    assert f.rejected == {}


# -- the position moves on only with commit --------------------------------------------------


def test_a_growing_file_is_read_from_where_it_stopped(file: File, tmp_path: Path) -> None:
    file.write(HEADER + b"".join(ROWS[:50]))
    f = feed(tmp_path)
    first = f.fetch(END)
    assert first == DEMO[:50]
    file.append(b"".join(ROWS[50:120]) + b"01589025,stage,oops,ft,2018-05-28T00:00:00+00:00\n")
    # the store failed: nothing committed, so the first 50 come again with the 70 new ones
    second = f.fetch(END)
    assert second == DEMO[:120]
    assert f.rejected == {"unparseable_value": 1}
    f.commit(second)
    file.append(b"".join(ROWS[120:]))
    assert f.fetch(END) == DEMO[120:]
    assert f.rejected == {"unparseable_value": 1}  # the lines read before are not read again


def test_rows_wait_for_their_time_and_a_commit_takes_only_what_it_names(
    file: File, tmp_path: Path
) -> None:
    file.write(DEMO_READINGS.read_bytes())
    f = feed(tmp_path)
    six = datetime(2018, 5, 27, 6, 0, tzinfo=UTC)
    early = f.fetch(six)
    assert early == [r for r in DEMO if r.observed_at <= six]
    assert len(early) == 10
    f.commit(early[:4])  # a partial commit: the rest stay held
    assert f.fetch(six) == early[4:]
    f.commit(early[4:])
    assert f.fetch(six) == []
    assert f.fetch(END) == DEMO[10:]


def test_a_replaced_file_is_read_from_the_top(file: File, tmp_path: Path) -> None:
    file.write(HEADER + b"".join(ROWS[:100]))
    f = feed(tmp_path)
    first = f.fetch(END)
    f.commit(first)
    file.path.unlink()
    with pytest.raises(FeedError, match="No such file"):
        f.fetch(END)
    replacement = tmp_path / "new.csv"
    replacement.write_bytes(HEADER + b"".join(ROWS[:150]))
    replacement.replace(file.path)  # a new file moved into place, as an exporter does
    assert f.fetch(END) == DEMO[:150]  # stored rows come back; the store ignores them


def test_a_file_rewritten_in_place_with_other_rows_is_read_from_the_top(
    file: File, tmp_path: Path
) -> None:
    file.write(HEADER + b"".join(ROWS[100:200]))
    f = feed(tmp_path)
    f.commit(f.fetch(END))
    file.write(HEADER + b"".join(ROWS[:300]))  # the same inode, longer, other rows first
    assert f.fetch(END) == DEMO[:300]


def test_a_last_line_without_a_break_is_read_and_read_again_when_finished(
    file: File, tmp_path: Path
) -> None:
    row = ROWS[0].rstrip(b"\n")
    file.write(HEADER + row)  # a file whose last line has no line break
    f = feed(tmp_path)
    assert f.fetch(END) == DEMO[:1]
    f.commit(DEMO[:1])
    file.append(b"\n" + ROWS[1][:20])  # the line is finished; a writer is half-way into the next
    assert f.fetch(END) == []
    assert f.rejected == {"malformed": 1}  # the half line, as it stood
    file.append(ROWS[1][20:] + ROWS[2])
    assert f.fetch(END) == DEMO[1:3]  # the finished line read again, in full
    assert f.rejected == {"malformed": 1}


def test_after_a_restart_rows_up_to_the_newest_stored_count_as_stored(
    file: File, tmp_path: Path
) -> None:
    file.write(DEMO_READINGS.read_bytes())
    f = feed(tmp_path)
    f.resume(DEMO[399].observed_at)
    assert f.fetch(END) == [r for r in DEMO if r.observed_at > DEMO[399].observed_at]
    f.commit(f.fetch(END))
    file.append(ROWS[0])  # a late row appended while running is read, whatever its time
    assert f.fetch(END) == DEMO[:1]


def test_resume_without_anything_stored_reads_everything(file: File, tmp_path: Path) -> None:
    file.write(DEMO_READINGS.read_bytes())
    f = feed(tmp_path)
    f.resume(None)
    assert f.fetch(END) == DEMO


# -- the parser the CLI and replay use -------------------------------------------------------


def test_parse_takes_bytes_and_names_each_bad_line() -> None:
    data = demo_with({2: b"01589025,stage,\xff,ft,2018-05-27T05:00:00+00:00\n", 5: b'a,"b\n'})
    parsed = parse_floodwatch_csv(data, "demo.csv")
    assert parsed.readings == DEMO
    assert parsed.reasons == Counter({"undecodable": 1, "malformed": 1})
    assert [str(p) for p in parsed.problems] == [
        "demo.csv:4:1: not UTF-8 text (invalid start byte at byte 15)",
        "demo.csv:8:1: broken quoting: unexpected end of data",
    ]


def test_parse_of_an_empty_file_names_the_missing_header() -> None:
    [problem] = parse_floodwatch_csv(b"", "empty.csv").problems
    assert str(problem) == (
        "empty.csv:1:1: expected the header station,parameter,value,unit,observed_at; "
        "the file is empty"
    )


# -- the NWISWeb dialect ---------------------------------------------------------------------


def test_a_real_nwisweb_table(tmp_path: Path, fixtures_dir: Path) -> None:
    table = (fixtures_dir / NWIS_TABLE).read_bytes()
    (tmp_path / "catonsville.csv").write_bytes(table)
    f = feed(tmp_path, path="catonsville.csv", dialect="nwisweb", station="01589025")
    readings = f.fetch(END)
    assert len(readings) == 2 * 385
    assert readings[:2] == [  # 00:00 EST, the table's first row
        Reading("01589025", "stage", 11.57, "ft", datetime(2018, 5, 27, 5, tzinfo=UTC)),
        Reading("01589025", "discharge", 295.0, "ft3/s", datetime(2018, 5, 27, 5, tzinfo=UTC)),
    ]
    crest = datetime(2018, 5, 27, 20, 52, tzinfo=UTC)  # the off-grid row at 15:52 EST
    assert [r for r in readings if r.observed_at == crest] == [
        Reading("01589025", "stage", 27.16, "ft", crest),
        Reading("01589025", "discharge", 25500.0, "ft3/s", crest),  # written "25,500P"
    ]
    assert max(r.value for r in readings if r.parameter == "stage") == 27.16
    assert f.rejected == {}
    assert sorted(readings, key=lambda r: (r.observed_at, r.parameter)) == sorted(
        parse_nwisweb_table(table, "t", "01589025").readings,
        key=lambda r: (r.observed_at, r.parameter),
    )


def test_a_nwisweb_table_with_a_bad_line_and_no_usable_column(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    header, *rows = (fixtures_dir / NWIS_TABLE).read_bytes().splitlines(keepends=True)
    (tmp_path / "t.csv").write_bytes(header + rows[0] + b"05/27/2018 00:15 EST,\xff\n" + rows[1])
    f = feed(tmp_path, path="t.csv", dialect="nwisweb", station="01589025")
    assert len(f.fetch(END)) == 4
    assert f.rejected == {"undecodable": 1}

    (tmp_path / "u.csv").write_bytes(b"Date / Time,Temperature\n" + rows[0])
    g = feed(tmp_path, path="u.csv", dialect="nwisweb", station="01589025")
    with pytest.raises(FeedError, match="no column whose header starts with 'Dis-charge'"):
        g.fetch(END)


def test_an_oversized_last_line_still_being_written_is_counted_once(
    file: File, tmp_path: Path
) -> None:
    file.write(HEADER + ROWS[0] + b"9" * (MAX_LINE + 1))  # no break yet, already too long
    f = feed(tmp_path)
    assert f.fetch(END) == DEMO[:1]
    file.append(b"9" * MAX_LINE)  # still growing
    assert f.fetch(END) == DEMO[:1]
    file.append(b"\n" + ROWS[1])
    assert f.fetch(END) == DEMO[:2]
    assert f.rejected == {"oversized": 1}
