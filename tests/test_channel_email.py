"""The e-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS, implicit
TLS and plain SMTP, a login, Chinese text, the Message-ID, and every refusal's outcome."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from floodwatch.errors import FloodwatchError
from floodwatch.notify.base import Outcome
from floodwatch.notify.channels.email import EmailNotifier
from floodwatch.yamlsource import EnvStr

from .harness_channels import MailServer, build, mail_arrival, page, write_certificate

TO = "wang.fang@qingxi.example.cn"
SENDER = "青溪镇防汛办 <fxb@qingxi.example.cn>"


@pytest.fixture
def servers() -> Iterator[list[MailServer]]:
    started: list[MailServer] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[MailServer], tmp_path: Path, **kw: Any) -> MailServer:
    server = MailServer(tmp_path, **kw)
    servers.append(server)
    return server


def mailer(tmp_path: Path, server: MailServer, **options: Any) -> EmailNotifier:
    base = {"host": "127.0.0.1", "port": server.port, "sender": SENDER, "timeout": "2s"}
    notifier: EmailNotifier = build(EmailNotifier, base | options, tmp_path)
    return notifier


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_page_arrives_over_tls_with_a_login_and_chinese_intact(
    servers: list[MailServer], tmp_path: Path, security: str
) -> None:
    server = serve(servers, tmp_path, security=security, login=("duty", "s3cret-pw"))
    notifier = mailer(
        tmp_path,
        server,
        security=security,
        username="duty",
        password=EnvStr("s3cret-pw"),
        ca_file="mail.crt",
    )
    m = page(TO)
    result = notifier.send(m)
    assert result.outcome is Outcome.ACCEPTED and result.provider_code == "250", result
    assert server.logins == ["duty"]
    (mail,) = server.parsed()
    arrival = mail_arrival(mail)
    assert (arrival.subject, arrival.body, arrival.to) == (m.subject, m.body, TO)
    assert str(mail["From"]) == SENDER
    assert mail["Message-ID"] == "<page-7-a1b2c3@qingxi.example.cn>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"] == "Wed, 01 Jul 2026 00:30:00 +0000"  # floodwatch's clock
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    assert server.envelopes == [("fxb@qingxi.example.cn", [TO])]


def test_plain_smtp_without_a_login(servers: list[MailServer], tmp_path: Path) -> None:
    server = serve(servers, tmp_path, security="none")
    result = mailer(tmp_path, server, security="none").send(page(TO))
    assert result.outcome is Outcome.ACCEPTED
    assert mail_arrival(server.parsed()[0]).subject == "【橙色预警】青溪水库 水位 152.30 m"


def test_the_same_page_has_the_same_message_id_and_any_key_makes_a_valid_one(
    servers: list[MailServer], tmp_path: Path
) -> None:
    server = serve(servers, tmp_path, security="none")
    notifier = mailer(tmp_path, server, security="none")
    for key in ("page-7-a1b2c3", "page-7-a1b2c3", "演练 page/7..x"):
        assert notifier.send(page(TO, key=key)).outcome is Outcome.ACCEPTED
    ids = [str(m["Message-ID"]) for m in server.parsed()]
    assert ids[0] == ids[1] != ids[2]
    assert ids[2] == "<%E6%BC%94%E7%BB%83%20page%2F7%2E%2Ex@qingxi.example.cn>"
    assert [mail_arrival(m).key for m in server.parsed()][2] == "演练 page/7..x"


@pytest.mark.parametrize(
    ("mode", "outcome", "words"),
    [
        ("greylist", Outcome.RETRYABLE, "refused the recipient: 451 4.7.1"),
        ("unknown_user", Outcome.PERMANENT, "refused the recipient: 550 5.1.1"),
        ("full", Outcome.RETRYABLE, "refused the message: 452 4.3.1"),
        ("drop", Outcome.RETRYABLE, "closed the connection (before the message was sent)"),
    ],
)
def test_each_refusal_has_its_outcome(
    servers: list[MailServer], tmp_path: Path, mode: str, outcome: Outcome, words: str
) -> None:
    server = serve(servers, tmp_path, security="none")
    server.mode = mode
    result = mailer(tmp_path, server, security="none").send(page(TO))
    assert result.outcome is outcome, result
    assert words in result.detail
    assert server.mails == []


def test_a_wrong_password_is_permanent(servers: list[MailServer], tmp_path: Path) -> None:
    server = serve(servers, tmp_path, security="starttls", login=("duty", "right"))
    notifier = mailer(
        tmp_path, server, username="duty", password=EnvStr("wrong-pw"), ca_file="mail.crt"
    )
    result = notifier.send(page(TO))
    assert result.outcome is Outcome.PERMANENT and result.provider_code == "535", result
    assert result.detail.startswith("the server refused the login: 535")
    assert "wrong-pw" not in result.detail


def test_a_server_whose_certificate_is_not_trusted_is_refused(
    servers: list[MailServer], tmp_path: Path
) -> None:
    server = serve(servers, tmp_path, security="starttls")
    result = mailer(tmp_path, server).send(page(TO))  # no ca_file: the system's roots
    assert result.outcome is Outcome.PERMANENT
    assert "certificate is not trusted" in result.detail and server.mails == []


def test_starttls_missing_from_the_server_is_permanent_not_a_clear_text_send(
    servers: list[MailServer], tmp_path: Path
) -> None:
    server = serve(servers, tmp_path, security="none")
    result = mailer(tmp_path, server, security="starttls").send(page(TO))
    assert result.outcome is Outcome.PERMANENT and "STARTTLS" in result.detail, result
    assert server.mails == []


def test_implicit_tls_against_a_plain_server_is_permanent(
    servers: list[MailServer], tmp_path: Path
) -> None:
    server = serve(servers, tmp_path, security="none")
    write_certificate(tmp_path)
    result = mailer(tmp_path, server, security="ssl", ca_file="mail.crt").send(page(TO))
    assert result.outcome is Outcome.PERMANENT and "TLS failed" in result.detail, result


def test_a_server_that_is_down_is_retryable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notifier = build(
        EmailNotifier,
        {"host": "127.0.0.1", "port": port, "sender": SENDER, "security": "none"},
        tmp_path,
    )
    result = notifier.send(page(TO))
    assert result.outcome is Outcome.RETRYABLE
    assert result.detail == "Connection refused (connecting)"


def test_a_silent_server_after_the_message_is_unknown(
    servers: list[MailServer], tmp_path: Path
) -> None:
    server = serve(servers, tmp_path, security="none")
    server.mode = "stall"
    result = mailer(tmp_path, server, security="none", timeout="1s").send(page(TO))
    assert result.outcome is Outcome.UNKNOWN
    assert "no answer within 1 s while the message was handed over" in result.detail


def test_a_non_ascii_password_is_said_plainly(servers: list[MailServer], tmp_path: Path) -> None:
    server = serve(servers, tmp_path, security="starttls", login=("duty", "x"))
    notifier = mailer(
        tmp_path, server, username="duty", password=EnvStr("密码"), ca_file="mail.crt"
    )
    result = notifier.send(page(TO))
    assert result.outcome is Outcome.PERMANENT and "not ASCII" in result.detail


def test_address_for_is_the_persons_email(tmp_path: Path) -> None:
    from .harness_channels import officer

    notifier = build(EmailNotifier, {"host": "h", "sender": SENDER}, tmp_path)
    assert notifier.address_for(officer(email=TO)) == TO
    assert notifier.address_for(officer(phone="+8613800000001")) is None


# -- options --------------------------------------------------------------------------------

BASE = {"host": "smtp.example.cn", "sender": SENDER}


def test_a_password_written_in_the_config_is_refused() -> None:
    with pytest.raises(ValidationError, match="secrets come from the environment"):
        EmailNotifier.Options.model_validate(BASE | {"username": "duty", "password": "pw"})


def test_a_password_from_a_file_logs_in(servers: list[MailServer], tmp_path: Path) -> None:
    server = serve(servers, tmp_path, security="ssl", login=("duty", "from-file"))
    (tmp_path / "pw").write_text("from-file\n", encoding="utf-8")
    notifier = mailer(
        tmp_path, server, security="ssl", username="duty", password_file="pw", ca_file="mail.crt"
    )
    assert notifier.send(page(TO)).outcome is Outcome.ACCEPTED
    assert server.logins == ["duty"]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"username": "duty"}, "password is required"),
        ({"password": EnvStr("pw")}, "a password needs a username"),
        ({"username": "d", "password": EnvStr("p"), "password_file": "f"}, "not both"),
        ({"username": "d", "password": EnvStr("p"), "security": "none"}, "in clear"),
        ({"sender": "duty office"}, "expected an address"),
        ({"security": "tls"}, "starttls"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"timeout": "0s"}, "longer than 0s"),
        ({"timeout": "1h"}, "at most 5m"),
        ({"pasword": EnvStr("pw")}, "Extra inputs are not permitted"),
    ],
)
def test_options_refuse_what_cannot_work(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        EmailNotifier.Options.model_validate(BASE | options)


def test_the_password_never_shows_in_a_repr() -> None:
    options = EmailNotifier.Options.model_validate(
        BASE | {"username": "duty", "password": EnvStr("hunter2-secret")}
    )
    assert "hunter2-secret" not in repr(options) and "hunter2-secret" not in str(options)


def test_the_default_port_follows_security(tmp_path: Path) -> None:
    for security, port in (("starttls", 587), ("ssl", 465), ("none", 25)):
        notifier = build(EmailNotifier, BASE | {"security": security}, tmp_path)
        assert notifier._port == port


def test_an_unreadable_password_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(FloodwatchError, match="password_file: cannot read"):
        build(EmailNotifier, BASE | {"username": "d", "password_file": "nope"}, tmp_path)
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(FloodwatchError, match="password_file: .*empty is empty"):
        build(EmailNotifier, BASE | {"username": "d", "password_file": "empty"}, tmp_path)


def test_a_ca_file_that_cannot_be_used_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(FloodwatchError, match=r"ca_file: cannot use .*nowhere.pem"):
        build(EmailNotifier, BASE | {"ca_file": "nowhere.pem"}, tmp_path)
    (tmp_path / "junk.pem").write_text("not a certificate", encoding="utf-8")
    with pytest.raises(FloodwatchError, match=r"ca_file: cannot use .*junk.pem"):
        build(EmailNotifier, BASE | {"ca_file": "junk.pem"}, tmp_path)
