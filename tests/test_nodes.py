"""Several nodes on one PostgreSQL database, for real: `floodwatch run` processes started
together on an empty database, the leader killed with SIGKILL during the demo flood; counted
afterwards: no reading lost, no alert change missed, no page lost or sent twice but one in
flight at the kill, each handover announced once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from floodwatch.replay import replay

from .helpers import DEMO_CONFIG, demo_readings
from .node_support import Nodes, file_readings_until, node_config

pytestmark = pytest.mark.postgres

START = "2018-05-27T15:00:00-05:00"  # half an hour before the river reaches flood stage
SPEED = 1800  # half an hour a second: the 08:00 Shanghai handover comes 8 s after the start
CHANGES = ("opened", "raised", "lowered", "cleared")


@pytest.fixture
def nodes(tmp_path: Path, postgres_url: str) -> Iterator[Nodes]:
    # a page the killed leader had claimed is sent again when its claim expires, in real time:
    # 10 s, well inside the test's waits (the default 10 minutes would outlast them: a CI flake
    # whenever the kill caught a page in flight)
    config = node_config(tmp_path, postgres_url, SPEED, START, delivery={"claim_timeout": "10s"})
    n = Nodes(config, postgres_url)
    try:
        yield n
    finally:
        n.stop()


def test_two_nodes_start_together_and_the_standby_takes_over_from_a_killed_leader(
    nodes: Nodes, tmp_path: Path
) -> None:
    nodes.start(2)  # together, on an empty database: one upgrades, the other waits for it
    nodes.wait(lambda: "opened" in nodes.event_types(), 40, "the alert to open")
    killed = nodes.leader_pid()
    assert killed in {p.pid for p in nodes.procs}
    nodes.kill(killed)  # type: ignore[arg-type]
    nodes.wait(lambda: nodes.leader_pid() not in (None, killed), 30, "a standby to lead")
    nodes.wait(lambda: "handover" in nodes.event_types(), 60, "the 08:00 handover")
    nodes.wait(lambda: nodes.count(tmp_path / "pages.jsonl", killed)["pages_undelivered"] == 0,
               30, "every page delivered")  # fmt: skip
    codes = nodes.stop()  # before counting: a poll between two reads would skew them
    assert sorted(codes) == [-9, 0]  # the survivor stopped cleanly on SIGTERM
    last_poll = nodes.state("poll:demo")
    assert last_poll is not None
    counted = nodes.count(tmp_path / "pages.jsonl", killed)
    types = nodes.event_types()

    assert counted["readings"] == file_readings_until(last_poll["at"])  # 0 readings lost
    assert counted["pages_lost"] == 0
    assert counted["pages_duplicated"] <= counted["in_flight_at_kill"]
    assert types.count("handover") == 1  # announced once, by one node
    # the alert changes are those of a fault-free run over the same readings
    seen = [t for t in types if t in CHANGES]
    until = datetime.fromisoformat(last_poll["at"])
    polled = [r for r in demo_readings() if r.observed_at <= until]
    fault_free = [e["type"] for e in replay(DEMO_CONFIG, polled) if e["type"] in CHANGES]
    assert seen == fault_free and seen[:2] == ["opened", "raised"]
