"""The duty log (值班记录): the one module that writes its entries.

Entries are written in the caller's transaction, beside the change they record, and never
edited or deleted afterwards: a correction is a new entry whose `corrects` names the old one.
`kind` is the entry's type (the only thing called a kind in floodwatch).

People write entries with `floodwatch log add`. floodwatch writes one for every event of the
types in `LOGGED`, from `store.events.record`, the one place events are written: the text is in
the office's language (zh-CN) and the entry's data is the event's, with its id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.config import DEFAULT_LEVELS
from floodwatch.events import (
    Acknowledged,
    AlertChanged,
    CoverageGaps,
    DatabaseOutage,
    Escalated,
    Event,
    FeedDegraded,
    FeedDown,
    FeedRecovered,
    Handover,
    HandoverAccepted,
    HandoverReminder,
    HandoverWritten,
    HazardAdded,
    HazardDone,
    HazardOverdue,
    HazardReminded,
    NobodyOnDuty,
    PageConfirmed,
    PageFailed,
    PageFailover,
    PageSent,
    PageSuppressed,
    PageUnknown,
    PersonUnreachable,
    ReportSent,
    Retired,
    RosterRejected,
    RosterReloaded,
    Unreachable,
    WarningNotActual,
    WarningUpdated,
)
from floodwatch.i18n import Refused, Unknown, _
from floodwatch.store.models import LogEntryRow

SYSTEM = "floodwatch"  # the author of automatic entries

# entry types people write (`floodwatch log add --kind`); "note" when none is given
MANUAL = ("note", "call", "patrol", "instruction", "report")
MANUAL_ZH = {
    "note": "记事",
    "call": "电话",
    "patrol": "巡查",
    "instruction": "指示",
    "report": "报告",
}

# event type -> the kind of its duty-log entry, where the two differ (names the log had before
# it was written from events)
_KIND_OF = {"retired": "alert_retired", "coverage_gaps": "coverage", "roster_reloaded": "roster"}

# how the report names the kinds of entries
KIND_ZH = {
    **MANUAL_ZH,
    **dict.fromkeys(("opened", "raised", "lowered", "cleared", "alert_retired"), "告警"),
    "escalated": "告警升级", "acknowledged": "告警确认",
    **dict.fromkeys(("warning_updated", "warning_not_actual"), "官方预警"),
    **dict.fromkeys(
        ("page_sent", "page_confirmed", "page_failed", "page_failover", "page_unknown",
         "person_unreachable", "unreachable", "nobody_on_duty", "page_suppressed"),
        "呼叫",
    ),
    **dict.fromkeys(("handover", "handover_reminder", "handover_written", "handover_accepted"),
                    "交接班"),
    "coverage": "排班", "roster": "排班", "roster_rejected": "排班",
    **dict.fromkeys(("feed_degraded", "feed_recovered", "feed_down", "database_outage"), "系统"),
    **dict.fromkeys(("hazard_added", "hazard_reminded", "hazard_overdue", "hazard_done"), "隐患"),
    "report_sent": "日报",
    **dict.fromkeys(
        ("village_warned", "village_unanswered", "village_reminded", "village_moved",
         "village_cleared"),
        "村组预警",
    ),
    "broadcast": "广播", "drill_started": "演练", "drill_ended": "演练",
}  # fmt: skip

VIA_ZH = {"cli": "命令行", "sms": "短信", "voice": "电话", "web": "网页"}
_TRANSITION_ZH = {"opened": "开启", "raised": "升级", "lowered": "降级", "cleared": "解除"}
_RULE_ZH = {
    "threshold": "", "rainfall": "雨量", "rate_of_rise": "涨率", "forecast": "预报",
    "silence": "数据中断", "official": "官方预警",
}  # fmt: skip
_LEVEL_ZH = {lv.id: lv.name_zh for lv in DEFAULT_LEVELS}


def write(
    session: Session, at: datetime, kind: str, text: str, data: dict[str, Any] | None = None,
    author: str = SYSTEM, corrects: int | None = None,
) -> LogEntryRow:  # fmt: skip
    """Add one entry to the duty log (written at the transaction's next flush: its id comes
    then; the automatic entries of a batch of events are written together)."""
    row = LogEntryRow(
        at=at, kind=kind, author=author, text=text, data=data or {}, corrects=corrects
    )
    session.add(row)
    return row


def add(
    session: Session, at: datetime, author: str, text: str, kind: str = "note",
    corrects: int | None = None,
) -> LogEntryRow:  # fmt: skip
    """A person's entry (`author` is a person id the caller has checked). A correction names
    the entry it corrects, which must exist; the old entry stays as it was."""
    text = text.strip()
    if not text:
        raise Refused(_("the entry is empty: write what happened"))
    if kind not in MANUAL:
        raise Refused(
            _("unknown kind {kind} (kinds: {kinds})", kind=repr(kind), kinds=", ".join(MANUAL))
        )
    if corrects is not None and session.get(LogEntryRow, corrects) is None:
        raise Unknown(_("no duty-log entry #{id} to correct", id=corrects))
    row = write(session, at, kind, text, author=author, corrects=corrects)
    session.flush()  # the caller names the entry by its id
    return row


def entries(
    session: Session, start: datetime, end: datetime, kinds: Sequence[str] = ()
) -> list[LogEntryRow]:
    """The entries written in [start, end), oldest first (of `kinds` only, when given)."""
    query = select(LogEntryRow).where(LogEntryRow.at >= start, LogEntryRow.at < end)
    if kinds:
        query = query.where(LogEntryRow.kind.in_(kinds))
    return list(session.scalars(query.order_by(LogEntryRow.at, LogEntryRow.id)))


@dataclass(frozen=True)
class LogLine:
    """An entry as people read it: with the entries that correct it."""

    id: int
    at: datetime
    kind: str
    author: str
    text: str
    corrects: int | None
    corrected_by: tuple[int, ...]


def lines(session: Session, start: datetime, end: datetime) -> list[LogLine]:
    """The entries written in [start, end), oldest first, each with its corrections."""
    rows = entries(session, start, end)
    fixes = corrected_by(session, [r.id for r in rows])
    return [
        LogLine(r.id, r.at, r.kind, r.author, r.text, r.corrects, tuple(fixes.get(r.id, ())))
        for r in rows
    ]


def corrected_by(session: Session, ids: Sequence[int]) -> dict[int, list[int]]:
    """Entry id -> the ids of the entries that correct it (any time later)."""
    if not ids:
        return {}
    out: dict[int, list[int]] = {}
    rows = session.execute(
        select(LogEntryRow.corrects, LogEntryRow.id)
        .where(LogEntryRow.corrects.in_(list(ids)))
        .order_by(LogEntryRow.id)
    )
    for old, new in rows:
        if old is not None:
            out.setdefault(old, []).append(new)
    return out


def kinds() -> list[str]:
    """Every kind an entry can have: people's, then floodwatch's."""
    automatic = sorted({_KIND_OF.get(t, t) for t in LOGGED} | {"coverage"})
    return [*MANUAL, *automatic]


# -- entries written from events ---------------------------------------------------------------


def from_event(session: Session, at: datetime, event: Event, event_id: int) -> LogEntryRow | None:
    """The automatic entry for an event (called by `store.events.record` in its transaction);
    None for the event types the log does not keep (a page queued, a retry)."""
    entry = entry_for(at, event, event_id)
    if entry is None:
        return None
    return write(session, at, entry["kind"], entry["text"], entry["data"])


def entry_for(at: datetime, event: Event, event_id: int) -> dict[str, Any] | None:
    """The automatic entry for an event as a row's values (`store.events.record_all` writes
    them in one statement); None for the event types the log does not keep."""
    describe = LOGGED.get(event.type)
    if describe is None:
        return None
    text = describe(event)
    if text is None:
        return None
    common = {"alert": event.alert, "station": event.station, "level": event.level}
    data = {"event": event_id, "type": event.type, **common, **event.data()}
    kind = _KIND_OF.get(event.type, event.type)
    return {"at": at, "kind": kind, "author": SYSTEM, "text": text, "data": data, "corrects": None}


def level_zh(level: str | None) -> str:
    """A level as the log names it: the four colours in Chinese, other levels by their id."""
    if not level:
        return "-"
    return _LEVEL_ZH.get(level, level)


def _alert(e: Event) -> str:
    return f"告警 #{e.alert}" if e.alert is not None else "告警"


def _alert_changed(e: Event) -> str | None:
    if not isinstance(e, AlertChanged):
        return None
    if e.rule_type == "handover":  # told by handover_written / handover_accepted
        return None
    what = _TRANSITION_ZH.get(e.type, e.type)
    rule = _RULE_ZH.get(e.rule_type, e.rule_type)
    seen = f"{e.value:g} {e.unit}".strip()
    head = f"{_alert(e)} {what}：测站 {e.station}{rule} {seen}"
    if e.type == "opened":
        change = f"，达{level_zh(e.level)}预警"
    elif e.type == "cleared":
        change = f"，{level_zh(e.previous)}预警解除"
        if e.detail.get("by"):  # cleared by hand (AlertLifecycle.clear)
            via = VIA_ZH.get(str(e.detail.get("via")), str(e.detail.get("via")))
            change += f"（{e.detail['by']}经{via}手动解除）"
    else:
        change = f"，由{level_zh(e.previous)}{'升为' if e.type == 'raised' else '降为'}" + level_zh(
            e.level
        )
    return f"{head}{change}（规则 {e.rule}）"


def _retired(e: Event) -> str | None:
    return f"{_alert(e)} 关闭：{e.reason}" if isinstance(e, Retired) else None


def _escalated(e: Event) -> str | None:
    if not isinstance(e, Escalated):
        return None
    if e.by:
        return f"{_alert(e)} 应 {e.by} 要求立即升级，呼叫第 {e.step + 1} 步"
    if e.repeat:
        return f"{_alert(e)} 仍无人确认，再次呼叫第 {e.step + 1} 步"
    return f"{_alert(e)} 无人确认，升级呼叫第 {e.step + 1} 步"


def _acknowledged(e: Event) -> str | None:
    if not isinstance(e, Acknowledged):
        return None
    role = f"（{e.role}）" if e.role else ""
    text = f"{_alert(e)} 已由 {e.by}{role}经{VIA_ZH.get(e.via, e.via)}确认"
    return text + (f"，尚待 {'、'.join(e.pending)} 确认" if e.pending else "")


def _warning(e: Event) -> str | None:
    if isinstance(e, WarningUpdated):
        return f"{_alert(e)} 官方预警更新（{e.msg_type}）：{e.headline}"
    if isinstance(e, WarningNotActual):
        return f"官方预警 {e.warning_id} 为 {e.status}（非实际预警），已记录，未呼叫"
    return None


def _about(e: Event) -> str:
    return f"（{_alert(e)}）" if e.alert is not None else ""


def _page(e: Event) -> str | None:
    who = getattr(e, "role", None)
    role = f"（{who}）" if who else ""
    if isinstance(e, PageSent):
        return f"呼叫 {e.to}{role}经 {e.channel} 已发出（{e.outcome}）{_about(e)}"
    if isinstance(e, PageConfirmed):
        return f"呼叫 {e.to}{role}经 {e.channel} 已确认送达{_about(e)}"
    if isinstance(e, PageFailed):
        return f"呼叫 {e.to}{role}经 {e.channel} 失败：{e.detail or e.outcome}{_about(e)}"
    if isinstance(e, PageFailover):
        return f"呼叫 {e.to}{role}失败，改经 {e.channel} 联系（呼叫 #{e.page}）{_about(e)}"
    if isinstance(e, PageUnknown):
        return f"呼叫 {e.to}{role}经 {e.channel} 状态不明，未重发：{e.detail}{_about(e)}"
    if isinstance(e, PersonUnreachable):
        return f"{e.to}{role}的所有联系方式均未送达：{'；'.join(e.reasons)}{_about(e)}"
    if isinstance(e, Unreachable):
        return f"{e.channel} 没有 {e.to} 的联系地址，未呼叫{_about(e)}"
    if isinstance(e, NobodyOnDuty):
        return f"{e.role} 岗位此时无人值班，无人可呼叫{_about(e)}"
    if isinstance(e, PageSuppressed):
        return f"测站 {e.station} 维护中（{e.reason}），{_alert(e)} 变化未呼叫"
    return None


def _duty(e: Event) -> str | None:
    if isinstance(e, Handover):
        moves = "；".join(
            f"{role}：{'、'.join(e.outgoing.get(role, [])) or '-'} → {'、'.join(people) or '-'}"
            for role, people in e.incoming.items()
        )
        return f"交接班（{e.at_local}）：{moves}"
    if isinstance(e, HandoverReminder):
        return f"已提醒接班人员：{e.at_local} 接班"
    if isinstance(e, CoverageGaps):
        return "排班缺口：\n" + "\n".join(e.gaps)
    if isinstance(e, RosterReloaded):
        return f"排班表已更新（第 {e.version} 版）：\n" + "\n".join(e.changes)
    if isinstance(e, RosterRejected):
        return "修改后的排班表未生效，仍按原排班执行：\n" + "\n".join(e.errors)
    return None


def _system(e: Event) -> str | None:
    if isinstance(e, FeedDegraded):
        why = f"；原因：{e.why}" if e.why else ""
        return f"数据源 {e.feed} 异常；测站：{', '.join(e.stations) or '-'}{why}"
    if isinstance(e, FeedRecovered):
        return f"数据源 {e.feed} 恢复；测站：{', '.join(e.stations) or '-'}"
    if isinstance(e, FeedDown):
        return f"数据源 {e.feed} 自 {e.since[:16]} 起中断，已通知值班员：{e.why}"
    if isinstance(e, DatabaseOutage):
        told = "、".join(e.told) or "无人"
        return (
            f"数据库中断 {e.seconds} 秒（{e.since[:19]} 至 {e.until[:19]}，UTC）：{e.cause}；"
            f"直发通知：{told}"
        )
    return None


def _records(e: Event) -> str | None:
    if isinstance(e, HandoverWritten):
        teams = "；".join(
            f"{role}：{'、'.join(e.outgoing.get(role, [])) or '-'} → {'、'.join(people) or '-'}"
            for role, people in e.incoming.items()
        )
        return (
            f"{e.by} 填写交接班记录 #{e.handover}（{e.handover_at}）：{teams}；"
            f"未解除告警 {len(e.open_alerts)} 个，未整改隐患 {len(e.open_hazards)} 处；"
            f"留言：{e.note or '无'}；待接班带班领导确认（{_alert(e)}）"
        )
    if isinstance(e, HandoverAccepted):
        via = VIA_ZH.get(e.via, e.via)
        return f"交接班记录 #{e.handover} 已由 {e.by} 经{via}确认接班"
    if isinstance(e, HazardAdded):
        village = f"（{e.village}）" if e.village else ""
        return (
            f"{e.by} 登记隐患 #{e.hazard}：{e.where}{village}，{e.what}；"
            f"责任人 {e.owner}，整改期限 {e.due}"
        )
    if isinstance(e, HazardReminded):
        return f"已提醒 {e.owner}：隐患 #{e.hazard} 须于 {e.due} 前整改"
    if isinstance(e, HazardOverdue):
        return f"隐患 #{e.hazard} 逾期未整改（期限 {e.due}，责任人 {e.owner}），已呼叫带班领导"
    if isinstance(e, HazardDone):
        return f"隐患 #{e.hazard} 已由 {e.by} 整改完成：{e.note}"
    if isinstance(e, ReportSent):
        return f"{e.date} 值班日报已发送给 {'、'.join(e.to)}" + (f"（{e.path}）" if e.path else "")
    return None


WARNING_ZH = {"prepare": "准备转移", "move_now": "立即转移", "move": "立即转移"}


def _villages(e: Event) -> str | None:
    """Village warnings, 叫应, broadcasts and drills (floodwatch.villages), read from the event's
    data so that a field the villages add or rename never breaks the log."""
    d = e.data()
    drill = "【演练】" if d.get("drill") is not None and e.type != "drill_started" else ""
    village = d.get("village") or "-"
    warning = WARNING_ZH.get(str(d.get("warning")), str(d.get("warning")))
    people = "、".join(str(p) for p in d.get("pending") or d.get("told") or []) or "-"
    if e.type == "village_warned":
        how = f"由 {d['by']} 发布" if d.get("by") else "据监测数据发布"
        return f"{drill}{village}：{how}{warning}预警，大喇叭已播报，责任人叫应中{_about(e)}"
    if e.type == "village_unanswered":
        told = "、".join(str(p) for p in d.get("told") or []) or "-"
        pending = "、".join(str(p) for p in d.get("pending") or []) or "-"
        return f"{drill}{village}：{warning}预警叫应超时，未应答 {pending}，已呼叫带班领导 {told}"
    if e.type == "village_reminded":
        return f"{village}：{warning}预警仍在执行（自 {str(d.get('since'))[:16]}），已提醒 {people}"
    if e.type == "village_moved":
        return (
            f"{drill}{village}：{d.get('by')} 经{VIA_ZH.get(str(d.get('via')), d.get('via'))}报告"
            f"转移 {d.get('households')} 户 {d.get('people')} 人（累计 "
            f"{d.get('total_households')} 户 {d.get('total_people')} 人）"
        )
    if e.type == "village_cleared":
        return f"{drill}{village}：{d.get('by')} 解除{warning}预警"
    if e.type == "broadcast":
        villages = "、".join(str(v) for v in d.get("villages") or []) or "-"
        return f"{drill}{d.get('by')} 向 {villages} 大喇叭广播：{d.get('text')}"
    if e.type == "drill_started":
        villages = "、".join(str(v) for v in d.get("villages") or []) or "-"
        return f"【演练】{d.get('by')} 开始演练 #{d.get('drill')}（村：{villages}）"
    if e.type == "drill_ended":
        return (
            f"【演练】演练 #{d.get('drill')} 结束：呼叫 {d.get('reached')} 人，应答 "
            f"{d.get('answered')} 人，未应答 {d.get('never')} 人，大喇叭 {d.get('dispatched')} 个"
        )
    return None


# event type -> how its entry reads; the types left out (page_queued, page_retry) are steps on
# the way to an outcome the log does keep
LOGGED: dict[str, Callable[[Event], str | None]] = {
    **dict.fromkeys(("opened", "raised", "lowered", "cleared"), _alert_changed),
    "retired": _retired,
    "escalated": _escalated,
    "acknowledged": _acknowledged,
    **dict.fromkeys(("warning_updated", "warning_not_actual"), _warning),
    **dict.fromkeys(
        (
            "page_sent",
            "page_confirmed",
            "page_failed",
            "page_failover",
            "page_unknown",
            "person_unreachable",
            "unreachable",
            "nobody_on_duty",
            "page_suppressed",
        ),
        _page,
    ),  # fmt: skip
    **dict.fromkeys(
        ("handover", "handover_reminder", "coverage_gaps", "roster_reloaded", "roster_rejected"),
        _duty,
    ),
    **dict.fromkeys(("feed_degraded", "feed_recovered", "feed_down", "database_outage"), _system),
    **dict.fromkeys(
        (
            "handover_written",
            "handover_accepted",
            "hazard_added",
            "hazard_reminded",
            "hazard_overdue",
            "hazard_done",
            "report_sent",
        ),
        _records,
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "village_warned",
            "village_unanswered",
            "village_reminded",
            "village_moved",
            "village_cleared",
            "broadcast",
            "drill_started",
            "drill_ended",
        ),
        _villages,
    ),  # fmt: skip
}
