"""Village loudspeakers reached by a phone call (a loudspeaker that answers calls and plays
them, 电话广播): through the same Twilio account and machinery as `twilio_voice`. The call says
the broadcast twice, with a pause between, and hangs up: there is no keypress to wait for, and
no status callback to follow, since nobody confirms a loudspeaker. A call Twilio accepted is
*dispatched*.
"""

from __future__ import annotations

import logging

from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.twilio_common import TwilioChannel
from floodwatch.notify.channels.twilio_voice import MAX_SPOKEN, Speech, TwilioVoiceNotifier
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person

log = logging.getLogger(__name__)


def broadcast_twiml(message: Message, speech: Speech) -> str:
    """What the loudspeaker plays: a moment of silence (a loudspeaker picks up and opens its
    amplifier), then the broadcast, a pause, and the broadcast again."""
    spoken = [part for part in (message.subject, message.body) if part]
    if sum(len(p) for p in spoken) > MAX_SPOKEN:
        spoken = [" ".join(spoken)[: MAX_SPOKEN - 1] + "…"]
    response = VoiceResponse()
    response.pause(length=1)
    for n in range(2):
        if n:
            response.pause(length=2)
        for part in spoken:
            response.say(part, language=speech.language, voice=speech.voice)
    response.hangup()
    return str(response)


class BroadcastCallNotifier(TwilioChannel):
    """Twilio cannot tell that it has placed a call before: a resend calls again."""

    capabilities = Capabilities(
        broadcast=True, max_text=MAX_SPOKEN, resend_safe=False, concurrency=4
    )

    class Options(TwilioVoiceNotifier.Options):
        pass

    def __init__(
        self, name: str, options: BroadcastCallNotifier.Options, context: PluginContext
    ) -> None:
        super().__init__(name, options, context)
        self.voices = dict(options.voices)
        self.limits = RateLimits(notifier=Limit(options.calls_per_second, 1.0))

    def address_for(self, person: Person) -> str | None:
        """A loudspeaker's phone number (a village's loudspeakers carry it; a roster person has
        none unless their `chat` names this channel)."""
        return person.chat.get(self.name)

    def send(self, message: Message) -> DeliveryResult:
        speech = self.voices.get(message.language, self.voices["zh-CN"])
        request = {"to": message.address, "from_": self.from_number(message.address),
                   "twiml": broadcast_twiml(message, speech)}  # fmt: skip
        return self.submit(
            "broadcast call", self.client.calls.create, message, request, Outcome.DISPATCHED
        )
