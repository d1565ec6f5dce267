"""The webhook channel against a real receiver on 127.0.0.1: body templates, the signature, the
Idempotency-Key, and every HTTP answer turned into its outcome."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from floodwatch.errors import FloodwatchError
from floodwatch.notify.base import Outcome, resend_is_safe
from floodwatch.notify.channels.webhook import DEFAULT_BODY, WebhookNotifier
from floodwatch.yamlsource import EnvStr

from .harness_channels import (
    NOW,
    Reply,
    Request,
    Sink,
    WebhookReceiver,
    build,
    page,
    server_tls,
)


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    try:
        yield s
    finally:
        s.stop()


def hook(sink: Sink, tmp_path: Path, **options: Any) -> WebhookNotifier:
    notifier: WebhookNotifier = build(
        WebhookNotifier, {"url": sink.url + "/hook", "timeout": "1s", **options}, tmp_path
    )
    return notifier


def answering(sink: Sink, reply: Reply) -> None:
    sink.handlers["/hook"] = lambda request: reply


def test_the_default_body_is_every_field_of_the_page_in_raw_utf8(
    sink: Sink, tmp_path: Path
) -> None:
    receiver = WebhookReceiver(sink)
    result = hook(sink, tmp_path).send(page("wang.fang"))
    assert result.outcome is Outcome.ACCEPTED and result.provider_code == "202"
    (request,) = receiver.accepted
    assert request.json() == {
        "subject": "【橙色预警】青溪水库 水位 152.30 m",
        "body": "青溪水库水位超警戒水位 0.80 米，仍在上涨。\n请立即到岗。回复 1 确认。",
        "person": "wang.fang",
        "address": "wang.fang",
        "key": "page-7-a1b2c3",
        "alert": 12,
        "page": 7,
        "language": "zh-CN",
        "reply_code": "3",
    }
    assert "青溪水库".encode() in request.body  # not \\u escapes
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["idempotency-key"] == "page-7-a1b2c3"
    assert request.headers["x-floodwatch-timestamp"] == str(int(NOW.timestamp()))
    assert "x-floodwatch-signature" not in request.headers  # no secret configured
    assert set(DEFAULT_BODY) == set(request.json())


def test_a_body_template_fills_its_placeholders_keeping_numbers_and_null(
    sink: Sink, tmp_path: Path
) -> None:
    receiver = WebhookReceiver(sink)
    body = {
        "msg": "{subject} / {first_line}",
        "id": "{page}",
        "alert": "{alert}",
        "tags": ["flood", "{language}"],
        "literal": "{{not a field}}",
        "fixed": 3,
    }
    notifier = hook(sink, tmp_path, body=body)
    assert notifier.send(page("wang.fang", alert_id=None)).outcome is Outcome.ACCEPTED
    assert receiver.accepted[0].json() == {
        "msg": "【橙色预警】青溪水库 水位 152.30 m / 青溪水库水位超警戒水位 0.80 米，仍在上涨。",
        "id": 7,
        "alert": None,
        "tags": ["flood", "zh-CN"],
        "literal": "{not a field}",
        "fixed": 3,
    }


def test_an_unknown_placeholder_is_refused_when_the_config_is_read() -> None:
    with pytest.raises(ValidationError, match=r"unknown placeholder \{subjekt\}"):
        WebhookNotifier.Options.model_validate(
            {"url": "https://hooks.example.cn/x", "body": {"text": "{subjekt}"}}
        )


def test_the_signature_is_the_hmac_of_the_raw_body(sink: Sink, tmp_path: Path) -> None:
    receiver = WebhookReceiver(sink, secret="s3cr3t-key")
    notifier = hook(sink, tmp_path, secret=EnvStr("s3cr3t-key"))
    assert notifier.send(page("wang.fang")).outcome is Outcome.ACCEPTED
    (request,) = receiver.accepted
    expected = hmac.new(b"s3cr3t-key", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-floodwatch-signature"] == f"sha256={expected}"
    assert receiver.refused_signatures == 0


def test_a_receiver_with_another_secret_refuses_the_page_permanently(
    sink: Sink, tmp_path: Path
) -> None:
    receiver = WebhookReceiver(sink, secret="the-receivers-key")
    (tmp_path / "hook.key").write_text("an-old-key\n", encoding="utf-8")
    result = hook(sink, tmp_path, secret_file="hook.key").send(page("wang.fang"))
    assert result.outcome is Outcome.PERMANENT and result.provider_code == "401"
    assert receiver.refused_signatures == 1 and not receiver.accepted


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "wait"),
    [
        (200, {}, Outcome.ACCEPTED, None),
        (201, {}, Outcome.ACCEPTED, None),
        (204, {}, Outcome.ACCEPTED, None),
        (408, {}, Outcome.RETRYABLE, None),
        (425, {}, Outcome.RETRYABLE, None),
        (429, {"Retry-After": "120"}, Outcome.RETRYABLE, 120.0),
        (503, {"Retry-After": "Wed, 01 Jul 2026 00:31:30 GMT"}, Outcome.RETRYABLE, 90.0),
        (503, {"Retry-After": "soon"}, Outcome.RETRYABLE, None),
        (500, {}, Outcome.UNKNOWN, None),
        (502, {}, Outcome.UNKNOWN, None),
        (504, {}, Outcome.UNKNOWN, None),
        (400, {}, Outcome.PERMANENT, None),
        (401, {}, Outcome.PERMANENT, None),
        (403, {}, Outcome.PERMANENT, None),
        (404, {}, Outcome.PERMANENT, None),
        (410, {}, Outcome.PERMANENT, None),
        (422, {}, Outcome.PERMANENT, None),
        (301, {"Location": "https://elsewhere.example.cn/hook"}, Outcome.PERMANENT, None),
        (307, {"Location": "/elsewhere"}, Outcome.PERMANENT, None),
    ],
)
def test_each_answer_has_its_outcome(
    sink: Sink,
    tmp_path: Path,
    status: int,
    headers: dict[str, str],
    outcome: Outcome,
    wait: float | None,
) -> None:
    answering(sink, Reply(status, b"", "text/plain", headers))
    result = hook(sink, tmp_path).send(page("wang.fang"))
    assert (result.outcome, result.retry_after) == (outcome, wait), result
    assert result.provider_code == str(status)
    assert len(sink.requests) == 1  # a redirect is not followed: the page is posted once


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_ambiguous_5xx_is_retryable_only_where_the_receiver_dedupes(
    sink: Sink, tmp_path: Path, status: int
) -> None:
    answering(sink, Reply(status, b"upstream failed", "text/plain"))
    result = hook(sink, tmp_path, dedupes=True).send(page("wang.fang"))
    assert result.outcome is Outcome.RETRYABLE and "resend is safe" in result.detail
    assert "upstream failed" in result.detail


def test_dedupes_makes_a_resend_safe_and_the_receiver_shows_the_page_once(
    sink: Sink, tmp_path: Path
) -> None:
    receiver = WebhookReceiver(sink, dedupes=True)
    notifier = hook(sink, tmp_path, dedupes=True)
    assert resend_is_safe(notifier) and not resend_is_safe(hook(sink, tmp_path))
    assert not resend_is_safe(WebhookNotifier)  # the class says what the default does
    receiver.mode = "stall"
    started = time.monotonic()
    result = notifier.send(page("wang.fang"))
    assert time.monotonic() - started < 3
    assert result.outcome is Outcome.RETRYABLE and "no answer within 1 s" in result.detail
    receiver.mode = "ok"
    for _ in range(2):
        assert notifier.send(page("wang.fang")).outcome is Outcome.ACCEPTED
    assert len(receiver.received()) == 1
    assert {r.headers["idempotency-key"] for r in sink.requests} == {"page-7-a1b2c3"}


def test_a_receiver_that_is_down_is_retryable_and_nothing_was_sent(tmp_path: Path) -> None:
    gone = Sink()
    url = gone.url
    gone.stop()
    notifier = build(WebhookNotifier, {"url": url + "/hook", "timeout": "1s"}, tmp_path)
    result = notifier.send(page("wang.fang"))
    assert result.outcome is Outcome.RETRYABLE
    assert result.detail == "cannot connect: Connection refused"


def test_a_connection_cut_after_the_request_is_unknown(tmp_path: Path) -> None:
    """The receiver reads the page, then the connection is reset: it may have acted on it."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def cut() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()

    threading.Thread(target=cut, daemon=True).start()
    try:
        notifier = build(WebhookNotifier, {"url": f"http://127.0.0.1:{port}/h"}, tmp_path)
        result = notifier.send(page("wang.fang"))
    finally:
        server.close()
    assert result.outcome is Outcome.UNKNOWN, result
    assert "may have gone out" in result.detail


def test_a_token_in_the_url_never_shows_in_an_outcome_or_a_repr(tmp_path: Path) -> None:
    gone = Sink()
    url = gone.url
    gone.stop()
    options = {"url": EnvStr(f"{url}/hook?token=TOPSECRET123"), "secret": EnvStr("sig-key-42")}
    parsed = WebhookNotifier.Options.model_validate(options)
    assert "TOPSECRET123" not in repr(parsed) and "sig-key-42" not in repr(parsed)
    result = build(WebhookNotifier, options, tmp_path).send(page("wang.fang"))
    assert "TOPSECRET123" not in result.detail and "127.0.0.1" not in result.detail


def test_the_key_header_stays_ascii_for_any_key(sink: Sink, tmp_path: Path) -> None:
    receiver = WebhookReceiver(sink)
    assert hook(sink, tmp_path).send(page("x", key="演练-7 a")).outcome is Outcome.ACCEPTED
    assert receiver.accepted[0].headers["idempotency-key"] == "%E6%BC%94%E7%BB%83-7%20a"
    assert receiver.accepted[0].json()["key"] == "演练-7 a"


# -- options --------------------------------------------------------------------------------


def test_a_secret_written_in_the_config_is_refused() -> None:
    with pytest.raises(ValidationError, match="secrets come from the environment"):
        WebhookNotifier.Options.model_validate(
            {"url": "https://hooks.example.cn/x", "secret": "written-here"}
        )


def test_a_secret_from_a_file_signs(sink: Sink, tmp_path: Path) -> None:
    receiver = WebhookReceiver(sink, secret="from-the-file")
    (tmp_path / "k").write_text("from-the-file\n", encoding="utf-8")
    assert hook(sink, tmp_path, secret_file="k").send(page("x")).outcome is Outcome.ACCEPTED
    assert receiver.refused_signatures == 0 and len(receiver.accepted) == 1


def test_secret_and_secret_file_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="give secret or secret_file, not both"):
        WebhookNotifier.Options.model_validate(
            {"url": "https://h.example.cn", "secret": EnvStr("a"), "secret_file": "k"}
        )


def test_a_missing_secret_file_stops_the_start_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FloodwatchError, match=r"secret_file: cannot read .*nowhere.key"):
        build(
            WebhookNotifier, {"url": "https://h.example.cn", "secret_file": "nowhere.key"}, tmp_path
        )


@pytest.mark.parametrize("url", ["ftp://h.example.cn/x", "hooks.example.cn/x", ""])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="url"):
        WebhookNotifier.Options.model_validate({"url": url})


def test_options_refuse_an_unknown_key() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        WebhookNotifier.Options.model_validate({"url": "https://h.example.cn", "dedup": True})


def test_the_receiver_sees_a_body_that_json_parses_for_every_field_type(
    sink: Sink, tmp_path: Path
) -> None:
    seen: list[Request] = []

    def keep(request: Request) -> Reply:
        seen.append(request)
        return Reply()

    sink.handlers["/hook"] = keep
    hook(sink, tmp_path, body="{body}").send(page("x"))
    assert json.loads(seen[0].body) == page("x").body


def test_an_answer_cut_off_mid_body_is_an_outcome_not_an_exception(tmp_path: Path) -> None:
    """Headers, then the body stops coming: urllib3's own exception must not escape send."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    done = threading.Event()

    def half() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        done.wait(5)
        conn.close()

    threading.Thread(target=half, daemon=True).start()
    try:
        notifier = build(
            WebhookNotifier, {"url": f"http://127.0.0.1:{port}/h", "timeout": "1s"}, tmp_path
        )
        result = notifier.send(page("wang.fang"))
    finally:
        done.set()
        server.close()
    assert result.outcome is Outcome.UNKNOWN, result
    assert "while reading the answer" in result.detail


def test_concurrency_is_how_many_posts_its_lane_has_under_way(sink: Sink, tmp_path: Path) -> None:
    from floodwatch.notify.lanes import Lane

    assert Lane("hook", hook(sink, tmp_path), 0.0).free_slots() == 8  # the default
    lane = Lane("hook", hook(sink, tmp_path, concurrency=2), 0.0)
    lane.started(2)
    assert lane.free_slots() == 0
    lane.finished(1)
    assert lane.free_slots() == 1
    for wrong in (0, 65):
        with pytest.raises(ValidationError, match="concurrency"):
            WebhookNotifier.Options.model_validate({"url": "https://h.cn", "concurrency": wrong})


def test_a_proxy_from_the_environment_carries_every_post(
    sink: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests reads HTTP_PROXY and NO_PROXY on each request; floodwatch reads them once per
    URL and thread: the proxy must still carry the first POST and the ones after it."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", sink.url)
    seen: list[str] = []

    def proxy(request: Request) -> Reply:
        seen.append(request.raw_path)  # a proxy is asked for the whole URL
        return Reply()

    target = "http://hooks.example.invalid/proxied"  # unresolvable: only the proxy can take it
    sink.handlers["/proxied"] = proxy
    notifier = build(WebhookNotifier, {"url": target, "timeout": "1s"}, tmp_path)
    for n in range(2):
        assert notifier.send(page(f"x{n}")).outcome is Outcome.ACCEPTED
    assert seen == [target, target]


def test_a_certificate_no_authority_vouches_for_is_refused_and_nothing_is_posted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    receiver = Sink(tls=server_tls(tmp_path))  # a certificate of its own, in no CA bundle
    try:
        notifier = hook(receiver, tmp_path, timeout="2s")
        result = notifier.send(page("wang.fang"))
    finally:
        receiver.stop()
    assert result.outcome is Outcome.PERMANENT, result
    assert result.detail.startswith("TLS failed: ") and "certificate" in result.detail, result
    assert receiver.requests == []


def test_the_ca_bundle_of_the_environment_is_trusted_and_the_connection_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Sink(tls=server_tls(tmp_path))
    receiver.handlers["/hook"] = lambda request: Reply()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "mail.crt"))
    try:
        notifier = hook(receiver, tmp_path, timeout="2s")
        outcomes = [notifier.send(page(f"p{n}")).outcome for n in range(3)]
    finally:
        receiver.stop()
    assert outcomes == [Outcome.ACCEPTED] * 3
    assert len(receiver.requests) == 3


def test_an_answer_longer_than_is_read_ends_that_connection_not_the_next_post(
    tmp_path: Path,
) -> None:
    """Only the first 256 KiB of an answer are read. The receiver sends exactly that much,
    then holds the rest back: a connection kept for the next POST would carry it to a
    receiver that is not listening, and take the rest of the long answer for its own."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from floodwatch.notify.channels.common import MAX_ANSWER

    rest = threading.Event()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.path)
            if len(seen) == 1:
                body = b"[" + b"0," * MAX_ANSWER + b"0]"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:MAX_ANSWER])
                self.wfile.flush()
                rest.wait(10)  # the rest only when the test is over
                self.wfile.write(body[MAX_ANSWER:])
                return
            self.send_response(429)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        notifier = build(WebhookNotifier, {"url": url, "timeout": "1s"}, tmp_path)
        first = notifier.send(page("a"))
        second = notifier.send(page("b"))
    finally:
        rest.set()
        server.shutdown()
        server.server_close()
    assert first.outcome is Outcome.ACCEPTED, first
    assert second.outcome is Outcome.RETRYABLE, second  # the 429, on a connection of its own
    assert seen == ["/hook", "/hook"]


def test_urls_that_differ_only_after_the_host_share_one_kept_connection(sink: Sink) -> None:
    """A signed DingTalk robot's URL carries a new timestamp and signature in every message:
    the connection is kept per host, not per URL (which would open, and keep open, one more
    connection for every message)."""
    from datetime import timedelta

    from floodwatch.notify.channels.common import HttpPoster

    sink.handlers["/robot"] = lambda request: Reply()
    poster = HttpPoster(timedelta(seconds=2), [])
    for n in range(4):
        answer = poster.post(f"{sink.url}/robot/send?timestamp={n}", b"{}", {}, resend_safe=False)
        assert getattr(answer, "status", None) == 200, answer
    assert len(sink.requests) == 4
    assert len({r.client_port for r in sink.requests}) == 1
