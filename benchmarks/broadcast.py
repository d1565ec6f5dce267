"""Broadcast benchmark (issue 10): 500 villages warned at once.

Each village has 2 loudspeakers and 3 responsible persons. The loudspeakers are behind 4
text-to-speech gateways, real HTTP servers on 127.0.0.1, each taking at most --capacity requests
at once and answering each in 200 ms to 2 s (a delay fixed per loudspeaker, uniform, seeded):
250 loudspeakers per gateway. floodwatch's `broadcast_http` channel for each gateway has that
capacity as its lane's concurrency. The people's pages go to a channel that takes them at once.

One reading crosses every village's prepare level: one ingest warns 500 villages in one
transaction (500 rounds of 叫应, 1,500 pages to people, 1,000 broadcasts). Then the dispatcher
delivers as the service does: lanes hand their sends to their own worker threads, and the
dispatcher claims again as soon as a send finishes. Measured (real time, from the commit):

- the last loudspeaker dispatched, against the least the gateways allow: each gateway's
  makespan lower bound, max(sum of its delays / capacity, its longest delay), the slowest
  gateway's being the figure to beat;
- the first person's page handed over and the last one, against the same figures in a
  baseline run in the same process with no loudspeakers at all (the same villages, people and
  pages, no broadcast running).

Run from the repository root:  .venv/bin/python benchmarks/broadcast.py [--villages 500]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from floodwatch.app import App, build_app  # noqa: E402
from floodwatch.clock import SimulatedClock  # noqa: E402
from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome  # noqa: E402
from floodwatch.readings import Reading  # noqa: E402
from floodwatch.roster.model import Person  # noqa: E402

GATEWAYS = 4
START = datetime(2018, 5, 27, 20, 0, tzinfo=UTC)


class GatewayServer:
    """An IP broadcast platform's TTS API on 127.0.0.1: at most `capacity` requests at once
    (the others wait their turn, as a real one queues them), each answered after its
    loudspeaker's delay."""

    def __init__(self, capacity: int, delays: dict[str, float]) -> None:
        self.slots = threading.BoundedSemaphore(capacity)
        self.delays = delays
        self.done: dict[str, float] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.slots:
                    time.sleep(server.delays[body["terminal"]])
                server.done[body["terminal"]] = time.monotonic()
                answer = b'{"code": 0, "msg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/tts"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class People:
    """The people's channel: takes each page at once and notes when it was handed over."""

    name: str = "sms"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(concurrency=4))
    sent: list[float] = field(default_factory=list)

    def address_for(self, person: Person) -> str | None:
        return person.phone

    def send(self, message: Message) -> DeliveryResult:
        self.sent.append(time.monotonic())
        return DeliveryResult(Outcome.DELIVERED)


def write_files(directory: Path, villages: int, speakers: bool, gateways: list[str]) -> list[str]:
    people = [
        {"id": f"v{v:03d}.p{k}", "name": f"村{v:03d}责任人{k}", "phone": f"+861390{v:03d}{k:04d}"}
        for v in range(villages) for k in range(3)
    ]  # fmt: skip
    (directory / "people.yaml").write_text(
        yaml.safe_dump({"version": 1, "people": people}, allow_unicode=True), "utf-8"
    )
    rows = []
    for v in range(villages):
        village: dict[str, Any] = {
            "id": f"v{v:03d}", "name": f"第{v}村", "evacuation": "村小学",
            "groups": [{"id": "g1", "name": "一组", "households": 40, "residents": 120},
                       {"id": "g2", "name": "二组", "households": 30, "residents": 90}],
            "responsible": [{"person": f"v{v:03d}.p{k}", "role": role}
                            for k, role in enumerate(("村级责任人", "监测员", "预警员"))],
            "stations": [{"station": "01589025", "unit": "ft", "prepare": 20, "move_now": 30}],
        }  # fmt: skip
        if speakers:
            village["loudspeakers"] = [
                {"id": group, "channel": gateways[(2 * v + k) % len(gateways)],
                 "address": f"v{v:03d}-{group}", "group": group}
                for k, group in enumerate(("g1", "g2"))
            ]  # fmt: skip
        rows.append(village)
    files = []
    for k in range(0, len(rows), 100):  # a file is at most 256 KiB: 100 villages a file
        name = f"villages-{k // 100}.yaml"
        (directory / name).write_text(
            yaml.safe_dump({"version": 1, "villages": rows[k : k + 100]}, allow_unicode=True),
            "utf-8",
        )
        files.append(name)
    return files


def config(directory: Path, servers: list[GatewayServer], capacity: int, speakers: bool) -> Path:
    names = [f"gw{k}" for k in range(len(servers))]
    files = write_files(directory, ARGS.villages, speakers, names)
    settings = yaml.safe_load((ROOT / "config" / "floodwatch.yaml").read_text("utf-8"))
    for key in ("clock", "web", "cap"):
        settings.pop(key, None)
    settings.update(
        database=f"sqlite:///{directory / 'floodwatch.db'}",
        rosters=[str(ROOT / "rosters" / "township.yaml"), str(directory / "people.yaml")],
        villages=files, feeds=[], rules=[],
        evacuation={"channels": ["sms"]},
        notifiers=[{"name": "sms", "type": "jsonl", "path": "pages.jsonl"}] + [
            {"name": name, "type": "broadcast_http", "url": s.url, "concurrency": capacity,
             "timeout": "10s", "success": {"path": "code", "equals": 0},
             "body": {"terminal": "{address}", "text": "{body}"}}
            for name, s in zip(names, servers, strict=True)
        ],
    )  # fmt: skip
    path = directory / "floodwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), "utf-8")
    return path


@dataclass
class Run:
    commit: float  # seconds the ingest transaction took
    first_person: float  # from the commit
    last_person: float
    last_speaker: float | None
    speakers: int


def run(speakers: bool, capacity: int, delays: list[dict[str, float]]) -> Run:
    servers = [GatewayServer(capacity, d) for d in delays]
    with tempfile.TemporaryDirectory(prefix="fw-broadcast-") as tmp:
        path = config(Path(tmp), servers, capacity, speakers)
        clock = SimulatedClock(START)
        people = People()
        app: App = build_app(path, clock=clock)
        app.notifiers["sms"] = people  # type: ignore[assignment]
        app.db.upgrade()
        reading = Reading("01589025", "stage", 21.0, "ft", START)
        began = time.monotonic()
        app.pipeline.ingest([reading], START)
        committed = time.monotonic()
        woke = threading.Event()
        dispatcher = app.dispatcher("bench", sent=woke.set)
        expected_people = 3 * ARGS.villages
        expected_speakers = 2 * ARGS.villages if speakers else 0
        deadline = committed + 600
        while time.monotonic() < deadline:
            woke.clear()
            dispatcher.dispatch(clock.now(), clock.now)
            done = sum(len(s.done) for s in servers)
            if len(people.sent) >= expected_people and done >= expected_speakers:
                break
            woke.wait(0.05)
        dispatcher.shutdown()
        app.db.dispose()
        last_speaker = max((t for s in servers for t in s.done.values()), default=None)
        for s in servers:
            s.stop()
        return Run(
            committed - began, min(people.sent) - committed, max(people.sent) - committed,
            (last_speaker - committed) if last_speaker is not None else None,
            sum(len(s.done) for s in servers),
        )  # fmt: skip


def least(delays: dict[str, float], capacity: int) -> float:
    return max(sum(delays.values()) / capacity, max(delays.values()))


def main() -> None:
    logging.getLogger("floodwatch").setLevel(logging.ERROR)  # a line per village warned
    rng = random.Random(10)
    per = [dict[str, float]() for _ in range(GATEWAYS)]
    for v in range(ARGS.villages):
        for k, group in enumerate(("g1", "g2")):
            per[(2 * v + k) % GATEWAYS][f"v{v:03d}-{group}"] = rng.uniform(0.2, 2.0)
    bound = max(least(d, ARGS.capacity) for d in per)
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {ARGS.villages} villages, {GATEWAYS} gateways x capacity "
          f"{ARGS.capacity}, delays 0.2-2.0 s (mean "
          f"{statistics.mean(x for d in per for x in d.values()):.2f} s)")  # fmt: skip
    baseline = run(False, ARGS.capacity, per)
    loaded = run(True, ARGS.capacity, per)
    print(f"{'':<28}{'no broadcast':>14}{'500 villages':>14}")
    print(f"{'ingest (warn all) commit s':<28}{baseline.commit:>14.2f}{loaded.commit:>14.2f}")
    print(f"{'first person page s':<28}{baseline.first_person:>14.3f}{loaded.first_person:>14.3f}")
    print(f"{'last person page s':<28}{baseline.last_person:>14.3f}{loaded.last_person:>14.3f}")
    print(f"loudspeakers dispatched: {loaded.speakers}; last at {loaded.last_speaker:.2f} s "
          f"after the commit; the least the gateways allow: {bound:.2f} s "
          f"(ratio {(loaded.last_speaker or 0) / bound:.3f})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--villages", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=16, help="requests a gateway takes at once")
    ARGS = parser.parse_args()
    main()
