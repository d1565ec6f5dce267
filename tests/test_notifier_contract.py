"""What every notifier in setup.cfg's ``floodwatch.notifiers`` group promises, run over each
through its harness (tests/notifier_support.py): the address it uses, an outcome for every
state of its far end and never an exception, the message intact and delivered once.

A state a harness declares not applicable is collected with a skip mark fixed at collection
time ("not applicable to <channel>: <why>"); no test here skips at run time.
"""

from __future__ import annotations

import configparser
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from importlib import import_module
from typing import Any, TypeVar

import pytest

from floodwatch.notify.base import DeliveryResult, Message, Notifier, Outcome, resend_is_safe
from floodwatch.plugins import NOTIFIERS_GROUP, Registry

from .helpers import ROOT
from .notifier_support import HARNESSES, STATES, Arrival, Harness, NotApplicable, not_applicable

F = TypeVar("F", bound=Callable[..., Any])

# How much longer than its configured timeout a send may take (thread start, a slow CI box).
GRACE = 2.0


def registered() -> dict[str, str]:
    """Entry-point name -> ``module:Class`` for every notifier setup.cfg registers."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    out = {}
    for line in cfg["options.entry_points"][NOTIFIERS_GROUP].strip().splitlines():
        name, _, target = line.partition("=")
        out[name.strip()] = target.strip()
    return out


CHANNELS = sorted(registered())


def cases(*states: str, resend_safe: bool = False) -> list[Any]:
    """One case per registered channel where the case applies. A case that cannot apply (the
    harness declares why, checked by the guard tests) is not generated at all: nothing is
    skipped, so a skip can never stand for a pass."""
    params = []
    for channel in CHANNELS:
        harness = HARNESSES.get(channel)  # a missing harness fails in the `harness` fixture
        reasons = [r for s in states if harness and (r := not_applicable(harness, s))]
        if harness and resend_safe and not harness.resend_safe:
            reasons.append("a resend shows the page again (the harness says resend_safe=False)")
        if not reasons:
            params.append(pytest.param(channel, id=channel))
    return params


def contract(*states: str, resend_safe: bool = False) -> Callable[[F], F]:
    """Run the decorated case over every channel it applies to. When it applies to none yet
    (no channel has a timeout today), the function is not collected at all rather than
    reported as skipped: the guard tests check each channel's reason for leaving it out."""

    def wrap(fn: F) -> F:
        params = cases(*states, resend_safe=resend_safe)
        if not params:
            fn.__test__ = False  # type: ignore[attr-defined]
            return fn
        return pytest.mark.parametrize("harness", params, indirect=True)(fn)

    return wrap


def plugin_class(channel: str) -> Any:
    module, _, name = registered()[channel].partition(":")
    return getattr(import_module(module), name)


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    channel: str = request.param
    if channel not in HARNESSES:
        pytest.fail(f"notifier {channel!r} is registered but has no harness in notifier_support")
    yield HARNESSES[channel](channel, request)


def message(notifier: Notifier, harness: Harness, key: str = "page-7-a1b2c3") -> Message:
    person = harness.person()
    address = notifier.address_for(person)
    assert address is not None, f"{harness.channel} cannot reach the harness's own person"
    return Message(
        page_id=7,
        idempotency_key=key,
        person=person.id,
        address=address,
        language=person.language,
        subject="【橙色预警】青溪水库 水位 152.30 m",
        body="青溪水库水位超警戒水位 0.80 米，仍在上涨。\n请立即到岗。Reply 1 to acknowledge / 回复 1 确认。",
    )


def arrived(harness: Harness, m: Message) -> Arrival:
    """The one arrival expected for `m`, checked field by field against what the far end
    shows (a field the channel does not show is None)."""
    got = harness.received()
    assert len(got) == 1, f"expected exactly one message at the far end, found {got}"
    a = got[0]
    assert (a.subject, a.body) == (m.subject, m.body)
    for field, expected in (("page_id", m.page_id), ("key", m.idempotency_key),
                            ("to", m.address), ("person", m.person)):  # fmt: skip
        if getattr(a, field) is not None:
            assert getattr(a, field) == expected, field
    return a


def send(notifier: Notifier, m: Message) -> DeliveryResult:
    result = notifier.send(m)
    assert isinstance(result, DeliveryResult), f"send returned {result!r}"
    return result


# -- the suite covers every registered notifier ----------------------------------------------


def test_every_registered_notifier_has_a_harness() -> None:
    assert CHANNELS, "setup.cfg registers no notifier"
    missing = sorted(set(CHANNELS) - set(HARNESSES))
    assert not missing, f"registered in setup.cfg, no harness in notifier_support: {missing}"
    stale = sorted(set(HARNESSES) - set(CHANNELS))
    assert not stale, f"a harness for a notifier setup.cfg does not register: {stale}"


def test_the_installed_entry_points_are_the_ones_setup_cfg_registers() -> None:
    """The harnesses build through the installed registry: a stale install would test
    something else (reinstall with `pip install -e .`)."""
    notifiers = Registry.from_entry_points().notifiers
    for channel in CHANNELS:
        assert channel in notifiers, f"{channel} is not installed: pip install -e ."
        assert notifiers[channel] is plugin_class(channel), channel


@pytest.mark.parametrize("channel", sorted(HARNESSES))
def test_each_harness_declares_every_state_or_why_not(channel: str) -> None:
    h = HARNESSES[channel]
    for required in ("person", "address_of", "succeed", "received"):
        assert getattr(h, required) is not getattr(Harness, required), f"{channel}: {required}"
    for state in (*STATES, "person_without_contact"):
        value = getattr(h, state, None)
        assert callable(value) or isinstance(value, NotApplicable), f"{channel}: {state}"
        if isinstance(value, NotApplicable):
            assert len(value.reason.split()) >= 5, f"{channel}: {state}: say why, in words"
    assert hasattr(h, "crash_outcome") or not callable(getattr(h, "crash", None)), channel
    assert h.success_outcome.succeeded, channel
    assert resend_is_safe(plugin_class(channel)) is h.resend_safe, f"{channel}: resend_safe"
    # a channel that configures a timeout has its time_out state tested, and the reverse
    assert (h.timeout is None) == (not_applicable(h, "time_out") is not None), channel


# -- the contract ----------------------------------------------------------------------------


@contract()
def test_built_through_the_plugin_constructor(harness: Harness) -> None:
    cls = plugin_class(harness.channel)
    assert cls.Options.model_config["extra"] == "forbid"
    assert list(inspect.signature(cls.__init__).parameters)[:4] == [
        "self", "name", "options", "context",
    ]  # fmt: skip
    notifier = harness.build(harness.tmp_path)
    assert notifier.name == f"contract-{harness.channel}"
    assert harness.received() == []  # building sends nothing


@contract()
def test_address_for_a_person_with_the_contact(harness: Harness) -> None:
    notifier = harness.build(harness.tmp_path)
    person = harness.person()
    assert notifier.address_for(person) == harness.address_of(person)


@contract("person_without_contact")
def test_no_address_for_a_person_without_the_contact(harness: Harness) -> None:
    assert callable(harness.person_without_contact)
    notifier = harness.build(harness.tmp_path)
    assert notifier.address_for(harness.person_without_contact()) is None


@contract()
def test_success_delivers_the_message_once_and_intact(harness: Harness) -> None:
    notifier = harness.build(harness.tmp_path)
    harness.succeed()
    m = message(notifier, harness)
    result = send(notifier, m)
    assert result.outcome is harness.success_outcome, result
    arrived(harness, m)


@contract("fail_retryable")
def test_retryable_failure_says_why_and_the_retry_delivers_once(harness: Harness) -> None:
    assert callable(harness.fail_retryable)
    notifier = harness.build(harness.tmp_path)
    why = harness.fail_retryable()
    m = message(notifier, harness)
    result = send(notifier, m)
    assert result.outcome is Outcome.RETRYABLE, result
    assert why in result.detail, result
    assert harness.received() == []  # nothing half-written counts
    harness.succeed()  # the far end heals; the dispatcher resends under the same key
    assert send(notifier, m).outcome is harness.success_outcome
    arrived(harness, m)


@contract("fail_permanent")
def test_permanent_failure_says_why(harness: Harness) -> None:
    assert callable(harness.fail_permanent)
    notifier = harness.build(harness.tmp_path)
    why = harness.fail_permanent()
    result = send(notifier, message(notifier, harness))
    assert result.outcome is Outcome.PERMANENT, result
    assert why in result.detail, result
    assert harness.received() == []


@contract("time_out")
def test_a_silent_far_end_never_blocks_beyond_the_timeout(harness: Harness) -> None:
    """Outcome: RETRYABLE where a resend is safe, UNKNOWN where the page may have gone out
    and a resend could deliver it twice."""
    assert callable(harness.time_out) and harness.timeout is not None
    notifier = harness.build(harness.tmp_path)
    harness.time_out()
    m = message(notifier, harness)
    results: list[DeliveryResult] = []
    worker = threading.Thread(target=lambda: results.append(send(notifier, m)), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(harness.timeout + GRACE)
    elapsed = time.monotonic() - started
    assert not worker.is_alive(), f"send blocked beyond {harness.timeout} s + {GRACE} s"
    assert results, "send raised (see the thread's exception above)"
    expected = Outcome.RETRYABLE if resend_is_safe(notifier) else Outcome.UNKNOWN
    assert results[0].outcome is expected, (results[0], f"{elapsed:.2f} s")
    assert results[0].detail


@contract("crash")
def test_a_far_end_that_trips_the_notifier_gets_an_outcome_not_an_exception(
    harness: Harness,
) -> None:
    assert callable(harness.crash)
    notifier = harness.build(harness.tmp_path)
    harness.crash()
    m = message(notifier, harness)
    result = send(notifier, m)
    assert result.outcome is harness.crash_outcome, result
    if result.outcome.succeeded:
        arrived(harness, m)
    else:
        assert result.detail
        assert harness.received() == []


@contract(resend_safe=True)
def test_a_resend_under_the_same_key_delivers_once_even_after_a_restart(harness: Harness) -> None:
    notifier = harness.build(harness.tmp_path)
    harness.succeed()
    m = message(notifier, harness)
    assert send(notifier, m).outcome is harness.success_outcome
    # the dispatcher died before recording the outcome: resent by this process, then another
    assert send(notifier, m).outcome is harness.success_outcome
    restarted = harness.build(harness.tmp_path)
    assert send(restarted, m).outcome is harness.success_outcome
    arrived(harness, m)
    # it is the key that makes a page the same page, not its content
    other = message(restarted, harness, key="page-7-d4e5f6")
    assert send(restarted, other).outcome is harness.success_outcome
    assert len(harness.received()) == 2


@contract("fail_retryable", resend_safe=True)
def test_a_restart_while_the_far_end_is_down_still_delivers_once(harness: Harness) -> None:
    """What the restarted process could not reach, it must not take to be empty."""
    assert callable(harness.fail_retryable)
    harness.succeed()
    m = message(harness.build(harness.tmp_path), harness)
    assert send(harness.build(harness.tmp_path), m).outcome is harness.success_outcome
    restarted = harness.build(harness.tmp_path)
    harness.fail_retryable()
    assert send(restarted, m).outcome is Outcome.RETRYABLE
    harness.succeed()
    assert send(restarted, m).outcome is harness.success_outcome
    arrived(harness, m)
