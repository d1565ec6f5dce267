"""The duty desk's JSON API (/api/v1): what the console shows and does, for scripts and the CLI.

Each request carries a person's token (``Authorization: Bearer fw_...``, issued by
`floodwatch user token PERSON`). The actions are the console's (`web.desk.Desk`): the same role
checks, the same library functions, recorded as ``via: web`` with the token's person. Errors
are JSON (``{"detail": "..."}``): 401 without a valid token, 403 for a person no longer on the
roster or without the role the action needs, 404 for an unknown alert, village or entry, 409
for what the state refuses (an alert not open or already acknowledged, a village without a
warning), 422 for a malformed request. A refusal's `detail` is in the language the request's
Accept-Language asks for (the CLI sends its own), else English.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from floodwatch import i18n, tokens
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.store import Database
from floodwatch.store.models import AlertRow, HandoverRow, LogEntryRow, VillageWarningRow
from floodwatch.villages.desk import MAX_TEXT
from floodwatch.web.access import Access, Forbidden, Person
from floodwatch.web.desk import Desk
from floodwatch.web.views import AlertView, Views

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
# text people write: no NUL (PostgreSQL refuses it in text), bounded
Line = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]
AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]
VillageId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


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
    rule_type: str = "threshold"
    cleared_at: datetime | None = None
    paged: list[str] = Field(default_factory=list)  # everyone paged about it, in order


class Escalated(BaseModel):
    alert: AlertOut
    pages: int  # pages queued to the next step


class Answer(BaseModel):
    person: str
    via: str
    at: datetime
    step: int


class TimelineOut(BaseModel):
    at: datetime
    type: str  # an event type, or "page"
    data: dict[str, Any]


class AlertDetail(BaseModel):
    alert: AlertOut
    answered: list[Answer]
    timeline: list[TimelineOut]


class MeOut(BaseModel):
    person: str
    name: str
    language: str
    roles: list[str]
    timezone: str  # the office's (IANA name): the zone its people read times in


class PersonOut(BaseModel):
    id: str
    name: str


class RoleOut(BaseModel):
    role: str
    title: str
    people: list[PersonOut]
    start: datetime
    end: datetime


class DutyOut(BaseModel):
    at: datetime
    roles: list[RoleOut]
    next_handover: datetime


class LatestOut(BaseModel):
    parameter: str
    value: float
    unit: str
    observed_at: datetime
    per_hour: float | None
    trend: str  # rising, falling, steady, unknown


class StationOut(BaseModel):
    id: str
    name: str
    level: str | None
    alerts: list[int]
    latest: list[LatestOut]
    degraded_feed: str | None


class LogIn(BaseModel):
    text: Line = Field(min_length=1)
    kind: str = Field(default="note", max_length=32)
    corrects: int | None = Field(default=None, ge=1, le=MAX_ID)


class LogOut(BaseModel):
    id: int
    at: datetime
    kind: str
    author: str
    text: str
    corrects: int | None


class HandoverIn(BaseModel):
    note: Line = ""


class HandoverOut(BaseModel):
    id: int
    handover_at: datetime | None
    by: str
    accepted_by: str | None
    accepted_at: datetime | None
    alert: int | None = None  # its acknowledgement is the incoming leader's confirmation
    outgoing: dict[str, list[str]] = Field(default_factory=dict)  # role -> person ids
    incoming: dict[str, list[str]] = Field(default_factory=dict)
    open_alerts: int = 0  # open when it was written
    open_hazards: int = 0


class BroadcastIn(BaseModel):
    villages: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=100
    )
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=r"^[^\x00]*$")]


class BroadcastOut(BaseModel):
    event: int
    loudspeakers: int


class VillageWarningOut(BaseModel):
    id: int
    village: str
    level: str
    state: str
    cleared_at: datetime | None
    cleared_by: str | None


class ErrorOut(BaseModel):
    detail: str


def _r(**codes: str) -> dict[int | str, dict[str, Any]]:
    return {int(k[1:]): {"model": ErrorOut, "description": v} for k, v in codes.items()}


_AUTH = _r(_401="no token, or an unknown or revoked one",
           _403="the token's person is no longer on the roster, or lacks the role")  # fmt: skip
_ON_ALERT = {**_AUTH, **_r(_404="no such alert",
                           _409="the alert is not open, or already acknowledged")}  # fmt: skip
_ON_THING = {**_AUTH, **_r(_404="no such thing", _409="the state refuses it")}

T = TypeVar("T")


def api_router(db: Database, access: Access, desk: Desk, views: Views) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    bearer = HTTPBearer(auto_error=False, description="a person's token: floodwatch user token")

    # (defaults, not Annotated: these names are local, and annotations are strings here)
    def person(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> Person:
        """The person whose token the request carries, with their roles."""
        unauthorized = HTTPException(
            401, "a valid token is required: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
        if credentials is None or not credentials.credentials:
            raise unauthorized
        who = tokens.person_for(db, credentials.credentials)
        if who is None:
            raise unauthorized
        found = access.person(who)
        if found is None:
            raise HTTPException(403, f"{who} is no longer on the roster")
        return found

    def doing(action: Callable[[], T], request: Request) -> T:
        """The action, its refusals as HTTP errors in the caller's language."""
        try:
            return action()
        except FloodwatchError as exc:
            language = i18n.choose(
                i18n.from_accept_language(request.headers.get("accept-language"))
            )
            code = 403 if isinstance(exc, Forbidden) else 404 if isinstance(exc, NotFound) else 409
            raise HTTPException(code, i18n.text_of(exc, language)) from None

    def shown(alert: AlertRow | AlertView) -> AlertOut:
        view = alert if isinstance(alert, AlertView) else views.alert(alert.id)
        if isinstance(view, tuple):
            view = view[0]
        if view is None:  # deleted meanwhile: only a hand-edited database gets here
            raise HTTPException(404, "no such alert")
        data = view.as_json()
        return AlertOut(**{k: v for k, v in data.items() if k in AlertOut.model_fields})

    me_dep = Depends(person)

    @router.get("/me", responses=_AUTH, tags=["people"])
    def me(who: Person = me_dep) -> MeOut:
        """Who the token is, with their roles (officer, leader, admin)."""
        return MeOut(person=who.id, name=who.name, language=who.language,
                     roles=sorted(who.roles), timezone=views.office.zone.key)  # fmt: skip

    @router.get("/duty", responses=_AUTH, tags=["duty"])
    def duty(who: Person = me_dep) -> DutyOut:
        """Who is on duty now in each role, until when; the next handover."""
        now = views.duty()
        return DutyOut(
            at=now.at, next_handover=now.next_handover,
            roles=[RoleOut(role=r.role, title=r.title, start=r.start, end=r.end,
                           people=[PersonOut(id=p.id, name=p.name) for p in r.people])
                   for r in now.roles],
        )  # fmt: skip

    @router.get("/alerts", responses=_AUTH, tags=["alerts"])
    def open_alerts(who: Person = me_dep) -> list[AlertOut]:
        """The open alerts, oldest first."""
        return [shown(a) for a in views.open_alerts()]

    @router.get("/alerts/{alert_id}", responses=_ON_ALERT, tags=["alerts"])
    def alert(alert_id: AlertId, who: Person = me_dep) -> AlertDetail:
        """An alert, who answered it, and its timeline: every event and page with outcome."""
        found = views.alert(alert_id)
        if found is None:
            raise HTTPException(404, f"no alert #{alert_id}")
        view, items = found
        timeline = [
            TimelineOut(at=i.at, type=i.type, data=dict(i.data)) if i.page is None else
            TimelineOut(at=i.at, type="page", data={
                "page": i.page.id, "person": i.page.person.id, "role": i.page.role,
                "channel": i.page.channel, "step": i.page.step, "status": i.page.status,
                "detail": i.page.detail})
            for i in items
        ]  # fmt: skip
        answered = [Answer(person=a.person.id, via=a.via, at=a.at, step=a.step)
                    for a in view.answered]  # fmt: skip
        return AlertDetail(alert=shown(view), answered=answered, timeline=timeline)

    @router.post("/alerts/{alert_id}/ack", responses=_ON_ALERT, tags=["alerts"])
    def acknowledge(request: Request, alert_id: AlertId, who: Person = me_dep) -> AlertOut:
        """Take the alert on: escalation stops (``ack: all`` steps wait for everyone)."""
        return shown(doing(lambda: desk.acknowledge(who, alert_id), request))

    @router.post("/alerts/{alert_id}/escalate", responses=_ON_ALERT, tags=["alerts"])
    def escalate(request: Request, alert_id: AlertId, who: Person = me_dep) -> Escalated:
        """Page the next step of the alert's policy now."""
        done = doing(lambda: desk.escalate(who, alert_id), request)
        return Escalated(alert=shown(done.alert), pages=done.pages)

    @router.post("/alerts/{alert_id}/clear", responses=_ON_ALERT, tags=["alerts"])
    def clear(request: Request, alert_id: AlertId, who: Person = me_dep) -> AlertOut:
        """Declare the alert over (a leader): everyone paged is told; the rule starts again."""
        return shown(doing(lambda: desk.clear_alert(who, alert_id), request))

    @router.get("/stations", responses=_AUTH, tags=["stations"])
    def stations(who: Person = me_dep) -> list[StationOut]:
        """Every station with its latest readings, their trend, and its level."""
        return [
            StationOut(
                id=s.station.id,
                name=s.station.name,
                level=s.level.id if s.level else None,
                alerts=list(s.alerts),
                degraded_feed=s.degraded_feed,
                latest=[
                    LatestOut(
                        parameter=r.parameter,
                        value=r.value,
                        unit=r.unit,
                        observed_at=r.observed_at,
                        per_hour=r.per_hour,
                        trend=r.trend,
                    )
                    for r in s.latest
                ],
            )  # fmt: skip
            for s in views.stations_now()
        ]

    @router.get("/villages", responses=_AUTH, tags=["villages"])
    def villages(who: Person = me_dep) -> list[dict[str, Any]]:
        """Every village's warning chain: its warning, who answered, households moved."""
        if desk.villages is None:
            return []
        zone = views.office.zone
        return [chain.as_json(zone) for chain in desk.villages.chain()]

    @router.post("/villages/{village_id}/clear", responses=_ON_THING, tags=["villages"])
    def clear_village(
        request: Request, village_id: VillageId, who: Person = me_dep
    ) -> VillageWarningOut:
        """End a village's warning (the leader on duty)."""
        row: VillageWarningRow = doing(lambda: desk.clear_village(who, village_id), request)
        return VillageWarningOut(id=row.id, village=row.village, level=row.level,
                                 state=row.state, cleared_at=row.cleared_at,
                                 cleared_by=row.cleared_by)  # fmt: skip

    @router.post("/broadcast", responses=_ON_THING, tags=["villages"])
    def broadcast(
        request: Request, body: Annotated[BroadcastIn, Body()], who: Person = me_dep
    ) -> BroadcastOut:
        """Say a text on every loudspeaker of the villages now (a leader)."""
        done = doing(lambda: desk.broadcast(who, body.villages, body.text), request)
        return BroadcastOut(event=done.event, loudspeakers=done.loudspeakers)

    @router.get("/log", responses=_AUTH, tags=["records"])
    def duty_log(
        who: Person = me_dep,
        day: Annotated[date | None, Query(ge=date(1900, 1, 1), le=date(9000, 12, 31))] = None,
    ) -> list[LogOut]:
        """The duty log of the office's day (default: today), oldest first."""
        return [
            LogOut(
                id=e.id, at=e.at, kind=e.kind, author=e.author, text=e.text, corrects=e.corrects
            )  # fmt: skip
            for e in views.duty_log(day).entries
        ]

    @router.post("/log", responses=_ON_THING, tags=["records"])
    def write_log(request: Request, body: Annotated[LogIn, Body()], who: Person = me_dep) -> LogOut:
        """Write an entry in the duty log now (a correction names the entry it corrects)."""
        row: LogEntryRow = doing(
            lambda: desk.write_log(who, body.text, body.kind, body.corrects), request
        )
        return LogOut(id=row.id, at=row.at, kind=row.kind, author=row.author, text=row.text,
                      corrects=row.corrects)  # fmt: skip

    def handover_out(row: HandoverRow) -> HandoverOut:
        return HandoverOut(
            id=row.id, handover_at=row.handover_at, by=row.by, accepted_by=row.accepted_by,
            accepted_at=row.accepted_at, alert=row.alert_id, outgoing=row.outgoing,
            incoming=row.incoming, open_alerts=len(row.open_alerts.get("alerts", [])),
            open_hazards=len(row.open_hazards.get("hazards", [])),
        )  # fmt: skip

    @router.post("/handover", responses=_ON_THING, tags=["records"])
    def hand_over(
        request: Request, body: Annotated[HandoverIn, Body()], who: Person = me_dep
    ) -> HandoverOut:
        """Write the handover record of the nearest shift change (someone going off duty)."""
        return handover_out(doing(lambda: desk.hand_over(who, body.note), request))

    @router.post("/handover/accept", responses=_ON_THING, tags=["records"])
    def accept_handover(request: Request, who: Person = me_dep) -> HandoverOut:
        """Confirm the handover record waiting for you (the incoming leader)."""
        row = doing(lambda: desk.accept_handover(who), request)
        with db.sessions() as session:
            fresh = session.get(HandoverRow, row.id)
        return handover_out(fresh or row)

    return router
