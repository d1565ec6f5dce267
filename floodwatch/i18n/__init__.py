"""One language layer: the message catalogue (gettext, kept as Babel .po files) for the duty
console's pages, the CLI's messages and the validation errors people see.

Messages are written in English in the code and the templates (the msgids); the catalogue
`locale/zh_CN/LC_MESSAGES/floodwatch.po` gives their Mandarin. A message the catalogue lacks is
shown in English: English is the fallback. The .po file is read directly (compiled in memory
once per process), so nothing is compiled at build time and `pip install` ships the .po.

Which language: `choose` takes the first of the candidates it knows — for a page, the
language switch, then the signed-in person's `language` in the roster, then the browser's
Accept-Language, then zh-CN; on the command line, `from_environment` reads LANGUAGE, LC_ALL,
LC_MESSAGES and LANG as gettext does, English when none names a known language.
"""

from __future__ import annotations

import gettext as _gettext
import io
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from floodwatch.errors import FloodwatchError, NotFound

LANGUAGES = ("zh-CN", "en")  # every language the catalogue has, as BCP 47 tags
PAGES_DEFAULT = "zh-CN"  # the console's language when nothing says otherwise
FALLBACK = "en"  # the language of the msgids: what shows when the catalogue has no text
DOMAIN = "floodwatch"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_LOCALES = {"zh-CN": "zh_CN"}  # a tag -> its folder under locale/


def normalize(tag: str | None) -> str | None:
    """The catalogue's language for a tag as browsers, rosters or LANG write it ("zh",
    "zh-cn", "zh_CN.UTF-8", "zh-Hans-CN", "en_GB"); None for a language it does not have."""
    if not tag:
        return None
    base = re.split(r"[.@]", tag.strip())[0].replace("_", "-").lower()
    if base in ("c", "posix", "") or base.startswith("*"):
        return None
    parts = base.split("-")
    if parts[0] == "zh":
        # Taiwan, Hong Kong and Macau read traditional characters: the catalogue is simplified
        if any(p in ("tw", "hk", "mo", "hant") for p in parts[1:]):
            return None
        return "zh-CN"
    if parts[0] == "en":
        return "en"
    return None


def choose(*candidates: str | None, default: str = FALLBACK) -> str:
    """The first candidate the catalogue knows; `default` when none is."""
    for tag in candidates:
        found = normalize(tag)
        if found is not None:
            return found
    return default


def from_accept_language(header: str | None) -> str | None:
    """The browser's preferred language the catalogue has (Accept-Language, by q), or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        if q > 0:
            ranked.append((-q, i, tag))
    for _, _, tag in sorted(ranked):
        found = normalize(tag)
        if found is not None:
            return found
    return None


def from_environment(env: Mapping[str, str]) -> str:
    """The command line's language, as gettext finds it: the first of LANGUAGE (a colon list),
    LC_ALL, LC_MESSAGES, LANG that is set; English unless it names a language we have."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if not value:
            continue
        if name == "LANGUAGE":
            return choose(*value.split(":"))
        return choose(value)
    return FALLBACK


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The catalogue of `language` (English: the msgids themselves)."""
    folder = _LOCALES.get(language)
    if folder is None:
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / folder / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=folder, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return translations(language).ngettext(singular, plural, n)


class Text:
    """A message to show a person later, in their language: its English msgid and the values
    of its {placeholders}. `str()` is the English text (logs, exceptions)."""

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid = msgid
        self.params = params

    def render(self, language: str) -> str:
        params = {
            k: v.render(language) if isinstance(v, Text) else v for k, v in self.params.items()
        }
        return gettext(language, self.msgid).format(**params)

    def __str__(self) -> str:
        return self.msgid.format(**self.params)

    def __repr__(self) -> str:
        return f"Text({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (other.msgid, other.params) == (self.msgid, self.params)

    def __hash__(self) -> int:
        return hash(self.msgid)


def _(msgid: str, **params: Any) -> Text:
    """Mark a message for the catalogue (Babel extracts calls of `_`)."""
    return Text(msgid, **params)


def text_of(error: BaseException, language: str) -> str:
    """An error's message in `language`: its `text` when it carries one, else its English."""
    text = getattr(error, "text", None)
    return text.render(language) if isinstance(text, Text) else str(error)


class Refused(FloodwatchError):
    """A domain error whose message is in the catalogue: the console and the CLI show it in
    the reader's language (`text_of`); `str()` is the English."""

    def __init__(self, text: Text) -> None:
        self.text = text
        super().__init__(str(text))


class Unknown(NotFound):
    """A NotFound whose message is in the catalogue."""

    def __init__(self, text: Text) -> None:
        self.text = text
        super().__init__(str(text))
