"""`floodwatch villages`, `broadcast` and `drill`: the village warning chain from the command
line. Thin: parse, call the village desk or the drills, print."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from floodwatch.cli_common import (
    by_or_url,
    config_option,
    language,
    ready_app,
    remote,
    reports_errors,
    say,
)
from floodwatch.durations import format_duration, parse_duration
from floodwatch.i18n import Refused, _, text_of
from floodwatch.villages.desk import Chain
from floodwatch.villages.drills import DrillReport
from floodwatch.villages.model import ROLE_ZH, WARNING_ZH, WARNINGS

VIA = {"cli": "命令行", "sms": "短信", "voice": "电话", "web": "网页"}


def _local(when: datetime | None, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M}" if when else "-"


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _village_list(villages: dict[str, list[str]]) -> str:
    return ", ".join(villages.get("villages", [])) or say(_("none"))


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
    app = ready_app(config_path)
    zone = app.config.settings.timezone
    chains = app.village_desk.chain()
    if as_json:
        click.echo(json.dumps([c.as_json(zone) for c in chains], ensure_ascii=False, indent=2))
        return
    if not chains:
        click.echo(say(_("no villages configured (see README: Villages)")))
        return
    for chain in chains:
        click.echo("\n".join(_chain_lines(chain, zone)))


def _chain_lines(chain: Chain, zone: ZoneInfo) -> list[str]:
    v, w = chain.village, chain.warning
    head = f"{v.name} ({v.id})  {v.households}户{v.residents}人"
    if w is None:
        return [say(_("{village}  no warning", village=head))]
    since = w.raised_at or w.issued_at
    lines = [
        say(_("{village}  {warning} ({level}) since {since} by {person}; 叫应 alert #{alert}",
              village=head, warning=WARNING_ZH[w.level], level=w.level,
              since=_local(since, zone), person=w.raised_by or w.issued_by,
              alert=w.alert_id))
    ]  # fmt: skip
    for a in chain.answers:
        role = "、".join(ROLE_ZH.get(r, r) for r in a.role.split("、"))
        if a.answered_at is not None:
            at = _local(a.answered_at, zone)
            state = say(
                _("answered {at} ({via}, after {took})", at=at, via=a.via,
                  took=format_duration(timedelta(seconds=a.seconds)))
                if a.seconds
                else _("answered {at} ({via})", at=at, via=a.via)
            )  # fmt: skip
        elif a.paged_at is None:
            state = say(_("NOT PAGED (no address on the channels)"))
        elif chain.named_at:
            state = say(_("NOT ANSWERED (named to the leader {at})",
                          at=_local(chain.named_at, zone)))  # fmt: skip
        else:
            state = say(_("NOT ANSWERED"))
        lines.append(f"  {a.name:<6} {a.person:<16} {role:<8} {state}")
    households, people = chain.moved
    lines.append("  " + say(_("moved: {households}户{people}人 ({reports} report(s))",
                              households=households, people=people,
                              reports=len(chain.reports))))  # fmt: skip
    for s in chain.speakers:
        status = s.status or say(_("not sounded"))
        lines.append("  " + say(_("loudspeaker {key} {channel} {status}", key=s.key.ljust(16),
                                  channel=s.channel.ljust(18), status=status)))  # fmt: skip
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
    app = ready_app(config_path)
    row = app.village_desk.warn(village, warning, person, app.clock.now())
    click.echo(say(_("{village}: {warning} ({level}) issued; 叫应 alert #{alert}", village=village,
                     warning=WARNING_ZH[row.level], level=row.level,
                     alert=row.alert_id)))  # fmt: skip


@villages_cmd.command(name="clear")
@config_option
@click.argument("village")
@by_or_url
@reports_errors
def clear_cmd(
    config_path: Path, village: str, by: str | None, url: str | None, token: str | None
) -> None:
    """Clear VILLAGE's warning (only the leader on duty may): the reminders stop, the
    responsible persons are told and the loudspeakers say so."""
    who = remote(url, token, by)
    if isinstance(who, str):
        app = ready_app(config_path)
        row = app.village_desk.clear(village, who, app.clock.now())
        level, by = row.level, who
    else:
        done = who.clear_village(village)
        level, by = str(done["level"]), str(done["cleared_by"])
    click.echo(say(_("{village}: {warning} ({level}) cleared by {person}", village=village,
                     warning=WARNING_ZH[level], level=level, person=by)))  # fmt: skip


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
    app = ready_app(config_path)
    total = app.village_desk.moved(village, households, people, person, "cli", app.clock.now())
    click.echo(say(_("{village}: {households}户{people}人 reported by {person}; in all "
                     "{all_households}户{all_people}人", village=village, households=households,
                     people=people, person=person, all_households=total[0],
                     all_people=total[1])))  # fmt: skip


# -- floodwatch broadcast ------------------------------------------------------------------------


@click.command(name="broadcast")
@config_option
@click.option("--villages", "village_ids", required=True, metavar="A,B",
              help="The villages whose loudspeakers say it, by id.")  # fmt: skip
@click.option("--text", required=True, help="What the loudspeakers say (at most 500 characters).")
@by_or_url
@reports_errors
def broadcast_cmd(
    config_path: Path, village_ids: str, text: str, by: str | None, url: str | None,
    token: str | None,
) -> None:  # fmt: skip
    """Broadcast TEXT to the loudspeakers of villages, now; recorded with who sent it and to
    where (an event and the duty log)."""
    who = remote(url, token, by)
    if isinstance(who, str):
        app = ready_app(config_path)
        event, pages = app.village_desk.broadcast(_ids(village_ids), text, who, app.clock.now())
    else:
        done = who.broadcast(_ids(village_ids), text)
        event, pages = int(done["event"]), int(done["loudspeakers"])
    click.echo(say(_("broadcast #{event}: {pages} loudspeaker(s) queued", event=event,
                     pages=pages)))  # fmt: skip


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
    app = ready_app(config_path)
    zone = app.config.settings.timezone
    if report_id is not None:
        _print_report(app.drills.report(report_id), zone, as_json)
        return
    if not level or not station or not person:
        given = (("--level", level), ("--station", station), ("--by", person))
        missing = ", ".join(option for option, value in given if not value)
        raise click.UsageError(say(_("a drill needs {missing} (or --report ID)", missing=missing)))
    try:
        duration = parse_duration(run_for) if run_for else None
    except ValueError as exc:
        raise click.BadParameter(text_of(exc, language()), param_hint="--for") from None
    drill = app.drills.start(level, station, _ids(village_ids), person, app.clock.now())
    if duration is None:
        waits = [app.villages.by_id[v].wait for v in drill.villages.get("villages", [])]
        duration = max(waits, default=timedelta(0)) + timedelta(minutes=5)
    ends = drill.started_at + duration
    started = _("drill #{id} started: {level} at {station}, villages {villages}; report at {at} "
                "(Ctrl-C ends it now)", id=drill.id, level=drill.level, station=drill.station,
                villages=_village_list(drill.villages), at=_local(ends, zone))  # fmt: skip
    click.echo(say(started), err=True)
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
        click.echo(say(_("ending the drill now")), err=True)
    report = app.drills.end(drill.id, person, app.clock.now())
    dispatcher.deliver_due(app.clock.now())
    _print_report(report, zone, as_json)


def _print_report(report: DrillReport, zone: ZoneInfo, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_json(zone), ensure_ascii=False, indent=2))
        return
    d = report.drill
    click.echo(say(_("演练 / drill #{id}: {level} at {station}; villages {villages}", id=d.id,
                     level=d.level, station=d.station,
                     villages=_village_list(d.villages))))  # fmt: skip
    click.echo(say(_("started {started} by {person}; ended {ended} by {ended_by}",
                     started=_local(d.started_at, zone), person=d.started_by,
                     ended=_local(d.ended_at, zone), ended_by=d.ended_by or "-")))  # fmt: skip
    click.echo(say(_("people: {paged} paged, {reached} reached, {answered} answered, {never} "
                     "never did", paged=len(report.people), reached=len(report.reached),
                     answered=len(report.answered), never=len(report.never))))  # fmt: skip
    for p in report.people:
        channels = ", ".join(f"{c.channel}: {c.status}" for c in p.contacts)
        if p.answered_at is not None:
            took = format_duration(timedelta(seconds=p.seconds or 0))
            answer = say(_("answered {at} via {via} after {took}",
                           at=_local(p.answered_at, zone), via=p.via, took=took))  # fmt: skip
        else:
            answer = say(_("NEVER ANSWERED") if p.owed else _("(told, no answer asked)"))
        role = ROLE_ZH.get(p.role or "", p.role or "-")
        click.echo(f"  {p.name:<6} {p.person:<16} {role:<8} {channels:<40} {answer}")
    dispatched = len(report.dispatched)
    click.echo(say(_("loudspeakers: {count}, {dispatched} dispatched",
                     count=len(report.loudspeakers), dispatched=dispatched)))  # fmt: skip
    for key, c in report.loudspeakers:
        click.echo(f"  {key:<16} {c.channel:<18} {c.status}{': ' + c.detail if c.detail else ''}")


# -- floodwatch alerts --cap ---------------------------------------------------------------------


def cap_documents(config_path: Path, alert_id: int) -> str:
    """The CAP 1.2 messages of alert ID (of its village warning, for a round of 叫应), oldest
    first, each a whole XML document, separated by a blank line."""
    app = ready_app(config_path)
    messages = app.cap.chain(alert_id)
    if not messages:
        raise Refused(_("alert #{id} has no CAP message yet", id=alert_id))
    return "\n".join(m.xml for m in messages)
