"""What every `floodwatch` command group shares: the --config option, and the one place where
domain errors become messages and exit code 1."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from floodwatch.errors import ConfigError, FloodwatchError

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


def reports_errors(fn: F) -> F:
    """Domain errors are printed as messages and exit 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            click.echo(f"{len(exc.problems)} problem(s) found; nothing was changed.", err=True)
            sys.exit(1)
        except FloodwatchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
