"""Harnesses for the notifier contract (tests/test_notifier_contract.py): one class per channel.

A harness builds its notifier the way the application does (the entry point from the
registry, ``plugin(name, plugin.Options.model_validate(options), PluginContext(...))``) and
puts the channel's *far end* (the screen, the file, the SMS provider, the SMTP server...) in
each state the contract exercises. `received()` says what actually reached the far end.

How a channel joins the suite
-----------------------------
Register it in setup.cfg (``floodwatch.notifiers``), write a `Harness` subclass here and add
it to `HARNESSES` under the entry-point name. Until then the contract suite fails for it
(``test_every_registered_notifier_has_a_harness``). A harness gets what it needs from pytest
through `request` (``request.getfixturevalue("http_server")``: conftest's loopback server).
For example (a webhook channel; the other states and `received` follow the same way)::

    class WebhookHarness(Harness):
        timeout, resend_safe, crash_outcome = 1.0, True, Outcome.RETRYABLE
        def options(self): return {"url": self.server.url + "/hook", "timeout": "1s"}
        def succeed(self): self.server.serve("/hook", b"{}", 200)
        def fail_permanent(self): self.server.serve("/hook", b"gone", 410); return "410"

States
------
succeed()         the far end takes messages.
fail_retryable()  a failure that may heal by itself or by an operator's hand; returns words
                  the outcome's detail must contain (the "why").
fail_permanent()  a failure that resending cannot cure; returns the words of the detail.
time_out()        the far end takes the request and never answers; `timeout` is the seconds
                  the harness configured, which the notifier must keep.
crash()           the far end is in a state that makes naive notifier code raise (a torn
                  file, an unencodable stream...); `crash_outcome` is what the notifier must
                  report instead of raising.

Not applicable
--------------
A state (or `person_without_contact`) that cannot exist for a channel is declared in place
of the method: ``fail_permanent = NotApplicable("why it cannot exist")``. Its contract case is
not generated for that channel at all (nothing is skipped, so no skip can stand for a pass);
the guard tests check every such declaration carries its reason. This is not `need_service` (a missing server, which fails under
FLOODWATCH_REQUIRE_SERVICES=1): a harness that needs a server starts it itself, or calls
`need_service` from its constructor; it never declares the server's states not applicable.
`person`, `address_of`, `succeed` and `received` are never optional.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar

import pytest

from floodwatch.clock import SimulatedClock
from floodwatch.notify.base import Notifier, Outcome
from floodwatch.plugins import PluginContext, Registry
from floodwatch.roster.model import Person

STATES = ("fail_retryable", "fail_permanent", "time_out", "crash")
# a fixed, aware instant: nothing in a notifier may read the wall clock for its decisions
NOW = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)


@dataclass(frozen=True)
class NotApplicable:
    """A far-end state that cannot exist for a channel, and why (see the module docstring)."""

    reason: str


@dataclass(frozen=True)
class Arrival:
    """One whole message as the far end holds it. None: the far end does not show that field."""

    subject: str
    body: str
    page_id: int | None = None
    key: str | None = None
    to: str | None = None  # the address it went to
    person: str | None = None  # the person id it names


class Harness:
    """One channel's far end, and its notifier built as the application builds it."""

    success_outcome: ClassVar[Outcome] = Outcome.DELIVERED
    crash_outcome: ClassVar[Outcome]
    timeout: ClassVar[float | None] = None  # seconds; None when time_out is NotApplicable
    # the contract's word on the notifier's `resend_safe`: a resend under the same key
    # cannot deliver twice (the notifier must say the same; the dedup cases run only then)
    resend_safe: ClassVar[bool] = False

    person_without_contact: Callable[[], Person] | NotApplicable
    fail_retryable: Callable[[], str] | NotApplicable
    fail_permanent: Callable[[], str] | NotApplicable
    time_out: Callable[[], None] | NotApplicable
    crash: Callable[[], None] | NotApplicable

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        self.channel = channel
        self.tmp_path: Path = request.getfixturevalue("tmp_path")
        self.monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        request.addfinalizer(self.close)

    # -- building, as floodwatch.app does ---------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The channel's options as a config file gives them (validated by its Options)."""
        return {}

    def context(self, base_dir: Path) -> PluginContext:
        return PluginContext(base_dir=base_dir, clock=SimulatedClock(NOW))

    def build(self, tmp_path: Path) -> Notifier:
        """A fresh notifier (a fresh process, as far as it can tell) over the same far end."""
        plugin = Registry.from_entry_points().notifiers[self.channel]
        options = plugin.Options.model_validate(self.options())
        return plugin(f"contract-{self.channel}", options, self.context(tmp_path))

    # -- people --------------------------------------------------------------------------
    def person(self) -> Person:
        """A roster person with every contact detail this channel needs."""
        raise NotImplementedError

    def address_of(self, person: Person) -> str:
        """The address this channel must use for `person`."""
        raise NotImplementedError

    # -- the far end ------------------------------------------------------------------------
    def succeed(self) -> None:
        raise NotImplementedError

    def received(self) -> list[Arrival]:
        """Every whole message at the far end, in order; anything else there is an error."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop what the harness started (servers, open streams), releasing a send that is
        still waiting on the far end."""


def not_applicable(harness: type[Harness], state: str) -> str | None:
    """The declared reason `state` cannot exist for the channel, or None when it can."""
    value = getattr(harness, state, None)
    return value.reason if isinstance(value, NotApplicable) else None


def wang_fang(**contacts: Any) -> Person:
    """The officer every channel pages: 王芳, with the contact details a channel asks for."""
    return Person("wang.fang", "王芳", language="zh-CN", **contacts)


# --------------------------------------------------------------------------------------------


class ConsoleHarness(Harness):
    """The far end is standard output, the duty-room screen: a real file stands for the
    screen; a real pipe whose reader has gone is a screen whose pipe broke."""

    crash_outcome = Outcome.PERMANENT  # an ASCII-only screen can never show a Chinese page
    time_out = NotApplicable(
        "the console writes to this process's own standard output and has no timeout to keep "
        "(a reader that stops reading blocks the write; nothing in the channel can bound it)"
    )
    person_without_contact = NotApplicable(
        "the console reaches everyone on duty: it shows the person's name, which every roster "
        "person has"
    )

    _HEADER = re.compile(r">>> page #(\d+) to (.*?): (.*)")

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.screen = self.tmp_path / "screen.txt"
        self._streams: list[IO[str]] = []

    def _stdout(self, stream: IO[str] | None) -> None:
        if stream is not None:
            self._streams.append(stream)
        self.monkeypatch.setattr(sys, "stdout", stream)

    def person(self) -> Person:
        return wang_fang()

    def address_of(self, person: Person) -> str:
        return person.name

    def succeed(self) -> None:
        self._stdout(self.screen.open("a", encoding="utf-8"))

    def fail_retryable(self) -> str:
        """`floodwatch run | tee screen.log`, and tee has died: writing raises EPIPE."""
        read_end, write_end = os.pipe()
        os.close(read_end)
        self._stdout(open(write_end, "w", encoding="utf-8"))  # closed in close()
        return "Broken pipe"

    def fail_permanent(self) -> str:
        """Started with its standard output closed (``floodwatch run >&-``, pythonw)."""
        self._stdout(None)
        return "no standard output"

    def crash(self) -> None:
        """A screen whose stream cannot encode Chinese (PYTHONIOENCODING=ascii)."""
        self._stdout(self.screen.open("a", encoding="ascii"))

    def received(self) -> list[Arrival]:
        if not self.screen.exists():
            return []
        pages: list[tuple[re.Match[str], list[str]]] = []
        for line in self.screen.read_text(encoding="utf-8").splitlines():
            if header := self._HEADER.fullmatch(line):
                pages.append((header, []))
            elif line.startswith("    ") and pages:
                pages[-1][1].append(line[4:])
            else:
                raise AssertionError(f"not part of a page on the screen: {line!r}")
        return [
            Arrival(subject=h[3], body="\n".join(body), page_id=int(h[1]), to=h[2])
            for h, body in pages
        ]

    def close(self) -> None:
        for stream in self._streams:
            with contextlib.suppress(OSError):  # the broken pipe still holds the page
                stream.close()


class JsonlHarness(Harness):
    """The far end is the JSON-lines file (a record an office archives or tails)."""

    resend_safe = True
    crash_outcome = Outcome.DELIVERED  # the torn line is someone else's page; this one lands
    fail_permanent = NotApplicable(
        "every failure of a local append (a missing or read-only directory, a full disk, a "
        "directory in the file's place) is cured by an operator without changing the page, so "
        "the channel reports all of them as retryable"
    )
    time_out = NotApplicable(
        "a local append has no timeout to keep: the write and fsync are synchronous calls "
        "nothing in the channel can bound"
    )
    person_without_contact = NotApplicable(
        "the file names the person by roster id, which every person has"
    )

    TORN = '{"key": "page-6-torn", "page": 6, "subject": "【红色预警】青溪'.encode()[:-1]

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        # the office keeps the file on its archive volume (a NAS, a USB disk): pages.jsonl is
        # a symlink into it; unmounted, the volume's directory is gone from the mount point
        self.mounted = self.tmp_path / "archive" / "floodwatch"
        self.unmounted = self.tmp_path / "archive-volume"
        self.mounted.mkdir(parents=True)
        self.path = self.tmp_path / "pages.jsonl"
        self.path.symlink_to(self.mounted / "pages.jsonl")
        self._torn = False

    def options(self) -> dict[str, Any]:
        return {"path": "pages.jsonl"}

    def person(self) -> Person:
        return wang_fang()

    def address_of(self, person: Person) -> str:
        return person.id

    def succeed(self) -> None:
        if self.unmounted.exists():
            self.unmounted.rename(self.mounted)

    def fail_retryable(self) -> str:
        """The archive volume is not mounted: opening the file fails, reading finds nothing."""
        if self.mounted.exists():
            self.mounted.rename(self.unmounted)
        return "No such file or directory"

    def crash(self) -> None:
        """The last process died mid-append: the file ends in a torn line, cut inside a
        Chinese character, with no newline."""
        with self.path.open("ab") as f:
            f.write(self.TORN)
        self._torn = True

    def received(self) -> list[Arrival]:
        if not self.path.exists():
            return []
        arrivals = []
        for line in self.path.read_bytes().splitlines():
            if self._torn and line == self.TORN:
                continue  # the fragment the harness planted, untouched: not a message
            r = json.loads(line)  # anything else that does not parse is a broken record
            arrivals.append(
                Arrival(r["subject"], r["body"], r["page"], r["key"], person=r["person"])
            )
        return arrivals


HARNESSES: dict[str, type[Harness]] = {
    "console": ConsoleHarness,
    "jsonl": JsonlHarness,
}

from .harness_twilio import TWILIO_HARNESSES  # noqa: E402

HARNESSES.update(TWILIO_HARNESSES)

from .harness_channels import CHANNEL_HARNESSES  # noqa: E402

HARNESSES.update(CHANNEL_HARNESSES)

from .harness_broadcast import BROADCAST_HARNESSES  # noqa: E402

HARNESSES.update(BROADCAST_HARNESSES)
