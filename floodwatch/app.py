"""The application factory: config, rosters, plugins, database and channels, wired once.

`App` holds what one floodwatch process works with and builds its parts on demand, each given
only what it uses. Only the outer layer (CLI, service, replay) holds an `App`; the parts never do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from floodwatch.alerts.lifecycle import AlertLifecycle
from floodwatch.alerts.orphans import Configured
from floodwatch.cap import CapFeed
from floodwatch.clock import Clock, ScaledClock, SystemClock
from floodwatch.config import Config, EscalationPolicy, PluginTypes, Station, level_ids, load_config
from floodwatch.duty.announce import HandoverAnnouncer
from floodwatch.duty.coverage import CoverageMonitor
from floodwatch.duty.messages import DutyMessages
from floodwatch.duty.reload import RosterReloader
from floodwatch.feed_health import FeedHealth
from floodwatch.feeds.base import Feed
from floodwatch.hooks import Hook
from floodwatch.http import SessionFactory, default_session
from floodwatch.ingest import Ingest
from floodwatch.notify.base import Notifier
from floodwatch.notify.dispatcher import Dispatcher
from floodwatch.notify.failover import Failover
from floodwatch.notify.outbox import Outbox
from floodwatch.notify.receipts import Receipts
from floodwatch.office import Office
from floodwatch.pipeline import Pipeline
from floodwatch.plugins import PluginContext, Registry
from floodwatch.records import days
from floodwatch.records.desk import RecordsDesk
from floodwatch.records.handover import HandoverBook, handover_policy
from floodwatch.records.hazards import HazardBook
from floodwatch.records.publish import ReportMaker
from floodwatch.records.report import DayReader
from floodwatch.roster.holder import RosterHolder, file_signature
from floodwatch.rules.silence import SilenceRule
from floodwatch.silence import SilenceWatch
from floodwatch.store import Database
from floodwatch.store.state import demo_origin
from floodwatch.validation import (
    broadcast_channels,
    check,
    load_checked_roster,
    load_checked_villages,
)
from floodwatch.villages.desk import VillageDesk
from floodwatch.villages.drills import Drills
from floodwatch.villages.model import NO_VILLAGES, Villages

__all__ = ["App", "build_app", "check", "service_clock"]


@dataclass
class App:
    """Everything one floodwatch process works with, and the parts built from it."""

    config: Config
    roster: RosterHolder
    db: Database
    clock: Clock
    feeds: dict[str, Feed]
    notifiers: dict[str, Notifier]
    registry: Registry
    http: SessionFactory = default_session  # the one seam for outbound HTTP
    # called after pages are committed, so a dispatcher can wake at once
    pages_written: Hook = field(default_factory=lambda: Hook("pages_written"))
    villages: Villages = NO_VILLAGES  # the village files' villages (floodwatch.villages)

    @cached_property
    def office(self) -> Office:
        return Office.from_settings(self.config.settings)

    @cached_property
    def outbox(self) -> Outbox:
        stations = {s.id: s for s in self.config.settings.stations}
        # a village's round of 叫应 is an alert at the village: its messages name the village
        stations.update({v.id: Station(id=v.id, name=v.name) for v in self.villages})
        broadcast = broadcast_channels(self.config, self.registry.notifiers)
        return Outbox(_Paging(self.notifiers, broadcast), self.roster, stations, self.office)

    @cached_property
    def policies(self) -> dict[str, EscalationPolicy]:
        """The config's escalation policies, and each village's 叫应 policy (village:<id>)."""
        s = self.config.settings
        return {**s.escalation, **self.villages.policies(s.evacuation)}

    @cached_property
    def lifecycle(self) -> AlertLifecycle:
        # a handover alert's acknowledgement confirms its handover record
        return AlertLifecycle(
            self.db, self.policies, self.office, self.roster, self.outbox,
            self.pages_written, on_acknowledged=[self.handover_book.confirmed],
        )  # fmt: skip

    @cached_property
    def pipeline(self) -> Pipeline:
        s = self.config.settings
        silence = SilenceRule(s.silence.factor, level_ids(s.levels)[s.silence.level],
                              s.silence.escalation)  # fmt: skip
        watch = SilenceWatch(s.stations, silence)
        rounds = [(v.id, "village") for v in self.villages]  # villages' rounds of 叫应
        configured = Configured.of(
            [*((r.station, r.id) for r in s.rules), *rounds], watch.cadence,
            (f.name for f in s.feeds), self.policies,
        )  # fmt: skip
        ingest = Ingest(self.db, s.rules, s.levels, s.stations)
        return Pipeline(
            self.db, ingest, watch, self.lifecycle, s.levels, configured, self.pages_written,
            villages=self.village_desk if self.villages else None,
        )  # fmt: skip

    @cached_property
    def cap(self) -> CapFeed:
        """CAP 1.2 messages of every alert and village warning, and their Atom index."""
        s = self.config.settings
        return CapFeed(
            self.db, s.cap, self.office, self.villages, s.evacuation,
            {st.id: st.name for st in s.stations},
        )  # fmt: skip

    @cached_property
    def drills(self) -> Drills:
        s = self.config.settings
        return Drills(
            self.db, self.village_desk, self.lifecycle, self.outbox, self.office, self.roster,
            self.villages, s.stations, s.rules, s.evacuation, self.pages_written,
        )  # fmt: skip

    @cached_property
    def village_desk(self) -> VillageDesk:
        """Village warnings and their 叫应 chain: `tick(now)` in the service's duty job."""
        s = self.config.settings
        return VillageDesk(
            self.db, self.villages, s.evacuation, self.office, self.roster, self.outbox,
            self.lifecycle, self.pages_written, {st.id: st.name for st in s.stations},
        )  # fmt: skip

    @cached_property
    def feed_health(self) -> FeedHealth:
        s = self.config.settings
        return FeedHealth(
            self.db, {f.name: f.interval for f in s.feeds},
            {st.id: st.expect_every for st in s.stations if st.expect_every is not None},
            self.roster, self.duty_messages, self.pages_written,
        )  # fmt: skip

    @cached_property
    def duty_messages(self) -> DutyMessages:
        return DutyMessages(self.outbox, self.office)

    @cached_property
    def handovers(self) -> HandoverAnnouncer:
        return HandoverAnnouncer(
            self.db, self.roster, self.duty_messages, self.config.settings.duty.handover_reminder,
            self.pages_written,
        )  # fmt: skip

    @cached_property
    def coverage(self) -> CoverageMonitor:
        return CoverageMonitor(
            self.db, self.roster, self.duty_messages, self.config.settings.duty,
            self.pages_written,
        )  # fmt: skip

    @cached_property
    def failover(self) -> Failover:
        return Failover(self.notifiers, self.roster, self.policies, self.duty_messages)

    @cached_property
    def receipts(self) -> Receipts:
        """Providers' later word on accepted pages (Twilio's status callbacks); a page that
        fails then goes to the person's next contact."""
        return Receipts(self.db, self.config.settings.delivery, on_failed=self.failover.failed)

    def dispatcher(self, node: str, **more: Any) -> Dispatcher:
        """A dispatcher for this app's outbox: failed pages go to the next contact, unknown
        ones to the officers (see notify.dispatcher for `more`)."""
        return Dispatcher(
            self.db, self.notifiers, self.config.settings.delivery, node,
            speed=self.clock.speed, failed=self.failover.failed, unknown=self.failover.unknown,
            written=self.pages_written, **more,
        )  # fmt: skip

    # -- the duty office's records ---------------------------------------------------------------

    @cached_property
    def handover_book(self) -> HandoverBook:
        s = self.config.settings
        return HandoverBook(
            self.db, self.roster, self.office, self.outbox, s.escalation, handover_policy(s),
            self.pages_written,
        )  # fmt: skip

    @cached_property
    def hazards(self) -> HazardBook:
        return HazardBook(
            self.db, self.roster, self.office, self.duty_messages,
            self.config.settings.records.hazard_reminder, self.pages_written,
        )  # fmt: skip

    @cached_property
    def reports(self) -> ReportMaker:
        s = self.config.settings
        reader = DayReader(
            self.db, self.roster, self.office, s.stations, s.rules, days.starts(s.report.day_starts)
        )
        font = self.config.resolve(s.report.font) if s.report.font else None
        return ReportMaker(reader, font)

    @cached_property
    def records(self) -> RecordsDesk:
        """Hazard reminders and overdue pages, and the scheduled daily report: `tick(now)` in
        the service's duty job."""
        r = self.config.settings.report
        return RecordsDesk(
            self.db, self.roster, self.hazards, self.reports, self.duty_messages,
            days.starts(r.at) if r.at else None, r.to, r.format, self.config.resolve(r.dir),
            self.pages_written,
        )  # fmt: skip

    @cached_property
    def roster_reloader(self) -> RosterReloader:
        return RosterReloader(
            self.db, self.config, self.roster, self.duty_messages, self.pages_written
        )


def _database_url(config: Config, env: Mapping[str, str] | None) -> str | URL:
    return (env or os.environ).get("FLOODWATCH_DATABASE") or config.database_url()


def service_clock(config: Config, db: Database | None = None) -> Clock:
    """The clock the service runs on: the wall clock, or the demo's clock as the running demo
    reads it (from the origin it stored). Every command that tells the time uses this one."""
    demo = config.settings.clock
    if demo is None:
        return SystemClock()
    if db is None:
        db = Database(_database_url(config, None))
        try:
            origin = demo_origin(db)
        finally:
            db.dispose()
    else:
        origin = demo_origin(db)
    return ScaledClock(demo.start, demo.speed, origin or datetime.now(UTC))


def build_app(
    config_path: str | Path,
    *,
    clock: Clock | None = None,
    registry: Registry | None = None,
    database_url: str | None = None,
    http: SessionFactory = default_session,
    notifiers: Mapping[str, Notifier] | None = None,
    env: Mapping[str, str] | None = None,
    twilio_http: Callable[[], Any] | None = None,
) -> App:
    """Load and validate everything; build feeds and notifiers. Nothing is started here.

    `notifiers`, when given, replaces the configured channels by name (replay captures pages).
    `twilio_http` makes the HTTP client the Twilio channels send through (tests: a fake).
    """
    registry = registry or Registry.from_entry_points()
    config = load_config(config_path, PluginTypes(registry.feeds, registry.notifiers), env=env)
    files = file_signature(config.roster_paths)
    roster = load_checked_roster(config, env)
    villages = load_checked_villages(config, roster, registry.notifiers, env)
    settings = config.settings
    db = Database(database_url or _database_url(config, env))
    if clock is None:
        clock = service_clock(config, db)
    web = settings.web
    context = PluginContext(
        base_dir=config.base_dir, clock=clock, http=http,
        public_url=web.public_url.rstrip("/") if web else None, twilio_http=twilio_http,
    )  # fmt: skip
    built_feeds: dict[str, Feed] = {
        f.name: registry.feeds[f.type](f.name, config.plugin_options[f"feeds.{f.name}"], context)
        for f in settings.feeds
    }
    if notifiers is None:
        built_notifiers: dict[str, Notifier] = {
            n.name: registry.notifiers[n.type](
                n.name, config.plugin_options[f"notifiers.{n.name}"], context
            )
            for n in settings.notifiers
        }
    else:
        built_notifiers = dict(notifiers)
    return App(
        config=config,
        roster=RosterHolder(roster, files),
        db=db,
        clock=clock,
        feeds=built_feeds,
        notifiers=built_notifiers,
        registry=registry,
        http=http,
        villages=villages,
    )


class _Paging(Mapping[str, Notifier]):
    """The notifiers that page people: all but the broadcast channels, which reach loudspeakers
    (named in the village files, and paged through `Outbox.broadcast`). A live view: replay
    puts its stand-ins in place after the app is built."""

    def __init__(self, notifiers: Mapping[str, Notifier], broadcast: set[str]) -> None:
        self._notifiers = notifiers
        self._broadcast = broadcast

    def __getitem__(self, name: str) -> Notifier:
        if name in self._broadcast:
            raise KeyError(name)
        return self._notifiers[name]

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._notifiers if n not in self._broadcast)

    def __len__(self) -> int:
        return sum(1 for _ in self)
