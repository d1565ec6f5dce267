"""The CLI's state-changing commands with --url: done by a running web app (a real uvicorn server
on 127.0.0.1) as the token's person, recorded as the console's actions are (via web), with the
server's refusals as one line in the command line's language."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from floodwatch import tokens
from floodwatch.store.models import EventRow, HandoverRow, LogEntryRow
from floodwatch.store.models import VillageWarningRow as Warning_
from floodwatch.web.server import WebServer

from .console_support import LEADER, OFFICER, Desk, demo_desk
from .helpers import Ran, fw

INCOMING_LEADER = "zhao.lei"  # leads from 08:00 CST on 28 May, the handover after 03:30


@dataclass
class Remote:
    desk: Desk
    url: str

    def token(self, person: str) -> str:
        return tokens.issue(self.desk.app.db, person, self.desk.clock.now())

    def run(self, *args: str, person: str = OFFICER, lang: str = "C.UTF-8") -> Ran:
        """`floodwatch ARGS --url URL --token TOKEN` with no config at hand: the server's say."""
        return fw(*args, "--url", self.url, "--token", self.token(person),
                  "--config", "/nonexistent/floodwatch.yaml", env={"LANG": lang})  # fmt: skip


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    for desk in demo_desk(tmp_path):
        server = WebServer(desk.app, listen="127.0.0.1:0")
        server.start()
        try:
            yield Remote(desk, server.url)
        finally:
            server.stop()


def last_line(ran: Ran) -> str:
    return (ran.stderr or ran.stdout).strip().splitlines()[-1]


def test_ack_through_the_api_is_recorded_as_the_tokens_person_via_web(remote: Remote) -> None:
    alert = remote.desk.alert
    ran = remote.run("ack", str(alert))
    assert (ran.returncode, ran.stdout.strip()) == (0, f"alert #{alert} acknowledged by {OFFICER}")
    row = remote.desk.the_alert()
    assert (row.acknowledged_by, row.acknowledged_via) == (OFFICER, "web")
    assert row.next_escalation_at is None  # escalation stopped
    again = remote.run("ack", str(alert))
    assert again.returncode == 1
    assert last_line(again).startswith(f"error: {remote.url}: alert #{alert} ")
    assert last_line(again).endswith("(HTTP 409)")


def test_escalate_through_the_api_and_on_the_database_page_the_next_step(
    remote: Remote,
) -> None:
    alert = remote.desk.alert
    step = remote.desk.the_alert().escalation_step
    ran = remote.run("escalate", str(alert))
    assert ran.returncode == 0, ran.stderr
    assert remote.desk.the_alert().escalation_step == step + 1
    [event] = [e for e in remote.desk.events("escalated") if e.data.get("by") == OFFICER]
    pages = ran.stdout.strip().rsplit(": ", 1)[1]
    assert ran.stdout.strip() == f"alert #{alert} escalated to step {step + 1}: {pages}"
    assert int(pages.split()[0]) > 0
    config = str(remote.desk.app.config.path)
    local = fw("escalate", str(alert), "--by", OFFICER, "--config", config)
    assert local.returncode == 0, local.stderr
    now_at = remote.desk.the_alert().escalation_step  # the last step repeats
    assert local.stdout.startswith(f"alert #{alert} escalated to step {now_at}: ")
    assert [e.data["by"] for e in remote.desk.events("escalated") if "by" in e.data] == [
        OFFICER, OFFICER
    ]  # fmt: skip
    assert event.type == "escalated"


def test_a_duty_log_entry_through_the_api_is_written_by_the_tokens_person(remote: Remote) -> None:
    ran = remote.run("log", "add", "巡查河口村堤段，无渗漏")
    assert ran.returncode == 0, ran.stderr
    entry = next(e for e in remote.desk.log_entries() if e.text == "巡查河口村堤段，无渗漏")
    assert entry.author == OFFICER
    at = remote.desk.app.office.local(entry.at)  # the office's zone, told by the server
    assert ran.stdout.strip() == f"duty-log entry #{entry.id} written at {at}"
    assert at.endswith(" CST")
    fix = remote.run("log", "add", "巡查河口村、李家湾堤段，无渗漏", "--corrects", str(entry.id))
    assert fix.stdout.strip().endswith(f"(corrects #{entry.id})")
    with remote.desk.app.db.sessions() as s:
        newest = s.scalars(select(LogEntryRow).order_by(LogEntryRow.id.desc())).first()
    assert newest is not None and newest.corrects == entry.id


def test_a_handover_written_and_confirmed_through_the_api(remote: Remote) -> None:
    ran = remote.run("handover", "--note", "1号闸门已落")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    with remote.desk.app.db.sessions() as s:
        row = s.scalars(select(HandoverRow)).one()
    assert lines[0] == f"handover record #{row.id} for the shift change at 2018-05-28 08:00 " \
        f"written by {OFFICER}"  # fmt: skip
    assert f"  open alerts: {len(row.open_alerts['alerts'])}, open hazards: 0" in lines
    assert len(row.open_alerts["alerts"]) == 2  # the flood's alert and the village's 叫应
    assert lines[-1].endswith(f"(or acknowledges alert #{row.alert_id})")
    assert any(line.strip().startswith("leader:") and INCOMING_LEADER in line for line in lines)
    accepted = remote.run("handover", "accept", person=INCOMING_LEADER)
    assert accepted.stdout.strip() == f"handover record #{row.id} confirmed by {INCOMING_LEADER}"
    with remote.desk.app.db.sessions() as s:
        confirmed = s.get(HandoverRow, row.id)
    assert confirmed is not None
    assert (confirmed.accepted_by, confirmed.accepted_via) == (INCOMING_LEADER, "web")


def test_a_leaders_actions_through_the_api_are_refused_to_an_officer_in_their_language(
    remote: Remote,
) -> None:
    with remote.desk.app.db.sessions() as s:
        village = s.scalars(select(Warning_.village).where(Warning_.state == "standing")).first()
    assert village is not None
    zh = remote.run("villages", "clear", village, lang="zh_CN.UTF-8")
    en = remote.run("villages", "clear", village)
    assert (zh.returncode, en.returncode) == (1, 1)
    assert last_line(zh) == (
        f"错误：{remote.url}：只有带班领导可以解除村组预警：{OFFICER} 不是带班领导（HTTP 403）"
    )
    assert last_line(en).startswith(f"error: {remote.url}: ")
    assert last_line(en).endswith(
        f"only a leader may clear a village's warning: {OFFICER} is not one (HTTP 403)"
    )
    cleared = remote.run("villages", "clear", village, person=LEADER)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip().endswith(f"cleared by {LEADER}")
    with remote.desk.app.db.sessions() as s:
        state = s.scalars(select(Warning_.state).where(Warning_.village == village)).all()
    assert state == ["cleared"]


def test_a_broadcast_through_the_api_is_recorded_with_who_sent_it(remote: Remote) -> None:
    with remote.desk.app.db.sessions() as s:
        village = s.scalars(select(Warning_.village)).first()
    assert village is not None
    ran = remote.run("broadcast", "--villages", village, "--text", "请立即转移", person=LEADER)
    assert ran.returncode == 0, ran.stderr
    event_id = int(ran.stdout.split("#", 1)[1].split(":", 1)[0])
    with remote.desk.app.db.sessions() as s:
        event = s.get(EventRow, event_id)
    assert event is not None and event.data["by"] == LEADER
    assert int(ran.stdout.strip().split(": ")[1].split()[0]) > 0  # loudspeakers queued


def test_what_the_cli_refuses_before_asking_the_server(remote: Remote) -> None:
    alert = str(remote.desk.alert)
    no_token = fw("ack", alert, "--url", remote.url, env={"FLOODWATCH_TOKEN": None})
    assert no_token.returncode == 2 and "--url needs your API token" in no_token.stderr
    both = fw("ack", alert, "--url", remote.url, "--token", "x", "--by", OFFICER)
    assert both.returncode == 2 and "give --by or --url, not both" in both.stderr
    neither = fw("log", "add", "x")
    assert neither.returncode == 2 and "--by PERSON is required" in neither.stderr
    bad = fw("ack", alert, "--url", "127.0.0.1:8080", "--token", "x")
    assert last_line(bad) == (
        "error: --url: expected http://HOST:PORT or https://..., found '127.0.0.1:8080'"
    )
    assert remote.desk.the_alert().acknowledged_by is None


def test_a_wrong_token_an_unknown_alert_and_no_server_are_one_line_each(remote: Remote) -> None:
    wrong = fw("ack", str(remote.desk.alert), "--url", remote.url, "--token", "fw_not-a-token")
    assert wrong.returncode == 1 and "(HTTP 401)" in last_line(wrong)
    unknown = remote.run("ack", "999999")
    assert (unknown.returncode, last_line(unknown)) == (
        1, f"error: {remote.url}: no alert #999999"
    )  # fmt: skip
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = fw("ack", "1", "--url", f"http://127.0.0.1:{port}", "--token", "x")
    assert (gone.returncode, last_line(gone)) == (
        1, f"error: cannot reach http://127.0.0.1:{port}: ConnectionError"
    )  # fmt: skip
    assert remote.desk.the_alert().acknowledged_by is None
