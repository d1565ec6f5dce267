"""One language layer: the message catalogue (floodwatch/i18n/locale/zh_CN/.../floodwatch.po)
serves the console's pages, the CLI's messages and the validation errors people see.

- every message the code and the templates mark has its Mandarin, with the same placeholders;
- a page's language: the language switch, then the person's `language` in the roster, then the
  browser's Accept-Language, then zh-CN;
- the command line's: LANGUAGE, LC_ALL, LC_MESSAGES, LANG (as gettext), English otherwise;
- a message the catalogue lacks shows in English (the fallback).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from floodwatch import i18n, users
from floodwatch.i18n import Text, _, extract

from .console_support import OFFICER, PASSWORD, Desk, demo_desk
from .helpers import fw, write_config

PO = i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
NO_LOCALE = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from demo_desk(tmp_path)


def placeholders(text: str) -> set[str]:
    """{name} (Python's str.format) and %(name)s (the templates' gettext) placeholders."""
    return set(re.findall(r"\{(\w+)\}", text)) | set(re.findall(r"%\((\w+)\)s", text))


def test_every_marked_message_has_its_mandarin_with_the_same_placeholders() -> None:
    with PO.open("rb") as f:
        catalogue = read_po(f)
    marked = list(extract.messages())
    assert len(marked) > 100  # the templates and the code were both read
    assert any(file.endswith(".html") for _, file, _ in marked)
    assert any(file.endswith(".py") for _, file, _ in marked)
    problems = []
    for msgid, file, line in marked:
        entry = catalogue.get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            problems.append(f"{file}:{line}: no Mandarin for {msgid!r}")
        elif placeholders(str(entry.string)) != placeholders(msgid):
            problems.append(f"{file}:{line}: placeholders differ: {msgid!r} / {entry.string!r}")
    assert not problems, "\n".join(problems)


def test_the_catalogue_holds_no_message_the_code_no_longer_says() -> None:
    """A message reworded in the code leaves its old entry behind: a dead entry a translator
    would keep up for nothing."""
    with PO.open("rb") as f:
        catalogue = read_po(f)
    marked = {msgid for msgid, _, _ in extract.messages()}
    ids = [m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id]
    assert [msgid for msgid in ids if msgid not in marked] == []
    # nor any message twice (Babel's reader keeps the last silently): one-line msgids, as read
    one_line = [ln for ln in PO.read_text(encoding="utf-8").splitlines()
                if ln.startswith('msgid "') and ln != 'msgid ""']  # fmt: skip
    assert sorted(ln for ln in set(one_line) if one_line.count(ln) > 1) == []
    assert len(one_line) > 500


def test_a_message_the_catalogue_lacks_is_shown_in_english() -> None:
    assert _("Sign out").render("zh-CN") == "退出"
    assert _("Sign out").render("en") == "Sign out"
    missing = Text("not in the catalogue: {n}", n=3)
    assert missing.render("zh-CN") == "not in the catalogue: 3"


def language_of(desk: Desk, accept: str | None = None) -> str:
    headers = {"Accept-Language": accept} if accept else {}
    page = desk.client.get("/", headers=headers)
    assert page.status_code == 200
    found = re.search(r'<html lang="([^"]+)">', page.text)
    assert found
    return found.group(1)


def language_of_login(desk: Desk, accept: str | None = None) -> str:
    headers = {"Accept-Language": accept} if accept else {}
    found = re.search(r'<html lang="([^"]+)">', desk.client.get("/login", headers=headers).text)
    assert found
    return found.group(1)


def test_a_pages_language_switch_then_person_then_browser_then_mandarin(desk: Desk) -> None:
    desk.client.cookies.clear()  # before signing in: the browser's language
    assert language_of_login(desk) == "zh-CN"
    assert language_of_login(desk, "fr-FR,fr;q=0.9") == "zh-CN"
    assert language_of_login(desk, "fr-FR,en;q=0.8,zh;q=0.5") == "en"
    assert language_of_login(desk, "en-US,zh-CN;q=0.9") == "en"
    assert language_of_login(desk, "zh-TW") == "zh-CN"  # no traditional: the default

    desk.sign_in(OFFICER)  # sun.hao: the roster's default language, zh-CN
    assert language_of(desk) == "zh-CN"
    assert language_of(desk, "en") == "zh-CN"  # the person's language beats the browser's
    assert ">当前</a>" in desk.client.get("/").text

    app = desk.app
    users.set_password(app.db, app.roster.current, "tom.baker", PASSWORD, "test", desk.clock.now())
    desk.sign_in("tom.baker")  # language: en in the roster
    assert language_of(desk) == "en"
    assert language_of(desk, "zh-CN") == "en"  # the person's own beats the browser's
    english = desk.client.get("/").text
    assert ">Now</a>" in english and "Sign out" in english

    switched = desk.client.get("/lang/zh-CN?next=/", follow_redirects=False)
    assert (switched.status_code, switched.headers["location"]) == (303, "/")
    assert language_of(desk) == "zh-CN"  # the switch beats the person's
    desk.client.get("/lang/en?next=/")
    assert language_of(desk, "zh-CN") == "en"


def test_the_sign_in_page_follows_the_browser_before_anyone_signs_in(desk: Desk) -> None:
    desk.client.cookies.clear()
    en = desk.client.get("/login", headers={"Accept-Language": "en-GB"}).text
    zh = desk.client.get("/login").text
    assert "Sign in to the duty console" in en
    assert 'lang="zh-CN"' in zh and "Sign in to the duty console" not in zh


def test_a_validation_error_on_a_page_is_in_the_readers_language(desk: Desk) -> None:
    """The password rules (floodwatch.users) refuse in the catalogue's words."""
    desk.sign_in("li.ming")  # the administrator
    assert desk.post("/people/zhou.min/password", password="short") == (
        303, "密码只有 5 个字符，至少需要 8 个"
    )  # fmt: skip
    desk.client.get("/lang/en?next=/")
    assert desk.post("/people/zhou.min/password", password="short") == (
        303, "the password has 5 characters; it needs at least 8"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "错误：未知人员 nobody.here：不在值班名单中"),
        ({"LANG": "C.UTF-8"}, "error: unknown person nobody.here: not in the rosters"),
        ({"LANG": "en_GB.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "错误："),
        ({"LANG": "zh_CN.UTF-8", "LANGUAGE": "fr:en"}, "error: unknown person"),
        ({}, "error: unknown person nobody.here: not in the rosters"),
    ],
    ids=["LANG-zh", "LANG-C", "LC_ALL-beats-LANG", "LANGUAGE-first", "nothing-set"],
)
def test_the_command_lines_language_follows_the_environment(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    config = str(write_config(tmp_path))
    assert fw("db", "upgrade", "--config", config).returncode == 0
    ran = fw("user", "set-password", "nobody.here", "--password-stdin", "--config", config,
             env={**NO_LOCALE, **env})  # fmt: skip
    assert ran.returncode == 1
    assert ran.stderr.strip().splitlines()[-1].startswith(expected), ran.stderr


def test_a_cli_validation_error_is_in_the_command_lines_language(tmp_path: Path) -> None:
    """No password on standard input: refused, in Mandarin under LANG=zh_CN."""
    config = str(write_config(tmp_path))
    assert fw("db", "upgrade", "--config", config).returncode == 0
    args = ("user", "set-password", OFFICER, "--password-stdin", "--config", config)
    zh = fw(*args, env={**NO_LOCALE, "LANG": "zh_CN.UTF-8"})
    en = fw(*args, env={**NO_LOCALE, "LANG": "en_US.UTF-8"})
    assert (zh.returncode, en.returncode) == (1, 1)
    assert zh.stderr.strip().splitlines()[-1] == "错误：" + _("no password given").render("zh-CN")
    assert en.stderr.strip().splitlines()[-1] == "error: no password given"
    assert _("no password given").render("zh-CN") != "no password given"
