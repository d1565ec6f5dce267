"""Watching the watcher: is floodwatch itself well? `floodwatch status` prints it, and the
leader pings an outside monitor with it (the dead-man heartbeat).

Healthy means: the database answers; a node holds the leader lease and was seen lately; every
feed's last poll worked and is recent; no page has waited past its time in the outbox; the
escalation tick ran lately. Times are the service's clock (the demo clock in the demo); how
recent is recent is measured in real time, so a fast demo clock is judged fairly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from floodwatch.app import App
from floodwatch.feed_health import feed_key
from floodwatch.store import state
from floodwatch.store.db import describe_database_error
from floodwatch.store.models import PageRow

log = logging.getLogger(__name__)

LEADER = "leader"  # service_state: the node holding the lease, since when, last seen
TICK = "tick"  # service_state: the last escalation tick


def poll_key(feed: str) -> str:
    """service_state: the last poll of a feed and its outcome."""
    return f"poll:{feed}"


@dataclass
class Health:
    at: datetime
    problems: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def status(app: App, now: datetime) -> Health:
    """How floodwatch is, read from the database (never creates it)."""
    health = Health(now)
    s = app.config.settings
    speed = app.clock.speed

    def late(then: datetime, allowed: timedelta) -> bool:
        """Older than `allowed` real time (the demo clock runs `speed` times faster)."""
        return (now - then) / speed > allowed

    try:
        app.db.require()
        with app.db.sessions() as session:
            leader = state.get_in(session, LEADER)
            tick = state.get_in(session, TICK)
            polls = {f.name: state.get_in(session, poll_key(f.name)) for f in s.feeds}
            feeds = {f.name: state.get_in(session, feed_key(f.name)) for f in s.feeds}
            pending, oldest = session.execute(
                select(func.count(PageRow.id), func.min(PageRow.next_attempt_at)).where(
                    PageRow.status.in_(["pending", "sending"])
                )
            ).one()
    except SQLAlchemyError as exc:
        health.problems.append(describe_database_error(exc))
        health.detail["database"] = {"ok": False, "where": app.db.where}
        return health
    health.detail["database"] = {"ok": True, "where": app.db.where}

    lease_window = 3 * s.leader.check_every
    if leader is None:
        health.problems.append("no node has ever held the leader lease: is `floodwatch run` up?")
    elif late(seen := datetime.fromisoformat(leader["seen_at"]), lease_window):
        health.problems.append(
            f"the leader {leader['node']} was last seen at {app.office.local(seen)}: "
            "no node is leading"
        )
    health.detail["leader"] = leader

    feed_detail = {}
    for f in s.feeds:
        poll, fed = polls[f.name], feeds[f.name]
        feed_detail[f.name] = {"last_poll": poll, "degraded": bool(fed and fed["degraded"])}
        if poll is None:
            health.problems.append(f"feed {f.name} has not been polled yet")
            continue
        if not poll["ok"]:
            health.problems.append(f"feed {f.name}: last poll failed: {poll['error']}")
        elif fed and fed["degraded"]:
            health.problems.append(f"feed {f.name} is degraded: {fed.get('why') or 'in part'}")
        if late(datetime.fromisoformat(poll["at"]), 3 * max(f.interval, timedelta(seconds=1))):
            when = app.office.local(datetime.fromisoformat(poll["at"]))
            health.problems.append(f"feed {f.name} was last polled at {when}")
    health.detail["feeds"] = feed_detail

    health.detail["outbox"] = {
        "pending": pending, "oldest_due": oldest.isoformat() if oldest else None,
    }  # fmt: skip
    if oldest is not None and late(oldest, s.delivery.claim_timeout):
        health.problems.append(
            f"{pending} page(s) waiting; the oldest was due at {app.office.local(oldest)}"
        )

    health.detail["escalation_tick"] = tick
    if tick is None:
        health.problems.append("the escalation tick has not run yet")
    elif late(datetime.fromisoformat(tick["at"]), 3 * s.escalation_tick + s.leader.check_every):
        when = app.office.local(datetime.fromisoformat(tick["at"]))
        health.problems.append(f"the escalation tick last ran at {when}")
    return health


def ping(app: App, now: datetime, database_down: bool) -> bool:
    """Ping the heartbeat URL (`/fail` when unwell); returns whether the monitor answered."""
    beat = app.config.settings.heartbeat
    if beat is None:
        return False
    healthy = not database_down and status(app, now).ok
    url = beat.url.rstrip("/") + ("" if healthy else "/fail")
    try:
        with app.http() as session:
            response = session.request(beat.method, url, timeout=beat.timeout.total_seconds())
        if response.status_code >= 400:
            log.warning("heartbeat %s: HTTP %d", url, response.status_code)
            return False
    except requests.RequestException as exc:
        log.warning("heartbeat %s failed: %s", url, exc)
        return False
    return True
