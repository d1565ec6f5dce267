"""Any Apprise URL (Telegram, Slack, Bark, ServerChan, ntfy, e-mail...) through Apprise's own
`notify()`, so the long tail of services needs no code of floodwatch
(``pip install 'floodwatch[apprise]'``).

Apprise says of each service only whether it succeeded, failed or did not finish in time. It
cannot tell a permanent failure from a temporary one, so every failure is RETRYABLE (a wrong
token is retried until the officer on duty sees the page failing); a service that did not
finish within `timeout` may have delivered: UNKNOWN. Apprise sends through its own HTTP code,
not floodwatch's session.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from floodwatch.notify.base import Capabilities, DeliveryResult, Message, Outcome, RateLimits
from floodwatch.notify.channels.common import (
    DEFAULT_TIMEOUT,
    Timeout,
    installed,
    mask_phones,
    require,
)
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person
from floodwatch.yamlsource import AtKey, EnvStr

log = logging.getLogger(__name__)

_NEEDS = {"channel": "apprise", "package": "apprise", "extra": "apprise"}
_PASSWORD_IN_URL = re.compile(r"^[A-Za-z0-9+.-]+://[^/?#@:]*:[^/?#@]+@")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_REMEMBERED = 1000  # pages whose delivered services are remembered, so a resend skips them


def scheme(url: str) -> str:
    """A URL shown safely: its scheme alone (the rest may hold a token)."""
    return url.partition("://")[0] + "://…"


class AppriseNotifier:
    """Each page goes to every URL. A resend of a page by this process goes only to the URLs
    that did not take it the first time (after a restart, to all of them again)."""

    capabilities = Capabilities(resend_safe=False, concurrency=2)
    limits = RateLimits()

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        urls: list[str] = Field(
            min_length=1,
            repr=False,
            description="Apprise URLs; a token in one is written as ${VARIABLE}",
        )
        chat: str | None = Field(
            default=None,
            pattern=r"^[A-Za-z0-9_.-]+$",
            description="the key of people's chat ids that {address} in the URLs stands for",
        )
        timeout: Timeout = DEFAULT_TIMEOUT

        @field_validator("urls", mode="before")
        @classmethod
        def _no_written_password(cls, value: Any) -> Any:
            if isinstance(value, list):
                for i, url in enumerate(value):
                    written = isinstance(url, str) and not isinstance(url, EnvStr)
                    if written and _PASSWORD_IN_URL.match(url):
                        raise AtKey(
                            i,
                            "a password is written in this URL: write it as "
                            "${VARIABLE}, read from the environment",
                        )
            return value

        @model_validator(mode="after")
        def _apprise_understands(self) -> AppriseNotifier.Options:
            installed("apprise", **_NEEDS)
            apprise = require("apprise", **_NEEDS)
            for i, url in enumerate(self.urls):
                if "{address}" in url and self.chat is None:
                    raise AtKey(("urls", i), "{address} needs chat: the key of people's ids")
                if apprise.Apprise.instantiate(url.replace("{address}", "x")) is None:
                    raise AtKey(("urls", i), f"Apprise does not understand {scheme(url)}")
            return self

    def __init__(self, name: str, options: AppriseNotifier.Options, context: PluginContext) -> None:
        self._apprise: Any = require("apprise", **_NEEDS)
        self.name = name
        self._urls = list(options.urls)
        self._chat = options.chat
        self._timeout = options.timeout.total_seconds()
        self._asset = self._apprise.AppriseAsset(storage_mode="memory")
        self._delivered: OrderedDict[str, set[int]] = OrderedDict()
        self._lock = threading.Lock()

    def address_for(self, person: Person) -> str | None:
        """With `chat`: the person's id there (the URLs' {address}); without: the URLs reach
        one place for everyone (a duty group), named after the notifier."""
        if self._chat is None:
            return f"apprise:{self.name}"
        return person.chat.get(self._chat) or None

    def send(self, message: Message) -> DeliveryResult:
        with self._lock:
            done = set(self._delivered.get(message.idempotency_key, ()))
        ap = self._apprise.Apprise(asset=self._asset)
        for i, url in enumerate(self._urls):
            if i in done:
                continue
            target = url
            if self._chat is not None:
                target = url.replace("{address}", quote(message.address, safe=""))
            if not ap.add(target, tag=f"url{i}"):
                return DeliveryResult(
                    Outcome.PERMANENT,
                    f"Apprise does not understand URL {i + 1} "
                    f"({scheme(url)}) with the address {mask_phones(message.address)!r}",
                )
        if len(ap) == 0:
            return DeliveryResult(Outcome.ACCEPTED, "every URL took it before")
        try:
            result = ap.notify(
                body=message.body or message.subject,
                title=message.subject,
                body_format="text",
                timeout=self._timeout,
            )
        except Exception as exc:  # Apprise guards its services; this is a last resort
            return DeliveryResult(Outcome.RETRYABLE, f"Apprise failed: {type(exc).__name__}")
        status = self._apprise.AppriseResultStatus
        failed, timed_out = [], []
        for service in result:
            index = next((int(t[3:]) for t in service.tag if t.startswith("url")), None)
            if service.status == status.SUCCESS and index is not None:
                done.add(index)
            elif service.status == status.TIMEOUT:
                timed_out.append(
                    f"URL {(index or 0) + 1} ({service.name}) did not finish "
                    f"within {self._timeout:g} s"
                )
            else:
                failed.append(f"URL {(index or 0) + 1} ({service.name}) failed" + _said(service))
        with self._lock:
            self._delivered[message.idempotency_key] = done
            self._delivered.move_to_end(message.idempotency_key)
            while len(self._delivered) > _REMEMBERED:
                self._delivered.popitem(last=False)
        if len(done) == len(self._urls):
            return DeliveryResult(
                Outcome.ACCEPTED, f"{len(done)} of {len(self._urls)} URLs took it"
            )
        if timed_out:
            detail = "; ".join([*timed_out, *failed]) + ": the page may have gone out"
            return DeliveryResult(Outcome.UNKNOWN, detail)
        return DeliveryResult(
            Outcome.RETRYABLE,
            "; ".join(failed or ["Apprise reported a failure"])
            + " (Apprise cannot tell a permanent failure from a temporary one)",
        )


def _said(service: Any) -> str:
    """Apprise's own warnings about a service, without any URL (it may hold a token)."""
    words = [
        _URL.sub("<url>", entry.message)
        for entry in service.logs()
        if entry.level in ("WARNING", "ERROR")
    ]
    return f": {mask_phones(' / '.join(words))[:300]}" if words else ""
