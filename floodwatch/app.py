"""The application factory: config, rosters, plugins, database and channels, wired once.

`App` holds what one floodwatch process works with and builds its parts on demand, each given
only what it uses. Only the outer layer (CLI, service, replay) holds an `App`; the parts never do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from floodwatch.alerts.lifecycle import AlertLifecycle
from floodwatch.alerts.orphans import Configured
from floodwatch.clock import Clock, ScaledClock, SystemClock
from floodwatch.config import Config, PluginTypes, level_ids, load_config
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
from floodwatch.roster.holder import RosterHolder, file_signature
from floodwatch.rules.silence import SilenceRule
from floodwatch.silence import SilenceWatch
from floodwatch.store import Database
from floodwatch.store.state import demo_origin
from floodwatch.validation import check, load_checked_roster

__all__ = ["App", "build_app", "check"]


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

    @cached_property
    def office(self) -> Office:
        return Office.from_settings(self.config.settings)

    @cached_property
    def outbox(self) -> Outbox:
        stations = {s.id: s for s in self.config.settings.stations}
        return Outbox(self.notifiers, self.roster, stations, self.office)

    @cached_property
    def lifecycle(self) -> AlertLifecycle:
        return AlertLifecycle(
            self.db, self.config.settings.escalation, self.office, self.roster, self.outbox,
            self.pages_written,
        )  # fmt: skip

    @cached_property
    def pipeline(self) -> Pipeline:
        s = self.config.settings
        silence = SilenceRule(s.silence.factor, level_ids(s.levels)[s.silence.level],
                              s.silence.escalation)  # fmt: skip
        watch = SilenceWatch(s.stations, silence)
        configured = Configured.of(
            ((r.station, r.id) for r in s.rules), watch.cadence, (f.name for f in s.feeds),
            s.escalation,
        )  # fmt: skip
        ingest = Ingest(self.db, s.rules, s.levels, s.stations)
        return Pipeline(
            self.db, ingest, watch, self.lifecycle, s.levels, configured, self.pages_written
        )

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
        return Failover(
            self.notifiers, self.roster, self.config.settings.escalation, self.duty_messages
        )

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

    @cached_property
    def roster_reloader(self) -> RosterReloader:
        return RosterReloader(
            self.db, self.config, self.roster, self.duty_messages, self.pages_written
        )


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
    settings = config.settings
    url = database_url or (env or os.environ).get("FLOODWATCH_DATABASE")
    db = Database(url or config.database_url())
    if clock is None:
        demo = settings.clock
        if demo is None:
            clock = SystemClock()
        else:
            origin = demo_origin(db) or datetime.now(UTC)
            clock = ScaledClock(demo.start, demo.speed, origin)
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
    )
