"""The paging commands: plugins with their options, send-test, user token; phone numbers masked
in log lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from floodwatch import logmask, tokens
from floodwatch.app import build_app

from .helpers import fw, pages_in, write_config


def test_plugins_lists_every_channel_with_its_options() -> None:
    out = json.loads(fw("plugins", "--json").stdout)
    jsonl = out["floodwatch.notifiers"]["jsonl"]
    assert jsonl["options"]["path"] == {
        "type": "str", "required": True, "default": None, "description": "",
    }  # fmt: skip
    assert out["floodwatch.feeds"]["csv"]["origin"].startswith("floodwatch.feeds.csv:CsvFeed")
    text = fw("plugins").stdout
    assert "  jsonl " in text and "      path: str (required)" in text


def test_send_test_pages_a_person_on_one_channel_and_says_what_became_of_it(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    result = fw("send-test", "--channel", "file", "--to", "tom.baker", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "file -> tom.baker (tom.baker): delivered"
    [page] = pages_in(tmp_path / "pages.jsonl")
    assert page["subject"] == "[Test] floodwatch" and "Nothing to do." in page["body"]
    assert page["key"].startswith("test:") and page["page"] == 0


def test_send_test_failures_are_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    config = write_config(tmp_path, notifiers=[{"name": "file", "type": "jsonl",
                                                "path": str(tmp_path / "dir")}])  # fmt: skip
    failed = fw("send-test", "--channel", "file", "--to", "li.ming", "--config", str(config))
    assert failed.returncode == 1
    assert failed.stdout.startswith("file -> li.ming (li.ming): retryable: ")
    unknown = fw("send-test", "--channel", "sms", "--to", "li.ming", "--config", str(config))
    assert unknown.returncode == 2 and "no notifier named 'sms' (notifiers: file)" in unknown.stderr
    nobody = fw("send-test", "--channel", "file", "--to", "nobody", "--config", str(config))
    assert nobody.returncode == 1 and "unknown person 'nobody'" in nobody.stderr


def test_user_token_issues_a_working_token_once(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert fw("user", "token", "li.ming", "--config", str(config)).returncode == 1  # no db yet
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    first = fw("user", "token", "li.ming", "--config", str(config)).stdout.strip()
    second = fw("user", "token", "li.ming", "--config", str(config)).stdout.strip()
    app = build_app(config)
    assert tokens.person_for(app.db, second) == "li.ming"
    assert tokens.person_for(app.db, first) is None  # the earlier token stopped working
    assert fw("user", "token", "nobody", "--config", str(config)).returncode == 1


def test_phone_numbers_are_masked_in_every_log_line(caplog: object) -> None:
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "calling %s and %s",
        ("+8613800000001", "+447700900123"),
        None,
    )
    logmask.MaskPhones().filter(record)
    assert record.getMessage() == "calling +86138****0001 and +44770***0123"
    assert logmask.mask("no numbers here") == "no numbers here"
