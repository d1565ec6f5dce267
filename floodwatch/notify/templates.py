"""Message texts, Mandarin (zh-CN) by default and English per person.

Alert messages are built from two parts: what was observed (depends on the rule's type: a water
level, a rain sum over a window, a rate of rise, a forecast, silence, an official warning) and
what happened to the alert (opened, raised, escalated, lowered, cleared, retired).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from floodwatch.config import Level

LANGUAGES = ("zh-CN", "en")

_PARAMETER_ZH = {"stage": "水位", "discharge": "流量", "rain": "雨量", "level": "水位"}


@dataclass(frozen=True)
class AlertFacts:
    """What a message says about an alert; times already in the office's zone."""

    alert_id: int
    office: str
    station: str
    parameter: str
    value: float
    unit: str
    level: Level | None
    previous: Level | None
    at: str  # local time, e.g. "2018-05-28 05:30 CST"
    waited_minutes: int = 0
    rule_type: str = "threshold"
    window: str = ""  # rainfall and forecast: the window, e.g. "3h"
    headline: str = ""  # official warnings: the issuer's headline


def _observed(language: str, f: AlertFacts) -> str:
    """What was observed, as a phrase: "Patapsco水位20.63 ft" / "Patapsco stage at 20.63 ft"."""
    value = f"{f.value:g} {f.unit}"
    zh = language == "zh-CN"
    if f.rule_type == "rainfall":
        return (
            f"{f.station}{f.window}累计雨量{value}"
            if zh
            else f"{f.station}: {value} of rain in {f.window}"
        )
    if f.rule_type == "rate_of_rise":
        return f"{f.station}水位上涨{value}" if zh else f"{f.station} rising at {value}"
    if f.rule_type == "forecast":
        return (
            f"{f.station}预报未来{f.window}雨量{value}"
            if zh
            else f"{f.station}: {value} of rain forecast in the next {f.window}"
        )
    if f.rule_type == "official":
        return f.headline or f.station
    what = _PARAMETER_ZH.get(f.parameter, f.parameter) if zh else f.parameter
    return f"{f.station}{what}{value}" if zh else f"{f.station} {what} at {value}"


# (subject, first line) per language and event; the time and alert lines are added to every body
_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "opened": ("【{level_short}预警】{station}", "{observed}，已达{level}预警。"),
        "raised": ("【预警升级】{station}", "{observed}，预警由{previous}升为{level}。"),
        "escalated": (
            "【未确认预警】{station}",
            "{observed}，{level}预警已{waited}分钟无人确认，现通知您。",
        ),
        "lowered": ("【预警降级】{station}", "{observed}，预警由{previous}降为{level}。"),
        "cleared": ("【预警解除】{station}", "{observed}，{previous}预警解除。"),
        "retired": ("【告警关闭】{station}", "该告警的监测配置已删除，告警关闭，不再提醒。"),
    },
    "en": {
        "opened": ("[{level_short} alert] {station}", "{observed}: {level} reached."),
        "raised": ("[Alert raised] {station}", "{observed}: raised from {previous} to {level}."),
        "escalated": (
            "[Unacknowledged alert] {station}",
            "{observed}, {level}: unacknowledged for {waited} min, so you are being paged.",
        ),
        "lowered": ("[Alert lowered] {station}", "{observed}: lowered from {previous} to {level}."),
        "cleared": ("[Alert cleared] {station}", "{observed}: the {previous} alert is cleared."),
        "retired": (
            "[Alert closed] {station}",
            "What this alert watched was removed from the configuration: it is closed.",
        ),
    },
}
# a station gone quiet is about the data, not the water
_SILENCE: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "opened": ("【数据中断】{station}", "{station}已{silent}分钟无数据，请检查测站和通信。"),
        "escalated": (
            "【数据中断·未确认】{station}",
            "{station}已{silent}分钟无数据，{waited}分钟无人确认，现通知您。",
        ),
        "cleared": ("【数据恢复】{station}", "{station}数据已恢复。"),
    },
    "en": {
        "opened": (
            "[No data] {station}",
            "{station} has sent nothing for {silent} min: check the gauge and its link.",
        ),
        "escalated": (
            "[No data, unacknowledged] {station}",
            "{station} has sent nothing for {silent} min; unacknowledged for {waited} min.",
        ),
        "cleared": ("[Data back] {station}", "{station} is reporting again."),
    },
}
_FOOTER = {
    "zh-CN": (
        "时间：{at}",
        "告警 #{alert_id}",
        "请立即确认：floodwatch ack {alert_id} --by 您的编号",
    ),
    "en": (
        "Time: {at}",
        "Alert #{alert_id}",
        "Acknowledge now: floodwatch ack {alert_id} --by <your id>",
    ),
}
_NEEDS_ACK = {"opened", "raised", "escalated"}


def render(message: str, language: str, f: AlertFacts) -> tuple[str, str]:
    """(subject, body) of the alert message `message` (opened, raised, escalated, lowered,
    cleared, retired) in `language` (zh-CN unless "en")."""
    language = language if language in _TEXTS else "zh-CN"
    table = _SILENCE if f.rule_type == "silence" else _TEXTS
    subject, first = table[language].get(message) or _TEXTS[language][message]
    time_line, alert_line, ack_line = _FOOTER[language]
    lines = [first, time_line, alert_line] + ([ack_line] if message in _NEEDS_ACK else [])
    values = _values(language, f)
    body = "\n".join(line.format(**values) for line in lines)
    return subject.format(**values), _signed(language, f.office, body)


def _signed(language: str, office: str, body: str) -> str:
    return f"{office}{'：' if language == 'zh-CN' else ': '}{body}"


def _values(language: str, f: AlertFacts) -> dict[str, object]:
    def level(lv: Level | None) -> str:
        if lv is None:
            return ""
        return (
            f"{lv.name_zh}（{lv.grade}级）"
            if language == "zh-CN"
            else f"{lv.name_en} (level {lv.grade})"
        )

    short = (f.level.name_zh if language == "zh-CN" else f.level.name_en) if f.level else ""
    return {
        "station": f.station,
        "observed": _observed(language, f),
        "level": level(f.level),
        "level_short": short,
        "previous": level(f.previous),
        "waited": f.waited_minutes,
        "silent": int(f.value),
        "at": f.at,
        "alert_id": f.alert_id,
    }


@dataclass(frozen=True)
class DutyFacts:
    """What a duty message (not about one alert) says; times already local."""

    office: str
    at: str
    role: str = ""
    until: str = ""
    names: str = ""  # the other team: who takes over, or who hands over
    open_alerts: Sequence[str] = field(default_factory=tuple)
    lines: Sequence[str] = field(default_factory=tuple)  # gaps, errors


_DUTY: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "handover_in": (
            "【交接班】您已接班",
            "您自{at}起值班（{role}），至{until}。交班人：{names}。",
        ),
        "handover_out": ("【交接班】您已交班", "您的值班（{role}）已于{at}结束，接班人：{names}。"),
        "handover_reminder": ("【值班提醒】", "您将于{at}开始值班（{role}），至{until}。"),
        "coverage_gaps": ("【排班缺口】", "排班表在未来几天有以下缺口，请尽快安排："),
        "roster_rejected": ("【排班表有误】", "修改后的排班表未生效，仍按原排班执行。错误："),
        "unreachable": ("【无法联系】", "以下人员的所有联系方式均未送达，请设法联系："),
        "page_unknown": (
            "【呼叫状态不明】",
            "以下呼叫可能未送达，且该渠道无法安全重发，请核实：",
        ),
        "feed_down": (
            "【数据源中断】",
            "数据源{names}自{at}起不可用，已超过测站的报送间隔。原因：",
        ),
        "database_outage": (
            "【系统故障·直发】数据库中断",
            "floodwatch自{at}起无法连接数据库。读数暂存待写入，告警与呼叫可能延迟。"
            "请立即检查数据库服务器，并留意水情。（本消息未经发件箱直接发送）",
        ),
    },
    "en": {
        "handover_in": (
            "[Handover] You are on duty",
            "You are on duty as {role} from {at} until {until}. Handed over by: {names}.",
        ),
        "handover_out": (
            "[Handover] You are released",
            "Your duty as {role} ended at {at}. Taken over by: {names}.",
        ),
        "handover_reminder": (
            "[Duty reminder]",
            "Reminder: you are on duty as {role} from {at} until {until}.",
        ),
        "coverage_gaps": (
            "[Roster gaps]",
            "The roster leaves these gaps in the coming days; please fill them:",
        ),
        "roster_rejected": (
            "[Roster rejected]",
            "The edited roster did not take effect; the previous one stays in force. Errors:",
        ),
        "unreachable": (
            "[Could not reach]",
            "Every contact of this person failed; please reach them another way:",
        ),
        "page_unknown": (
            "[Page may not have gone out]",
            "This page may or may not have gone out, and its channel cannot resend safely:",
        ),
        "feed_down": (
            "[Feed down]",
            "Feed {names} has failed since {at}, longer than its stations report. Why:",
        ),
        "database_outage": (
            "[System fault, sent directly] Database unreachable",
            "floodwatch cannot reach its database since {at}. Readings are held to be stored; "
            "alerts and pages may be late. Check the database server now and watch the water "
            "yourselves. (Sent directly, outside the outbox.)",
        ),
    },
}
_OPEN_ALERTS = {
    "zh-CN": ("当前未解除告警：", "当前无未解除告警。"),
    "en": ("Open alerts:", "No open alerts."),
}


def render_duty(message: str, language: str, f: DutyFacts) -> tuple[str, str]:
    """(subject, body) for a duty message: a handover, a reminder, roster gaps or errors."""
    language = language if language in _DUTY else "zh-CN"
    subject, first = _DUTY[language][message]
    values = {"at": f.at, "role": f.role, "until": f.until, "names": f.names or "-"}
    lines = [first.format(**values), *f.lines]
    if message == "handover_in":
        some, none = _OPEN_ALERTS[language]
        lines += [some, *f.open_alerts] if f.open_alerts else [none]
    return subject, _signed(language, f.office, "\n".join(lines))


def test_message(language: str, office: str, at: str, channel: str) -> tuple[str, str]:
    """(subject, body) of `floodwatch send-test`: plainly a test, nothing to act on."""
    if language == "en":
        return "[Test] floodwatch", _signed(
            language, office, f"A test page on {channel} at {at}. Nothing to do."
        )
    return "【测试】floodwatch", _signed(
        language, office, f"{at}通过{channel}发送的测试消息，无需处理。"
    )
