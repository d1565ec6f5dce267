"""Checks that need the config and the rosters together. Start-up (`floodwatch check`, `run`)
and the roster reload run the very same checks, so a roster edit can never put in force what
start-up would refuse. The village files are checked here too: with the roster (the people
they name) at start-up and on every roster reload, and with the notifier plugins (which
channels reach loudspeakers) at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floodwatch.config import Config, PluginTypes, level_ids, load_config
from floodwatch.errors import ConfigError, Problem, did_you_mean
from floodwatch.i18n import Text, _
from floodwatch.notify.base import capabilities_of
from floodwatch.plugins import Registry
from floodwatch.roster import Roster, load_rosters
from floodwatch.villages.load import Known, load_villages
from floodwatch.villages.model import NO_VILLAGES, Villages


def roster_problems(config: Config, roster: Roster) -> list[Problem]:
    """What in the config a roster fails to provide, placed at the config's lines: roles the
    escalation policies page, people they name, people named as roster administrators or as
    the daily report's recipients; and the policy named for handover confirmations."""
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
                            _(
                                "no rotation for role {role} in the rosters{hint} (roles: {roles})",
                                role=repr(role),
                                hint=hint,
                                roles=known,
                            ),
                        )
                    )
    for name, policy in settings.escalation.items():
        for j, step in enumerate(policy.steps):
            for k, person in enumerate(step.people):
                if person not in roster.people:
                    hint = did_you_mean(person, roster.people)
                    loc = ("escalation", name, "steps", j, "people", k)
                    problems.append(doc.problem(loc, _unknown_person(person, hint)))
    for k, admin in enumerate(settings.duty.roster_admins):
        if admin not in roster.people:
            hint = did_you_mean(admin, roster.people)
            problems.append(doc.problem(("duty", "roster_admins", k), _unknown_person(admin, hint)))
    for person in settings.web.demo_users if settings.web else ():
        if person not in roster.people:
            hint = did_you_mean(person, roster.people)
            message = _unknown_person(person, hint)
            problems.append(doc.problem(("web", "demo_users", person), message))
    for k, person in enumerate(settings.report.to):
        if person not in roster.people:
            hint = did_you_mean(person, roster.people)
            problems.append(doc.problem(("report", "to", k), _unknown_person(person, hint)))
    handover = settings.records.handover_escalation
    if handover is not None and handover not in settings.escalation:
        hint = did_you_mean(handover, settings.escalation)
        known = ", ".join(settings.escalation)
        message = _(
            "unknown escalation policy {name}{hint} (policies: {policies})",
            name=repr(handover),
            hint=hint,
            policies=known,
        )
        problems.append(doc.problem(("records", "handover_escalation"), message))
    return problems + _villages_and_roster(config, roster)


def _unknown_person(person: str, hint: str | Text) -> Text:
    return _("unknown person {person}{hint}", person=repr(person), hint=hint)


def _villages_and_roster(config: Config, roster: Roster) -> list[Problem]:
    """The village files checked with the roster (the responsible persons they name, at their
    lines; which notifiers broadcast is checked at start-up only), and the leader role the
    village warnings page."""
    settings = config.settings
    if not settings.villages:
        return []
    problems = []
    leader = settings.evacuation.leader
    if leader not in roster.roles:
        known = ", ".join(sorted(roster.roles))
        hint = did_you_mean(leader, roster.roles)
        problems.append(
            config.doc.problem(
                ("evacuation", "leader"),
                _(
                    "no rotation for role {role} in the rosters{hint} (roles: {roles}): the "
                    "village warnings need the leader on duty",
                    role=repr(leader),
                    hint=hint,
                    roles=known,
                ),
            )
        )
    try:
        load_villages(config.village_paths, _known(config, roster, None))
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems


def broadcast_channels(config: Config, plugins: Mapping[str, Any]) -> set[str]:
    """The configured notifiers that reach loudspeakers, not people (their plugin declares
    `Capabilities(broadcast=True)`)."""
    return {
        n.name
        for n in config.settings.notifiers
        if n.type in plugins and capabilities_of(plugins[n.type]).broadcast
    }


def _known(config: Config, roster: Roster, plugins: Mapping[str, Any] | None) -> Known:
    settings = config.settings
    return Known(
        people=set(roster.people), stations={st.id for st in settings.stations},
        notifiers={n.name: n.type for n in settings.notifiers},
        broadcast=broadcast_channels(config, plugins) if plugins is not None else None,
    )  # fmt: skip


def load_checked_villages(
    config: Config, roster: Roster, plugins: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Villages:
    """The config's villages, loaded and checked against the config, the rosters and the
    notifier plugins (`plugins`: type -> class); ConfigError otherwise. Also checked: the
    channels people are paged on are not broadcast channels (a loudspeaker is no person), and
    the evacuation levels are levels, move_now's not below prepare's."""
    settings, doc = config.settings, config.doc
    broadcast = broadcast_channels(config, plugins)
    problems: list[Problem] = []
    for name, policy in settings.escalation.items():
        for j, step in enumerate(policy.steps):
            for key in ("channels", "fallback"):
                for k, channel in enumerate(getattr(step, key) or []):
                    if channel in broadcast:
                        loc = ("escalation", name, "steps", j, key, k)
                        problems.append(doc.problem(loc, _not_for_people(channel)))
    evacuation = settings.evacuation
    notifiers = {n.name for n in settings.notifiers}
    for key in ("channels", "fallback"):
        for k, channel in enumerate(getattr(evacuation, key) or []):
            place = ("evacuation", key, k)
            if channel in broadcast:
                problems.append(doc.problem(place, _not_for_people(channel)))
            elif channel not in notifiers:
                hint = did_you_mean(channel, notifiers - broadcast)
                message = _("unknown notifier {name}{hint}", name=repr(channel), hint=hint)
                problems.append(doc.problem(place, message))
    ids = level_ids(settings.levels)
    order = [lv.id for lv in settings.levels]
    for key in ("prepare_level", "move_now_level"):
        level = getattr(evacuation, key)
        if level not in ids:
            hint = did_you_mean(level, ids)
            message = _(
                "unknown level {name}{hint} (levels are {levels})",
                name=repr(level),
                hint=hint,
                levels=", ".join(order),
            )
            problems.append(doc.problem(("evacuation", key), message))
    prepare, move_now = ids.get(evacuation.prepare_level), ids.get(evacuation.move_now_level)
    if prepare and move_now and order.index(move_now) < order.index(prepare):
        message = _(
            "move_now_level {move_now} is below prepare_level {prepare}: the order to move "
            "comes after the one to prepare",
            move_now=repr(move_now),
            prepare=repr(prepare),
        )
        problems.append(doc.problem(("evacuation", "move_now_level"), message))
    villages: Villages = NO_VILLAGES
    if settings.villages:
        try:
            villages = load_villages(config.village_paths, _known(config, roster, plugins), env=env)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return villages


def _not_for_people(channel: str) -> Text:
    return _(
        "{channel} is a broadcast channel: it reaches loudspeakers, not people (loudspeakers "
        "are named in the village files)",
        channel=repr(channel),
    )


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
    roster = load_checked_roster(config, env)
    load_checked_villages(config, roster, registry.notifiers, env)
    return config, roster
