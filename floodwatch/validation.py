"""Checks that need the config and the rosters together. Start-up (`floodwatch check`, `run`)
and the roster reload run the very same checks, so a roster edit can never put in force what
start-up would refuse."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from floodwatch.config import Config, PluginTypes, load_config
from floodwatch.errors import ConfigError, Problem, did_you_mean
from floodwatch.plugins import Registry
from floodwatch.roster import Roster, load_rosters


def roster_problems(config: Config, roster: Roster) -> list[Problem]:
    """What in the config a roster fails to provide, placed at the config's lines: roles the
    escalation policies page, people they name, people named as roster administrators."""
    settings, doc = config.settings, config.doc
    problems = []
    for name, policy in settings.escalation.items():
        for j, step in enumerate(policy.steps):
            for k, role in enumerate(step.notify):
                if role not in roster.roles:
                    known = ", ".join(sorted(roster.roles))
                    hint = did_you_mean(role, roster.roles)
                    problems.append(
                        doc.problem(
                            ("escalation", name, "steps", j, "notify", k),
                            f"no rotation for role {role!r} in the rosters{hint} (roles: {known})",
                        )
                    )
    for name, policy in settings.escalation.items():
        for j, step in enumerate(policy.steps):
            for k, person in enumerate(step.people):
                if person not in roster.people:
                    hint = did_you_mean(person, roster.people)
                    loc = ("escalation", name, "steps", j, "people", k)
                    problems.append(doc.problem(loc, f"unknown person {person!r}{hint}"))
    for k, admin in enumerate(settings.duty.roster_admins):
        if admin not in roster.people:
            hint = did_you_mean(admin, roster.people)
            message = f"unknown person {admin!r}{hint}"
            problems.append(doc.problem(("duty", "roster_admins", k), message))
    return problems


def load_checked_roster(config: Config, env: Mapping[str, str] | None = None) -> Roster:
    """The config's rosters, loaded and checked against the config; ConfigError otherwise."""
    roster = load_rosters(config.roster_paths, config.settings.timezone, env=env)
    problems = roster_problems(config, roster)
    if problems:
        raise ConfigError(problems)
    return roster


def check(
    config_path: str | Path, registry: Registry, env: Mapping[str, str] | None = None
) -> tuple[Config, Roster]:
    """Validate a config and its rosters together; ConfigError lists every problem found."""
    plugins = PluginTypes(registry.feeds, registry.notifiers)
    config = load_config(config_path, plugins, env=env)
    return config, load_checked_roster(config, env)
