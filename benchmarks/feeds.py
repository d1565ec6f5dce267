"""Feed benchmark (issue 4): 2,000 USGS stations polled from a local HTTP server every 60 s.

A real HTTP server on 127.0.0.1, in a separate process (its CPU is not floodwatch's), answers
`/nwis/iv/` as USGS NWIS does: WaterML-JSON built from the recorded payload
../shared/fixtures/feeds/usgs_nwis/iv_P1D_two_sites_00060_00065.json, its site structure
(sourceInfo, variable, qualifiers, method ...) copied for every site code asked for, its values
taken from the fixture's real series (stage 00065 and discharge 00060 of its two sites, each
station replaying one site's day from its own offset, back and forth). The latest value only, as
floodwatch asks when `period` is unset; a value observed on the 15-minute grid is published 5 to
19 minutes later depending on the site (USGS gauges transmit in staggered slots), so that each
60 s poll finds new values at about 1/15 of the stations and the same values as last time at the
others, as a 60 s poll of real 15-minute gauges does.

The real floodwatch `Service` (build_app + Service: APScheduler, SQLite in a temporary directory,
the `usgs_iv` feed with 2,000 sites, 100 per request, one threshold rule per station, a
recording notifier) runs its poll job every 60 s of the app's clock. By default that clock is the
demo clock of the config (`clock: {start, speed}`) at --speed 20, so one simulated minute lasts
3 real seconds; --real uses the wall clock and polls every real 60 s for a few minutes.

Measured from outside floodwatch (a subclass of Service times around `Service.poll`; the feed's
`fetch` and the pipeline's `ingest` are wrapped on their instances; APScheduler's job events give
each poll's scheduled time):

- poll lag: how late each poll starts against its schedule, how long fetch and ingest take;
- CPU: the poll thread's CPU per poll, and the whole process's CPU per simulated minute (every
  job: polls, escalation and silence ticks, duty desk, dispatcher), as a share of one core at the
  real 60 s interval.

Baseline, same run, same server: the same 20 GETs with a plain `requests.Session` (and
`json.loads` of the bodies), timed before the app is built and after it is released.

The garbage collector's time is measured too (gc.callbacks, per thread): with 2,000 stations it
is a large part of a poll's CPU. --gc-freeze freezes the built app out of the collector;
--drop-yaml-nodes empties the cache of YAML nodes floodwatch.yamlsource keeps (a diagnostic:
both show what the collector's share is made of; neither is what floodwatch does).
--period PT2H asks for a 2-hour look-back, so that every poll repeats ~28,000 stored readings.

Run from the repository root:  .venv/bin/python benchmarks/feeds.py [--real]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import logging
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from floodwatch import yamlsource  # noqa: E402
from floodwatch.app import App, build_app  # noqa: E402
from floodwatch.feeds.base import Feed  # noqa: E402
from floodwatch.notify.base import DeliveryResult, Message, Outcome  # noqa: E402
from floodwatch.pipeline import StepResult  # noqa: E402
from floodwatch.readings import Reading  # noqa: E402
from floodwatch.roster.model import Person  # noqa: E402
from floodwatch.service import Service  # noqa: E402

SHARED = Path(os.environ.get("FLOODWATCH_SHARED", ROOT.parent / "shared"))
FIXTURE = SHARED / "fixtures" / "feeds" / "usgs_nwis" / "iv_P1D_two_sites_00060_00065.json"
ROSTER = ROOT / "rosters" / "township.yaml"
PARAMETERS = ("00065", "00060")  # gage height (stage, ft), discharge (ft3/s)
STEP = timedelta(minutes=15)  # the fixture's (and USGS's usual) recording interval
CDT = timezone(timedelta(hours=-5))  # the fixture's sites are in Texas; it is labelled -05:00
# the demo clock starts in the flood season at 10:00 in Asia/Shanghai, as benchmarks/pipeline.py
DEMO_START = datetime(2026, 7, 20, 2, 0, tzinfo=UTC)
JOB = "poll:usgs"


# -- the sites -------------------------------------------------------------------------------


def site_codes(n: int) -> list[str]:
    """n 8-digit USGS-style site numbers."""
    return [f"{8_100_000 + k:08d}" for k in range(n)]


def publish_lag(k: int) -> timedelta:
    """How long after it was observed site k's value appears on the server (5-19 min)."""
    return timedelta(minutes=5 + (k * 11) % 15)


def bounce(i: int, length: int) -> int:
    """Back and forth through a series of `length`, so a replay never jumps."""
    period = 2 * length - 2
    i %= period
    return i if i < length else period - i


def grid_epoch(at: datetime) -> datetime:
    """The 15-minute mark at or before `at`, 6 hours earlier: grid index 0 of the replay."""
    at = at.astimezone(UTC) - timedelta(hours=6)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


# -- the local USGS server (a separate process) -------------------------------------------------


@dataclass
class Source:
    """One of the fixture's sites: its series (without values), value block and recorded values."""

    series: dict[str, dict[str, Any]]  # parameter code -> timeSeries entry without "values"
    block: dict[str, dict[str, Any]]  # parameter code -> values[0] without "value"
    values: dict[str, list[tuple[str, list[str]]]]  # parameter code -> [(value, qualifiers)]
    length: int  # values replayed per series (the shorter of the two parameters)


def load_sources(fixture: dict[str, Any]) -> list[Source]:
    by_site: dict[str, Source] = {}
    for ts in fixture["value"]["timeSeries"]:
        site = ts["sourceInfo"]["siteCode"][0]["value"]
        code = ts["variable"]["variableCode"][0]["value"]
        src = by_site.setdefault(site, Source({}, {}, {}, 0))
        src.series[code] = {k: v for k, v in ts.items() if k != "values"}
        src.block[code] = {k: v for k, v in ts["values"][0].items() if k != "value"}
        src.values[code] = [(p["value"], list(p["qualifiers"])) for p in ts["values"][0]["value"]]
    sources = [by_site[s] for s in sorted(by_site)]
    for src in sources:
        if set(src.series) != set(PARAMETERS):
            raise SystemExit(f"{FIXTURE}: expected parameters {PARAMETERS} for every site")
        src.length = min(len(v) for v in src.values.values())
    return sources


class Replay:
    """Answers /nwis/iv/ for any of the n site codes at the server's simulated time."""

    def __init__(
        self, fixture: dict[str, Any], n: int, start: datetime, speed: float, origin: datetime
    ) -> None:
        self.top = {k: v for k, v in fixture.items() if k != "value"}
        self.query_info = fixture["value"]["queryInfo"]
        self.sources = load_sources(fixture)
        self.start, self.speed, self.origin = start, speed, origin
        self.epoch = grid_epoch(start)
        self.index = {code: k for k, code in enumerate(site_codes(n))}
        self.templates: dict[tuple[str, str], dict[str, Any]] = {}
        for code, k in self.index.items():
            src = self.sources[k % len(self.sources)]
            for param in PARAMETERS:
                t = copy.deepcopy(src.series[param])
                t["sourceInfo"]["siteCode"][0]["value"] = code
                t["sourceInfo"]["siteName"] += f" (benchmark copy {k})"
                t["name"] = f"USGS:{code}:{param}:00000"
                self.templates[code, param] = t
        self.requests = 0
        self.bytes = 0
        self.lock = threading.Lock()

    def now(self) -> datetime:
        return self.start + (datetime.now(UTC) - self.origin) * self.speed

    def points(self, k: int, param: str, now: datetime, period: timedelta | None) -> list[Any]:
        src = self.sources[k % len(self.sources)]
        shift = (k * 7) % (2 * src.length - 2)
        latest = math.floor((now - publish_lag(k) - self.epoch) / STEP)
        first = latest if period is None else math.ceil((now - period - self.epoch) / STEP)
        out = []
        for g in range(first, latest + 1):
            value, qualifiers = src.values[param][bounce(g + shift, src.length)]
            when = (self.epoch + g * STEP).astimezone(CDT).isoformat(timespec="milliseconds")
            out.append({"value": value, "qualifiers": qualifiers, "dateTime": when})
        return out

    def answer(self, query: dict[str, list[str]]) -> bytes:
        sites = [s for s in ",".join(query.get("sites", [])).split(",") if s in self.index]
        params = [p for p in ",".join(query.get("parameterCd", [])).split(",") if p in PARAMETERS]
        period = _period(query["period"][0]) if "period" in query else None
        now = self.now()
        series = []
        for code in sorted(sites):
            k = self.index[code]
            src = self.sources[k % len(self.sources)]
            for param in sorted(params):
                entry = dict(self.templates[code, param])
                entry["values"] = [
                    {"value": self.points(k, param, now, period), **src.block[param]}
                ]
                series.append(entry)
        info = dict(self.query_info)
        info["queryURL"] = (
            "http://waterservices.usgs.gov/nwis/iv/format=json&sites="
            + ",".join(sites)
            + "&parameterCd="
            + ",".join(params)
        )
        body = {**self.top, "value": {"queryInfo": info, "timeSeries": series}}
        return json.dumps(body).encode("utf-8")


def _period(text: str) -> timedelta:
    if text.startswith("PT"):
        return (
            timedelta(hours=float(text[2:-1]))
            if text.endswith("H")
            else timedelta(minutes=float(text[2:-1]))
        )
    return timedelta(days=float(text[1:-1]))


def serve(args: argparse.Namespace) -> int:
    """The server process: print the port, answer until stdin closes (the parent has gone)."""
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    start = datetime.fromisoformat(args.serve_start)
    origin = datetime.fromisoformat(args.serve_origin)
    replay = Replay(fixture, args.stations, start, args.speed, origin)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests' sessions and USGS use

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            status, ctype = 200, "application/json"
            if url.path == "/nwis/iv/":
                body = replay.answer(query)
            elif url.path == "/control":  # the client's demo clock was rebased
                replay.origin = datetime.fromisoformat(query["origin"][0])
                body = b"{}"
            elif url.path == "/stats":
                body = json.dumps(
                    {"cpu": time.process_time(), "requests": replay.requests, "bytes": replay.bytes}
                ).encode()
            else:
                status, body = 404, b'{"error": "not found"}'
            if url.path == "/nwis/iv/":
                with replay.lock:
                    replay.requests += 1
                    replay.bytes += len(body)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    print(httpd.server_address[1], flush=True)
    sys.stdin.read()  # EOF: the parent closed our stdin or exited
    httpd.shutdown()
    httpd.server_close()
    return 0


class ServerProcess:
    """The replay server in a child process; talks to it over 127.0.0.1 only."""

    def __init__(self, n: int, start: datetime, speed: float, origin: datetime) -> None:
        cmd = [
            sys.executable, __file__, "--serve", "--stations", str(n), "--speed", str(speed),
            "--serve-start", start.isoformat(), "--serve-origin", origin.isoformat(),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip():
            self.proc.kill()
            raise SystemExit("the local USGS server did not start")
        self.url = f"http://127.0.0.1:{int(line)}"
        self.session = requests.Session()

    def set_origin(self, origin: datetime) -> None:
        self.session.get(f"{self.url}/control", params={"origin": origin.isoformat()}, timeout=5)

    def stats(self) -> dict[str, float]:
        answer: dict[str, float] = self.session.get(f"{self.url}/stats", timeout=5).json()
        return answer

    def stop(self) -> None:
        self.session.close()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- floodwatch --------------------------------------------------------------------------------


def write_config(
    directory: Path, sites: list[str], base_url: str, args: argparse.Namespace, start: datetime
) -> Path:
    """2,000 stations with one stage rule each; the usgs_iv feed polling them every 60 s.

    Most stations' ladder is well above anything the replay reaches (a quiet day); every
    --hover-every-th station has its blue level at the median of its replayed stage, so it opens
    and clears alerts now and then, as a few gauges near their action stage do."""
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    sources = load_sources(fixture)
    rules = []
    for k, code in enumerate(sites):
        stage = sorted(float(v) for v, _ in sources[k % len(sources)].values["00065"])
        hover = args.hover_every > 0 and k % args.hover_every == 0
        blue = stage[len(stage) // 2] if hover else round(stage[-1] + 2, 2)
        rules.append(
            {
                "id": f"stage-{code}",
                "station": code,
                "parameter": "stage",
                "unit": "ft",
                "levels": [
                    {"level": "blue", "value": blue},
                    {"level": "yellow", "value": round(blue + 2, 2)},
                    {"level": "orange", "value": round(blue + 4, 2)},
                ],
                "deadband": 0.01 if hover else 0.5,
                "escalation": "default",
            }
        )
    feed: dict[str, Any] = {
        "name": "usgs",
        "type": "usgs_iv",
        "interval": f"{args.interval}s",
        "sites": sites,
        "parameters": list(PARAMETERS),
        "base_url": f"{base_url}/nwis/iv/",
        "sites_per_request": args.sites_per_request,
        "timeout": 10,
    }
    if args.period:
        feed["period"] = args.period
    settings: dict[str, Any] = {
        "version": 1,
        "office": "benchmark",
        "timezone": "Asia/Shanghai",
        "database": f"sqlite:///{directory / 'floodwatch.db'}",
        "rosters": [str(ROSTER)],
        "stations": [
            {"id": code, "name": f"benchmark gauge {code}", "expect_every": "15m"} for code in sites
        ],
        "feeds": [feed],
        "rules": rules,
        # the leader is called after 6 h: no escalation page falls inside a run
        "escalation": {
            "default": {"steps": [{"notify": ["officer"]}, {"after": "6h", "notify": ["leader"]}]}
        },
        "notifiers": [{"name": "bench", "type": "jsonl", "path": "pages.jsonl"}],
    }
    if not args.real:
        settings["clock"] = {"start": start.isoformat(), "speed": args.speed}
    path = directory / "floodwatch.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


class RecordingNotifier:
    """Takes every page at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent = 0

    def address_for(self, person: Person) -> str | None:
        return person.phone or person.id

    def send(self, message: Message) -> DeliveryResult:
        self.sent += 1
        return DeliveryResult(Outcome.DELIVERED)


class GcTimer:
    """Seconds the garbage collector ran, per thread (gc.callbacks): a poll's collections run in
    the poll thread and count in its CPU time."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self._began: dict[int, float] = {}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        tid = threading.get_ident()
        if phase == "start":
            self._began[tid] = time.perf_counter()
        elif tid in self._began:
            spent = time.perf_counter() - self._began.pop(tid)
            self.seconds[tid] = self.seconds.get(tid, 0.0) + spent

    def here(self) -> float:
        return self.seconds.get(threading.get_ident(), 0.0)


GC = GcTimer()


@dataclass
class Poll:
    """One run of the poll job, timed from outside floodwatch."""

    started: datetime  # wall clock, when Service.poll was entered
    t0: float  # perf_counter at entry
    process_cpu0: float  # process CPU at entry (all threads)
    wall: float = 0.0  # Service.poll, seconds
    cpu: float = 0.0  # the poll thread's CPU in Service.poll
    fetch_wall: float = 0.0
    fetch_cpu: float = 0.0
    ingest_wall: float = 0.0
    ingest_cpu: float = 0.0
    gc: float = 0.0  # garbage collection in the poll thread during Service.poll
    fetch_gc: float = 0.0
    ingest_gc: float = 0.0
    readings: int = 0
    result: StepResult = field(default_factory=StepResult)
    scheduled: datetime | None = None  # from APScheduler's job event

    @property
    def lag(self) -> float:
        assert self.scheduled is not None
        return (self.started - self.scheduled).total_seconds()


class TimedService(Service):
    """The real Service; `poll` is timed around, `fetch` and `ingest` on their instances."""

    def __init__(self, app: App, polls_wanted: int) -> None:
        super().__init__(app)
        self.polls: list[Poll] = []
        self.schedule: list[datetime] = []
        self.skipped: list[str] = []  # missed runs, runs refused because one was running
        self.done = threading.Event()
        self._wanted = polls_wanted
        self._current: Poll | None = None
        for feed in app.feeds.values():
            feed.fetch = self._timed_fetch(feed)  # type: ignore[assignment]
        ingest = self.pipeline.ingest

        def timed_ingest(
            readings: Sequence[Reading], now: datetime, feed: str | None = None
        ) -> StepResult:
            t, c, g = time.perf_counter(), time.thread_time(), GC.here()
            result = ingest(readings, now, feed=feed)
            if self._current is not None:
                self._current.ingest_wall = time.perf_counter() - t
                self._current.ingest_cpu = time.thread_time() - c
                self._current.ingest_gc = GC.here() - g
                self._current.result = result
            return result

        self.pipeline.ingest = timed_ingest  # type: ignore[method-assign]
        from apscheduler.events import (
            EVENT_JOB_ERROR,
            EVENT_JOB_EXECUTED,
            EVENT_JOB_MAX_INSTANCES,
            EVENT_JOB_MISSED,
        )

        def listen(event: Any) -> None:
            if event.job_id != JOB:
                return
            if event.code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR):
                self.schedule.append(event.scheduled_run_time)
            elif event.code == EVENT_JOB_MISSED:
                self.skipped.append(f"missed {event.scheduled_run_time}")
            else:
                self.skipped.append(f"still running at {event.scheduled_run_times}")

        self.scheduler.add_listener(
            listen,
            EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES,
        )

    def _timed_fetch(self, feed: Feed) -> Callable[[datetime], list[Reading]]:
        fetch = feed.fetch

        def timed(now: datetime) -> list[Reading]:
            t, c, g = time.perf_counter(), time.thread_time(), GC.here()
            readings = fetch(now)
            if self._current is not None:
                self._current.fetch_wall = time.perf_counter() - t
                self._current.fetch_cpu = time.thread_time() - c
                self._current.fetch_gc = GC.here() - g
                self._current.readings = len(readings)
            return readings

        return timed

    def poll(self, feed: Feed) -> None:
        if self.done.is_set():
            return  # the run is over; the service is being stopped
        p = Poll(datetime.now(UTC), time.perf_counter(), time.process_time())
        c, g = time.thread_time(), GC.here()
        self._current = p
        try:
            super().poll(feed)
        finally:
            p.wall = time.perf_counter() - p.t0
            p.cpu = time.thread_time() - c
            p.gc = GC.here() - g
            self._current = None
            self.polls.append(p)
            if len(self.polls) >= self._wanted:
                self.done.set()


# -- baseline ----------------------------------------------------------------------------------


@dataclass
class Fetch:
    wall: float  # 20 GETs, bodies read
    cpu: float
    decode_cpu: float  # json.loads of the bodies
    size: int
    gc: float  # garbage collection during the round


def baseline_round(
    session: requests.Session, base_url: str, sites: list[str], args: argparse.Namespace
) -> Fetch:
    """The same GETs as the feed sends, with a plain requests.Session; bodies read, then
    decoded with json.loads (the floor any consumer of this API pays)."""
    n = args.sites_per_request
    bodies = []
    t, c, g = time.perf_counter(), time.thread_time(), GC.here()
    for i in range(0, len(sites), n):
        params = {
            "format": "json",
            "sites": ",".join(sites[i : i + n]),
            "parameterCd": ",".join(PARAMETERS),
        }
        if args.period:
            params["period"] = args.period
        response = session.get(
            f"{base_url}/nwis/iv/", params=params, headers={"Accept": "application/json"}
        )
        response.raise_for_status()
        bodies.append(response.content)
    wall, cpu = time.perf_counter() - t, time.thread_time() - c
    c = time.thread_time()
    for body in bodies:
        json.loads(body)
    decode = time.thread_time() - c
    return Fetch(wall, cpu, decode, sum(map(len, bodies)), GC.here() - g)


def baseline(base_url: str, sites: list[str], args: argparse.Namespace) -> list[Fetch]:
    with requests.Session() as session:
        baseline_round(session, base_url, sites, args)  # connect, warm up; not counted
        return [baseline_round(session, base_url, sites, args) for _ in range(args.baseline)]


# -- report ----------------------------------------------------------------------------------


class LogCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(f"{record.levelname} {record.name}: {record.getMessage()[:200]}")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*headers), line, *(fmt.format(*r) for r in rows)])


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile, nearest rank."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ms(x: float) -> str:
    return f"{x * 1000:,.0f}" if x >= 0.01 else f"{x * 1000:.1f}"


def spread(label: str, values: Sequence[float]) -> list[str]:
    return [label, ms(statistics.median(values)), ms(pct(values, 95)), ms(max(values))]


# -- main --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--stations", type=int, default=2000)
    p.add_argument("--minutes", type=int, default=None, help="poll intervals measured (30; 4)")
    p.add_argument("--speed", type=float, default=20.0, help="demo clock: simulated s per real s")
    p.add_argument("--real", action="store_true", help="wall clock: real 60 s intervals")
    p.add_argument("--interval", type=int, default=60, help="poll interval, simulated seconds")
    p.add_argument("--sites-per-request", type=int, default=100)
    p.add_argument("--period", default=None, help="ask for a look-back such as PT2H")
    p.add_argument("--hover-every", type=int, default=20, help="every k-th station hovers at blue")
    p.add_argument("--baseline", type=int, default=10, help="baseline rounds before and after")
    p.add_argument("--per-poll", action="store_true", help="print every poll")
    p.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() the built app before it starts"
    )
    p.add_argument(
        "--drop-yaml-nodes",
        action="store_true",
        help="diagnostic: empty the YAML node cache floodwatch.yamlsource keeps after loading",
    )
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--serve-start", help=argparse.SUPPRESS)
    p.add_argument("--serve-origin", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        return serve(args)
    if args.real:
        args.speed = 1.0
    if args.minutes is None:
        args.minutes = 4 if args.real else 30
    if not FIXTURE.is_file():
        print(f"no fixture at {FIXTURE}; set FLOODWATCH_SHARED")
        return 0

    counter = LogCounter()
    gc.callbacks.append(GC)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(counter)

    sites = site_codes(args.stations)
    launch = datetime.now(UTC)
    start = launch if args.real else DEMO_START
    real_interval = args.interval / args.speed
    print(
        f"floodwatch feed benchmark -- Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    requests_per_poll = math.ceil(args.stations / args.sites_per_request)
    clock = (
        "wall clock (--real)"
        if args.real
        else f"demo clock x{args.speed:g}: {args.interval} simulated s = {real_interval:g} real s"
    )
    print(
        f"{args.stations} USGS sites, {args.sites_per_request} per request "
        f"({requests_per_poll} GETs per poll), every {args.interval} s on the {clock}; "
        f"{args.minutes} intervals measured"
    )
    server = ServerProcess(args.stations, start, args.speed, launch)
    try:
        before = baseline(server.url, sites, args)
        run = run_service(args, sites, server, start)
        gc.collect()  # the app is released (not the YAML nodes yamlsource keeps: see README)
        after = baseline(server.url, sites, args)
    finally:
        server.stop()
    report(args, run, before, after, counter)
    return 0


@dataclass
class Run:
    """What the service run left for the report (the app itself is released)."""

    polls: list[Poll]
    skipped: list[str]
    finished: bool
    pages: int
    objects: int  # objects the garbage collector tracks once the app is built
    server_cpu: float
    served: int


def run_service(
    args: argparse.Namespace, sites: list[str], server: ServerProcess, start: datetime
) -> Run:
    """Build the app from a config in a temporary directory, run the Service until it has
    polled --minutes + 1 times (or a deadline passes), stop it."""
    real_interval = args.interval / args.speed
    with tempfile.TemporaryDirectory(prefix="floodwatch-bench-feeds-") as d:
        config = write_config(Path(d), sites, server.url, args, start)
        t = time.perf_counter()
        notifier = RecordingNotifier("bench")
        app = build_app(config, notifiers={"bench": notifier})
        app.db.upgrade()
        service = TimedService(app, args.minutes + 1)
        if args.drop_yaml_nodes:
            # yamlsource's module-level SafeLoader remembers every scalar node it constructed
            # (PyYAML's constructed_objects, emptied only by construct_document)
            cache = getattr(getattr(yamlsource, "_constructor", None), "constructed_objects", {})
            print(f"--drop-yaml-nodes: {len(cache):,} YAML nodes released")
            cache.clear()
        gc.collect()
        objects = len(gc.get_objects())
        print(
            f"config of {args.stations} stations and rules loaded in "
            f"{time.perf_counter() - t:.1f} s; the GC tracks {objects:,} objects"
            + ("; frozen (--gc-freeze)" if args.gc_freeze else "")
        )
        if args.gc_freeze:
            gc.freeze()
        server_cpu0 = server.stats()["cpu"]
        if not args.real:  # the service rebases its demo clock to the instant it starts
            server.set_origin(datetime.now(UTC))
        service.start()
        origin = getattr(app.clock, "origin", None)
        if isinstance(origin, datetime):
            server.set_origin(origin)
        deadline = (args.minutes + 1) * real_interval * 1.5 + 60
        finished = service.done.wait(deadline)
        service.stop()
        gc.unfreeze()
        stats = server.stats()
    for poll, scheduled in zip(service.polls, service.schedule, strict=False):
        poll.scheduled = scheduled
    return Run(
        service.polls,
        service.skipped,
        finished,
        notifier.sent,
        objects,
        stats["cpu"] - server_cpu0,
        int(stats["requests"]),
    )


def report(
    args: argparse.Namespace,
    run: Run,
    before: list[Fetch],
    after: list[Fetch],
    counter: LogCounter,
) -> None:
    polls = run.polls
    fetches = before + after
    if not run.finished:
        print(f"\nSTOPPED at the deadline with {len(polls)} of {args.minutes + 1} polls")
    if len(polls) < 3:
        print("too few polls to report")
        return
    first, steady = polls[0], polls[1:]
    timed = [q for q in steady if q.scheduled is not None]
    real_interval = args.interval / args.speed
    gets = math.ceil(args.stations / args.sites_per_request)
    clock = "" if args.real else f" = {real_interval:g} real s"

    print(
        f"\n1. poll lag, real time (interval {args.interval} s{clock}); {len(steady)} polls, "
        f"the first (every reading new) apart\n"
    )
    rows = [
        spread("start lag: scheduled -> Service.poll", [q.lag for q in timed]),
        spread(f"fetch: {gets} GETs + WaterML-JSON parse", [q.fetch_wall for q in steady]),
        spread("ingest: store + evaluate + alerts", [q.ingest_wall for q in steady]),
        spread("whole poll: fetch + ingest", [q.wall for q in steady]),
        spread("scheduled -> readings stored", [q.lag + q.wall for q in timed]),
        spread(f"baseline: the same {gets} GETs, requests", [f.wall for f in fetches]),
    ]
    print(table(["", "p50 ms", "p95 ms", "max ms"], rows))
    longest = max(q.wall for q in polls)
    print(
        f"\nfirst poll: start lag {ms(first.lag) if first.scheduled else '-'} ms, fetch "
        f"{ms(first.fetch_wall)} ms, ingest {ms(first.ingest_wall)} ms "
        f"({first.result.stored:,} new readings, {first.result.changes} crossings)"
    )
    print(
        f"longest poll {longest:.2f} s = {longest / args.interval:.1%} of the {args.interval} s "
        f"interval" + ("" if args.real else f" ({longest / real_interval:.0%} of {clock[3:]})")
    )
    print(
        f"poll runs missed or skipped (one still running): {len(run.skipped)}"
        + (f": {run.skipped[:3]}" if run.skipped else "")
    )

    # CPU: between the starts of consecutive polls, the minute after the cold first poll apart
    minutes = [
        (b.process_cpu0 - a.process_cpu0, b.t0 - a.t0)
        for a, b in zip(polls[1:], polls[2:], strict=False)
    ]
    cpu_min = statistics.median(c for c, _ in minutes)
    total_cpu, total_wall = sum(c for c, _ in minutes), sum(w for _, w in minutes)
    get_cpu = statistics.median(f.cpu for f in fetches)
    json_cpu = statistics.median(f.cpu + f.decode_cpu for f in fetches)

    def row(label: str, cpu: float, collect: float | None) -> list[str]:
        return [
            label,
            ms(cpu),
            "-" if collect is None else ms(collect),
            f"{cpu / args.interval:.2%}",
            f"{cpu / get_cpu:.1f}",
            f"{cpu / json_cpu:.1f}",
        ]

    print(
        f"\n2. CPU of the floodwatch process, medians (the HTTP server is another process: it "
        f"used {run.server_cpu:.1f} s, not counted)\n"
    )
    med = statistics.median
    rows = [
        row(f"baseline: the same {gets} GETs, requests", get_cpu, None),
        row("baseline: GETs + json.loads", json_cpu, med(f.gc for f in fetches)),
        row("poll: fetch (GETs, JSON, WaterML parse)",
            med(q.fetch_cpu for q in steady), med(q.fetch_gc for q in steady)),
        row("poll: ingest (store, evaluate, alerts)",
            med(q.ingest_cpu for q in steady), med(q.ingest_gc for q in steady)),
        row("poll: whole, poll thread", med(q.cpu for q in steady), med(q.gc for q in steady)),
        row("process: a simulated minute, all jobs", cpu_min, None),
    ]  # fmt: skip
    heads = [
        "", "CPU ms", "of which GC", f"of one core per {args.interval} s", "x GETs", "x GETs+JSON"
    ]  # fmt: skip
    print(table(heads, rows))
    worst = max(c for c, _ in minutes)
    print(
        f"\nCPU share, process CPU / wall over {len(minutes)} intervals: {total_cpu:.1f} s / "
        f"{total_wall:.1f} s = {total_cpu / total_wall:.1%} of one core"
    )
    if not args.real:
        print(
            f"  (the demo clock compresses each simulated minute into {real_interval:g} real s; "
            f"at the real {args.interval} s interval that CPU is {cpu_min / args.interval:.2%} "
            f"of one core, median minute, {worst / args.interval:.2%} the worst)"
        )
    else:
        print(f"  median minute {cpu_min / args.interval:.2%}, worst {worst / args.interval:.2%}")

    new = statistics.median(q.result.stored for q in steady)
    dup = statistics.median(q.result.duplicates for q in steady)
    size = statistics.median(f.size for f in fetches)
    print(
        f"\nper poll (median): {statistics.median(q.readings for q in steady):,.0f} readings "
        f"parsed, {new:,.0f} new, {dup:,.0f} already stored; {size / 1e6:.1f} MB of "
        f"WaterML-JSON in {gets} answers. Whole run: "
        f"{sum(q.result.changes for q in polls)} crossings, {run.pages} pages delivered, "
        f"{run.served} requests served"
    )
    print(f"log lines at WARNING or above: {counter.count}")
    for line in counter.first:
        print(f"  {line}")
    if args.per_poll:
        print()
        rows = []
        for i, q in enumerate(polls):
            nxt = polls[i + 1] if i + 1 < len(polls) else None
            minute = (nxt.process_cpu0 - q.process_cpu0) if nxt else None
            rows.append(
                [
                    str(i),
                    ms(q.lag) if q.scheduled else "-",
                    ms(q.fetch_wall),
                    ms(q.ingest_wall),
                    ms(q.cpu),
                    ms(q.gc),
                    ms(minute) if minute is not None else "-",
                    f"{q.result.stored}",
                    f"{q.result.duplicates}",
                    f"{q.result.changes}",
                ]
            )
        heads = [
            "poll", "lag ms", "fetch ms", "ingest ms", "poll CPU ms", "GC ms",
            "minute CPU ms", "new", "repeated", "crossings",
        ]  # fmt: skip
        print(table(heads, rows))


if __name__ == "__main__":
    sys.exit(main())
