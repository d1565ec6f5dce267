"""The FastAPI application: the Twilio webhooks and the acknowledgement API over one `App`."""

from __future__ import annotations

from fastapi import FastAPI

from floodwatch import __version__
from floodwatch.app import App
from floodwatch.notify.channels.twilio_common import TwilioChannel
from floodwatch.notify.channels.twilio_voice import TwilioVoiceNotifier
from floodwatch.web.api import api_router
from floodwatch.web.twilio_hooks import TwilioHooks, twilio_router


def create_app(app: App) -> FastAPI:
    """The web app for `app`: each part gets only what it uses."""
    settings = app.config.settings
    twilio = [n for n in app.notifiers.values() if isinstance(n, TwilioChannel)]
    voices = [n for n in app.notifiers.values() if isinstance(n, TwilioVoiceNotifier)]
    hooks = TwilioHooks(
        db=app.db, clock=app.clock, roster=app.roster, lifecycle=app.lifecycle,
        receipts=app.receipts,
        public_url=settings.web.public_url if settings.web is not None else None,
        auth_tokens=[n.auth_token for n in twilio],
        voices={n.name: n.voices for n in voices},
    )  # fmt: skip
    web = FastAPI(
        title=f"floodwatch: {settings.office}",
        version=__version__,
        description="Acknowledge flood alerts: the same acknowledgement as an SMS reply, a "
        "keypress or `floodwatch ack`, recorded as `via: web` with the token's person.",
    )
    web.include_router(twilio_router(hooks))
    web.include_router(
        api_router(
            app.db, app.clock, app.lifecycle, app.roster, app.office,
            {s.id: s.name for s in settings.stations},
        ),
    )  # fmt: skip
    return web
