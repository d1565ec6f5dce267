"""E-mail through an SMTP server: STARTTLS (port 587), implicit TLS (465) or plain (25), with
a login whose password comes from ``${ENV}`` or a file.

One connection per page: the envelope (MAIL FROM, RCPT TO) then the message (DATA). Until the
message has been handed over nothing was sent, so a failure there is retryable (4xx, a refused
or dropped connection) or permanent (5xx: a refused recipient, a refused login). A connection
lost or silent while the message is handed over may leave it delivered: unknown.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from floodwatch.errors import FloodwatchError
from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.channels.common import (
    DEFAULT_TIMEOUT,
    Timeout,
    mask_phones,
    read_secret,
    redact,
    secret_pair,
)
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person
from floodwatch.yamlsource import AtKey, Secret

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
DEFAULT_PORT: dict[Security, int] = {"starttls": 587, "ssl": 465, "none": 25}
_Phase = Literal["connect", "envelope", "data"]


class EmailNotifier:
    """A text/plain UTF-8 mail per page to the person's `email`, with a Message-ID derived
    from the page's key (mail clients that deduplicate by Message-ID show a resent page once,
    but SMTP servers do not deduplicate: a resend is not safe)."""

    capabilities = Capabilities(resend_safe=False, concurrency=2)
    limits = RateLimits()

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        host: str = Field(min_length=1, description="the SMTP server")
        port: int | None = Field(
            default=None, ge=1, le=65535, description="default: 587, 465 or 25 by security"
        )
        security: Security = Field(
            default="starttls", description="starttls, ssl (implicit TLS) or none"
        )
        username: str | None = Field(default=None, min_length=1, description="login name")
        password: Secret | None = Field(default=None, description="login password")
        password_file: str | None = Field(default=None, description="a file holding it")
        sender: str = Field(description="the From: address, e.g. 防汛办 <fxb@example.gov.cn>")
        ca_file: str | None = Field(
            default=None, description="PEM certificates to trust instead of the system's"
        )
        timeout: Timeout = DEFAULT_TIMEOUT

        @field_validator("sender")
        @classmethod
        def _an_address(cls, value: str) -> str:
            if "@" not in parseaddr(value)[1] or "\n" in value or "\r" in value:
                raise ValueError(
                    f"expected an address such as 防汛办 <fxb@example.gov.cn>, found {value!r}"
                )
            return value

        @model_validator(mode="after")
        def _login_complete(self) -> EmailNotifier.Options:
            secret_pair(self, "password", required=self.username is not None)
            has_password = self.password is not None or self.password_file is not None
            if has_password and self.username is None:
                raise AtKey("username", "a password needs a username")
            if self.username is not None and self.security == "none":
                raise AtKey(
                    "security",
                    "a login over an unencrypted connection would send the password in clear: "
                    "use security: starttls or ssl",
                )
            return self

    def __init__(self, name: str, options: EmailNotifier.Options, context: PluginContext) -> None:
        self.name = name
        self._host = options.host
        self._port = options.port or DEFAULT_PORT[options.security]
        self._security: Security = options.security
        self._username = options.username
        self._password = read_secret(options.password, options.password_file, "password", context)
        self._sender = options.sender
        self._from = parseaddr(options.sender)[1]
        domain = self._from.rpartition("@")[2]
        try:
            self._domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            self._domain = "floodwatch.invalid"
        self._clock = context.clock
        self._timeout = options.timeout.total_seconds()
        cafile = context.base_dir / options.ca_file if options.ca_file else None
        try:
            self._tls = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:  # ssl.SSLError: not PEM certificates
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise FloodwatchError(f"ca_file: cannot use {cafile}: {why}") from None
        self._secrets = [self._password.get_secret_value()] if self._password else []

    def address_for(self, person: Person) -> str | None:
        return person.email or None

    def message_id(self, key: str) -> str:
        """``<page-7-a1b2c3@example.gov.cn>``: the same page always has the same id."""
        local = quote(key, safe="-_~").replace(".", "%2E")  # no dots: ".." is not allowed
        return f"<{local}@{self._domain}>"

    def compose(self, message: Message) -> bytes:
        mail = EmailMessage(policy=SMTP_POLICY)
        mail["From"] = self._sender
        mail["To"] = message.address
        mail["Subject"] = re.sub(r"[\r\n]+", " ", message.subject)
        mail["Date"] = format_datetime(self._clock.now())
        mail["Message-ID"] = self.message_id(message.idempotency_key)
        mail["Auto-Submitted"] = "auto-generated"  # no vacation replies to the duty desk
        mail.set_content(message.body, charset="utf-8", cte="base64")
        return mail.as_bytes()

    def send(self, message: Message) -> DeliveryResult:
        try:
            data = self.compose(message)
        except (ValueError, TypeError) as exc:
            return self._result(Outcome.PERMANENT, f"cannot write the mail: {exc}")
        phase: _Phase = "connect"
        conn: smtplib.SMTP | None = None
        try:
            conn = self._connect()
            phase = "envelope"
            code, reply = conn.mail(self._from)
            if code != 250:
                return self._replied("the sender", code, reply, conn)
            code, reply = conn.rcpt(message.address)
            if code not in (250, 251):
                return self._replied("the recipient", code, reply, conn)
            phase = "data"
            code, reply = conn.data(data)
            if not 200 <= code < 300:
                return self._replied("the message", code, reply, conn)
            _quit(conn)
            return DeliveryResult(
                Outcome.ACCEPTED, f"SMTP {code}: {_text(reply)}", provider_code=str(code)
            )
        except smtplib.SMTPNotSupportedError as exc:
            return self._result(Outcome.PERMANENT, f"the server does not offer it: {exc}", conn)
        except smtplib.SMTPAuthenticationError as exc:
            return self._replied("the login", exc.smtp_code, exc.smtp_error, conn)
        except smtplib.SMTPResponseException as exc:  # a refused greeting, STARTTLS or DATA
            what = "the message" if phase == "data" else "the connection"
            return self._replied(what, exc.smtp_code, exc.smtp_error, conn)
        except ssl.SSLCertVerificationError as exc:
            detail = f"the server's certificate is not trusted: {exc.verify_message}"
            return self._result(Outcome.PERMANENT, detail, conn)
        except UnicodeEncodeError:
            detail = "the address is not ASCII (the server would need SMTPUTF8)"
            return self._result(Outcome.PERMANENT, detail, conn)
        except (smtplib.SMTPException, OSError) as exc:  # dropped, refused, timed out, TLS
            why = _why(exc, self._timeout)
            if phase == "data":
                detail = f"{why} while the message was handed over: it may have been delivered"
                return self._result(Outcome.UNKNOWN, detail, conn)
            if isinstance(exc, ssl.SSLError):  # a TLS setting that does not match the server's
                return self._result(Outcome.PERMANENT, f"TLS failed: {why}", conn)
            where = "connecting" if phase == "connect" else "before the message was sent"
            return self._result(Outcome.RETRYABLE, f"{why} ({where})", conn)

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        if self._security == "ssl":
            conn = smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout, context=self._tls
            )
        else:
            conn = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        try:
            conn.ehlo()
            if self._security == "starttls":
                conn.starttls(context=self._tls)
                conn.ehlo()
            if self._username is not None and self._password is not None:
                try:
                    conn.login(self._username, self._password.get_secret_value())
                except UnicodeEncodeError:
                    raise smtplib.SMTPAuthenticationError(
                        535, "the username or password is not ASCII, which SMTP AUTH cannot carry"
                    ) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _replied(
        self, what: str, code: int, reply: bytes | str, conn: smtplib.SMTP | None
    ) -> DeliveryResult:
        """The server answered with a refusal: 5xx permanent; 4xx retryable (greylisting, a
        full queue, a busy server)."""
        if conn is not None:
            _quit(conn)
        said = f"the server refused {what}: {code} {_text(reply)}"
        outcome = Outcome.PERMANENT if 500 <= code < 600 else Outcome.RETRYABLE
        return self._result(outcome, said, None, code)

    def _result(
        self,
        outcome: Outcome,
        detail: str,
        conn: smtplib.SMTP | None = None,
        code: int | None = None,
    ) -> DeliveryResult:
        if conn is not None:
            conn.close()  # no QUIT: a server that did not answer would be waited on again
        clean = mask_phones(redact(detail, self._secrets))
        return DeliveryResult(outcome, clean, provider_code=None if code is None else str(code))


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):  # smtplib says it so
        return f"no answer within {timeout:g} s"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
