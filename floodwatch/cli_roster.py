"""`floodwatch roster who|show|gaps|ical`: the roster as duty officers and administrators see it.

Thin: parse arguments, call floodwatch.roster, print. Times are shown in the roster's zone and
phone numbers masked (``--phones`` shows them whole, for a table pinned up in the office).
Exit codes: 0 ok; 1 the checked thing is wrong (invalid config or roster, a coverage gap);
2 usage error.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from floodwatch.app import check, service_clock
from floodwatch.cli_common import config_option, pad, reports_errors, say
from floodwatch.clock import Clock
from floodwatch.config import Config
from floodwatch.i18n import _
from floodwatch.plugins import Registry
from floodwatch.roster import Assignment, Roster, gaps, shifts, to_ical
from floodwatch.roster.table import table_range

WEEKDAYS = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead.")
phones_option = click.option(
    "--phones", is_flag=True, help="Show phone numbers whole (masked by default)."
)
from_option = click.option(
    "--from", "start", metavar="DATE", default=None,
    help="First day, YYYY-MM-DD, from its first handover (default: today).",
)  # fmt: skip


def _checked(config_path: Path) -> tuple[Config, Roster]:
    return check(config_path, Registry.from_entry_points())


def _service_clock(config: Config) -> Clock:
    """The service's clock (the demo's, in the demo): "now" here is what the service calls now."""
    return service_clock(config)


@click.group()
def roster() -> None:
    """Duty rosters: who is on duty, the duty table, coverage gaps, calendars."""


@roster.command()
@config_option
@click.option(
    "--at", "at_text", metavar="TIME", default=None,
    help='The instant: "2026-06-03 07:59" (the roster\'s zone) or ISO 8601 with an offset; '
    "default now.",
)  # fmt: skip
@json_option
@phones_option
@reports_errors
def who(config_path: Path, at_text: str | None, as_json: bool, phones: bool) -> None:
    """Who is on duty now (or --at TIME), in which shift, and why."""
    config, r = _checked(config_path)
    zone = r.timezone
    at = _parse_at(at_text, zone) if at_text else _service_clock(config).now()
    duty = r.on_duty(at)
    assignments = [duty.assignments[role] for role in _ordered(r)]
    if as_json:
        out = {
            "at": at.astimezone(zone).isoformat(),
            "timezone": zone.key,
            "next_handover": duty.end.astimezone(zone).isoformat(),
            "roles": [_assignment_json(r, a, zone, phones) for a in assignments],
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(say(_("On duty at {at} ({zone})", at=_clock(at, zone), zone=zone.key)))
    for a in assignments:
        click.echo("")
        click.echo(f"{r.role(a.role).title}  {_span(a.start, a.end, zone)}")
        width = max((_width(_who(r, p)) for p in a.people), default=0)
        for reason in a.reasons:
            person = r.person(reason.person)
            phone = (person.phone if phones else person.masked_phone) or "-"
            click.echo(f"  {pad(_who(r, person.id), width)}  {phone:<15} {reason}")
        for reason in a.absent:
            click.echo("  " + say(_("not on duty: {person}: {reason}",
                                    person=_who(r, reason.person), reason=reason)))  # fmt: skip
        if a.short:
            click.echo("  " + say(_("SHORT of {short}: the shift needs {required}",
                                    short=a.short, required=a.required)))  # fmt: skip
    click.echo("")
    click.echo(say(_("Next handover: {at}", at=_clock(duty.end, zone))))


@roster.command()
@config_option
@from_option
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True)
@json_option
@phones_option
@reports_errors
def show(config_path: Path, start: str | None, days: int, as_json: bool, phones: bool) -> None:
    """The duty table from --from for --days days: one row per shift, to print and pin up."""
    config, r = _checked(config_path)
    office = config.settings.office
    zone = r.timezone
    first_day = _parse_date(start, zone, _service_clock(config))
    rows = shifts(r, first_day, days)
    roles = _ordered(r)
    if as_json:
        out = {
            "office": office,
            "timezone": zone.key,
            "rows": [
                {
                    "start": row.start.isoformat(),
                    "end": row.end.isoformat(),
                    "roles": [_assignment_json(r, row.assignments[x], zone, phones) for x in roles],
                }
                for row in rows
            ],
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    last_day = first_day + timedelta(days=days - 1)
    click.echo(say(_("{office} - duty roster 值班表", office=office)))
    click.echo(say(_("{first} to {last}, times in {zone}", first=first_day, last=last_day,
                     zone=zone.key)))  # fmt: skip
    click.echo("")
    notes: list[str] = []
    seen: dict[tuple[str, str, str], int] = {}
    header = [pad(say(_("Shift")), 31)] + [r.role(x).title for x in roles]
    cells_by_row: list[list[str]] = []
    for row in rows:
        cells = [f"{_day(row.start)} {row.start:%H:%M} - {_short(row.end, row.start)}"]
        for x in roles:
            a = row.assignments[x]
            names = []
            for reason in a.reasons:
                name = r.person(reason.person).name
                if reason.why != "rotation":
                    key = (reason.person, reason.why, reason.note)
                    if key not in seen:
                        notes.append(f"[{len(notes) + 1}] {name} ({reason.person}): {reason}")
                        seen[key] = len(notes)
                    name += f"[{seen[key]}]"
                names.append(name)
            text = ", ".join(names) or "-"
            if a.short:
                text += "  " + say(_("(SHORT {short})", short=a.short))
            cells.append(text)
        cells_by_row.append(cells)
    widths = [max(_width(c[i]) for c in [header, *cells_by_row]) for i in range(len(header))]
    for cells in [header, *cells_by_row]:
        click.echo("  ".join(pad(c, w) for c, w in zip(cells, widths, strict=True)).rstrip())
    if notes:
        click.echo("")
        click.echo(say(_("Notes:")))
        for note in notes:
            click.echo(f"  {note}")
    on_table = {p for row in rows for a in row.assignments.values() for p in a.people}
    click.echo("")
    click.echo(say(_("Contacts:")))
    for pid in sorted(on_table, key=lambda p: list(r.people).index(p)):
        person = r.person(pid)
        phone = (", ".join(person.phones) if phones else person.masked_phone) or "-"
        click.echo(f"  {pad(_who(r, pid), 24)}  {phone}")


@roster.command(name="gaps")
@config_option
@click.option("--days", type=click.IntRange(1, 366), required=True)
@click.option(
    "--from", "start", metavar="DATE", default=None,
    help="First day, YYYY-MM-DD, from its first handover (default: from now).",
)  # fmt: skip
@json_option
@reports_errors
def gaps_cmd(config_path: Path, days: int, start: str | None, as_json: bool) -> None:
    """Every interval in which a role has fewer people than its shift needs; exit 1 if any."""
    config, r = _checked(config_path)
    zone = r.timezone
    clock = _service_clock(config)
    if start is None:
        first = clock.now()
        last = first + timedelta(days=days)
    else:
        first, last = table_range(r, _parse_date(start, zone, clock), days)
    found = gaps(r, first, last)
    if as_json:
        out = {
            "from": first.astimezone(zone).isoformat(),
            "to": last.astimezone(zone).isoformat(),
            "gaps": [
                {
                    "role": g.role,
                    "start": g.start.astimezone(zone).isoformat(),
                    "end": g.end.astimezone(zone).isoformat(),
                    "required": g.required,
                    "present": list(g.present),
                    "missing": g.missing,
                }
                for g in found
            ],
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    elif not found:
        click.echo(say(_("no gaps: every role is covered {span}", span=_span(first, last, zone))))
    else:
        for g in found:
            present = ", ".join(g.present) or say(_("nobody"))
            click.echo(say(_("{role}  {span}: {present} of {required} (on duty: {people})",
                             role=r.role(g.role).title, span=_span(g.start, g.end, zone),
                             present=len(g.present), required=g.required,
                             people=present)))  # fmt: skip
        gaps_found = _("{n} gap(s) {span}", n=len(found), span=_span(first, last, zone))
        click.echo(say(gaps_found), err=True)
    if found:
        sys.exit(1)


@roster.command()
@config_option
@click.option("--person", default=None, metavar="ID", help="Only this person's shifts.")
@click.option("--role", default=None, metavar="ROLE", help="Only this role's shifts.")
@from_option
@click.option("--days", type=click.IntRange(1, 732), default=31, show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write to this file instead of standard output.",
)  # fmt: skip
@reports_errors
def ical(
    config_path: Path,
    person: str | None,
    role: str | None,
    start: str | None,
    days: int,
    output: Path | None,
) -> None:
    """The shifts as an iCalendar (RFC 5545) file, one event per shift, to subscribe to."""
    if person and role:
        raise click.UsageError(say(_("give --person or --role, not both")))
    config, r = _checked(config_path)
    if person is not None and person not in r.people:
        raise click.BadParameter(
            say(_("no person {person} in the rosters", person=repr(person))), param_hint="--person"
        )
    if role is not None and role not in r.roles:
        known = ", ".join(sorted(r.roles))
        raise click.BadParameter(
            say(_("no role {role} (roles: {roles})", role=repr(role), roles=known)),
            param_hint="--role",
        )
    clock = _service_clock(config)
    first, last = table_range(r, _parse_date(start, r.timezone, clock), days)
    data = to_ical(r, first, last, person=person, role=role, stamp=clock.now())
    if output is None:
        click.echo(data, nl=False)  # bytes go to the binary stream, unchanged
    else:
        output.write_bytes(data)
        click.echo(say(_("wrote {files}", files=output)), err=True)


# -- helpers --------------------------------------------------------------------------------------


def _ordered(r: Roster) -> list[str]:
    """Roles in the order the roster declares them (leader before officer in the example)."""
    declared = [x for x in r.role_table if x in r.roles]
    return declared + sorted(r.roles - set(declared))


def _assignment_json(r: Roster, a: Assignment, zone: ZoneInfo, phones: bool) -> dict[str, Any]:
    def person(pid: str) -> dict[str, Any]:
        p = r.person(pid)
        return {"id": p.id, "name": p.name, "phone": p.phone if phones else p.masked_phone}

    return {
        "role": a.role,
        "name": r.role(a.role).name or a.role,
        "start": a.start.astimezone(zone).isoformat(),
        "end": a.end.astimezone(zone).isoformat(),
        "required": a.required,
        "short": a.short,
        "people": [{**person(x.person), "why": x.why.value, "note": x.note} for x in a.reasons],
        "absent": [{"id": x.person, "why": x.why.value, "note": x.note} for x in a.absent],
    }


def _parse_at(text: str, zone: ZoneInfo) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            say(_('expected "YYYY-MM-DD HH:MM" or ISO 8601, found {text}', text=repr(text))),
            param_hint="--at",
        ) from None
    if len(text.strip()) == 10:  # a date alone: which time would be a guess
        raise click.BadParameter(
            say(_('give a time too, e.g. "{day} 08:00"', day=text.strip())), param_hint="--at"
        )
    _in_range(when.date(), "--at")
    return when if when.tzinfo else when.replace(tzinfo=zone)


# a roster's arithmetic runs a few weeks either side of the day asked for
FIRST, LAST = date(1900, 1, 1), date(9000, 12, 31)


def _in_range(day: date, option: str) -> date:
    if not FIRST <= day <= LAST:
        raise click.BadParameter(
            say(_("{day} is outside the years {first}-{last}", day=day.isoformat(),
                  first=FIRST.year, last=LAST.year)),
            param_hint=option,
        )  # fmt: skip
    return day


def _parse_date(text: str | None, zone: ZoneInfo, clock: Clock) -> date:
    if text is None:
        return clock.now().astimezone(zone).date()
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            say(_("expected a date as YYYY-MM-DD, found {text}", text=repr(text))),
            param_hint="--from",
        ) from None
    return _in_range(day, "--from")


def _who(r: Roster, pid: str) -> str:
    p = r.person(pid)
    return f"{p.name} ({p.id})" if p.name != p.id else p.id


def _clock(when: datetime, zone: ZoneInfo) -> str:
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    s, e = start.astimezone(zone), end.astimezone(zone)
    return f"{s:%Y-%m-%d %H:%M} - {_short(e, s)}"


def _short(end: datetime, start: datetime) -> str:
    """The end time, without the date parts it shares with the start."""
    if end.date() == start.date():
        return f"{end:%H:%M}"
    if end.year == start.year:
        return f"{end:%m-%d %H:%M}"
    return f"{end:%Y-%m-%d %H:%M}"


def _day(when: datetime) -> str:
    return f"{when:%Y-%m-%d} {say(WEEKDAYS[when.weekday()])}"


def _width(text: str) -> int:
    """Columns on a terminal or a printed page: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
