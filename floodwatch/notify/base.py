"""The notifier contract: one `send(message) -> DeliveryResult` per channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from floodwatch.roster.model import Person


class Outcome(StrEnum):
    """What became of one delivery attempt.

    accepted: the provider took it (delivery may be confirmed later);
    delivered: confirmed at the recipient; retryable: failed, try again later;
    permanent: failed, retrying cannot help (bad number, rejected);
    unknown: the attempt may or may not have gone out (e.g. a timeout after sending).
    """

    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"

    @property
    def succeeded(self) -> bool:
        return self in (Outcome.ACCEPTED, Outcome.DELIVERED)


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    detail: str = ""
    provider_id: str | None = None


@dataclass(frozen=True)
class Message:
    """One page as a notifier sees it."""

    page_id: int
    idempotency_key: str
    person: str
    address: str
    language: str
    subject: str
    body: str


class Notifier(Protocol):
    """A channel. `address_for` says how this channel reaches a person (None: it cannot)."""

    name: str

    def address_for(self, person: Person) -> str | None: ...

    def send(self, message: Message) -> DeliveryResult: ...


def resend_is_safe(notifier: object) -> bool:
    """Whether a notifier says that sending a page again under the same idempotency key cannot
    deliver it twice (a ``resend_safe = True`` attribute). A channel that says nothing is
    taken to be unsafe: an UNKNOWN outcome is resent only where this holds."""
    return getattr(notifier, "resend_safe", False) is True
