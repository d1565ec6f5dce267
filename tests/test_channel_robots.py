"""The WeCom, DingTalk and Feishu robots against local robots that speak their wire formats:
requests, signatures, mentions, every code of each table, the HTTP answers, and digests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from floodwatch.notify.base import Message, Outcome, capabilities_of, limits_of, sender_of
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.common import Rule
from floodwatch.notify.channels.robots import (
    DINGTALK_CODES,
    FEISHU_CODES,
    WECOM_CODES,
    DingTalkNotifier,
    FeishuNotifier,
    WeComNotifier,
    fit,
    mentions_in,
)
from floodwatch.yamlsource import EnvStr

from .harness_channels import (
    DingTalkRobot,
    FeishuRobot,
    Reply,
    Sink,
    WeComRobot,
    build,
    officer,
    page,
)

KEY = "693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa"
TOKEN = "c0ffee" * 8
SECRET = "SEC4f3c0d9e2b1a6f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    try:
        yield s
    finally:
        s.stop()


def wecom(sink: Sink, tmp_path: Path, **options: Any) -> WeComNotifier:
    opts = {"key": EnvStr(KEY), "base_url": sink.url, "group": "防汛值班群", "timeout": "1s"}
    notifier: WeComNotifier = build(WeComNotifier, opts | options, tmp_path)
    return notifier


def dingtalk(sink: Sink, tmp_path: Path, **options: Any) -> DingTalkNotifier:
    opts = {
        "access_token": EnvStr(TOKEN),
        "secret": EnvStr(SECRET),
        "base_url": sink.url,
        "group": "防汛值班群",
        "timeout": "1s",
    }
    notifier: DingTalkNotifier = build(DingTalkNotifier, opts | options, tmp_path)
    return notifier


def feishu(sink: Sink, tmp_path: Path, **options: Any) -> FeishuNotifier:
    opts = {
        "token": EnvStr(TOKEN),
        "secret": EnvStr(SECRET),
        "base_url": sink.url,
        "group": "防汛值班群",
        "timeout": "1s",
    }
    notifier: FeishuNotifier = build(FeishuNotifier, opts | options, tmp_path)
    return notifier


LI_MING = officer(
    phones=("+85291234567", "+8613900000002"),
    chat={
        "wecom": "liming",
        "dingtalk": "0324511",
        "feishu": "ou_7d8a6e6df7621556ce0d21922b676706",
    },
)


# -- addressing ----------------------------------------------------------------------------


def test_a_robot_reaches_everyone_with_an_id_on_its_platform_through_its_group(
    sink: Sink, tmp_path: Path
) -> None:
    for notifier, platform in (
        (wecom(sink, tmp_path), "wecom"),
        (dingtalk(sink, tmp_path), "dingtalk"),
        (feishu(sink, tmp_path), "feishu"),
    ):
        assert notifier.address_for(LI_MING) == f"防汛值班群 @{LI_MING.chat[platform]}"
        assert notifier.address_for(officer(phone="+8613800000001")) is None
        assert notifier.address_for(officer(chat={platform: "has space"})) is None
        assert sender_of(notifier, page("防汛值班群 @x")) == "duty"  # the robot is the sender


def test_mentions_by_mobile_use_the_first_mainland_mobile_or_fall_back_to_the_id(
    sink: Sink, tmp_path: Path
) -> None:
    notifier = wecom(sink, tmp_path, mention="mobile")
    assert notifier.address_for(LI_MING) == "防汛值班群 @+8613900000002"
    hk_only = officer(phone="+85291234567", chat={"wecom": "liming"})
    assert notifier.address_for(hk_only) == "防汛值班群 @liming"


def test_the_group_defaults_to_the_notifiers_name(sink: Sink, tmp_path: Path) -> None:
    notifier = build(WeComNotifier, {"key": EnvStr(KEY)}, tmp_path, name="duty-room")
    assert notifier.address_for(LI_MING) == "duty-room @liming"


# -- requests ------------------------------------------------------------------------------


def test_wecom_posts_text_with_its_mentions(sink: Sink, tmp_path: Path) -> None:
    robot = WeComRobot(sink, key=KEY)
    by_id = wecom(sink, tmp_path).send(page("防汛值班群 @liming"))
    by_mobile = wecom(sink, tmp_path).send(page("防汛值班群 @+8613900000002"))
    assert by_id.outcome is by_mobile.outcome is Outcome.DELIVERED, (by_id, by_mobile)
    first, second = robot.posted
    assert first == {
        "content": "【橙色预警】青溪水库 水位 152.30 m\n青溪水库水位超警戒水位 0.80 米，"
        "仍在上涨。\n请立即到岗。回复 1 确认。",
        "mentioned_list": ["liming"],
    }
    assert second["mentioned_mobile_list"] == ["13900000002"] and "mentioned_list" not in second
    (request, _) = sink.requests
    assert request.path == "/cgi-bin/webhook/send" and request.query == {"key": KEY}
    assert request.json()["msgtype"] == "text"


def test_dingtalk_signs_the_url_and_puts_the_mention_in_the_text(
    sink: Sink, tmp_path: Path
) -> None:
    robot = DingTalkRobot(sink, token=TOKEN, secret=SECRET)
    result = dingtalk(sink, tmp_path).send(page("防汛值班群 @+8613900000002"))
    assert result.outcome is Outcome.DELIVERED, result
    (request,) = sink.requests
    stamp = request.query["timestamp"]  # the real time, in milliseconds (the platform's clock)
    assert abs(int(stamp) / 1000 - time.time()) < 60
    digest = hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert request.query == {
        "access_token": TOKEN,
        "timestamp": stamp,
        "sign": base64.b64encode(digest).decode(),
    }
    assert "%2B" in request.raw_path or "+" not in base64.b64encode(digest).decode()
    body = robot.posted[0]
    assert body["text"]["content"].endswith("回复 1 确认。\n@13900000002")
    assert body["at"] == {"atMobiles": ["13900000002"], "atUserIds": [], "isAtAll": False}


def test_dingtalk_without_a_secret_sends_no_signature(sink: Sink, tmp_path: Path) -> None:
    robot = DingTalkRobot(sink, token=TOKEN)
    notifier = build(
        DingTalkNotifier, {"access_token": EnvStr(TOKEN), "base_url": sink.url}, tmp_path
    )
    assert notifier.send(page("duty @0324511")).outcome is Outcome.DELIVERED
    assert sink.requests[0].query == {"access_token": TOKEN}
    assert robot.posted[0]["at"]["atUserIds"] == ["0324511"]


def test_feishu_signs_the_body_and_mentions_with_an_at_tag(sink: Sink, tmp_path: Path) -> None:
    robot = FeishuRobot(sink, token=TOKEN, secret=SECRET)
    result = feishu(sink, tmp_path).send(page("防汛值班群 @ou_7d8a6e6df7621556ce0d21922b676706"))
    assert result.outcome is Outcome.DELIVERED, result
    (request,) = sink.requests
    assert request.path == f"/open-apis/bot/v2/hook/{TOKEN}"
    body = request.json()
    stamp = body["timestamp"]  # the real time, in seconds (the platform's clock)
    assert abs(int(stamp) - time.time()) < 60
    key = f"{stamp}\n{SECRET}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "text"
    assert robot.posted[0]["content"]["text"].endswith(
        '确认。\n<at user_id="ou_7d8a6e6df7621556ce0d21922b676706"></at>'
    )


@pytest.mark.parametrize("make", [wecom, dingtalk, feishu])
def test_a_signature_from_a_stale_clock_is_refused_by_the_robot(
    sink: Sink, tmp_path: Path, make: Any
) -> None:
    """The robots check the timestamp against their own time: an hour off is refused."""
    from datetime import timedelta

    later = lambda: datetime.now(UTC) + timedelta(hours=2)  # noqa: E731
    DingTalkRobot(sink, token=TOKEN, secret=SECRET, now=later)
    FeishuRobot(sink, token=TOKEN, secret=SECRET, now=later)
    WeComRobot(sink, key=KEY)
    result = make(sink, tmp_path).send(page("防汛值班群 @x"))
    if make is wecom:  # WeCom robots do not sign
        assert result.outcome is Outcome.DELIVERED
    else:
        assert result.outcome is Outcome.PERMANENT
        assert "timestamp" in result.detail


def test_a_page_longer_than_the_platform_takes_is_cut_not_refused(
    sink: Sink, tmp_path: Path
) -> None:
    robot = WeComRobot(sink, key=KEY)
    long = page("防汛值班群 @liming", body="水位持续上涨。" * 400)
    assert wecom(sink, tmp_path).send(long).outcome is Outcome.DELIVERED
    content = robot.posted[0]["content"]
    assert len(content.encode()) <= 2048 and content.endswith("…")


def test_fit_cuts_at_a_character_boundary() -> None:
    assert fit("abc", 3) == "abc"
    cut = fit("水位上涨" * 10, 10)  # 3 bytes each: 2 characters and the ellipsis fit
    assert cut == "水位…" and len(cut.encode()) <= 10


# -- every code of each table ------------------------------------------------------------

TABLES = [
    ("wecom", WECOM_CODES, wecom, "errcode", "errmsg"),
    ("dingtalk", DINGTALK_CODES, dingtalk, "errcode", "errmsg"),
    ("feishu", FEISHU_CODES, feishu, "code", "msg"),
]
CASES = [
    pytest.param(make, code_field, msg_field, rule, id=f"{name}-{rule.code}-{rule.contains or ''}")
    for name, table, make, code_field, msg_field in TABLES
    for rule in table
]


@pytest.mark.parametrize(("make", "code_field", "msg_field", "rule"), CASES)
def test_every_code_in_the_table_becomes_its_outcome(
    sink: Sink, tmp_path: Path, make: Any, code_field: str, msg_field: str, rule: Rule
) -> None:
    said = f"robot says {rule.contains or 'no'} to this"
    sink.handlers["/"] = lambda r: Reply.of({code_field: int(rule.code), msg_field: said})
    result = make(sink, tmp_path).send(page("防汛值班群 @x"))
    assert (result.outcome, result.retry_after) == (rule.outcome, rule.retry_after), result
    assert result.provider_code == rule.code
    assert said in result.detail and rule.meaning in result.detail


def test_the_tables_hold_the_codes_the_issue_names() -> None:
    def outcome(table: tuple[Rule, ...], code: str, msg: str = "") -> tuple[Outcome, float | None]:
        rule = next(r for r in table if r.matches(code, msg))
        return rule.outcome, rule.retry_after

    assert outcome(DINGTALK_CODES, "130101") == (Outcome.RETRYABLE, 600)
    assert outcome(DINGTALK_CODES, "310000", "sign not match")[0] is Outcome.PERMANENT
    assert outcome(WECOM_CODES, "45009") == (Outcome.RETRYABLE, 60)
    assert outcome(WECOM_CODES, "93000")[0] is Outcome.PERMANENT
    assert outcome(FEISHU_CODES, "9499", "too many request")[0] is Outcome.RETRYABLE
    assert outcome(FEISHU_CODES, "9499", "Bad Request")[0] is Outcome.PERMANENT
    assert outcome(FEISHU_CODES, "11232")[0] is Outcome.RETRYABLE
    assert outcome(FEISHU_CODES, "19021")[0] is Outcome.PERMANENT


@pytest.mark.parametrize("make", [wecom, dingtalk, feishu])
def test_a_code_no_table_knows_is_permanent_and_said_so(
    sink: Sink, tmp_path: Path, make: Any
) -> None:
    field = "code" if make is feishu else "errcode"
    sink.handlers["/"] = lambda r: Reply.of({field: 777001, "errmsg": "new", "msg": "new"})
    result = make(sink, tmp_path).send(page("防汛值班群 @x"))
    assert result.outcome is Outcome.PERMANENT and "does not know" in result.detail


@pytest.mark.parametrize("make", [wecom, dingtalk, feishu])
@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(200, b"<html>portal</html>", "text/html"), Outcome.UNKNOWN),
        (Reply.of({"ok": True}), Outcome.UNKNOWN),
        (Reply.of({"errcode": "0", "code": "0"}), Outcome.UNKNOWN),
        (Reply(500, b"oops", "text/plain"), Outcome.UNKNOWN),
        (Reply(502, b"", "text/plain"), Outcome.UNKNOWN),
        (Reply(429, b"", "text/plain", {"Retry-After": "7"}), Outcome.RETRYABLE),
        (Reply(503, b"", "text/plain"), Outcome.RETRYABLE),
        (Reply(404, b"", "text/plain"), Outcome.PERMANENT),
    ],
    ids=["html", "no-code", "code-as-text", "500", "502", "429", "503", "404"],
)
def test_http_200_alone_is_never_success(
    sink: Sink, tmp_path: Path, make: Any, reply: Reply, outcome: Outcome
) -> None:
    sink.handlers["/"] = lambda r: reply
    result = make(sink, tmp_path).send(page("防汛值班群 @x"))
    assert result.outcome is outcome, result
    if reply.status == 429:
        assert result.retry_after == 7


def test_dingtalk_blocks_for_ten_minutes_after_twenty_a_minute(sink: Sink, tmp_path: Path) -> None:
    robot = DingTalkRobot(sink, token=TOKEN, secret=SECRET)
    notifier = dingtalk(sink, tmp_path)
    results = [notifier.send(page("防汛值班群 @x", key=f"k{i}")) for i in range(21)]
    assert all(r.outcome is Outcome.DELIVERED for r in results[:20])
    assert (results[20].outcome, results[20].retry_after) == (Outcome.RETRYABLE, 600)
    assert results[20].provider_code == "130101" and len(robot.posted) == 20
    # the lane keeps below it: 20 in any 60 s (a bucket of 20 a minute would allow a 21st in 3 s)
    assert limits_of(notifier).sender == Limit(rate=20, per=60, window=True)


def test_no_secret_ever_shows_in_an_outcome(tmp_path: Path) -> None:
    gone = Sink()
    url = gone.url
    gone.stop()
    for notifier in (wecom(gone, tmp_path), dingtalk(gone, tmp_path), feishu(gone, tmp_path)):
        result = notifier.send(page("防汛值班群 @x"))
        assert result.outcome is Outcome.RETRYABLE, result
        assert TOKEN not in result.detail and KEY not in result.detail and url not in result.detail


def test_capabilities_and_limits() -> None:
    assert capabilities_of(WeComNotifier).max_text == 682  # 2048 bytes of UTF-8
    assert capabilities_of(DingTalkNotifier).max_text == 6666
    assert capabilities_of(FeishuNotifier).max_text == 6000
    for cls in (WeComNotifier, DingTalkNotifier, FeishuNotifier):
        caps = capabilities_of(cls)
        assert not caps.resend_safe and not caps.acknowledges and caps.concurrency == 1
    twenty = Limit(rate=20, per=60, window=True)  # in any 60 s
    assert limits_of(WeComNotifier).sender == limits_of(DingTalkNotifier).sender == twenty
    assert limits_of(FeishuNotifier).sender == Limit(rate=100, per=60, burst=5)


# -- digests -------------------------------------------------------------------------------


def pages(n: int, **fields: Any) -> list[Message]:
    return [
        page(
            f"防汛值班群 @{'liming' if i % 2 else 'wangfang'}",
            key=f"page-{i}-k",
            page_id=i,
            subject=f"【红色预警】站点{i} 水位 {150 + i}.00 m",
            body=f"第 {i} 站水位超保证水位，仍在上涨。\n请立即组织转移。",
            **fields,
        )
        for i in range(1, n + 1)
    ]


def test_fold_makes_one_digest_of_every_page_when_they_fit(sink: Sink, tmp_path: Path) -> None:
    notifier = dingtalk(sink, tmp_path)
    digest = notifier.fold(pages(3))
    assert digest.subject == "【汇总】共 3 条消息"
    assert digest.body.splitlines() == [
        "1. 【红色预警】站点1 水位 151.00 m — 第 1 站水位超保证水位，仍在上涨。",
        "2. 【红色预警】站点2 水位 152.00 m — 第 2 站水位超保证水位，仍在上涨。",
        "3. 【红色预警】站点3 水位 153.00 m — 第 3 站水位超保证水位，仍在上涨。",
    ]
    assert mentions_in(digest.address) == ["liming", "wangfang"]  # in order, once each
    assert digest.address == "防汛值班群 @liming @wangfang"
    assert (digest.page_id, digest.alert_id, digest.language) == (1, 12, "zh-CN")
    assert digest.person == "wang.fang"


def test_the_digest_key_is_derived_from_the_folded_keys(sink: Sink, tmp_path: Path) -> None:
    notifier = wecom(sink, tmp_path)
    three = pages(3)
    key = notifier.fold(three).idempotency_key
    assert key.startswith("fold-") and key == notifier.fold(three[::-1]).idempotency_key
    assert key != notifier.fold(three[:2]).idempotency_key
    renamed = [*three[:2], page("防汛值班群 @x", key="page-3-other")]
    assert key != notifier.fold(renamed).idempotency_key


def test_a_digest_of_many_pages_fits_wecoms_2048_bytes_and_says_how_many_more(
    sink: Sink, tmp_path: Path
) -> None:
    robot = WeComRobot(sink, key=KEY)
    robot.per_minute = 1000
    notifier = wecom(sink, tmp_path)
    digest = notifier.fold(pages(40))
    lines = digest.body.splitlines()
    listed = [line for line in lines if line[0].isdigit()]
    assert 3 <= len(listed) < 40
    assert lines[-1] == f"……另有 {40 - len(listed)} 条"
    assert all(len(line) <= 80 for line in listed)
    assert notifier.send(digest).outcome is Outcome.DELIVERED
    content = robot.posted[0]["content"]
    assert len(content.encode()) <= 2048 and not content.endswith("…")
    assert robot.posted[0]["mentioned_list"] == ["liming", "wangfang"]


def test_a_digest_in_english_and_alerts_that_differ(sink: Sink, tmp_path: Path) -> None:
    notifier = feishu(sink, tmp_path)
    folded = pages(2, language="en")
    folded[1] = page(
        "防汛值班群 @liming", key="other", alert_id=13, language="en", person="li.ming"
    )
    digest = notifier.fold(folded)
    assert digest.subject == "2 pages" and digest.alert_id is None
    assert digest.person == "wang.fang,li.ming"


def test_a_dingtalk_digest_mentions_everyone_in_its_text(sink: Sink, tmp_path: Path) -> None:
    robot = DingTalkRobot(sink, token=TOKEN, secret=SECRET)
    notifier = dingtalk(sink, tmp_path)
    assert notifier.send(notifier.fold(pages(4))).outcome is Outcome.DELIVERED
    posted = robot.posted[0]
    assert posted["text"]["content"].splitlines()[-1] == "@liming @wangfang"
    assert posted["at"]["atUserIds"] == ["liming", "wangfang"]


def test_fold_of_one_page_and_of_none(sink: Sink, tmp_path: Path) -> None:
    notifier = wecom(sink, tmp_path)
    one = notifier.fold(pages(1))
    assert one.subject == "【汇总】共 1 条消息" and len(one.body.splitlines()) == 1
    with pytest.raises(ValueError, match="at least one page"):
        notifier.fold([])


# -- options --------------------------------------------------------------------------------

SECRETS = [
    (WeComNotifier, "key", {}),
    (DingTalkNotifier, "access_token", {}),
    (DingTalkNotifier, "secret", {"access_token": EnvStr(TOKEN)}),
    (FeishuNotifier, "token", {}),
    (FeishuNotifier, "secret", {"token": EnvStr(TOKEN)}),
]


@pytest.mark.parametrize(("cls", "option", "rest"), SECRETS)
def test_a_secret_written_in_the_config_is_refused(
    cls: Any, option: str, rest: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="secrets come from the environment"):
        cls.Options.model_validate(rest | {option: "written-in-yaml"})
    parsed = cls.Options.model_validate(rest | {option: EnvStr("from-env-1234")})
    assert "from-env-1234" not in repr(parsed)


@pytest.mark.parametrize(("cls", "option", "rest"), SECRETS)
def test_a_secret_from_a_file_is_used(
    sink: Sink, tmp_path: Path, cls: Any, option: str, rest: dict[str, Any]
) -> None:
    value = SECRET if option == "secret" else (KEY if cls is WeComNotifier else TOKEN)
    (tmp_path / "s").write_text(value + "\n", encoding="utf-8")
    WeComRobot(sink, key=KEY)
    DingTalkRobot(sink, token=TOKEN, secret=SECRET if option == "secret" else None)
    FeishuRobot(sink, token=TOKEN, secret=SECRET if option == "secret" else None)
    notifier = build(cls, rest | {f"{option}_file": "s", "base_url": sink.url}, tmp_path)
    assert notifier.send(page("duty @x")).outcome is Outcome.DELIVERED


@pytest.mark.parametrize(
    ("cls", "options", "words"),
    [
        (WeComNotifier, {}, "key is required"),
        (DingTalkNotifier, {}, "access_token is required"),
        (FeishuNotifier, {"secret": EnvStr("s")}, "token is required"),
        (WeComNotifier, {"key": EnvStr("k"), "key_file": "f"}, "not both"),
        (WeComNotifier, {"key": EnvStr("k"), "group": "a @b"}, "pattern"),
        (WeComNotifier, {"key": EnvStr("k"), "mention": "phone"}, "'id' or 'mobile'"),
        (FeishuNotifier, {"token": EnvStr("t"), "mention": "mobile"}, "Extra inputs"),
        (
            DingTalkNotifier,
            {"access_token": EnvStr("t"), "base_url": "oapi.dingtalk.com"},
            "pattern",
        ),
    ],
)
def test_options_refuse_what_cannot_work(cls: Any, options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        cls.Options.model_validate(options)


@pytest.mark.parametrize("make", [wecom, dingtalk, feishu])
def test_a_secret_echoed_by_the_platform_is_redacted(sink: Sink, tmp_path: Path, make: Any) -> None:
    field = ("code", "msg") if make is feishu else ("errcode", "errmsg")
    echoed = f"invalid webhook url {KEY} {TOKEN} {SECRET} for 13800000001"
    sink.handlers["/"] = lambda r: Reply.of({field[0]: 93000, field[1]: echoed})
    result = make(sink, tmp_path).send(page("防汛值班群 @x"))
    assert result.outcome is Outcome.PERMANENT
    own = {wecom: (KEY,), dingtalk: (TOKEN, SECRET), feishu: (TOKEN, SECRET)}[make]
    for secret in (*own, "13800000001"):
        assert secret not in result.detail
    assert "***" in result.detail and "+86138****0001" in result.detail
