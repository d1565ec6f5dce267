"""Contract harnesses for `twilio_sms` and `twilio_voice` (tests/notifier_support.py): the far
end is Twilio's REST API, the recording fake of tests/twilio_support.py behind the real SDK."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from floodwatch.clock import SimulatedClock
from floodwatch.notify.base import Outcome
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person
from floodwatch.yamlsource import EnvStr

from .notifier_support import NOW, Arrival, Harness, wang_fang
from .twilio_support import ACCOUNT_SID, AUTH_TOKEN, OFFICE_NUMBERS, PUBLIC_URL, FakeTwilio

WANG_FANG_PHONE = "+8613800000002"
_HINT = re.compile(
    r"^(回复 \d+a 确认，\d+e 立即升级|Reply \d+a to acknowledge, \d+e to escalate now)$"
)


class _TwilioHarness(Harness):
    """Twilio accepts a page (ACCEPTED: delivery is confirmed later, by a status callback).
    It cannot deduplicate: a resend is another SMS, another call."""

    success_outcome = Outcome.ACCEPTED
    crash_outcome = Outcome.UNKNOWN  # a 2xx whose body is not Twilio's: it may have gone out
    timeout = 1.0
    resend_safe = False

    def __init__(self, channel: str, request: pytest.FixtureRequest) -> None:
        super().__init__(channel, request)
        self.fake = FakeTwilio()

    def context(self, base_dir: Path) -> PluginContext:
        return PluginContext(
            base_dir=base_dir, clock=SimulatedClock(NOW), public_url=PUBLIC_URL,
            twilio_http=lambda: self.fake,
        )  # fmt: skip

    def person(self) -> Person:
        return wang_fang(phones=(WANG_FANG_PHONE, "+8601088880002"))

    def person_without_contact(self) -> Person:
        return wang_fang(email="wang.fang@example.org")

    def address_of(self, person: Person) -> str:
        return person.phones[0]  # the first number; a failover moves to the next

    def succeed(self) -> None:
        self.fake.heal()

    def time_out(self) -> None:
        self.fake.go_silent()

    def crash(self) -> None:
        self.fake.answer_garbled()

    def close(self) -> None:
        self.fake.close()


class TwilioSmsHarness(_TwilioHarness):
    def options(self) -> dict[str, Any]:
        return {
            "account_sid": ACCOUNT_SID, "auth_token": EnvStr(AUTH_TOKEN),
            "from_numbers": OFFICE_NUMBERS, "timeout": "1s",
        }  # fmt: skip

    def fail_retryable(self) -> str:
        """Twilio's concurrency limit (20429), until it heals."""
        self.fake.reject(20429, 429, "Too Many Requests", times=None)
        return "too many requests"

    def fail_permanent(self) -> str:
        self.fake.reject(21610, 400, f"Attempt to send to unsubscribed recipient {WANG_FANG_PHONE}",
                         times=None)  # fmt: skip
        return "unsubscribed"

    def received(self) -> list[Arrival]:
        arrivals = []
        for sms in self.fake.sms:
            lines = sms.body.split("\n")
            if _HINT.match(lines[-1]):  # how to answer: only on pages with a reply code
                lines.pop()
            arrivals.append(Arrival(lines[0], "\n".join(lines[1:]), to=sms.to))
        return arrivals


class TwilioVoiceHarness(_TwilioHarness):
    def options(self) -> dict[str, Any]:
        token = self.tmp_path / "secrets" / "twilio_auth_token"
        token.parent.mkdir(exist_ok=True)
        token.write_text(AUTH_TOKEN + "\n", encoding="utf-8")
        return {
            "account_sid": ACCOUNT_SID, "auth_token_file": "secrets/twilio_auth_token",
            "from_numbers": OFFICE_NUMBERS, "timeout": "1s",
        }  # fmt: skip

    def fail_retryable(self) -> str:
        """Nothing listens where Twilio should be (a firewall, a proxy down): nothing sent."""
        self.fake.refuse_connections()
        return "nothing sent"

    def fail_permanent(self) -> str:
        self.fake.reject(13224, 400, "Twilio does not support calling this number", times=None)
        return "cannot call this number"

    def received(self) -> list[Arrival]:
        """Each call says the subject and the body, then how to answer, twice."""
        arrivals = []
        for call in self.fake.calls:
            says = call.says
            assert len(says) == 6 and says[:3] == says[3:], says
            arrivals.append(Arrival(says[0], says[1], to=call.to))
        return arrivals


TWILIO_HARNESSES: dict[str, type[Harness]] = {
    "twilio_sms": TwilioSmsHarness,
    "twilio_voice": TwilioVoiceHarness,
}
