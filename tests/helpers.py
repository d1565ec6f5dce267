"""Building blocks for tests: configs written to disk, the shipped example files, readings."""

from __future__ import annotations

import copy
import csv
import functools
import json
import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from floodwatch.readings import Reading

ROOT = Path(__file__).resolve().parent.parent
# the console script installed beside this interpreter: the command users run
FLOODWATCH = str(Path(sys.executable).parent / "floodwatch")
DEMO_CONFIG = ROOT / "config" / "floodwatch.yaml"
DEMO_READINGS = ROOT / "config" / "patapsco_2018-05-27.csv"
TOWNSHIP_ROSTER = ROOT / "rosters" / "township.yaml"


# the command line's language in `fw` unless a test sets one (floodwatch.i18n.from_environment)
ENGLISH: dict[str, str | None] = {
    "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "C.UTF-8"
}  # fmt: skip


def english_environ() -> dict[str, str]:
    """os.environ for a `floodwatch` subprocess whose English lines a test reads."""
    env = {k: v for k, v in os.environ.items() if k not in ENGLISH}
    return {**env, "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class Ran:
    """What a `floodwatch` command did: its exit code and what it wrote to stdout and stderr."""

    returncode: int
    stdout: str
    stderr: str


def readme_env(text: str) -> dict[str, str]:
    """A stand-in value for every ``${NAME}`` the README's examples read from the environment,
    so that its YAML blocks load as a config would on a machine where they are set."""
    return {name: f"example-{name.lower()}" for name in re.findall(r"\$\{([A-Z0-9_]+)\}", text)}


def fw(*args: str, cwd: Path | None = None, env: Mapping[str, str | None] | None = None) -> Ran:
    """Run `floodwatch ARGS` in this process, as if from a fresh shell in `cwd`.

    Through click's CliRunner, with what a new process would start with: no logging handlers, so
    `main`'s logging.basicConfig writes log lines to the command's stderr; afterwards the cwd,
    the logging setup and the SIGINT/SIGTERM handlers (`run` installs its own) are restored.
    `env` adds variables to os.environ for the call (None removes one). The command's language
    is English (LANG=C.UTF-8, no LANGUAGE/LC_ALL/LC_MESSAGES) whatever the shell running the
    tests has, unless `env` sets one. An exception escaping the command fails the test: every
    failure must be one line, never a traceback.
    """
    from floodwatch.cli import main

    root = logging.getLogger()
    saved_handlers, saved_root_level = root.handlers[:], root.level
    saved_levels = {lg.name: (lg.level, lg.disabled) for lg in _loggers()}
    saved_signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    saved_cwd = os.getcwd()
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    try:
        if cwd is not None:
            os.chdir(cwd)
        env = {**ENGLISH, **(env or {})}
        result = CliRunner().invoke(main, list(args), env=env, prog_name="floodwatch")
    finally:
        os.chdir(saved_cwd)
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_root_level)
        for logger in _loggers():  # `main` quietens apscheduler and alembic, `replay` the root
            level, logger.disabled = saved_levels.get(logger.name, (logging.NOTSET, False))
            if logger.level != level:  # each setLevel empties every logger's cache: only changes
                logger.setLevel(level)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # every failure must be one line, never a traceback: an escaped exception fails the test
        trace = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"floodwatch {' '.join(args)} crashed:\n{trace}")
    return Ran(result.exit_code, result.stdout, result.stderr)


def _loggers() -> list[logging.Logger]:
    return [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]


def write_config(directory: Path, **overrides: Any) -> Path:
    """A valid config for the Patapsco gauge (the demo's rule, without the demo clock), with
    `overrides` replacing top-level keys, written as YAML to directory/floodwatch.yaml."""
    settings = copy.deepcopy(_demo_settings())
    settings.pop("clock")
    settings.pop("villages", None)  # the demo's villages name the demo's village roster
    settings.pop("web", None)  # the demo console: its demo users need the demo clock
    settings["rosters"] = [str(TOWNSHIP_ROSTER)]
    settings["database"] = f"sqlite:///{directory / 'floodwatch.db'}"
    settings["feeds"] = []
    settings["notifiers"] = [{"name": "file", "type": "jsonl", "path": "pages.jsonl"}]
    settings.update(overrides)
    path = directory / "floodwatch.yaml"
    text = yaml.dump(settings, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


@functools.cache
def _demo_settings() -> dict[str, Any]:
    """The shipped demo config, read once per process (libyaml: a third of the time of a
    test that builds an app went to reading and writing this file in pure Python)."""
    settings: dict[str, Any] = yaml.load(
        DEMO_CONFIG.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
    )
    return settings


_EXPECT = re.compile(r"^# expect: (.*)$")


def expected_problems(path: Path) -> list[str]:
    """What a bad file of the test corpora says it must be refused with: one ``# expect:
    LINE:COL: key.path: message`` line per problem (``{file}`` for the file's own path),
    placed in the file as `floodwatch check` prints them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        f"{path}:{m.group(1).replace('{file}', str(path))}"
        for line in lines
        if (m := _EXPECT.match(line))
    ]


def demo_readings(parameter: str = "stage", until: datetime | None = None) -> list[Reading]:
    from floodwatch.feeds.csv import parse_floodwatch_csv

    parsed = parse_floodwatch_csv(DEMO_READINGS.read_text(encoding="utf-8"), str(DEMO_READINGS))
    assert not parsed.problems
    return [
        r for r in parsed.readings
        if r.parameter == parameter and (until is None or r.observed_at <= until)
    ]  # fmt: skip


# The flood's day: the demo file up to 45 minutes after the gauge's alert clears (18:00 on
# 28 May in the office's zone). The three quiet days after it add nothing to a replay but the
# reminders, every 30 minutes, that the villages' warnings stand (four fifths of its events), so
# the replay tests read this day only.
FLOOD_DAY_END = datetime(2018, 5, 28, 10, 0, tzinfo=UTC)


def flood_day_readings() -> list[Reading]:
    return demo_readings(until=FLOOD_DAY_END)


def flood_day_csv(directory: Path) -> Path:
    """The demo file's flood day as a readings file of its own (for `replay --readings`)."""
    header, *rows = DEMO_READINGS.read_text(encoding="utf-8").splitlines(keepends=True)
    path = directory / "flood-day.csv"
    kept = [r for r in rows if datetime.fromisoformat(r.rsplit(",", 1)[1].strip()) <= FLOOD_DAY_END]
    path.write_text(header + "".join(kept), encoding="utf-8")
    return path


# The South Platte file gives local times without a zone; NWISWeb serves Colorado in MDT in
# September, so UTC-6 is assumed (see shared/fixtures/floods/SOURCES.md).
MDT = timezone(timedelta(hours=-6))


def south_platte_stage(fixtures: Path) -> list[Reading]:
    """Gage height at USGS 06721000 through the September 2013 Colorado flood."""
    path = fixtures / "floods" / "usgs_06721000_south_platte_at_fort_lupton_2013-09.csv"
    with path.open(encoding="utf-8") as f:
        return [
            Reading(
                "06721000",
                "stage",
                float(row["height_ft"]),
                "ft",
                datetime.strptime(row["date"], "%Y-%m-%d %H:%M").replace(tzinfo=MDT),
            )
            for row in csv.DictReader(f)
        ]


def pages_in(path: Path) -> list[dict[str, Any]]:
    """The records a jsonl notifier wrote."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def log_lines(caplog: Any, logger: str) -> list[str]:
    """What one module logged during the test (pytest's caplog), as an operator reads it."""
    return [r.getMessage() for r in caplog.records if r.name == logger]
