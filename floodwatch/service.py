"""APScheduler jobs that drive the pipeline on the app's clock: polls, escalation, duty, delivery.

Several nodes may share one PostgreSQL database: every node delivers pages and keeps its roster
current, and the node holding the leader lease (store.lease) also polls, escalates, watches for
silence, announces handovers and checks coverage. A standby asks for the lease every
`leader.check_every` and takes over when the leader dies.

When the database cannot be reached, every job reports it to one OutageWatch (one log line per
outage); a poll that could not store keeps its readings in the feed (its position moves only
after the commit) and tries again with a doubling wait. The dispatcher also runs as soon as
pages are committed (`wake`), not only on its sweep.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from floodwatch.app import App
from floodwatch.clock import ScaledClock
from floodwatch.feeds.base import Feed, FeedError, Positioned
from floodwatch.feeds.official import WarningFeed
from floodwatch.health import LEADER, TICK, ping, poll_key
from floodwatch.outage import OutageWatch
from floodwatch.store import state
from floodwatch.store.lease import Lease
from floodwatch.store.models import ReadingRow

log = logging.getLogger(__name__)

# On a fast demo clock, real intervals shrink; never below this many real seconds.
MIN_REAL_INTERVAL = 0.25
DISPATCH_INSTANCES = 16  # more than wake-ups can overlap: each extra run returns at once


class Service:
    def __init__(self, app: App, node: str | None = None) -> None:
        self.app = app
        self.node = node or f"{socket.gethostname()}:{os.getpid()}"
        settings = app.config.settings
        self.pipeline = app.pipeline
        self.lease = Lease(app.db)
        self.leader = False
        self._resumed = False  # positioned feeds told where storage stands, since leading
        self._installation = ""
        self.outage = OutageWatch(
            app.db, settings.outage, app.roster, app.notifiers, app.office,
            lambda: self._installation,
        )  # fmt: skip
        self.dispatcher = app.dispatcher(
            self.node, db_error=lambda exc: self.outage.failed(exc, app.clock.now()),
            sent=self.wake,
        )  # fmt: skip
        self.scheduler = BackgroundScheduler(
            timezone=settings.timezone,
            job_defaults={"coalesce": True, "misfire_grace_time": 30, "max_instances": 1},
        )
        self._wake_lock = threading.Lock()
        self._dirty = False
        self._dispatching = False
        self._retry: dict[str, float] = {}  # feed -> real seconds before its next retry
        app.pages_written.connect(self.wake)

    # -- start and stop ------------------------------------------------------------------------

    def prepare(self) -> None:
        """Wait for the database, upgrade the schema, set the demo clock going, and ask for the
        leader lease: what comes before the first job."""
        settings = self.app.config.settings
        db = self.app.db
        if settings.clock and settings.clock.fresh_start:
            log.warning("demo clock with fresh_start: emptying %s", db.where)
            db.reset()
        db.upgrade()
        self._installation = db.installation()
        if isinstance(self.app.clock, ScaledClock):
            # the demo clock reads its start when the first node starts; later nodes (and
            # `floodwatch ack` in another terminal) tell the same time from the stored origin
            # (a fresh start emptied the database above, so it starts the clock again)
            value = {"origin": datetime.now(UTC).isoformat()}
            origin = state.put_if_absent(db, state.DEMO_ORIGIN, value)["origin"]
            self.app.clock.rebase(datetime.fromisoformat(origin))
        self.check_lease()

    def start(self) -> None:
        """Prepare, then run the jobs on the scheduler (the dispatcher's first run delivers
        anything left over from a previous run)."""
        settings = self.app.config.settings
        self._wait_for_database(self.prepare)
        now = datetime.now(UTC)
        for feed_cfg in settings.feeds:
            feed = self.app.feeds[feed_cfg.name]
            self.scheduler.add_job(
                self.poll, "interval", args=[feed], id=f"poll:{feed.name}",
                seconds=self._real(feed_cfg.interval), next_run_time=now,
            )  # fmt: skip
        jobs: list[tuple[str, Callable[[], None], float]] = [
            ("lease", self.check_lease, settings.leader.check_every.total_seconds()),
            ("escalate", self.escalate, self._real(settings.escalation_tick)),
            ("duty", self.duty, self._real(settings.escalation_tick)),
            ("roster", self.reload_roster, settings.duty.reload_every.total_seconds()),
            ("dispatch", self.dispatch, self._real(settings.delivery.sweep)),
        ]
        if settings.heartbeat is not None:
            jobs.append(("heartbeat", self.heartbeat, settings.heartbeat.every.total_seconds()))
        for job_id, job, seconds in jobs:
            # dispatch() is single-flight by itself (a run that finds one going marks it to go
            # round again and returns at once), so the scheduler must never refuse a run of
            # it: a wake-up refused while the last run was still being counted as running was
            # lost until the next sweep (benchmarks/pipeline.py: p99 up to 110 ms)
            instances = DISPATCH_INSTANCES if job_id == "dispatch" else 1
            self.scheduler.add_job(
                job, "interval", id=job_id, seconds=max(seconds, MIN_REAL_INTERVAL),
                next_run_time=now, max_instances=instances,
            )  # fmt: skip
        self.scheduler.start()
        # What start-up built (config, roster, ORM mappers) lives as long as the service: moving
        # it out of the collector's view spares every poll a full scan of it (benchmarks/feeds.py)
        gc.freeze()
        role = "leader" if self.leader else "standby"
        log.info("floodwatch started as %s (%s) on %s", self.node, role, self.app.db.where)

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.dispatcher.shutdown()
        self.app.pages_written.disconnect(self.wake)
        self.lease.dispose()
        self.app.db.dispose()

    def _wait_for_database(self, step: Callable[[], None]) -> None:
        """Run `step` until the database lets it (start-up during an outage waits, one log
        line for the outage, the officers told after `outage.tell_after`)."""
        wait = self.app.config.settings.outage.retry.total_seconds()
        stopping = threading.Event()
        while True:
            try:
                step()
            except SQLAlchemyError as exc:
                self.outage.failed(exc, self.app.clock.now())
                stopping.wait(wait)
                wait = min(wait * 2, 30.0)
                continue
            self.outage.ok(self.app.clock.now())
            return

    def _real(self, simulated: timedelta) -> float:
        return max(simulated.total_seconds() / self.app.clock.speed, MIN_REAL_INTERVAL)

    # -- the lease -----------------------------------------------------------------------------

    def check_lease(self) -> None:
        """Hold the leader lease, or take it over when it is free; record who leads."""
        now = self.app.clock.now()
        try:
            held = self.lease.acquire()
        except SQLAlchemyError as exc:
            self.leader = False
            self.outage.failed(exc, now)
            return
        was, self.leader = self.leader, held
        if held and not was:
            log.warning("%s is the leader now", self.node)
            self._resumed = False
        elif was and not held:
            log.warning("%s lost the leader lease: standing by", self.node)
        if not held:
            return
        try:
            if not self._resumed:
                self._resume_feeds()
                self._resumed = True
            value = state.get(self.app.db, LEADER)
            if value is None or value.get("node") != self.node or not was:
                value = {"node": self.node, "since": now.isoformat()}
            state.put(self.app.db, LEADER, {**value, "seen_at": now.isoformat()})
        except SQLAlchemyError as exc:
            self.outage.failed(exc, now)
            return
        self.outage.ok(now)

    def _resume_feeds(self) -> None:
        """Tell each positioned feed where storage stands, so its first window covers the time
        nobody polled it."""
        positioned = [f for f in self.app.feeds.values() if isinstance(f, Positioned)]
        if not positioned:
            return
        with self.app.db.sessions() as session:
            last = dict(
                session.execute(
                    select(ReadingRow.feed, func.max(ReadingRow.observed_at))
                    .where(ReadingRow.feed.in_([f.name for f in positioned]))
                    .group_by(ReadingRow.feed)
                ).all()
            )
        for feed in positioned:
            feed.resume(last.get(feed.name))

    def _leading(self) -> bool:
        """Leader work only while the lease is held (checked at each job: a node whose lease
        connection broke stops at once)."""
        if self.leader and not self.lease.held():
            self.leader = False
            log.warning("%s lost the leader lease: standing by", self.node)
        return self.leader

    # -- jobs ----------------------------------------------------------------------------------

    def poll(self, feed: Feed) -> None:
        """Fetch once and store; a failing feed logs one line and never stops the service; a
        store that fails keeps the readings in the feed and is tried again soon."""
        if not self._leading():
            return
        now = self.app.clock.now()
        try:
            readings = feed.fetch(now)
            warnings = feed.fetch_warnings(now) if isinstance(feed, WarningFeed) else []
            failure = None
        except FeedError as exc:
            readings, warnings, failure = [], [], str(exc)
            log.error("%s", exc)
        except Exception as exc:
            readings, warnings, failure = [], [], f"feed {feed.name} failed: {exc!r}"
            log.exception("feed %s failed", feed.name)
        try:
            self._health(feed, now, failure)
            stored = 0
            if readings:
                result = self.pipeline.ingest(readings, now, feed=feed.name)
                stored = result.stored
                log.debug("feed %s: %s", feed.name, result)
            if failure is None and isinstance(feed, Positioned):
                feed.commit(readings)
            if warnings:
                self.pipeline.apply_warnings(feed.name, warnings, now)
            state.put(self.app.db, poll_key(feed.name), {
                "at": now.isoformat(), "ok": failure is None, "fetched": len(readings),
                "stored": stored, "error": failure,
            })  # fmt: skip
        except SQLAlchemyError as exc:
            self.outage.failed(exc, now)
            self._retry_soon(feed)
            return
        self._retry.pop(feed.name, None)
        self.outage.ok(now)

    def _retry_soon(self, feed: Feed) -> None:
        """Poll again after a doubling wait (from `outage.retry`, at most the feed's interval)."""
        settings = self.app.config.settings
        interval = next(f.interval for f in settings.feeds if f.name == feed.name)
        first = settings.outage.retry.total_seconds()
        wait = min(self._retry.get(feed.name, first / 2) * 2, self._real(interval))
        self._retry[feed.name] = wait
        if self.scheduler.running:
            when = datetime.now(UTC) + timedelta(seconds=wait)
            self.scheduler.modify_job(f"poll:{feed.name}", next_run_time=when)

    def _health(self, feed: Feed, now: datetime, failure: str | None) -> None:
        degraded = failure is not None or bool(getattr(feed, "degraded", False))
        stations = getattr(feed, "degraded_stations", None) if failure is None else None
        self.app.feed_health.update(
            feed.name, degraded, sorted(stations) if stations else None, now, failure
        )

    def escalate(self) -> None:
        """Retired alerts, silent stations, due escalations, the villages' 叫应 and reminders."""

        def tick(now: datetime) -> None:
            self.pipeline.tick(now)
            if self.app.villages:  # 叫应 unanswered by the village's wait; warnings reminded
                self.app.village_desk.tick(now)
            state.put(self.app.db, TICK, {"at": now.isoformat(), "node": self.node})

        self._guarded(tick)

    def duty(self) -> None:
        """Handovers, reminders, the daily coverage check, hazards and the daily report."""

        def duty(now: datetime) -> None:
            self.app.handovers.tick(now)
            self.app.coverage.check(now)
            self.app.records.tick(now)  # hazards due or overdue, the scheduled daily report

        self._guarded(duty)

    def heartbeat(self) -> None:
        """Tell the outside monitor floodwatch is alive (or, at `/fail`, that it is not). The
        leader pings: when no node leads, nothing arrives, and the monitor raises the alarm."""
        if not self._leading():
            return
        now = self.app.clock.now()
        ping(self.app, now, self.outage.down)

    def reload_roster(self) -> None:
        """Every node keeps its roster current; only the leader announces the change."""
        now = self.app.clock.now()
        try:
            self.app.roster_reloader.reload(now, announce=self.leader)
        except SQLAlchemyError as exc:
            self.outage.failed(exc, now)

    def _guarded(self, job: Callable[[datetime], None]) -> None:
        """Leader work reaching the database: its failure is part of the outage story."""
        if not self._leading():
            return
        now = self.app.clock.now()
        try:
            job(now)
        except SQLAlchemyError as exc:
            self.outage.failed(exc, now)
            return
        self.outage.ok(now)

    def dispatch(self) -> None:
        """Deliver until nothing is due; a wake that arrives meanwhile makes it go round again."""
        with self._wake_lock:
            if self._dispatching:
                self._dirty = True
                return
            self._dispatching = True
        try:
            while True:
                with self._wake_lock:
                    self._dirty = False
                now = self.app.clock.now()
                try:
                    self._hand_over(now)
                except SQLAlchemyError as exc:
                    self.outage.failed(exc, now)
                    with self._wake_lock:
                        self._dispatching = False
                    return
                self.outage.ok(now)
                with self._wake_lock:
                    if not self._dirty:
                        self._dispatching = False
                        return
        except BaseException:
            with self._wake_lock:
                self._dispatching = False
            raise

    def _hand_over(self, now: datetime) -> None:
        """Hand what the lanes admit to their workers (on the scheduler: each lane sends in
        its own threads; without it, as in tests: here, one by one); then come back when a
        lane's buckets allow more."""
        if not self.scheduler.running:
            self.dispatcher.deliver_due(now)
            return
        self.dispatcher.dispatch(now, self.app.clock.now)
        wait = self.dispatcher.wait()
        if wait is not None:
            when = datetime.now(UTC) + timedelta(seconds=max(wait, 0.01))
            job = self.scheduler.get_job("dispatch")
            if job is not None and job.next_run_time and job.next_run_time > when:
                self.scheduler.modify_job("dispatch", next_run_time=when)

    def wake(self) -> None:
        """Pages were committed: deliver now rather than at the next sweep."""
        with self._wake_lock:
            if self._dispatching:
                self._dirty = True
                return
        if self.scheduler.running:
            self.scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))
