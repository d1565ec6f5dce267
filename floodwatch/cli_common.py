"""What every `floodwatch` command group shares: the --config option, and the one place where
domain errors become messages and exit code 1."""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from floodwatch.errors import ConfigError, FloodwatchError
from floodwatch.i18n import Text, _, from_environment, text_of
from floodwatch.store.db import describe_database_error

if TYPE_CHECKING:
    from floodwatch.app import App
    from floodwatch.web.client import ApiClient

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "config/floodwatch.yaml"

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG,
    envvar="FLOODWATCH_CONFIG",
    show_default=True,
    help="The floodwatch.yaml to use (or $FLOODWATCH_CONFIG).",
)


def ready_app(config_path: Path) -> App:
    """The app of a config whose database is reachable and at the current schema (else a
    one-line error): what a command that reads or changes the records opens."""
    from floodwatch.app import build_app

    app = build_app(config_path)
    app.db.require()
    return app


def by_or_url(fn: F) -> F:
    """--by, and --url/--token instead of it (`remote`): a command the API can do too."""
    fn = remote_options(fn)
    return click.option("--by", "by", default=None, metavar="ID", help="Your person id.")(fn)


def remote_options(fn: F) -> F:
    """--url and --token: do the command through the running service's API as the token's
    person (floodwatch.web.client), instead of on the database as --by."""
    fn = click.option(
        "--token", envvar="FLOODWATCH_TOKEN", default=None, metavar="TOKEN",
        help="With --url: your API token (floodwatch user token), or $FLOODWATCH_TOKEN.",
    )(fn)  # fmt: skip
    return click.option(
        "--url", default=None, metavar="URL",
        help="Do it through the running web app's API at URL (http://127.0.0.1:8080), as the "
        "person whose token --token is (instead of --by).",
    )(fn)  # fmt: skip


def remote(url: str | None, token: str | None, person: str | None) -> ApiClient | str:
    """The API client when --url is given (then --by may not be: the token says who), else
    the --by person, who is then required."""
    if url is None:
        if person is None:
            raise click.UsageError(say(_("--by PERSON is required (or --url with your token)")))
        return person
    if not token:
        raise click.UsageError(say(_("--url needs your API token: --token or $FLOODWATCH_TOKEN")))
    if person is not None:
        raise click.UsageError(
            say(_("give --by or --url, not both: with --url the token says who"))
        )
    from floodwatch.web.client import ApiClient

    return ApiClient(url, token, language())


def language() -> str:
    """The command line's language for its messages: LANGUAGE, LC_ALL, LC_MESSAGES or LANG
    (floodwatch.i18n); English unless one names a language the catalogue has."""
    return from_environment(os.environ)


def say(text: Text) -> str:
    """A message of the catalogue in the command line's language (`language`)."""
    return text.render(language())


def pad(text: str, width: int, right: bool = False) -> str:
    """`text` left-aligned (or `right`-aligned) in a column `width` terminal cells wide: a
    Chinese character takes two cells, so str.ljust would misalign a table in Mandarin."""
    cells = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    fill = " " * max(0, width - cells)
    return fill + text if right else text + fill


def error_line(message: str) -> str:
    """``error: MESSAGE``, the prefix in the command line's language."""
    return say(_("error: {message}", message=message))


def reports_errors(fn: F) -> F:
    """Domain errors, database errors and operating-system errors are printed as one line each
    and exit 1: never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(problem.render(language()), err=True)
            found = _("{n} problem(s) found; nothing was changed.", n=len(exc.problems))
            click.echo(say(found), err=True)
            sys.exit(1)
        except FloodwatchError as exc:
            click.echo(error_line(text_of(exc, language())), err=True)
            sys.exit(1)
        except SQLAlchemyError as exc:
            click.echo(error_line(describe_database_error(exc)), err=True)
            sys.exit(1)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(error_line(f"{where}{exc.strerror or exc}"), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
