"""Pages by SMS through Twilio (the official `twilio` SDK).

Each alert page ends with how to answer it (``回复 3a 确认，3e 立即升级``): the person's reply
comes back to the web app (POST /twilio/sms), which acknowledges or escalates. Twilio's status
callbacks (delivered, undelivered) come back to /twilio/status and move the page on.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, RateLimits
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.twilio_common import (
    SMS_HINT,
    TwilioChannel,
    TwilioOptions,
    in_language,
)
from floodwatch.plugins import PluginContext

MAX_SMS = 1600
"""Twilio refuses a longer Body (error 21617)."""


def compose(message: Message, answerable: bool) -> str:
    """The SMS text: the subject, the body and, for a page that can be answered, how to answer
    it as the last line. A text beyond MAX_SMS is cut before that line, never after it."""
    text = f"{message.subject}\n{message.body}" if message.subject else message.body
    if not answerable or message.reply_code is None:
        return text if len(text) <= MAX_SMS else text[: MAX_SMS - 1] + "…"
    hint = in_language(SMS_HINT, message.language).format(code=message.reply_code)
    room = MAX_SMS - len(hint) - 1
    if len(text) > room:
        text = text[: room - 1] + "…"
    return f"{text}\n{hint}"


class TwilioSmsNotifier(TwilioChannel):
    """Twilio cannot tell that it has sent a message before: a resend sends it again."""

    capabilities = Capabilities(acknowledges=True, max_text=MAX_SMS, resend_safe=False)

    class Options(TwilioOptions):
        messaging_service_sid: str | None = Field(
            default=None, pattern=r"^MG[0-9a-fA-F]{32}$",
            description="a Messaging Service (MG...) to send through",
        )  # fmt: skip
        messages_per_second: int = Field(
            default=1, ge=1, le=1000, description="what Twilio lets one sender send a second"
        )

        @model_validator(mode="after")
        def _a_sender(self) -> TwilioSmsNotifier.Options:
            if not self.from_numbers and self.messaging_service_sid is None:
                raise ValueError("give from_numbers, or messaging_service_sid, or both")
            return self

    def __init__(
        self, name: str, options: TwilioSmsNotifier.Options, context: PluginContext
    ) -> None:
        super().__init__(name, options, context)
        self.messaging_service_sid = options.messaging_service_sid
        # each from-number (or the messaging service, which picks its own) is one sender
        self.limits = RateLimits(sender=Limit(options.messages_per_second, 1.0))
        if self.public_url is None:  # no web app: nobody could read a reply
            self.capabilities = Capabilities(
                acknowledges=False, max_text=MAX_SMS, resend_safe=False
            )

    def sender_for(self, message: Message) -> str:
        return self.from_number(message.address) or self.messaging_service_sid or ""

    def send(self, message: Message) -> DeliveryResult:
        sender = self.from_number(message.address)
        request: dict[str, str] = {
            "to": message.address,
            "body": compose(message, self.capabilities.acknowledges),
        }
        if sender is not None:
            request["from_"] = sender
        if self.messaging_service_sid is not None:
            request["messaging_service_sid"] = self.messaging_service_sid
        return self.submit("SMS", self.client.messages.create, message, request)
