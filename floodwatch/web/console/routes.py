"""The duty console's pages and forms (server-rendered HTML; a few lines of vanilla JavaScript
refresh the live parts and say when the server is lost).

GET pages need a session (else: to the sign-in page). Every POST needs a session (401), the
session's CSRF token (403) and the role its action needs (403, from `Desk`); what the library
refuses (an alert already acknowledged) comes back to the page as a message. A done action
redirects (303) to the page it came from.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from floodwatch import i18n, users
from floodwatch.clock import Clock
from floodwatch.errors import FloodwatchError
from floodwatch.i18n import Refused, Text, _
from floodwatch.office import Office
from floodwatch.records import dutylog
from floodwatch.roster.ical import to_ical
from floodwatch.roster.table import table_range
from floodwatch.villages.desk import MAX_TEXT, VillageDesk
from floodwatch.web.access import ADMIN, ROLE_TEXT, Access, Forbidden, Person
from floodwatch.web.console.charts import Charts
from floodwatch.web.console.templating import Templates
from floodwatch.web.desk import Desk
from floodwatch.web.sessions import (
    COOKIE,
    FLASH,
    LANGUAGE,
    LOGIN_CSRF,
    LoginLimiter,
    Session,
    Sessions,
    same_token,
)
from floodwatch.web.views import Views, rule_summary

log = logging.getLogger(__name__)

LIVE_EVERY = 5  # seconds between the page's refreshes of its live parts
ICAL_DAYS = 62  # a person's calendar: from today, this many days
ROSTER_DAYS = (7, 14, 28)


@dataclass(frozen=True)
class Ctx:
    """Who asks, in which language, with which CSRF token."""

    person: Person | None
    session: Session | None
    language: str

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""


@dataclass
class Console:
    office: Office
    clock: Clock
    views: Views
    desk: Desk
    access: Access
    sessions: Sessions
    limiter: LoginLimiter
    templates: Templates
    charts: Charts
    villages: VillageDesk | None
    secure: bool  # served over https: cookies are Secure


def safe_next(target: str | None, default: str = "/") -> str:
    """A redirect target inside the console (a path, never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def console_router(c: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    # -- who, which language ----------------------------------------------------------------

    def context(request: Request) -> Ctx:
        session = c.sessions.read(request.cookies.get(COOKIE))
        person = c.access.person(session.person) if session else None
        if person is None:
            session = None
        language = i18n.choose(
            request.cookies.get(LANGUAGE),
            person.language if person else None,
            i18n.from_accept_language(request.headers.get("accept-language")),
            default=i18n.PAGES_DEFAULT,
        )
        return Ctx(person, session, language)

    def page(
        request: Request, ctx: Ctx, name: str, status: int = 200, path: str | None = None,
        **more: Any,
    ) -> HTMLResponse:  # fmt: skip
        """`name` rendered for the request. `path`: the page the forms come back to (a live
        fragment's is its page's, not the fragment's own)."""
        flash = None
        signed = request.cookies.get(FLASH)
        if signed:
            value = c.sessions.unsign(signed, "flash", max_age=120)
            if value and ":" in value:
                kind, _, text = value.partition(":")
                flash = {"kind": kind, "text": text}
        html = c.templates.render(
            ctx.language, name, me=ctx.person, csrf=ctx.csrf, now=c.clock.now(),
            office=c.office.name, path=path or request.url.path, flash=flash, live_every=LIVE_EVERY,
            role_text={r: t.render(ctx.language) for r, t in ROLE_TEXT.items()},
            **more,
        )  # fmt: skip
        response = HTMLResponse(html, status_code=status)
        if signed:
            response.delete_cookie(FLASH, path="/")
        return response

    def refused(request: Request, ctx: Ctx, status: int, message: str) -> HTMLResponse:
        return page(request, ctx, "error.html", status=status, message=message)

    def to_sign_in(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    def flashed(response: Response, kind: str, text: str) -> Response:
        response.set_cookie(
            FLASH, c.sessions.sign(f"{kind}:{text}", "flash"), max_age=120, path="/",
            httponly=True, samesite="lax", secure=c.secure,
        )  # fmt: skip
        return response

    async def act(
        request: Request, back: str, action: Callable[[Person, FormData], Text]
    ) -> Response:
        """A form's POST: session, CSRF token, then the action (which checks the role)."""
        ctx = context(request)
        if ctx.person is None:
            return refused(request, ctx, 401, _("Sign in first.").render(ctx.language))
        form = await request.form()
        token = form.get("csrf") or request.headers.get("x-csrf-token")
        if not same_token(ctx.csrf, token if isinstance(token, str) else None):
            message = _("The form has expired or did not come from this console: reload the "
                        "page and try again.")  # fmt: skip
            return refused(request, ctx, 403, message.render(ctx.language))
        person = ctx.person
        target = safe_next(_field(form, "next"), back)
        try:
            done = await run_in_threadpool(action, person, form)
        except Forbidden as exc:
            return refused(request, ctx, 403, i18n.text_of(exc, ctx.language))
        except FloodwatchError as exc:
            response = RedirectResponse(target, status_code=303)
            return flashed(response, "error", i18n.text_of(exc, ctx.language))
        return flashed(RedirectResponse(target, status_code=303), "ok", done.render(ctx.language))

    def signed_in(request: Request) -> tuple[Ctx, Person] | Response:
        ctx = context(request)
        if ctx.person is None:
            return to_sign_in(request)
        return ctx, ctx.person

    # -- signing in and out -------------------------------------------------------------------

    @router.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query's name
        ctx = context(request)
        if ctx.person is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return _login_form(request, ctx, safe_next(next))

    def _login_form(
        request: Request, ctx: Ctx, target: str, status: int = 200, error: str | None = None,
        person: str = "",
    ) -> HTMLResponse:  # fmt: skip
        token = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(24)
        response = page(request, ctx, "login.html", status=status, next=target, error=error,
                        login_csrf=token, person=person)  # fmt: skip
        response.set_cookie(LOGIN_CSRF, token, max_age=3600, path="/login", httponly=True,
                            samesite="strict", secure=c.secure)  # fmt: skip
        return response

    @router.post("/login")
    async def login(request: Request) -> Response:
        ctx = context(request)
        form = await request.form()
        target = safe_next(_field(form, "next"))
        person = (_field(form, "person") or "").strip()[:64]
        password = _field(form, "password") or ""
        if not same_token(request.cookies.get(LOGIN_CSRF), _field(form, "csrf")):
            message = _("The sign-in form has expired: try again.").render(ctx.language)
            return _login_form(request, ctx, target, 403, message, person)
        address = request.client.host if request.client else "-"
        wait = c.limiter.wait(person, address)
        if wait > 0:
            message = _("Too many failed sign-ins: wait {minutes} min and try again.",
                        minutes=math.ceil(wait / 60)).render(ctx.language)  # fmt: skip
            limited = _login_form(request, ctx, target, 429, message, person)
            limited.headers["Retry-After"] = str(math.ceil(wait))
            return limited
        generation = await run_in_threadpool(users.verify, c.sessions.db, person, password)
        if generation is None or c.access.person(person) is None:
            c.limiter.failed(person, address)
            log.warning("console: failed sign-in for %r from %s", person, address)
            message = _("Unknown person or wrong password.").render(ctx.language)
            return _login_form(request, ctx, target, 401, message, person)
        c.limiter.succeeded(person)
        log.info("console: %s signed in from %s", person, address)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, c.sessions.issue(person, generation),
            max_age=int(c.sessions.max_age.total_seconds()), path="/", httponly=True,
            samesite="lax", secure=c.secure,
        )  # fmt: skip
        response.delete_cookie(LOGIN_CSRF, path="/login")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        def out(person: Person, form: FormData) -> Text:
            c.sessions.revoke(request.cookies.get(COOKIE))
            return _("Signed out.")

        response = await act(request, "/login", out)
        if response.status_code == 303:
            response.headers["location"] = "/login"
            response.delete_cookie(COOKIE, path="/")
        return response

    @router.get("/lang/{language}")
    def switch_language(language: str, next: str = "/") -> Response:  # noqa: A002
        """The language switch: a preference cookie, read before the person's and the
        browser's language."""
        chosen = i18n.normalize(language)
        response = RedirectResponse(safe_next(next), status_code=303)
        if chosen is not None:
            response.set_cookie(LANGUAGE, chosen, max_age=400 * 86400, path="/",
                                samesite="lax", secure=c.secure)  # fmt: skip
        return response

    # -- Now ----------------------------------------------------------------------------------

    @router.get("/")
    def now_page(request: Request) -> Response:
        got = signed_in(request)
        if isinstance(got, Response):
            return got
        ctx, _person = got
        return page(request, ctx, "now.html", view=c.views.now())

    @router.get("/live")
    def live(request: Request) -> Response:
        """The Now page's live part (open alerts, who is on duty, degraded feeds)."""
        ctx = context(request)
        if ctx.person is None:
            return Response("signed out", status_code=401, media_type="text/plain")
        response = page(request, ctx, "_live.html", path="/", view=c.views.now())
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- Alert --------------------------------------------------------------------------------

    def alert_page(request: Request, alert_id: int, name: str) -> Response:
        got = signed_in(request) if name == "alert.html" else _fragment_ctx(request)
        if isinstance(got, Response):
            return got
        ctx, _person = got
        found = c.views.alert(alert_id)
        if found is None:
            message = _("No alert #{id}.", id=alert_id).render(ctx.language)
            return refused(request, ctx, 404, message)
        alert, timeline = found
        response = page(
            request, ctx, name, path=f"/alerts/{alert_id}", alert=alert, timeline=timeline
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def _fragment_ctx(request: Request) -> tuple[Ctx, Person] | Response:
        ctx = context(request)
        if ctx.person is None:
            return Response("signed out", status_code=401, media_type="text/plain")
        return ctx, ctx.person

    @router.get("/alerts/{alert_id}")
    def alert(request: Request, alert_id: int) -> Response:
        return alert_page(request, alert_id, "alert.html")

    @router.get("/alerts/{alert_id}/live")
    def alert_live(request: Request, alert_id: int) -> Response:
        return alert_page(request, alert_id, "_alert_live.html")

    @router.get("/alerts/{alert_id}/hydrograph.png")
    def alert_chart(request: Request, alert_id: int) -> Response:
        ctx = context(request)
        if ctx.person is None:
            return Response(status_code=401)
        found = c.views.alert(alert_id)
        if found is None:
            return Response(status_code=404)
        alert = found[0]
        end = c.clock.now()
        if alert.cleared_at is not None and alert.cleared_at + timedelta(hours=2) < end:
            end = alert.cleared_at + timedelta(hours=2)
        return _png(ctx, alert.station, alert.station_name, end)

    def _png(ctx: Ctx, station: str, name: str, end: Any) -> Response:
        title = _("{station}: the last 24 hours", station=name).render(ctx.language)
        data = c.charts.hydrograph(station, end, title)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @router.post("/alerts/{alert_id}/ack")
    async def alert_ack(request: Request, alert_id: int) -> Response:
        def do(person: Person, form: FormData) -> Text:
            c.desk.acknowledge(person, alert_id)
            return _("Alert #{id} acknowledged: escalation stopped.", id=alert_id)

        return await act(request, f"/alerts/{alert_id}", do)

    @router.post("/alerts/{alert_id}/escalate")
    async def alert_escalate(request: Request, alert_id: int) -> Response:
        def do(person: Person, form: FormData) -> Text:
            done = c.desk.escalate(person, alert_id)
            step = done.alert.escalation_step + 1
            return _("Alert #{id} escalated to step {step}: {pages} page(s) sent.",
                     id=alert_id, step=step, pages=done.pages)  # fmt: skip

        return await act(request, f"/alerts/{alert_id}", do)

    @router.post("/alerts/{alert_id}/clear")
    async def alert_clear(request: Request, alert_id: int) -> Response:
        def do(person: Person, form: FormData) -> Text:
            c.desk.clear_alert(person, alert_id)
            return _("Alert #{id} cleared.", id=alert_id)

        return await act(request, f"/alerts/{alert_id}", do)

    # -- Stations -----------------------------------------------------------------------------

    @router.get("/stations")
    def stations(request: Request) -> Response:
        got = signed_in(request)
        if isinstance(got, Response):
            return got
        ctx, _person = got
        return page(request, ctx, "stations.html", stations=c.views.stations_now())

    @router.get("/stations/{station_id}")
    def station(request: Request, station_id: str) -> Response:
        got = signed_in(request)
        if isinstance(got, Response):
            return got
        ctx, _person = got
        found = c.views.station(station_id)
        if found is None:
            message = _("No station {id}.", id=station_id).render(ctx.language)
            return refused(request, ctx, 404, message)
        rules = [rule_summary(r) for r in found.rules]
        levels = {lv.id: lv for lv in c.office.levels}
        return page(request, ctx, "station.html", station=found, rules=rules, levels=levels)

    @router.get("/stations/{station_id}/hydrograph.png")
    def station_chart(request: Request, station_id: str) -> Response:
        ctx = context(request)
        if ctx.person is None:
            return Response(status_code=401)
        found = c.views.station(station_id)
        if found is None:
            return Response(status_code=404)
        return _png(ctx, station_id, found.station.name, c.clock.now())

    # -- Villages -----------------------------------------------------------------------------

    @router.get("/villages")
    def villages(request: Request) -> Response:
        got = signed_in(request)
        if isinstance(got, Response):
            return got
        ctx, _person = got
        chains = c.villages.chain() if c.villages is not None else []
        return page(request, ctx, "villages.html", chains=chains, max_text=MAX_TEXT,
                    configured=c.villages is not None)  # fmt: skip

    @router.post("/villages/{village_id}/clear")
    async def village_clear(request: Request, village_id: str) -> Response:
        def do(person: Person, form: FormData) -> Text:
            row = c.desk.clear_village(person, village_id)
            village = c.villages.villages.get(row.village) if c.villages else None
            return _("The warning of {village} is cleared.",
                     village=village.name if village else row.village)  # fmt: skip

        return await act(request, "/villages", do)

    @router.post("/villages/broadcast")
    async def broadcast(request: Request) -> Response:
        def do(person: Person, form: FormData) -> Text:
            chosen = [v for v in form.getlist("village") if isinstance(v, str)]
            done = c.desk.broadcast(person, chosen, _field(form, "text") or "")
            return _("Broadcast sent to {n} loudspeaker(s).", n=done.loudspeakers)

        return await act(request, "/villages", do)

    # -- Duty log -----------------------------------------------------------------------------

    @router.get("/log")
    def duty_log(request: Request, day: str | None = None) -> Response:
        got = signed_in(request)
        if isinstance(got, Response):
            return got
        ctx, _person = got
        try:
            chosen = date.fromisoformat(day) if day else None
        except ValueError:
            chosen = None
        book = c.desk.handovers
        try:
            waiting = book.waiting()
        except FloodwatchError:
            waiting = None
        return page(request, ctx, "log.html", log=c.views.duty_log(chosen),
                    kinds=dutylog.MANUAL, kind_zh=dutylog.MANUAL_ZH, waiting=waiting,
                    handovers=book.latest(3), duty=c.views.duty())  # fmt: skip

    @router.post("/log")
    async def log_add(request: Request) -> Response:
        def do(person: Person, form: FormData) -> Text:
            corrects_text = (_field(form, "corrects") or "").strip()
            corrects = int(corrects_text) if corrects_text.isdigit() else None
            if corrects_text and corrects is None:
                raise Refused(_("the entry to correct is a number, not {text}",
                                text=corrects_text))  # fmt: skip
            row = c.desk.write_log(person, _field(form, "text") or "",
                                   _field(form, "kind") or "note", corrects)  # fmt: skip
            return _("Entry #{id} written.", id=row.id)

        return await act(request, "/log", do)

    @router.post("/handover")
    async def handover(request: Request) -> Response:
        def do(person: Person, form: FormData) -> Text:
            row = c.desk.hand_over(person, _field(form, "note") or "")
            return _("Handover record #{id} written: the incoming leader is asked to confirm it.",
                     id=row.id)  # fmt: skip

        return await act(request, "/log", do)

    @router.post("/handover/accept")
    async def handover_accept(request: Request) -> Response:
        def do(person: Person, form: FormData) -> Text:
            row = c.desk.accept_handover(person)
            return _("Handover record #{id} confirmed.", id=row.id)

        return await act(request, "/log", do)

    # -- Roster -------------------------------------------------------------------------------

    @router.get("/roster")
    def roster(request: Request, days: int = 14) -> Response:
        got = signed_in(request)
        if isinstance(got, Response):
            return got
        ctx, _person = got
        days = days if days in ROSTER_DAYS else 14
        table = c.views.roster_table(days_ahead=days)
        links = {
            p.id: f"/roster/{quote(p.id)}.ics?key={c.sessions.sign(p.id, 'ical')}"
            for p in table.people
        }
        return page(request, ctx, "roster.html", table=table, links=links, days=days,
                    choices=ROSTER_DAYS)  # fmt: skip

    @router.get("/roster/{person_id}.ics")
    def calendar(person_id: str, key: str = "") -> Response:
        """A person's shifts as a calendar to subscribe to: the link carries a signature of
        the person (a calendar application cannot sign in)."""
        if c.sessions.unsign(key, "ical") != person_id:
            return Response("not found\n", status_code=404, media_type="text/plain")
        roster_now = c.desk.roster.current
        if person_id not in roster_now.people:
            return Response("not found\n", status_code=404, media_type="text/plain")
        now = c.clock.now()
        start = now.astimezone(roster_now.timezone).date() - timedelta(days=1)
        first, last = table_range(roster_now, start, ICAL_DAYS)
        data = to_ical(roster_now, first, last, person=person_id, stamp=now)
        return Response(
            data,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{person_id}.ics"'},
        )

    # -- People (administrators) --------------------------------------------------------------

    @router.get("/people")
    def people(request: Request) -> Response:
        got = signed_in(request)
        if isinstance(got, Response):
            return got
        ctx, person = got
        if not person.can(ADMIN):
            text = _("only a {role} may {what}: {person} is not one",
                     role=ROLE_TEXT[ADMIN], what=_("see people's sign-ins"),
                     person=person.id)  # fmt: skip
            return refused(request, ctx, 403, text.render(ctx.language))
        roster_now = c.desk.roster.current
        have = users.passwords_set(c.sessions.db)
        rows = [(c.access.person(p), have.get(p)) for p in roster_now.people]
        return page(request, ctx, "people.html", rows=[(p, at) for p, at in rows if p],
                    min_length=users.MIN_LENGTH)  # fmt: skip

    @router.post("/people/{person_id}/password")
    async def set_password(request: Request, person_id: str) -> Response:
        def do(person: Person, form: FormData) -> Text:
            c.desk.set_password(person, person_id, _field(form, "password") or "")
            return _("{person} has a new password; their sessions have ended.", person=person_id)

        return await act(request, "/people", do)

    return router


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None
