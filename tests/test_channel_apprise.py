"""The Apprise channel through Apprise's own notify(), with ``json://`` URLs to a receiver on
127.0.0.1: what arrives, what each of Apprise's three answers becomes, and the options."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from floodwatch.errors import FloodwatchError
from floodwatch.notify.base import Outcome, capabilities_of
from floodwatch.notify.channels.apprise import AppriseNotifier
from floodwatch.yamlsource import EnvStr

from .harness_channels import Reply, Request, Sink, build, context, officer, page


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    try:
        yield s
    finally:
        s.stop()


class Receiver:
    def __init__(self, sink: Sink, path: str) -> None:
        self.status = 200
        self.stall = False
        self.got: list[Request] = []
        sink.handlers[path] = self.answer

    def answer(self, request: Request) -> Reply | None:
        if self.stall:
            return None
        if self.status == 200:
            self.got.append(request)
        return Reply(self.status, b"{}")


def notifier(tmp_path: Path, *urls: str, **options: Any) -> AppriseNotifier:
    built: AppriseNotifier = build(
        AppriseNotifier, {"urls": list(urls), "timeout": "1s", **options}, tmp_path
    )
    return built


def test_a_page_reaches_each_persons_own_address(sink: Sink, tmp_path: Path) -> None:
    receiver = Receiver(sink, "/bark/")
    n = notifier(tmp_path, f"json://127.0.0.1:{sink.port}/bark/{{address}}", chat="bark")
    person = officer(chat={"bark": "K7x/9 z"})
    address = n.address_for(person)
    assert address == "K7x/9 z"
    result = n.send(page(address))
    assert result.outcome is Outcome.ACCEPTED, result
    (request,) = receiver.got
    assert request.path == "/bark/K7x/9 z"  # the id is quoted into one path segment
    assert "/bark/K7x%2F9%20z" in request.raw_path
    body = request.json()
    assert (body["title"], body["message"]) == (page("").subject, page("").body)
    assert n.address_for(officer(chat={"wecom": "x"})) is None


def test_without_chat_the_urls_reach_one_place_for_everyone(sink: Sink, tmp_path: Path) -> None:
    receiver = Receiver(sink, "/room")
    n = notifier(tmp_path, f"json://127.0.0.1:{sink.port}/room")
    assert n.address_for(officer()) == "apprise:duty"
    assert n.send(page("apprise:duty")).outcome is Outcome.ACCEPTED
    assert len(receiver.got) == 1


def test_a_failure_is_retryable_because_apprise_cannot_tell_which_kind(
    sink: Sink, tmp_path: Path
) -> None:
    receiver = Receiver(sink, "/room")
    for status in (500, 404, 401):
        receiver.status = status
        result = notifier(tmp_path, f"json://127.0.0.1:{sink.port}/room").send(page("x"))
        assert result.outcome is Outcome.RETRYABLE, result
        assert "cannot tell a permanent failure" in result.detail
        assert f"error={status}" in result.detail
        assert f"127.0.0.1:{sink.port}" not in result.detail  # no URL in an outcome


def test_a_service_that_does_not_finish_in_time_is_unknown_and_never_blocks(
    sink: Sink, tmp_path: Path
) -> None:
    receiver = Receiver(sink, "/room")
    receiver.stall = True
    started = time.monotonic()
    result = notifier(tmp_path, f"json://127.0.0.1:{sink.port}/room").send(page("x"))
    assert time.monotonic() - started < 3
    assert result.outcome is Outcome.UNKNOWN and "did not finish within 1 s" in result.detail


def test_a_resend_goes_only_to_the_urls_that_did_not_take_the_page(
    sink: Sink, tmp_path: Path
) -> None:
    good, bad = Receiver(sink, "/good"), Receiver(sink, "/bad")
    bad.status = 503
    n = notifier(
        tmp_path, f"json://127.0.0.1:{sink.port}/good", f"json://127.0.0.1:{sink.port}/bad"
    )
    first = n.send(page("x"))
    assert first.outcome is Outcome.RETRYABLE and "URL 2 (JSON) failed" in first.detail
    bad.status = 200
    assert n.send(page("x")).outcome is Outcome.ACCEPTED
    assert (len(good.got), len(bad.got)) == (1, 1)
    assert n.send(page("x")).outcome is Outcome.ACCEPTED  # nothing left to send
    assert (len(good.got), len(bad.got)) == (1, 1)
    assert n.send(page("x", key="page-8")).outcome is Outcome.ACCEPTED  # another page: both
    assert (len(good.got), len(bad.got)) == (2, 2)


def test_an_unreachable_service_is_retryable(tmp_path: Path) -> None:
    gone = Sink()
    port = gone.port
    gone.stop()
    result = notifier(tmp_path, f"json://127.0.0.1:{port}/room").send(page("x"))
    assert result.outcome is Outcome.RETRYABLE


def test_capabilities() -> None:
    caps = capabilities_of(AppriseNotifier)
    assert not caps.resend_safe and not caps.acknowledges


# -- options --------------------------------------------------------------------------------


def test_a_token_from_the_environment_is_accepted_and_never_shown() -> None:
    url = EnvStr("tgram://123456789:AAH-secret-token-value/-1001234567890")
    options = AppriseNotifier.Options.model_validate({"urls": [url]})
    assert "secret-token" not in repr(options) and "secret-token" not in str(options)


def test_a_password_written_in_a_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="password is written in this URL"):
        AppriseNotifier.Options.model_validate(
            {"urls": ["mailtos://duty:hunter2@smtp.example.cn?to=a@example.cn"]}
        )
    AppriseNotifier.Options.model_validate(
        {"urls": [EnvStr("mailtos://duty:hunter2@smtp.example.cn?to=a@example.cn")]}
    )


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"urls": []}, "at least 1 item"),
        ({"urls": ["nosuch://x/y"]}, r"Apprise does not understand nosuch://…"),
        ({"urls": ["json://h/{address}"]}, r"\{address\} needs chat"),
        ({"urls": ["json://h/x"], "chat": "a b"}, "pattern"),
        ({"urls": ["json://h/x"], "timeout": "10m"}, "at most 5m"),
        ({"url": ["json://h/x"]}, "Extra inputs"),
    ],
)
def test_options_refuse_what_cannot_work(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        AppriseNotifier.Options.model_validate(options)


def test_without_apprise_the_config_names_the_extra_and_plugins_still_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from floodwatch.plugins import Registry

    for name in [m for m in sys.modules if m == "apprise" or m.startswith("apprise.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "apprise", None)  # not installed
    assert "apprise" in Registry.from_entry_points().notifiers
    with pytest.raises(ValidationError, match=r"pip install 'floodwatch\[apprise\]'"):
        AppriseNotifier.Options.model_validate({"urls": ["json://h/x"]})
    options = AppriseNotifier.Options.model_construct(urls=["json://h/x"])
    with pytest.raises(FloodwatchError, match=r"floodwatch\[apprise\]"):
        AppriseNotifier("a", options, context(tmp_path))


def test_floodwatch_check_names_the_extra_at_the_notifiers_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from .helpers import fw, write_config

    for name in [m for m in sys.modules if m == "apprise" or m.startswith("apprise.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "apprise", None)  # not installed
    path = write_config(
        tmp_path, notifiers=[{"name": "tg", "type": "apprise", "urls": ["json://h/x"]}]
    )
    ran = fw("check", "--config", str(path))
    assert ran.returncode == 1
    (line,) = [x for x in ran.stderr.splitlines() if "apprise" in x]
    assert line.startswith(f"{path}:") and "notifiers[0]" in line
    assert line.endswith("pip install 'floodwatch[apprise]'")
