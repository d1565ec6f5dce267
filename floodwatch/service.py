"""APScheduler jobs that drive the pipeline on the app's clock: polls, escalation, delivery.

The dispatcher also runs as soon as pages are committed (`wake`), not only on its sweep.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from floodwatch.app import App
from floodwatch.clock import ScaledClock
from floodwatch.feeds.base import Feed, FeedError
from floodwatch.feeds.official import WarningFeed
from floodwatch.notify.dispatcher import Dispatcher
from floodwatch.store import state

log = logging.getLogger(__name__)

# On a fast demo clock, real intervals shrink; never below this many real seconds.
MIN_REAL_INTERVAL = 0.25


class Service:
    def __init__(self, app: App, node: str | None = None) -> None:
        self.app = app
        self.node = node or f"{socket.gethostname()}:{os.getpid()}"
        settings = app.config.settings
        self.pipeline = app.pipeline
        self.dispatcher = Dispatcher(app.db, app.notifiers, settings.delivery, self.node)
        self.scheduler = BackgroundScheduler(
            timezone=settings.timezone,
            job_defaults={"coalesce": True, "misfire_grace_time": 30, "max_instances": 1},
        )
        self._wake_lock = threading.Lock()
        self._dirty = False
        self._dispatching = False
        app.pages_written.connect(self.wake)

    def prepare(self) -> None:
        """Upgrade the schema and set the demo clock going: what comes before the first job."""
        settings = self.app.config.settings
        if settings.clock and settings.clock.fresh_start:
            log.warning("demo clock with fresh_start: emptying %s", self.app.db.url)
            self.app.db.reset()
        self.app.db.upgrade()
        if isinstance(self.app.clock, ScaledClock):
            origin = datetime.now(UTC)
            self.app.clock.rebase(origin)
            state.put(self.app.db, state.DEMO_ORIGIN, {"origin": origin.isoformat()})

    def start(self) -> None:
        """Prepare, then run the jobs on the scheduler (the dispatcher's first run delivers
        anything left over from a previous run)."""
        settings = self.app.config.settings
        self.prepare()
        for feed_cfg in settings.feeds:
            feed = self.app.feeds[feed_cfg.name]
            self.scheduler.add_job(
                self.poll, "interval", args=[feed], id=f"poll:{feed.name}",
                seconds=self._real(feed_cfg.interval), next_run_time=datetime.now(UTC),
            )  # fmt: skip
        self.scheduler.add_job(
            self.escalate, "interval", id="escalate",
            seconds=self._real(settings.escalation_tick), next_run_time=datetime.now(UTC),
        )  # fmt: skip
        self.scheduler.add_job(
            self.duty, "interval", id="duty",
            seconds=self._real(settings.escalation_tick), next_run_time=datetime.now(UTC),
        )  # fmt: skip
        self.scheduler.add_job(
            self.reload_roster, "interval", id="roster",
            seconds=max(settings.duty.reload_every.total_seconds(), MIN_REAL_INTERVAL),
        )  # fmt: skip
        self.scheduler.add_job(
            self.dispatch, "interval", id="dispatch", max_instances=2,
            seconds=self._real(settings.delivery.sweep), next_run_time=datetime.now(UTC),
        )  # fmt: skip
        self.scheduler.start()
        # What start-up built (config, roster, ORM mappers) lives as long as the service: moving
        # it out of the collector's view spares every poll a full scan of it (benchmarks/feeds.py)
        gc.freeze()
        log.info("floodwatch started as %s on %s", self.node, self.app.db.url.render_as_string())

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.app.pages_written.disconnect(self.wake)
        self.app.db.dispose()

    def _real(self, simulated: timedelta) -> float:
        return max(simulated.total_seconds() / self.app.clock.speed, MIN_REAL_INTERVAL)

    # -- jobs ----------------------------------------------------------------------------------

    def poll(self, feed: Feed) -> None:
        """Fetch once; a failing feed logs one line and never stops the service."""
        now = self.app.clock.now()
        try:
            readings = feed.fetch(now)
            warnings = feed.fetch_warnings(now) if isinstance(feed, WarningFeed) else []
        except FeedError as exc:
            log.error("%s", exc)
            self._health(feed, now, failed=True)
            return
        except Exception:
            log.exception("feed %s failed", feed.name)
            self._health(feed, now, failed=True)
            return
        self._health(feed, now, failed=False)
        if readings:
            result = self.pipeline.ingest(readings, now, feed=feed.name)
            log.debug("feed %s: %s", feed.name, result)
        if warnings:
            self.pipeline.apply_warnings(feed.name, warnings, now)

    def _health(self, feed: Feed, now: datetime, failed: bool) -> None:
        degraded = failed or bool(getattr(feed, "degraded", False))
        stations = getattr(feed, "degraded_stations", None) if not failed else None
        self.app.feed_health.update(
            feed.name, degraded, sorted(stations) if stations else None, now
        )

    def escalate(self) -> None:
        """Silent stations and due escalations."""
        self.pipeline.tick(self.app.clock.now())

    def duty(self) -> None:
        """Handovers, reminders and the daily coverage check."""
        now = self.app.clock.now()
        self.app.handovers.tick(now)
        self.app.coverage.check(now)

    def reload_roster(self) -> None:
        self.app.roster_reloader.reload(self.app.clock.now())

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
                self.dispatcher.deliver_due(self.app.clock.now())
                with self._wake_lock:
                    if not self._dirty:
                        self._dispatching = False
                        return
        except BaseException:
            with self._wake_lock:
                self._dispatching = False
            raise

    def wake(self) -> None:
        """Pages were committed: deliver now rather than at the next sweep."""
        with self._wake_lock:
            if self._dispatching:
                self._dirty = True
                return
        if self.scheduler.running:
            self.scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))
