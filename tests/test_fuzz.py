"""Every failure is one line, never a traceback (issue 8, item 5): hypothesis feeds the config
loader, the roster loader and the command line with random documents, random mutations of the
shipped files and random arguments. The loaders may only raise ConfigError, and each of its
problems must name a file and a line; a command may fail, but never let an exception escape
(`helpers.fw` turns an escaped exception into a test failure).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floodwatch.errors import ConfigError
from floodwatch.plugins import Registry
from floodwatch.roster import load_rosters
from floodwatch.validation import check

from .helpers import DEMO_CONFIG, DEMO_READINGS, ROOT, TOWNSHIP_ROSTER, fw
from .roster_support import SHANGHAI

REGISTRY = Registry.from_entry_points()
# FLOODWATCH_FUZZ_EXAMPLES=5000 for a longer campaign than the suite's
EXAMPLES = int(os.environ.get("FLOODWATCH_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values an administrator (or a cat on the keyboard) might put where a value goes.
ODD_VALUES = [
    "", "~", "null", "0", "-1", "0s", "-5m", "1e308", "-1e308", "1.0e+999", ".nan", ".inf",
    "-.inf", "nan", "inf", "99999999999d", "99999999999", "9" * 80, "1:0:0:0:0", "0x7fffffff",
    "true", "yes", "2026-02-30", "2026-06-01", "9999-12-31T23:59:59+14:00", "08:00", "24:00",
    '"', "'", "[", "]", "{", "}", "[]", "{}", "- x", "a: b", "&a x", "*a", "*nowhere", "!!binary AA",
    "!!python/object:os.system x", "!local x", "<<: {}", "|", ">", "%YAML 1.1", "---", "...",
    "#", "\t", "汛期", "李明", "Station: north", "\u200b", "\ufeff", "\U0001f30a", "x" * 300,
    "${FUZZ_UNSET}", "${FUZZ_SET}", "/dev/zero", "/", ".", "..", "../rosters/none.yaml",
]  # fmt: skip


def scalar_token_spans(text: str) -> list[tuple[int, int]]:
    """Where the values of `key: value` pairs and flow items stand in `text`."""
    return [m.span(1) for m in re.finditer(r"(?:: |\[|, |- )([^\s,\]\}#][^,\]\}#\n]*)", text)]


@st.composite
def mutated(draw: st.DrawFn, source: str) -> str:
    """`source` with a few random edits of the kinds people make."""
    text = source
    for _ in range(draw(st.integers(1, 4))):
        lines = text.splitlines(keepends=True)
        edit = draw(
            st.sampled_from(
                ["delete", "duplicate", "value", "tab", "insert", "indent", "swap", "truncate"]
            )
        )
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if edit == "delete" and lines:
            del lines[i]
        elif edit == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif edit == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif edit == "indent" and lines:
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip(" ")
        text = "".join(lines)
        if edit == "value" and (spans := scalar_token_spans(text)):
            start, end = draw(st.sampled_from(spans))
            new = draw(st.sampled_from(ODD_VALUES) | st.text(max_size=12))
            text = text[:start] + new + text[end:]
        elif edit == "tab":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + "\t" + text[at:]
        elif edit == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(min_size=1, max_size=8)) + text[at:]
        elif edit == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
    return text


# random documents: YAML of random data, and random text
plain = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.dates(), st.sampled_from(ODD_VALUES),
)  # fmt: skip
data = st.recursive(
    plain,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=10) | st.sampled_from(["version", "people", "rules"]),
            inner,
            max_size=4,
        )
    ),  # fmt: skip
    max_leaves=20,
)


def yaml_of(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True)


def documents(source: str) -> st.SearchStrategy[str]:
    return st.one_of(
        mutated(source),
        data.map(yaml_of),
        st.fixed_dictionaries({"version": st.just(1)}, optional={"people": data, "rules": data}).map(yaml_of),
        st.text(max_size=200),
    )  # fmt: skip


def assert_located(exc: ConfigError) -> None:
    """Every problem says where: a file, a line and column from 1, a one-line message."""
    assert exc.problems
    for problem in exc.problems:
        assert problem.file, problem
        assert problem.line >= 1 and problem.column >= 1, problem
        assert problem.message and "\n" not in str(problem), problem
        assert "Traceback" not in problem.message, problem


def only_config_errors(load: Callable[[], object]) -> None:
    try:
        load()
    except ConfigError as exc:
        assert_located(exc)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the fuzzed files (module-scoped: hypothesis runs many examples per test)."""
    return tmp_path_factory.mktemp("fuzz")


def shipped_config() -> str:
    """The demo config with its paths made absolute, so only the fuzz makes it fail."""
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    text = text.replace("../rosters/", f"{ROOT / 'rosters'}/")
    text = text.replace(
        "villages: [villages.yaml]", f"villages: [{ROOT / 'config' / 'villages.yaml'}]"
    )
    return text.replace("patapsco_2018-05-27.csv", str(DEMO_READINGS))


@FUZZ
@given(text=documents(shipped_config()))
def test_the_config_loader_raises_nothing_but_located_config_errors(
    sandbox: Path, text: str
) -> None:
    path = sandbox / "floodwatch.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    only_config_errors(lambda: check(path, REGISTRY, env={"FUZZ_SET": "x"}))


@FUZZ
@given(text=documents(TOWNSHIP_ROSTER.read_text(encoding="utf-8")))
def test_the_roster_loader_raises_nothing_but_located_config_errors(
    sandbox: Path, text: str
) -> None:
    path = sandbox / "township.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    only_config_errors(lambda: load_rosters([path], SHANGHAI, env={"FUZZ_SET": "x"}))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_are_a_located_config_error_or_a_roster(sandbox: Path, raw: bytes) -> None:
    path = sandbox / "bytes.yaml"
    path.write_bytes(raw)
    only_config_errors(lambda: load_rosters([path], SHANGHAI))


# ---- the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config with a database (upgraded) and a short readings file, for the commands."""
    folder = tmp_path_factory.mktemp("cli")
    text = shipped_config().replace("sqlite:///../var/demo.db", f"sqlite:///{folder / 'fw.db'}")
    text = text.replace("../var/demo-pages.jsonl", str(folder / "pages.jsonl"))
    config = folder / "floodwatch.yaml"
    config.write_text(text, encoding="utf-8")
    readings = DEMO_READINGS.read_text(encoding="utf-8").splitlines()
    (folder / "short.csv").write_text("\n".join(readings[:40]) + "\n", encoding="utf-8")
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    return config


# an argument can hold any byte but NUL (argv entries are C strings); bytes that are not UTF-8
# reach Python as lone surrogates
words = (st.text(max_size=30) | st.sampled_from([*ODD_VALUES, "\udcff", "a\udcb6b"])).map(
    lambda s: s.replace("\x00", "")
)
# every year a date can have, the edges included (years 1 and 9999 overflowed the roster
# arithmetic once: the CLI now refuses dates outside 1900-9000 at the option)
instants = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
when = st.one_of(
    words,
    instants.map(lambda d: d.strftime("%Y-%m-%d %H:%M")),
    st.builds(
        lambda d, h, m: f"{d.isoformat()}{'+' if h >= 0 else '-'}{abs(h):02d}:{m:02d}",
        instants,
        st.integers(-30, 30),
        st.integers(0, 99),
    ),
)
ack_spec = st.one_of(
    words,
    st.builds(lambda who, w: f"{who}@{w}", words, words),
    st.builds(lambda who, d: f"{who}@+{d}", st.sampled_from(["leader", "officer", "li.ming", ""]),
              words | st.sampled_from(["25m", "0s", "366d", "367d", "1e308s", "99999999999d"])),
    st.builds(lambda who, w: f"{who}@{w}", st.sampled_from(["leader", "li.ming"]), when),
)  # fmt: skip


def commands(config: str, readings: str) -> st.SearchStrategy[list[str]]:
    return st.one_of(
        st.builds(lambda c: ["check", "--config", c], words | st.just(config)),
        st.builds(lambda extra: ["alerts", "--config", config, *extra],
                  st.lists(st.sampled_from(["--all", "--json"]), max_size=2)),
        st.builds(lambda i, by: ["ack", i, "--by", by, "--config", config],
                  words | st.integers(-(2**70), 2**70).map(str), words),
        st.builds(lambda at, extra: ["roster", "who", "--config", config, "--at", at, *extra],
                  when, st.lists(st.sampled_from(["--json", "--phones"]), max_size=2)),
        st.builds(lambda cmd, day, n: ["roster", cmd, "--config", config, "--from", day,
                                       *(["--days", n] if cmd != "ical" else [])],
                  st.sampled_from(["show", "gaps", "ical"]),
                  words | instants.map(lambda d: d.date().isoformat()),
                  words | st.integers(-5, 1000).map(str)),
        st.builds(lambda acks: ["replay", "--config", config, "--readings", readings,
                                *[a for spec in acks for a in ("--ack", spec)]],
                  st.lists(ack_spec, min_size=1, max_size=2)),
    )  # fmt: skip


@FUZZ
@given(data=st.data())
def test_no_command_lets_an_exception_escape(installation: Path, data: st.DataObject) -> None:
    args = data.draw(commands(str(installation), str(installation.parent / "short.csv")))
    ran = fw(*args)  # raises AssertionError with the traceback if an exception escapes
    assert ran.returncode in (0, 1, 2), ran
    if ran.returncode == 1:
        assert ran.stderr.strip(), "a failure says why"
