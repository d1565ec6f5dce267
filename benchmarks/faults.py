"""The fault suite: the demo flood (USGS 01589025, 27 May 2018) through real `floodwatch run`
processes under each fault, counted against a fault-free run of the same flood.

    .venv/bin/python benchmarks/faults.py            # every row, about 6 minutes
    .venv/bin/python benchmarks/faults.py --only kill-sqlite,2-nodes

Rows: kill -9 at 10 random points (SQLite, PostgreSQL); PostgreSQL refusing connections for
20 s at the crest; backends terminated every 0.2 s for 20 s; two and three nodes with the
leader killed; a feed file full of garbage; a YAML bomb written into the roster during the run.
Columns: readings stored / in the file up to the last poll; alert changes seen / in the
fault-free run (and how many of those are missing); pages lost (queued, never delivered);
pages duplicated (delivered twice) and pages in flight at the kills (the only ones that may be
duplicated). Target: every row 0 lost, 0 missed, duplicates within the pages in flight.
It needs PostgreSQL on 127.0.0.1:5432 (FLOODWATCH_TEST_POSTGRES to change it) and no network.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from floodwatch.feeds.csv import parse_floodwatch_csv  # noqa: E402
from floodwatch.replay import replay  # noqa: E402
from tests.fault_support import DatabaseProxy  # noqa: E402
from tests.helpers import DEMO_CONFIG, DEMO_READINGS  # noqa: E402
from tests.node_support import Nodes, node_config  # noqa: E402

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = datetime.fromisoformat("2018-05-27T15:00:00-05:00")  # 30 min before flood stage
CREST = datetime.fromisoformat("2018-05-27T15:52:00-05:00")
END = datetime.fromisoformat("2018-05-28T04:30:00-05:00")  # after the all-clear (04:15 EST)
CHANGES = ("opened", "raised", "lowered", "cleared")


@dataclass
class Row:
    name: str
    readings: int
    readings_expected: int
    changes: list[str]
    changes_expected: list[str]
    pages_queued: int
    pages_lost: int
    pages_duplicated: int
    in_flight: int
    seconds: float
    note: str = ""

    @property
    def missed(self) -> int:
        return sum(1 for c in self.changes_expected if c not in self.changes) + max(
            0, len(self.changes_expected) - len(self.changes)
        )

    @property
    def ok(self) -> bool:
        return (
            self.readings == self.readings_expected
            and self.changes == self.changes_expected
            and self.pages_lost == 0
            and self.pages_duplicated <= self.in_flight
        )


@contextmanager
def postgres_database() -> Iterator[str]:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"floodwatch_faults_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Flood:
    """One run of the demo flood through `floodwatch run` processes in a scratch directory."""

    def __init__(self, work: Path, database: str | None, speed: float, **config: Any) -> None:
        self.dir = work
        self.speed = speed
        database = database or f"sqlite:///{work / 'floodwatch.db'}"
        self.config = node_config(work, database, speed, START.isoformat(), **config)
        self.nodes = Nodes(self.config, database)
        self.started = time.monotonic()

    def real_seconds_until(self, sim: datetime) -> float:
        """Real seconds from now until the demo clock reads `sim`."""
        origin = self.nodes.state("demo_clock_origin")
        assert origin is not None
        at = datetime.fromisoformat(origin["origin"]) + (sim - START) / self.speed
        return (at - datetime.now(at.tzinfo)).total_seconds()

    def sleep_until(self, sim: datetime) -> None:
        time.sleep(max(0.0, self.real_seconds_until(sim)))

    def start(self, n: int = 1) -> None:
        self.nodes.start(n)
        self.nodes.wait(lambda: self.nodes.state("demo_clock_origin") is not None, 60, "start")

    def finish(self, name: str, killed: list[int], note: str = "") -> Row:
        nodes = self.nodes
        nodes.wait(lambda: _polled_past(nodes, END), 180, "the flood to pass")
        nodes.wait(lambda: nodes.count(self.dir / "pages.jsonl", None)["pages_undelivered"] == 0,
                   120, "the outbox to drain")  # fmt: skip
        last = datetime.fromisoformat(nodes.state("poll:demo")["at"])  # type: ignore[index]
        counted = [nodes.count(self.dir / "pages.jsonl", k) for k in killed or [None]]
        types = nodes.event_types()
        nodes.stop()
        feed_rows = _file_rows(self.feed_path())
        expected = sum(1 for r in feed_rows if r.observed_at <= last)
        stage = [r for r in feed_rows if r.parameter == "stage" and r.observed_at <= last]
        fault_free = [e["type"] for e in replay(DEMO_CONFIG, stage) if e["type"] in CHANGES]
        return Row(
            name, counted[0]["readings"], expected, [t for t in types if t in CHANGES],
            fault_free, counted[0]["pages_queued"], counted[0]["pages_lost"],
            counted[0]["pages_duplicated"], sum(c["in_flight_at_kill"] for c in counted),
            time.monotonic() - self.started, note,
        )  # fmt: skip

    def feed_path(self) -> Path:
        return Path(next(iter(_feeds(self.config)))["path"])


def _feeds(config: Path) -> list[dict[str, Any]]:
    import yaml

    return list(yaml.safe_load(config.read_text(encoding="utf-8"))["feeds"])


def _file_rows(path: Path) -> list[Any]:
    data = path.read_bytes().decode("utf-8", errors="replace")
    good = "\n".join(line for line in data.splitlines() if len(line) < 1000 and "\ufffd" not in line
                     and line.count('"') % 2 == 0 and line.count(",") == 4)  # fmt: skip
    return parse_floodwatch_csv(good, str(path)).readings


def _polled_past(nodes: Nodes, when: datetime) -> bool:
    poll = nodes.state("poll:demo")
    return poll is not None and datetime.fromisoformat(poll["at"]) >= when


# -- scenarios -----------------------------------------------------------------------------------


def kill_random(work: Path, database: str | None, speed: float, seed: int) -> Row:
    # a page in flight at a kill is sent again once its claim expires: 30 s here, inside the
    # drain wait (node_config's 10 minutes would outlast it and fail the row for nothing lost)
    flood = Flood(work, database, speed, delivery={"claim_timeout": "30s"})
    flood.start(1)
    rng = random.Random(seed)
    span = (END - START).total_seconds() / speed
    killed = []
    for at in sorted(rng.uniform(0.5, span * 0.9) for _ in range(10)):
        time.sleep(max(0.0, at - (time.monotonic() - flood.started)))
        pid = flood.nodes.procs[-1].pid
        flood.nodes.kill(pid)
        killed.append(pid)
        flood.nodes.start(1)  # restarted at once, on the same database
    return flood.finish("", killed, "10 kills")


def refuse_at_crest(work: Path, database: str, speed: float) -> Row:
    proxy = DatabaseProxy()
    try:
        flood = Flood(work, proxy.url(database), speed, outage={"tell_after": "1h"})
        flood.start(1)
        flood.sleep_until(CREST - timedelta(minutes=20))
        with proxy.away():
            time.sleep(20)
        row = flood.finish("", [], "20 s without the server")
    finally:
        proxy.close()
    told = _direct_pages(work)
    row.note += f"; {told} told directly"
    return row


def terminate_backends(work: Path, database: str, speed: float) -> Row:
    flood = Flood(work, database, speed)
    flood.start(1)
    flood.sleep_until(CREST - timedelta(minutes=30))
    name = database.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    terminated = 0
    end = time.monotonic() + 20
    with admin.connect() as conn:
        while time.monotonic() < end:
            terminated += conn.execute(
                text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": name},
            ).scalar() or 0  # fmt: skip
            time.sleep(0.2)
    admin.dispose()
    return flood.finish("", [], f"{terminated} backends terminated")


def nodes_leader_killed(work: Path, database: str, speed: float, n: int) -> Row:
    flood = Flood(work, database, speed)
    flood.start(n)
    flood.sleep_until(CREST - timedelta(minutes=10))
    killed = flood.nodes.leader_pid()
    assert killed is not None
    at = time.monotonic()
    flood.nodes.kill(killed)
    flood.nodes.wait(lambda: flood.nodes.leader_pid() not in (None, killed), 60, "takeover")
    took = time.monotonic() - at
    return flood.finish("", [killed], f"standby led after {took:.1f} s")


def garbage_feed(work: Path, database: str | None, speed: float) -> Row:
    lines = DEMO_READINGS.read_bytes().splitlines(keepends=True)
    bad = [
        b"01589025,stage,1\xff.5,ft,2018-05-27T19:10:00+00:00\n",  # a byte that is not UTF-8
        b"01589025,stage," + b"9" * 10_000_000 + b",ft,2018-05-27T19:20:00+00:00\n",  # 10 MB
        b'01589025,"stage,1.5,ft,2018-05-27T19:40:00+00:00\n',  # an unterminated quote ...
        b"01589025,stage,1.5,ft\n",  # four columns
        b"01589025,stage,1.5,ft,2018-05-27T19:50:00+00:00,extra,columns\n",
    ]
    garbled = lines[:300] + bad + lines[300:]  # ... then hundreds of good rows
    path = work / "garbled.csv"
    path.write_bytes(b"".join(garbled))
    feed = {"name": "demo", "type": "csv", "path": str(path), "interval": "15m"}
    flood = Flood(work, database, speed, feeds=[feed])
    flood.start(1)
    return flood.finish("", [], "5 bad rows among 770 good")


def yaml_bomb(work: Path, database: str | None, speed: float) -> Row:
    roster = work / "roster.yaml"
    shutil.copy(ROOT / "rosters" / "township.yaml", roster)
    flood = Flood(work, database, speed, rosters=[str(roster)], duty={"reload_every": "1s"})
    flood.start(1)
    flood.sleep_until(CREST)
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        levels.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    roster.write_text("\n".join(levels) + "\n", encoding="utf-8")
    before = _rejections(flood)
    flood.nodes.wait(lambda: _rejections(flood) > before, 30, "the bomb to be refused")
    rss = _rss_mb(flood.nodes.procs[-1].pid)
    return flood.finish("", [], f"bomb refused; node RSS {rss:.0f} MB")


def _rejections(flood: Flood) -> int:
    return flood.nodes.event_types().count("roster_rejected")


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return kb / 1024


def _direct_pages(work: Path) -> int:
    path = work / "pages.jsonl"
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    return sum(1 for line in lines if line["page"] == 0)


def fault_free(work: Path, database: str | None, speed: float) -> Row:
    flood = Flood(work, database, speed)
    flood.start(1)
    return flood.finish("", [], "")


# -- the table -----------------------------------------------------------------------------------

Scenario = Callable[[Path, float], Row]


def scenarios(seed: int) -> dict[str, tuple[str, Callable[[Path, float], Row]]]:
    def on_pg(fn: Callable[..., Row], *args: Any) -> Callable[[Path, float], Row]:
        def run(work: Path, speed: float) -> Row:
            with postgres_database() as db:
                return fn(work, db, speed, *args)

        return run

    return {
        "fault-free": ("fault-free run (SQLite)", lambda w, s: fault_free(w, None, s)),
        "kill-sqlite": ("kill -9 at 10 random points, SQLite",
                        lambda w, s: kill_random(w, None, s, seed)),
        "kill-postgres": ("kill -9 at 10 random points, PostgreSQL", on_pg(kill_random, seed)),
        "refuse": ("PostgreSQL refusing connections 20 s at the crest", on_pg(refuse_at_crest)),
        "terminate": ("backends terminated every 0.2 s for 20 s", on_pg(terminate_backends)),
        "2-nodes": ("2 nodes, the leader killed at the crest", on_pg(nodes_leader_killed, 2)),
        "3-nodes": ("3 nodes, the leader killed at the crest", on_pg(nodes_leader_killed, 3)),
        "garbage": ("garbage feed file (bad byte, 10 MB line, open quote, wrong columns)",
                    lambda w, s: garbage_feed(w, None, s)),
        "yaml-bomb": ("YAML bomb written into the roster during the run",
                      lambda w, s: yaml_bomb(w, None, s)),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--speed",
        type=float,
        default=1800,
        help="simulated seconds per real second (1800: the flood in ~30 s)",
    )
    parser.add_argument("--only", default="", help="comma-separated row keys")
    parser.add_argument("--seed", type=int, default=20180527)
    args = parser.parse_args()
    table = scenarios(args.seed)
    keys = [k for k in args.only.split(",") if k] or list(table)
    rows = []
    for key in keys:
        title, run = table[key]
        with tempfile.TemporaryDirectory(prefix=f"floodwatch-faults-{key}-") as tmp:
            print(f"... {title}", file=sys.stderr, flush=True)
            try:
                row = run(Path(tmp), args.speed)
            except Exception as exc:  # a row that could not run is shown, not hidden
                row = Row(title, 0, 1, [], ["?"], 0, 0, 0, 0, 0.0, f"FAILED TO RUN: {exc!r}")
            row.name = title
            rows.append(row)
    print(render(rows, args.speed))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    verdict = "every row as required" if all(r.ok for r in rows) else "SOME ROWS FAILED"
    print(f"\nlargest child process: {peak:.0f} MB resident; {verdict}")
    return 0


def render(rows: list[Row], speed: float) -> str:
    head = ("| fault | readings stored / file | alert changes / fault-free (missed) | "
            "pages queued | lost | duplicated / in flight | real s | ok | note |")  # fmt: skip
    out = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r.name} | {r.readings} / {r.readings_expected} | {len(r.changes)} / "
            f"{len(r.changes_expected)} ({r.missed}) | {r.pages_queued} | {r.pages_lost} | "
            f"{r.pages_duplicated} / {r.in_flight} | {r.seconds:.0f} | "
            f"{'yes' if r.ok else 'NO'} | {r.note} |"
        )
    return "\n".join(out) + f"\n\n(demo clock at {speed:g}x: the flood in {(END - START) / speed})"


if __name__ == "__main__":
    threading.excepthook = lambda args: None  # proxy threads dying with their sockets
    sys.exit(main())
