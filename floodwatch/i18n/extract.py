"""The messages the code and the console's templates mark for the catalogue, found with Babel's
extractors: ``_("...")`` in Python (floodwatch.i18n's marker) and in the Jinja templates.

    python -m floodwatch.i18n.extract > floodwatch.pot

writes a template a translator merges into locale/*/LC_MESSAGES/floodwatch.po (pybabel update);
tests/test_console_i18n.py fails when a marked message has no Mandarin (or other placeholders).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

PACKAGE = Path(__file__).resolve().parent.parent
METHODS = [
    ("**/console/templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
OPTIONS = {"**/console/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def messages() -> Iterator[tuple[str, str, int]]:
    """(msgid, file, line) of every marked message (plural forms: the singular)."""
    for file, line, message, _comments, _context in extract_from_dir(
        PACKAGE, METHODS, OPTIONS, KEYWORDS, strip_comment_tags=True
    ):
        msgid = message[0] if isinstance(message, tuple | list) else message
        if msgid:
            yield msgid, f"floodwatch/{file}", line


def template() -> Catalog:
    catalog = Catalog(project="floodwatch", domain="floodwatch")
    for msgid, file, line in messages():
        catalog.add(msgid, locations=[(file, line)])
    return catalog


if __name__ == "__main__":
    write_po(sys.stdout.buffer, template(), width=100, omit_header=False)
