"""Contract harnesses for the broadcast channels (tests/notifier_support.py): the far ends of
village loudspeakers.

- `broadcast_http`: a text-to-speech gateway on 127.0.0.1 (the loopback `Sink`) that checks
  its key and answers in its own JSON (``{"code": 0}``), or is busy, refuses the key, stalls,
  or answers with a captive portal's page.
- `broadcast_mqtt`: the real Mosquitto on 127.0.0.1:1883 behind a small TCP proxy of ours, so
  that the far end can also close connections, refuse the login (CONNACK 5), accept a publish
  and never acknowledge it, or answer garbage; a subscriber on Mosquitto is the loudspeakers'
  controller and keeps what arrives.
- `broadcast_call`, `broadcast_sms`: Twilio's REST API, the recording fake of
  tests/twilio_support.py behind the real SDK.

The person a broadcast channel reaches is a loudspeaker, carried as a `Person` whose `chat`
names its address on the channel (the way a village's loudspeakers are given to the channels).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from floodwatch.notify.base import Notifier, Outcome
from floodwatch.roster.model import Person
from floodwatch.yamlsource import EnvStr

# tests/notifier_support.py imports this dict at its end (see tests/harness_channels.py)
BROADCAST_HARNESSES: dict[str, type[Harness]] = {}

from . import harness_channels as channels  # noqa: E402 - imported whichever module is first
from .conftest import need_service, port_open  # noqa: E402
from .harness_twilio import _TwilioHarness  # noqa: E402
from .notifier_support import HARNESSES, Arrival, Harness  # noqa: E402
from .twilio_support import ACCOUNT_SID, AUTH_TOKEN, OFFICE_NUMBERS  # noqa: E402

BROKER = ("127.0.0.1", 1883)
SPEAKER_PHONE = "+8613900000901"
GATEWAY_KEY = "gb-gateway-key-0001"


def loudspeaker(channel: str, address: str | None) -> Person:
    """河口村一组's loudspeaker, with its address on `channel` (none: not on that channel)."""
    chat = {channel: address} if address is not None else {"another-channel": "HK-01"}
    return Person("hekou:g1", "河口村一组大喇叭", chat=chat)


# -- the text-to-speech gateway ------------------------------------------------------------------


class Gateway:
    """An IP broadcast platform's HTTP API: POST /api/tts with ``Authorization: Bearer KEY`` and
    ``{"terminal", "text", ...}``; answers ``{"code": 0, "msg": "ok"}``. `mode`: ok | busy (503)
    | forbidden (403, a key rotated away) | stall | portal (200, an HTML login page) | offline
    (200, ``{"code": 1002, "msg": "终端离线"}``)."""

    def __init__(self, sink: channels.Sink, key: str = GATEWAY_KEY) -> None:
        self.mode = "ok"
        self.key = key
        self.accepted: list[channels.Request] = []
        self.latency = 0.0
        sink.handlers["/api/tts"] = self.answer

    def answer(self, request: channels.Request) -> channels.Reply | None:
        if self.latency:
            time.sleep(self.latency)
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return channels.Reply.of({"code": 40101, "msg": "unauthorized"}, 401)
        if self.mode == "stall":
            return None
        if self.mode == "busy":
            return channels.Reply(503, b"busy", "text/plain", {"Retry-After": "5"})
        if self.mode == "forbidden":
            return channels.Reply.of({"code": 40301, "msg": "key disabled"}, 403)
        if self.mode == "portal":
            return channels.Reply(200, b"<html><body>Portal login</body></html>", "text/html")
        if self.mode == "offline":
            return channels.Reply.of({"code": 1002, "msg": "终端离线"})
        self.accepted.append(request)
        return channels.Reply.of(
            {"code": 0, "msg": "ok", "data": {"task": f"T{len(self.accepted)}"}}
        )

    def received(self) -> list[Arrival]:
        out = []
        for r in self.accepted:
            b = r.json()
            out.append(Arrival(b["title"], b["text"], b["page"], b["key"], b["terminal"],
                               b["speaker"]))  # fmt: skip
        return out


class BroadcastHttpHarness(Harness):
    success_outcome = Outcome.DISPATCHED
    crash_outcome = Outcome.UNKNOWN  # a 200 that is not the gateway's JSON: it may have spoken
    timeout = 1.0

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.sink = channels.Sink()
        self.gateway = Gateway(self.sink)
        (self.tmp_path / "gateway.key").write_text(GATEWAY_KEY + "\n", encoding="utf-8")

    def options(self) -> dict[str, Any]:
        return {
            "url": self.sink.url + "/api/tts", "secret_file": "gateway.key", "timeout": "1s",
            "body": {"terminal": "{address}", "text": "{body}", "title": "{subject}",
                     "key": "{key}", "page": "{page}", "speaker": "{person}"},
            "success": {"path": "code", "equals": 0},
        }  # fmt: skip

    def person(self) -> Person:
        return loudspeaker(f"contract-{self.channel}", "HK-01")

    def person_without_contact(self) -> Person:
        return loudspeaker(f"contract-{self.channel}", None)

    def address_of(self, person: Person) -> str:
        return "HK-01"

    def succeed(self) -> None:
        self.gateway.mode = "ok"

    def fail_retryable(self) -> str:
        self.gateway.mode = "busy"
        return "503"

    def fail_permanent(self) -> str:
        self.gateway.mode = "forbidden"
        return "403"

    def time_out(self) -> None:
        self.gateway.mode = "stall"

    def crash(self) -> None:
        self.gateway.mode = "portal"

    def received(self) -> list[Arrival]:
        return self.gateway.received()

    def close(self) -> None:
        self.sink.stop()


# -- the MQTT broker -------------------------------------------------------------------------


CONNACK_OK = bytes([0x20, 0x02, 0x00, 0x00])
CONNACK_NOT_AUTHORIZED = bytes([0x20, 0x02, 0x00, 0x05])


class BrokerProxy:
    """A TCP proxy on 127.0.0.1 in front of the real broker. `mode`: forward (to the broker) |
    close (every connection closed at once) | silent (a broker that accepts the connection and
    every publish, and acknowledges none) | refuse (CONNACK 5: not authorised) | garbage (an
    HTTP server on the MQTT port). Changing the mode drops the connections open."""

    def __init__(self, upstream: tuple[str, int] = BROKER) -> None:
        self.upstream = upstream
        self.mode = "forward"
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    def set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self.mode
                self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn, mode), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: str) -> None:
        try:
            if mode == "close":
                conn.close()
                return
            if mode == "forward":
                up = socket.create_connection(self.upstream)
                with self._lock:
                    self._open.append(up)
                threading.Thread(target=_pump, args=(up, conn), daemon=True).start()
                _pump(conn, up)
                return
            conn.recv(65536)  # the CONNECT
            if mode == "refuse":
                conn.sendall(CONNACK_NOT_AUTHORIZED)
                conn.close()
            elif mode == "garbage":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                conn.close()
            else:  # silent: the connection is accepted, nothing after it is answered
                conn.sendall(CONNACK_OK)
                while conn.recv(65536):
                    pass
        except OSError:
            return

    def stop(self) -> None:
        self._stopping.set()
        self.set("close")
        self._server.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, target):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class Loudspeakers:
    """The loudspeakers' controller: a subscriber on the real broker, below `prefix`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"speakers-{uuid.uuid4().hex[:8]}"
        )
        self._client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(*BROKER)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the loudspeakers could not subscribe"

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.messages.append((message.topic, json.loads(message.payload)))

    def settle(self, quiet: float = 0.3, most: float = 3.0) -> None:
        """Wait until nothing new has arrived for `quiet` seconds (what the broker acknowledged
        is on its way to subscribers)."""
        deadline = time.monotonic() + most
        count = -1
        while time.monotonic() < deadline and count != len(self.messages):
            count = len(self.messages)
            time.sleep(quiet)

    def received(self) -> list[Arrival]:
        self.settle()
        return [
            Arrival(
                m["subject"],
                m["text"],
                m["page"],
                m["key"],
                topic.removeprefix(self.prefix + "/"),
                m["speaker"],
            )  # fmt: skip
            for topic, m in self.messages
        ]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class BroadcastMqttHarness(Harness):
    success_outcome = Outcome.DISPATCHED
    crash_outcome = Outcome.RETRYABLE  # not an MQTT broker: nothing could be sent
    timeout = 3.0  # long enough for the client's first reconnect (1 s) after a failure

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        need_service("Mosquitto", port_open(*BROKER), "nothing listens on 127.0.0.1:1883")
        super().__init__(channel, request)
        self.proxy = BrokerProxy()
        self.prefix = f"floodwatch-test/{uuid.uuid4().hex}/broadcast"
        self.speakers = Loudspeakers(self.prefix)
        self.built: list[Notifier] = []

    def options(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.proxy.port, "topic": self.prefix,
                "timeout": "3s"}  # fmt: skip

    def build(self, tmp_path: Path) -> Notifier:
        notifier = super().build(tmp_path)
        self.built.append(notifier)
        return notifier

    def person(self) -> Person:
        return loudspeaker(f"contract-{self.channel}", "hekou/g1")

    def person_without_contact(self) -> Person:
        return loudspeaker(f"contract-{self.channel}", None)

    def address_of(self, person: Person) -> str:
        return "hekou/g1"

    def succeed(self) -> None:
        self.proxy.set("forward")

    def fail_retryable(self) -> str:
        self.proxy.set("close")
        return "nothing sent"

    def fail_permanent(self) -> str:
        self.proxy.set("refuse")
        return "check username and password"

    def time_out(self) -> None:
        self.proxy.set("silent")

    def crash(self) -> None:
        self.proxy.set("garbage")

    def received(self) -> list[Arrival]:
        return self.speakers.received()

    def close(self) -> None:
        for notifier in self.built:
            notifier.close()  # type: ignore[attr-defined]
        self.speakers.close()
        self.proxy.stop()


# -- Twilio ----------------------------------------------------------------------------------


class _TwilioBroadcastHarness(_TwilioHarness):
    """Twilio accepts the call or the message: dispatched (no status callback follows a
    loudspeaker). It cannot deduplicate: a resend is another call, another SMS."""

    success_outcome = Outcome.DISPATCHED

    def options(self) -> dict[str, Any]:
        return {"account_sid": ACCOUNT_SID, "auth_token": EnvStr(AUTH_TOKEN),
                "from_numbers": OFFICE_NUMBERS, "timeout": "1s"}  # fmt: skip

    def person(self) -> Person:
        return loudspeaker(f"contract-{self.channel}", SPEAKER_PHONE)

    def person_without_contact(self) -> Person:
        return loudspeaker(f"contract-{self.channel}", None)

    def address_of(self, person: Person) -> str:
        return SPEAKER_PHONE

    def fail_retryable(self) -> str:
        self.fake.reject(20429, 429, "Too Many Requests", times=None)
        return "too many requests"


class BroadcastCallHarness(_TwilioBroadcastHarness):
    def fail_permanent(self) -> str:
        self.fake.reject(13224, 400, "Twilio does not support calling this number", times=None)
        return "cannot call this number"

    def received(self) -> list[Arrival]:
        """Each call says the subject and the broadcast, twice, and waits for no key."""
        arrivals = []
        for call in self.fake.calls:
            assert call.gather is None and call.status_callback is None, call.twiml
            says = call.says
            assert len(says) == 4 and says[:2] == says[2:], says
            arrivals.append(Arrival(says[0], says[1], to=call.to))
        return arrivals


class BroadcastSmsHarness(_TwilioBroadcastHarness):
    def fail_permanent(self) -> str:
        self.fake.reject(21614, 400, f"'To' number {SPEAKER_PHONE} is not a mobile number",
                         times=None)  # fmt: skip
        return "not a mobile number"

    def received(self) -> list[Arrival]:
        arrivals = []
        for sms in self.fake.sms:
            assert sms.status_callback is None
            subject, _, body = sms.body.partition("\n")
            arrivals.append(Arrival(subject, body, to=sms.to))
        return arrivals


BROADCAST_HARNESSES.update(
    {
        "broadcast_http": BroadcastHttpHarness,
        "broadcast_mqtt": BroadcastMqttHarness,
        "broadcast_call": BroadcastCallHarness,
        "broadcast_sms": BroadcastSmsHarness,
    }
)
HARNESSES.update(BROADCAST_HARNESSES)
