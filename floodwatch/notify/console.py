"""Print pages to the console (standard output): the demo's channel and a duty-room screen."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from pydantic import BaseModel, ConfigDict

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person


class ConsoleNotifier:
    """A screen cannot tell a page was shown before: a resend shows it again."""

    capabilities = Capabilities(resend_safe=False)

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(
        self, name: str, options: ConsoleNotifier.Options, context: PluginContext,
        stream: TextIO | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self._stream = stream
        self._lock = threading.Lock()

    def address_for(self, person: Person) -> str | None:
        return person.name

    def send(self, message: Message) -> DeliveryResult:
        stream = self._stream or sys.stdout
        if stream is None:  # started with standard output closed (`>&-`, pythonw)
            return DeliveryResult(Outcome.PERMANENT, "no standard output to show pages on")
        text = f">>> page #{message.page_id} to {message.address}: {message.subject}\n"
        text += "".join(f"    {line}\n" for line in message.body.splitlines())
        try:
            with self._lock:
                stream.write(text)
                stream.flush()
        except OSError as exc:  # a broken pipe to the screen: the dispatcher must go on
            return DeliveryResult(Outcome.RETRYABLE, f"standard output: {exc}")
        except ValueError as exc:  # closed, or cannot encode the text: a resend cannot help
            return DeliveryResult(Outcome.PERMANENT, f"standard output: {exc}")
        return DeliveryResult(Outcome.DELIVERED)
