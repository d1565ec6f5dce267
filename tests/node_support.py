"""Several real `floodwatch run` processes on one PostgreSQL database, through the demo flood on
a fast demo clock: start them, find and kill the leader, and count what came of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from floodwatch.store.models import DeliveryRow, EventRow, PageRow, ReadingRow, ServiceStateRow

from .helpers import DEMO_READINGS, FLOODWATCH, write_config


def node_config(tmp_path: Path, database: str, speed: float, start: str, **more: Any) -> Path:
    """The demo flood from `start` at `speed`, on `database`; pages to one shared file."""
    settings: dict[str, Any] = {
        "database": database,
        "clock": {"start": start, "speed": speed},
        "feeds": [{"name": "demo", "type": "csv", "path": str(DEMO_READINGS), "interval": "15m"}],
        "notifiers": [{"name": "file", "type": "jsonl", "path": str(tmp_path / "pages.jsonl")}],
        "leader": {"check_every": "1s"},
        "delivery": {"claim_timeout": "10m"},
    }
    settings.update(more)
    return write_config(tmp_path, **settings)


@dataclass
class Nodes:
    config: Path
    database: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine: Engine = create_engine(self.database)

    def start(self, n: int) -> None:
        for i in range(n):
            log = self.config.parent / f"node-{len(self.procs)}.log"
            self.logs.append(log)
            with log.open("wb") as out:
                self.procs.append(subprocess.Popen(  # noqa: S603 - our own command
                    [FLOODWATCH, "run", "--config", str(self.config)],
                    stdout=out, stderr=subprocess.STDOUT,
                ))  # fmt: skip
            del i

    def state(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(ServiceStateRow.value).where(ServiceStateRow.name == name)
            ).scalar()
        return dict(value) if value else None

    def leader_pid(self) -> int | None:
        value = self.state("leader")
        return int(value["node"].rsplit(":", 1)[1]) if value else None

    def event_types(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.scalars(select(EventRow.type).order_by(EventRow.id)))

    def wait(self, predicate: Any, deadline_s: float, what: str) -> None:
        """Wait (real time: these are other processes) until `predicate()` holds."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                if predicate():
                    return
            except Exception:  # noqa: BLE001 - tables may not exist yet
                pass
            time.sleep(0.1)
        tails = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs)
        raise AssertionError(f"waited {deadline_s} s for {what}\n{tails}")

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        for p in self.procs:
            if p.pid == pid:
                p.wait(10)

    def stop(self) -> list[int]:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = [p.wait(30) for p in self.procs]
        self.engine.dispose()
        return codes

    def count(self, pages_file: Path, killed: int | None) -> dict[str, int]:
        """Readings, events and pages as they stand, and what the pages file received."""
        lines = [json.loads(x) for x in pages_file.read_text(encoding="utf-8").splitlines() if x]
        keys = Counter(line["key"] for line in lines if line["page"])
        with self.engine.connect() as conn:
            readings = conn.scalar(select(func.count(ReadingRow.id))) or 0
            queued = set(conn.scalars(select(PageRow.idempotency_key)))
            # still in the outbox (the demo clock runs on: an escalation between the last wait
            # and the stop queues pages), sent by the next node to start: waiting, not lost
            waiting = set(
                conn.scalars(
                    select(PageRow.idempotency_key).where(
                        PageRow.status.in_(("pending", "sending"))
                    )
                )
            )
            undelivered = (
                conn.scalar(
                    select(func.count(PageRow.id)).where(PageRow.status.not_in(["delivered"]))
                )
                or 0
            )
            in_flight = (
                conn.scalar(
                    select(func.count(DeliveryRow.id)).where(
                        DeliveryRow.node.like(f"%:{killed}"), DeliveryRow.outcome.is_(None)
                    )
                )
                if killed
                else 0
            )
        return {
            "readings": readings,
            "pages_queued": len(queued),
            "pages_undelivered": undelivered,
            "pages_waiting": len(waiting - set(keys)),
            "pages_lost": len(queued - set(keys) - waiting),
            "pages_duplicated": sum(n - 1 for n in keys.values() if n > 1),
            "in_flight_at_kill": in_flight or 0,
        }


def file_readings_until(when_iso: str) -> int:
    from datetime import datetime

    from floodwatch.feeds.csv import parse_floodwatch_csv

    until = datetime.fromisoformat(when_iso)
    parsed = parse_floodwatch_csv(DEMO_READINGS.read_text(encoding="utf-8"), str(DEMO_READINGS))
    return sum(1 for r in parsed.readings if r.observed_at <= until)
