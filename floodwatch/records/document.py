"""The daily report as a document: headings, paragraphs, tables and pictures, in the office's
language (zh-CN); then as markdown or as one self-contained HTML file. `records.pdf` lays out
the same blocks on pages."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from floodwatch.records.dutylog import KIND_ZH, VIA_ZH, level_zh
from floodwatch.records.report import PARAMETER_ZH, DailyReport, HandoverLine, HazardLine

RULE_TYPE_ZH = {
    "threshold": "水位阈值", "rainfall": "雨量", "rate_of_rise": "涨率", "forecast": "预报",
    "silence": "数据中断", "official": "官方预警",
}  # fmt: skip
NO_BROADCASTS = "本时段无预警广播（村组转移预警与大喇叭广播在此列出）。"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Picture:
    station: str  # whose hydrograph
    caption: str


Block = Heading | Para | Table | Picture


def title(report: DailyReport) -> str:
    return f"{report.office} 值班日报 {report.day.isoformat()}"


def summary(report: DailyReport) -> list[str]:
    """The day in a few lines: what a text message carries."""
    alerts = report.alerts
    order = list(report.levels)
    peak = max(
        (a.peak_level for a in alerts),
        key=lambda lv: order.index(lv) if lv in order else -1,
        default=None,
    )
    sent = sum(c["sent"] for c in report.pages.values())
    failed = sum(c["failed"] for c in report.pages.values())
    h = report.hazards
    rate = f"{h.rate:.0%}" if h.rate is not None else "—"
    unanswered = sum(1 for a in alerts if a.first_ack_at is None)
    lines = [
        f"告警 {len(alerts)} 个" + (f"（最高{level_zh(peak)}）" if peak else "")
        + (f"，{unanswered} 个未确认" if unanswered else ""),
        f"呼叫发出 {sent} 次，失败 {failed} 次",
        f"交接班 {len(report.handovers)} 次，"
        f"已确认记录 {sum(1 for x in report.handovers if x.accepted_by)} 份",
        f"隐患：新登记 {len(h.new)} 处，整改完成 {len(h.done)} 处，逾期 {len(h.overdue)} 处，"
        f"整改率 {rate}（{h.rectified}/{h.total}）",
        f"值班记录 {len(report.log)} 条",
    ]  # fmt: skip
    return lines


def blocks(report: DailyReport) -> list[Block]:
    """The report, section by section."""
    zone = ZoneInfo(report.zone_name)

    def t(when: datetime | None) -> str:
        return _time(when, report, zone)

    out: list[Block] = [Heading(1, title(report))]
    span = f"{_full(report.start, zone)} 至 {_full(report.end, zone)}（{report.zone_name}）"
    out.append(Para(f"统计时段：{span}"))
    if not report.complete:
        out.append(Para(f"截至 {_full(report.as_of, zone)}，当日尚未结束。"))
    out.append(Para("概况：" + "；".join(summary(report)) + "。"))

    out.append(Heading(2, "一、值班人员"))
    out.append(Table(("岗位", "值班人员", "时段"), tuple(
        (s.title, "、".join(s.people) or "（无人）", f"{t(s.start)}–{t(s.end)}")
        for s in report.stints
    )))  # fmt: skip
    out.append(Heading(3, "交接班"))
    if report.handovers:
        out.append(Table(("交接时间", "交班", "接班", "交接班记录", "接班确认"), tuple(
            _handover_row(h, report, zone) for h in report.handovers
        )))  # fmt: skip
    else:
        out.append(Para("本时段内无交接班。"))

    out.append(Heading(2, "二、水情"))
    for st in report.stations:
        out.append(Heading(3, f"{st.name}（{st.station}）"))
        if not any(s.points for s in st.series):
            out.append(Para("本时段无读数。"))
        for s in st.series:
            if not s.points:
                continue
            peak = max(s.points, key=lambda p: p[1])
            low = min(s.points, key=lambda p: p[1])
            levels = "，".join(f"{lv.name} {lv.value:g} {s.unit}" for lv in s.levels)
            out.append(Para(
                f"{PARAMETER_ZH.get(s.parameter, s.parameter)}（{s.parameter}）："
                f"读数 {len(s.points)} 个，"
                f"最高 {peak[1]:g} {s.unit}（{t(peak[0])}），"
                f"最低 {low[1]:g} {s.unit}（{t(low[0])}）"
                + (f"；预警水位：{levels}" if levels else "")
                + (f"；剔除异常读数 {s.rejected} 个" if s.rejected else "")
            ))  # fmt: skip
        out.append(Picture(st.station, f"{st.name} 水情过程线（虚线为预警水位，色块为告警时段）"))

    out.append(Heading(2, "三、告警"))
    if report.alerts:
        out.append(Table(
            ("编号", "测站", "类型", "最高级别", "开始", "解除", "首次确认用时",
             "确认人（途径、时间）"),
            tuple(
                (
                    f"#{a.id}", a.station_name, RULE_TYPE_ZH.get(a.rule_type, a.rule_type),
                    level_zh(a.peak_level), t(a.opened_at),
                    t(a.cleared_at) if a.cleared_at else "未解除",
                    f"{a.minutes_to_ack} 分钟" if a.minutes_to_ack is not None else "未确认",
                    "；".join(f"{x.person}，{VIA_ZH.get(x.via, x.via)}，{t(x.at)}"
                             for x in a.answers) or "—",
                )
                for a in report.alerts
            ),
        ))  # fmt: skip
    else:
        out.append(Para("本时段无告警。"))

    out.append(Heading(2, "四、呼叫"))
    if report.pages:
        keys = ("queued", "sent", "failed", "unknown")
        rows = [(channel, *(str(c[k]) for k in keys)) for channel, c in report.pages.items()]
        rows.append(("合计", *(str(sum(c[k] for c in report.pages.values())) for k in keys)))
        out.append(Table(("渠道", "写入", "发出", "失败", "状态不明"), tuple(rows)))
    else:
        out.append(Para("本时段无呼叫。"))

    out.append(Heading(2, "五、预警广播"))
    if report.broadcasts:
        out.append(
            Table(("时间", "内容"), tuple((t(when), text) for when, text in report.broadcasts))
        )
    else:
        out.append(Para(NO_BROADCASTS))

    out.append(Heading(2, "六、隐患整改"))
    h = report.hazards
    rate = f"{h.rate:.0%}" if h.rate is not None else "—（尚无隐患登记）"
    out.append(Para(
        f"本时段新登记 {len(h.new)} 处，整改完成 {len(h.done)} 处；截至 {t(report.as_of)}，"
        f"累计登记 {h.total} 处，已整改 {h.rectified} 处，整改率 {rate}；"
        f"逾期未整改 {len(h.overdue)} 处。"
    ))  # fmt: skip
    for name, lines in (("新登记", h.new), ("整改完成", h.done), ("未整改（含逾期）", h.open)):
        if lines:
            out.append(Heading(3, name))
            out.append(_hazard_table(lines, report, zone))

    out.append(Heading(2, "七、值班记录"))
    if report.log:
        out.append(Table(("时间", "编号", "类别", "记录人", "内容"), tuple(
            (t(e.at), f"#{e.id}", KIND_ZH.get(e.kind, e.kind), e.author,
             (f"（更正 #{e.corrects}）" if e.corrects else "") + e.text
             + ("（已由 " + "、".join(f"#{c}" for c in e.corrected_by) + " 更正）"
                if e.corrected_by else ""))
            for e in report.log
        )))  # fmt: skip
    else:
        out.append(Para("本时段无值班记录。"))
    return out


# -- markdown and HTML ---------------------------------------------------------------------------


def markdown(parts: list[Block], pictures: Mapping[str, str]) -> str:
    """Markdown; `pictures` maps a station to the path of its PNG (a station left out: the
    text says where the picture is to be had)."""
    out: list[str] = []
    for b in parts:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(_md_cell(c) for c in b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif b.station in pictures:
            out += [f"![{b.caption}]({pictures[b.station]})", ""]
        else:
            out += [f"（{b.caption}：用 --out 写出报告文件时一并生成 PNG）", ""]
    return "\n".join(out).rstrip() + "\n"


def as_html(parts: list[Block], pictures: Mapping[str, bytes], heading: str) -> str:
    """One HTML file, the pictures inline (data: URLs), for a browser or an e-mail."""
    body: list[str] = []
    for b in parts:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_html_text(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(c)}</th>" for c in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_html_text(c)}</td>" for c in row) + "</tr>"
                for row in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b.station in pictures:
            data = base64.b64encode(pictures[b.station]).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(b.caption)}">'
                f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(heading)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


_CSS = (
    "body{font-family:'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei',sans-serif;"
    "max-width:60rem;margin:2rem auto;padding:0 1rem;color:#212121;line-height:1.5}"
    "table{border-collapse:collapse;margin:0.5rem 0 1rem;font-size:0.9rem}"
    "th,td{border:1px solid #bdbdbd;padding:0.2rem 0.5rem;vertical-align:top;text-align:left}"
    "th{background:#eceff1}img{max-width:100%}figcaption{font-size:0.85rem;color:#616161}"
)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _html_text(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


# -- helpers -------------------------------------------------------------------------------------


def _full(when: datetime, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M}"


def _time(when: datetime | None, report: DailyReport, zone: ZoneInfo) -> str:
    """A time in the day as HH:MM (24:00 for the day's end); other days with their date."""
    if when is None:
        return "—"
    if when == report.end:
        return "24:00" if report.end.astimezone(zone).hour == 0 else _full(when, zone)[5:]
    local = when.astimezone(zone)
    if report.start <= when < report.end and local.date() == report.day:
        return f"{local:%H:%M}"
    return f"{local:%m-%d %H:%M}"


def _team(team: Mapping[str, tuple[str, ...]]) -> str:
    return "；".join(f"{role}：{'、'.join(people) or '（无人）'}" for role, people in team.items())


def _handover_row(h: HandoverLine, report: DailyReport, zone: ZoneInfo) -> tuple[str, ...]:
    def t(when: datetime | None) -> str:
        return _time(when, report, zone)

    if h.record is None:
        written, accepted = "未填写", "—"
    else:
        written = (
            f"#{h.record}，{h.written_by} {t(h.written_at)} 填写；未解除告警 {h.open_alerts} 个，"
            f"未整改隐患 {h.open_hazards} 处；留言：{h.note or '无'}"
        )
        if h.accepted_at is not None:
            base = h.written_at if h.written_at and h.written_at > h.at else h.at
            wait = int(max(0.0, (h.accepted_at - base).total_seconds()) // 60)
            via = VIA_ZH.get(h.accepted_via or "", h.accepted_via or "")
            accepted = f"{h.accepted_by} {t(h.accepted_at)} 经{via}确认（{wait} 分钟）"
        else:
            accepted = "未确认"
    return (t(h.at), _team(h.outgoing), _team(h.incoming), written, accepted)


def _hazard_table(lines: tuple[HazardLine, ...], report: DailyReport, zone: ZoneInfo) -> Table:
    def state(x: HazardLine) -> str:
        if x.state == "done":
            return f"已整改（{_time(x.done_at, report, zone)}）"
        return "逾期未整改" if x.overdue else "整改中"

    return Table(("编号", "地点", "问题", "责任人", "期限", "状态"), tuple(
        (f"#{x.id}", x.where + (f"（{x.village}）" if x.village else ""), x.what, x.owner,
         x.due.isoformat(), state(x))
        for x in lines
    ))  # fmt: skip
