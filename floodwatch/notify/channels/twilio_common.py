"""What `twilio_sms` and `twilio_voice` share: the account options, the SDK client, the texts a
person reads or hears about answering, and the one table of Twilio's error codes.

Twilio cannot deduplicate a message or a call: a request that may have reached it (a timeout
after sending, a 5xx) is UNKNOWN, never resent blindly. A failure before anything was sent (a
refused connection, a TLS handshake that failed) is RETRYABLE.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import requests
from pydantic import BaseModel, ConfigDict, Field, model_validator
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from floodwatch.durations import AS_TEXT, positive_at_most
from floodwatch.errors import FloodwatchError
from floodwatch.notify.base import DeliveryResult, Message, Outcome
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person, mask_phone
from floodwatch.yamlsource import Secret

log = logging.getLogger(__name__)

E164 = r"^\+[1-9]\d{6,14}$"
Timeout = Annotated[timedelta, positive_at_most(timedelta(minutes=5)), AS_TEXT]
"""How long one request to Twilio may take (``10s``), as every paging channel says it."""
DEFAULT_RETRY_AFTER = 5.0
"""Seconds to wait after Twilio's 429 / 20429 when its answer names no Retry-After."""

# -- the error table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What a Twilio error code means for a page, and what the office should be told."""

    outcome: Outcome
    meaning: str


API_ERRORS: Mapping[int, Rule] = {
    # the recipient: resending the same page cannot help; the failover moves to the next contact
    21211: Rule(Outcome.PERMANENT, "invalid 'To' phone number"),
    21217: Rule(Outcome.PERMANENT, "the phone number does not appear to be valid"),
    21610: Rule(
        Outcome.PERMANENT, "the recipient has unsubscribed (replied STOP; START undoes it)"
    ),
    21614: Rule(Outcome.PERMANENT, "not a mobile number: it cannot receive SMS"),
    13224: Rule(Outcome.PERMANENT, "Twilio cannot call this number"),
    # the account and its numbers: an administrator must act
    20003: Rule(Outcome.PERMANENT, "authentication failed: check account_sid and auth_token"),
    20404: Rule(
        Outcome.PERMANENT, "not found: check account_sid, messaging_service_sid and from_numbers"
    ),
    21212: Rule(Outcome.PERMANENT, "invalid 'From' number: check from_numbers"),
    21606: Rule(Outcome.PERMANENT, "the 'From' number cannot send SMS: check from_numbers"),
    21408: Rule(
        Outcome.PERMANENT,
        "the account may not send SMS to this region (Twilio console: geographic permissions)",
    ),
    21215: Rule(
        Outcome.PERMANENT,
        "the account may not call this number (Twilio console: geographic permissions)",
    ),
    # too many at once: wait and send again
    20429: Rule(Outcome.RETRYABLE, "too many requests"),
    14107: Rule(Outcome.RETRYABLE, "SMS send rate limit exceeded"),
}
"""Error codes in Twilio's answer to the request that sends a message or places a call."""

DELIVERY_PERMANENT: Mapping[int, str] = {
    21211: "invalid 'To' phone number",
    21610: "the recipient has unsubscribed (replied STOP; START undoes it)",
    21614: "not a mobile number: it cannot receive SMS",
    30005: "unknown destination handset (the number is not in service)",
    30006: "a landline, or a carrier that cannot take SMS",
}
"""Error codes in a status callback (failed, undelivered) that no resend can cure; any other
code there is worth another try (a phone switched off: 30003, a carrier's hiccup: 30008)."""


def api_failure(status: int | None, code: int | None, message: str) -> DeliveryResult:
    """The outcome of a request Twilio answered with an error. A code in API_ERRORS decides;
    else the HTTP status: 429 retryable, 5xx unknown (it may have been sent), other 4xx
    permanent (the request itself was refused)."""
    said = mask_numbers(message.removeprefix("Unable to create record").removeprefix(": "))
    if code is not None and code < 1000:  # the SDK's stand-in for a body it could not read
        code = None
    rule = API_ERRORS.get(code) if code is not None else None
    if rule is None:
        if status == 429:
            rule = Rule(Outcome.RETRYABLE, "too many requests")
        elif status is not None and status >= 500:
            rule = Rule(Outcome.UNKNOWN, "Twilio failed answering; the page may have gone out")
        elif status in (401, 403):
            rule = Rule(Outcome.PERMANENT, "refused: check account_sid and auth_token")
        else:
            rule = Rule(Outcome.PERMANENT, "Twilio refused the request")
    shown = f"twilio {code}" if code is not None else f"twilio HTTP {status}"
    detail = f"{shown}: {rule.meaning}" + (f" ({said})" if said else "")
    return DeliveryResult(
        rule.outcome, detail, provider_code=str(code) if code is not None else None
    )


def transport_failure(exc: requests.RequestException) -> DeliveryResult:
    """The outcome of a request that got no answer from Twilio: retryable when nothing can
    have been sent (no connection was made), else unknown."""
    why = _reason(exc)
    if _before_sending(exc):
        return DeliveryResult(Outcome.RETRYABLE, f"cannot reach Twilio, nothing sent: {why}")
    if isinstance(exc, requests.Timeout):
        return DeliveryResult(
            Outcome.UNKNOWN, f"no answer from Twilio in time, the page may have gone out: {why}"
        )
    return DeliveryResult(
        Outcome.UNKNOWN, f"the connection to Twilio broke, the page may have gone out: {why}"
    )


def _reason(exc: requests.RequestException) -> str:
    """The innermost words of a requests error ("[Errno 111] Connection refused", "Read
    timed out. (read timeout=10.0)"), without the pool and URL around them."""
    text = str(exc)
    inner = re.findall(r"\(Caused by \w+\(\"?(.*?)\"?\)\)$", text)
    if inner:
        text = inner[-1]
    return text.rsplit(": ", 1)[-1] or type(exc).__name__


def _before_sending(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(exc, requests.exceptions.ProxyError):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:  # requests wraps urllib3's reason in MaxRetryError in its args
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError | ConnectTimeoutError | ConnectionRefusedError):
            return True
        todo.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
        todo.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
    return False


FORESEEABLE = (TwilioException, requests.RequestException, ValueError)
"""What a send through the SDK may raise: its own errors, those of requests it lets through, and
a JSON decoding error on a garbled answer."""


def failure(exc: Exception, headers: Mapping[str, str] | None = None) -> DeliveryResult:
    """The outcome of a send that raised: the one place a Twilio SDK exception becomes an
    outcome. `headers` are those of Twilio's answer, if there was one (Retry-After)."""
    if isinstance(exc, TwilioRestException):
        result = api_failure(exc.status, _int(exc.code), str(exc.msg))
    elif isinstance(exc, TwilioServiceException):  # RFC 9457 errors of newer APIs
        message = f"{exc.title}: {exc.detail}" if exc.detail else str(exc.title)
        result = api_failure(exc.status, _int(exc.code), message)
    elif isinstance(exc, TwilioException):  # raised by the SDK itself, before any request
        return DeliveryResult(Outcome.PERMANENT, f"twilio: {mask_numbers(str(exc))}")
    elif isinstance(exc, requests.RequestException):
        return transport_failure(exc)
    else:  # ValueError: a 2xx whose body is not Twilio's JSON
        return DeliveryResult(
            Outcome.UNKNOWN, f"Twilio's answer could not be read; the page may have gone out: {exc}"
        )
    if result.outcome is Outcome.RETRYABLE:
        return DeliveryResult(
            result.outcome, result.detail, provider_code=result.provider_code,
            retry_after=retry_after(headers),
        )  # fmt: skip
    return result


def retry_after(headers: Mapping[str, str] | None) -> float:
    value = None
    for name, v in (headers or {}).items():
        if name.lower() == "retry-after":
            value = v
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:  # an HTTP date: rare from an API; the default is close enough
        seconds = DEFAULT_RETRY_AFTER
    return seconds if 0 < seconds <= 3600 else DEFAULT_RETRY_AFTER


def status_outcome(status: str, error_code: int | None) -> tuple[Outcome, str] | None:
    """A status callback's word on a message (MessageStatus) or a call (CallStatus), as an
    outcome and its detail; None for a status on the way (queued, sent, ringing...)."""
    if status in ("delivered", "read", "completed"):
        return Outcome.DELIVERED, status
    if status in ("busy", "no-answer"):
        return Outcome.RETRYABLE, f"{status}: call again"
    if status == "canceled":
        return Outcome.RETRYABLE, "canceled"
    if status in ("failed", "undelivered"):
        if error_code is None:
            return Outcome.RETRYABLE, status
        meaning = DELIVERY_PERMANENT.get(error_code)
        if meaning is not None:
            return Outcome.PERMANENT, f"{status} (twilio {error_code}): {meaning}"
        return Outcome.RETRYABLE, f"{status} (twilio {error_code})"
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


_NUMBER = re.compile(r"(?<!\w)\+?\d{8,15}(?!\w)")


def mask_numbers(text: str) -> str:
    """Every phone number in `text` masked (Twilio's messages name the number)."""
    return _NUMBER.sub(lambda m: mask_phone(m.group()), text)


# -- what a person reads and hears about answering ----------------------------------------------

SMS_HINT = {
    "zh-CN": "回复 {code}a 确认，{code}e 立即升级",
    "en": "Reply {code}a to acknowledge, {code}e to escalate now",
}
VOICE_PROMPT = {
    "zh-CN": "按1确认，按2立即升级。",
    "en": "Press 1 to acknowledge, 2 to escalate now.",
}
VOICE_NO_KEY = {
    "zh-CN": "没有收到按键，告警仍未确认。再见。",
    "en": "No key was pressed: the alert is not acknowledged. Goodbye.",
}


def in_language(texts: Mapping[str, str], language: str) -> str:
    return texts.get(language, texts["zh-CN"])


def status_url(public_url: str, page_id: int) -> str:
    return f"{public_url}/twilio/status?page={page_id}"


def voice_url(public_url: str, page_id: int) -> str:
    return f"{public_url}/twilio/voice?page={page_id}"


# -- the account and the client ---------------------------------------------------------------


class TwilioOptions(BaseModel):
    """Options both Twilio channels take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_sid: str = Field(
        pattern=r"^AC[0-9a-fA-F]{32}$", description="the Twilio account (AC and 32 hex digits)"
    )
    auth_token: Secret | None = Field(
        default=None, description="the account's auth token, as ${VARIABLE}"
    )
    auth_token_file: str | None = Field(
        default=None, min_length=1, description="a file holding the auth token instead"
    )
    from_numbers: list[str] = Field(
        default_factory=list, description="the account's numbers to send from (E.164)"
    )
    timeout: Timeout = Field(
        default=timedelta(seconds=10), description="how long one request to Twilio may take"
    )

    @model_validator(mode="after")
    def _one_token(self) -> TwilioOptions:
        if (self.auth_token is None) == (self.auth_token_file is None):
            raise ValueError("give auth_token (as ${VARIABLE}) or auth_token_file, one of them")
        for number in self.from_numbers:
            if not re.match(E164, number):
                raise ValueError(
                    f"from_numbers: expected E.164 numbers such as +15005550006, found {number!r}"
                )
        if len(set(self.from_numbers)) != len(self.from_numbers):
            raise ValueError("from_numbers: a number is listed twice")
        return self


class _Tap:
    """The SDK's HTTP client with the notifier's timeout on every request, keeping (per thread)
    the headers of the last answer, for a 429's Retry-After."""

    is_async = False

    def __init__(self, inner: Any, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout
        self._local = threading.local()

    def request(
        self, method: str, uri: str, params: Any = None, data: Any = None, headers: Any = None,
        auth: Any = None, timeout: float | None = None, allow_redirects: bool = False,
    ) -> Any:  # fmt: skip
        self._local.headers = None
        response = self.inner.request(
            method, uri, params=params, data=data, headers=headers, auth=auth,
            timeout=timeout or self.timeout, allow_redirects=allow_redirects,
        )  # fmt: skip
        self._local.headers = getattr(response, "headers", None)
        return response

    @property
    def last_headers(self) -> Mapping[str, str] | None:
        headers = getattr(self._local, "headers", None)
        return dict(headers) if headers else None


class TwilioChannel:
    """The part of a Twilio notifier that is not about SMS or calls: the account, the client,
    the sender of each message and the addresses of people."""

    def __init__(self, name: str, options: TwilioOptions, context: PluginContext) -> None:
        self.name = name
        self.account_sid = options.account_sid
        self.from_numbers = tuple(options.from_numbers)
        self.public_url = context.public_url.rstrip("/") if context.public_url else None
        seconds = options.timeout.total_seconds()
        self._auth_token = _read_token(name, options, context)
        inner = (
            context.twilio_http()
            if context.twilio_http is not None
            else TwilioHttpClient(timeout=seconds)
        )
        self._http = _Tap(inner, seconds)
        self.client = Client(options.account_sid, self._auth_token, http_client=self._http)
        # the SDK imports its REST resources on first use (~0.5 s): at start-up, not inside the
        # first send of a flood, where it would also bunch a sender's first two requests
        self.client.api.v2010.account  # noqa: B018

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"{type(self).__name__}(name={self.name!r}, account_sid={self.account_sid!r})"

    @property
    def auth_token(self) -> str:
        """What Twilio signs its requests to the web app with (X-Twilio-Signature)."""
        return self._auth_token

    def address_for(self, person: Person) -> str | None:
        """The person's first phone number (E.164); a failover moves to the next."""
        return person.phones[0] if person.phones else None

    def from_number(self, to: str) -> str | None:
        """The sender for `to`: picked by a stable hash of the number, so a person always hears
        from the same office number (and can save it) whichever process sends."""
        if not self.from_numbers:
            return None
        digest = hashlib.sha256(to.encode("utf-8")).digest()
        return self.from_numbers[int.from_bytes(digest[:8], "big") % len(self.from_numbers)]

    def sender_for(self, message: Message) -> str:
        return self.from_number(message.address) or ""

    def failed(self, exc: Exception) -> DeliveryResult:
        return failure(exc, self._http.last_headers)

    def submit(
        self, what: str, create: Callable[..., Any], message: Message, request: dict[str, Any],
        accepted: Outcome = Outcome.ACCEPTED,
    ) -> DeliveryResult:  # fmt: skip
        """Hand `request` to the SDK's `create` (a message or a call), with the status callback
        when there is a public URL and the outcome is one a callback settles (`accepted`: a
        broadcast is DISPATCHED, nobody's answer follows); its SID on success, the failure as
        `failed` reads it."""
        if self.public_url is not None and accepted is Outcome.ACCEPTED:
            request["status_callback"] = status_url(self.public_url, message.page_id)
        try:
            made = create(**request)
        except FORESEEABLE as exc:
            result = self.failed(exc)
            log.warning("%s page #%d to %s: %s", what, message.page_id,
                        mask_phone(message.address), result.detail)  # fmt: skip
            return result
        log.info("%s page #%d to %s: %s (%s)", what, message.page_id, mask_phone(message.address),
                 made.sid, made.status)  # fmt: skip
        return DeliveryResult(accepted, f"twilio: {made.status}", provider_id=made.sid)


def _read_token(name: str, options: TwilioOptions, context: PluginContext) -> str:
    if options.auth_token is not None:
        return options.auth_token.get_secret_value()
    path = context.base_dir / str(options.auth_token_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise FloodwatchError(f"notifier {name}: auth_token_file {path}: {why}") from None
    if not token:
        raise FloodwatchError(f"notifier {name}: auth_token_file {path} is empty")
    return token
