"""The application factory: config, rosters, plugins, database and channels, wired once."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from floodwatch.clock import Clock, ScaledClock, SystemClock
from floodwatch.config import Config, PluginTypes, load_config
from floodwatch.errors import ConfigError
from floodwatch.feeds.base import Feed
from floodwatch.http import SessionFactory, default_session
from floodwatch.notify.base import Notifier
from floodwatch.plugins import PluginContext, Registry
from floodwatch.roster import Roster, load_rosters
from floodwatch.store import Database
from floodwatch.store.state import demo_origin


@dataclass
class App:
    """Everything one floodwatch process works with."""

    config: Config
    roster: Roster
    db: Database
    clock: Clock
    feeds: dict[str, Feed]
    notifiers: dict[str, Notifier]
    registry: Registry
    # called after pages are committed, so a dispatcher can wake at once
    pages_written: Callable[[], None] = field(default=lambda: None)


def check(
    config_path: str | Path, registry: Registry, env: Mapping[str, str] | None = None
) -> tuple[Config, Roster]:
    """Validate a config and its rosters together; ConfigError lists every problem found."""
    plugins = PluginTypes(registry.feeds, registry.notifiers)
    config = load_config(config_path, plugins, env=env)
    settings = config.settings
    roster = load_rosters(config.roster_paths, settings.timezone, env=env)
    problems = []
    for name, policy in settings.escalation.items():
        for j, step in enumerate(policy.steps):
            for k, role in enumerate(step.notify):
                if role not in roster.roles:
                    known = ", ".join(sorted(roster.roles))
                    problems.append(
                        config.doc.problem(
                            ("escalation", name, "steps", j, "notify", k),
                            f"no rotation for role {role!r} in the rosters (roles: {known})",
                        )
                    )
    for k, admin in enumerate(settings.duty.roster_admins):
        if admin not in roster.people:
            problems.append(
                config.doc.problem(("duty", "roster_admins", k), f"unknown person {admin!r}")
            )
    if problems:
        raise ConfigError(problems)
    return config, roster


def build_app(
    config_path: str | Path,
    *,
    clock: Clock | None = None,
    registry: Registry | None = None,
    database_url: str | None = None,
    http: SessionFactory = default_session,
    notifiers: Mapping[str, Notifier] | None = None,
    env: Mapping[str, str] | None = None,
) -> App:
    """Load and validate everything; build feeds and notifiers. Nothing is started here.

    `notifiers`, when given, replaces the configured channels by name (replay captures pages).
    """
    registry = registry or Registry.from_entry_points()
    config, roster = check(config_path, registry, env)
    settings = config.settings
    url = database_url or (env or os.environ).get("FLOODWATCH_DATABASE") or settings.database
    db = Database(url)
    if clock is None:
        demo = settings.clock
        if demo is None:
            clock = SystemClock()
        else:
            origin = demo_origin(db) or datetime.now(UTC)
            clock = ScaledClock(demo.start, demo.speed, origin)
    context = PluginContext(base_dir=config.base_dir, clock=clock, http=http)
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
        roster=roster,
        db=db,
        clock=clock,
        feeds=built_feeds,
        notifiers=built_notifiers,
        registry=registry,
    )
