"""Phone numbers never reach a log line whole: a logging filter that masks every E.164 number
(``+8613800000001`` -> ``+86138****0001``) in the message and its arguments, installed on the
handlers by the CLI, so that no module has to remember to."""

from __future__ import annotations

import logging
import re

from floodwatch.roster import mask_phone

_PHONE = re.compile(r"\+\d{7,15}\b")


def mask(text: str) -> str:
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


class MaskPhones(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str) and "+" in record.msg:
            record.msg = mask(record.msg)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Mask phone numbers on every handler of `logger` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, MaskPhones) for f in handler.filters):
            handler.addFilter(MaskPhones())
