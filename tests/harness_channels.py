"""The far ends of the paging channels, on 127.0.0.1, and their contract harnesses.

Each far end speaks its provider's documented wire format and checks what the real one checks:
the SMTP server (aiosmtpd, with STARTTLS and a login) takes mail; the webhook receiver checks
the HMAC signature; the WeCom, DingTalk and Feishu robots check their key, token, signature
and timestamp, answer with their own codes and keep their own rate limits; the Aliyun SMS
endpoint checks the ACS3-HMAC-SHA256 signature of the SDK's request, the signature name, the
template and its variables. Every far end keeps the messages it accepted (`received`).

`CHANNEL_HARNESSES` joins the notifier contract suite (tests/notifier_support.py).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from floodwatch.clock import SimulatedClock
from floodwatch.notify.base import Message, Outcome
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person
from floodwatch.yamlsource import EnvStr

# tests/notifier_support.py imports this dict at its end; whichever of the two modules is
# imported first, the harnesses reach its HARNESSES (this module adds them itself at its end)
CHANNEL_HARNESSES: dict[str, type[Harness]] = {}

from .notifier_support import (  # noqa: E402
    HARNESSES,
    NOW,
    Arrival,
    Harness,
    NotApplicable,
    wang_fang,
)

# -- a loopback HTTP server that takes POSTs ------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request as the far end got it: `raw_path` with its query, headers by lower-case
    name, the body's bytes, and the client's port (one per connection)."""

    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes
    client_port: int = 0

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.raw_path).path)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.raw_path).query).items()}

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), headers=headers)


Handler = Callable[[Request], Reply | None]
"""What a path answers; None: no answer at all until the server stops (a silent far end)."""


class Sink:
    """A real HTTP server on 127.0.0.1: each path prefix answers through its handler; every
    request is recorded, body included. With `tls` (a server context, `server_tls`): HTTPS."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Request] = []
        self.handlers: dict[str, Handler] = {}
        self._stopping = threading.Event()
        sink = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                port = int(self.client_address[1])
                request = Request(self.command, self.path, headers, body, port)
                sink.requests.append(request)
                handler = sink.handler_for(request.path)
                reply = handler(request) if handler else Reply.of({"error": "not found"}, 404)
                if reply is None:
                    sink._stopping.wait()  # silent until the test is over
                    self.close_connection = True
                    return
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    return  # the client gave up waiting

            do_POST = do_GET = _any  # noqa: N815 - the stdlib's names

            def log_message(self, *args: object) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def handler_for(self, path: str) -> Handler | None:
        prefixes = sorted((p for p in self.handlers if path.startswith(p)), key=len)
        return self.handlers[prefixes[-1]] if prefixes else None

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


# -- a certificate for TLS on loopback --------------------------------------------------------


@functools.cache
def self_signed() -> tuple[bytes, bytes]:
    """A certificate for ``localhost`` and 127.0.0.1 (PEM) and its key (PEM), made here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "floodwatch test mail server")])
    now = datetime.now(UTC)  # OpenSSL checks validity against the wall clock
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = self_signed()
    (directory / "mail.crt").write_bytes(cert)
    (directory / "mail.key").write_bytes(key)
    return directory / "mail.crt", directory / "mail.key"


def server_tls(directory: Path) -> ssl.SSLContext:
    """A server context whose certificate (for localhost and 127.0.0.1) is directory/mail.crt."""
    cert, key = write_certificate(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# -- the SMTP server ----------------------------------------------------------------------


class MailServer:
    """aiosmtpd on 127.0.0.1 in its own event loop. `mode` is the state of the far end:
    ok | greylist (451 at RCPT) | unknown_user (550 at RCPT) | stall (no answer after the
    message) | drop (closes the connection at RCPT) | full (452 after the message)."""

    def __init__(
        self, directory: Path, *, security: str = "starttls", login: tuple[str, str] | None = None
    ) -> None:
        self.mode = "ok"
        self.mails: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        self._login = login
        self._loop = asyncio.new_event_loop()
        tls = server_tls(directory) if security != "none" else None
        kwargs: dict[str, Any] = {"hostname": "mail.test"}
        if security == "starttls":
            kwargs.update(tls_context=tls, require_starttls=True)
        if login is not None:
            # aiosmtpd counts only STARTTLS as TLS: over implicit TLS the login is encrypted too
            kwargs.update(authenticator=self._authenticate, auth_require_tls=security == "starttls")

        def factory() -> SMTP:
            return SMTP(self, **kwargs)

        ssl_context = tls if security == "ssl" else None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(factory, ssl_context), daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self, factory: Callable[[], SMTP], ssl_context: Any) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            self._loop.create_server(factory, "127.0.0.1", 0, ssl=ssl_context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self._login is not None
            and (data.login.decode(), data.password.decode()) == self._login
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mode == "greylist":
            return f"451 4.7.1 <{address}>: Recipient address rejected: Greylisted, try again"
        if self.mode == "unknown_user":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if self.mode == "drop":
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.2 shutting down"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.mode == "stall":
            await asyncio.sleep(3600)  # cancelled when the server stops
        if self.mode == "full":
            return "452 4.3.1 Insufficient system storage"
        assert isinstance(envelope.content, bytes)
        self.mails.append(envelope.original_content or envelope.content)
        self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 2.0.0 Ok: queued as 4FkXyT1Q2z"

    def parsed(self) -> list[Any]:
        return [message_from_bytes(m, policy=default_policy) for m in self.mails]

    def stop(self) -> None:
        def close() -> None:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.call_later(0.05, self._loop.stop)

        if self._loop.is_running():
            self._loop.call_soon_threadsafe(close)
            self._thread.join(5)


def mail_arrival(mail: Any) -> Arrival:
    """A mail as the recipient reads it: Subject, the text (without the final newline the
    MIME form adds), the key from the Message-ID, the To address."""
    text = mail.get_content().replace("\r\n", "\n")  # MIME's canonical line ends
    body = text[:-1] if text.endswith("\n") else text
    key = unquote(str(mail["Message-ID"]).strip("<>").rpartition("@")[0])
    return Arrival(str(mail["Subject"]), body, key=key, to=str(mail["To"]))


# -- the webhook receiver ---------------------------------------------------------------------


class WebhookReceiver:
    """A receiver that checks the signature (when it has a secret), deduplicates by
    Idempotency-Key (when `dedupes`), and answers by `mode`: ok | unavailable (503, Retry-After
    30 s) | gone (410) | stall | dated (503, Retry-After as an HTTP date)."""

    def __init__(
        self, sink: Sink, path: str = "/hook", secret: str | None = None, dedupes: bool = False
    ) -> None:
        self.mode = "ok"
        self.secret = secret
        self.dedupes = dedupes
        self.accepted: list[Request] = []
        self.refused_signatures = 0
        sink.handlers[path] = self.answer

    def answer(self, request: Request) -> Reply | None:
        if self.secret is not None:
            expected = hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
            given = request.headers.get("x-floodwatch-signature", "")
            if not hmac.compare_digest(given, f"sha256={expected}"):
                self.refused_signatures += 1
                return Reply.of({"error": "bad signature"}, 401)
        if self.mode == "stall":
            return None
        if self.mode == "unavailable":
            return Reply(503, b"busy", "text/plain", {"Retry-After": "30"})
        if self.mode == "dated":
            return Reply(
                503, b"busy", "text/plain", {"Retry-After": "Wed, 01 Jul 2026 00:31:00 GMT"}
            )
        if self.mode == "gone":
            return Reply(410, b"gone: this hook was removed", "text/plain")
        key = request.headers.get("idempotency-key")
        seen = {r.headers.get("idempotency-key") for r in self.accepted}
        if not (self.dedupes and key in seen):
            self.accepted.append(request)
        return Reply.of({"ok": True}, 202)

    def received(self) -> list[Arrival]:
        out = []
        for r in self.accepted:
            b = r.json()
            out.append(
                Arrival(b["subject"], b["body"], b["page"], b["key"], b["address"], b["person"])
            )
        return out


# -- the group robots -----------------------------------------------------------------------


PROXY_PAGE = Reply(200, b"<html><body>Proxy login</body></html>", "text/html")


class Robot:
    """What the three robots share: a state, the messages posted into the group, a per-minute
    limit kept on the wall clock (DingTalk then blocks for ten minutes), and `now`, the time
    signatures are checked against (the platform's own clock: the real time)."""

    per_minute = 20
    block_seconds = 0.0

    def __init__(self, sink: Sink, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.mode = "ok"  # ok | throttled | stall | proxy (a proxy's HTML page with HTTP 200)
        self.now = now
        self.posted: list[dict[str, Any]] = []
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self.sink = sink

    def received(self) -> list[Arrival]:
        raise NotImplementedError

    def over_limit(self) -> bool:
        now = time.monotonic()
        if now < self._blocked_until:
            return True
        while self._sent and now - self._sent[0] > 60:
            self._sent.popleft()
        if self.mode == "throttled" or len(self._sent) >= self.per_minute:
            self._blocked_until = now + self.block_seconds
            return True
        self._sent.append(now)
        return False


class WeComRobot(Robot):
    def __init__(self, sink: Sink, key: str, **kw: Any) -> None:
        super().__init__(sink, **kw)
        self.key = key
        sink.handlers["/cgi-bin/webhook/send"] = self.answer

    @staticmethod
    def error(code: int, msg: str) -> Reply:
        hint = (
            f", hint: [{int(time.time())}_{code}], from ip: 127.0.0.1, more info at "
            f"https://open.work.weixin.qq.com/devtool/query?e={code}"
        )
        return Reply.of({"errcode": code, "errmsg": msg + hint})

    def answer(self, request: Request) -> Reply | None:
        if self.mode == "stall":
            return None
        if self.mode == "proxy":
            return PROXY_PAGE
        if request.query.get("key") != self.key:
            return self.error(93000, "invalid webhook url")
        body = request.json()
        if body.get("msgtype") != "text":
            return self.error(40008, "invalid message type")
        text = body["text"]
        content = text.get("content", "")
        if not content:
            return self.error(44004, "empty content")
        if len(content.encode("utf-8")) > 2048:
            return self.error(45002, "content exceed max length 2048")
        for mobile in text.get("mentioned_mobile_list", []):
            assert mobile.isdigit() and len(mobile) == 11, mobile
        if self.over_limit():
            return self.error(45009, "api freq out of limit")
        self.posted.append(text)
        return Reply.of({"errcode": 0, "errmsg": "ok"})

    def received(self) -> list[Arrival]:
        return [content_arrival(t["content"]) for t in self.posted]


class DingTalkRobot(Robot):
    block_seconds = 600.0

    def __init__(self, sink: Sink, token: str, secret: str | None = None, **kw: Any) -> None:
        super().__init__(sink, **kw)
        self.token, self.secret = token, secret
        sink.handlers["/robot/send"] = self.answer

    @staticmethod
    def error(code: int, msg: str) -> Reply:
        return Reply.of({"errcode": code, "errmsg": msg})

    def answer(self, request: Request) -> Reply | None:
        if self.mode == "stall":
            return None
        if self.mode == "proxy":
            return PROXY_PAGE
        q = request.query
        if q.get("access_token") != self.token:
            return self.error(300001, "description:robot 不存在；solution:请确认 token 是否正确；")
        if self.secret is not None:
            stamp = q.get("timestamp", "")
            if not stamp.isdigit() or abs(int(stamp) / 1000 - self.now().timestamp()) > 3600:
                return self.error(
                    310000,
                    "invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
                )
            digest = hmac.new(
                self.secret.encode(), f"{stamp}\n{self.secret}".encode(), hashlib.sha256
            ).digest()
            if q.get("sign") != base64.b64encode(digest).decode():
                return self.error(
                    310000,
                    "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
                )
        body = request.json()
        if body.get("msgtype") != "text" or not body.get("text", {}).get("content"):
            return self.error(40035, "缺少参数 json")
        if self.over_limit():
            return self.error(130101, "send too fast, exceed 20 times per minute")
        self.posted.append(body)
        return Reply.of({"errcode": 0, "errmsg": "ok"})

    def received(self) -> list[Arrival]:
        return [content_arrival(b["text"]["content"], drop_last="@") for b in self.posted]


class FeishuRobot(Robot):
    per_minute = 100

    def __init__(self, sink: Sink, token: str, secret: str | None = None, **kw: Any) -> None:
        super().__init__(sink, **kw)
        self.token, self.secret = token, secret
        sink.handlers["/open-apis/bot/v2/hook/"] = self.answer

    @staticmethod
    def error(code: int, msg: str) -> Reply:
        return Reply.of({"code": code, "msg": msg, "data": {}})

    def answer(self, request: Request) -> Reply | None:
        if self.mode == "stall":
            return None
        if self.mode == "proxy":
            return PROXY_PAGE
        if request.path.rsplit("/", 1)[-1] != self.token:
            return self.error(19001, "param invalid: incoming webhook access token invalid")
        if len(request.body) > 20 * 1024:
            return self.error(9499, "Bad Request")
        body = request.json()
        if self.secret is not None:
            stamp = str(body.get("timestamp", ""))
            key = f"{stamp}\n{self.secret}".encode()
            sign = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            fresh = stamp.isdigit() and abs(int(stamp) - self.now().timestamp()) <= 3600
            if not fresh or body.get("sign") != sign:
                return self.error(
                    19021, "sign match fail or timestamp is not within one hour from current time"
                )
        if body.get("msg_type") != "text" or not body.get("content", {}).get("text"):
            return self.error(9499, "Bad Request")
        if self.over_limit():
            return self.error(11232, "frequency limited psm[lark.oapi.app_platform_runtime]")
        self.posted.append(body)
        return Reply.of(
            {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
        )

    def received(self) -> list[Arrival]:
        return [content_arrival(b["content"]["text"], drop_last="<at ") for b in self.posted]


def content_arrival(content: str, drop_last: str | None = None) -> Arrival:
    """A robot's text as the group shows it: the first line, then the rest, without the line
    of mentions the platform wants at the end."""
    lines = content.split("\n")
    if drop_last and len(lines) > 1 and lines[-1].startswith(drop_last):
        lines = lines[:-1]
    return Arrival(lines[0], "\n".join(lines[1:]))


# -- the Aliyun SMS endpoint ---------------------------------------------------------------


def acs3_encode(text: str) -> str:
    """RFC 3986 percent-encoding, as Aliyun's V3 signature canonicalises names and values."""
    return quote(text, safe="-_.~")


def acs3_signature(request: Request, secret: str, signed: list[str]) -> str:
    """The ACS3-HMAC-SHA256 signature of `request` (Aliyun's "V3 request body and signature
    mechanism"): canonical request -> its SHA-256 -> HMAC-SHA256 with the AccessKey secret."""
    split = urlsplit(request.raw_path)
    pairs = parse_qs(split.query, keep_blank_values=True)
    query = "&".join(
        f"{acs3_encode(k)}={acs3_encode(v[-1])}"
        for k, v in sorted(pairs.items(), key=lambda kv: acs3_encode(kv[0]))
    )
    headers = "".join(f"{h}:{request.headers.get(h, '').strip()}\n" for h in signed)
    canonical = "\n".join(
        [
            request.method,
            split.path or "/",
            query,
            headers,
            ";".join(signed),
            hashlib.sha256(request.body).hexdigest(),
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class AliyunSmsEndpoint:
    """dysmsapi's SendSms, as the SDK calls it: ``POST /?PhoneNumbers=...`` with the action in
    ``x-acs-action`` and an ``Authorization: ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,
    Signature=...`` header. Checks the signature and its nonce, then the request the way the
    SMS service does; `mode`: ok | throttled | template_withdrawn | stall | proxy."""

    def __init__(
        self,
        sink: Sink,
        key_id: str,
        key_secret: str,
        sign_name: str,
        template_code: str,
        variables: tuple[str, ...],
        param_max: int = 35,
    ) -> None:
        self.mode = "ok"
        self.key_id, self.key_secret = key_id, key_secret
        self.sign_name, self.template_code = sign_name, template_code
        self.variables, self.param_max = variables, param_max
        self.sent: list[dict[str, Any]] = []
        self.nonces: set[str] = set()
        sink.handlers["/"] = self.answer

    @staticmethod
    def error(code: str, message: str, status: int = 200) -> Reply:
        return Reply.of(
            {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper()}, status
        )

    def answer(self, request: Request) -> Reply | None:
        if self.mode == "stall":
            return None
        if self.mode == "proxy":
            return Reply(200, b"<html>gateway</html>", "text/html")
        auth = request.headers.get("authorization", "")
        algorithm, _, rest = auth.partition(" ")
        parts = dict(p.split("=", 1) for p in rest.split(",") if "=" in p)
        signed = parts.get("SignedHeaders", "").split(";")
        if algorithm != "ACS3-HMAC-SHA256" or not {
            "host",
            "x-acs-action",
            "x-acs-date",
            "x-acs-signature-nonce",
        } <= set(signed):
            return self.error(
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
                400,
            )
        if parts.get("Credential") != self.key_id:
            return self.error(
                "InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404
            )
        if request.headers.get("x-acs-content-sha256") != hashlib.sha256(request.body).hexdigest():
            return self.error("IncompleteSignature", "content hash does not match", 400)
        expected = acs3_signature(request, self.key_secret, signed)
        if not hmac.compare_digest(parts.get("Signature", ""), expected):
            return self.error(
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
                400,
            )
        nonce = request.headers["x-acs-signature-nonce"]
        if nonce in self.nonces:
            return self.error(
                "SignatureNonceUsed", "Specified signature nonce was used already.", 400
            )
        self.nonces.add(nonce)
        when = datetime.fromisoformat(request.headers["x-acs-date"].replace("Z", "+00:00"))
        if abs((datetime.now(UTC) - when).total_seconds()) > 900:  # the SDK signs by wall clock
            return self.error("InvalidTimeStamp.Expired", "timestamp expired", 400)
        if (request.headers.get("x-acs-action"), request.headers.get("x-acs-version")) != (
            "SendSms",
            "2017-05-25",
        ):
            return self.error("InvalidAction.NotFound", "Specified api is not found", 404)
        q = request.query
        number = q.get("PhoneNumbers", "")
        if not (number.isdigit() and len(number) == 11 and number.startswith("1")):
            return self.error("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if q.get("SignName") != self.sign_name:
            return self.error("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if q.get("TemplateCode") != self.template_code or self.mode == "template_withdrawn":
            return self.error("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            params = json.loads(q.get("TemplateParam", ""))
        except ValueError:
            return self.error("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        missing = [v for v in self.variables if v not in params]
        if missing:
            return self.error("isv.TEMPLATE_MISSING_PARAMETERS", f"模板缺少变量 {missing[0]}")
        if any(len(str(v)) > self.param_max for v in params.values()):
            return self.error("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        if self.mode == "throttled":
            return self.error("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        self.sent.append({"to": number, "params": params, "out_id": q.get("OutId")})
        return Reply.of(
            {
                "Code": "OK",
                "Message": "OK",
                "BizId": f"9006197469364984^{len(self.sent)}",
                "RequestId": str(uuid.uuid4()).upper(),
            }
        )


# -- building notifiers and pages for the channel tests ------------------------------------


def context(base_dir: Path, clock: Any = None) -> PluginContext:
    return PluginContext(base_dir=base_dir, clock=clock or SimulatedClock(NOW))


def build(cls: Any, options: dict[str, Any], base_dir: Path, name: str = "duty") -> Any:
    """A notifier as the application builds it, from options as a config file gives them."""
    return cls(name, cls.Options.model_validate(options), context(base_dir))


def page(address: str, key: str = "page-7-a1b2c3", **fields: Any) -> Message:
    """The contract's page 7: an orange warning for 青溪水库, to `address`."""
    values: dict[str, Any] = {
        "page_id": 7,
        "idempotency_key": key,
        "person": "wang.fang",
        "address": address,
        "language": "zh-CN",
        "subject": "【橙色预警】青溪水库 水位 152.30 m",
        "body": "青溪水库水位超警戒水位 0.80 米，仍在上涨。\n请立即到岗。回复 1 确认。",
        "alert_id": 12,
        "reply_code": "3",
    }
    values.update(fields)
    return Message(**values)


# -- the harnesses ------------------------------------------------------------------------


def officer(**contacts: Any) -> Person:
    return wang_fang(**contacts)


class _SinkHarness(Harness):
    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.sink = Sink()

    def close(self) -> None:
        self.sink.stop()


class EmailHarness(Harness):
    """aiosmtpd with STARTTLS (a certificate made for the test, trusted through `ca_file`)
    and a login whose password comes from a file."""

    success_outcome = Outcome.ACCEPTED
    crash_outcome = Outcome.RETRYABLE  # the server drops the connection before the message
    timeout = 1.0

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.server = MailServer(
            self.tmp_path, security="starttls", login=("duty", "passw0rd-duty")
        )
        (self.tmp_path / "smtp.pass").write_text("passw0rd-duty\n", encoding="utf-8")

    def options(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.server.port,
            "security": "starttls",
            "username": "duty",
            "password_file": "smtp.pass",
            "ca_file": "mail.crt",
            "sender": "青溪镇防汛办 <fxb@qingxi.example.cn>",
            "timeout": "1s",
        }

    def person(self) -> Person:
        return officer(email="wang.fang@qingxi.example.cn")

    def person_without_contact(self) -> Person:
        return officer(phone="+8613800000001")

    def address_of(self, person: Person) -> str:
        assert person.email
        return person.email

    def succeed(self) -> None:
        self.server.mode = "ok"

    def fail_retryable(self) -> str:
        self.server.mode = "greylist"
        return "451 4.7.1"

    def fail_permanent(self) -> str:
        self.server.mode = "unknown_user"
        return "550 5.1.1"

    def time_out(self) -> None:
        self.server.mode = "stall"

    def crash(self) -> None:
        self.server.mode = "drop"

    def received(self) -> list[Arrival]:
        return [mail_arrival(m) for m in self.server.parsed()]

    def close(self) -> None:
        self.server.stop()


class WebhookHarness(_SinkHarness):
    """A receiver that checks the HMAC signature; the default `dedupes: false`."""

    success_outcome = Outcome.ACCEPTED
    crash_outcome = Outcome.RETRYABLE  # 503 whose Retry-After is an HTTP date
    timeout = 1.0

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.receiver = WebhookReceiver(self.sink, secret="hook-signing-key")
        (self.tmp_path / "hook.secret").write_text("hook-signing-key\n", encoding="utf-8")

    def options(self) -> dict[str, Any]:
        return {"url": self.sink.url + "/hook", "secret_file": "hook.secret", "timeout": "1s"}

    def person(self) -> Person:
        return officer()

    person_without_contact = NotApplicable(
        "the webhook names the person by roster id, which every person has"
    )

    def address_of(self, person: Person) -> str:
        return person.id

    def succeed(self) -> None:
        self.receiver.mode = "ok"

    def fail_retryable(self) -> str:
        self.receiver.mode = "unavailable"
        return "503"

    def fail_permanent(self) -> str:
        self.receiver.mode = "gone"
        return "410"

    def time_out(self) -> None:
        self.receiver.mode = "stall"

    def crash(self) -> None:
        self.receiver.mode = "dated"

    def received(self) -> list[Arrival]:
        return self.receiver.received()


class _RobotHarness(_SinkHarness):
    """A robot in the group 防汛值班群; every state is the robot's own (a rate limit hit, a
    key or secret rotated away, a silent or proxied answer)."""

    crash_outcome = Outcome.UNKNOWN  # HTTP 200 with a proxy's HTML page: maybe posted
    timeout = 1.0
    platform: str
    robot: Robot

    def person(self) -> Person:
        return officer(phone="+8613800000001", chat={self.platform: "wangfang"})

    def person_without_contact(self) -> Person:
        return officer(phone="+8613800000001", chat={"other": "wangfang"})

    def address_of(self, person: Person) -> str:
        return "防汛值班群 @wangfang"

    def succeed(self) -> None:
        self.robot.mode = "ok"

    def time_out(self) -> None:
        self.robot.mode = "stall"

    def crash(self) -> None:
        self.robot.mode = "proxy"

    def received(self) -> list[Arrival]:
        return self.robot.received()


class WeComHarness(_RobotHarness):
    platform = "wecom"

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.robot = WeComRobot(self.sink, key="693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
        (self.tmp_path / "wecom.key").write_text(self.robot.key + "\n", encoding="utf-8")

    def options(self) -> dict[str, Any]:
        return {
            "key_file": "wecom.key",
            "base_url": self.sink.url,
            "group": "防汛值班群",
            "timeout": "1s",
        }

    def fail_retryable(self) -> str:
        self.robot.mode = "throttled"
        return "api freq out of limit"

    def fail_permanent(self) -> str:
        """The robot was removed from the group: its key is no longer valid."""
        assert isinstance(self.robot, WeComRobot)
        self.robot.key = "a-new-robot"
        return "invalid webhook url"

    def succeed(self) -> None:
        assert isinstance(self.robot, WeComRobot)
        self.robot.mode = "ok"
        self.robot.key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


class DingTalkHarness(_RobotHarness):
    platform = "dingtalk"
    SECRET = "SEC4f3c0d9e2b1a6f8e7d6c5b4a39281706f5e4d3c2b1a0"

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.robot = DingTalkRobot(self.sink, token="c0ffee" * 8, secret=self.SECRET)

    def options(self) -> dict[str, Any]:
        return {
            "access_token": EnvStr("c0ffee" * 8),
            "secret": EnvStr(self.SECRET),
            "base_url": self.sink.url,
            "group": "防汛值班群",
            "timeout": "1s",
        }

    def fail_retryable(self) -> str:
        self.robot.mode = "throttled"
        return "send too fast"

    def fail_permanent(self) -> str:
        """Someone regenerated the robot's signing secret in DingTalk."""
        assert isinstance(self.robot, DingTalkRobot)
        self.robot.secret = "SECregenerated"
        return "sign not match"

    def succeed(self) -> None:
        assert isinstance(self.robot, DingTalkRobot)
        self.robot.mode, self.robot.secret = "ok", self.SECRET
        self.robot._blocked_until = 0.0  # the ten minutes have passed


class FeishuHarness(_RobotHarness):
    platform = "feishu"
    SECRET = "qZ3vXk9TmB2pL7wR"

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.robot = FeishuRobot(
            self.sink, token="b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d", secret=self.SECRET
        )
        (self.tmp_path / "feishu.secret").write_text(self.SECRET, encoding="utf-8")

    def options(self) -> dict[str, Any]:
        return {
            "token": EnvStr("b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
            "secret_file": "feishu.secret",
            "base_url": self.sink.url,
            "group": "防汛值班群",
            "timeout": "1s",
        }

    def fail_retryable(self) -> str:
        self.robot.mode = "throttled"
        return "frequency limited"

    def fail_permanent(self) -> str:
        """The robot's signing secret was reset in Feishu."""
        assert isinstance(self.robot, FeishuRobot)
        self.robot.secret = "reset-in-feishu"
        return "sign match fail"

    def succeed(self) -> None:
        assert isinstance(self.robot, FeishuRobot)
        self.robot.mode, self.robot.secret = "ok", self.SECRET


class AliyunSmsHarness(_SinkHarness):
    """The SDK, pointed at a local endpoint (``protocol: http``), signing as it does for
    Aliyun; the approved template has the variables title and detail."""

    success_outcome = Outcome.ACCEPTED
    crash_outcome = Outcome.UNKNOWN  # HTTP 200 that is not JSON: the SDK cannot read it
    timeout = 1.0

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.endpoint = AliyunSmsEndpoint(
            self.sink,
            "LTAI5tTestKeyId0001",
            "TestKeySecret0123456789abcdef",
            "青溪镇防汛办",
            "SMS_465800001",
            ("title", "detail"),
            param_max=200,
        )
        (self.tmp_path / "aliyun.secret").write_text(self.endpoint.key_secret, encoding="utf-8")

    def options(self) -> dict[str, Any]:
        return {
            "access_key_id": EnvStr("LTAI5tTestKeyId0001"),
            "access_key_secret_file": "aliyun.secret",
            "sign_name": "青溪镇防汛办",
            "template_code": "SMS_465800001",
            "template_params": {"title": "{subject}", "detail": "{body}"},
            "param_max": 200,
            "endpoint": f"127.0.0.1:{self.sink.port}",
            "protocol": "http",
            "timeout": "1s",
        }

    def person(self) -> Person:
        return officer(phones=("+8613800000001", "+85291234567"))

    def person_without_contact(self) -> Person:
        return officer(phones=("+85291234567",), email="wang.fang@qingxi.example.cn")

    def address_of(self, person: Person) -> str:
        return "13800000001"

    def succeed(self) -> None:
        self.endpoint.mode = "ok"

    def fail_retryable(self) -> str:
        self.endpoint.mode = "throttled"
        return "isv.BUSINESS_LIMIT_CONTROL"

    def fail_permanent(self) -> str:
        self.endpoint.mode = "template_withdrawn"
        return "isv.SMS_TEMPLATE_ILLEGAL"

    def time_out(self) -> None:
        self.endpoint.mode = "stall"

    def crash(self) -> None:
        self.endpoint.mode = "proxy"

    def received(self) -> list[Arrival]:
        return [
            Arrival(s["params"]["title"], s["params"]["detail"], key=s["out_id"], to=s["to"])
            for s in self.endpoint.sent
        ]


class AppriseHarness(_SinkHarness):
    """Apprise's own ``json://`` service posting to a local receiver, each person at their own
    path (``{address}``: their id under ``chat: telegram``)."""

    success_outcome = Outcome.ACCEPTED
    timeout = 1.0
    fail_permanent = NotApplicable(
        "Apprise reports only success, failure or timeout and cannot tell a permanent failure "
        "from a temporary one, so the channel reports every failure as retryable"
    )
    crash = NotApplicable(
        "Apprise runs each service inside its own guard and reports a service that raised as "
        "a failure; nothing a far end does reaches the notifier as an exception"
    )

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.mode = "ok"
        self.accepted: list[Request] = []
        self.sink.handlers["/page/"] = self.answer

    def answer(self, request: Request) -> Reply | None:
        if self.mode == "stall":
            return None
        if self.mode == "broken":
            return Reply(500, b"internal error", "text/plain")
        self.accepted.append(request)
        return Reply.of({"ok": True})

    def options(self) -> dict[str, Any]:
        return {
            "urls": [f"json://127.0.0.1:{self.sink.port}/page/{{address}}"],
            "chat": "telegram",
            "timeout": "1s",
        }

    def person(self) -> Person:
        return officer(chat={"telegram": "5170021388"})

    def person_without_contact(self) -> Person:
        return officer(chat={"wecom": "wangfang"})

    def address_of(self, person: Person) -> str:
        return "5170021388"

    def succeed(self) -> None:
        self.mode = "ok"

    def fail_retryable(self) -> str:
        self.mode = "broken"
        return "Internal server error"

    def time_out(self) -> None:
        self.mode = "stall"

    def received(self) -> list[Arrival]:
        out = []
        for r in self.accepted:
            b = r.json()
            out.append(Arrival(b["title"], b["message"], to=r.path.rsplit("/", 1)[-1]))
        return out


CHANNEL_HARNESSES.update(
    {
        "email": EmailHarness,
        "webhook": WebhookHarness,
        "wecom": WeComHarness,
        "dingtalk": DingTalkHarness,
        "feishu": FeishuHarness,
        "aliyun_sms": AliyunSmsHarness,
        "apprise": AppriseHarness,
    }
)
HARNESSES.update(CHANNEL_HARNESSES)
