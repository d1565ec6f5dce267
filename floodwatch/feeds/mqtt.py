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
subscribes again each time. With ``clean_session: false`` and a fixed ``client_id``, the broker
keeps QoS 1/2 messages for floodwatch while it is away. `fetch` fails (FeedError) only when the
client is not connected and nothing is buffered; buffered readings are returned either way and
`degraded` says whether the connection is up.

Skipped items, counted in `rejected`: ``malformed`` (not JSON, or not an object), ``empty``,
``unparseable_value``, ``nan``, ``no_data_value``, ``unparseable_time``, ``duplicate``,
``future`` (more than `max_clock_skew` seconds after `now`), ``missing_field`` (no station,
parameter or unit, and no default), ``overflow`` (the buffer was full: the oldest message went).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, ConfigDict, Field, field_validator

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.quality import (
    Rejected,
    finish,
    log_rejections,
    parse_time,
    parse_value,
)
from floodwatch.plugins import PluginContext
from floodwatch.readings import Reading
from floodwatch.yamlsource import Secret

log = logging.getLogger(__name__)

_NAMED: tuple[Literal["station", "parameter", "unit"], ...] = ("station", "parameter", "unit")


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
        buffer: int = Field(default=10000, ge=1, description="messages held between fetches")
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
        self._messages: deque[bytes] = deque()
        self._overflow = 0
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
        with self._lock:
            if len(self._messages) >= self.options.buffer:
                self._messages.popleft()
                self._overflow += 1
            self._messages.append(bytes(message.payload))
            self.received += 1
            self._lock.notify_all()

    # -- the feed ------------------------------------------------------------------------------

    def fetch(self, now: datetime) -> list[Reading]:
        """The readings received since the last fetch, in time order."""
        subscribed = self.start() if self._client is None else self.subscribed
        before = Counter(self.rejected)
        with self._lock:
            messages, self._messages = list(self._messages), deque()
            if self._overflow:
                self.rejected["overflow"] += self._overflow
                self._overflow = 0
        found: list[Reading] = []
        for payload in messages:
            found.extend(self._parse(payload))
        latest = now + timedelta(seconds=self.options.max_clock_skew)
        readings = finish(found, self.rejected, latest)
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

    def _parse(self, payload: bytes) -> list[Reading]:
        try:
            data = json.loads(payload)
        except ValueError:
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
            fields[key] = str(raw).strip()
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
