"""Watching the watcher: `floodwatch status` and the dead-man heartbeat."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from floodwatch.health import ping, status
from floodwatch.service import Service
from floodwatch.store.models import PageRow

from .conftest import LocalHTTPServer
from .helpers import fw, write_config
from .roster_support import local
from .service_support import DEMO_FEED, drive, simulated

START = local("2018-05-28 04:00")
STEP = timedelta(minutes=5)


def test_a_running_service_is_healthy_and_says_who_leads(tmp_path: Path) -> None:
    service, clock = simulated(tmp_path, START, node="node-a")
    drive(service, clock, START + timedelta(hours=1), STEP)
    health = status(service.app, clock.now() - STEP)  # as the last round of jobs left it
    assert health.problems == []
    d = health.detail
    assert d["leader"]["node"] == "node-a" and d["database"]["ok"] is True
    assert d["feeds"]["demo"]["last_poll"]["ok"] is True
    assert d["outbox"] == {"pending": 0, "oldest_due": None}
    assert d["escalation_tick"]["node"] == "node-a"


def test_each_thing_that_goes_wrong_is_named(tmp_path: Path) -> None:
    broken = {**DEMO_FEED, "name": "gauge-2", "path": str(tmp_path / "gone.csv")}
    (tmp_path / "dir").mkdir()  # the pages file cannot be written there: pages wait
    service, clock = simulated(
        tmp_path, START, feeds=[DEMO_FEED, broken],
        notifiers=[{"name": "file", "type": "jsonl", "path": str(tmp_path / "dir")}],
    )  # fmt: skip
    drive(service, clock, START + timedelta(minutes=45), STEP)  # the alert opened at 04:30
    health = status(service.app, clock.now() - STEP)
    assert [p.split(": ", 2)[:2] for p in health.problems] == [["feed gauge-2", "last poll failed"]]
    # the service stops (no lease checks, no ticks, no polls); time passes
    stale = status(service.app, clock.now() + timedelta(minutes=45)).problems
    assert [p.split(" at ")[0] for p in stale] == [
        "the leader test was last seen",
        "feed demo was last polled",
        stale[2].split(" at ")[0],  # gauge-2: failed, and stale too
        "feed gauge-2 was last polled",
        f"{waiting(service)} page(s) waiting; the oldest was due",
        "the escalation tick last ran",
    ]
    assert stale[2].startswith("feed gauge-2: last poll failed: feed gauge-2: cannot read ")


def waiting(service: Service) -> int:
    with service.app.db.sessions() as s:
        count = s.scalar(select(func.count(PageRow.id)).where(PageRow.status == "pending"))
    assert count  # the officers' pages about the opened alert, at least
    return count


def test_status_exits_1_and_lists_the_problems(tmp_path: Path) -> None:
    config = write_config(tmp_path, feeds=[DEMO_FEED])
    assert fw("status", "--config", str(config)).returncode == 1  # no database yet
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    result = fw("status", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "UNHEALTHY"
    assert "problem: no node has ever held the leader lease: is `floodwatch run` up?" in (
        result.stderr
    )
    assert "problem: feed demo has not been polled yet" in result.stderr
    out = json.loads(fw("status", "--config", str(config), "--json").stdout)
    assert out["ok"] is False and out["database"]["ok"] is True
    assert "the escalation tick has not run yet" in out["problems"]


def test_the_heartbeat_pings_while_well_and_fails_when_not(
    tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    http_server.serve("/ping/abc", b"OK", content_type="text/plain")
    http_server.serve("/ping/abc/fail", b"OK", content_type="text/plain")
    beat = {"url": f"{http_server.url}/ping/abc", "every": "1m"}
    service, clock = simulated(tmp_path, START, heartbeat=beat)
    drive(service, clock, START + timedelta(minutes=20), STEP)
    service.check_lease()  # the lease is checked every few seconds, the tick every 15
    service.escalate()
    service.heartbeat()
    assert ping(service.app, clock.now(), database_down=True)
    paths = [path for _, path, _ in http_server.requests]
    assert paths == ["/ping/abc", "/ping/abc/fail"]


def test_a_monitor_that_does_not_answer_is_logged_never_raised(tmp_path: Path) -> None:
    beat = {"url": "http://127.0.0.1:1/ping", "timeout": "1s"}
    service, clock = simulated(tmp_path, START, heartbeat=beat)
    assert not ping(service.app, clock.now(), database_down=False)
