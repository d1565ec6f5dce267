"""Village loudspeakers that read out text messages (短信广播: a loudspeaker with a SIM card
that says every SMS from its authorised numbers): through the same Twilio account and
machinery as `twilio_sms`. Each loudspeaker always hears from the same office number (picked
from `from_numbers` by the loudspeaker's number), so authorise those numbers on it. The text is
the subject and the broadcast, with no reply code (nobody answers for a loudspeaker); a message
Twilio accepted is *dispatched*.
"""

from __future__ import annotations

import logging

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.twilio_common import TwilioChannel
from floodwatch.notify.channels.twilio_sms import MAX_SMS, TwilioSmsNotifier, compose
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person

log = logging.getLogger(__name__)


class BroadcastSmsNotifier(TwilioChannel):
    """Twilio cannot tell that it has sent a message before: a resend sends it again."""

    capabilities = Capabilities(broadcast=True, max_text=MAX_SMS, resend_safe=False, concurrency=4)

    class Options(TwilioSmsNotifier.Options):
        pass

    def __init__(
        self, name: str, options: BroadcastSmsNotifier.Options, context: PluginContext
    ) -> None:
        super().__init__(name, options, context)
        self.messaging_service_sid = options.messaging_service_sid
        self.limits = RateLimits(sender=Limit(options.messages_per_second, 1.0))

    def address_for(self, person: Person) -> str | None:
        """A loudspeaker's phone number (a village's loudspeakers carry it)."""
        return person.chat.get(self.name)

    def sender_for(self, message: Message) -> str:
        return self.from_number(message.address) or self.messaging_service_sid or ""

    def send(self, message: Message) -> DeliveryResult:
        request: dict[str, str] = {"to": message.address, "body": compose(message, False)}
        sender = self.from_number(message.address)
        if sender is not None:
            request["from_"] = sender
        if self.messaging_service_sid is not None:
            request["messaging_service_sid"] = self.messaging_service_sid
        return self.submit(
            "broadcast SMS", self.client.messages.create, message, request, Outcome.DISPATCHED
        )
