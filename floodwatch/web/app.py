"""The FastAPI application: the duty console, the JSON API and Twilio's webhooks over one `App`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from floodwatch import __version__, users
from floodwatch.app import App
from floodwatch.notify.channels.twilio_common import TwilioChannel
from floodwatch.notify.channels.twilio_voice import TwilioVoiceNotifier
from floodwatch.records import days
from floodwatch.records.report import DayReader
from floodwatch.web.access import Access
from floodwatch.web.api import api_router
from floodwatch.web.cap_routes import cap_router
from floodwatch.web.console.charts import Charts
from floodwatch.web.console.routes import Console, console_router
from floodwatch.web.console.templating import Templates
from floodwatch.web.desk import Desk
from floodwatch.web.sessions import COOKIE, LoginLimiter, Sessions, web_key
from floodwatch.web.twilio_hooks import TwilioHooks, twilio_router
from floodwatch.web.views import Views

STATIC = Path(__file__).resolve().parent / "console" / "static"

# what every console page may load: its own scripts, styles and pictures, nothing inline
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(app: App, limiter: LoginLimiter | None = None) -> FastAPI:
    """The web app for `app`: each part gets only what it uses. `limiter`: the sign-in rate
    limit (tests pass one with their own clock)."""
    settings = app.config.settings
    users.ready()  # a sign-in by someone without a password takes as long as one with it
    twilio = [n for n in app.notifiers.values() if isinstance(n, TwilioChannel)]
    voices = [n for n in app.notifiers.values() if isinstance(n, TwilioVoiceNotifier)]
    public_url = settings.web.public_url if settings.web is not None else None
    hooks = TwilioHooks(
        db=app.db, clock=app.clock, roster=app.roster, lifecycle=app.lifecycle,
        receipts=app.receipts, public_url=public_url,
        auth_tokens=[n.auth_token for n in twilio],
        voices={n.name: n.voices for n in voices},
    )  # fmt: skip
    access = Access(app.roster, app.clock, settings.evacuation.leader, settings.duty.roster_admins)
    desk = Desk(
        app.db, app.clock, app.roster, access, app.lifecycle, app.handover_book,
        app.village_desk if app.villages else None,
    )  # fmt: skip
    views = Views(
        app.db, app.clock, app.roster, app.office, settings.stations, settings.rules,
        [f.name for f in settings.feeds], settings.report.day_starts,
    )  # fmt: skip
    sessions = Sessions(app.db, lambda: web_key(app.db, "session", app.clock.now()))
    reader = DayReader(
        app.db, app.roster, app.office, settings.stations, settings.rules,
        days.starts(settings.report.day_starts),
    )  # fmt: skip
    font = str(app.config.resolve(settings.report.font)) if settings.report.font else None
    console = Console(
        office=app.office, clock=app.clock, views=views, desk=desk, access=access,
        sessions=sessions, limiter=limiter or LoginLimiter(),
        templates=Templates(app.office.zone), charts=Charts(reader, app.office.zone, font),
        villages=desk.villages,
        secure=bool(public_url and public_url.startswith("https://")),
    )  # fmt: skip
    web = FastAPI(
        title=f"floodwatch: {settings.office}",
        version=__version__,
        description="The duty desk as JSON: who is on duty, open alerts and their timelines, "
        "stations, villages, the duty log; acknowledge, escalate, clear, broadcast, write the "
        "log, hand over. Each person has their own token (`floodwatch user token PERSON`); "
        "actions are recorded as `via: web` with the token's person, with the console's role "
        "checks (a leader clears and broadcasts).",
    )
    routers = [
        twilio_router(hooks),
        api_router(app.db, access, desk, views),
        console_router(console),
        cap_router(app.cap, public_url),
    ]
    for router in routers:
        web.include_router(router)
    web.state.routers = routers  # every endpoint of ours, for the tests that check each one
    web.mount("/static", StaticFiles(directory=STATIC), name="static")

    @web.get("/ping", include_in_schema=False)
    def ping(request: Request) -> Response:
        """For the console's pages: is the server there, is the session still good."""
        session = sessions.read(request.cookies.get(COOKIE))
        alive = session is not None and access.person(session.person) is not None
        return Response(status_code=204 if alive else 401)

    @web.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return web
