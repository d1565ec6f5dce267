"""Readings that local sensors push over MQTT (a broker such as Mosquitto), as JSON.

A background client (paho-mqtt) subscribes to `topic` and buffers what arrives; each `fetch`
drains the buffer. Each message is one reading or a JSON array of readings::

    {"station": "WX01", "parameter": "stage", "value": 2.31, "unit": "m",
     "observed_at": "2024-07-01T08:15:00+08:00"}

``observed_at`` is ISO 8601 with a UTC offset, or Unix seconds (a number). ``station``,
``parameter`` and ``unit`` may be left out of the message when `defaults` gives them (a topic
per sensor).

The client connects on the first fetch (or `start`), so building the feed starts nothing; it
reconnects on its own with a doubling wait from `backoff` to `backoff_max` seconds and
subscribes again each time. `fetch` fails (FeedError) only when the client is not connected and
nothing is buffered; buffered readings are returned either way and `degraded` says whether the
connection is up.

Position: a message is acknowledged to the broker only after `commit` says its readings are
stored (paho's manual acknowledgement, in the order the messages came). Until then it stays in
the buffer and every fetch returns its readings again, with whatever is new. With QoS 1 (the
default), ``clean_session: false`` and a fixed ``client_id``, the broker also keeps what is not
acknowledged: it delivers those messages again after a reconnect or a restart of floodwatch, and
keeps new ones while floodwatch is away. (With QoS 2 the broker hands a message over once: one
received and not yet stored when floodwatch stops is not delivered again.) A broker sends only so
many unacknowledged messages at a time (Mosquitto's ``max_inflight_messages``, 20 by default) and
queues the rest (``max_queued_messages``, 1000); while the database is away the queue grows, and
past its limit the broker drops messages: size both for the sensors' rate times the outage to be
survived. A message whose readings were all skipped is acknowledged at once.

Skipped items, counted in `rejected`: ``malformed`` (not JSON, or not an object), ``empty``,
``unparseable_value``, ``nan``, ``no_data_value``, ``unparseable_time``, ``duplicate``,
``future`` (more than `max_clock_skew` seconds after `now`), ``missing_field`` (no station,
parameter or unit, and no default), ``undecodable`` (a message that is not UTF-8), ``oversized``
(a message longer than `max_payload` bytes, or a station, parameter, unit, value or time longer
than 200 characters), ``overflow`` (the buffer was full: the oldest message went, not
acknowledged, so a broker keeping the session delivers it again after a reconnect).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, ConfigDict, Field, field_validator

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.quality import (
    Rejected,
    check_text,
    log_rejections,
    parse_time,
    parse_value,
)
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.yamlsource import Secret

log = logging.getLogger(__name__)

_NAMED: tuple[Literal["station", "parameter", "unit"], ...] = ("station", "parameter", "unit")
MAX_PAYLOAD = 256 * 1024  # bytes: a message of readings is a few hundred


@dataclass
class _Message:
    """A message taken from the broker and not yet acknowledged."""

    mid: int
    qos: int
    session: int  # the broker session it came in; an ack means nothing to another one
    payload: bytes  # until parsed; not kept when longer than max_payload
    oversized: bool = False
    readings: list[Reading] | None = None  # once parsed: what it gave
    keys: set[tuple[str, str, datetime]] = field(default_factory=set)


class MqttFeed:
    """Subscribes to `topic` on an MQTT broker; `fetch` returns what arrived since the last."""

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        host: str = "127.0.0.1"
        port: int = Field(default=1883, ge=1, le=65535)
        topic: str = Field(min_length=1, description="may use the + and # wildcards")
        qos: Literal[0, 1, 2] = 1
        client_id: str | None = None
        clean_session: bool = True
        username: str | None = None
        password: Secret | None = None
        tls: bool = False
        keepalive: int = Field(default=60, ge=5)
        timeout: float = Field(
            default=10.0, gt=0, description="seconds the first fetch waits to be subscribed"
        )
        backoff: int = Field(default=1, ge=1, description="seconds before the first reconnect")
        backoff_max: int = Field(default=60, ge=1, description="cap on the doubling wait")
        buffer: int = Field(default=10000, ge=1, description="messages held until stored")
        max_payload: int = Field(default=MAX_PAYLOAD, ge=64, description="bytes a message may have")
        defaults: dict[Literal["station", "parameter", "unit"], str] = Field(default_factory=dict)
        no_data_values: tuple[float, ...] = (-999999.0,)
        max_clock_skew: float = Field(
            default=60.0, ge=0, description="seconds a sensor's clock may be ahead"
        )

        @field_validator("topic")
        @classmethod
        def _topic_filter(cls, topic: str) -> str:
            levels = topic.split("/")
            for i, level in enumerate(levels):
                if ("#" in level and (level != "#" or i != len(levels) - 1)) or (
                    "+" in level and level != "+"
                ):
                    raise ValueError(
                        f"{topic!r}: '+' must fill a whole level and '#' only the last one"
                    )
            return topic

    def __init__(self, name: str, options: MqttFeed.Options, context: PluginContext) -> None:
        self.name = name
        self.options = options
        self.rejected: Counter[str] = Counter()
        self.degraded = False
        self.received = 0  # messages taken from the broker since the feed was built
        self._messages: deque[_Message] = deque()  # in the order they came, until acknowledged
        self._overflow = 0
        self._session = 0  # counts broker sessions: a new one when the broker kept none
        self._lock = threading.Condition()
        self._subscribed = threading.Event()
        self._last_error = "not connected yet"
        self._client: paho.Client | None = None

    # -- the background client -----------------------------------------------------------------

    def start(self) -> bool:
        """Connect and subscribe in the background; wait up to `timeout` for the subscription.

        Returns whether it is subscribed. Calling it again only waits.
        """
        o = self.options
        if self._client is None:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=o.client_id or f"floodwatch-{self.name}-{uuid.uuid4().hex[:8]}",
                clean_session=o.clean_session,
                manual_ack=True,  # a message is acknowledged once its readings are stored
            )
            if o.username:
                pw = o.password.get_secret_value() if o.password else None
                client.username_pw_set(o.username, pw)
            if o.tls:
                client.tls_set()
            client.reconnect_delay_set(o.backoff, max(o.backoff, o.backoff_max))
            client.on_connect = self._on_connect
            client.on_connect_fail = self._on_connect_fail
            client.on_subscribe = self._on_subscribe
            client.on_disconnect = self._on_disconnect
            client.on_message = self._on_message
            client.connect_async(o.host, o.port, o.keepalive)
            client.loop_start()
            self._client = client
        return self._subscribed.wait(o.timeout)

    def close(self) -> None:
        """Disconnect and stop the background thread."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._set_subscribed(False)

    @property
    def subscribed(self) -> bool:
        """Whether the client is connected and subscribed to `topic` now."""
        return self._subscribed.is_set()

    def wait(self, count: int, timeout: float) -> bool:
        """Block until `count` messages have been received in all, or `timeout` seconds pass."""
        with self._lock:
            return self._lock.wait_for(lambda: self.received >= count, timeout)

    def wait_subscribed(self, state: bool, timeout: float) -> bool:
        """Block until `subscribed` is `state`, or `timeout` seconds pass; return whether it is."""
        with self._lock:
            return self._lock.wait_for(lambda: self._subscribed.is_set() is state, timeout)

    def _set_subscribed(self, state: bool) -> None:
        with self._lock:
            if state:
                self._subscribed.set()
            else:
                self._subscribed.clear()
            self._lock.notify_all()

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            self._last_error = f"broker refused the connection: {reason}"
            log.warning("feed %s: %s", self.name, self._last_error)
            return
        if not flags.session_present:
            with self._lock:
                self._session += 1  # the messages held from before cannot be acknowledged
        # subscribing here, not once, renews the subscription after every reconnect
        client.subscribe(self.options.topic, qos=self.options.qos)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        o = self.options
        self._last_error = f"cannot connect to {o.host}:{o.port}"
        log.warning("feed %s: %s; retrying in the background", self.name, self._last_error)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Any,
    ) -> None:
        if any(r.is_failure for r in reasons):
            self._last_error = f"broker refused the subscription to {self.options.topic!r}"
            log.warning("feed %s: %s", self.name, self._last_error)
            return
        self._set_subscribed(True)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        self._set_subscribed(False)
        if self._client is not None:  # not our own close()
            self._last_error = (
                f"disconnected from {self.options.host}:{self.options.port}: {reason}"
            )
            log.warning("feed %s: %s; reconnecting", self.name, self._last_error)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        oversized = len(message.payload) > self.options.max_payload
        payload = b"" if oversized else bytes(message.payload)
        with self._lock:
            self.received += 1
            self._lock.notify_all()
            if message.dup and message.qos > 0:
                same = (message.mid, self._session)
                if any((m.mid, m.session) == same for m in self._messages):
                    return  # the broker sent again what is held and not yet acknowledged
            if len(self._messages) >= self.options.buffer:
                self._messages.popleft()  # not acknowledged: a kept session sends it again
                self._overflow += 1
            self._messages.append(
                _Message(message.mid, message.qos, self._session, payload, oversized)
            )

    # -- the feed ------------------------------------------------------------------------------

    def fetch(self, now: datetime) -> list[Reading]:
        """The readings of the messages received and not yet stored, in time order."""
        subscribed = self.start() if self._client is None else self.subscribed
        before = Counter(self.rejected)
        latest = now + timedelta(seconds=self.options.max_clock_skew)
        with self._lock:
            if self._overflow:
                self.rejected["overflow"] += self._overflow
                self._overflow = 0
            held = {k for m in self._messages if m.readings is not None for k in m.keys}
            for m in self._messages:
                if m.readings is None:
                    self._take(m, held, latest)
            readings = [r for m in self._messages for r in m.readings or ()]
            # nothing to store: nothing to wait for
            acks = [] if readings else self._release(len(self._messages))
        self._ack(acks)
        readings.sort(key=lambda r: (r.observed_at, r.station, r.parameter))
        log_rejections(log, self.name, before, self.rejected)
        self.degraded = not subscribed
        if not subscribed:
            o = self.options
            if not readings:
                raise FeedError(
                    f"feed {self.name}: not subscribed to {o.topic!r} on {o.host}:{o.port}: "
                    f"{self._last_error}"
                )
            log.warning(
                "feed %s: returning %d buffered reading(s) while disconnected: %s",
                self.name, len(readings), self._last_error,
            )  # fmt: skip
        return readings

    def commit(self, readings: Sequence[Reading]) -> None:
        """The readings of the last fetch are stored: acknowledge their messages, in order."""
        keys = {r.key for r in readings}
        with self._lock:
            done = 0
            for m in self._messages:
                if m.readings is None or not m.keys <= keys:
                    break
                done += 1
            acks = self._release(done)
        self._ack(acks)

    def resume(self, last_stored: datetime | None) -> None:
        """Nothing to do: the broker keeps what was not acknowledged."""

    def _release(self, count: int) -> list[tuple[int, int]]:
        """Let the first `count` messages held go (the lock held); the acknowledgements owed to
        the broker for them, in order (none for a session the broker no longer has)."""
        owed: list[tuple[int, int]] = []
        for _ in range(count):
            m = self._messages.popleft()
            if m.qos > 0 and m.session == self._session:
                owed.append((m.mid, m.qos))
        return owed

    def _ack(self, owed: list[tuple[int, int]]) -> None:
        client = self._client
        if client is not None:
            for mid, qos in owed:
                client.ack(mid, qos)

    def _take(self, m: _Message, held: set[tuple[str, str, datetime]], latest: datetime) -> None:
        """Parse a new message once: count what it skips; keep the readings it gives."""
        if m.oversized:
            self.rejected["oversized"] += 1
            found: list[Reading] = []
        else:
            found = self._parse(m.payload)
            m.payload = b""  # parsed: the readings are what is kept
        m.readings = []
        for r in found:
            if r.key in held:
                self.rejected["duplicate"] += 1
            elif r.observed_at > latest:
                self.rejected["future"] += 1
            else:
                held.add(r.key)
                m.keys.add(r.key)
                m.readings.append(r)

    def _parse(self, payload: bytes) -> list[Reading]:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            self.rejected["undecodable"] += 1
            return []
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            self.rejected["malformed"] += 1
            return []
        items = data if isinstance(data, list) else [data]
        out: list[Reading] = []
        for item in items:
            try:
                out.append(self._reading(item))
            except Rejected as exc:
                self.rejected[exc.reason] += 1
        return out

    def _reading(self, item: Any) -> Reading:
        if not isinstance(item, dict):
            raise Rejected("malformed", f"not a JSON object: {item!r}")
        fields: dict[str, str] = {}
        for key in _NAMED:
            raw = item.get(key, self.options.defaults.get(key))
            if raw is None or not str(raw).strip():
                raise Rejected("missing_field", f"no {key}")
            fields[key] = check_text(str(raw).strip(), key)
        value = parse_value(item.get("value"), self.options.no_data_values)
        raw_time = item.get("observed_at")
        if isinstance(raw_time, int | float) and not isinstance(raw_time, bool):
            try:
                when = datetime.fromtimestamp(raw_time, UTC)
            except (OverflowError, OSError, ValueError):
                raise Rejected("unparseable_time", f"not Unix seconds: {raw_time!r}") from None
        else:
            when = parse_time(raw_time)
        return Reading(fields["station"], fields["parameter"], value, fields["unit"], when)
