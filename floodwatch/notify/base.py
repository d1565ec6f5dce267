"""The notifier contract: one `send(message) -> DeliveryResult` per channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from floodwatch.notify.buckets import Limit
from floodwatch.roster.model import Person


class Outcome(StrEnum):
    """What became of one delivery attempt.

    accepted: the provider took it (delivery may be confirmed later);
    delivered: confirmed at the recipient;
    dispatched: sent to a loudspeaker (nobody confirms a loudspeaker: never "delivered");
    retryable: failed, try again later;
    permanent: failed, retrying cannot help (bad number, rejected);
    unknown: the attempt may or may not have gone out (e.g. a timeout after sending).
    """

    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    DISPATCHED = "dispatched"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"

    @property
    def succeeded(self) -> bool:
        return self in (Outcome.ACCEPTED, Outcome.DELIVERED, Outcome.DISPATCHED)


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one attempt. `provider_code` is the provider's own code for it (Twilio's
    21610, Aliyun's isv.BUSINESS_LIMIT_CONTROL, DingTalk's 130101); `retry_after` the seconds
    the provider asked to wait before the next attempt (or before any send on this channel)."""

    outcome: Outcome
    detail: str = ""
    provider_id: str | None = None
    provider_code: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Message:
    """One page as a notifier sees it. `person` is the recipient's id (a person of the rosters,
    or a loudspeaker of a village); `address` where this channel reaches it. `reply_code` is the
    short code a person answers with on a channel that carries answers back (SMS, voice)."""

    page_id: int
    idempotency_key: str
    person: str
    address: str
    language: str
    subject: str
    body: str
    alert_id: int | None = None
    reply_code: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do.

    acknowledges: an answer can come back on it (an SMS reply, a keypress), so a page on it can
        be acknowledged from the phone;
    max_text: the most characters one message may carry (None: no limit worth saying);
    resend_safe: sending again under the same idempotency key cannot deliver twice (a provider
        that deduplicates, a file that checks): an UNKNOWN outcome is resent only where this holds;
    concurrency: how many sends may be under way at once in its lane;
    broadcast: it reaches loudspeakers, not people: an accepted send is "dispatched", never
        "delivered", since nobody confirms a loudspeaker.
    """

    acknowledges: bool = False
    max_text: int | None = None
    resend_safe: bool = False
    concurrency: int = 4
    broadcast: bool = False


@dataclass(frozen=True)
class RateLimits:
    """What the provider allows: over the whole channel, per sender (a from-number, a robot's
    webhook), per target (one phone number). None: no limit of that kind."""

    notifier: Limit | None = None
    sender: Limit | None = None
    target: Limit | None = None


class Notifier(Protocol):
    """A channel. `address_for` says how this channel reaches a person (None: it cannot)."""

    name: str

    def address_for(self, person: Person) -> str | None: ...

    def send(self, message: Message) -> DeliveryResult: ...


DEFAULT_CAPABILITIES = Capabilities()
NO_LIMITS = RateLimits()


def capabilities_of(notifier: object) -> Capabilities:
    """A notifier's `capabilities`; for one that declares none (a third-party plugin written
    before they existed), the defaults, with its `resend_safe` attribute if it has one."""
    declared = getattr(notifier, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    return Capabilities(resend_safe=getattr(notifier, "resend_safe", False) is True)


def limits_of(notifier: object) -> RateLimits:
    declared = getattr(notifier, "limits", None)
    return declared if isinstance(declared, RateLimits) else NO_LIMITS


def addresses_of(notifier: Notifier, person: Person) -> list[str]:
    """Every address the channel has for a person, in the order to try them (a second phone
    after the first): the notifier's `addresses_for`, else its one `address_for`."""
    many = getattr(notifier, "addresses_for", None)
    if callable(many):
        return [str(a) for a in many(person)]
    one = notifier.address_for(person)
    return [one] if one is not None else []


def sender_of(notifier: object, message: Message) -> str:
    """Which of the channel's senders a message goes out through (its per-sender bucket)."""
    sender_for = getattr(notifier, "sender_for", None)
    return str(sender_for(message)) if callable(sender_for) else ""


def resend_is_safe(notifier: object) -> bool:
    """Whether sending a page again under the same idempotency key cannot deliver it twice. A
    channel that says nothing is taken to be unsafe: an UNKNOWN outcome is resent only where
    this holds."""
    return capabilities_of(notifier).resend_safe
