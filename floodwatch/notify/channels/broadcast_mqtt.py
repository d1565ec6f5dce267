"""Village loudspeakers listening on an MQTT broker: each broadcast is published to
``<topic>/<address>`` (by default ``floodwatch/broadcast/<village>``, or
``floodwatch/broadcast/<village>/<group>`` for one group's loudspeaker) at QoS 1, and is
dispatched once the broker acknowledges it (PUBACK). The payload is JSON::

    {"key": "...", "page": 12, "speaker": "hekou:g1", "subject": "【立即转移】河口村一组",
     "text": "紧急通知！...", "language": "zh-CN"}

The controller of a loudspeaker subscribes to its topic and says `text` (and may use `key` to
say a page once). One client per notifier (paho-mqtt), connected on the first send, reconnects
on its own with a doubling wait. A send that finds no connection waits for the next attempt (at
most `timeout`) and is retryable if nothing was sent; a publish the broker does not acknowledge
within `timeout` is unknown (the broker may have taken it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.channels.common import (
    DEFAULT_TIMEOUT,
    Timeout,
    read_secret,
    secret_pair,
)
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person
from floodwatch.yamlsource import Secret

log = logging.getLogger(__name__)

_REFUSED_FOR_GOOD = ("not authorized", "bad user name or password", "banned", "client identifier")


class BroadcastMqttNotifier:
    """Publishes each broadcast at QoS 1 (or 2) and waits for the broker's acknowledgement."""

    capabilities = Capabilities(broadcast=True, resend_safe=False, concurrency=8)
    limits = RateLimits()

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        host: str = Field(default="127.0.0.1", min_length=1, description="the broker")
        port: int = Field(default=1883, ge=1, le=65535)
        topic: str = Field(
            default="floodwatch/broadcast", min_length=1,
            description="each loudspeaker's address is a topic below this one",
        )  # fmt: skip
        qos: Literal[1, 2] = Field(default=1, description="1: at least once; 2: exactly once")
        retain: bool = Field(default=False, description="the broker keeps the last broadcast")
        client_id: str | None = Field(default=None, min_length=1, max_length=64)
        username: str | None = None
        password: Secret | None = Field(default=None, description="as ${VARIABLE}")
        password_file: str | None = Field(default=None, description="a file holding it")
        tls: bool = Field(default=False, description="connect with TLS (the system's CAs)")
        keepalive: int = Field(default=60, ge=5, le=3600, description="seconds")
        timeout: Timeout = DEFAULT_TIMEOUT
        concurrency: int = Field(default=8, ge=1, le=20, description="broadcasts in flight")
        dedupes: bool = Field(
            default=False, description="the loudspeakers say a key they have said once only"
        )

        @field_validator("topic")
        @classmethod
        def _plain_topic(cls, topic: str) -> str:
            if any(c in topic for c in "+#") or topic.startswith("/") or topic.endswith("/"):
                raise ValueError(
                    f"expected a topic without wildcards or a leading or trailing '/' (e.g. "
                    f"floodwatch/broadcast), found {topic!r}"
                )
            return topic

        @model_validator(mode="after")
        def _secret_once(self) -> BroadcastMqttNotifier.Options:
            secret_pair(self, "password", required=False)
            return self

    def __init__(
        self, name: str, options: BroadcastMqttNotifier.Options, context: PluginContext
    ) -> None:
        self.name = name
        self.options = options
        self.capabilities = Capabilities(
            broadcast=True, resend_safe=options.dedupes, concurrency=options.concurrency
        )
        self._password = read_secret(options.password, options.password_file, "password", context)
        self._timeout = options.timeout.total_seconds()
        self._state = threading.Condition()
        self._client: paho.Client | None = None
        self._connected = False
        self._attempts = 0  # connection attempts that ended (in a connection, or not)
        self._why = "not connected yet"
        self._why_outcome = Outcome.RETRYABLE
        self._refused = False

    def __repr__(self) -> str:
        return f"BroadcastMqttNotifier(name={self.name!r}, host={self.options.host!r})"

    def address_for(self, person: Person) -> str | None:
        """A loudspeaker's topic below `topic` (a village's loudspeakers carry it)."""
        return person.chat.get(self.name)

    def topic_for(self, address: str) -> str:
        return f"{self.options.topic}/{address.strip('/')}"

    # -- the connection --------------------------------------------------------------------------

    def _start(self) -> None:
        o = self.options
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=o.client_id or f"floodwatch-{self.name}-{uuid.uuid4().hex[:8]}",
            clean_session=True,
        )
        if o.username:
            pw = self._password.get_secret_value() if self._password else None
            client.username_pw_set(o.username, pw)
        if o.tls:
            client.tls_set()
        client.max_inflight_messages_set(max(20, o.concurrency))
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.connect_async(o.host, o.port, o.keepalive)
        client.loop_start()
        self._client = client

    def _on_connect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode,
        properties: object,
    ) -> None:  # fmt: skip
        with self._state:
            self._attempts += 1
            if reason.is_failure:
                said = str(reason)
                self._connected = False
                self._why = f"the broker refused the connection: {said}"
                forever = any(word in said.lower() for word in _REFUSED_FOR_GOOD)
                if forever:
                    self._why += " (check username and password)"
                self._why_outcome = Outcome.PERMANENT if forever else Outcome.RETRYABLE
                self._refused = True  # the disconnect that follows ends the same attempt
            else:
                self._connected = True
            self._state.notify_all()

    def _on_connect_fail(self, client: paho.Client, userdata: object) -> None:
        with self._state:
            self._attempts += 1
            self._connected = False
            self._why = f"cannot connect to the broker at {self.options.host}:{self.options.port}"
            self._why_outcome = Outcome.RETRYABLE
            self._state.notify_all()

    def _on_disconnect(
        self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode,
        properties: object,
    ) -> None:  # fmt: skip
        with self._state:
            if self._refused:
                self._refused = False
            elif not self._connected:  # it ended before the broker accepted it
                self._attempts += 1
                self._why = f"the broker closed the connection before accepting it ({reason})"
                self._why_outcome = Outcome.RETRYABLE
            self._connected = False
            self._state.notify_all()

    def _connection(self, deadline: float) -> DeliveryResult | None:
        """None when connected; else the outcome of a send that found no connection by
        `deadline` (nothing was sent)."""
        with self._state:
            if self._client is None:
                self._start()
            if self._connected:
                return None
            seen = self._attempts
            left = max(0.0, deadline - time.monotonic())
            self._state.wait_for(lambda: self._connected or self._attempts > seen, left)
            if self._connected:
                return None
            if self._attempts == seen:
                why = f"no answer from the broker within {self._timeout:g} s"
                if seen:  # the client is waiting to try again: say why the last try failed
                    why = f"{self._why} (still, after {self._timeout:g} s)"
                return DeliveryResult(Outcome.RETRYABLE, f"not connected, nothing sent: {why}")
            return DeliveryResult(self._why_outcome, f"not connected, nothing sent: {self._why}")

    def close(self) -> None:
        """Disconnect and stop the client's thread."""
        with self._state:
            client, self._client = self._client, None
            self._connected = False
        if client is not None:
            client.disconnect()
            client.loop_stop()

    # -- sending -----------------------------------------------------------------------------

    def send(self, message: Message) -> DeliveryResult:
        deadline = time.monotonic() + self._timeout
        refused = self._connection(deadline)
        if refused is not None:
            return refused
        client = self._client
        if client is None:  # closed meanwhile
            return DeliveryResult(Outcome.RETRYABLE, "the channel was closed; nothing sent")
        payload = json.dumps(
            {
                "key": message.idempotency_key, "page": message.page_id, "speaker": message.person,
                "subject": message.subject, "text": message.body, "language": message.language,
            },
            ensure_ascii=False,
        ).encode("utf-8")  # fmt: skip
        topic = self.topic_for(message.address)
        info = client.publish(topic, payload, qos=self.options.qos, retain=self.options.retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            return DeliveryResult(
                Outcome.RETRYABLE, f"not published, nothing sent: {paho.error_string(info.rc)}"
            )
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError) as exc:
            return self._ambiguous(f"the publish failed after it was handed to the client: {exc}")
        if info.is_published():
            log.info("broadcast page #%d published to %s", message.page_id, topic)
            return DeliveryResult(
                Outcome.DISPATCHED, f"published to {topic} (mid {info.mid})",
                provider_id=str(info.mid),
            )  # fmt: skip
        return self._ambiguous(
            f"the broker did not acknowledge the publish to {topic} within {self._timeout:g} s"
        )

    def _ambiguous(self, detail: str) -> DeliveryResult:
        if self.capabilities.resend_safe:
            return DeliveryResult(Outcome.RETRYABLE, f"{detail} (a resend is safe)")
        return DeliveryResult(Outcome.UNKNOWN, f"{detail}: the broadcast may have gone out")
