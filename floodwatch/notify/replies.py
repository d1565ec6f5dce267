"""Answers from the phone: the short reply codes of SMS pages (GoAlert's scheme).

Each page on a channel that carries answers back names a code: a small number per phone number,
standing for one alert while it is open (then reused). The person answers ``3a`` or ``3确认`` to
acknowledge alert 3's page, ``3e`` to escalate it at once; a bare ``1``, ``a``, ``ok`` or
``确认`` acknowledges the latest page sent to that phone; anything else gets a short help reply.
Works in the caller's transaction; who the phone belongs to is the caller's business.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from floodwatch.store.models import AlertRow, PageRow, ReplyCodeRow

ACK_WORDS = ("a", "ack", "ok", "y", "yes", "确认", "收到", "是")
ESCALATE_WORDS = ("e", "esc", "escalate", "升级")
_CODED = re.compile(r"^(\d{1,4})([^\d].*)$")

Action = Literal["ack", "escalate", "help"]


@dataclass(frozen=True)
class Reply:
    action: Action
    alert_id: int | None = None


def normalise(text: str) -> str:
    """Full-width digits and letters as ASCII, no spaces, lower case: "３ Ａ" -> "3a"."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower().strip("。.!！")


def code_for(session: Session, address: str, alert_id: int, now: datetime) -> int:
    """The code `address` answers `alert_id` with: the one it has, or the smallest free one
    (codes of alerts no longer open are given up first)."""
    rows = session.execute(
        select(ReplyCodeRow.code, ReplyCodeRow.alert_id, AlertRow.state)
        .join(AlertRow, AlertRow.id == ReplyCodeRow.alert_id)
        .where(ReplyCodeRow.address == address)
    ).all()
    for code, alert, _ in rows:
        if alert == alert_id:
            return int(code)
    stale = [code for code, _, state in rows if state != "open"]
    if stale:
        session.execute(
            delete(ReplyCodeRow).where(
                ReplyCodeRow.address == address, ReplyCodeRow.code.in_(stale)
            )
        )
    used = {code for code, _, state in rows if state == "open"}
    code = next(n for n in range(1, len(used) + 2) if n not in used)
    session.add(ReplyCodeRow(address=address, code=code, alert_id=alert_id, created_at=now))
    session.flush()
    return code


def resolve(session: Session, address: str, text: str) -> Reply:
    """What an answer from `address` asks for, and about which alert."""
    said = normalise(text)
    if not said:
        return Reply("help")
    coded = _CODED.match(said)
    if coded and coded.group(2) in ACK_WORDS + ESCALATE_WORDS:
        alert = session.scalar(
            select(ReplyCodeRow.alert_id).where(
                ReplyCodeRow.address == address, ReplyCodeRow.code == int(coded.group(1))
            )
        )
        if alert is None:
            return Reply("help")
        action: Action = "ack" if coded.group(2) in ACK_WORDS else "escalate"
        return Reply(action, alert)
    if said == "1" or said in ACK_WORDS:
        latest = session.scalar(
            select(PageRow.alert_id)
            .join(AlertRow, AlertRow.id == PageRow.alert_id)
            .where(PageRow.address == address, AlertRow.state == "open")
            .order_by(PageRow.id.desc())
            .limit(1)
        )
        return Reply("ack", latest) if latest is not None else Reply("help")
    return Reply("help")
