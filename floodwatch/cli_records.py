"""`floodwatch log|handover|hazard|report`: the duty office's records from the command line.

Thin: parse arguments, call floodwatch.records, print. Every time these commands tell without
--date/--at is the service's clock (the demo's clock in the demo). Bad input (an unknown person,
a bad date, a hazard that does not exist) is one line and exit code 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from floodwatch.app import App
from floodwatch.cli_common import (
    by_or_url,
    config_option,
    pad,
    ready_app,
    remote,
    remote_options,
    reports_errors,
    say,
)
from floodwatch.i18n import Refused, Unknown, _
from floodwatch.office import local_time
from floodwatch.records import days, dutylog
from floodwatch.records.hazards import due_day, is_overdue
from floodwatch.records.publish import FORMATS, Format
from floodwatch.store.models import HandoverRow, HazardEventRow, HazardRow, LogEntryRow

MAX_ID = 2**31 - 1
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead.")
by_option = click.option("--by", "by", required=True, metavar="ID", help="Your person id.")


def _person(app: App, person: str, option: str = "--by") -> str:
    if person not in app.roster.current.people:
        raise Unknown(_("{option}: unknown person {person}: not in the rosters", option=option,
                        person=repr(person)))  # fmt: skip
    return person


def _local(when: datetime | None, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M}" if when else "-"


def _iso(when: datetime | None, zone: ZoneInfo) -> str | None:
    return when.astimezone(zone).isoformat() if when else None


# -- the duty log --------------------------------------------------------------------------------


@click.group(name="log")
def log_cmd() -> None:
    """The duty log (值班记录): add an entry, show a day's entries. Entries are never edited or
    deleted: a correction is a new entry (--corrects ID)."""


@log_cmd.command(name="add")
@config_option
@click.argument("text")
@click.option(
    "--kind", type=click.Choice(dutylog.MANUAL), default="note", show_default=True,
    help="What the entry records.",
)  # fmt: skip
@click.option(
    "--corrects", type=click.IntRange(1, MAX_ID), default=None, metavar="ENTRY",
    help="This entry corrects entry ENTRY (which stays as it was).",
)  # fmt: skip
@by_or_url
@reports_errors
def log_add(
    config_path: Path, text: str, by: str | None, kind: str, corrects: int | None,
    url: str | None, token: str | None,
) -> None:  # fmt: skip
    """Write TEXT to the duty log as person --by (or as your token's person with --url), now."""
    who = remote(url, token, by)
    if isinstance(who, str):
        app = ready_app(config_path)
        _person(app, who)
        with app.db.transaction() as session:
            row = dutylog.add(session, app.clock.now(), who, text, kind, corrects)
        entry, at = row.id, app.office.local(row.at)
    else:
        done = who.write_log(text, kind, corrects)
        entry, at = (
            int(done["id"]),
            local_time(datetime.fromisoformat(done["at"]), who.office_zone()),
        )
    if corrects:
        click.echo(say(_("duty-log entry #{id} written at {at} (corrects #{corrects})",
                         id=entry, at=at, corrects=corrects)))  # fmt: skip
    else:
        click.echo(say(_("duty-log entry #{id} written at {at}", id=entry, at=at)))


@log_cmd.command(name="show")
@config_option
@click.option(
    "--date",
    "day_text",
    metavar="DATE",
    default=None,
    help="The office day YYYY-MM-DD (default: today by the service's clock).",
)
@click.option(
    "--from",
    "start_text",
    metavar="WHEN",
    default=None,
    help='From this day or time ("2018-05-28" or "2018-05-28 08:00").',
)
@click.option(
    "--to",
    "end_text",
    metavar="WHEN",
    default=None,
    help="Up to the end of this day, or to this time (default: now).",
)
@click.option(
    "--kind", "kinds", multiple=True, metavar="KIND", help="Only entries of this kind (repeatable)."
)
@json_option
@reports_errors
def log_show(
    config_path: Path, day_text: str | None, start_text: str | None, end_text: str | None,
    kinds: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """The duty log of a day (or of --from/--to), oldest first, corrections marked."""
    app = ready_app(config_path)
    zone = app.office.zone
    day_starts = days.starts(app.config.settings.report.day_starts)
    known = dutylog.kinds()
    for kind in kinds:
        if kind not in known:
            raise Refused(_("--kind: unknown kind {kind} (kinds: {kinds})", kind=repr(kind),
                            kinds=", ".join(known)))  # fmt: skip
    if day_text and (start_text or end_text):
        raise Refused(_("give --date, or --from/--to, not both"))
    now = app.clock.now()
    if start_text or end_text:
        start = (
            days.parse_bound(start_text, "--from", zone, day_starts, end=False)
            if start_text
            else days.window(days.day_of(now, zone, day_starts), zone, day_starts)[0]
        )
        end = days.parse_bound(end_text, "--to", zone, day_starts, end=True) if end_text else now
        if end <= start:
            raise Refused(_("--to is not after --from"))
    else:
        day = (
            days.parse_date(day_text, "--date") if day_text else days.day_of(now, zone, day_starts)
        )
        start, end = days.window(day, zone, day_starts)
    with app.db.sessions() as session:
        rows = dutylog.entries(session, start, end, kinds)
        fixed = dutylog.corrected_by(session, [r.id for r in rows])
    if as_json:
        click.echo(json.dumps([_entry_json(r, fixed.get(r.id, []), zone) for r in rows],
                              ensure_ascii=False, indent=2))  # fmt: skip
        return
    click.echo(say(_("duty log 值班记录 {start} – {end} ({zone})", start=_local(start, zone),
                     end=_local(end, zone), zone=zone.key)))  # fmt: skip
    if not rows:
        click.echo(say(_("no entries")))
        return
    for r in rows:
        head = f"{r.at.astimezone(zone):%m-%d %H:%M}  #{r.id:<5} {r.kind:<18} {r.author:<11} "
        notes = []
        if r.corrects:
            notes.append(say(_("[corrects #{id}]", id=r.corrects)))
        if fixed.get(r.id):
            by = ", ".join(f"#{n}" for n in fixed[r.id])
            notes.append(say(_("[corrected by {entries}]", entries=by)))
        lines = (" ".join([*notes, r.text]) if notes else r.text).splitlines() or [""]
        click.echo(head + lines[0])
        for more in lines[1:]:
            click.echo(" " * len(head) + more)


def _entry_json(r: LogEntryRow, corrected_by: list[int], zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": r.id, "at": _iso(r.at, zone), "kind": r.kind, "author": r.author, "text": r.text,
        "corrects": r.corrects, "corrected_by": corrected_by, "data": r.data,
    }  # fmt: skip


# -- handover ------------------------------------------------------------------------------------


@click.group(name="handover", invoke_without_command=True)
@config_option
@click.option(
    "--by",
    "by",
    default=None,
    metavar="ID",
    help="Write the handover record as this person of the outgoing team.",
)
@click.option("--note", default=None, help="What the incoming team must know.")
@remote_options
@click.pass_context
@reports_errors
def handover_cmd(
    ctx: click.Context, config_path: Path, by: str | None, note: str | None, url: str | None,
    token: str | None,
) -> None:  # fmt: skip
    """Write the handover record (交接班记录) of the nearest shift change: both teams, the open
    alerts and hazards, your note. The incoming leader is paged to confirm it."""
    if ctx.invoked_subcommand is not None:
        if by or note or url:
            raise click.UsageError(
                say(_("--by, --note and --url go after `handover`, without a subcommand"))
            )
        return
    if note is None or (by is None and url is None):
        raise click.UsageError(say(_("writing a handover record needs --by ID and --note TEXT")))
    who = remote(url, token, by)
    if isinstance(who, str):
        app = ready_app(config_path)
        row = app.handover_book.write(who, note, app.clock.now())
        record = Written(row.id, row.by, row.handover_at, row.outgoing, row.incoming,
                         len(row.open_alerts["alerts"]), len(row.open_hazards["hazards"]),
                         row.alert_id, app.office.zone)  # fmt: skip
    else:
        done = who.hand_over(note)
        at = done.get("handover_at")
        record = Written(int(done["id"]), str(done["by"]),
                         datetime.fromisoformat(at) if at else None, done["outgoing"],
                         done["incoming"], int(done["open_alerts"]), int(done["open_hazards"]),
                         done.get("alert"), who.office_zone())  # fmt: skip
    record.echo()


@dataclass(frozen=True)
class Written:
    """A handover record just written, as `floodwatch handover` tells it, whether it was
    written here or through the API."""

    id: int
    by: str
    handover_at: datetime | None
    outgoing: dict[str, list[str]]
    incoming: dict[str, list[str]]
    open_alerts: int
    open_hazards: int
    alert: int | None
    zone: ZoneInfo

    def echo(self) -> None:
        click.echo(say(_("handover record #{id} for the shift change at {at} written by {person}",
                         id=self.id, at=_local(self.handover_at, self.zone),
                         person=self.by)))  # fmt: skip
        for role, people in self.incoming.items():
            click.echo(f"  {role}: {', '.join(self.outgoing.get(role, [])) or '-'} -> "
                       f"{', '.join(people) or '-'}")  # fmt: skip
        click.echo("  " + say(_("open alerts: {alerts}, open hazards: {hazards}",
                                alerts=self.open_alerts, hazards=self.open_hazards)))  # fmt: skip
        click.echo(say(_("the incoming leader confirms it: floodwatch handover accept --by ID "
                         "(or acknowledges alert #{alert})", alert=self.alert)))  # fmt: skip


@handover_cmd.command(name="accept")
@config_option
@by_or_url
@reports_errors
def handover_accept(config_path: Path, by: str | None, url: str | None, token: str | None) -> None:
    """Confirm the handover record waiting for you (the incoming leader)."""
    who = remote(url, token, by)
    if isinstance(who, str):
        app = ready_app(config_path)
        _person(app, who)
        row = app.handover_book.waiting()
        if row.alert_id is None:  # waiting() only returns records with an alert
            raise Refused(_("handover record #{id} has no alert to confirm", id=row.id))
        app.lifecycle.acknowledge(row.alert_id, who, "cli", app.clock.now())
        record, person = row.id, who
    else:
        done = who.accept_handover()
        record, person = int(done["id"]), str(done["accepted_by"])
    click.echo(say(_("handover record #{id} confirmed by {person}", id=record, person=person)))


@handover_cmd.command(name="list")
@config_option
@click.option(
    "--last",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="How many records, newest first.",
)
@json_option
@reports_errors
def handover_list(config_path: Path, last: int, as_json: bool) -> None:
    """The latest handover records, whether and by whom each was confirmed."""
    app = ready_app(config_path)
    zone = app.office.zone
    rows = app.handover_book.latest(last)
    if as_json:
        click.echo(json.dumps([_handover_json(r, zone) for r in rows], ensure_ascii=False,
                              indent=2))  # fmt: skip
        return
    if not rows:
        click.echo(say(_("no handover records")))
        return
    for r in rows:
        if r.accepted_at:
            state = say(_("confirmed by {person} ({via}) {at}", person=r.accepted_by,
                          via=r.accepted_via, at=_local(r.accepted_at, zone)))  # fmt: skip
        else:
            state = say(_("NOT CONFIRMED"))
        click.echo(say(_("#{id} {at}  by {person} {state}", id=str(r.id).ljust(4),
                         at=_local(r.handover_at, zone), person=pad(r.by, 11),
                         state=state)))  # fmt: skip
        click.echo("      " + say(_("alerts open {alerts}, hazards open {hazards}; note: {note}",
                                    alerts=len(r.open_alerts["alerts"]),
                                    hazards=len(r.open_hazards["hazards"]),
                                    note=r.note or "-")))  # fmt: skip


def _handover_json(r: HandoverRow, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": r.id, "written_at": _iso(r.at, zone), "handover_at": _iso(r.handover_at, zone),
        "by": r.by, "outgoing": r.outgoing, "incoming": r.incoming,
        "open_alerts": r.open_alerts["alerts"], "open_hazards": r.open_hazards["hazards"],
        "note": r.note, "alert": r.alert_id, "accepted_at": _iso(r.accepted_at, zone),
        "accepted_by": r.accepted_by, "accepted_via": r.accepted_via,
    }  # fmt: skip


# -- hazards -------------------------------------------------------------------------------------


@click.group(name="hazard")
def hazard_cmd() -> None:
    """Hazards to rectify (隐患整改): add, list, mark done, show a hazard's history."""


@hazard_cmd.command(name="add")
@config_option
@click.option("--where", required=True, help="Where the hazard is.")
@click.option("--what", required=True, help="What is wrong.")
@click.option("--owner", required=True, metavar="ID", help="Who must rectify it (a person id).")
@click.option(
    "--due",
    "due_text",
    required=True,
    metavar="DATE",
    help="The day it must be done by (YYYY-MM-DD).",
)
@click.option("--village", default=None, help="The village it is in.")
@by_option
@reports_errors
def hazard_add(
    config_path: Path, where: str, what: str, owner: str, due_text: str, village: str | None,
    by: str,
) -> None:  # fmt: skip
    """Record a hazard found on patrol; its owner is reminded before the deadline and the
    leader on duty is paged if it passes."""
    due = days.parse_date(due_text, "--due")
    app = ready_app(config_path)
    row = app.hazards.add(where, what, owner, due, by, app.clock.now(), village)
    click.echo(say(_("hazard #{id} recorded: {where}: {what}; owner {owner}, due {due}",
                     id=row.id, where=row.where, what=row.what, owner=owner,
                     due=due)))  # fmt: skip


@hazard_cmd.command(name="list")
@config_option
@click.option("--overdue", is_flag=True, help="Only hazards past their deadline.")
@click.option("--all", "show_all", is_flag=True, help="Include hazards already done.")
@json_option
@reports_errors
def hazard_list(config_path: Path, overdue: bool, show_all: bool, as_json: bool) -> None:
    """Open hazards by deadline (--overdue: only those overdue; --all: done ones too)."""
    app = ready_app(config_path)
    zone = app.office.zone
    now = app.clock.now()
    rows = app.hazards.listing(now, overdue_only=overdue, include_done=show_all)
    if as_json:
        click.echo(json.dumps([_hazard_json(h, now, zone) for h in rows], ensure_ascii=False,
                              indent=2))  # fmt: skip
        return
    if not rows:
        click.echo(say(_("no overdue hazards") if overdue else _("no open hazards")))
        return
    for h in rows:
        if h.state == "done":
            state = say(_("done {at} by {person}", at=_local(h.done_at, zone), person=h.done_by))
        else:
            state = say(_("OVERDUE") if is_overdue(h, now) else _("open"))
        village = f" [{h.village}]" if h.village else ""
        click.echo(say(_("#{id} due {due}  {state} owner {owner} {where}{village}: {what}",
                         id=str(h.id).ljust(4), due=due_day(h.due, zone), state=pad(state, 8),
                         owner=pad(h.owner, 11), where=h.where, village=village,
                         what=h.what)))  # fmt: skip


@hazard_cmd.command(name="done")
@config_option
@click.argument("hazard_id", type=click.IntRange(1, MAX_ID), metavar="ID")
@by_option
@click.option("--note", required=True, help="How it was rectified.")
@reports_errors
def hazard_done(config_path: Path, hazard_id: int, by: str, note: str) -> None:
    """Mark hazard ID rectified."""
    app = ready_app(config_path)
    row = app.hazards.done(hazard_id, by, note, app.clock.now())
    at = app.office.local(row.done_at or row.found_at)
    click.echo(say(_("hazard #{id} done by {person} at {at}", id=row.id, person=by, at=at)))


@hazard_cmd.command(name="show")
@config_option
@click.argument("hazard_id", type=click.IntRange(1, MAX_ID), metavar="ID")
@json_option
@reports_errors
def hazard_show(config_path: Path, hazard_id: int, as_json: bool) -> None:
    """Hazard ID with its whole history."""
    app = ready_app(config_path)
    zone = app.office.zone
    row, history = app.hazards.history(hazard_id)
    now = app.clock.now()
    if as_json:
        out = {**_hazard_json(row, now, zone), "history": [_step_json(e, zone) for e in history]}
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(say(_("hazard #{id}: {where}: {what}", id=row.id, where=row.where, what=row.what)))
    state = _("OVERDUE") if is_overdue(row, now) else _HAZARD_STATES.get(row.state)
    click.echo(say(_("owner {owner}, due {due}, {state}", owner=row.owner,
                     due=due_day(row.due, zone),
                     state=say(state) if state else row.state)))  # fmt: skip
    for e in history:
        click.echo(f"  {_local(e.at, zone)}  {e.kind:<9} {e.by:<11} {e.note}")


_HAZARD_STATES = {"open": _("open"), "done": _("done")}


def _hazard_json(h: HazardRow, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": h.id, "where": h.where, "what": h.what, "owner": h.owner, "village": h.village,
        "due": due_day(h.due, zone).isoformat(), "state": h.state, "overdue": is_overdue(h, now),
        "found_at": _iso(h.found_at, zone), "found_by": h.found_by,
        "done_at": _iso(h.done_at, zone), "done_by": h.done_by,
        "reminded_at": _iso(h.reminded_at, zone), "overdue_paged_at": _iso(h.overdue_at, zone),
    }  # fmt: skip


def _step_json(e: HazardEventRow, zone: ZoneInfo) -> dict[str, Any]:
    return {"at": _iso(e.at, zone), "kind": e.kind, "by": e.by, "note": e.note}


# -- the daily report ----------------------------------------------------------------------------


@click.command(name="report")
@config_option
@click.option(
    "--date",
    "day_text",
    metavar="DATE",
    default=None,
    help="The office day YYYY-MM-DD (default: today so far, by the service's clock).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (markdown: its pictures go beside it as PNG files).",
)
@reports_errors
def report_cmd(config_path: Path, day_text: str | None, fmt: Format, out: Path | None) -> None:
    """The daily duty report (值班日报): duty and handovers, hydrographs with the warning levels,
    alerts and who answered, pages per channel, hazards, the duty log."""
    app = ready_app(config_path)
    now = app.clock.now()
    maker = app.reports
    day = days.parse_date(day_text, "--date") if day_text else maker.reader.day_of(now)
    if out is not None and not out.parent.is_dir():
        raise Refused(_("--out: no folder {folder}", folder=out.parent))
    made = maker.make(day, now, fmt, out)
    if out is not None:
        files = ", ".join(str(f) for f in made.files)
        wrote = (
            _("wrote {files}, {pages} pages", files=files, pages=made.pages)
            if made.pages
            else _("wrote {files}", files=files)
        )
        click.echo(say(wrote), err=True)
    elif made.data is not None:
        click.echo(made.data, nl=False)  # bytes go to the binary stream, unchanged
    else:
        click.echo(made.text or "", nl=False)
