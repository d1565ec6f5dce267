"""The acknowledgement API (/api/v1): open alerts, acknowledge, escalate at once.

Each request carries a person's token (``Authorization: Bearer fw_...``, issued by
`floodwatch user token PERSON`); an acknowledgement goes through the one `acknowledge` every
path uses, recorded as ``via: web`` with the token's person. Errors are JSON
(``{"detail": "..."}``): 401 without a valid token, 403 for a person no longer on the roster,
404 for an unknown alert, 409 for an alert that is not open or was already acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from floodwatch import tokens
from floodwatch.alerts.lifecycle import AlertLifecycle
from floodwatch.clock import Clock
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.office import Office
from floodwatch.roster.holder import RosterHolder
from floodwatch.store import Database
from floodwatch.store.models import AlertRow


class AlertOut(BaseModel):
    """An alert as the API shows it (times in UTC, ISO 8601)."""

    id: int
    station: str
    station_name: str
    level: str
    level_name_zh: str
    level_name_en: str
    state: str
    value: float
    unit: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: str | None
    escalation_step: int
    next_escalation_at: datetime | None


class Escalated(BaseModel):
    alert: AlertOut
    pages: int  # pages queued to the next step


class ErrorOut(BaseModel):
    detail: str


_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "no token, or an unknown or revoked one"},
    403: {"model": ErrorOut, "description": "the token's person is no longer on the roster"},
}
_ON_ALERT: dict[int | str, dict[str, object]] = {
    **_ERRORS,
    404: {"model": ErrorOut, "description": "no such alert"},
    409: {"model": ErrorOut, "description": "the alert is not open, or already acknowledged"},
}


def api_router(
    db: Database, clock: Clock, lifecycle: AlertLifecycle, roster: RosterHolder, office: Office,
    station_names: Mapping[str, str],
) -> APIRouter:  # fmt: skip
    router = APIRouter(prefix="/api/v1", tags=["alerts"])
    bearer = HTTPBearer(auto_error=False, description="a person's token: floodwatch user token")

    # (defaults, not Annotated: these names are local, and annotations are strings here)
    def person(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> str:
        """The person whose token the request carries."""
        unauthorized = HTTPException(
            401, "a valid token is required: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
        if credentials is None or not credentials.credentials:
            raise unauthorized
        who = tokens.person_for(db, credentials.credentials)
        if who is None:
            raise unauthorized
        if who not in roster.current.people:
            raise HTTPException(403, f"{who} is no longer on the roster")
        return who

    def shown(alert: AlertRow) -> AlertOut:
        level = next((lv for lv in office.levels if lv.id == alert.level), None)
        return AlertOut(
            id=alert.id, station=alert.station,
            station_name=station_names.get(alert.station, alert.station), level=alert.level,
            level_name_zh=level.name_zh if level else alert.level,
            level_name_en=level.name_en if level else alert.level, state=alert.state,
            value=alert.value, unit=alert.unit, opened_at=alert.opened_at,
            acknowledged_at=alert.acknowledged_at, acknowledged_by=alert.acknowledged_by,
            acknowledged_via=alert.acknowledged_via, escalation_step=alert.escalation_step,
            next_escalation_at=alert.next_escalation_at,
        )  # fmt: skip

    @router.get("/alerts", responses=_ERRORS)
    def open_alerts(who: str = Depends(person)) -> list[AlertOut]:  # noqa: B008
        """The open alerts, oldest first."""
        with db.sessions() as session:
            return [shown(a) for a in lifecycle.open_alerts(session)]

    @router.post("/alerts/{alert_id}/ack", responses=_ON_ALERT)
    def acknowledge(alert_id: int, who: str = Depends(person)) -> AlertOut:  # noqa: B008
        """Take the alert on: escalation stops (``ack: all`` steps wait for everyone)."""
        try:
            return shown(lifecycle.acknowledge(alert_id, who, "web", clock.now()))
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except FloodwatchError as exc:
            raise HTTPException(409, str(exc)) from None

    @router.post("/alerts/{alert_id}/escalate", responses=_ON_ALERT)
    def escalate(alert_id: int, who: str = Depends(person)) -> Escalated:  # noqa: B008
        """Page the next step of the alert's policy now."""
        try:
            pages = lifecycle.escalate_now(alert_id, who, "web", clock.now())
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except FloodwatchError as exc:
            raise HTTPException(409, str(exc)) from None
        with db.sessions() as session:
            alert = session.get(AlertRow, alert_id)
        if alert is None:  # deleted meanwhile: only a hand-edited database gets here
            raise HTTPException(404, f"no alert #{alert_id}")
        return Escalated(alert=shown(alert), pages=pages)

    return router
