"""Message texts, Mandarin (zh-CN) by default and English per person.

Alert messages are built from two parts: what was observed (depends on the rule's type: a water
level, a rain sum over a window, a rate of rise, a forecast, silence, an official warning) and
what happened to the alert (opened, raised, escalated, lowered, cleared, retired).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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
# a handover record waiting for the incoming leader's confirmation (records.handover): the
# alert's acknowledgement is the confirmation
_HANDOVER: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "opened": (
            "【请确认交接班】",
            "请确认交接班：交班人员已填写交接班记录，请接班带班领导确认"
            "（也可执行 floodwatch handover accept --by 您的编号）。",
        ),
        "escalated": (
            "【交接班未确认】",
            "交接班记录已{waited}分钟无人确认，现通知您。请接班带班领导确认交接班。",
        ),
    },
    "en": {
        "opened": (
            "[Confirm the handover]",
            "Please confirm the handover: the outgoing team has written its handover record; "
            "the incoming leader confirms it (or: floodwatch handover accept --by <your id>).",
        ),
        "escalated": (
            "[Handover not confirmed]",
            "The handover record has gone unconfirmed for {waited} min, so you are being paged.",
        ),
    },
}
# a drill's alerts (villages.drills): every message is marked, from its first words
_DRILL: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "opened": (
            "【演练】【{level_short}预警】{station}",
            "演练（非真实预警）：{station}模拟达{level}预警。",
        ),
        "raised": (
            "【演练】【预警升级】{station}",
            "演练（非真实预警）：{station}预警由{previous}升为{level}。",
        ),
        "escalated": (
            "【演练】【未确认预警】{station}",
            "演练（非真实预警）：{station}{level}预警已{waited}分钟无人确认，现通知您。",
        ),
        "lowered": (
            "【演练】【预警降级】{station}",
            "演练（非真实预警）：{station}预警降为{level}。",
        ),
        "cleared": ("【演练】【演练结束】{station}", "演练（非真实预警）：{station}演练结束。"),
        "retired": ("【演练】【演练结束】{station}", "演练（非真实预警）：{station}演练结束。"),
    },
    "en": {
        "opened": (
            "[EXERCISE] [{level_short} alert] {station}",
            "EXERCISE, not a real warning: {station} at {level} (simulated).",
        ),
        "raised": (
            "[EXERCISE] [Alert raised] {station}",
            "EXERCISE, not a real warning: {station} raised from {previous} to {level}.",
        ),
        "escalated": (
            "[EXERCISE] [Unacknowledged alert] {station}",
            "EXERCISE, not a real warning: {station}, {level}: unacknowledged for {waited} min.",
        ),
        "lowered": (
            "[EXERCISE] [Alert lowered] {station}",
            "EXERCISE, not a real warning: {station} lowered to {level}.",
        ),
        "cleared": (
            "[EXERCISE] [Drill over] {station}",
            "EXERCISE: the drill at {station} is over.",
        ),
        "retired": (
            "[EXERCISE] [Drill over] {station}",
            "EXERCISE: the drill at {station} is over.",
        ),
    },
}
# a village warning's round of 叫应 (villages.desk writes its own pages; these are the messages
# the alert lifecycle sends about it: a responsible person asking for the leader at once, and
# the end of a village that left the config)
_VILLAGE: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "escalated": (
            "【叫应·请求支援】{station}",
            "{station}转移预警：村级责任人请求立即通知带班领导，请立即联系该村。",
        ),
        "retired": ("【转移预警关闭】{station}", "该村已从配置中删除，其转移预警关闭，不再提醒。"),
    },
    "en": {
        "escalated": (
            "[Village asks for the leader] {station}",
            "{station} evacuation warning: a responsible person asks for the leader on duty now.",
        ),
        "retired": (
            "[Village warning closed] {station}",
            "The village was removed from the configuration: its warning is closed.",
        ),
    },
}
_BY_RULE_TYPE = {"silence": _SILENCE, "handover": _HANDOVER, "drill": _DRILL, "village": _VILLAGE}
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
    table = _BY_RULE_TYPE.get(f.rule_type, _TEXTS)
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


class Localized(Protocol):
    """A line that says itself in a reader's language (floodwatch.i18n.Text, errors.Problem)."""

    def render(self, language: str) -> str: ...


@dataclass(frozen=True)
class DutyFacts:
    """What a duty message (not about one alert) says; times already local."""

    office: str
    at: str
    role: str = ""
    until: str = ""
    names: str = ""  # the other team: who takes over, or who hands over
    open_alerts: Sequence[str] = field(default_factory=tuple)
    lines: Sequence[str | Localized] = field(default_factory=tuple)  # gaps, errors


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
        "hazard_due": (
            "【隐患整改提醒】",
            "您负责整改的隐患将于{until}到期，请按时整改，完成后报告"
            "（floodwatch hazard done 编号 --by 您的编号 --note 整改情况）：",
        ),
        "hazard_overdue": (
            "【隐患逾期未整改】",
            "以下隐患已于{until}逾期未整改（责任人：{names}），请督促整改：",
        ),
        "daily_report": ("【值班日报】", "{at}值班日报："),
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
        "hazard_due": (
            "[Hazard due]",
            "A hazard you are to rectify is due by {until}; report it done with "
            "floodwatch hazard done ID --by <your id> --note ...:",
        ),
        "hazard_overdue": (
            "[Hazard overdue]",
            "This hazard was due by {until} and is not rectified (owner: {names}):",
        ),
        "daily_report": ("[Daily duty report]", "Daily duty report of {at}:"),
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
    lines = [first.format(**values)]
    lines += [line if isinstance(line, str) else line.render(language) for line in f.lines]
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


# -- villages: the pages of the warning chain and what the loudspeakers say (floodwatch.villages)

_WARNING_ZH = {"prepare": "准备转移", "move_now": "立即转移"}
_WARNING_EN = {"prepare": "Prepare to move", "move_now": "Move now"}
_DRILL_MARK = {"zh-CN": "【演练】", "en": "[EXERCISE] "}
_DRILL_LINE = {"zh-CN": "【演练·非真实预警】", "en": "[EXERCISE, not a real warning] "}


@dataclass(frozen=True)
class VillageFacts:
    """What a village page says; times already local. `cause` says what set the warning:
    {"kind": "level", "station", "value", "unit", "threshold"}, {"kind": "rain", ..., "window"},
    {"kind": "hand", "by"} (a name) or {"kind": "drill"}."""

    office: str
    village_id: str
    village: str  # its name
    warning: str  # prepare | move_now
    at: str
    alert_id: int | None = None
    cause: Mapping[str, Any] = field(default_factory=dict)
    site: str = ""
    groups: str = ""  # its groups' names, e.g. 一组、二组
    households: int = 0
    residents: int = 0
    names: str = ""  # who cleared it
    since: str = ""  # when it was issued
    waited: int = 0  # minutes since the round began
    moved_households: int = 0
    moved_people: int = 0
    lines: Sequence[str] = field(default_factory=tuple)  # those who have not answered
    drill: bool = False


def _cause(language: str, f: VillageFacts) -> str:
    c = f.cause
    zh = language == "zh-CN"
    warning = _WARNING_ZH[f.warning] if zh else _WARNING_EN[f.warning].lower()
    kind = c.get("kind")
    if kind == "level":
        if zh:
            return (f"{c['station']}水位{c['value']:g} {c['unit']}，已达本村{warning}水位"
                    f"{c['threshold']:g} {c['unit']}")  # fmt: skip
        return (f"{c['station']} at {c['value']:g} {c['unit']}, the village's level to "
                f"{warning} ({c['threshold']:g} {c['unit']})")  # fmt: skip
    if kind == "rain":
        if zh:
            return (f"{c['station']}{c['window']}降雨{c['value']:g} {c['unit']}，已达本村{warning}"
                    f"雨量指标{c['threshold']:g} {c['unit']}")  # fmt: skip
        return (f"{c['value']:g} {c['unit']} of rain in {c['window']} at {c['station']}, the "
                f"village's indicator to {warning} ({c['threshold']:g} {c['unit']})")  # fmt: skip
    if kind == "hand":
        return f"带班领导{c['by']}决定" if zh else f"ordered by the leader on duty, {c['by']}"
    return "防汛演练" if zh else "a flood drill"


_VILLAGE_PAGES: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "zh-CN": {
        "warned_prepare": (
            "【准备转移】{village}",
            (
                "现发布{village}准备转移预警：{cause}。",
                "请立即组织{groups}（{households}户{residents}人）做好转移准备，转移地点：{site}。",
                "请立即回复确认（叫应），转移后报告已转移户数和人数。",
            ),
        ),
        "warned_move_now": (
            "【立即转移】{village}",
            (
                "现发布{village}立即转移命令：{cause}。",
                "请立即组织{groups}（{households}户{residents}人）转移到{site}，逐户清点，不落一人。",
                "请立即回复确认（叫应），并报告已转移户数和人数。",
            ),
        ),
        "unanswered": (
            "【叫应未应答】{village}",
            ("{village}{warning}预警已发出{waited}分钟，以下责任人尚未应答，请立即设法联系：",),
        ),
        "reminder": (
            "【转移预警仍在生效】{village}",
            (
                "{village}{warning}预警自{since}起仍在生效，已报告转移{moved_households}户"
                "{moved_people}人。",
                "水情解除后请带班领导解除预警：floodwatch villages clear {village_id} "
                "--by 您的编号",
            ),
        ),
        "cleared": ("【转移预警解除】{village}", ("{names}已解除{village}{warning}预警。",)),
    },
    "en": {
        "warned_prepare": (
            "[Prepare to move] {village}",
            (
                "{village} is warned to prepare to move: {cause}.",
                "Get {groups} ({households} households, {residents} people) ready to move; the "
                "evacuation site is {site}.",
                "Answer now (叫应), and report the households and people moved.",
            ),
        ),
        "warned_move_now": (
            "[Move now] {village}",
            (
                "{village} is ordered to move now: {cause}.",
                "Move {groups} ({households} households, {residents} people) to {site} now; "
                "count every household, leave nobody behind.",
                "Answer now (叫应), and report the households and people moved.",
            ),
        ),
        "unanswered": (
            "[叫应 unanswered] {village}",
            (
                "The {warning} warning of {village} went out {waited} min ago and these "
                "responsible persons have not answered; reach them now:",
            ),
        ),
        "reminder": (
            "[Village warning still stands] {village}",
            (
                "The {warning} warning of {village} stands since {since}; reported moved: "
                "{moved_households} households, {moved_people} people.",
                "When the water allows, the leader on duty clears it: floodwatch villages clear "
                "{village_id} --by <your id>",
            ),
        ),
        "cleared": (
            "[Village warning cleared] {village}",
            ("{names} cleared the {warning} warning of {village}.",),
        ),
    },
}
_VILLAGE_FOOTER = {
    "zh-CN": (
        "时间：{at}",
        "叫应 #{alert_id}",
        "确认：回复短信确认码，或 floodwatch ack {alert_id} --by 您的编号；报告转移：floodwatch "
        "villages moved {village_id} --households 户数 --people 人数 --by 您的编号",
    ),
    "en": (
        "Time: {at}",
        "叫应 #{alert_id}",
        "Answer: reply with the SMS code, or floodwatch ack {alert_id} --by <your id>; report: "
        "floodwatch villages moved {village_id} --households N --people N --by <your id>",
    ),
}


def render_village(message: str, language: str, f: VillageFacts) -> tuple[str, str]:
    """(subject, body) of a village page: `warned` (to its responsible persons, who must
    answer), `unanswered` (to the leader on duty, with those who have not: `lines`),
    `reminder` (to the leader, while the warning stands), `cleared`. A drill's is marked
    演练 / EXERCISE at the start of its subject and of its body."""
    language = language if language in _VILLAGE_PAGES else "zh-CN"
    zh = language == "zh-CN"
    key = f"warned_{f.warning}" if message == "warned" else message
    subject, body_lines = _VILLAGE_PAGES[language][key]
    values = {
        "village": f.village, "village_id": f.village_id, "cause": _cause(language, f),
        "groups": f.groups or ("全村" if zh else "the whole village"),
        "households": f.households, "residents": f.residents, "site": f.site,
        "warning": _WARNING_ZH[f.warning] if zh else _WARNING_EN[f.warning].lower(),
        "names": f.names, "since": f.since, "waited": f.waited,
        "moved_households": f.moved_households, "moved_people": f.moved_people,
        "at": f.at, "alert_id": f.alert_id if f.alert_id is not None else "-",
    }  # fmt: skip
    time_line, alert_line, answer_line = _VILLAGE_FOOTER[language]
    lines = [line.format(**values) for line in body_lines]
    lines += list(f.lines)
    lines.append(time_line.format(**values))
    if message == "warned":
        lines += [alert_line.format(**values), answer_line.format(**values)]
    body = _signed(language, f.office, "\n".join(lines))
    subject = subject.format(**values)
    if f.drill:
        subject, body = _DRILL_MARK[language] + subject, _DRILL_LINE[language] + body
    return subject, body


@dataclass(frozen=True)
class BroadcastFacts:
    """What a loudspeaker says: to the people of `village` (and `group`, when the loudspeaker
    is one group's), for a warning (`warning`), its end, or a text broadcast by hand."""

    village: str
    group: str = ""
    warning: str | None = None
    site: str = ""
    text: str = ""
    drill: bool = False


_BROADCAST: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "prepare": (
            "【准备转移】{where}",
            "紧急通知！{who}请注意：河水正在上涨，现在发布准备转移预警。请马上收拾好贵重物品和"
            "必需品，照顾好老人和孩子，随时准备转移。转移地点：{site}。请听从村干部指挥。",
        ),
        "move_now": (
            "【立即转移】{where}",
            "紧急通知！{who}请注意：现在发布立即转移命令！请马上离开家，立即转移到{site}。"
            "不要带行李，不要返回，不要靠近河边。",
        ),
        "cleared": (
            "【转移预警解除】{where}",
            "{who}请注意：转移预警已经解除。请听从村干部安排，有序返回。",
        ),
        "manual": ("【广播通知】{where}", "{who}请注意：{text}"),
    },
    "en": {
        "prepare": (
            "[Prepare to move] {where}",
            "Urgent! {who}: the river is rising. Prepare to move now: take your valuables and "
            "what you need, look after the old and the children, be ready to leave. Go to "
            "{site}. Follow the village officials.",
        ),
        "move_now": (
            "[Move now] {where}",
            "Urgent! {who}: move now! Leave your home at once and go to {site}. Take no "
            "luggage, do not go back, keep away from the river.",
        ),
        "cleared": (
            "[All clear] {where}",
            "{who}: the evacuation warning is over. Return as the village officials direct.",
        ),
        "manual": ("[Announcement] {where}", "{who}: {text}"),
    },
}
_BROADCAST_DRILL = {
    "zh-CN": ("演练！演练！以下是防汛演练，不是真实预警。", "以上是防汛演练。"),
    "en": ("EXERCISE! EXERCISE! This is a flood drill, not a real warning. ", " This was a drill."),
}


def render_broadcast(message: str, language: str, f: BroadcastFacts) -> tuple[str, str]:
    """(subject, text) for a loudspeaker: `warned` (f.warning says which), `cleared` or
    `manual` (f.text). Written to be heard: short, the village and the group, what to do, where
    to go. A drill's starts and ends by saying so."""
    language = language if language in _BROADCAST else "zh-CN"
    zh = language == "zh-CN"
    key = (f.warning or "prepare") if message == "warned" else message
    subject, text = _BROADCAST[language][key]
    where = f"{f.village}{f.group}" if zh else f"{f.village} {f.group}".strip()
    if zh:
        who = f"{where}的村民"
    else:
        who = f"Residents of {f.village}" + (f", {f.group}" if f.group else "")
    values = {"where": where, "who": who, "site": f.site, "text": f.text.strip()}
    subject, text = subject.format(**values), text.format(**values)
    if f.drill:
        start, end = _BROADCAST_DRILL[language]
        subject, text = _DRILL_MARK[language] + subject, f"{start}{text}{end}"
    return subject, text
