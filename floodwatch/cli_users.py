"""`floodwatch user set-password PERSON`: a person's password for the duty console.

Thin: read the password (asked twice, not echoed; or one line from standard input with
--password-stdin, for scripts), call floodwatch.users, print. Messages go through the message
catalogue (LANG=zh_CN.UTF-8 prints them in Mandarin).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from floodwatch import i18n, users
from floodwatch.cli_common import config_option, ready_app, reports_errors, say
from floodwatch.i18n import Refused, _


@click.command(name="set-password")
@config_option
@click.argument("person_id", metavar="PERSON")
@click.option(
    "--password-stdin", "from_stdin", is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)  # fmt: skip
@reports_errors
def set_password(config_path: Path, person_id: str, from_stdin: bool) -> None:
    """Give PERSON (a roster id) a password for the duty console; their sessions end."""
    app = ready_app(config_path)
    roster = app.roster.current
    if person_id not in roster.people:
        raise i18n.Unknown(_("unknown person {person}: not in the rosters", person=person_id))
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            say(_("New password for {person}", person=person_id)), hide_input=True,
            confirmation_prompt=say(_("Repeat it")), err=True,
        )  # fmt: skip
    if not password:
        raise Refused(_("no password given"))
    generation = users.set_password(app.db, roster, person_id, password, "cli", app.clock.now())
    what = (
        _("{person} can sign in to the console with the new password", person=person_id)
        if generation == 1
        else _("{person} has a new password; their sessions have ended.", person=person_id)
    )
    click.echo(say(what))
