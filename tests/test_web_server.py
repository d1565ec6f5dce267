"""The web app on a real uvicorn server on 127.0.0.1, as `floodwatch run` starts it: the SMS
answer story over real HTTP, and starting and stopping."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from floodwatch.clock import SimulatedClock
from floodwatch.errors import FloodwatchError
from floodwatch.store.models import AlertRow
from floodwatch.web.server import WebServer

from .helpers import demo_readings
from .twilio_support import FakeTwilio, Phones, Webhooks, run_until, twilio_app, twilio_service

FLOOD = demo_readings()
EST_1530 = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)
SUN_HAO, ZHOU_MIN, WANG_FANG = "+8613800000013", "+8613800000014", "+8613800000002"


def test_an_sms_answer_over_a_real_server_stops_the_escalation(tmp_path: Path) -> None:
    fake = FakeTwilio()
    service, clock = twilio_service(tmp_path, EST_1530 - timedelta(minutes=30), fake)
    server = WebServer(service.app)  # listens where the config says: 127.0.0.1:0
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            phones = Phones(fake, Webhooks(client))
            run_until(service, clock, EST_1530)
            sms = phones.expect_sms(SUN_HAO, "回复 1a 确认，1e 立即升级")
            phones.expect_sms(ZHOU_MIN, "回复 1a 确认，1e 立即升级")
            phones.expect_call(SUN_HAO, "按1确认")
            phones.expect_call(ZHOU_MIN, "按1确认")
            phones.expect_no_more()
            assert sms.reply("1a") == "已确认告警#1，升级已停止。"
            assert sms.status("delivered").status_code == 204
            run_until(service, clock, EST_1530 + timedelta(minutes=20))
            phones.expect_no_more()  # no page to the leader
    finally:
        server.stop()
        fake.close()
    with service.app.db.sessions() as s:
        alert = s.scalars(select(AlertRow)).one()
    assert (alert.acknowledged_by, alert.acknowledged_via) == ("sun.hao", "sms")
    with pytest.raises(httpx.ConnectError):  # stopped: nothing listens any more
        httpx.post(f"{server.url}/twilio/sms", timeout=2)


def test_a_port_in_use_is_an_error_that_names_it(tmp_path: Path) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        app = twilio_app(
            tmp_path, SimulatedClock(EST_1530), FakeTwilio(),
            web={"listen": f"127.0.0.1:{port}", "public_url": "https://example.org"},
        )  # fmt: skip
        server = WebServer(app)
        with pytest.raises(FloodwatchError, match=f"cannot listen on 127.0.0.1:{port}: "):
            server.start()
        server.stop()  # never started: nothing to stop
    finally:
        taken.close()


def test_without_a_web_section_there_is_no_web_app(tmp_path: Path) -> None:
    from floodwatch.app import build_app

    from .helpers import write_config

    app = build_app(write_config(tmp_path), clock=SimulatedClock(EST_1530))
    with pytest.raises(FloodwatchError, match="no `web:` section"):
        WebServer(app)


def test_stop_lets_the_port_go(tmp_path: Path) -> None:
    app = twilio_app(tmp_path, SimulatedClock(EST_1530), FakeTwilio())
    server = WebServer(app)
    server.start()
    port = server.port
    assert httpx.get(f"{server.url}/openapi.json", timeout=5).status_code == 200
    server.stop()
    again = WebServer(app, listen=f"127.0.0.1:{port}")  # the same port, at once
    again.start()
    again.stop()


def test_floodwatch_run_serves_the_web_app_while_it_runs(tmp_path: Path) -> None:
    import socket
    import subprocess
    import time
    import urllib.request

    from .helpers import FLOODWATCH, english_environ, write_config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path, web={"listen": f"127.0.0.1:{port}",
                                         "public_url": "https://fw.example.org"})  # fmt: skip
    # generous limits: on a loaded machine the start (imports, migrations) can take a while;
    # the test stops the process itself once it has its answer
    proc = subprocess.Popen([FLOODWATCH, "run", "--config", str(config), "--for", "120s"],
                            stderr=subprocess.PIPE, text=True, env=english_environ())  # fmt: skip
    try:
        deadline, status = time.monotonic() + 90, None
        while status is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/openapi.json", timeout=2
                ) as r:
                    status = r.status
            except OSError:
                time.sleep(0.1)
        assert status == 200, "the web app did not answer within 90 s"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"web app on http://127.0.0.1:{port}" in err and "floodwatch stopped." in err
