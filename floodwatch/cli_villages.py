"""`floodwatch villages`, `broadcast` and `drill`: the village warning chain from the command
line. Thin: parse, call the village desk or the drills, print."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from floodwatch.app import App, build_app
from floodwatch.cli_common import config_option, reports_errors
from floodwatch.durations import format_duration, parse_duration
from floodwatch.errors import FloodwatchError
from floodwatch.villages.desk import Chain
from floodwatch.villages.drills import DrillReport
from floodwatch.villages.model import ROLE_ZH, WARNING_ZH, WARNINGS

VIA = {"cli": "命令行", "sms": "短信", "voice": "电话", "web": "网页"}


def _app(config_path: Path) -> App:
    app = build_app(config_path)
    app.db.require()
    return app


def _local(when: datetime | None, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M}" if when else "-"


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# -- floodwatch villages -------------------------------------------------------------------------


@click.group(name="villages", invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per village.")
@click.pass_context
@reports_errors
def villages_cmd(ctx: click.Context, config_path: Path, as_json: bool) -> None:
    """The village warning chain: each village's warning, who answered (叫应) and when, what
    was reported moved, what its loudspeakers did."""
    if ctx.invoked_subcommand is not None:
        return
    app = _app(config_path)
    zone = app.config.settings.timezone
    chains = app.village_desk.chain()
    if as_json:
        click.echo(json.dumps([c.as_json(zone) for c in chains], ensure_ascii=False, indent=2))
        return
    if not chains:
        click.echo("no villages configured (see README: Villages)")
        return
    for chain in chains:
        click.echo("\n".join(_chain_lines(chain, zone)))


def _chain_lines(chain: Chain, zone: ZoneInfo) -> list[str]:
    v, w = chain.village, chain.warning
    head = f"{v.name} ({v.id})  {v.households}户{v.residents}人"
    if w is None:
        return [f"{head}  no warning"]
    since = w.raised_at or w.issued_at
    lines = [
        f"{head}  {WARNING_ZH[w.level]} ({w.level}) since {_local(since, zone)} by "
        f"{w.raised_by or w.issued_by}; 叫应 alert #{w.alert_id}"
    ]
    for a in chain.answers:
        role = "、".join(ROLE_ZH.get(r, r) for r in a.role.split("、"))
        if a.answered_at is not None:
            took = f", after {format_duration(timedelta(seconds=a.seconds))}" if a.seconds else ""
            state = f"answered {_local(a.answered_at, zone)} ({a.via}{took})"
        elif a.paged_at is None:
            state = "NOT PAGED (no address on the channels)"
        else:
            state = "NOT ANSWERED" + (
                f" (named to the leader {_local(chain.named_at, zone)})" if chain.named_at else ""
            )
        lines.append(f"  {a.name:<6} {a.person:<16} {role:<8} {state}")
    households, people = chain.moved
    lines.append(f"  moved: {households}户{people}人 ({len(chain.reports)} report(s))")
    for s in chain.speakers:
        lines.append(f"  loudspeaker {s.key:<16} {s.channel:<18} {s.status or 'not sounded'}")
    return lines


@villages_cmd.command(name="warn")
@config_option
@click.argument("village")
@click.option("--level", "warning", required=True, type=click.Choice(WARNINGS),
              help="prepare (准备转移) or move_now (立即转移).")  # fmt: skip
@click.option("--by", "person", required=True, help="Your person id: the leader on duty.")
@reports_errors
def warn_cmd(config_path: Path, village: str, warning: str, person: str) -> None:
    """Warn VILLAGE by hand (the leader on duty): its responsible persons are paged and must
    answer, its loudspeakers sound. A warning only rises."""
    app = _app(config_path)
    row = app.village_desk.warn(village, warning, person, app.clock.now())
    click.echo(
        f"{village}: {WARNING_ZH[row.level]} ({row.level}) issued; 叫应 alert #{row.alert_id}"
    )


@villages_cmd.command(name="clear")
@config_option
@click.argument("village")
@click.option("--by", "person", required=True, help="Your person id: the leader on duty.")
@reports_errors
def clear_cmd(config_path: Path, village: str, person: str) -> None:
    """Clear VILLAGE's warning (only the leader on duty may): the reminders stop, the
    responsible persons are told and the loudspeakers say so."""
    app = _app(config_path)
    row = app.village_desk.clear(village, person, app.clock.now())
    click.echo(f"{village}: {WARNING_ZH[row.level]} ({row.level}) cleared by {person}")


@villages_cmd.command(name="moved")
@config_option
@click.argument("village")
@click.option("--households", required=True, type=click.IntRange(0, 100_000))
@click.option("--people", required=True, type=click.IntRange(0, 1_000_000))
@click.option("--by", "person", required=True,
              help="Your person id: a responsible person of the village, or on duty.")  # fmt: skip
@reports_errors
def moved_cmd(config_path: Path, village: str, households: int, people: int, person: str) -> None:
    """Report the households and people of VILLAGE moved so far (your latest report counts;
    a responsible person's report also answers the 叫应)."""
    app = _app(config_path)
    total = app.village_desk.moved(village, households, people, person, "cli", app.clock.now())
    click.echo(f"{village}: {households}户{people}人 reported by {person}; in all {total[0]}户"
               f"{total[1]}人")  # fmt: skip


# -- floodwatch broadcast ------------------------------------------------------------------------


@click.command(name="broadcast")
@config_option
@click.option("--villages", "village_ids", required=True, metavar="A,B",
              help="The villages whose loudspeakers say it, by id.")  # fmt: skip
@click.option("--text", required=True, help="What the loudspeakers say (at most 500 characters).")
@click.option("--by", "person", required=True, help="Your person id in the roster.")
@reports_errors
def broadcast_cmd(config_path: Path, village_ids: str, text: str, person: str) -> None:
    """Broadcast TEXT to the loudspeakers of villages, now; recorded with who sent it and to
    where (an event and the duty log)."""
    app = _app(config_path)
    event, pages = app.village_desk.broadcast(_ids(village_ids), text, person, app.clock.now())
    click.echo(f"broadcast #{event}: {pages} loudspeaker(s) queued")


# -- floodwatch drill ----------------------------------------------------------------------------


@click.command(name="drill")
@config_option
@click.option("--level", help="The level the drill's alert is at (e.g. orange).")
@click.option("--station", help="The station the drill's alert is at.")
@click.option("--villages", "village_ids", default="", metavar="A,B",
              help="The villages warned (default: those that watch the station).")  # fmt: skip
@click.option("--by", "person", help="Your person id in the roster.")
@click.option("--for", "run_for", metavar="DURATION", default=None,
              help="How long the drill runs before its report (default: the longest village "
              "wait and 5 minutes; Ctrl-C ends it early).")  # fmt: skip
@click.option("--report", "report_id", type=click.IntRange(1), default=None, metavar="ID",
              help="Print the report of drill ID instead.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@reports_errors
def drill_cmd(
    config_path: Path, level: str | None, station: str | None, village_ids: str,
    person: str | None, run_for: str | None, report_id: int | None, as_json: bool,
) -> None:  # fmt: skip
    """Run a drill (演练) of the whole chain on the real channels: every message is marked
    演练 / EXERCISE; it ends with its report (who was reached, on which channel, who answered
    and how fast, who never did, which loudspeakers were dispatched)."""
    app = _app(config_path)
    zone = app.config.settings.timezone
    if report_id is not None:
        _print_report(app.drills.report(report_id), zone, as_json)
        return
    if not level or not station or not person:
        given = (("--level", level), ("--station", station), ("--by", person))
        missing = ", ".join(option for option, value in given if not value)
        raise click.UsageError(f"a drill needs {missing} (or --report ID)")
    try:
        duration = parse_duration(run_for) if run_for else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    drill = app.drills.start(level, station, _ids(village_ids), person, app.clock.now())
    if duration is None:
        waits = [app.villages.by_id[v].wait for v in drill.villages.get("villages", [])]
        duration = max(waits, default=timedelta(0)) + timedelta(minutes=5)
    ends = drill.started_at + duration
    click.echo(f"drill #{drill.id} started: {drill.level} at {drill.station}, villages "
               f"{', '.join(drill.villages.get('villages', [])) or 'none'}; report at "
               f"{_local(ends, zone)} (Ctrl-C ends it now)", err=True)  # fmt: skip
    dispatcher = app.dispatcher(f"drill-{drill.id}")
    try:
        while True:
            now = app.clock.now()
            app.lifecycle.escalate(now)
            app.village_desk.tick(now)
            dispatcher.deliver_due(now)
            if now >= ends:
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        click.echo("ending the drill now", err=True)
    report = app.drills.end(drill.id, person, app.clock.now())
    dispatcher.deliver_due(app.clock.now())
    _print_report(report, zone, as_json)


def _print_report(report: DrillReport, zone: ZoneInfo, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_json(zone), ensure_ascii=False, indent=2))
        return
    d = report.drill
    click.echo(f"演练 / drill #{d.id}: {d.level} at {d.station}; villages "
               f"{', '.join(d.villages.get('villages', [])) or 'none'}")  # fmt: skip
    click.echo(f"started {_local(d.started_at, zone)} by {d.started_by}; ended "
               f"{_local(d.ended_at, zone)} by {d.ended_by or '-'}")  # fmt: skip
    click.echo(f"people: {len(report.people)} paged, {len(report.reached)} reached, "
               f"{len(report.answered)} answered, {len(report.never)} never did")  # fmt: skip
    for p in report.people:
        channels = ", ".join(f"{c.channel}: {c.status}" for c in p.contacts)
        if p.answered_at is not None:
            took = format_duration(timedelta(seconds=p.seconds or 0))
            answer = f"answered {_local(p.answered_at, zone)} via {p.via} after {took}"
        else:
            answer = "NEVER ANSWERED" if p.owed else "(told, no answer asked)"
        role = ROLE_ZH.get(p.role or "", p.role or "-")
        click.echo(f"  {p.name:<6} {p.person:<16} {role:<8} {channels:<40} {answer}")
    dispatched = len(report.dispatched)
    click.echo(f"loudspeakers: {len(report.loudspeakers)}, {dispatched} dispatched")
    for key, c in report.loudspeakers:
        click.echo(f"  {key:<16} {c.channel:<18} {c.status}{': ' + c.detail if c.detail else ''}")


# -- floodwatch alerts --cap ---------------------------------------------------------------------


def cap_documents(config_path: Path, alert_id: int) -> str:
    """The CAP 1.2 messages of alert ID (of its village warning, for a round of 叫应), oldest
    first, each a whole XML document, separated by a blank line."""
    app = _app(config_path)
    messages = app.cap.chain(alert_id)
    if not messages:
        raise FloodwatchError(f"alert #{alert_id} has no CAP message yet")
    return "\n".join(m.xml for m in messages)
