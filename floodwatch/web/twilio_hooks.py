"""Twilio's requests to floodwatch: inbound SMS (answers to pages), voice keypresses and status
callbacks.

Every request must carry an `X-Twilio-Signature` that one of the configured Twilio accounts'
auth tokens validates (`RequestValidator`) over `public_url` + path + query and the form. A
request seen before (the same MessageSid; CallSid and key; SID and status) is a replay. A
forged, unsigned or replayed request gets 403 and a log line, and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]

from floodwatch.alerts.lifecycle import AlertLifecycle
from floodwatch.clock import Clock
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.notify import replies
from floodwatch.notify.channels.twilio_common import status_outcome
from floodwatch.notify.channels.twilio_voice import (
    DEFAULT_VOICES,
    Speech,
    answer_twiml,
    prompt_twiml,
)
from floodwatch.notify.receipts import Receipts
from floodwatch.roster.holder import RosterHolder
from floodwatch.roster.model import Person, mask_phone
from floodwatch.store import Database
from floodwatch.store.models import AlertRow, InboundRow, PageRow, ReplyCodeRow
from floodwatch.web.texts import help_text, say

log = logging.getLogger(__name__)

Form = Mapping[str, Sequence[str]]
RECEIPT_WAIT = 2.0  # seconds a status callback waits for its send to be recorded
XML = "application/xml"


@dataclass(frozen=True)
class Answer:
    """What a Twilio request gets back."""

    status: int
    body: str = ""
    media_type: str = XML


FORBIDDEN = Answer(403, "forbidden\n", "text/plain")


class _Params(dict[str, list[str]]):
    """A form as RequestValidator reads a key given several times (its `getlist`)."""

    def getlist(self, key: str) -> list[str]:
        return self[key]


def _first(form: Form, key: str) -> str:
    values = form.get(key) or ()
    return values[0] if values else ""


def _page_id(query: Mapping[str, str]) -> int | None:
    raw = query.get("page", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


class TwilioHooks:
    """The work behind the Twilio routes; synchronous (run in FastAPI's thread pool)."""

    def __init__(
        self, *, db: Database, clock: Clock, roster: RosterHolder, lifecycle: AlertLifecycle,
        receipts: Receipts, public_url: str | None, auth_tokens: Sequence[str],
        voices: Mapping[str, Mapping[str, Speech]],
    ) -> None:  # fmt: skip
        self.db = db
        self.clock = clock
        self.roster = roster
        self.lifecycle = lifecycle
        self.receipts = receipts
        self.public_url = public_url.rstrip("/") if public_url else None
        self.validators = [RequestValidator(t) for t in dict.fromkeys(auth_tokens)]
        self.voices = voices  # the voice notifier's name -> its speech per language

    # -- the gate ------------------------------------------------------------------------

    def url(self, path: str, query: str) -> str | None:
        """The URL Twilio requested (and signed), as the outside world names it."""
        if self.public_url is None:
            return None
        return self.public_url + path + (f"?{query}" if query else "")

    def refused(self, url: str | None, form: Form, signature: str | None) -> str | None:
        """Why a request is not Twilio's (None: it is)."""
        if url is None:
            return "no web.public_url to check signatures against"
        if not self.validators:
            return "no Twilio notifier is configured, so no auth token to check signatures with"
        if not signature:
            return "unsigned (no X-Twilio-Signature)"
        params = _Params({k: list(v) for k, v in form.items()})
        if not any(v.validate(url, params, signature) for v in self.validators):
            return "forged (X-Twilio-Signature does not match)"
        return None

    def claim(self, key: str, now: datetime) -> bool:
        """Record that the request `key` is acted on; False when it was before (a replay)."""
        try:
            with self.db.transaction() as session:
                session.add(InboundRow(key=key[:200], at=now))
        except IntegrityError:
            return False
        return True

    def _refuse(self, what: str, reason: str, form: Form) -> Answer:
        sender = _first(form, "From")
        log.warning("twilio %s refused: %s (From %s)", what, reason,
                    mask_phone(sender) if sender else "-")  # fmt: skip
        return FORBIDDEN

    # -- inbound SMS ---------------------------------------------------------------------

    def sms(self, url: str | None, form: Form, signature: str | None) -> Answer:
        reason = self.refused(url, form, signature)
        if reason:
            return self._refuse("SMS", reason, form)
        sid = _first(form, "MessageSid") or _first(form, "SmsSid")
        if not sid:
            return Answer(400, "no MessageSid\n", "text/plain")
        now = self.clock.now()
        if not self.claim(f"sms:{sid}", now):
            return self._refuse("SMS", f"replayed ({sid} was handled before)", form)
        phone = _first(form, "From")
        person = self._person_with(phone)
        if person is None:
            log.warning("an SMS from %s, a number nobody on the roster has: ignored",
                        mask_phone(phone) if phone else "-")  # fmt: skip
            return Answer(200, str(MessagingResponse()))
        with self.db.sessions() as session:
            reply = replies.resolve(session, phone, _first(form, "Body"))
        if reply.action == "help" or reply.alert_id is None:
            log.info("an SMS from %s (%s) not understood: help sent", person.id,
                     mask_phone(phone))  # fmt: skip
            text = help_text(person.language, self._open_codes(phone))
        elif reply.action == "ack":
            text = self._acknowledge(reply.alert_id, person, "sms", now)
        else:
            text = self._escalate(reply.alert_id, person, "sms", now)
        response = MessagingResponse()
        response.message(text)
        return Answer(200, str(response))

    def _person_with(self, phone: str) -> Person | None:
        if not phone:
            return None
        for person in self.roster.current.people.values():
            if phone in person.phones:
                return person
        return None

    def _open_codes(self, phone: str) -> list[tuple[int, int]]:
        with self.db.sessions() as session:
            rows = session.execute(
                select(ReplyCodeRow.code, ReplyCodeRow.alert_id)
                .join(AlertRow, AlertRow.id == ReplyCodeRow.alert_id)
                .where(ReplyCodeRow.address == phone, AlertRow.state == "open")
                .order_by(ReplyCodeRow.code)
            ).all()
        return [(int(code), int(alert)) for code, alert in rows]

    # -- the one way an answer changes an alert -------------------------------------------

    def _acknowledge(self, alert_id: int, person: Person, via: str, now: datetime) -> str:
        try:
            alert = self.lifecycle.acknowledge(alert_id, person.id, via, now)
        except NotFound:
            return say("closed", person.language, alert=alert_id)
        except FloodwatchError:
            return self._why_not(alert_id, person)
        key = "acknowledged" if alert.acknowledged_at is not None else "answer_recorded"
        return say(key, person.language, alert=alert_id)

    def _escalate(self, alert_id: int, person: Person, via: str, now: datetime) -> str:
        try:
            self.lifecycle.escalate_now(alert_id, person.id, via, now)
        except NotFound:
            return say("closed", person.language, alert=alert_id)
        except FloodwatchError:
            return self._why_not(alert_id, person)
        return say("escalated", person.language, alert=alert_id)

    def _why_not(self, alert_id: int, person: Person) -> str:
        with self.db.sessions() as session:
            alert = session.get(AlertRow, alert_id)
        if alert is None or alert.state != "open":
            return say("closed", person.language, alert=alert_id)
        if alert.acknowledged_by is not None:
            who = self.roster.current.people.get(alert.acknowledged_by)
            name = who.name if who else alert.acknowledged_by
            return say("already", person.language, alert=alert_id, who=name)
        return say("answered_before", person.language, alert=alert_id)

    # -- voice keypresses ----------------------------------------------------------------

    def voice(
        self, url: str | None, form: Form, signature: str | None, page_id: int | None
    ) -> Answer:
        reason = self.refused(url, form, signature)
        if reason or url is None:
            return self._refuse("keypress", reason or "no URL", form)
        with self.db.sessions() as session:
            page = session.get(PageRow, page_id) if page_id is not None else None
        if page is None or page.alert_id is None:
            log.warning("a keypress for page %s, which is not an alert's page", page_id)
            return Answer(200, answer_twiml(say("no_such_page", "zh-CN"), DEFAULT_VOICES["zh-CN"]))
        speech = self._speech(page.channel, page.language)
        digits = _first(form, "Digits")
        if digits not in ("1", "2"):  # a key that means nothing: the instruction once more
            return Answer(200, prompt_twiml(url, page.language, speech))
        now = self.clock.now()
        if not self.claim(f"voice:{_first(form, 'CallSid')}:{digits}", now):
            return self._refuse("keypress", "replayed (this call's key was handled before)", form)
        person = self.roster.current.people.get(page.person)
        if person is None:
            return Answer(200, answer_twiml(say("not_on_roster", page.language), speech))
        if digits == "1":
            text = self._acknowledge(page.alert_id, person, "voice", now)
        else:
            text = self._escalate(page.alert_id, person, "voice", now)
        return Answer(200, answer_twiml(text, speech))

    def _speech(self, channel: str, language: str) -> Speech:
        voices = self.voices.get(channel) or DEFAULT_VOICES
        return voices.get(language) or voices.get("zh-CN") or DEFAULT_VOICES["zh-CN"]

    # -- status callbacks ----------------------------------------------------------------

    def status(
        self, url: str | None, form: Form, signature: str | None, page_id: int | None
    ) -> Answer:
        reason = self.refused(url, form, signature)
        if reason:
            return self._refuse("status callback", reason, form)
        if _first(form, "CallStatus"):
            sid, status = _first(form, "CallSid"), _first(form, "CallStatus")
        else:
            sid = _first(form, "MessageSid") or _first(form, "SmsSid")
            status = _first(form, "MessageStatus") or _first(form, "SmsStatus")
        if not sid or not status:
            return Answer(400, "no SID or status\n", "text/plain")
        now = self.clock.now()
        if not self.claim(f"status:{sid}:{status}", now):
            return self._refuse("status callback", f"replayed ({sid} {status})", form)
        raw_code = _first(form, "ErrorCode")
        code = int(raw_code) if raw_code.isdigit() else None
        mapped = status_outcome(status, code)
        if mapped is not None:
            outcome, detail = mapped
            after = self.receipts.update(sid, outcome, detail, now, raw_code or None)
            waited = 0.0
            while not after and waited < RECEIPT_WAIT:
                # Twilio can call back before the dispatcher has recorded the SID it was
                # given: wait a moment for that record rather than lose the word
                time.sleep(0.1)
                waited += 0.1
                after = self.receipts.update(sid, outcome, detail, now, raw_code or None)
            log.info("page %s (%s): %s -> %s", page_id, sid, status, after or "no such delivery")
        return Answer(204, "", "text/plain")


def twilio_router(hooks: TwilioHooks) -> APIRouter:
    """POST /twilio/sms, /twilio/voice and /twilio/status. Not in the OpenAPI document: only
    Twilio calls them, signed."""
    router = APIRouter(prefix="/twilio", include_in_schema=False)

    async def _read(request: Request) -> tuple[str | None, dict[str, list[str]], str | None]:
        form = await request.form()
        fields = {k: [str(v) for v in form.getlist(k)] for k in form}
        url = hooks.url(request.url.path, request.url.query)
        return url, fields, request.headers.get("X-Twilio-Signature")

    def _respond(answer: Answer) -> Response:
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type)

    @router.post("/sms")
    async def inbound_sms(request: Request) -> Response:
        url, form, signature = await _read(request)
        return _respond(await run_in_threadpool(hooks.sms, url, form, signature))

    @router.post("/voice")
    async def keypress(request: Request) -> Response:
        url, form, signature = await _read(request)
        page = _page_id(request.query_params)
        return _respond(await run_in_threadpool(hooks.voice, url, form, signature, page))

    @router.post("/status")
    async def status_callback(request: Request) -> Response:
        url, form, signature = await _read(request)
        page = _page_id(request.query_params)
        return _respond(await run_in_threadpool(hooks.status, url, form, signature, page))

    return router
