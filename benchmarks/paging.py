"""Paging benchmark (issue 9): floodwatch's delivery path against Apprise, and the makespan of a
fan-out under the providers' rate limits.

Every far end is `benchmarks/sinks.py`: one asyncio process on 127.0.0.1 (its own interpreter,
so it neither shares floodwatch's GIL nor counts as floodwatch's CPU), HTTP/1.1 with keep-alive
for webhooks, Apprise, Twilio's REST API and the DingTalk and WeCom robots, aiosmtpd for mail.
Times on both sides are `time.monotonic()` (CLOCK_MONOTONIC, the same clock in every process).

1. Overhead against Apprise. One ingest opens --pages / --people alerts at once, each paging the
   --people village heads on duty through one `webhook` notifier: that writes --pages pages to the
   outbox in the ingest's transaction (its time is shown apart). The real `Service` (APScheduler,
   woken by `pages_written` after the commit) then delivers them: its dispatcher claims what the
   webhook lane admits, the lane's worker threads (--concurrency, the webhook's `concurrency`
   option: 32 POSTs at once, as an office would set it for a fan-out to a receiver that answers
   fast; one more run with the default, 8, is shown) POST each page to the sink, and every attempt
   is a delivery row written before the POST and completed after it, with a `page_sent` event and
   its duty-log entry, as in production. Measured from the first POST arriving at the sink to the
   last outcome committed (the lane worker's `sent` call, made after `_record` commits), on SQLite
   in WAL mode in a temporary directory, and on PostgreSQL at 127.0.0.1:5432 (a fresh database,
   dropped afterwards) when one answers. Baseline, same run, same sink: the same number of
   messages, with the pages' subjects and texts, sent by Apprise itself: one `Apprise` object with
   one ``json://127.0.0.1:PORT/apprise`` URL, its own `notify()` called once per message in one
   thread, from the first call to the last return. floodwatch on SQLite and Apprise run --repeats
   times, interleaved; the best run of each counts. Figure: floodwatch's pages/s / Apprise's
   messages/s (target >= 3). For reference, not as the baseline: Apprise's `notify()` from
   --concurrency threads sharing the object (the webhook lane's concurrency), and the HTTP floor
   (one `requests.Session` with keep-alive POSTing the same texts in one thread). Where a page's
   time goes: the dispatcher's `_claim` and `_record`, the notifier's `send` and the service's
   `_hand_over` are wrapped on their instances (calls, wall time, CPU time of the calling thread);
   APScheduler's "skipped: maximum number of running instances reached" warnings are counted.
   --profile runs the SQLite row and Apprise under py-spy instead.

2. Makespan under provider limits. One ingest opens 7 alerts, each paging one group of people
   on one channel: --sms-senders x --sms-per-sender SMS through `twilio_sms` (the numbers are
   chosen so that its own choice of sender gives each From number the same count, and
   shuffled), --calls calls through `twilio_voice`, --robot-pages pages for each of two
   DingTalk robots and one WeCom robot, --mails e-mails, and webhooks for the rest of --total.
   `web.public_url` is set, so SMS and calls carry reply codes and status callbacks. Twilio's
   SDK is real; its HTTP client is replaced (`build_app(..., twilio_http=...)`) by one that
   sends the SDK's request to the sink instead of api.twilio.com. Each sink enforces its
   provider's limit (SMS 1/s per From number, calls 1/s per account, robots 20 in any 60 s)
   and refuses what goes over it, as the provider does. Figure: from the first request
   arriving at any sink to the last one accepted, divided by the least time the limits allow
   for these pages (the busiest SMS sender's n pages need (n - 1) s after its first; the calls
   likewise; a robot's pages fit in its first 20 messages when the surplus is folded into a
   digest; e-mail and webhooks have no limit). Pages still waiting at --deadline make the
   makespan a lower bound: the time of floodwatch's next attempt at them. Target <= 1.1, and
   no request over a limit. To explain the figure, the SMS and voice lanes' `admit` and the
   dispatcher's `_admit` are wrapped on their instances: when each token was taken, and which
   senders a claim passed over.

   2b. The robots' limit over time: a second alert --wave-gap s after the first pages the same
   robots again (the first alert's pages used up the 20 messages). Reported: what floodwatch
   sent within the minute, what the sinks refused, and what became of the pages (they wait
   for the robot's minute and go as one digest; --wave-watch s after the second alert).

Run from the repository root:  .venv/bin/python benchmarks/paging.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests
import yaml
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sinks import ROBOT_PER, ROBOT_RATE, SinkProcess  # noqa: E402
from twilio.http import HttpClient  # type: ignore[import-untyped]  # noqa: E402
from twilio.http.response import Response  # type: ignore[import-untyped]  # noqa: E402

from floodwatch import logmask  # noqa: E402
from floodwatch.app import App, build_app  # noqa: E402
from floodwatch.notify.channels.twilio_common import TwilioChannel  # noqa: E402
from floodwatch.notify.channels.webhook import WebhookNotifier  # noqa: E402
from floodwatch.readings import Reading  # noqa: E402
from floodwatch.service import Service  # noqa: E402
from floodwatch.store.models import DeliveryRow, EventRow, PageRow  # noqa: E402

POSTGRES = os.environ.get(
    "FLOODWATCH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
SMS_SENDERS = [f"+1500555{n:04d}" for n in range(1, 21)]
CALLER = "+15005550100"
PUBLIC_URL = "https://floodwatch.example.org/fw"
SECRETS = {
    "TWILIO_AUTH_TOKEN": "bench-twilio-token-0001",
    "DING_A_TOKEN": "ding-a-token",
    "DING_B_TOKEN": "ding-b-token",
    "WECOM_KEY": "wecom-key-0001",
}
FINAL = ("accepted", "delivered", "failed", "unknown")

log = logging.getLogger("paging-benchmark")
DEFAULT_CONCURRENCY = WebhookNotifier.capabilities.concurrency


# -- a config and a roster for floodwatch --------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """People paged together on one channel: one role on duty, one station whose alert pages
    it, one escalation policy over that channel."""

    name: str
    channel: str
    people: list[dict[str, Any]]


def write_roster(path: Path, groups: Sequence[Group]) -> Path:
    """Every group a role whose whole membership is on duty at once."""
    roster = {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "roles": [{"id": g.name, "name": g.name} for g in groups],
        "people": [p for g in groups for p in g.people],
        "rotations": [
            {
                "role": g.name,
                "members": [p["id"] for p in g.people],
                "per_shift": len(g.people),
                "anchor": "2026-01-01",
            }
            for g in groups
        ],  # fmt: skip
    }
    path.write_text(yaml.safe_dump(roster, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_config(
    directory: Path, stations: Sequence[tuple[str, Group]], notifiers: list[dict[str, Any]],
    roster: Path, *, web: bool,
) -> Path:  # fmt: skip
    """One station per (station id, group): the demo's threshold rule (18/20/25 ft), whose
    alert pages the group's role over the group's channel at once."""
    groups = {g.name: g for _, g in stations}
    settings: dict[str, Any] = {
        "version": 1,
        "office": "paging benchmark",
        "timezone": "Asia/Shanghai",
        "database": f"sqlite:///{directory / 'floodwatch.db'}",
        "rosters": [str(roster)],
        "stations": [{"id": sid, "name": f"gauge {sid}"} for sid, _ in stations],
        "feeds": [],
        "rules": [
            {
                "id": f"stage-{sid}",
                "station": sid,
                "parameter": "stage",
                "unit": "ft",
                "levels": [
                    {"level": "blue", "value": 18},
                    {"level": "yellow", "value": 20},
                    {"level": "orange", "value": 25},
                ],
                "deadband": 1.0,
                "hold": "1h",
                "escalation": g.name,
            }
            for sid, g in stations
        ],  # fmt: skip
        "escalation": {
            name: {"steps": [{"notify": [name], "channels": [g.channel]}]}
            for name, g in groups.items()
        },
        "notifiers": notifiers,
        "silence": {"escalation": stations[0][1].name},  # no station here expects readings
    }
    if web:  # SMS and calls then carry reply codes and status callbacks, as in production
        settings["web"] = {"listen": "127.0.0.1:8080", "public_url": PUBLIC_URL}
    path = directory / "floodwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def crossing(stations: Sequence[str], now: datetime) -> list[Reading]:
    """One reading per station, above its blue level: each opens an alert."""
    return [Reading(s, "stage", 21.0, "ft", now - timedelta(minutes=1)) for s in stations]


class LoopbackTwilio(HttpClient):  # type: ignore[misc]
    """The SDK's HTTP client, sending what it would send to api.twilio.com to the sink."""

    def __init__(self, base: str) -> None:
        super().__init__(log, is_async=False, timeout=None)
        self.base = base
        self._local = threading.local()

    def request(
        self, method: str, uri: str, params: Any = None, data: Any = None, headers: Any = None,
        auth: Any = None, timeout: float | None = None, allow_redirects: bool = False,
    ) -> Response:  # fmt: skip
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        url = self.base + uri.split("api.twilio.com", 1)[1]
        answer = session.request(
            method, url, params=params, data=data, headers=headers, auth=auth, timeout=timeout,
            allow_redirects=allow_redirects,
        )  # fmt: skip
        return Response(answer.status_code, answer.text, answer.headers)


class TimedService(Service):
    """The real service, noting when its lane workers have finished `expected` sends (each
    worker calls `sent`, i.e. `wake`, after the outcome is committed)."""

    def __init__(self, app: App, expected: int) -> None:
        self.expected = expected
        self.sends = 0
        self.last: float | None = None
        self.finished = threading.Event()
        self._count = threading.Lock()
        super().__init__(app)

    def wake(self) -> None:
        if threading.current_thread().name.startswith("lane-"):
            with self._count:
                self.sends += 1
                if self.sends == self.expected:
                    self.last = time.monotonic()
                    self.finished.set()
        super().wake()


class Commits:
    """The `pages_written` hook's calls: right after the ingest's commit."""

    def __init__(self) -> None:
        self.at: list[float] = []
        self.cpu: list[float] = []  # the process's CPU time then

    def __call__(self) -> None:
        self.at.append(time.monotonic())
        self.cpu.append(time.process_time())


class Breakdown:
    """Calls, wall time and CPU time (of the calling thread) of some methods, wrapped on their
    instances from outside: where a page's time goes, without a profiler's overhead."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.wall: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def wrap(self, obj: Any, method: str, label: str, count: Any = None) -> None:
        inner = getattr(obj, method)

        def timed(*a: Any, **kw: Any) -> Any:
            w, c = time.perf_counter(), time.thread_time()
            out = inner(*a, **kw)
            c, w = time.thread_time() - c, time.perf_counter() - w
            with self._lock:
                self.calls[label] += 1
                self.wall[label] += w
                self.cpu[label] += c
                if count is not None:
                    self.items[label] += count(out)
            return out

        setattr(obj, method, timed)


class SkippedRuns(logging.Filter):
    """APScheduler's "skipped: maximum number of running instances reached" warnings about the
    dispatch job: counted, and kept off the console."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances reached" in record.getMessage():
            self.count += 1
            return False
        return True


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"floodwatch-bench-{prefix}-") as d:
        yield Path(d)


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database on the server at 127.0.0.1:5432, dropped afterwards (None: none)."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"floodwatch_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL row
        print(f"  (no PostgreSQL row: {str(exc).splitlines()[0]})")
        admin.dispose()
        yield None
        return
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def statuses(app: App) -> Counter[str]:
    with app.db.sessions() as session:
        rows = session.execute(select(PageRow.status, func.count()).group_by(PageRow.status))
        return Counter({status: int(n) for status, n in rows})


# -- 1. overhead against Apprise ----------------------------------------------------------------


@dataclass
class Run:
    label: str
    messages: int
    seconds: float  # first send -> last outcome (floodwatch) / first call -> last return
    received: int
    sink_cpu: float
    cpu: float  # this process's CPU over the timed part (floodwatch: from the commit)
    write_s: float | None = None  # floodwatch: the ingest that wrote the pages
    write_cpu: float | None = None
    to_first_s: float | None = None  # floodwatch: commit -> first POST at the sink
    duplicates: int = 0
    note: str = ""
    breakdown: Breakdown | None = None
    skipped: int = 0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def floodwatch_run(
    label: str, sink: SinkProcess, pages: int, people: int, database_url: str | None,
    profile: Path | None = None, py_spy: str | None = None, gil: bool = True,
    concurrency: int | None = None,
) -> tuple[Run, list[tuple[str, str]]]:  # fmt: skip
    """Write `pages` pages with one ingest, let the service deliver them; the run and the
    pages' (subject, body)."""
    alerts = pages // people
    heads = Group(
        "heads", "hook", [{"id": f"head.{i:04d}", "name": f"村{i:04d}"} for i in range(people)]
    )
    with scratch("overhead") as d:
        roster = write_roster(d / "roster.yaml", [heads])
        hook = {"name": "hook", "type": "webhook", "url": f"{sink.url}/hook/fw", "timeout": "10s"}
        if concurrency is not None:  # else the webhook's default
            hook["concurrency"] = concurrency
        stations = [(f"ST{k:03d}", heads) for k in range(alerts)]
        config = write_config(d, stations, [hook], roster, web=False)
        app = build_app(config, database_url=database_url)
        commits = Commits()
        app.pages_written.connect(commits)
        service = TimedService(app, expected=alerts * people)
        breakdown = Breakdown()
        if profile is None:  # under py-spy, nothing of ours in the way
            dispatcher = service.dispatcher
            breakdown.wrap(dispatcher, "_claim", "claim (Dispatcher._claim)", len)
            breakdown.wrap(dispatcher, "_record", "record (Dispatcher._record)")
            breakdown.wrap(app.notifiers["hook"], "send", "POST (WebhookNotifier.send)")
            breakdown.wrap(service, "_hand_over", "Service._hand_over (claim included)")
        skipped = SkippedRuns()
        logging.getLogger("apscheduler.scheduler").addFilter(skipped)
        service.start()
        spy = None
        try:
            sink.reset()
            now = app.clock.now()
            t = time.monotonic()
            if profile is not None and py_spy is not None:
                spy = start_py_spy(py_spy, profile, gil)
            sink_cpu = sink.stats()["cpu"]
            cpu0 = time.process_time()
            result = service.pipeline.ingest(crossing([s for s, _ in stations], now), now, "bench")
            if result.pages != alerts * people:
                raise SystemExit(f"{label}: {result.pages} pages written, not {alerts * people}")
            if not service.finished.wait(timeout=600):
                raise SystemExit(f"{label}: {service.sends} of {result.pages} sent in 600 s")
            cpu = time.process_time()
            if spy is not None:
                stop_py_spy(spy)
            assert service.last is not None
            stats = sink.stats()
            got = statuses(app)
            with app.db.sessions() as session:
                open_attempts = session.scalar(
                    select(func.count()).where(DeliveryRow.outcome.is_(None))
                )
                sent_events = session.scalar(
                    select(func.count()).where(EventRow.type == "page_sent")
                )
                texts = [(s, b) for s, b in session.execute(
                    select(PageRow.subject, PageRow.body).order_by(PageRow.id))]  # fmt: skip
        finally:
            if spy is not None and spy.poll() is None:
                stop_py_spy(spy)
            service.stop()
            logging.getLogger("apscheduler.scheduler").removeFilter(skipped)
    arrivals = [a for a, _ in stats["hooks"]]
    keys = Counter(k for _, k in stats["hooks"])
    first = min(arrivals)
    if got != Counter({"accepted": pages}) or open_attempts or sent_events != pages:
        raise SystemExit(f"{label}: pages {dict(got)}, attempts without an outcome "
                         f"{open_attempts}, page_sent events {sent_events}")  # fmt: skip
    run = Run(
        label, pages, service.last - first, len(arrivals), stats["cpu"] - sink_cpu,
        cpu - commits.cpu[0], write_s=commits.at[0] - t, write_cpu=commits.cpu[0] - cpu0,
        to_first_s=first - commits.at[0],
        duplicates=sum(n - 1 for n in keys.values()), breakdown=breakdown, skipped=skipped.count,
    )  # fmt: skip
    return run, texts


def apprise_run(
    label: str, sink: SinkProcess, texts: Sequence[tuple[str, str]], threads: int
) -> Run:
    """Apprise's own notify(), one call per message, one Apprise object reused."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(f"json://127.0.0.1:{sink.http_port}/apprise"):
        raise SystemExit("Apprise refused the json:// URL")
    sink.reset()
    before = sink.stats()["cpu"]
    cpu = time.process_time()
    t = time.monotonic()
    if threads == 1:
        ok = sum(bool(sender.notify(body=body, title=subject)) for subject, body in texts)
    else:
        with ThreadPoolExecutor(threads) as pool:
            ok = sum(pool.map(lambda sb: bool(sender.notify(body=sb[1], title=sb[0])), texts))
    seconds = time.monotonic() - t
    cpu = time.process_time() - cpu
    stats = sink.stats()
    received = len(stats["plain"].get("/apprise", []))
    note = "" if ok == len(texts) else f"{len(texts) - ok} notify() calls failed"
    return Run(label, ok, seconds, received, stats["cpu"] - before, cpu, note=note)


def http_floor(sink: SinkProcess, texts: Sequence[tuple[str, str]]) -> Run:
    """The same bodies POSTed with one requests.Session (keep-alive), one thread."""
    import json

    bodies = [
        json.dumps({"subject": s, "body": b}, ensure_ascii=False).encode("utf-8") for s, b in texts
    ]
    headers = {"Content-Type": "application/json; charset=utf-8"}
    sink.reset()
    before = sink.stats()["cpu"]
    cpu = time.process_time()
    t = time.monotonic()
    with requests.Session() as session:
        ok = sum(
            session.post(f"{sink.url}/raw", data=body, headers=headers, timeout=10).ok
            for body in bodies
        )
    seconds = time.monotonic() - t
    cpu = time.process_time() - cpu
    stats = sink.stats()
    received = len(stats["plain"].get("/raw", []))
    return Run("HTTP floor: requests.Session, keep-alive, 1 thread", ok, seconds, received,
               stats["cpu"] - before, cpu)  # fmt: skip


# -- profiling (py-spy) ---------------------------------------------------------------------------


def start_py_spy(py_spy: str, out: Path, gil: bool = True) -> subprocess.Popen[bytes]:
    """py-spy sampling this process into raw folded stacks: the thread holding the GIL (the
    Python work), or (`gil` False) every thread py-spy finds at work, which includes C code
    running without the GIL (SQLite's) and waits it cannot tell from work (SQLite's busy
    handler waiting for the write lock)."""
    cmd = [py_spy, "record", "--pid", str(os.getpid()), "--nonblocking", "--rate", "250",
           "--format", "raw", "--output", str(out), *(["--gil"] if gil else [])]  # fmt: skip
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # it attaches
    return spy


def stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()


FLOODWATCH_PHASES = (
    ("outbox write (Pipeline.ingest, main thread)", "Pipeline.ingest ("),
    ("claim (Dispatcher._claim)", "Dispatcher._claim ("),
    ("record the outcome (Dispatcher._record)", "Dispatcher._record ("),
    ("POST (WebhookNotifier.send)", "WebhookNotifier.send ("),
    ("wake-ups and hand-over (Service, APScheduler)", "floodwatch/service.py"),
    ("wake-ups and hand-over (Service, APScheduler)", "apscheduler/"),
)
APPRISE_PHASES = (
    ("HTTP (requests.request: a new session and connection each call)", "request (requests/api.py"),
    ("Apprise's notify() around it", "apprise/"),
)


def summarise_profile(path: Path, phases: Sequence[tuple[str, str]], ours: str,
                      skip: str | None = None, top: int = 14) -> str:  # fmt: skip
    """Samples by phase (the first of `phases` whose marker is on the stack), then, leaving
    out the stacks holding `skip`, by the deepest frame of our code (`ours`) and by the
    function that held the GIL itself."""
    by_phase: Counter[str] = Counter()
    deepest: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = kept = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        by_phase[next((label for label, mark in phases if mark in stack), "other")] += n
        if skip is not None and skip in stack:
            continue
        kept += n
        frames = [_frame(f) for f in stack.split(";")]
        mine = [f for f in frames if ours in f]
        deepest[mine[-1] if mine else frames[-1]] += n
        own[frames[-1]] += n
    if not total:
        return "  (no samples)"
    lines = [f"  {total} samples, by phase:"]
    lines += [f"    {n / total:6.1%}  {label}" for label, n in by_phase.most_common()]
    left = f", without the {skip.split(' (')[0]} ones" if skip else ""
    lines.append(f"  the {kept} samples{left}, by the deepest frame of {ours}:")
    lines += [f"    {n / kept:6.1%}  {name}" for name, n in deepest.most_common(top)]
    lines.append("  ... and by the innermost Python function:")
    lines += [f"    {n / kept:6.1%}  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


def _frame(frame: str) -> str:
    """``send (floodwatch/notify/channels/webhook.py:104)`` -> ``send (.../webhook.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


# -- 2. makespan under provider limits -------------------------------------------------------------


@dataclass
class Lane:
    name: str
    kind: str  # sms, voice, robot, mail, hook
    pages: int = 0
    sends: int = 0
    first: float | None = None
    last: float | None = None
    least: float = 0.0
    without_folding: float | None = None
    violations: int = 0
    strict: int = 0
    refused: int = 0
    digests: int = 0
    folded: int = 0
    min_gap: float | None = None
    detail: str = ""


@dataclass
class Makespan:
    lanes: list[Lane]
    statuses: Counter[str]
    first: float
    last: float
    commit: float
    write_s: float
    last_outcome: float
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    delays: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    schedule: list[str] = field(default_factory=list)
    unfinished: dict[str, tuple[int, float]] = field(default_factory=dict)  # pages, next try

    @property
    def done_by(self) -> float:
        """The last accepted request, or, with pages left at the deadline, the earliest time
        the last of them could go (floodwatch's next attempt): a lower bound."""
        return max([self.last, *(t for _, t in self.unfinished.values())])

    @property
    def least(self) -> float:
        return max(lane.least for lane in self.lanes)

    @property
    def span(self) -> float:
        return self.done_by - self.first


def balanced_numbers(
    prefix: str, senders: Sequence[str], per_sender: int, shuffle: bool = True
) -> list[str]:
    """Phone numbers that twilio_sms's own choice of sender (a hash of the number) spreads
    evenly, `per_sender` for each sender, in a shuffled (seeded) order: in the roster, and so in
    the outbox, the senders follow each other at random, as a hash makes them."""
    channel = SimpleNamespace(from_numbers=tuple(senders))
    count: Counter[str] = Counter()
    out: list[str] = []
    i = 0
    while len(out) < per_sender * len(senders):
        number = f"{prefix}{i:08d}"
        sender = TwilioChannel.from_number(channel, number)  # type: ignore[arg-type]
        if count[sender] < per_sender:
            count[sender] += 1
            out.append(number)
        i += 1
    if shuffle:
        random.Random(9).shuffle(out)
    return out


def limit_groups(args: argparse.Namespace) -> list[Group]:
    senders = SMS_SENDERS[: args.sms_senders]
    sms = balanced_numbers("+86139", senders, args.sms_per_sender, shuffle=not args.clumped)
    groups = [
        Group("sms", "sms", [{"id": f"sms.{i:04d}", "name": f"短信{i}", "phone": n}
                             for i, n in enumerate(sms)]),
        Group("voice", "voice", [{"id": f"call.{i:04d}", "name": f"电话{i}",
                                  "phone": f"+86137{i:08d}"} for i in range(args.calls)]),
        Group("ding_a", "ding_a", [{"id": f"da.{i:04d}", "name": f"钉甲{i}",
                                    "chat": {"dingtalk": f"da{i:04d}"}}
                                   for i in range(args.robot_pages)]),
        Group("ding_b", "ding_b", [{"id": f"db.{i:04d}", "name": f"钉乙{i}",
                                    "chat": {"dingtalk": f"db{i:04d}"}}
                                   for i in range(args.robot_pages)]),
        Group("wecom", "wecom", [{"id": f"wx.{i:04d}", "name": f"企微{i}",
                                  "chat": {"wecom": f"wx{i:04d}"}}
                                 for i in range(args.robot_pages)]),
        Group("mail", "mail", [{"id": f"mail.{i:04d}", "name": f"邮件{i}",
                                "email": f"mail.{i:04d}@example.org"} for i in range(args.mails)]),
    ]  # fmt: skip
    hooks = args.total - sum(len(g.people) for g in groups)
    if hooks < 0:
        raise SystemExit(f"--total {args.total} is less than the pages of the other channels")
    groups.append(
        Group("hook", "hook", [{"id": f"hook.{i:04d}", "name": f"网钩{i}"} for i in range(hooks)])
    )
    return groups


def limit_notifiers(sink: SinkProcess, args: argparse.Namespace) -> list[dict[str, Any]]:
    return [
        {"name": "sms", "type": "twilio_sms", "account_sid": ACCOUNT_SID,
         "auth_token": "${TWILIO_AUTH_TOKEN}", "from_numbers": SMS_SENDERS[: args.sms_senders],
         "messages_per_second": 1},
        {"name": "voice", "type": "twilio_voice", "account_sid": ACCOUNT_SID,
         "auth_token": "${TWILIO_AUTH_TOKEN}", "from_numbers": [CALLER], "calls_per_second": 1},
        {"name": "ding_a", "type": "dingtalk", "access_token": "${DING_A_TOKEN}",
         "base_url": sink.url},
        {"name": "ding_b", "type": "dingtalk", "access_token": "${DING_B_TOKEN}",
         "base_url": sink.url},
        {"name": "wecom", "type": "wecom", "key": "${WECOM_KEY}", "base_url": sink.url},
        {"name": "mail", "type": "email", "host": "127.0.0.1", "port": sink.smtp_port,
         "security": "none", "sender": "防汛办 <fxb@example.gov.cn>"},
        {"name": "hook", "type": "webhook", "url": f"{sink.url}/hook/limits"},
    ]  # fmt: skip


class Admissions:
    """When each lane admitted a send (a token taken), per sink key, wrapped on the lanes from
    outside: to set a sink's arrivals against floodwatch's admissions."""

    def __init__(self) -> None:
        self.at: defaultdict[str, list[float]] = defaultdict(list)

    def wrap(self, lane: Any, key: Any) -> None:
        inner = lane.admit

        def admit(sender: str, target: str, now: float) -> float:
            wait: float = inner(sender, target, now)
            if wait == 0:
                self.at[key(sender)].append(time.monotonic())
            return wait

        lane.admit = admit

    def violations(self, limited: dict[str, Any]) -> list[str]:
        """Each request a sink refused: the admissions' gap against the arrivals' gap, and how
        long each of the two requests took from admission to arrival."""
        out = []
        for key, w in limited.items():
            admitted = self.at.get(key, [])
            arrivals = sorted(
                [(t, True) for t in w["times"]] + [(t, False) for t in w["refused_at"]]
            )
            for i, (t, ok) in enumerate(arrivals):
                if ok or i == 0 or i >= len(admitted):
                    continue
                a0, a1, t0 = admitted[i - 1], admitted[i], arrivals[i - 1][0]
                out.append(
                    f"{key}: request {i + 1} admitted {a1 - a0:.3f} s after request {i}, arrived "
                    f"{t - t0:.3f} s after it (admission -> arrival: {(t0 - a0) * 1000:.0f} ms "
                    f"for request {i}, {(t - a1) * 1000:.0f} ms for request {i + 1})"
                )
        return out

    def delays(self, limited: dict[str, Any], prefix: str) -> tuple[list[float], list[float]]:
        """Admission -> arrival of each key's first request, and of the later ones (s)."""
        first, later = [], []
        for key, w in limited.items():
            if not key.startswith(prefix):
                continue
            arrivals = sorted(w["times"] + w["refused_at"])
            for i, (a, t) in enumerate(zip(self.at.get(key, []), arrivals, strict=False)):
                (first if i == 0 else later).append(t - a)
        return first, later

    def schedule(self, limited: dict[str, Any], prefix: str, interval: float) -> list[str]:
        """Per sender: its admissions, the span from the first to the last, and the time lost
        between a token being there and its being taken (a bucket of one token does not keep
        the time it stood full: each such delay moves every later send back)."""
        out = []
        for key in sorted(k for k in self.at if k.startswith(prefix)):
            at = self.at[key]
            gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
            late = [g - interval for g in gaps if g > interval]
            accepted = len(limited.get(key, {}).get("times", []))
            out.append(
                f"{key}: {len(at)} admitted ({accepted} accepted) over {at[-1] - at[0]:.1f} s; "
                f"lost {sum(late):.1f} s between a token and its use ({len(late)} gaps over "
                f"{interval:g} s, the longest {max(gaps, default=0):.2f} s)"
            )
        return out


class Windows:
    """What each claim of the SMS lane looked at, wrapped on the dispatcher from outside: a
    sender whose bucket held a token and who had pages left, but none of them among the pages
    the claim fetched (the oldest `free slots x 4`), sent nothing in that round."""

    def __init__(self, dispatcher: Any, channel: str, senders: Sequence[str], pages: int) -> None:
        self.channel = channel
        self.senders = list(senders)
        self.pages = pages  # per sender
        self.claims = 0
        self.fetched: list[int] = []
        self.passed_over: Counter[str] = Counter()
        self.admitted: Counter[str] = Counter()
        inner = dispatcher._admit

        def admit(lane: Any, channel: str, pages: list[Any], *rest: Any) -> Any:
            if channel == self.channel and lane is not None:
                now = time.monotonic()
                present = {lane.notifier.sender_for(_as_message(p)) for p in pages}
                self.claims += 1
                self.fetched.append(len(pages))
                for sender in self.senders:
                    left = self.admitted[sender] < self.pages
                    if left and sender not in present and lane.tokens_now(sender, now) >= 1:
                        self.passed_over[sender] += 1
            out = inner(lane, channel, pages, *rest)
            if channel == self.channel:
                for claim in out:
                    self.admitted[claim.sender] += 1
            return out

        dispatcher._admit = admit

    def report(self) -> list[str]:
        if not self.claims:
            return []
        small = sum(1 for n in self.fetched if n < 16)
        over = ", ".join(f"{k}: {n}" for k, n in sorted(self.passed_over.items())) or "none"
        return [
            f"{self.channel}: {self.claims} claims fetched {statistics.mean(self.fetched):.1f} "
            f"pages on average ({small} fetched fewer than 16); claims that passed over a "
            f"sender with a token and pages left: {over}"
        ]


def _as_message(page: Any) -> Any:
    return SimpleNamespace(address=page.address)


class Warnings(logging.Handler):
    """Log lines at WARNING or above, kept to be reported."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def lane_figures(
    groups: Sequence[Group], app: App, stats: dict[str, Any], args: argparse.Namespace
) -> list[Lane]:
    """Per channel: pages, sends, first and last accepted arrival, least time, violations."""
    limited = stats["limited"]
    lanes: list[Lane] = []
    by_group = {g.name: g for g in groups}
    # SMS: one window per From number
    sms = Lane("sms", "sms", pages=len(by_group["sms"].people))
    notifier = app.notifiers["sms"]
    per_sender = Counter(
        notifier.from_number(p["phone"])
        for p in by_group["sms"].people  # type: ignore[attr-defined]
    )
    sms.least = (max(per_sender.values()) - 1) / 1.0
    sms.detail = f"{len(per_sender)} senders x {max(per_sender.values())}"
    _windows(sms, {k: w for k, w in limited.items() if k.startswith("sms:")}, stats)
    lanes.append(sms)
    voice = Lane("voice", "voice", pages=len(by_group["voice"].people))
    voice.least = (voice.pages - 1) / 1.0
    voice.detail = "1 account"
    _windows(voice, {k: w for k, w in limited.items() if k.startswith("call:")}, stats)
    lanes.append(voice)
    for name, chat, who in (("ding_a", "dingtalk", "DING_A_TOKEN"),
                            ("ding_b", "dingtalk", "DING_B_TOKEN"),
                            ("wecom", "wecom", "WECOM_KEY")):  # fmt: skip
        robot = Lane(name, "robot", pages=len(by_group[name].people))
        key = f"{chat}:{SECRETS[who]}"
        # folded, every page fits in the robot's first 20 messages; one by one, the 21st
        # and later must each wait 60/20 s more
        robot.least = 0.0
        robot.without_folding = max(0, robot.pages - ROBOT_RATE) * ROBOT_PER / ROBOT_RATE
        _windows(robot, {key: limited[key]} if key in limited else {}, stats)
        mine = [d for d in stats["digests"] if d[0] == key]
        robot.digests = len(mine)
        robot.folded = sum(n for _, _, n in mine)
        robot.detail = chat
        w = limited.get(key, {"times": [], "refused_at": []})
        sent = sorted(w["times"] + w["refused_at"])
        if len(sent) > ROBOT_RATE:
            robot.detail += f", 21 requests in {sent[ROBOT_RATE] - sent[0]:.1f} s"
        lanes.append(robot)
    mail = Lane("mail", "mail", pages=len(by_group["mail"].people), detail="aiosmtpd")
    times = [t for t, _ in stats["mail"]]
    mail.sends = len(times)
    mail.first, mail.last = (min(times), max(times)) if times else (None, None)
    lanes.append(mail)
    hook = Lane("hook", "hook", pages=len(by_group["hook"].people), detail="webhook")
    times = [t for t, k in stats["hooks"]]
    hook.sends = len(times)
    hook.first, hook.last = (min(times), max(times)) if times else (None, None)
    lanes.append(hook)
    return lanes


def _windows(lane: Lane, windows: dict[str, dict[str, Any]], stats: dict[str, Any]) -> None:
    times: list[float] = []
    gaps: list[float] = []
    for key, w in windows.items():
        ts = sorted(w["times"])
        times += ts
        lane.violations += w["violations"]
        lane.strict += w["strict"]
        lane.refused += stats["refused"].get(key, 0)
        rate = int(w["rate"])
        gaps += [b - a for a, b in zip(ts, ts[rate:], strict=False)]  # span of rate+1 sends
    lane.sends = len(times)
    if times:
        lane.first, lane.last = min(times), max(times)
    if gaps:
        lane.min_gap = min(gaps)


def makespan_run(sink: SinkProcess, args: argparse.Namespace) -> Makespan:
    groups = limit_groups(args)
    with scratch("limits") as d:
        roster = write_roster(d / "roster.yaml", groups)
        stations = [(f"LIM-{g.name}", g) for g in groups]
        config = write_config(d, stations, limit_notifiers(sink, args), roster, web=True)
        app = build_app(
            config, env={**os.environ, **SECRETS}, twilio_http=lambda: LoopbackTwilio(sink.url)
        )
        commits = Commits()
        app.pages_written.connect(commits)
        warnings = Warnings()
        logging.getLogger().addHandler(warnings)
        skipped = SkippedRuns()
        logging.getLogger("apscheduler.scheduler").addFilter(skipped)
        service = TimedService(app, expected=-1)
        admissions = Admissions()
        admissions.wrap(service.dispatcher.lane("sms"), lambda sender: f"sms:{sender}")
        admissions.wrap(service.dispatcher.lane("voice"), lambda sender: f"call:{ACCOUNT_SID}")
        windows = Windows(
            service.dispatcher, "sms", SMS_SENDERS[: args.sms_senders], args.sms_per_sender
        )
        service.start()
        try:
            sink.reset()
            now = app.clock.now()
            t = time.monotonic()
            result = service.pipeline.ingest(crossing([s for s, _ in stations], now), now, "bench")
            wrote = commits.at[0] - t
            if result.pages != args.total:
                raise SystemExit(f"makespan: {result.pages} pages written, not {args.total}")
            deadline = time.monotonic() + args.deadline
            while time.monotonic() < deadline:
                got = statuses(app)
                if sum(n for s, n in got.items() if s in FINAL) == args.total:
                    break
                time.sleep(0.25)
            got = statuses(app)
            with app.db.sessions() as session:
                last_outcome = session.scalar(select(func.max(DeliveryRow.finished_at)))
                # pages still waiting at the deadline: when floodwatch would try them again
                retry = session.execute(
                    select(PageRow.channel, func.count(), func.max(PageRow.next_attempt_at))
                    .where(PageRow.status.in_(["pending", "sending"]))
                    .group_by(PageRow.channel)
                ).all()
            unfinished = {
                channel: (
                    int(n),
                    time.monotonic() + (_aware(t) - datetime.now(UTC)).total_seconds(),
                )
                for channel, n, t in retry
            }
            stats = sink.stats()
            lanes = lane_figures(groups, app, stats, args)
        finally:
            service.stop()
            logging.getLogger().removeHandler(warnings)
            logging.getLogger("apscheduler.scheduler").removeFilter(skipped)
    # the outcome's time is floodwatch's clock (UTC wall time): put it on the monotonic line
    if last_outcome is not None:
        outcome_mono = time.monotonic() - (datetime.now(UTC) - _aware(last_outcome)).total_seconds()
    else:
        outcome_mono = float("nan")
    firsts = [lane.first for lane in lanes if lane.first is not None]
    lasts = [lane.last for lane in lanes if lane.last is not None]
    limited = stats["limited"]
    return Makespan(
        lanes, got, min(firsts), max(lasts), commits.at[0], wrote, outcome_mono, warnings.lines,
        admissions.violations(limited),
        {"sms": admissions.delays(limited, "sms:"), "voice": admissions.delays(limited, "call:")},
        admissions.schedule(limited, "sms:", 1.0)
        + admissions.schedule(limited, "call:", 1.0)
        + windows.report()
        + [f"APScheduler warned {skipped.count} times that the dispatch job was skipped"],
        unfinished,
    )  # fmt: skip


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@dataclass
class Waves:
    robots: list[Lane]
    statuses: Counter[str]
    pending_until: dict[str, str]
    warnings: list[str]


def robot_waves(sink: SinkProcess, args: argparse.Namespace) -> Waves:
    """A first alert pages --wave-first people on each robot, a second one --wave-gap s later
    pages --wave-second more on the same robots; watch for --wave-watch s after it."""
    first, second = args.wave_first, args.wave_second
    groups = []
    for name, chat in (("ding_a", "dingtalk"), ("wecom", "wecom")):
        people = [{"id": f"{name}.{i:03d}", "name": f"{name}{i}",
                   "chat": {chat: f"{name}{i:03d}"}} for i in range(first + second)]  # fmt: skip
        groups.append(Group(f"{name}_1", name, people[:first]))
        groups.append(Group(f"{name}_2", name, people[first:]))
    with scratch("waves") as d:
        roster = write_roster(d / "roster.yaml", groups)
        stations = [(f"WAVE-{g.name}", g) for g in groups]
        notifiers = [n for n in limit_notifiers(sink, args) if n["name"] in ("ding_a", "wecom")]
        config = write_config(d, stations, notifiers, roster, web=False)
        app = build_app(config, env={**os.environ, **SECRETS})
        warnings = Warnings()
        logging.getLogger().addHandler(warnings)
        service = TimedService(app, expected=-1)
        service.start()
        try:
            sink.reset()
            now = app.clock.now()
            firsts = [s for s, g in stations if g.name.endswith("_1")]
            service.pipeline.ingest(crossing(firsts, now), now, "bench")
            time.sleep(args.wave_gap)
            now = app.clock.now()
            seconds = [s for s, g in stations if g.name.endswith("_2")]
            service.pipeline.ingest(crossing(seconds, now), now, "bench")
            time.sleep(args.wave_watch)
            got = statuses(app)
            with app.db.sessions() as session:
                rows = session.execute(
                    select(PageRow.channel, PageRow.attempts, PageRow.next_attempt_at).where(
                        PageRow.status == "pending"
                    )
                ).all()
            clock = app.clock.now()
            pending: dict[str, str] = {}
            for channel in sorted({r[0] for r in rows}):
                tried = [r for r in rows if r[0] == channel and r[1] > 0]
                waiting = [r for r in rows if r[0] == channel and r[1] == 0]
                parts = []
                if tried:
                    due = max((_aware(r[2]) - clock).total_seconds() for r in tried)
                    parts.append(f"{len(tried)} refused, retried in {due:.0f} s")
                if waiting:
                    parts.append(f"{len(waiting)} not sent yet (the robot's minute is used up)")
                pending[channel] = ", ".join(parts)
            stats = sink.stats()
        finally:
            service.stop()
            logging.getLogger().removeHandler(warnings)
    robots = []
    for name, chat, who in (("ding_a", "dingtalk", "DING_A_TOKEN"),
                            ("wecom", "wecom", "WECOM_KEY")):  # fmt: skip
        lane = Lane(name, "robot", pages=first + second, detail=chat)
        key = f"{chat}:{SECRETS[who]}"
        _windows(lane, {key: stats["limited"][key]} if key in stats["limited"] else {}, stats)
        mine = [dg for dg in stats["digests"] if dg[0] == key]
        lane.digests, lane.folded = len(mine), sum(n for _, _, n in mine)
        w = stats["limited"].get(key, {"times": [], "refused_at": []})
        requests_at = sorted(w["times"] + w["refused_at"])
        if len(requests_at) > ROBOT_RATE:  # the 21st request, after the first
            lane.detail += (
                f"; 21st request {requests_at[ROBOT_RATE] - requests_at[0]:.1f} s after the 1st"
            )
        lane.sends = len(requests_at)
        robots.append(lane)
    return Waves(robots, got, pending, warnings.lines)


# -- report ----------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*headers), line, *(fmt.format(*r) for r in rows)])


def s(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def report_overhead(runs: list[Run], baseline: Run, profiled: Run) -> None:
    rows = []
    for r in runs:
        rows.append([
            r.label, f"{r.messages:,}", f"{r.received:,}",
            f"{r.write_s:.2f} ({r.write_cpu:.2f})" if r.write_s is not None else "-",
            f"{r.to_first_s * 1000:.0f}" if r.to_first_s is not None else "-",
            f"{r.seconds:.2f}", f"{r.rate:,.0f}", f"{r.cpu:.1f}", f"{r.sink_cpu:.1f}",
            f"{r.rate / baseline.rate:.2f}",
        ])  # fmt: skip
    print(table(["run", "messages", "at the sink", "outbox write s (CPU)", "commit->1st ms",
                 "send s", "per s", "CPU s", "sink CPU s", "x Apprise"], rows))  # fmt: skip
    for r in runs:
        if r.duplicates or r.note:
            print(f"  {r.label}: {r.duplicates} duplicates {r.note}")
    report_breakdown(profiled)
    for r in runs:
        if r.skipped:
            print(
                f"  {r.label}: APScheduler warned {r.skipped:,} times that the dispatch job "
                "was skipped (maximum number of running instances reached)"
            )


def report_breakdown(r: Run) -> None:
    b = r.breakdown
    assert b is not None
    print(f"\n  {r.label}: where a page's time goes (wall and CPU of the calling thread; "
          "claims and records run in the lane's threads and the scheduler's)")  # fmt: skip
    rows = []
    for label in b.calls:
        rows.append([
            label, f"{b.calls[label]:,}",
            f"{b.items[label]:,}" if b.items[label] else "-",
            f"{b.wall[label] / b.calls[label] * 1000:.2f}",
            f"{b.cpu[label] / b.calls[label] * 1000:.2f}",
            f"{b.cpu[label] / r.messages * 1000:.2f}",
        ])  # fmt: skip
    rows.append(["all of the process (delivery)", "-", "-", "-", "-",
                 f"{r.cpu / r.messages * 1000:.2f}"])  # fmt: skip
    print(table(["  step", "calls", "sends", "wall ms/call", "CPU ms/call", "CPU ms/page"],
                rows))  # fmt: skip


def report_makespan(m: Makespan) -> None:
    rows = []
    for lane in m.lanes:
        rows.append([
            lane.name, lane.detail, f"{lane.pages}", f"{lane.sends}",
            s(None if lane.first is None else lane.first - m.first),
            s(None if lane.last is None else lane.last - m.first),
            s(lane.least, 0), s(lane.without_folding, 0),
            f"{lane.digests} / {lane.folded}" if lane.kind == "robot" else "-",
            f"{lane.violations}", f"{lane.strict}", f"{lane.refused}",
            s(lane.min_gap, 3),
        ])  # fmt: skip
    print(table(["lane", "limit per", "pages", "sends", "first s", "last s", "least s",
                 "unfolded s", "digests / pages", "violations", "strict", "refused",
                 "min gap s"], rows))  # fmt: skip
    print(f"\n  pages: {dict(m.statuses)}; outbox write {m.write_s:.2f} s; commit -> first "
          f"send {(m.first - m.commit) * 1000:.0f} ms; first send -> last outcome recorded "
          f"{m.last_outcome - m.first:.1f} s")  # fmt: skip
    left = sum(n for n, _ in m.unfinished.values())
    if left:
        for channel, (n, t) in m.unfinished.items():
            print(
                f"  NOT DONE: {n} pages on {channel} still waiting at the deadline; floodwatch "
                f"tries them again {t - m.first:.0f} s after the first send"
            )
    bound = ">= " if left else ""
    print(
        f"  makespan (first send -> last accepted at a sink): {bound}{m.span:.1f} s; least the "
        f"limits allow: {m.least:.0f} s; ratio {bound}{m.span / m.least:.3f}"
    )
    for lane, (first, later) in m.delays.items():
        if first and later:
            print(f"  {lane}: admission -> arrival at the sink: first request of each sender "
                  f"max {max(first) * 1000:.0f} ms, later ones median "
                  f"{statistics.median(later) * 1000:.0f} ms, "
                  f"max {max(later) * 1000:.0f} ms")  # fmt: skip
    for line in m.schedule:
        print(f"  {line}")
    for line in m.refusals:
        print(f"  refused: {line}")
    retries = [w for w in m.warnings if "retryable" in w]
    print(f"  log lines at WARNING or above: {len(m.warnings)} ({len(retries)} retries)")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--pages", type=int, default=10_000, help="1: pages (and Apprise messages)")
    p.add_argument("--people", type=int, default=1_000, help="1: village heads paged per alert")
    p.add_argument("--no-postgres", action="store_true", help="1: skip the PostgreSQL row")
    p.add_argument(
        "--concurrency", type=int, default=32,
        help="1: the webhook's `concurrency` (POSTs at once; a row with its default is added)",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=2, help="1: SQLite and Apprise runs (best)")
    p.add_argument("--total", type=int, default=1_000, help="2: pages over every channel")
    p.add_argument("--sms-senders", type=int, default=4, help="2: Twilio From numbers")
    p.add_argument("--sms-per-sender", type=int, default=80, help="2: SMS per From number")
    p.add_argument("--calls", type=int, default=80, help="2: calls (1 a second per account)")
    p.add_argument("--robot-pages", type=int, default=60, help="2: pages per robot (3 robots)")
    p.add_argument("--mails", type=int, default=100, help="2: e-mails")
    p.add_argument(
        "--clumped", action="store_true",
        help="2: SMS numbers in the order they were found (the last sender to fill up has the "
        "roster's tail to itself) instead of shuffled",
    )  # fmt: skip
    p.add_argument("--deadline", type=float, default=150, help="2: seconds before giving up")
    p.add_argument("--slack", type=float, default=0.05, help="seconds the sinks' limits forgive")
    p.add_argument("--wave-first", type=int, default=30, help="2b: first alert's robot pages")
    p.add_argument("--wave-second", type=int, default=10, help="2b: second alert's robot pages")
    p.add_argument("--wave-gap", type=float, default=10, help="2b: seconds between the alerts")
    p.add_argument("--wave-watch", type=float, default=60, help="2b: seconds watched after")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--skip-makespan", action="store_true")
    p.add_argument("--skip-waves", action="store_true")
    p.add_argument(
        "--quick", action="store_true",
        help="1: 2,000 pages, no PostgreSQL, 1 repeat; 2: 250 pages, 20 per SMS sender",
    )  # fmt: skip
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile figure 1 with py-spy (--py-spy) into DIR instead of measuring",
    )
    p.add_argument("--py-spy", default="py-spy", help="the py-spy executable")  # fmt: skip
    p.add_argument(
        "--py-spy-all", action="store_true",
        help="sample every thread at work, not only the one holding the GIL",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.quick:
        args.pages, args.people, args.no_postgres, args.repeats = 2_000, 500, True, 1
        args.total, args.sms_per_sender, args.calls, args.robot_pages, args.mails = (
            250,
            20,
            20,
            30,
            20,
        )
        args.deadline = 60

    print(
        f"floodwatch paging benchmark -- Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {platform.machine()}, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logmask.install()
    sink = SinkProcess(slack=args.slack)
    ok = True
    try:
        if args.profile is not None:
            profile(sink, args)
            return 0
        if not args.skip_overhead:
            ok &= overhead(sink, args)
        if not args.skip_makespan:
            ok &= makespan(sink, args)
        if not args.skip_waves:
            waves(sink, args)
    finally:
        sink.stop()
    print(f"\ntargets {'met' if ok else 'MISSED'}")
    return 0


def overhead(sink: SinkProcess, args: argparse.Namespace) -> bool:
    n, people = args.pages, args.people
    print(f"\n1. {n:,} pages ({n // people} alerts x {people} people) through the webhook lane, "
          "every attempt recorded, vs Apprise's notify() (target >= 3 x Apprise)\n")  # fmt: skip
    # floodwatch on SQLite and Apprise in one thread, interleaved --repeats times (the best of
    # each counts, so that other work on the machine does not pass for a difference); then
    # PostgreSQL and the reference rows
    fw: list[Run] = []
    ap: list[Run] = []
    texts: list[tuple[str, str]] = []
    c = args.concurrency
    for k in range(args.repeats):
        label = f"floodwatch, SQLite (WAL), concurrency {c} #{k + 1}"
        run, texts = floodwatch_run(label, sink, n, people, None, concurrency=c)
        fw.append(run)
        ap.append(apprise_run(f"Apprise notify(), 1 thread #{k + 1}", sink, texts, 1))
    others: list[Run] = []
    if c != DEFAULT_CONCURRENCY:
        label = f"floodwatch, SQLite (WAL), concurrency {DEFAULT_CONCURRENCY} (the default)"
        others.append(floodwatch_run(label, sink, n, people, None)[0])
    if not args.no_postgres:
        with postgres_database() as url:
            if url is not None:
                label = f"floodwatch, PostgreSQL, concurrency {c}"
                others.append(floodwatch_run(label, sink, n, people, url, concurrency=c)[0])
    others.append(apprise_run(f"Apprise notify(), {c} threads", sink, texts, c))
    others.append(http_floor(sink, texts))
    baseline = max(ap, key=lambda r: r.rate)
    best = max(fw, key=lambda r: r.rate)
    report_overhead([*fw, *ap, *others], baseline, best)
    ratio = best.rate / baseline.rate
    pg = [r for r in others if "PostgreSQL" in r.label]
    print(f"\n  baseline: the best Apprise run, {baseline.rate:,.0f} messages/s")
    print(f"  figure: SQLite (best run) {ratio:.2f} x Apprise" + (
        f"; PostgreSQL {pg[0].rate / baseline.rate:.2f} x" if pg else ""))  # fmt: skip
    return ratio >= 3


def makespan(sink: SinkProcess, args: argparse.Namespace) -> bool:
    print(f"\n2. makespan of {args.total:,} pages under provider limits (target <= 1.1, "
          "no violation)\n")  # fmt: skip
    m = makespan_run(sink, args)
    report_makespan(m)
    violations = sum(lane.violations for lane in m.lanes)
    done = sum(n for st, n in m.statuses.items() if st in ("accepted", "delivered"))
    return m.span / m.least <= 1.1 and violations == 0 and done == args.total


def waves(sink: SinkProcess, args: argparse.Namespace) -> None:
    print(f"\n2b. robots: {args.wave_first} pages each at t=0, {args.wave_second} more "
          f"{args.wave_gap:g} s later; watched {args.wave_watch:g} s more\n")  # fmt: skip
    w = robot_waves(sink, args)
    rows = []
    for lane in w.robots:
        rows.append([lane.name, lane.detail, f"{lane.pages}", f"{lane.sends}",
                     f"{lane.sends - lane.violations}", f"{lane.violations}",
                     f"{lane.digests} / {lane.folded}"])  # fmt: skip
    print(table(["robot", "platform", "pages", "requests", "accepted", "over 20 in 60 s",
                 "digests / pages"], rows))  # fmt: skip
    print(f"\n  pages: {dict(w.statuses)}")
    for channel, what in w.pending_until.items():
        print(f"  pending on {channel}: {what}")
    for line in w.warnings[:6]:
        print(f"  log: {line}")


def profile(sink: SinkProcess, args: argparse.Namespace) -> None:
    """Where the time goes in figure 1, by py-spy (250 samples/s; --py-spy-all: every thread
    at work, else the GIL's holder)."""
    args.profile.mkdir(parents=True, exist_ok=True)
    out = args.profile / "floodwatch.txt"
    gil = not args.py_spy_all
    run, texts = floodwatch_run(
        "floodwatch, SQLite (py-spy)", sink, args.pages, args.people, None, out, args.py_spy, gil,
        args.concurrency,
    )  # fmt: skip
    print(f"py-spy: {'the thread holding the GIL' if gil else 'every thread at work'}")
    print(f"\nfloodwatch, SQLite, under py-spy: {run.rate:,.0f} pages/s "
          f"(outbox write {run.write_s:.1f} s)")  # fmt: skip
    print(summarise_profile(out, FLOODWATCH_PHASES, "floodwatch/", skip="Pipeline.ingest ("))
    apprise_run("Apprise warm-up", sink, texts[:200], 1)  # its plugins load on first use
    out = args.profile / "apprise.txt"
    spy = start_py_spy(args.py_spy, out, gil)
    try:
        base = apprise_run("Apprise (py-spy)", sink, texts, 1)
    finally:
        stop_py_spy(spy)
    print(f"\nApprise notify(), 1 thread, under py-spy: {base.rate:,.0f} messages/s")
    print(summarise_profile(out, APPRISE_PHASES, "apprise/"))


if __name__ == "__main__":
    sys.exit(main())
