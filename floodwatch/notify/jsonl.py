"""Append pages to a JSON-lines file, once each: a record an office can archive or tail."""

from __future__ import annotations

import json
import os
import threading

from pydantic import BaseModel, ConfigDict

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person


class JsonlNotifier:
    """Writes one JSON object per page. A page already in the file (same idempotency key) is
    not written again, so a resend after a crash delivers it exactly once."""

    capabilities = Capabilities(resend_safe=True)

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        path: str

    def __init__(self, name: str, options: JsonlNotifier.Options, context: PluginContext) -> None:
        self.name = name
        self.path = context.base_dir / options.path
        self._lock = threading.Lock()
        self._keys: set[str] | None = None

    def address_for(self, person: Person) -> str | None:
        return person.id

    def send(self, message: Message) -> DeliveryResult:
        record = {
            "key": message.idempotency_key,
            "page": message.page_id,
            "person": message.person,
            "language": message.language,
            "subject": message.subject,
            "body": message.body,
        }
        try:
            with self._lock:
                keys = self._load_keys()
                if message.idempotency_key in keys:
                    return DeliveryResult(Outcome.DELIVERED, "already in the file")
                self.path.parent.mkdir(parents=True, exist_ok=True)
                line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
                with self.path.open("a+b") as f:
                    if f.seek(0, os.SEEK_END) > 0:
                        f.seek(-1, os.SEEK_END)
                        if f.read(1) != b"\n":  # a line torn by a crash: this one stands alone
                            line = b"\n" + line
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
                keys.add(message.idempotency_key)
        except OSError as exc:
            return DeliveryResult(Outcome.RETRYABLE, f"{self.path}: {exc.strerror}")
        return DeliveryResult(Outcome.DELIVERED)

    def _load_keys(self) -> set[str]:
        if self._keys is None:
            if not self.path.exists():  # nothing sent yet, or its volume is not mounted now:
                return set()  # remember nothing, read the file once it is there
            keys: set[str] = set()
            for line in self.path.read_bytes().splitlines():
                try:
                    keys.add(json.loads(line)["key"])
                except (ValueError, KeyError, TypeError):  # bytes cut mid-character too
                    continue  # a torn last line from a crash: that page is sent again
            self._keys = keys  # only once the whole file was read
        return self._keys
