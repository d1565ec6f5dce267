"""Hostile YAML is refused cheaply, in one line (issue 8, item 4): aliases that multiply (the
"billion laughs"), nesting deeper than the composer can recurse, files larger than any roster,
and names of things that are not files (a directory, a FIFO, /dev/zero).

Tests never measure time (the fault suite does). What keeps the refusal cheap is that nothing
is built once a limit is passed, and that is what is checked here: the number of nodes composed
and of values built. For the record, on the development machine the 9-level bomb below is
refused by `yamlsource.load` in about 2 ms (27 MB resident), and `floodwatch check` on it exits
in about 1.2 s, nearly all of it start-up; before, the load ran for 54 s and grew to 2.5 GB, until
a 3 GB address-space limit stopped it with MemoryError.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from floodwatch import yamlsource
from floodwatch.app import build_app
from floodwatch.clock import SimulatedClock
from floodwatch.errors import ConfigError
from floodwatch.roster import load_rosters
from floodwatch.yamlsource import (
    CONFIG_MAX_BYTES,
    MAX_ALIAS_VALUES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_VALUES,
)

from .helpers import ROOT, TOWNSHIP_ROSTER, fw, write_config
from .roster_support import SHANGHAI, local

ENV: dict[str, str] = {}


def bomb(levels: int, width: int) -> str:
    """`levels` anchors, each a list of `width` aliases of the one before."""
    lines = ["version: 1", "l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    for k in range(1, levels):
        lines.append(f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def sizes(levels: int, width: int) -> list[int]:
    """Values in each anchored list once aliases are expanded (the list itself included)."""
    out = [1 + width]
    for _ in range(1, levels):
        out.append(1 + width * out[-1])
    return out


@dataclass
class Work:
    """What one load did: loaders made (with their counts) and values built from nodes."""

    loaders: list[Any] = field(default_factory=list)
    built: int = 0


@contextlib.contextmanager
def counting() -> Iterator[Work]:
    """A spy on yamlsource's composer and builder, to count the work done."""
    work = Work()
    build = yamlsource._build

    class Recording(yamlsource._Loader):
        def __init__(self, text: str, *limit: int) -> None:
            super().__init__(text, *limit)
            work.loaders.append(self)

    class FastRecording(yamlsource._FastLoader):
        def __init__(self, text: str, *limit: int) -> None:
            super().__init__(text, *limit)
            work.loaders.append(self)

    def counted(*args: Any, **kwargs: Any) -> Any:
        work.built += 1
        return build(*args, **kwargs)

    with (
        mock.patch.object(yamlsource, "_Loader", Recording),
        mock.patch.object(yamlsource, "_FastLoader", FastRecording),
        mock.patch.object(yamlsource, "_build", counted),
    ):
        yield work


def refused(text: str, name: str = "f.yaml") -> str:
    """The one problem `text` is refused with."""
    with pytest.raises(ConfigError) as exc:
        yamlsource.loads(text, name, env=ENV)
    [problem] = exc.value.problems
    assert problem.file == name and problem.line >= 1 and problem.column >= 1
    return str(problem)


def test_the_billion_laughs_is_refused_at_the_alias_that_passes_the_limit() -> None:
    with counting() as work:
        line = refused(bomb(9, 9))
    # l4 (line 6) is the first list whose aliases pass 10,000 values: 8,289 before it, and
    # each of its *l3 adds 820
    assert line == (
        "f.yaml:6:10: too many aliases expanded (limit 10000 values): each *name repeats the "
        "whole value of its &name, and here they multiply; write the values out instead"
    )
    [loader] = work.loaders
    assert work.built == 0  # nothing was built: the 9**9 values it stands for never existed
    assert loader.composed < 60  # only the nodes written in the first 6 lines
    assert loader.alias_values <= MAX_ALIAS_VALUES + sizes(9, 9)[3]


@settings(max_examples=60, deadline=None)
@given(levels=st.integers(1, 14), width=st.integers(1, 14))
def test_aliases_build_what_they_stand_for_up_to_the_limit_and_nothing_beyond(
    levels: int, width: int
) -> None:
    text = bomb(levels, width)
    size = sizes(levels, width)
    expanded = sum(width * s for s in size[:-1])  # what the aliases of l1.. copy
    with counting() as work:
        if expanded <= MAX_ALIAS_VALUES:
            doc = yamlsource.loads(text, "f.yaml", env=ENV)
            # the root mapping, the value of `version`, and each list with its values
            assert work.built == 1 + 1 + sum(size)
            assert len(doc.data[f"l{levels - 1}"]) == width
            return
        assert "too many aliases expanded (limit 10000 values)" in refused(text)
    assert work.built == 0
    assert work.loaders[0].composed <= levels * (width + 2) + 1


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert refused("a: &a [1, *a]\n") == (
        "f.yaml:1:11: an alias (*name) cannot stand inside the value its anchor (&name) names"
    )


def test_aliases_within_the_limit_are_fine_for_a_roster(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\n"
        "people:\n"
        '  - {id: a, name: 甲, phones: &shared ["+8613800000001", "+8613800000002"]}\n'
        "  - {id: b, name: 乙, phones: *shared}\n"
        "rotations:\n"
        "  - {role: leader, members: &both [a, b], anchor: 2026-06-01}\n"
        "  - {role: officer, members: *both, anchor: 2026-06-01}\n",
        encoding="utf-8",
    )
    roster = load_rosters([path], SHANGHAI)
    assert roster.person("b").phones == ("+8613800000001", "+8613800000002")
    assert roster.rotation("officer").members == ("a", "b")


DEEP = {
    "flow lists": "a: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "flow mappings": "a: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n",
    "block lists": "- " * 10_000 + "x\n",
    "block mappings": "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v\n",
    "unclosed": "[" * 100_000,
}


@pytest.mark.parametrize("case", DEEP)
def test_deep_nesting_is_one_line_not_a_recursion_error(case: str) -> None:
    with counting() as work:
        line = refused(DEEP[case])
    assert f"lists and mappings nested too deeply (limit {MAX_DEPTH} levels)" in line
    assert work.built == 0 and work.loaders[0].composed <= MAX_DEPTH


def test_the_depth_limit_is_exact() -> None:
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    data = yamlsource.loads(at_limit, "f.yaml", env=ENV).data
    depth = 0
    while isinstance(data, list):
        data, depth = (data[0] if data else None), depth + 1
    assert depth == MAX_DEPTH
    assert refused("[" + at_limit + "]") == (
        f"f.yaml:1:{MAX_DEPTH + 1}: lists and mappings nested too deeply (limit {MAX_DEPTH} levels)"
    )


def test_the_number_of_values_is_limited_exactly() -> None:
    at_limit = "- a\n" * MAX_VALUES  # values in lists and mappings that are still open count
    assert len(yamlsource.loads(at_limit, "f.yaml", env=ENV).data) == MAX_VALUES
    with counting() as work:
        line = refused(at_limit + "- a\n" * 10)
    assert line == (
        f"f.yaml:{MAX_VALUES + 1}:3: too many values (limit {MAX_VALUES}) for a config or roster "
        "file: is it the right file? (a large roster can be split into several files)"
    )
    assert work.built == 0 and work.loaders[0].composed == MAX_VALUES


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (MAX_FILE_BYTES - 3) + b"\n")  # exactly at the limit
    with counting() as work, pytest.raises(ConfigError) as exc:
        yamlsource.load(path, env=ENV)
    assert str(exc.value) == f"{path}:1:1: the file is empty"  # read and parsed
    assert len(work.loaders) == 1
    path.write_bytes(b"# " + b"x" * (MAX_FILE_BYTES - 2) + b"\n")  # one byte more
    with counting() as work, pytest.raises(ConfigError) as exc:
        yamlsource.load(path, env=ENV)
    assert str(exc.value) == (
        f"{path}:1:1: the file is 262,145 bytes, larger than the limit of 262,144 bytes "
        "(256 KiB) for a config or roster file: is it the right file? (a large roster can be "
        "split into several files)"
    )
    assert work.loaders == []


def test_a_config_of_2000_stations_loads_and_has_limits_of_its_own(tmp_path: Path) -> None:
    """The config lists every station with its rule in one file: 2,000 (what the feed
    benchmark polls) pass the roster-sized limits several times over, and still load."""
    ids = [f"0{1589025 + k}" for k in range(2000)]
    rules = [
        {"id": f"stage-{sid}", "station": sid, "parameter": "stage", "unit": "ft",
         "levels": [{"level": "blue", "value": 18.5}, {"level": "yellow", "value": 20.5},
                    {"level": "orange", "value": 22.5}],
         "deadband": 0.5, "escalation": "default"}
        for sid in ids
    ]  # fmt: skip
    stations = [{"id": sid, "name": f"gauge {sid}", "expect_every": "15m"} for sid in ids]
    config = write_config(tmp_path, stations=stations, rules=rules)
    assert config.stat().st_size > 2 * MAX_FILE_BYTES
    with pytest.raises(ConfigError, match="too many values|larger than the limit"):
        yamlsource.load(config, env=ENV)  # as a roster it would be refused
    ran = fw("check", "--config", str(config))
    assert ran.returncode == 0, ran.stderr
    config.write_bytes(b"# " + b"x" * (CONFIG_MAX_BYTES - 2) + b"\n")  # one byte over its own
    ran = fw("check", "--config", str(config))
    assert ran.stderr.splitlines()[0] == (
        f"{config}:1:1: the file is 4,194,305 bytes, larger than the limit of 4,194,304 bytes "
        "(4096 KiB) for a config or roster file: is it the right file? (a large roster can be "
        "split into several files)"
    )


def finishes(fn: Any, *args: Any) -> Any:
    """Run `fn(*args)` in a thread; fail (not hang) if it has not returned after 20 s."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn(*args))
        except BaseException as exc:  # handed back to the test
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert out, f"{fn.__name__}{args} did not return: it waits or reads for ever"
    return out[0]


def not_a_file(tmp_path: Path, kind: str) -> Path:
    if kind == "directory":
        path = tmp_path / "rosters.yaml"
        path.mkdir()
        return path
    if kind == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)  # nobody writes to it: opening it for reading would wait for ever
        return path
    return Path("/dev/zero")  # reading it would never end


NOT_A_FILE = {
    "directory": "is a directory, not a file: name the YAML file in it",
    "fifo": "is a FIFO (named pipe), not a regular file: name the YAML file itself",
    "device": "is a device or socket, not a regular file: name the YAML file itself",
}


@pytest.mark.parametrize("kind", NOT_A_FILE)
def test_a_directory_fifo_or_device_is_one_line_at_once(tmp_path: Path, kind: str) -> None:
    path = not_a_file(tmp_path, kind)
    if kind == "fifo":
        assert stat.S_ISFIFO(path.stat().st_mode)
    result = finishes(load_rosters, [path], SHANGHAI)
    assert isinstance(result, ConfigError)
    assert str(result) == f"{path}:1:1: {NOT_A_FILE[kind]}"
    # named as the config itself, `check` says the same in one line
    if kind != "directory":  # click refuses a directory for --config before floodwatch runs
        ran = fw("check", "--config", str(path))  # not in a thread: it sets signal handlers
        assert ran.returncode == 1
        assert ran.stderr.splitlines() == [
            f"{path}:1:1: {NOT_A_FILE[kind]}",
            "1 problem(s) found; nothing was changed.",
        ]


def test_check_refuses_a_bomb_in_the_config_and_in_a_roster_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "floodwatch.yaml"
    config.write_text(bomb(9, 9), encoding="utf-8")
    ran = fw("check", "--config", str(config))
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [
        f"{config}:6:10: too many aliases expanded (limit 10000 values): each *name repeats the "
        "whole value of its &name, and here they multiply; write the values out instead",
        "1 problem(s) found; nothing was changed.",
    ]
    roster = tmp_path / "roster.yaml"
    roster.write_text(bomb(9, 9), encoding="utf-8")
    ran = fw("check", "--config", str(write_config(tmp_path, rosters=[str(roster)])))
    assert ran.returncode == 1
    assert ran.stderr.splitlines()[0].startswith(f"{roster}:6:10: too many aliases expanded")
    assert len(ran.stderr.splitlines()) == 2


def test_the_running_service_rejects_a_bomb_written_into_a_roster(tmp_path: Path) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text(TOWNSHIP_ROSTER.read_text(encoding="utf-8"), encoding="utf-8")
    clock = SimulatedClock(local("2026-06-01 09:00"))
    config = write_config(tmp_path, rosters=[str(roster)])
    app = build_app(config, clock=clock, database_url=f"sqlite:///{tmp_path / 'fw.db'}")
    app.db.upgrade()
    in_force = app.roster.current
    roster.write_text(bomb(9, 9), encoding="utf-8")
    result = app.roster_reloader.reload(clock.now())
    assert result.outcome == "rejected"
    assert [line.split(": ", 1)[1] for line in result.lines] == [
        "too many aliases expanded (limit 10000 values): each *name repeats the whole value "
        "of its &name, and here they multiply; write the values out instead"
    ]
    assert app.roster.current is in_force


ENCODINGS = {
    "a byte that is not UTF-8": (
        b"version: 1\npeople:\n  - {id: a, name: " + b"\xb6\xfe}\n",
        "f.yaml:3:19: not UTF-8 text: byte 0xb6 here cannot be read (invalid start byte); "
        "save the file as UTF-8",
    ),
    "a file saved as UTF-16": (
        "version: 1\n".encode("utf-16"),
        "f.yaml:1:1: not UTF-8 text: byte 0xff here cannot be read (invalid start byte); "
        "save the file as UTF-8",
    ),
    "a NUL character": (
        b"version: 1\noffice: a\x00b\n",
        "f.yaml:2:10: YAML syntax error: the character U+0000 (a control character) is not "
        "allowed in YAML text: remove it (a file saved as UTF-16 is full of them: save it as "
        "UTF-8)",
    ),
    "a control character": (
        b"version: 1\noffice: \x07\n",
        "f.yaml:2:9: YAML syntax error: the character U+0007 (a control character) is not "
        "allowed in YAML text: remove it",
    ),
}


@pytest.mark.parametrize("case", ENCODINGS)
def test_text_that_is_not_yaml_text_is_named_at_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    data, expected = ENCODINGS[case]
    monkeypatch.chdir(tmp_path)
    Path("f.yaml").write_bytes(data)
    with pytest.raises(ConfigError) as exc:
        yamlsource.load("f.yaml", env=ENV)
    assert str(exc.value) == expected


VALUES = {
    "a number of 5,000 digits": (
        "a: " + "9" * 5000,
        "f.yaml:1:4: a: expected a number of at most 64 characters, found "
        "'99999999999999999999999999999... (5000 characters)",
    ),
    "a base-60 number of 100,000 parts": (
        "a: 1" + ":0" * 100_000,
        "f.yaml:1:4: a: expected a number of at most 64 characters, found "
        "'1:0:0:0:0:0:0:0:0:0:0:0:0:0:0... (200001 characters)",
    ),
    "a python tag": (
        "a: !!python/object:os.system x",
        "f.yaml:1:4: a: YAML tags such as !!python/object:os.system are not supported: write "
        "the value without it",
    ),
    "a local tag": ("a: !secret x", "f.yaml:1:4: a: YAML tags such as !secret are not supported: write the value without it"),
    "a bad boolean": ("a: !!bool maybe", "f.yaml:1:4: a: 'maybe' is not a valid true/false value"),
    "a bad time": ("a: !!timestamp soon", "f.yaml:1:4: a: 'soon' is not a valid date or time"),
    "a list as a key": ("? [a, b]\n: 1", "f.yaml:1:3: a key must be a name or a number, found a list"),
    "a merge key": ("a: &a {x: 1}\nb:\n  <<: *a", "f.yaml:3:3: b: YAML merge keys (<<) are not supported"),
    "a key given 20 times": ("{" + "a: 1, " * 20 + "}", "f.yaml:1:8: a: duplicate key (first given at line 1; given 20 times)"),
    "many keys given twice": (
        "".join(f"k{i}: 1\n" for i in range(8)) * 2,
        "f.yaml:9:1: k0: duplicate keys k0, k1, k2, k3, k4 and 3 more (first given at lines 1, 2, 3, 4, 5 and 3 more)",
    ),
    ".nan": ("a: [1, .NaN]", "f.yaml:1:8: a[1]: expected a finite number, found .NaN"),
    "-.inf": ("a: {b: -.inf}", "f.yaml:1:8: a.b: expected a finite number, found -.inf"),
    "an overflowing float": ("a: 1.0e+999", "f.yaml:1:4: a: expected a finite number, found 1.0e+999"),
}  # fmt: skip


@pytest.mark.parametrize("case", VALUES)
def test_values_that_cannot_be_used_are_named_at_their_place(case: str) -> None:
    text, expected = VALUES[case]
    assert refused(text + "\n") == expected


def test_paths_are_shown_as_given_but_normalised(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "rosters").mkdir()
    bad = TOWNSHIP_ROSTER.read_text(encoding="utf-8").replace("anchor: 2026-06-01", "anchor: x", 1)
    (tmp_path / "rosters" / "township.yaml").write_text(bad, encoding="utf-8")
    config = write_config(tmp_path / "config", rosters=["../rosters/township.yaml"])
    assert config == tmp_path / "config" / "floodwatch.yaml"
    ran = fw("check", "--config", "./config/../config/floodwatch.yaml", cwd=tmp_path)
    assert ran.stderr.splitlines()[0].startswith("rosters/township.yaml:31:5: ")
    # a config with a mistake of its own: its path, normalised
    config.write_text("version: 2\n", encoding="utf-8")
    ran = fw("check", "--config", "./config/../config/floodwatch.yaml", cwd=tmp_path)
    assert (
        ran.stderr.splitlines()[0]
        == "config/floodwatch.yaml:1:1: escalation: required key is missing"
    )
    # an absolute path stays absolute
    ran = fw("check", "--config", f"{tmp_path}/config/./floodwatch.yaml", cwd=tmp_path)
    assert ran.stderr.splitlines()[0].startswith(f"{tmp_path}/config/floodwatch.yaml:1:1: ")


def _tree(loader_class: Any, text: str) -> list[Any]:
    """Every node of the file, in order: its kind, tag, value and where it starts and ends."""
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
    except yamlsource._Refused as refused:  # a limit: where, and why
        assert refused.mark is not None
        return [("refused", refused.mark.line, refused.mark.column, str(refused))]
    finally:
        loader.dispose()
    out: list[Any] = []
    if root is None:
        return out

    def walk(node: Any) -> None:
        start, end = node.start_mark, node.end_mark
        out.append((type(node).__name__, node.tag, start.line, start.column, end.line, end.column))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(key)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)
        else:
            out.append((node.value, node.style or None))  # plain: '' from libyaml, None

    walk(root)
    return out


SHIPPED_YAML = sorted(
    [*(ROOT / "config").glob("*.yaml"), *(ROOT / "rosters").glob("*.yaml"),
     *(ROOT / "tests" / "rosters_bad").glob("*.yaml")]
)  # fmt: skip


@pytest.mark.parametrize("path", SHIPPED_YAML, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_libyaml_reads_every_shipped_file_into_the_same_nodes_as_pyyaml(path: Path) -> None:
    """The files are read with libyaml's parser (C) under floodwatch's composer; PyYAML's own
    parser (Python) tells the errors. Where libyaml reads a file, the nodes, their values and
    their places are PyYAML's; where it cannot, PyYAML cannot either."""
    assert yamlsource._FastLoader is not None, "PyYAML was built without libyaml"
    text = path.read_text(encoding="utf-8")
    try:
        fast = _tree(yamlsource._FastLoader, text)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            _tree(yamlsource._Loader, text)
        return
    assert fast == _tree(yamlsource._Loader, text)


def test_a_file_libyaml_cannot_read_is_explained_in_pyyamls_words() -> None:
    """A syntax error is found by libyaml, then the file is read again by PyYAML's parser,
    whose messages the explanations know: the message and place are PyYAML's."""
    text = "station: north\nname: Station: north\n"
    with counting() as work:
        problem = refused(text)
    assert [type(w).__name__ for w in work.loaders] == ["FastRecording", "Recording"]
    # libyaml says "mapping values are not allowed in this context"; PyYAML says "... here",
    # which the explanation recognises
    assert problem == (
        "f.yaml:2:14: YAML syntax error: a ': ' inside a value must be quoted, e.g. name: "
        '"Station: north"'
    )
