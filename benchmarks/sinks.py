"""The far ends for benchmarks/paging.py: one asyncio process on 127.0.0.1 that plays every
provider a page goes to, fast enough not to be what is measured, and strict about rate limits.

Run as ``python benchmarks/sinks.py --slack S``: it prints one JSON line with its ports
(``{"http": P, "smtp": Q}``) and serves until its stdin closes (the parent has gone). The
benchmark talks to it with `SinkProcess`.

HTTP/1.1 with keep-alive, parsed by hand on an `asyncio.Protocol` (no framework: about 0.2 ms of
CPU a request; the benchmark reports the sink's CPU beside its own), answering by path:

- ``/hook/...``, ``/apprise``, ``/raw``: 200 ``{}`` (webhooks, Apprise's ``json://``, the HTTP
  floor); the ``Idempotency-Key`` is kept, to count duplicates.
- ``/2010-04-01/Accounts/AC.../Messages.json`` and ``.../Calls.json``: Twilio's REST API
  (201 with a SID, as the SDK expects). SMS at most ``--sms-rate`` a second per ``From`` number,
  calls at most ``--call-rate`` a second per account; beyond that HTTP 429, Twilio code 20429,
  ``Retry-After: 1``.
- ``/robot/send?access_token=T``: a DingTalk custom robot; ``/cgi-bin/webhook/send?key=K``: a
  WeCom group robot. Each at most 20 messages in any 60 s (their documented "20 a minute",
  read as a sliding window); beyond that DingTalk answers errcode 130101 and refuses everything
  for 10 minutes, WeCom answers errcode 45009. Success is errcode 0 in an HTTP 200.
- ``GET /_stats``: everything recorded, as JSON; ``POST /_reset``: forget it.

SMTP (aiosmtpd on the same loop): every mail is accepted (250); its arrival is recorded.

A limit is checked on arrival times (``time.monotonic()``, the system-wide CLOCK_MONOTONIC on
Linux, so the benchmark can compare them with its own): a request is over the limit when `rate`
requests of the same sender arrived within the last ``per - slack`` seconds. `slack` (default
0.05 s) forgives the jitter between a client's admission and the arrival here; every gap is
also kept, so a violation without the slack is reported too (``strict``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import requests

DINGTALK_BLOCK = 600.0  # seconds DingTalk refuses a robot that went over its limit
ROBOT_RATE, ROBOT_PER = 20, 60.0
DIGEST = re.compile(r"^(?:【汇总】共 (\d+) 条消息|(\d+) pages)")  # robots.fold's first line


@dataclass
class Window:
    """The arrivals of one sender against its limit: `rate` per `per` seconds."""

    rate: int
    per: float
    slack: float
    accepted: deque[float] = field(default_factory=deque)
    times: list[float] = field(default_factory=list)  # accepted arrivals
    refused_at: list[float] = field(default_factory=list)  # arrivals over the limit
    violations: int = 0
    strict: int = 0  # within `per` without the slack
    blocked_until: float = -1.0

    def arrive(self, t: float) -> bool:
        """Whether a request arriving at `t` is within the limit (then it counts)."""
        while self.accepted and self.accepted[0] <= t - self.per:
            self.accepted.popleft()
        if len(self.accepted) >= self.rate:
            self.strict += 1
            if self.accepted[-self.rate] > t - (self.per - self.slack):
                self.violations += 1
                self.refused_at.append(t)
                return False
        self.accepted.append(t)
        self.times.append(t)
        return True


class Sinks:
    """What every far end got, and what it answered."""

    def __init__(self, slack: float, sms_rate: int, call_rate: int) -> None:
        self.slack = slack
        self.sms_rate = sms_rate
        self.call_rate = call_rate
        self.reset()

    def reset(self) -> None:
        self.hooks: list[tuple[float, str]] = []  # (arrival, idempotency key)
        self.plain: dict[str, list[float]] = defaultdict(list)  # /apprise, /raw
        self.limited: dict[str, Window] = {}  # "sms:+1..." / "call:AC..." / "dingtalk:T" ...
        self.refused: dict[str, int] = defaultdict(int)
        self.digests: list[tuple[str, float, int]] = []  # (robot, arrival, pages carried)
        self.robot_texts: dict[str, int] = defaultdict(int)
        self.mail: list[tuple[float, str]] = []
        self.other: int = 0

    def window(self, key: str, rate: int, per: float) -> Window:
        w = self.limited.get(key)
        if w is None:
            w = self.limited[key] = Window(rate, per, self.slack)
        return w

    # -- HTTP -----------------------------------------------------------------------------
    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        t = time.monotonic()
        path, _, query = target.partition("?")
        if path.startswith("/hook"):
            self.hooks.append((t, headers.get("idempotency-key", "")))
            return 200, b"{}", ""
        if path in ("/apprise", "/raw"):
            self.plain[path].append(t)
            return 200, b"{}", ""
        if path.startswith("/2010-04-01/Accounts/"):
            return self.twilio(t, path, body)
        if path == "/robot/send":
            token = parse_qs(query).get("access_token", [""])[0]
            return self.robot(t, "dingtalk", token, body)
        if path == "/cgi-bin/webhook/send":
            key = parse_qs(query).get("key", [""])[0]
            return self.robot(t, "wecom", key, body)
        if path == "/_stats" and method == "GET":
            return 200, json.dumps(self.stats()).encode(), ""
        if path == "/_reset" and method == "POST":
            self.reset()
            return 200, b"{}", ""
        self.other += 1
        return 404, b'{"error": "not found"}', ""

    def twilio(self, t: float, path: str, body: bytes) -> tuple[int, bytes, str]:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
        account = path.split("/")[3]
        if path.endswith("/Messages.json"):
            sender = form.get("From") or form.get("MessagingServiceSid", "")
            key, prefix, rate = f"sms:{sender}", "SM", self.sms_rate
        elif path.endswith("/Calls.json"):
            key, prefix, rate = f"call:{account}", "CA", self.call_rate
        else:
            self.other += 1
            return 404, b'{"code": 20404, "message": "not found", "status": 404}', ""
        if not self.window(key, rate, 1.0).arrive(t):
            self.refused[key] += 1
            error = {"code": 20429, "message": "Too Many Requests", "status": 429,
                     "more_info": "https://www.twilio.com/docs/errors/20429"}  # fmt: skip
            return 429, json.dumps(error).encode(), "Retry-After: 1\r\n"
        sid = prefix + uuid.uuid4().hex
        created = {"sid": sid, "status": "queued", "account_sid": account, "to": form.get("To"),
                   "from": form.get("From"), "uri": f"{path[:-5]}/{sid}.json"}  # fmt: skip
        return 201, json.dumps(created).encode(), ""

    def robot(self, t: float, platform: str, who: str, body: bytes) -> tuple[int, bytes, str]:
        key = f"{platform}:{who}"
        w = self.window(key, ROBOT_RATE, ROBOT_PER)
        if t < w.blocked_until or not w.arrive(t):
            self.refused[key] += 1
            if platform == "dingtalk":
                w.blocked_until = max(w.blocked_until, t + DINGTALK_BLOCK)
                refusal = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
            else:
                refusal = {"errcode": 45009, "errmsg": "api freq out of limit"}
            return 200, json.dumps(refusal).encode(), ""
        text = json.loads(body).get("text", {}).get("content", "")
        self.robot_texts[key] += 1
        folded = DIGEST.match(text)
        if folded:
            self.digests.append((key, t, int(folded.group(1) or folded.group(2))))
        return 200, b'{"errcode":0,"errmsg":"ok"}', ""

    def stats(self) -> dict[str, Any]:
        return {
            "cpu": time.process_time(),
            "hooks": self.hooks,
            "plain": self.plain,
            "limited": {
                k: {
                    "times": w.times,
                    "refused_at": w.refused_at,
                    "violations": w.violations,
                    "strict": w.strict,
                    "rate": w.rate,
                    "per": w.per,
                }  # fmt: skip
                for k, w in self.limited.items()
            },
            "refused": self.refused,
            "digests": self.digests,
            "robot_texts": self.robot_texts,
            "mail": self.mail,
            "other": self.other,
        }


_REASONS = {200: "OK", 201: "Created", 404: "Not Found", 429: "Too Many Requests"}


class HttpSink(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies (what requests sends)."""

    def __init__(self, sinks: Sinks) -> None:
        self.sinks = sinks
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, target, version = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            status, reply, extra = self.sinks.answer(method, target, headers, body)
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            assert self.transport is not None
            self.transport.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(reply)}\r\n{extra}"
                f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n".encode()
                + reply
            )
            if close:
                self.transport.close()
                return


class MailSink:
    """aiosmtpd's handler: takes every mail, notes when its DATA arrived."""

    def __init__(self, sinks: Sinks) -> None:
        self.sinks = sinks

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.sinks.mail.append((time.monotonic(), ",".join(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


async def _serve(args: argparse.Namespace) -> None:
    from aiosmtpd.smtp import SMTP

    sinks = Sinks(args.slack, args.sms_rate, args.call_rate)
    loop = asyncio.get_running_loop()
    http = await loop.create_server(lambda: HttpSink(sinks), "127.0.0.1", 0, backlog=512)
    mail = MailSink(sinks)
    smtp = await loop.create_server(
        lambda: SMTP(mail, hostname="sink.invalid", enable_SMTPUTF8=True), "127.0.0.1", 0
    )
    ports = {"http": http.sockets[0].getsockname()[1], "smtp": smtp.sockets[0].getsockname()[1]}
    print(json.dumps(ports), flush=True)
    # the parent closes our stdin (or dies): then stop
    await loop.run_in_executor(None, sys.stdin.read)
    http.close()
    smtp.close()


class SinkProcess:
    """The sinks in a child process (their CPU is not the benchmark's), on 127.0.0.1 only."""

    def __init__(self, slack: float = 0.05, sms_rate: int = 1, call_rate: int = 1) -> None:
        cmd = [sys.executable, __file__, "--slack", str(slack), "--sms-rate", str(sms_rate),
               "--call-rate", str(call_rate)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip():
            self.proc.kill()
            raise SystemExit("the sinks did not start")
        ports = json.loads(line)
        self.http_port, self.smtp_port = int(ports["http"]), int(ports["smtp"])
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.session = requests.Session()

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.session.get(f"{self.url}/_stats", timeout=30).json()
        return answer

    def reset(self) -> None:
        self.session.post(f"{self.url}/_reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.session.close()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--slack", type=float, default=0.05, help="seconds forgiven on each limit")
    p.add_argument("--sms-rate", type=int, default=1, help="SMS a second per From number")
    p.add_argument("--call-rate", type=int, default=1, help="calls a second per account")
    args = p.parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
