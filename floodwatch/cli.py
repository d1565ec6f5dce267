"""The `floodwatch` command. Thin: parse arguments, call the library, print.

Exit codes: 0 ok; 1 the checked thing is wrong (invalid config, unknown alert); 2 usage error.
Domain errors become messages here, in one place.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from floodwatch import __version__, cli_records, cli_users, cli_villages, logmask
from floodwatch.app import App, build_app, check
from floodwatch.cli_common import (
    by_or_url,
    config_option,
    language,
    pad,
    ready_app,
    remote,
    reports_errors,
    say,
)
from floodwatch.cli_roster import roster
from floodwatch.durations import parse_duration
from floodwatch.errors import ConfigError, FloodwatchError
from floodwatch.feeds.csv import parse_floodwatch_csv
from floodwatch.i18n import Refused, Unknown, _, text_of
from floodwatch.plugins import FEEDS_GROUP, NOTIFIERS_GROUP, Registry
from floodwatch.store.models import AlertRow

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database


@click.group()
@click.version_option(__version__, prog_name="floodwatch")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages too.")
def main(verbose: bool) -> None:
    """floodwatch: flood-season duty rosters, gauge watching and emergency alerting."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logmask.install()
    if not verbose:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        for handler in logging.getLogger().handlers:
            if _routine_skip not in handler.filters:
                handler.addFilter(_routine_skip)


def _routine_skip(record: logging.LogRecord) -> bool:
    """Not on the console: APScheduler's warning that a periodic job came due while its last
    run was still working. The service's jobs are built for it (the next run does the work), and
    in a busy demo it would bury the lines an officer reads; `-v` shows it."""
    return "maximum number of running instances reached" not in record.getMessage()


@main.command()
@config_option
@click.option(
    "--for", "run_for", metavar="DURATION", default=None,
    help="Stop after this much real time (e.g. 70s); by default run until stopped.",
)  # fmt: skip
@reports_errors
def run(config_path: Path, run_for: str | None) -> None:
    """Run the service: poll feeds, evaluate rules, page and escalate, until stopped."""
    from floodwatch.service import Service

    limit = _duration(run_for, "--for") if run_for else None
    app = build_app(config_path)
    _log_sim_time(app)
    service = Service(app)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service.start()
    web = None
    try:
        if app.config.settings.web is not None:
            from floodwatch.web.server import WebServer

            web = WebServer(app)
            web.start()
        s = app.config.settings
        what = {"version": __version__, "office": s.office, "feeds": len(s.feeds),
                "rules": len(s.rules), "notifiers": ", ".join(app.notifiers)}  # fmt: skip
        running = (
            _("floodwatch {version} running for {office}: {feeds} feed(s), {rules} rule(s), "
              "notifiers {notifiers}; web app on http://{listen}; Ctrl-C stops it.",
              listen=s.web.listen, **what)
            if s.web
            else _("floodwatch {version} running for {office}: {feeds} feed(s), {rules} rule(s), "
                   "notifiers {notifiers}; Ctrl-C stops it.", **what)
        )  # fmt: skip
        click.echo(say(running), err=True)
        stop.wait(limit.total_seconds() if limit else None)
    finally:
        if web is not None:
            web.stop()
        service.stop()
        click.echo(say(_("floodwatch stopped.")), err=True)


@main.command(name="check")
@config_option
@reports_errors
def check_cmd(config_path: Path) -> None:
    """Validate the config and every roster it names; exit 1 listing each problem."""
    config, roster = check(config_path, Registry.from_entry_points())
    s = config.settings
    ok = _("{path}: ok ({stations} station(s), {feeds} feed(s), {rules} rule(s), {people} people, "
           "roles {roles})", path=config_path, stations=len(s.stations), feeds=len(s.feeds),
           rules=len(s.rules), people=len(roster.people),
           roles=", ".join(sorted(roster.roles)))  # fmt: skip
    click.echo(say(ok))


@main.command()
@config_option
@click.option(
    "--readings", "readings_path", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of readings (station,parameter,value,unit,observed_at).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event and line.")
@click.option(
    "--ack", "acks", multiple=True, metavar="WHO@WHEN",
    help="Scripted acknowledgement: leader@+25m (25 min after each alert opens) or "
    "PERSON@2018-05-27T16:00-05:00. Repeatable.",
)  # fmt: skip
@reports_errors
def replay(config_path: Path, readings_path: Path, as_json: bool, acks: tuple[str, ...]) -> None:
    """Run recorded readings through the pipeline on a simulated clock; print every event."""
    from floodwatch.replay import AckSpec
    from floodwatch.replay import replay as run_replay

    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger().setLevel(logging.WARNING)  # the events are the output
    try:
        specs = [AckSpec.parse(a) for a in acks]
    except ValueError as exc:
        raise click.BadParameter(text_of(exc, language()), param_hint="--ack") from None
    parsed = parse_floodwatch_csv(readings_path.read_text(encoding="utf-8"), str(readings_path))
    if parsed.problems:
        raise ConfigError(parsed.problems)
    try:
        events = run_replay(config_path, parsed.readings, specs)
    except ValueError as exc:
        raise click.BadParameter(text_of(exc, language()), param_hint="--ack") from None
    for event in events:
        if as_json:
            click.echo(json.dumps(event, ensure_ascii=False))
        else:
            click.echo(_event_line(event))


def _event_line(e: dict[str, Any]) -> str:
    via = ", ".join(str(e[k]) for k in ("role", "channel") if e.get(k))
    who = f" -> {e['to']} ({via})" if "to" in e else ""
    by = f" by {e['by']}" if "by" in e else ""
    level = e.get("level") or ""
    alert = f"#{e['alert'] or '-':<3}"
    return f"{e['at'][:16]}  {e['type']:<13} {alert} {e['station'] or '':<10} {level:<7}{who}{by}"


@main.command()
@config_option
@click.option("--all", "show_all", is_flag=True, help="Include cleared alerts.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
@click.option("--cap", "cap_id", type=click.IntRange(1, MAX_ID), default=None, metavar="ID",
              help="Print the CAP 1.2 messages of alert ID instead, oldest first.")  # fmt: skip
@reports_errors
def alerts(config_path: Path, show_all: bool, as_json: bool, cap_id: int | None) -> None:
    """List open alerts (with --all, cleared ones too)."""
    if cap_id is not None:
        click.echo(cli_villages.cap_documents(config_path, cap_id), nl=False)
        return
    app = ready_app(config_path)
    zone = app.config.settings.timezone
    with app.db.sessions() as session:
        query = select(AlertRow).order_by(AlertRow.id)
        if not show_all:
            query = query.where(AlertRow.state == "open")
        rows = session.scalars(query).all()
    if as_json:
        click.echo(json.dumps([_alert_json(a, zone) for a in rows], ensure_ascii=False, indent=2))
        return
    degraded = app.feed_health.degraded_stations()
    for station, feed in sorted(degraded.items()):
        degraded_line = _("degraded: station {station} (feed {feed} is failing)",
                          station=station, feed=feed)  # fmt: skip
        click.echo(say(degraded_line), err=True)
    if not rows:
        click.echo(say(_("no alerts") if show_all else _("no open alerts")))
        return
    heads = [(_("RULE TYPE"), 12), (_("STATION"), 10), (_("LEVEL"), 7), (_("STATE"), 8),
             (_("OPENED"), 17)]  # fmt: skip
    columns = "".join(pad(say(h), w) + " " for h, w in heads)
    click.echo(pad(say(_("ID")), 4, right=True) + "  " + columns + say(_("ACK / NEXT")))
    for a in rows:
        if a.acknowledged_by:
            ack = say(_("acknowledged by {person}", person=a.acknowledged_by))
        elif a.next_escalation_at:
            ack = say(_("step {step}, next {at}", step=a.escalation_step,
                        at=_local(a.next_escalation_at, zone)))  # fmt: skip
        else:
            ack = say(_("step {step}", step=a.escalation_step))
        opened = _local(a.opened_at, zone)
        click.echo(
            f"{a.id:>4}  {a.rule_type:<12} {a.station:<10} {a.level:<7} {a.state:<8} "
            f"{opened:<17} {ack}"
        )


def _local(when: datetime, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M}"


def _alert_json(a: AlertRow, zone: ZoneInfo) -> dict[str, Any]:
    def iso(when: datetime | None) -> str | None:
        return when.astimezone(zone).isoformat() if when else None

    return {
        "id": a.id,
        "rule_type": a.rule_type,
        "station": a.station,
        "rule": a.rule_id,
        "level": a.level,
        "peak_level": a.peak_level,
        "state": a.state,
        "value": a.value,
        "unit": a.unit,
        "opened_at": iso(a.opened_at),
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": iso(a.acknowledged_at),
        "acknowledged_via": a.acknowledged_via,
        "escalation_step": a.escalation_step,
        "next_escalation_at": iso(a.next_escalation_at),
        "cleared_at": iso(a.cleared_at),
    }


@main.command()
@config_option
@click.argument("alert_id", type=click.IntRange(1, MAX_ID))
@by_or_url
@reports_errors
def ack(
    config_path: Path, alert_id: int, by: str | None, url: str | None, token: str | None
) -> None:
    """Acknowledge an alert: you take it on, and escalation stops."""
    who = remote(url, token, by)
    if isinstance(who, str):
        app = ready_app(config_path)
        app.lifecycle.acknowledge(alert_id, who, "cli", app.clock.now())
    else:
        who = str(who.acknowledge(alert_id).get("acknowledged_by"))
    done = _("alert #{id} acknowledged by {person}", id=alert_id, person=who)
    click.echo(say(done))


@main.command()
@config_option
@click.argument("alert_id", type=click.IntRange(1, MAX_ID))
@by_or_url
@reports_errors
def escalate(
    config_path: Path, alert_id: int, by: str | None, url: str | None, token: str | None
) -> None:
    """Page the next step of the alert's escalation policy now, without waiting."""
    who = remote(url, token, by)
    if isinstance(who, str):
        app = ready_app(config_path)
        pages = app.lifecycle.escalate_now(alert_id, who, "cli", app.clock.now())
        with app.db.sessions() as session:
            row = session.get(AlertRow, alert_id)
            step = row.escalation_step if row is not None else 0
    else:
        done = who.escalate(alert_id)
        step, pages = int(done["alert"]["escalation_step"]), int(done["pages"])
    click.echo(say(_("alert #{id} escalated to step {step}: {pages} page(s) queued", id=alert_id,
                     step=step, pages=pages)))  # fmt: skip


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def status(config_path: Path, as_json: bool) -> None:
    """Is floodwatch well? The database, the leader node, each feed's last poll, the outbox,
    the escalation tick. Exit 1 when anything is unhealthy."""
    from floodwatch.health import status as health_of

    app = build_app(config_path)
    health = health_of(app, app.clock.now())
    if as_json:
        out = {"ok": health.ok, "at": health.at.isoformat(), "problems": health.problems,
               **health.detail}  # fmt: skip
        click.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(_status_lines(app, health.detail))
        for problem in health.problems:
            click.echo(say(_("problem: {problem}", problem=problem)), err=True)
        click.echo(say(_("healthy") if health.ok else _("UNHEALTHY")))
    if not health.ok:
        sys.exit(1)


def _status_lines(app: App, d: dict[str, Any]) -> str:
    """`floodwatch status` for a person: one line per part, its label in a column."""
    where = d["database"]["where"]
    lines = [
        _("database  {where}: ok", where=where)
        if d["database"]["ok"]
        else _("database  {where}: UNREACHABLE", where=where)
    ]
    leader = d.get("leader")
    if leader:
        seen = app.office.local(datetime.fromisoformat(leader["seen_at"]))
        lines.append(_("leader    {node} (last seen {seen})", node=leader["node"], seen=seen))
    for name, feed in d.get("feeds", {}).items():
        poll = feed["last_poll"]
        if poll is None:
            lines.append(_("feed      {name}: never polled", name=name))
            continue
        at = app.office.local(datetime.fromisoformat(poll["at"]))
        outcome = _("ok") if poll["ok"] else _("FAILED: {error}", error=poll["error"])
        if feed["degraded"]:
            outcome = _("{outcome} (degraded)", outcome=outcome)
        lines.append(_("feed      {name}: {at} {outcome}, {stored} stored", name=name, at=at,
                       outcome=outcome, stored=poll["stored"]))  # fmt: skip
    if "outbox" in d:
        pending, oldest = d["outbox"]["pending"], d["outbox"]["oldest_due"]
        lines.append(
            _("outbox    {pending} waiting, oldest due {at}", pending=pending,
              at=app.office.local(datetime.fromisoformat(oldest)))
            if oldest
            else _("outbox    {pending} waiting", pending=pending)
        )  # fmt: skip
    tick = d.get("escalation_tick")
    if tick:
        lines.append(_("tick      {at}", at=app.office.local(datetime.fromisoformat(tick["at"]))))
    return "\n".join(say(line) for line in lines)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@config_option
@reports_errors
def upgrade(config_path: Path) -> None:
    """Create or migrate the database schema to the newest version (`run` does this too)."""
    app = build_app(config_path)
    app.db.upgrade()
    click.echo(say(_("database {where} is up to date", where=app.db.where)))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def plugins(as_json: bool) -> None:
    """List installed feed and notifier plugins with their options (built-ins are registered
    the same way as third-party packages)."""
    registry = Registry.from_entry_points()
    out: dict[str, dict[str, Any]] = {}
    for group, kinds in ((FEEDS_GROUP, registry.feeds), (NOTIFIERS_GROUP, registry.notifiers)):
        out[group] = {}
        for name in sorted(kinds):
            options = {
                key: {"type": _type_name(field.annotation), "required": field.is_required(),
                      "default": None if field.is_required() else repr(field.get_default(
                          call_default_factory=True)),
                      "description": field.description or ""}
                for key, field in kinds[name].Options.model_fields.items()
            }  # fmt: skip
            out[group][name] = {"origin": registry.origins[f"{group}:{name}"], "options": options}
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for group, entries in out.items():
        click.echo(f"{group}:")
        for name, entry in entries.items():
            click.echo(f"  {name:<12} {entry['origin']}")
            for key, o in entry["options"].items():
                needs = "required" if o["required"] else f"default {o['default']}"
                about = f"  {o['description']}" if o["description"] else ""
                click.echo(f"      {key}: {o['type']} ({needs}){about}")


def _type_name(annotation: Any) -> str:
    """An option's type as an administrator reads it: "str", "int | None", "secret"."""
    generic = getattr(annotation, "__args__", None) is not None
    text = str(annotation) if generic else getattr(annotation, "__name__", str(annotation))
    if "SecretStr" in text:
        return "secret (${ENV})" + (" | None" if "None" in text else "")
    text = re.sub(r"\b(?:typing|pydantic\.types|[a-z_]+(?:\.[a-z_]+)*)\.(?=[A-Za-z])", "", text)
    return re.sub(r"Annotated\[([^,\]]+)[^\]]*\]", r"\1", text)


@main.command(name="send-test")
@config_option
@click.option("--channel", required=True, help="The notifier's name in the config.")
@click.option("--to", "person_id", required=True, help="A person id in the rosters.")
@reports_errors
def send_test(config_path: Path, channel: str, person_id: str) -> None:
    """Send a test page to a person on one channel now, and print what became of it."""
    from floodwatch.notify.base import Message
    from floodwatch.notify.templates import test_message

    app = build_app(config_path)
    notifier = app.notifiers.get(channel)
    if notifier is None:
        raise click.BadParameter(
            say(_("no notifier named {name} (notifiers: {names})", name=repr(channel),
                  names=", ".join(app.notifiers))),
            param_hint="--channel",
        )  # fmt: skip
    roster = app.roster.current
    person = roster.people.get(person_id)
    if person is None:
        raise Unknown(_("unknown person {person}: not in the rosters", person=repr(person_id)))
    address = notifier.address_for(person)
    if address is None:
        raise Refused(_("{channel} has no address for {person}", channel=channel,
                        person=person_id))  # fmt: skip
    now = app.clock.now()
    subject, body = test_message(person.language, app.office.name, app.office.local(now), channel)
    key = f"test:{uuid.uuid4().hex}:{person.id}:{channel}"
    result = notifier.send(Message(0, key, person.id, address, person.language, subject, body))
    masked = logmask.mask(address)
    code = f", code {result.provider_code}" if result.provider_code else ""
    ref = f", id {result.provider_id}" if result.provider_id else ""
    click.echo(f"{channel} -> {person_id} ({masked}): {result.outcome.value}"
               f"{': ' + result.detail if result.detail else ''}{code}{ref}")  # fmt: skip
    if not result.outcome.succeeded:
        sys.exit(1)


@main.group()
def user() -> None:
    """People's access: passwords for the duty console, tokens for the API."""


@user.command()
@config_option
@click.argument("person_id", metavar="PERSON")
@reports_errors
def token(config_path: Path, person_id: str) -> None:
    """Issue PERSON a new API token (their earlier one stops working); shown once."""
    from floodwatch import tokens

    app = ready_app(config_path)
    if person_id not in app.roster.current.people:
        raise Unknown(_("unknown person {person}: not in the rosters", person=repr(person_id)))
    click.echo(tokens.issue(app.db, person_id, app.clock.now()))
    issued = _("a new token for {person}; keep it secret (it is not shown again)",
               person=person_id)  # fmt: skip
    click.echo(say(issued), err=True)


user.add_command(cli_users.set_password)
main.add_command(roster)
main.add_command(cli_records.log_cmd)
main.add_command(cli_records.handover_cmd)
main.add_command(cli_records.hazard_cmd)
main.add_command(cli_records.report_cmd)
main.add_command(cli_villages.villages_cmd)
main.add_command(cli_villages.broadcast_cmd)
main.add_command(cli_villages.drill_cmd)


@main.group()
def feeds() -> None:
    """Feed tools."""


@feeds.command(name="test")
@config_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per reading or warning.")
@reports_errors
def feeds_test(config_path: Path, name: str, as_json: bool) -> None:
    """Fetch once from feed NAME and print what it parsed (nothing is stored)."""
    from floodwatch.feeds.base import FeedError
    from floodwatch.feeds.official import WarningFeed

    app = build_app(config_path)
    feed = app.feeds.get(name)
    if feed is None:
        names = ", ".join(app.feeds) or say(_("none"))
        raise click.BadParameter(
            say(_("no feed named {name} (feeds: {names})", name=repr(name), names=names)),
            param_hint="NAME",
        )
    now = app.clock.now()
    zone = app.config.settings.timezone
    try:
        readings = feed.fetch(now)
        warnings = feed.fetch_warnings(now) if isinstance(feed, WarningFeed) else []
    except FeedError as exc:
        raise FloodwatchError(str(exc)) from None
    for r in readings:
        if as_json:
            item = {
                "station": r.station,
                "parameter": r.parameter,
                "value": r.value,
                "unit": r.unit,
            }
            click.echo(json.dumps({**item, "observed_at": r.observed_at.isoformat()}))
        else:
            click.echo(f"{r.observed_at.astimezone(zone):%Y-%m-%d %H:%M %Z}  {r.station:<12} "
                       f"{r.parameter:<14} {r.value:g} {r.unit}")  # fmt: skip
    for w in warnings:
        if as_json:
            click.echo(json.dumps({"warning": w.id, "msg_type": w.msg_type, "status": w.status,
                                   "event": w.event, "severity": w.severity,
                                   "headline": w.headline, "in_force": w.in_force},
                                  ensure_ascii=False))  # fmt: skip
        else:
            click.echo(f"warning {w.id}: {w.msg_type} {w.severity} {w.event}: {w.headline}")
    rejected = getattr(feed, "rejected", None)
    summary = _("{readings} reading(s), {warnings} warning(s) from feed {name}",
                readings=len(readings), warnings=len(warnings), name=name)  # fmt: skip
    if rejected:
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(rejected.items()))
        summary = _("{summary}; skipped: {skipped}", summary=summary, skipped=skipped)
    click.echo(say(summary), err=True)


def _duration(text: str, option: str) -> Any:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(text_of(exc, language()), param_hint=option) from None


def _log_sim_time(app: App) -> None:
    """On a demo clock, log lines carry the simulated time, in the office's zone."""
    if app.clock.speed == 1:
        return
    zone = app.config.settings.timezone

    class SimTime(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = f"[{app.clock.now().astimezone(zone):%m-%d %H:%M %Z}] {record.msg}"
            return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(SimTime())
