"""mqtt against the Mosquitto broker on 127.0.0.1:1883: real publishes on a topic of our own."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from floodwatch.feeds.base import FeedError
from floodwatch.feeds.mqtt import MqttFeed
from floodwatch.readings import Reading
from floodwatch.yamlsource import EnvStr

from .conftest import need_service, port_open
from .feed_support import context

HOST, PORT = "127.0.0.1", 1883
NOW = datetime(2024, 7, 1, 0, 30, tzinfo=UTC)
WAIT = 10.0  # the most a test waits for messages to arrive; they take milliseconds


@pytest.fixture
def broker() -> None:
    need_service("Mosquitto", port_open(HOST, PORT), f"nothing listens on {HOST}:{PORT}")


@pytest.fixture
def topic(broker: None) -> str:
    """A topic no other test (or run) publishes on."""
    return f"floodwatch-test/{uuid.uuid4().hex}"


@pytest.fixture
def publish(broker: None) -> Iterator[Any]:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(HOST, PORT)
    client.loop_start()

    def send(topic: str, payload: Any, qos: int = 1) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = client.publish(topic, data, qos=qos)
        info.wait_for_publish(timeout=WAIT)
        assert info.is_published()

    try:
        yield send
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    feeds: list[MqttFeed] = []

    def build(**options: Any) -> MqttFeed:
        f = MqttFeed("sensors", MqttFeed.Options.model_validate(options), context(tmp_path))
        feeds.append(f)
        return f

    try:
        yield build
    finally:
        for f in feeds:
            f.close()


def msg(station: str, value: Any, at: Any, parameter: str = "stage") -> dict[str, Any]:
    return {"station": station, "parameter": parameter, "value": value, "unit": "m",
            "observed_at": at}  # fmt: skip


def test_readings_pushed_by_sensors_arrive(make: Any, topic: str, publish: Any) -> None:
    feed = make(topic=f"{topic}/#")
    assert feed.start() is True

    publish(f"{topic}/wx01", msg("WX01", 2.31, "2024-07-01T08:15:00+08:00"))
    publish(f"{topic}/wx02", [msg("WX02", 1.5, 1719792000), msg("WX02", "1.75", 1719791100)])
    assert feed.wait(2, WAIT)

    assert feed.fetch(NOW) == [
        Reading("WX02", "stage", 1.75, "m", datetime(2024, 6, 30, 23, 45, tzinfo=UTC)),
        Reading("WX02", "stage", 1.5, "m", datetime(2024, 7, 1, 0, 0, tzinfo=UTC)),
        Reading("WX01", "stage", 2.31, "m", datetime(2024, 7, 1, 0, 15, tzinfo=UTC)),
    ]
    assert (feed.rejected, feed.degraded) == ({}, False)
    stored = feed.fetch(NOW)
    assert len(stored) == 3  # not committed yet: returned again
    feed.commit(stored)
    assert feed.fetch(NOW) == []  # stored: each reading is returned until then


def test_the_first_fetch_connects(make: Any, topic: str, publish: Any) -> None:
    feed = make(topic=topic, qos=2)
    assert feed.fetch(NOW) == []  # connects, subscribes, and nothing has come yet
    assert feed.degraded is False
    publish(topic, msg("WX01", 0.4, "2024-07-01T00:00:00Z"), qos=2)
    assert feed.wait(1, WAIT)
    assert [r.value for r in feed.fetch(NOW)] == [0.4]


def test_defaults_fill_what_a_sensor_leaves_out(make: Any, topic: str, publish: Any) -> None:
    feed = make(topic=topic, defaults={"station": "RG7", "parameter": "rain", "unit": "mm"})
    assert feed.start()
    publish(topic, {"value": 3.5, "observed_at": "2024-07-01T00:10:00Z"})
    publish(topic, {"value": 0.5, "observed_at": "2024-07-01T00:20:00Z", "unit": "in"})
    assert feed.wait(2, WAIT)
    assert feed.fetch(NOW) == [
        Reading("RG7", "rain", 3.5, "mm", datetime(2024, 7, 1, 0, 10, tzinfo=UTC)),
        Reading("RG7", "rain", 0.5, "in", datetime(2024, 7, 1, 0, 20, tzinfo=UTC)),
    ]


def test_bad_messages_are_skipped_and_counted(make: Any, topic: str, publish: Any) -> None:
    feed = make(topic=topic)
    assert feed.start()
    at = "2024-07-01T00:00:00Z"
    bad: list[Any] = [
        b'{"station": "WX01", "parameter": "stage", "value": NaN, "unit": "m", '
        b'"observed_at": "2024-07-01T00:00:00Z"}',
        msg("WX01", -999999, at),
        msg("WX01", "", at),
        msg("WX01", None, at),
        msg("WX01", "high", at),
        msg("WX01", 1.0, "2024-07-01 00:00"),
        msg("WX01", 1.0, None),
        msg("WX01", 1.0, "2024-07-01T00:32:00Z"),  # 2 min ahead of now: beyond the skew
        {"parameter": "stage", "value": 1.0, "unit": "m", "observed_at": at},
        b"not json at all",
        b"[1, 2]",
        [msg("WX01", 2.0, at), msg("WX01", 2.5, at)],  # the same time twice: the first stays
        msg("WX01", 3.0, "2024-07-01T00:30:45Z"),  # 45 s ahead: within the skew, kept
    ]
    for payload in bad:
        publish(topic, payload)
    assert feed.wait(len(bad), WAIT)

    assert [(r.value, r.observed_at.minute) for r in feed.fetch(NOW)] == [(2.0, 0), (3.0, 30)]
    assert feed.rejected == {
        "nan": 1, "no_data_value": 1, "empty": 2, "unparseable_value": 1,
        "unparseable_time": 2, "future": 1, "missing_field": 1, "malformed": 3,
        "duplicate": 1,
    }  # fmt: skip
    assert feed.degraded is False


def test_a_full_buffer_drops_the_oldest(make: Any, topic: str, publish: Any) -> None:
    feed = make(topic=topic, buffer=2)
    assert feed.start()
    for minute in (1, 2, 3):
        publish(topic, msg("WX01", float(minute), f"2024-07-01T00:0{minute}:00Z"))
    assert feed.wait(3, WAIT)
    assert [r.value for r in feed.fetch(NOW)] == [2.0, 3.0]
    assert feed.rejected == {"overflow": 1}


def test_an_unreachable_broker_fails_the_fetch(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    feed = make(topic="floodwatch-test/none", port=port, timeout=0.3)
    with pytest.raises(
        FeedError, match=f"not subscribed to 'floodwatch-test/none' on 127.0.0.1:{port}"
    ):
        feed.fetch(NOW)
    assert feed.degraded is True
    assert any("cannot connect" in r.getMessage() for r in caplog.records)


def test_a_lost_connection_keeps_the_buffer_and_comes_back(
    make: Any, topic: str, publish: Any
) -> None:
    client_id = f"floodwatch-test-{uuid.uuid4().hex[:8]}"
    feed = make(topic=topic, client_id=client_id, backoff=2, backoff_max=2)
    assert feed.start()
    publish(topic, msg("WX01", 1.0, "2024-07-01T00:00:00Z"))
    assert feed.wait(1, WAIT)

    # a second client with the same id makes the broker drop the feed's connection
    usurper = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    usurper.connect(HOST, PORT)
    usurper.loop_start()
    try:
        assert feed.wait_subscribed(False, WAIT)
        held = feed.fetch(NOW)
        assert [r.value for r in held] == [1.0]  # returned, not lost
        assert feed.degraded is True
        feed.commit(held)
        with pytest.raises(FeedError, match="not subscribed"):
            feed.fetch(NOW)  # nothing held and no connection: the fetch fails
        assert feed.degraded is True
    finally:
        usurper.disconnect()
        usurper.loop_stop()

    assert feed.wait_subscribed(True, WAIT)  # reconnected after its backoff, subscribed again
    publish(topic, msg("WX01", 1.1, "2024-07-01T00:15:00Z"))
    assert feed.wait(2, WAIT)
    assert [r.value for r in feed.fetch(NOW)] == [1.1]
    assert feed.degraded is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "topic"),
        ({"topic": "a/#/b"}, "'#' only the last one"),
        ({"topic": "a/b+/c"}, "'\\+' must fill a whole level"),
        ({"topic": "a", "qos": 3}, "Input should be 0, 1 or 2"),
        ({"topic": "a", "password": "hunter2"}, "secrets come from the environment"),
        ({"topic": "a", "defaults": {"value": "1"}}, "Input should be 'station'"),
        ({"topic": "a", "broker": "x"}, "Extra inputs"),
    ],
)
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttFeed.Options.model_validate(options)


def test_a_password_from_the_environment_is_accepted_and_masked() -> None:
    o = MqttFeed.Options.model_validate({"topic": "a", "password": EnvStr("s3cret")})
    assert o.password is not None and o.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(o)


# -- nothing lost: acknowledged only once stored ----------------------------------------------


@pytest.fixture
def session(broker: None) -> Iterator[str]:
    """A client id whose broker session (kept by clean_session: false) is wiped afterwards:
    Mosquitto here persists sessions, and one left behind would hold messages for nobody."""
    client_id = f"floodwatch-test-{uuid.uuid4().hex[:8]}"
    yield client_id
    wipe = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    wipe.connect(HOST, PORT)
    wipe.disconnect()


def test_a_fetch_without_commit_returns_the_readings_again_with_the_new_ones(
    make: Any, topic: str, publish: Any
) -> None:
    feed = make(topic=topic)
    assert feed.start()
    publish(topic, msg("WX01", 1.0, "2024-07-01T00:00:00Z"))
    assert feed.wait(1, WAIT)
    assert [r.value for r in feed.fetch(NOW)] == [1.0]  # the store fails: no commit
    publish(topic, msg("WX01", 1.1, "2024-07-01T00:15:00Z"))
    assert feed.wait(2, WAIT)
    both = feed.fetch(NOW)
    assert [r.value for r in both] == [1.0, 1.1]
    feed.commit(both)
    assert feed.fetch(NOW) == []
    assert feed.rejected == {}


def test_what_was_not_stored_comes_back_after_a_restart_and_what_was_does_not(
    make: Any, topic: str, publish: Any, session: str
) -> None:
    options = {"topic": topic, "client_id": session, "clean_session": False, "qos": 1}
    first = make(**options)
    assert first.start()
    publish(topic, msg("WX01", 1.0, "2024-07-01T00:00:00Z"))
    publish(topic, [msg("WX02", 2.0, "2024-07-01T00:00:00Z"), msg("WX02", 2.1, 1719793800)])
    assert first.wait(2, WAIT)
    fetched = first.fetch(NOW)
    assert [r.value for r in fetched] == [1.0, 2.0, 2.1]
    first.close()  # floodwatch stops before the readings are stored

    second = make(**options)  # floodwatch starts again
    assert second.start()
    assert second.wait(2, WAIT), "the broker did not deliver the messages again"
    again = second.fetch(NOW)
    assert again == fetched
    second.commit(again)
    second.close()  # the acknowledgements go out before the disconnect

    third = make(**options)
    assert third.start()
    publish(topic, msg("WX01", 1.2, "2024-07-01T00:30:00Z"))  # the broker sends in order
    assert third.wait(1, WAIT)
    assert [r.value for r in third.fetch(NOW)] == [1.2]  # what was stored did not come back
    assert third.received == 1


def test_a_message_delivered_again_after_a_reconnect_is_not_taken_twice(
    make: Any, topic: str, publish: Any, session: str
) -> None:
    feed = make(topic=topic, client_id=session, clean_session=False, backoff=1, backoff_max=1)
    assert feed.start()
    publish(topic, msg("WX01", 1.0, "2024-07-01T00:00:00Z"))
    assert feed.wait(1, WAIT)
    assert [r.value for r in feed.fetch(NOW)] == [1.0]  # not stored

    # another connection takes the session over for a moment (and acknowledges nothing)
    usurper = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=session, clean_session=False, manual_ack=True
    )
    usurper.connect(HOST, PORT)
    usurper.loop_start()
    assert feed.wait_subscribed(False, WAIT)
    usurper.disconnect()
    usurper.loop_stop()

    assert feed.wait_subscribed(True, WAIT)
    assert feed.wait(2, WAIT), "the broker did not deliver the message again"
    assert [r.value for r in feed.fetch(NOW)] == [1.0]
    assert feed.rejected == {}  # the same message again, not a second reading


def test_an_undecodable_or_oversized_message_is_skipped_and_counted(
    make: Any, topic: str, publish: Any
) -> None:
    feed = make(topic=topic, max_payload=1024)
    assert feed.start()
    good = msg("WX01", 1.0, "2024-07-01T00:00:00Z")
    # a sensor that writes its station id in Latin-1 (WXé01): not UTF-8
    latin1 = json.dumps(msg("WX01", 9.0, "2024-07-01T00:05:00Z")).encode()
    big = [msg("WX01", float(i), f"2024-07-01T00:{i:02d}:00Z") for i in range(1, 20)]
    payloads: list[Any] = [
        latin1.replace(b"WX01", b"WX\xe901"),
        json.dumps(big).encode(),  # 19 readings in one message: 2 KB
        msg("W" * 201, 1.0, "2024-07-01T00:10:00Z"),  # a station id no gauge has
        good,
    ]
    assert len(payloads[1]) > 1024
    for payload in payloads:
        publish(topic, payload)
    assert feed.wait(len(payloads), WAIT)
    assert feed.fetch(NOW) == [
        Reading("WX01", "stage", 1.0, "m", datetime(2024, 7, 1, 0, 0, tzinfo=UTC))
    ]
    assert feed.rejected == {"undecodable": 1, "oversized": 2}
