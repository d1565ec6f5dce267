"""Twilio in GoAlert's manner: the real `twilio` SDK, its HTTP layer replaced by a recording fake,
and phones that answer through the web app with correctly signed requests.

    phones = Phones(fake, Webhooks(client, PUBLIC_URL, AUTH_TOKEN))
    ...an alert opens, the service dispatches...
    sms = phones.expect_sms(OFFICER, "回复 1a")      # fails unless exactly such an SMS came
    phones.expect_call(OFFICER)
    sms.reply("1a")                                    # signed, as Twilio would post it
    ...the escalation time passes, the service dispatches...
    phones.expect_no_more()                            # the leader was not paged

`FakeTwilio` answers the SDK with bodies shaped like Twilio's (SIDs, statuses, error codes)
and checks what it is asked as Twilio would (E.164 numbers, the account's own numbers, the body
and TwiML limits). Its transport failures are real: a request to a loopback socket that never
answers (a real read timeout) or to a closed port (a real refused connection).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import requests
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from floodwatch.app import App, build_app
from floodwatch.clock import SimulatedClock
from floodwatch.service import Service

from .helpers import DEMO_READINGS, write_config
from .service_support import BUILT

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token-0001"
OTHER_TOKEN = "not-the-auth-token-of-this-account"
PUBLIC_URL = "https://floodwatch.example.org/fw"
OFFICE_NUMBERS = ["+15005550006", "+15005550007"]
API = re.compile(r"^https://api\.twilio\.com/2010-04-01/Accounts/(AC\w+)/(Messages|Calls)\.json$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")

log = logging.getLogger(__name__)


def _now_rfc2822() -> str:
    return format_datetime(datetime.now(UTC))


# -- what reached Twilio ----------------------------------------------------------------------


@dataclass
class Sms:
    sid: str
    to: str
    from_: str | None
    body: str
    status_callback: str | None
    messaging_service_sid: str | None
    claimed: bool = False


@dataclass
class Call:
    sid: str
    to: str
    from_: str
    twiml: str
    status_callback: str | None
    claimed: bool = False

    @property
    def root(self) -> ET.Element:
        return ET.fromstring(self.twiml)

    @property
    def gather(self) -> ET.Element | None:
        return self.root.find("Gather")

    @property
    def says(self) -> list[str]:
        """What the call says while it waits for a key (inside the Gather), or all of it."""
        where = self.gather if self.gather is not None else self.root
        return [say.text or "" for say in where.iter("Say")]

    @property
    def action(self) -> str:
        gather = self.gather
        assert gather is not None, f"the call waits for no key: {self.twiml}"
        return gather.attrib["action"]


@dataclass
class Script:
    """A scripted answer: an error Twilio returns (for a kind of request, to a number)."""

    status: int
    body: str
    headers: dict[str, str]
    kind: str | None = None
    to: str | None = None
    times: int | None = 1  # None: until healed


# -- the fake ---------------------------------------------------------------------------------


class FakeTwilio(HttpClient):
    """Twilio's REST API as the SDK sees it: records every SMS and call it accepts."""

    def __init__(self, accounts: Mapping[str, str] | None = None,
                 numbers: list[str] | None = None) -> None:  # fmt: skip
        super().__init__(log, is_async=False, timeout=None)
        self.accounts = dict(accounts or {ACCOUNT_SID: AUTH_TOKEN})
        self.numbers = set(numbers or OFFICE_NUMBERS)
        self.sms: list[Sms] = []
        self.calls: list[Call] = []
        self.timeouts: list[float | None] = []
        self._scripts: list[Script] = []
        self._mode = "up"  # up | silent | refused | garbled
        self._lock = threading.Lock()
        self._silent: socket.socket | None = None

    # -- putting Twilio in a state --------------------------------------------------------
    def reject(
        self, code: int | None, status: int = 400, message: str = "", *, kind: str | None = None,
        to: str | None = None, times: int | None = 1, headers: dict[str, str] | None = None,
        problem: bool = False, body: str | None = None,
    ) -> None:  # fmt: skip
        """Answer the next request(s) with Twilio's error `code` (HTTP `status`): its classic
        JSON, or an RFC 9457 problem (`problem`, as newer APIs answer), or `body` as given."""
        if body is None:
            info = f"https://www.twilio.com/docs/errors/{code}"
            if problem:
                body = json.dumps({"type": info, "title": message or "Error", "status": status,
                                   "code": code, "detail": f"{message} (detail)"})  # fmt: skip
            else:
                body = json.dumps({"code": code, "message": message or f"error {code}",
                                   "more_info": info, "status": status})  # fmt: skip
        with self._lock:
            self._scripts.append(
                Script(
                    status,
                    body,
                    {"Content-Type": "application/json", **(headers or {})},
                    kind,
                    to,
                    times,
                )  # fmt: skip
            )

    def go_silent(self) -> None:
        """Twilio takes the request and never answers (a real socket that never replies)."""
        if self._silent is None:
            self._silent = socket.create_server(("127.0.0.1", 0))
        self._mode = "silent"

    def refuse_connections(self) -> None:
        """Nothing listens where Twilio should be: a real refused connection."""
        self._mode = "refused"

    def answer_garbled(self) -> None:
        """A 200 whose body is not Twilio's JSON (a captive portal's page, a proxy's error)."""
        self._mode = "garbled"

    def heal(self) -> None:
        with self._lock:
            self._mode = "up"
            self._scripts.clear()

    def close(self) -> None:
        if self._silent is not None:
            self._silent.close()

    # -- the SDK's side ---------------------------------------------------------------------
    def request(
        self, method: str, uri: str, params: dict[str, object] | None = None,
        data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None, timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:  # fmt: skip
        self.timeouts.append(timeout)
        form = {k: str(v) for k, v in (data or {}).items()}
        mode = self._mode
        if mode in ("silent", "refused"):
            return self._over_the_wire(mode, method, uri, form, timeout)
        if mode == "garbled":
            return Response(200, "<html><body>Welcome to the hotel Wi-Fi</body></html>", {})
        matched = API.match(uri)
        if method != "POST" or matched is None:
            return _error(404, 20404, f"The requested resource {uri} was not found")
        sid, kind = matched[1], "sms" if matched[2] == "Messages" else "call"
        if auth is None or self.accounts.get(sid) != auth[1] or auth[0] != sid:
            return _error(401, 20003, "Authenticate")
        to = form.get("To", "")
        script = self._script(kind, to)
        if script is not None:
            return Response(script.status, script.body, script.headers)
        return self._accept(sid, kind, form)

    def _script(self, kind: str, to: str) -> Script | None:
        with self._lock:
            for script in self._scripts:
                if script.kind in (None, kind) and script.to in (None, to):
                    if script.times is not None:
                        script.times -= 1
                        if script.times == 0:
                            self._scripts.remove(script)
                    return script
        return None

    def _accept(self, account: str, kind: str, form: dict[str, str]) -> Response:
        to, sender = form.get("To", ""), form.get("From")
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender is not None and sender not in self.numbers:
            return _error(400, 21212, f"The 'From' number {sender} is not a valid phone number")
        callback = form.get("StatusCallback")
        if callback is not None and not re.match(r"^https?://", callback):
            return _error(400, 21609, "The StatusCallback URL is not a valid URL")
        created = _now_rfc2822()
        if kind == "sms":
            body = form.get("Body", "")
            if len(body) > 1600:
                return _error(400, 21617, "The concatenated message body exceeds 1600 characters")
            service = form.get("MessagingServiceSid")
            if sender is None and service is None:
                return _error(400, 21603, "A 'From' or 'MessagingServiceSid' must be specified")
            message = Sms("SM" + uuid.uuid4().hex, to, sender, body, callback, service)
            with self._lock:
                self.sms.append(message)
            uri = f"/2010-04-01/Accounts/{account}/Messages/{message.sid}"
            return _created({
                "account_sid": account, "api_version": "2010-04-01", "body": body,
                "date_created": created, "date_sent": None, "date_updated": created,
                "direction": "outbound-api", "error_code": None, "error_message": None,
                "from": sender, "messaging_service_sid": service, "num_media": "0",
                "num_segments": "1", "price": None, "price_unit": "USD", "sid": message.sid,
                "status": "accepted" if sender is None else "queued", "to": to,
                "subresource_uris": {"media": f"{uri}/Media.json"}, "uri": f"{uri}.json",
            })  # fmt: skip
        twiml = form.get("Twiml", "")
        if sender is None:
            return _error(400, 21213, "Caller phone number is required")
        assert len(twiml) <= 4000, f"Twilio refuses inline TwiML over 4,000 characters: {twiml}"
        ET.fromstring(twiml)  # Twilio refuses a call whose TwiML is not XML
        call = Call("CA" + uuid.uuid4().hex, to, sender, twiml, callback)
        with self._lock:
            self.calls.append(call)
        uri = f"/2010-04-01/Accounts/{account}/Calls/{call.sid}"
        return _created({
            "account_sid": account, "annotation": None, "answered_by": None,
            "api_version": "2010-04-01", "caller_name": None, "date_created": None,
            "date_updated": None, "direction": "outbound-api", "duration": None,
            "end_time": None, "forwarded_from": None, "from": sender, "from_formatted": sender,
            "group_sid": None, "parent_call_sid": None, "phone_number_sid": "PN" + "0" * 32,
            "price": None, "price_unit": "USD", "queue_time": "0", "sid": call.sid,
            "start_time": None, "status": "queued", "to": to, "to_formatted": to,
            "trunk_sid": None, "uri": f"{uri}.json",
            "subresource_uris": {"notifications": f"{uri}/Notifications.json"},
        })  # fmt: skip

    def _over_the_wire(
        self, mode: str, method: str, uri: str, form: dict[str, str], timeout: float | None
    ) -> Response:
        """A real HTTP request where Twilio should be: requests' own exceptions come back."""
        if mode == "silent":
            assert self._silent is not None
            port = self._silent.getsockname()[1]
        else:
            closed = socket.create_server(("127.0.0.1", 0))
            port = closed.getsockname()[1]
            closed.close()
        path = uri.split("api.twilio.com", 1)[-1]
        assert timeout is not None, "the notifier sent without a timeout: it could block forever"
        answer = requests.request(method, f"http://127.0.0.1:{port}{path}", data=form,
                                  timeout=timeout)  # fmt: skip
        return Response(answer.status_code, answer.text, answer.headers)


def _created(payload: dict[str, Any]) -> Response:
    return Response(201, json.dumps(payload), {"Content-Type": "application/json"})


def _error(status: int, code: int, message: str) -> Response:
    body = {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}  # fmt: skip
    return Response(status, json.dumps(body), {"Content-Type": "application/json"})


# -- Twilio's requests to floodwatch, signed --------------------------------------------------


class Webhooks:
    """Posts to the web app what Twilio would, signed with the account's auth token over the
    public URL (X-Twilio-Signature), through an httpx client (FastAPI's TestClient or a real
    connection to uvicorn)."""

    def __init__(self, client: httpx.Client, public_url: str = PUBLIC_URL,
                 auth_token: str = AUTH_TOKEN) -> None:  # fmt: skip
        self.client = client
        self.public_url = public_url
        self.auth_token = auth_token

    def sign(self, url: str, params: Mapping[str, str], token: str | None = None) -> str:
        validator = RequestValidator(token or self.auth_token)
        return str(validator.compute_signature(url, dict(params)))

    def post(
        self, url: str, params: Mapping[str, str], *, signature: str | None = "sign",
        token: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        """POST `params` to `url` (a public URL); `signature`: "sign" signs it, None sends no
        signature header, any other text is sent as the signature."""
        assert url.startswith(self.public_url), url
        headers = {}
        if signature == "sign":
            headers["X-Twilio-Signature"] = self.sign(url, params, token)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        return self.client.post(url[len(self.public_url) :], data=dict(params), headers=headers)

    def inbound_sms(self, from_: str, to: str, body: str, sid: str | None = None,
                    **how: Any) -> httpx.Response:  # fmt: skip
        sid = sid or "SM" + uuid.uuid4().hex
        params = {
            "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0",
            "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received",
            "FromCity": "", "Body": body, "FromCountry": "CN", "To": to, "ToZip": "",
            "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": from_,
            "ApiVersion": "2010-04-01",
        }  # fmt: skip
        return self.post(f"{self.public_url}/twilio/sms", params, **how)

    def keypress(self, call: Call, digits: str, **how: Any) -> httpx.Response:
        params = {
            "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call.sid,
            "CallStatus": "in-progress", "Called": call.to, "Caller": call.from_,
            "Digits": digits, "Direction": "outbound-api", "From": call.from_, "To": call.to,
            "FinishedOnKey": "", "msg": "Gather End",
        }  # fmt: skip
        return self.post(call.action, params, **how)

    def sms_status(self, sms: Sms, status: str, error_code: int | None = None,
                   **how: Any) -> httpx.Response:  # fmt: skip
        assert sms.status_callback, "the SMS asked for no status callback"
        params = {
            "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "From": sms.from_ or "",
            "MessageSid": sms.sid, "MessageStatus": status, "SmsSid": sms.sid,
            "SmsStatus": status, "To": sms.to,
        }  # fmt: skip
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self.post(sms.status_callback, params, **how)

    def call_status(self, call: Call, status: str, **how: Any) -> httpx.Response:
        assert call.status_callback, "the call asked for no status callback"
        params = {
            "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call.sid,
            "CallStatus": status, "Called": call.to, "Caller": call.from_,
            "Direction": "outbound-api", "From": call.from_, "To": call.to,
            "CallDuration": "0" if status != "completed" else "21", "Duration": "1",
            "CallbackSource": "call-progress-events", "SequenceNumber": "0",
            "Timestamp": _now_rfc2822(),
        }  # fmt: skip
        return self.post(call.status_callback, params, **how)


def spoken(twiml: str) -> str:
    """Everything a TwiML answer says, one `<Say>` a line."""
    return "\n".join(say.text or "" for say in ET.fromstring(twiml).iter("Say"))


def message_text(twiml: str) -> str:
    """The text of a messaging TwiML answer's `<Message>` ("" for an empty answer)."""
    return "\n".join(m.text or "" for m in ET.fromstring(twiml).iter("Message"))


# -- phones: GoAlert's expectations -----------------------------------------------------------


@dataclass
class ExpectedSms:
    phones: Phones
    sms: Sms

    @property
    def body(self) -> str:
        return self.sms.body

    def reply(self, text: str, **how: Any) -> str:
        """The person answers from their phone; returns what floodwatch texts back."""
        answer = self.phones.webhooks.inbound_sms(
            self.sms.to, self.sms.from_ or OFFICE_NUMBERS[0], text, **how
        )
        assert answer.status_code == 200, (answer.status_code, answer.text)
        return message_text(answer.text)

    def status(self, status: str, error_code: int | None = None) -> httpx.Response:
        return self.phones.webhooks.sms_status(self.sms, status, error_code)


@dataclass
class ExpectedCall:
    phones: Phones
    call: Call

    @property
    def says(self) -> list[str]:
        return self.call.says

    def press(self, digits: str, **how: Any) -> str:
        """The person presses `digits`; returns what the call says next."""
        answer = self.phones.webhooks.keypress(self.call, digits, **how)
        assert answer.status_code == 200, (answer.status_code, answer.text)
        return answer.text

    def status(self, status: str) -> httpx.Response:
        return self.phones.webhooks.call_status(self.call, status)


@dataclass
class Phones:
    """Expectations over what reached Twilio: each `expect_*` takes one message that came and
    was not expected yet; `expect_no_more` (also run when the test ends) fails on any other."""

    fake: FakeTwilio
    webhooks: Webhooks
    checked: bool = field(default=False)

    def expect_sms(self, to: str, *contains: str) -> ExpectedSms:
        for sms in self.fake.sms:
            if not sms.claimed and sms.to == to and all(c in sms.body for c in contains):
                sms.claimed = True
                return ExpectedSms(self, sms)
        raise AssertionError(
            f"expected an SMS to {to} containing {contains}; unexpected so far: "
            f"{self._unclaimed() or 'none'}"
        )

    def expect_call(self, to: str, *contains: str) -> ExpectedCall:
        for call in self.fake.calls:
            said = "\n".join(call.says)
            if not call.claimed and call.to == to and all(c in said for c in contains):
                call.claimed = True
                return ExpectedCall(self, call)
        raise AssertionError(
            f"expected a call to {to} saying {contains}; unexpected so far: "
            f"{self._unclaimed() or 'none'}"
        )

    def expect_no_more(self) -> None:
        unexpected = self._unclaimed()
        for message in [*self.fake.sms, *self.fake.calls]:
            message.claimed = True  # reported once
        assert not unexpected, f"pages the test did not expect: {unexpected}"

    def _unclaimed(self) -> list[str]:
        return [f"SMS to {s.to}: {s.body!r}" for s in self.fake.sms if not s.claimed] + [
            f"call to {c.to}: {c.says!r}" for c in self.fake.calls if not c.claimed
        ]


# -- floodwatch with Twilio channels ----------------------------------------------------------

DEMO_FEED = {"name": "demo", "type": "csv", "path": str(DEMO_READINGS), "interval": "15m"}
ENV = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN}


def twilio_notifiers(**extra: Any) -> list[dict[str, Any]]:
    """An SMS and a voice channel on the test account, sending from the office's numbers;
    rate limits high enough to keep them out of the story (tests/test_twilio_channels.py
    checks the limits themselves)."""
    common = {"account_sid": ACCOUNT_SID, "auth_token": "${TWILIO_AUTH_TOKEN}",
              "from_numbers": OFFICE_NUMBERS, **extra}  # fmt: skip
    return [
        {"name": "sms", "type": "twilio_sms", "messages_per_second": 50, **common},
        {"name": "voice", "type": "twilio_voice", "calls_per_second": 50, **common},
    ]


def twilio_app(tmp_path: Path, clock: SimulatedClock, fake: FakeTwilio, **overrides: Any) -> App:
    """floodwatch over the demo flood with the Twilio channels and a web app, its database
    ready."""
    overrides.setdefault("notifiers", twilio_notifiers())
    overrides.setdefault("web", {"listen": "127.0.0.1:0", "public_url": PUBLIC_URL})
    app = build_app(
        write_config(tmp_path, **overrides), clock=clock, env=ENV, twilio_http=lambda: fake
    )
    app.db.upgrade()
    return app


def twilio_service(
    tmp_path: Path, start: datetime, fake: FakeTwilio, **overrides: Any
) -> tuple[Service, SimulatedClock]:
    """A service (no scheduler: the test runs its jobs) over the demo flood's CSV feed."""
    overrides.setdefault("feeds", [DEMO_FEED])
    clock = SimulatedClock(start)
    service = Service(twilio_app(tmp_path, clock, fake, **overrides), node="test")
    BUILT.append(service)
    service.prepare()
    return service, clock


def run_until(service: Service, clock: SimulatedClock, until: datetime,
              step: timedelta = timedelta(minutes=1)) -> None:  # fmt: skip
    """The service's jobs as the scheduler runs them, every `step` of simulated time; not the
    duty desk's (its handover reminders page everyone on every channel)."""
    app = service.app
    intervals = {f.name: f.interval for f in app.config.settings.feeds}
    next_poll = dict.fromkeys(intervals, clock.now())
    while True:
        service.check_lease()
        for name, due in next_poll.items():
            if clock.now() >= due:
                service.poll(app.feeds[name])
                next_poll[name] = due + intervals[name]
        service.escalate()
        service.dispatch()
        if clock.now() + step > until:
            break
        clock.advance(step)
