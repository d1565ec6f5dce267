"""Crash test (issue 9): kill -9 the service while it fans out 1,000 pages to a loopback webhook
sink, restart it: every page is delivered, and duplicates are at most the pages that were in
flight at the kill. Both figures are printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from sqlalchemy import create_engine, func, select

from floodwatch.store.models import DeliveryRow, PageRow

from .helpers import FLOODWATCH, write_config

PEOPLE = 500  # x 2 webhook channels = 1,000 pages when the alert opens


class Sink:
    """A loopback webhook receiver: records each page's Idempotency-Key, answers 200."""

    def __init__(self, delay: float = 0.004) -> None:
        self.keys: Counter[str] = Counter()
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(delay)  # a receiver's work: the fan-out takes a few seconds
                with sink._lock:
                    sink.keys[self.headers["Idempotency-Key"]] += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def received(self) -> int:
        with self._lock:
            return sum(self.keys.values())

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def crowd_roster(path: Path) -> Path:
    """500 village heads, all on duty together."""
    people = [{"id": f"head.{i:03d}", "name": f"村{i:03d}"} for i in range(PEOPLE)]
    roster = {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "people": [{"id": "li.ming", "name": "李明"}, {"id": "chen.jing", "name": "陈静"}, *people],
        "roles": [{"id": "leader", "name": "带班领导"}, {"id": "officer", "name": "值班员"},
                  {"id": "heads", "name": "村级责任人"}],
        "rotations": [
            {"role": "leader", "members": ["li.ming"], "anchor": "2026-01-01"},
            {"role": "officer", "members": ["chen.jing"], "anchor": "2026-01-01"},
            {"role": "heads", "members": [p["id"] for p in people], "per_shift": PEOPLE,
             "anchor": "2026-01-01"},
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")
    return path


def test_kill_9_during_a_1000_page_fan_out_loses_none_and_doubles_only_what_was_in_flight(
    tmp_path: Path,
) -> None:
    sink = Sink()
    now = datetime.now(UTC).replace(microsecond=0)
    readings = tmp_path / "readings.csv"
    readings.write_text(
        f"station,parameter,value,unit,observed_at\n01589025,stage,21.0,ft,{now.isoformat()}\n",
        encoding="utf-8",
    )
    hook = {"type": "webhook", "url": sink.url, "timeout": "5s"}
    config = write_config(
        tmp_path,
        rosters=[str(crowd_roster(tmp_path / "roster.yaml"))],
        feeds=[{"name": "gauge", "type": "csv", "path": str(readings), "interval": "1m"}],
        notifiers=[{"name": "hook-a", **hook}, {"name": "hook-b", **hook}],
        escalation={"default": {"steps": [{"notify": ["heads"]}]}},
        # longer than a send and its record take on a loaded machine, or the restarted service
        # takes back its own pages still in flight (a duplicate the kill did not cause)
        delivery={"claim_timeout": "10s"},
        leader={"check_every": "1s"},
    )
    db = tmp_path / "floodwatch.db"
    log = (tmp_path / "first.log").open("wb")
    first = subprocess.Popen([FLOODWATCH, "run", "--config", str(config)], stdout=log,
                             stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while sink.received() < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.received() >= 300, (tmp_path / "first.log").read_text()
        os.kill(first.pid, signal.SIGKILL)  # mid-fan-out
        first.wait(10)
        at_kill = sink.received()
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            in_flight = (
                conn.scalar(
                    select(func.count(DeliveryRow.id)).where(
                        DeliveryRow.node.like(f"%:{first.pid}"), DeliveryRow.outcome.is_(None)
                    )
                )
                or 0
            )
        second = subprocess.Popen([FLOODWATCH, "run", "--config", str(config), "--for", "60s"],
                                  stdout=(tmp_path / "second.log").open("wb"),
                                  stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    left = conn.scalar(
                        select(func.count(PageRow.id)).where(
                            PageRow.status.not_in(["accepted", "delivered"])
                        )
                    )
                if left == 0:
                    break
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        with engine.connect() as conn:
            keys = set(conn.scalars(select(PageRow.idempotency_key)))
            statuses = Counter(conn.scalars(select(PageRow.status)))
        engine.dispose()
    finally:
        if first.poll() is None:
            first.kill()
        sink.stop()
    duplicated = sum(n - 1 for n in sink.keys.values() if n > 1)
    print(json.dumps({"pages": len(keys), "received_before_the_kill": at_kill,  # noqa: T201
                      "in_flight_at_the_kill": in_flight, "duplicated": duplicated}))  # fmt: skip
    assert len(keys) == 2 * PEOPLE
    assert statuses == {"accepted": 2 * PEOPLE}  # a webhook's 2xx: the receiver took it
    assert set(sink.keys) == keys  # every page reached the sink
    assert duplicated <= in_flight
