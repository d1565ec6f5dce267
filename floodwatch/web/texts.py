"""What the web app says back to a person on the phone (SMS replies, call prompts), per
language: Mandarin (zh-CN) and English (en). Short: an SMS reply is paid per segment."""

from __future__ import annotations

from collections.abc import Sequence

_TEXTS = {
    "acknowledged": {
        "zh-CN": "已确认告警#{alert}，升级已停止。",
        "en": "Alert #{alert} acknowledged: escalation stopped.",
    },
    "answer_recorded": {
        "zh-CN": "已记录你对告警#{alert}的确认；本级还需其他人确认。",
        "en": "Your answer to alert #{alert} is recorded; others in this step must answer too.",
    },
    "escalated": {
        "zh-CN": "告警#{alert}已立即升级，正在通知下一级。",
        "en": "Alert #{alert} escalated now: the next level is being paged.",
    },
    "closed": {
        "zh-CN": "告警#{alert}已结束，无需确认。",
        "en": "Alert #{alert} is over: nothing to answer.",
    },
    "already": {
        "zh-CN": "告警#{alert}已由{who}确认。",
        "en": "Alert #{alert} was already acknowledged by {who}.",
    },
    "answered_before": {
        "zh-CN": "你已确认过告警#{alert}。",
        "en": "You have already answered alert #{alert}.",
    },
    "help_code": {
        "zh-CN": "回复 {code}a 确认告警#{alert}，{code}e 立即升级",
        "en": "reply {code}a to acknowledge alert #{alert}, {code}e to escalate it now",
    },
    "help": {
        "zh-CN": "未能识别。{codes}。回复 1 确认最近一条。",
        "en": "Not understood: {codes}. Reply 1 to acknowledge the latest.",
    },
    "nothing_open": {
        "zh-CN": "你没有待确认的告警。",
        "en": "No open alert waits for your answer.",
    },
    "no_such_page": {
        "zh-CN": "此呼叫对应的告警已不存在。再见。",
        "en": "The alert of this call no longer exists. Goodbye.",
    },
    "not_on_roster": {
        "zh-CN": "你已不在值班名单中，无法确认。再见。",
        "en": "You are no longer on the roster and cannot answer. Goodbye.",
    },
}


def say(key: str, language: str, **facts: object) -> str:
    """The text `key` in `language` (Mandarin when the language has no text of its own)."""
    texts = _TEXTS[key]
    return texts.get(language, texts["zh-CN"]).format(**facts)


def help_text(language: str, codes: Sequence[tuple[int, int]]) -> str:
    """The answer to a reply nobody understood: the codes the person may answer with now
    (`codes`: (code, alert id) of each open alert paged to the phone)."""
    if not codes:
        return say("nothing_open", language)
    sep = "；" if language == "zh-CN" else "; "
    listed = sep.join(say("help_code", language, code=c, alert=a) for c, a in codes)
    return say("help", language, codes=listed)
