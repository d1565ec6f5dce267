"""Message texts, Mandarin (zh-CN) by default and English per person."""

from __future__ import annotations

from dataclasses import dataclass

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


# (subject, first line) per language and event; the time and alert lines are added to every body
_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "zh-CN": {
        "opened": ("【{level_short}预警】{station}", "{station}{what}{value}，已达{level}预警。"),
        "raised": (
            "【预警升级】{station}",
            "{station}{what}升至{value}，预警由{previous}升为{level}。",
        ),
        "escalated": (
            "【未确认预警】{station}",
            "{station}{what}{value}，{level}预警已{waited}分钟无人确认，现通知您。",
        ),
        "lowered": (
            "【预警降级】{station}",
            "{station}{what}回落至{value}，预警由{previous}降为{level}。",
        ),
        "cleared": ("【预警解除】{station}", "{station}{what}回落至{value}，{previous}预警解除。"),
    },
    "en": {
        "opened": (
            "[{level_short} alert] {station}",
            "{station} {what} at {value} has reached {level}.",
        ),
        "raised": (
            "[Alert raised] {station}",
            "{station} {what} rose to {value}: raised from {previous} to {level}.",
        ),
        "escalated": (
            "[Unacknowledged alert] {station}",
            "{station} {what} at {value}, {level}: nobody has acknowledged for {waited} min, "
            "so you are being paged.",
        ),
        "lowered": (
            "[Alert lowered] {station}",
            "{station} {what} fell to {value}: lowered from {previous} to {level}.",
        ),
        "cleared": (
            "[Alert cleared] {station}",
            "{station} {what} fell to {value}: the {previous} alert is cleared.",
        ),
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


def render(kind: str, language: str, f: AlertFacts) -> tuple[str, str]:
    """(subject, body) for an alert event of `kind` in `language` (zh-CN unless "en")."""
    language = language if language in _TEXTS else "zh-CN"
    subject, first = _TEXTS[language][kind]
    time_line, alert_line, ack_line = _FOOTER[language]
    lines = [first, time_line, alert_line] + ([ack_line] if kind in _NEEDS_ACK else [])
    values = _values(language, f)
    body = "\n".join(line.format(**values) for line in lines)
    sep = "：" if language == "zh-CN" else ": "
    return subject.format(**values), f"{f.office}{sep}{body}"


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
    what = _PARAMETER_ZH.get(f.parameter, f.parameter) if language == "zh-CN" else f.parameter
    return {
        "station": f.station,
        "what": what,
        "value": f"{f.value:g} {f.unit}",
        "level": level(f.level),
        "level_short": short,
        "previous": level(f.previous),
        "waited": f.waited_minutes,
        "at": f.at,
        "alert_id": f.alert_id,
    }
