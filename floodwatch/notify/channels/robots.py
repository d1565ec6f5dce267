"""Group robots: WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书) custom robots.

A robot posts into one group chat. It reaches everyone in the group, so it reaches a person by
@-mentioning them: `address_for` gives the group and the mention (``防汛值班群 @wangfang``, or
``防汛值班群 @+8613800000001`` where mentions are by mobile number) for every person who has
an id on that platform (``chat: {wecom: wangfang}`` in the roster), and None for the others.

Success is the platform's own code 0 in the answer (`errcode` for WeCom and DingTalk, `code`
for Feishu), never HTTP 200 alone; every other code is turned into an outcome by the
platform's table below. A robot may post about 20 messages a minute (DingTalk then blocks it
for ten minutes); pages queued beyond that are folded into one digest (`fold`) by the lane.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from floodwatch.clock import SystemClock
from floodwatch.notify.base import (
    Capabilities,
    DeliveryResult,
    Message,
    Outcome,
    RateLimits,
)
from floodwatch.notify.buckets import Limit
from floodwatch.notify.channels.common import (
    DEFAULT_TIMEOUT,
    HttpPoster,
    Rule,
    Timeout,
    given,
    http_outcome,
    judge,
    mainland_mobile,
    national,
    read_secret,
    secret_pair,
)
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person
from floodwatch.yamlsource import Secret

log = logging.getLogger(__name__)

R, P, U = Outcome.RETRYABLE, Outcome.PERMANENT, Outcome.UNKNOWN

WECOM_CODES: tuple[Rule, ...] = (
    Rule("-1", R, "WeCom is busy: try again"),
    Rule("45009", R, "more than 20 messages a minute from this robot", 60),
    Rule("93000", P, "the robot's key is wrong, or the robot was removed from its group"),
    Rule("93004", P, "the robot has been disabled"),
    Rule("40008", P, "WeCom refused the message type"),
    Rule("44004", P, "the text is empty"),
    Rule("45002", P, "the text is longer than WeCom allows"),
)
"""WeCom's `errcode` values (its global error codes; the robot's limit is 20 a minute)."""

DINGTALK_CODES: tuple[Rule, ...] = (
    Rule("-1", R, "DingTalk is busy: try again"),
    Rule("130101", R, "more than 20 a minute: DingTalk blocks the robot for 10 minutes", 600),
    Rule("410100", R, "sending too fast: DingTalk throttles the robot", 600),
    Rule("310000", P, "refused by the robot's security settings: signature, keyword, IP or clock"),
    Rule("300001", P, "no robot has this access_token (deleted, or the token is wrong)"),
    Rule("400013", P, "the robot's group has been dissolved"),
)
"""DingTalk's `errcode` values."""

FEISHU_CODES: tuple[Rule, ...] = (
    Rule("9499", R, "Feishu is limiting this robot's rate", 1, contains="too many"),
    Rule("9499", P, "Feishu refused the request (Bad Request)"),
    Rule("11232", R, "Feishu's flow control (busiest on the hour and half hour)", 60),
    Rule("19001", P, "the robot's webhook token is wrong"),
    Rule("19021", P, "the signature does not match, or this server's clock is an hour off"),
    Rule("19022", P, "this server's address is not in the robot's IP allow-list"),
    Rule("19024", P, "the robot's keyword is not in the text"),
    Rule("2200", U, "Feishu had an internal error: the message may have been posted"),
)
"""Feishu's `code` values (9499 is both its rate limit and its Bad Request: told by words)."""

Mention = Literal["id", "mobile"]
_FOLD_LINE = 80  # characters of one page in a digest: its subject and the first line of text


class RobotOptions(BaseModel):
    """What every robot accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"^[^@\s][^@]*$",
        description="the group's name in addresses and logs (default: the notifier's name)",
    )
    timeout: Timeout = DEFAULT_TIMEOUT


class _Robot:
    """One platform's robot; the subclasses say its URL, body, signature and table."""

    platform: ClassVar[str]  # its key in a person's `chat`
    provider: ClassVar[str]
    text_bytes: ClassVar[int]  # the most UTF-8 bytes of text the platform takes
    table: ClassVar[tuple[Rule, ...]]
    code_fields: ClassVar[tuple[str, str]] = ("errcode", "errmsg")
    # 20 in any minute: a 21st within the minute is refused (DingTalk: the robot for 10 minutes)
    limits: ClassVar[RateLimits] = RateLimits(sender=Limit(rate=20, per=60, window=True))

    def __init__(
        self,
        name: str,
        context: PluginContext,
        options: RobotOptions,
        mention: Mention,
        secrets: Sequence[SecretStr | None],
    ) -> None:
        self.name = name
        self.group = options.group or name
        self._mention = mention
        # the platform checks the signature's timestamp against its own clock: the real time,
        # whatever clock floodwatch runs on (a demo clock reads 2018)
        self._wall = SystemClock()
        shown = [s.get_secret_value() for s in secrets if s is not None]
        self._poster = HttpPoster(options.timeout, shown)

    # -- addressing ----------------------------------------------------------------------
    def address_for(self, person: Person) -> str | None:
        chat_id = person.chat.get(self.platform)
        if not chat_id or any(c.isspace() for c in chat_id):
            return None
        mobile = mainland_mobile(person) if self._mention == "mobile" else None
        return f"{self.group} @{mobile or chat_id}"

    def sender_for(self, message: Message) -> str:
        """Every page goes out through the one robot: its limits are per robot."""
        return self.name

    # -- sending -------------------------------------------------------------------------
    def send(self, message: Message) -> DeliveryResult:
        text = f"{message.subject}\n{message.body}" if message.body else message.subject
        mentions = mentions_in(message.address)
        now = self._wall.now()
        text = fit(text, self.text_bytes - len(self.content("", mentions).encode("utf-8")))
        url, payload = self.request(self.content(text, mentions), mentions, now)
        raw = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        answer = self._poster.post(url, raw, headers, resend_safe=False)
        if isinstance(answer, DeliveryResult):
            return answer
        judged = http_outcome(answer, provider=self.provider, now=now, resend_safe=False)
        if judged is not None:
            return judged
        try:
            data = json.loads(answer.body)
        except ValueError:
            return self._poster.result(
                Outcome.UNKNOWN,
                f"{self.provider} answered HTTP {answer.status} with something that is not "
                "JSON (a proxy's page?): the message may have been posted",
            )
        code_field, message_field = self.code_fields
        code = data.get(code_field) if isinstance(data, dict) else None
        if isinstance(data, dict) and code is None and "StatusCode" in data:
            code, message_field = data.get("StatusCode"), "StatusMessage"  # Feishu's old form
        if not isinstance(code, int) or isinstance(code, bool):
            return self._poster.result(
                Outcome.UNKNOWN,
                f"{self.provider} answered without a {code_field}: the message may have been "
                "posted",
            )
        if code == 0:
            return DeliveryResult(
                Outcome.DELIVERED, f"{self.provider} {code_field} 0", provider_code="0"
            )
        said = str(data.get(message_field, ""))
        return self._poster.clean(
            judge(self.table, str(code), said, provider=self.provider, unmapped=Outcome.PERMANENT)
        )

    def content(self, text: str, mentions: Sequence[str]) -> str:
        """The text as posted (with the mentions where the platform wants them in it)."""
        return text

    def request(
        self, content: str, mentions: Sequence[str], now: datetime
    ) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    # -- digests -------------------------------------------------------------------------
    def fold(self, messages: Sequence[Message]) -> Message:
        """One digest of several pages queued for this robot: a count line, then each page's
        subject and first line, as many as the platform's text limit holds (and how many
        more there were). Its key is derived from the folded pages' keys (in any order); it
        mentions everyone they mention; its `person` is their people's ids joined by commas,
        its `page_id` the first page's, its `alert_id` theirs when they share one."""
        if not messages:
            raise ValueError("fold needs at least one page")
        first = messages[0]
        chinese = first.language.lower().startswith("zh")
        head = f"【汇总】共 {len(messages)} 条消息" if chinese else f"{len(messages)} pages"
        mentions = list(dict.fromkeys(m for msg in messages for m in mentions_in(msg.address)))
        budget = self.text_bytes - len(self.content(head + "\n", mentions).encode("utf-8"))
        lines: list[str] = []
        for i, msg in enumerate(messages, 1):
            line_one = next(iter(msg.body.splitlines()), "")
            line = f"{i}. {msg.subject}" + (f" — {line_one}" if line_one else "")
            if len(line) > _FOLD_LINE:
                line = line[: _FOLD_LINE - 1] + "…"
            rest = len(messages) - i
            more = (f"……另有 {rest} 条" if chinese else f"... and {rest} more") if rest else ""
            if _size([*lines, line, more]) > budget:
                left = len(messages) - len(lines)
                lines.append(f"……另有 {left} 条" if chinese else f"... and {left} more")
                break
            lines.append(line)
        keys = "\n".join(sorted(m.idempotency_key for m in messages))
        alerts = {m.alert_id for m in messages}
        return Message(
            page_id=first.page_id,
            idempotency_key="fold-" + hashlib.sha256(keys.encode("utf-8")).hexdigest()[:32],
            person=",".join(dict.fromkeys(m.person for m in messages)),
            address=" ".join([self.group, *(f"@{m}" for m in mentions)]),
            language=first.language,
            subject=head,
            body="\n".join(lines),
            alert_id=alerts.pop() if len(alerts) == 1 else None,
        )


def _size(lines: Sequence[str]) -> int:
    return len("\n".join(line for line in lines if line).encode("utf-8"))


def mentions_in(address: str) -> list[str]:
    """``防汛值班群 @wangfang @+8613800000001`` -> ``["wangfang", "+8613800000001"]``."""
    return [part for part in address.split(" @")[1:] if part]


def fit(text: str, most_bytes: int) -> str:
    """`text`, cut with "…" if its UTF-8 form is longer than `most_bytes` (never mid-character):
    a flood page delivered cut is better than one refused for its length."""
    data = text.encode("utf-8")
    if len(data) <= most_bytes:
        return text
    return data[: max(0, most_bytes - 3)].decode("utf-8", "ignore") + "…"


def _hmac_base64(key: str, message: str) -> str:
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


# --------------------------------------------------------------------------------------------


class WeComNotifier(_Robot):
    """A WeCom group robot (群机器人): ``POST {base_url}/cgi-bin/webhook/send?key=KEY``."""

    platform, provider, text_bytes, table = "wecom", "WeCom", 2048, WECOM_CODES
    capabilities = Capabilities(max_text=2048 // 3, resend_safe=False, concurrency=1)

    class Options(RobotOptions):
        key: Secret | None = Field(default=None, description="the key in the robot's webhook URL")
        key_file: str | None = Field(default=None, description="a file holding the key")
        base_url: str = Field(default="https://qyapi.weixin.qq.com", pattern=r"^https?://[^?#]+$")
        mention: Mention = Field(
            default="id", description="mention people by WeCom user id, or by mobile number"
        )

        @model_validator(mode="after")
        def _key_once(self) -> WeComNotifier.Options:
            secret_pair(self, "key", required=True)
            return self

    def __init__(self, name: str, options: WeComNotifier.Options, context: PluginContext) -> None:
        key = read_secret(options.key, options.key_file, "key", context)
        super().__init__(name, context, options, options.mention, [key])
        self._key = given(key, "key")
        self._base = options.base_url.rstrip("/")

    def request(
        self, content: str, mentions: Sequence[str], now: datetime
    ) -> tuple[str, dict[str, Any]]:
        text: dict[str, Any] = {"content": content}
        ids = [m for m in mentions if not m.startswith("+")]
        mobiles = [national(m) for m in mentions if m.startswith("+")]
        if ids:
            text["mentioned_list"] = ids
        if mobiles:
            text["mentioned_mobile_list"] = mobiles
        url = f"{self._base}/cgi-bin/webhook/send?key={quote(self._key.get_secret_value())}"
        return url, {"msgtype": "text", "text": text}


class DingTalkNotifier(_Robot):
    """A DingTalk custom robot (自定义机器人): ``POST {base_url}/robot/send?access_token=TOKEN``,
    with ``&timestamp=T&sign=S`` when the robot signs (S: HMAC-SHA256 of ``T\\nsecret`` keyed
    by the secret, base64, URL-encoded; T in milliseconds)."""

    platform, provider, text_bytes, table = "dingtalk", "DingTalk", 20000, DINGTALK_CODES
    capabilities = Capabilities(max_text=20000 // 3, resend_safe=False, concurrency=1)

    class Options(RobotOptions):
        access_token: Secret | None = Field(default=None, description="the robot's access_token")
        access_token_file: str | None = Field(default=None, description="a file holding it")
        secret: Secret | None = Field(default=None, description="the signing secret (SEC...)")
        secret_file: str | None = Field(default=None, description="a file holding it")
        base_url: str = Field(default="https://oapi.dingtalk.com", pattern=r"^https?://[^?#]+$")
        mention: Mention = Field(
            default="id", description="mention people by DingTalk user id, or by mobile number"
        )

        @model_validator(mode="after")
        def _secrets_once(self) -> DingTalkNotifier.Options:
            secret_pair(self, "access_token", required=True)
            secret_pair(self, "secret", required=False)
            return self

    def __init__(
        self, name: str, options: DingTalkNotifier.Options, context: PluginContext
    ) -> None:
        token = read_secret(
            options.access_token, options.access_token_file, "access_token", context
        )
        secret = read_secret(options.secret, options.secret_file, "secret", context)
        super().__init__(name, context, options, options.mention, [token, secret])
        self._token, self._secret = given(token, "access_token"), secret
        self._base = options.base_url.rstrip("/")

    def content(self, text: str, mentions: Sequence[str]) -> str:
        # DingTalk shows a mention only where "@<mobile or id>" stands in the text
        shown = " ".join("@" + (national(m) if m.startswith("+") else m) for m in mentions)
        return f"{text}\n{shown}" if shown else text

    def request(
        self, content: str, mentions: Sequence[str], now: datetime
    ) -> tuple[str, dict[str, Any]]:
        url = f"{self._base}/robot/send?access_token={quote(self._token.get_secret_value())}"
        if self._secret is not None:
            stamp = str(int(now.timestamp() * 1000))
            secret = self._secret.get_secret_value()
            sign = _hmac_base64(secret, stamp + "\n" + secret)
            url += f"&timestamp={stamp}&sign={quote(sign, safe='')}"
        at = {
            "atMobiles": [national(m) for m in mentions if m.startswith("+")],
            "atUserIds": [m for m in mentions if not m.startswith("+")],
            "isAtAll": False,
        }
        return url, {"msgtype": "text", "text": {"content": content}, "at": at}


class FeishuNotifier(_Robot):
    """A Feishu custom robot (自定义机器人): ``POST {base_url}/open-apis/bot/v2/hook/TOKEN``,
    with ``timestamp`` and ``sign`` in the body when the robot signs (sign: HMAC-SHA256 keyed
    by ``T\\nsecret`` over nothing, base64; T in seconds). Feishu takes 100 messages a minute
    and 5 a second per robot, and a body of at most 20 KB."""

    platform, provider, text_bytes, table = "feishu", "Feishu", 18000, FEISHU_CODES
    code_fields = ("code", "msg")
    capabilities = Capabilities(max_text=18000 // 3, resend_safe=False, concurrency=1)
    limits = RateLimits(sender=Limit(rate=100, per=60, burst=5))

    class Options(RobotOptions):
        token: Secret | None = Field(default=None, description="the token ending the hook URL")
        token_file: str | None = Field(default=None, description="a file holding it")
        secret: Secret | None = Field(default=None, description="the signing secret")
        secret_file: str | None = Field(default=None, description="a file holding it")
        base_url: str = Field(default="https://open.feishu.cn", pattern=r"^https?://[^?#]+$")

        @model_validator(mode="after")
        def _secrets_once(self) -> FeishuNotifier.Options:
            secret_pair(self, "token", required=True)
            secret_pair(self, "secret", required=False)
            return self

    def __init__(self, name: str, options: FeishuNotifier.Options, context: PluginContext) -> None:
        token = read_secret(options.token, options.token_file, "token", context)
        secret = read_secret(options.secret, options.secret_file, "secret", context)
        super().__init__(name, context, options, "id", [token, secret])
        self._token, self._secret = given(token, "token"), secret
        self._base = options.base_url.rstrip("/")

    def content(self, text: str, mentions: Sequence[str]) -> str:
        shown = "".join(f'<at user_id="{m}"></at>' for m in mentions)
        return f"{text}\n{shown}" if shown else text

    def request(
        self, content: str, mentions: Sequence[str], now: datetime
    ) -> tuple[str, dict[str, Any]]:
        url = f"{self._base}/open-apis/bot/v2/hook/{quote(self._token.get_secret_value())}"
        body: dict[str, Any] = {}
        if self._secret is not None:
            stamp = str(int(now.timestamp()))
            body["timestamp"] = stamp
            body["sign"] = _hmac_base64(stamp + "\n" + self._secret.get_secret_value(), "")
        body.update({"msg_type": "text", "content": {"text": content}})
        return url, body
