"""Pages by phone call through Twilio (the official `twilio` SDK).

The call says the page twice, in the person's language (Mandarin by default), inside a
``<Gather>``: 1 acknowledges, 2 escalates at once; the keypress goes to the web app (POST
/twilio/voice?page=ID). A call nobody answers, a busy line or a voicemail acknowledges nothing:
only the keypress does. Twilio's status callback (completed, busy, no-answer, failed) comes back
to /twilio/status: busy and no-answer call again.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, RateLimits
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.twilio_common import (
    VOICE_NO_KEY,
    VOICE_PROMPT,
    TwilioChannel,
    TwilioOptions,
    in_language,
    voice_url,
)
from floodwatch.notify.templates import LANGUAGES
from floodwatch.plugins import PluginContext

MAX_SPOKEN = 1000
"""Characters of the page a call says (twice): Twilio takes at most 4,000 of TwiML inline."""
GATHER_SECONDS = 8  # after the last word, how long the call waits for a key


class Speech(BaseModel):
    """How a language is spoken: Twilio's `<Say language=... voice=...>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str = Field(pattern=r"^[a-z]{2,3}-[A-Z]{2}$")
    voice: str = Field(min_length=1)


DEFAULT_VOICES = {
    "zh-CN": Speech(language="cmn-CN", voice="Polly.Zhiyu"),
    "en": Speech(language="en-US", voice="Polly.Joanna"),
}


def _say(target: VoiceResponse, text: str, speech: Speech) -> None:
    target.say(text, language=speech.language, voice=speech.voice)


def _for_the_ear(body: str) -> str:
    """The body without the lines written for a screen: the command to acknowledge (a call is
    answered by a keypress, said after the page)."""
    return "\n".join(line for line in body.splitlines() if "floodwatch ack" not in line)


def call_twiml(message: Message, speech: Speech, public_url: str | None) -> str:
    """What the call says: the page twice and, where keypresses can come back, inside a
    `<Gather>` with the instruction after each time."""
    spoken = [part for part in (message.subject, _for_the_ear(message.body)) if part]
    total = sum(len(p) for p in spoken)
    if total > MAX_SPOKEN:
        spoken = [" ".join(spoken)[: MAX_SPOKEN - 1] + "…"]
    response = VoiceResponse()
    target = response
    if public_url is not None:
        target = response.gather(
            num_digits=1, action=voice_url(public_url, message.page_id), method="POST",
            timeout=GATHER_SECONDS,
        )  # fmt: skip
    for n in range(2):
        if n:
            target.pause(length=1)
        for part in spoken:
            _say(target, part, speech)
        if public_url is not None:
            _say(target, in_language(VOICE_PROMPT, message.language), speech)
    if public_url is not None:  # no key pressed: say so, and nothing is acknowledged
        _say(response, in_language(VOICE_NO_KEY, message.language), speech)
    response.hangup()
    return str(response)


def prompt_twiml(action: str, language: str, speech: Speech) -> str:
    """Another chance after a key that means nothing: the instruction once more, then goodbye."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action, method="POST", timeout=GATHER_SECONDS)
    _say(gather, in_language(VOICE_PROMPT, language), speech)
    _say(response, in_language(VOICE_NO_KEY, language), speech)
    response.hangup()
    return str(response)


def answer_twiml(text: str, speech: Speech) -> str:
    """Say `text`, then hang up."""
    response = VoiceResponse()
    _say(response, text, speech)
    response.hangup()
    return str(response)


class TwilioVoiceNotifier(TwilioChannel):
    """Twilio cannot tell that it has placed a call before: a resend calls again."""

    capabilities = Capabilities(acknowledges=True, max_text=MAX_SPOKEN, resend_safe=False)

    class Options(TwilioOptions):
        voices: dict[str, Speech] = Field(
            default_factory=lambda: dict(DEFAULT_VOICES),
            description="per person's language: the <Say> language and voice",
        )
        calls_per_second: int = Field(
            default=1, ge=1, le=100, description="calls a second the Twilio account may place"
        )

        @field_validator("voices")
        @classmethod
        def _known_languages(cls, value: dict[str, Speech]) -> dict[str, Speech]:
            unknown = sorted(set(value) - set(LANGUAGES))
            if unknown:
                raise ValueError(
                    f"voices: a person's language is one of {', '.join(LANGUAGES)}, "
                    f"found {', '.join(unknown)}"
                )
            return {**DEFAULT_VOICES, **value}

        @model_validator(mode="after")
        def _a_caller(self) -> TwilioVoiceNotifier.Options:
            if not self.from_numbers:
                raise ValueError("from_numbers: a call needs at least one number to call from")
            return self

    def __init__(
        self, name: str, options: TwilioVoiceNotifier.Options, context: PluginContext
    ) -> None:
        super().__init__(name, options, context)
        self.voices = dict(options.voices)
        # Twilio's calls per second are counted over the account (1 unless raised)
        self.limits = RateLimits(notifier=Limit(options.calls_per_second, 1.0))
        if self.public_url is None:  # no web app: no keypress can come back
            self.capabilities = Capabilities(
                acknowledges=False, max_text=MAX_SPOKEN, resend_safe=False
            )

    def speech(self, language: str) -> Speech:
        return self.voices.get(language, self.voices["zh-CN"])

    def send(self, message: Message) -> DeliveryResult:
        twiml = call_twiml(message, self.speech(message.language), self.public_url)
        request = {"to": message.address, "from_": self.from_number(message.address),
                   "twiml": twiml}  # fmt: skip
        return self.submit("call", self.client.calls.create, message, request)
