"""The acknowledgement API (/api/v1) with per-person tokens, on the real demo flood: listing open
alerts, acknowledging (recorded `via: web` with the token's person), escalating at once; JSON
errors for no token, a bad or revoked token, an unknown alert and an alert not open."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from floodwatch.app import build_app
from floodwatch.clock import SimulatedClock
from floodwatch.store.models import AlertRow, PageRow
from floodwatch.web.app import create_app

from .console_support import Records
from .helpers import demo_readings, write_config

FLOOD = demo_readings()
EST_1530 = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)  # the alert opens (yellow)
WEB = {"listen": "127.0.0.1:0", "public_url": "https://floodwatch.example.org"}


@dataclass
class Api(Records):
    client: TestClient


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    clock = SimulatedClock(EST_1530)
    app = build_app(write_config(tmp_path, web=WEB), clock=clock)
    app.db.upgrade()
    app.pipeline.ingest([r for r in FLOOD if r.observed_at <= EST_1530], clock.now())
    with app.db.sessions() as s:
        alert = s.scalars(select(AlertRow.id)).one()
    with TestClient(create_app(app)) as client:
        yield Api(app, clock, alert, client)
    app.db.dispose()


def test_the_open_alerts_for_a_person_with_a_token(api: Api) -> None:
    answer = api.client.get("/api/v1/alerts", headers=api.bearer("sun.hao"))
    assert answer.status_code == 200
    [alert] = answer.json()
    assert alert["id"] == api.alert
    assert (alert["station"], alert["station_name"]) == (
        "01589025", "Patapsco River near Catonsville, MD",
    )  # fmt: skip
    assert (alert["level"], alert["level_name_zh"], alert["state"]) == ("yellow", "黄色", "open")
    assert (alert["value"], alert["unit"]) == (20.63, "ft")
    assert alert["acknowledged_at"] is None and alert["escalation_step"] == 0
    assert alert["opened_at"].startswith("2018-05-27T20:30:00")  # 15:30 EST, in UTC


def test_acknowledging_records_who_how_and_when(api: Api) -> None:
    api.clock.advance(timedelta(minutes=4))
    answer = api.client.post(f"/api/v1/alerts/{api.alert}/ack", headers=api.bearer("zhou.min"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["acknowledged_by"], body["acknowledged_via"]) == ("zhou.min", "web")
    alert = api.the_alert()
    assert (alert.acknowledged_by, alert.acknowledged_via) == ("zhou.min", "web")
    assert alert.acknowledged_at == api.clock.now() and alert.next_escalation_at is None
    [ack] = api.events("acknowledged")
    assert (ack.data["by"], ack.data["via"], ack.at) == ("zhou.min", "web", api.clock.now())
    assert (
        api.client.get("/api/v1/alerts", headers=api.bearer("sun.hao")).json()[0]["acknowledged_by"]
        == "zhou.min"
    )


def test_acknowledging_twice_is_a_conflict(api: Api) -> None:
    headers = api.bearer("zhou.min")
    assert api.client.post(f"/api/v1/alerts/{api.alert}/ack", headers=headers).status_code == 200
    again = api.client.post(f"/api/v1/alerts/{api.alert}/ack", headers=api.bearer("sun.hao"))
    assert again.status_code == 409
    assert "already acknowledged by zhou.min" in again.json()["detail"]
    assert len(api.events("acknowledged")) == 1


def test_an_alert_that_is_over_cannot_be_acknowledged(api: Api) -> None:
    with api.app.db.transaction() as s:
        row = s.get(AlertRow, api.alert)
        assert row is not None
        row.state = "cleared"
    answer = api.client.post(f"/api/v1/alerts/{api.alert}/ack", headers=api.bearer("zhou.min"))
    assert answer.status_code == 409
    assert answer.json() == {"detail": f"alert #{api.alert} is cleared, not open"}
    assert api.client.get("/api/v1/alerts", headers=api.bearer("zhou.min")).json() == []


def test_an_unknown_alert_is_not_found(api: Api) -> None:
    for action in ("ack", "escalate"):
        answer = api.client.post(f"/api/v1/alerts/9999/{action}", headers=api.bearer("zhou.min"))
        assert answer.status_code == 404
        assert answer.json() == {"detail": "no alert #9999"}


def test_escalating_pages_the_next_step_now(api: Api) -> None:
    answer = api.client.post(f"/api/v1/alerts/{api.alert}/escalate", headers=api.bearer("sun.hao"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["pages"] >= 1 and body["alert"]["escalation_step"] == 1
    [escalated] = api.events("escalated")
    assert (escalated.data["by"], escalated.at) == ("sun.hao", api.clock.now())
    with api.app.db.sessions() as s:
        leaders = s.scalars(select(PageRow.person).where(PageRow.role == "leader")).all()
    assert leaders == ["wang.fang"]
    assert api.the_alert().acknowledged_at is None


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer fw_not-a-token", "Basic c3VuLmhhbzpzZWNyZXQ=", "fw_no-scheme"],
    ids=["none", "empty", "unknown", "basic", "no-scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/alerts"),
        ("POST", "/api/v1/alerts/{id}/ack"),
        ("POST", "/api/v1/alerts/{id}/escalate"),
    ],  # fmt: skip
)
def test_without_a_valid_token_nothing_is_shown_or_changed(
    api: Api, authorization: str | None, method: str, path: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = api.client.request(method, path.format(id=api.alert), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json() == {"detail": "a valid token is required: Authorization: Bearer <token>"}
    assert api.the_alert().acknowledged_at is None and api.the_alert().escalation_step == 0


def test_a_revoked_token_stops_working(api: Api) -> None:
    old = api.bearer("zhou.min")
    new = api.bearer("zhou.min")  # issuing a new token revokes the old one
    assert api.client.get("/api/v1/alerts", headers=old).status_code == 401
    assert api.client.get("/api/v1/alerts", headers=new).status_code == 200


def test_a_person_no_longer_on_the_roster_is_refused(api: Api) -> None:
    answer = api.client.post(f"/api/v1/alerts/{api.alert}/ack", headers=api.bearer("gone.away"))
    assert answer.status_code == 403
    assert answer.json() == {"detail": "gone.away is no longer on the roster"}
    assert api.the_alert().acknowledged_at is None


def test_the_openapi_document_describes_the_api_and_not_the_webhooks(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    assert set(doc["paths"]) == {
        f"/api/v1{path}"
        for path in (
            "/me", "/duty", "/alerts", "/alerts/{alert_id}", "/alerts/{alert_id}/ack",
            "/alerts/{alert_id}/escalate", "/alerts/{alert_id}/clear", "/stations", "/villages",
            "/villages/{village_id}/clear", "/broadcast", "/log", "/handover", "/handover/accept",
        )
    }  # fmt: skip
    ack = doc["paths"]["/api/v1/alerts/{alert_id}/ack"]["post"]
    assert {"200", "401", "403", "404", "409"} <= set(ack["responses"])
    assert ack["security"] == [{"HTTPBearer": []}]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
