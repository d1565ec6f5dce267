"""Config validation: every mistake is reported with file:line:col and key path, all at once,
through the `floodwatch check` command; a config with any error is rejected whole."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from floodwatch.app import check
from floodwatch.errors import ConfigError
from floodwatch.plugins import Registry

from .helpers import TOWNSHIP_ROSTER, Ran, fw

VALID = f"""\
version: 1
office: 示范镇防汛办
rosters: [{TOWNSHIP_ROSTER}]
stations:
  - id: "01589025"
    name: Patapsco River near Catonsville, MD
feeds:
  - name: county
    type: http_json
    url: http://127.0.0.1:9/readings
    token: ${{COUNTY_TOKEN}}
    fields: {{station: site, value: v, observed_at: t}}
    constants: {{parameter: stage, unit: ft}}
rules:
  - id: patapsco-stage
    station: "01589025"
    parameter: stage
    unit: ft
    levels:
      - {{level: blue, value: 18}}
      - {{level: yellow, value: 20}}
    hold: 1h
escalation:
  default:
    steps:
      - notify: [officer]
      - after: 15m
        notify: [leader]
notifiers:
  - name: console
    type: console
"""


def run_check(path: Path, env: dict[str, str] | None = None) -> Ran:
    full_env: dict[str, str | None] = {"COUNTY_TOKEN": None}  # unset unless `env` gives it
    full_env.update(env or {})
    return fw("check", "--config", str(path), env=full_env)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "floodwatch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_valid_config_passes(tmp_path: Path) -> None:
    result = run_check(write(tmp_path, VALID), {"COUNTY_TOKEN": "s3cret"})
    assert result.returncode == 0, result.stderr
    assert "ok (1 station(s), 1 feed(s), 1 rule(s)" in result.stdout


def test_the_shipped_demo_config_passes() -> None:
    result = run_check(Path(__file__).parent.parent / "config" / "floodwatch.yaml")
    assert result.returncode == 0, result.stderr


# (what is changed, the expected line in stderr, with {f} for the file name)
CASES = {
    "syntax error": (
        ("    hold: 1h\n", "    hold: 1h\n   bad: [\n"),
        "{f}:23:4: YAML syntax error: this line is not indented like the lines above it: the keys of one mapping, and the items ('- ') of one list, must start in the same column",
    ),
    "unknown key": (
        ("    hold: 1h\n", "    hold: 1h\n    dedband: 0.5\n"),
        "{f}:23:5: rules[0].dedband: unknown key; did you mean 'deadband'?",
    ),
    "wrong type": (
        ("{level: yellow, value: 20}", "{level: yellow, value: twenty}"),
        "{f}:21:25: rules[0].levels[1].value: Input should be a valid number, unable to parse string as a number, found 'twenty'",
    ),
    "missing secret": (
        ("", ""),
        "{f}:11:12: feeds[0].token: environment variable COUNTY_TOKEN is not set",
    ),
    "secret written in the file": (
        ("${COUNTY_TOKEN}", "hunter2"),
        "{f}:11:5: feeds[0].token: secrets come from the environment: write ${{VARIABLE}}, not the secret",
    ),
    "bad duration": (
        ("hold: 1h", "hold: 1 hour"),
        "{f}:22:5: rules[0].hold: expected a duration such as '15m', '1h' or '90s', found '1 hour'",
    ),
    "unknown station": (
        ('    station: "01589025"', '    station: "0158902"'),
        "{f}:16:5: rules[0].station: unknown station '0158902'; did you mean '01589025'?",
    ),
    "levels that do not rise": (
        ("value: 20}", "value: 17}"),
        "{f}:21:25: rules[0].levels[1].value: levels must rise: yellow (17) is not above blue (18)",
    ),
    "unknown role": (
        ("notify: [leader]", "notify: [leeder]"),
        "{f}:28:18: escalation.default.steps[1].notify[0]: no rotation for role 'leeder' in the rosters; did you mean 'leader'? (roles: leader, officer)",
    ),
    "unknown notifier type": (
        ("type: console", "type: consol"),
        "{f}:31:5: notifiers[0].type: unknown notifier type 'consol'; did you mean 'console'? ({notifier_types})",
    ),
    "bad time zone": (
        ("office: 示范镇防汛办\n", "office: 示范镇防汛办\ntimezone: Asia/Beijing\n"),
        "{f}:3:1: timezone: unknown time zone 'Asia/Beijing' (expected e.g. 'Asia/Shanghai')",
    ),
    "duplicate key": (
        ("    hold: 1h\n", "    hold: 1h\n    hold: 2h\n"),
        "{f}:23:5: rules[0].hold: duplicate key (first given at line 22)",
    ),
    "missing version": (
        ("version: 1\n", ""),
        "{f}:1:1: version: required key is missing",
    ),
    # the common YAML slips, explained with the fix (issue 8, item 6)
    "a tab for indentation": (
        ("    hold: 1h\n", "\thold: 1h\n"),
        "{f}:22:1: YAML syntax error: tabs are not allowed for indentation in YAML: use spaces",
    ),
    "a tab after spaces": (
        ("    hold: 1h\n", "    \thold: 1h\n"),
        "{f}:22:5: YAML syntax error: tabs are not allowed for indentation in YAML: use spaces",
    ),
    "an unquoted ': ' inside a value": (
        ("name: Patapsco River near", "name: Patapsco River: near"),
        "{f}:6:25: YAML syntax error: a ': ' inside a value must be quoted, e.g. name: \"Patapsco River: near Catonsville, MD\"",
    ),
    "a quote never closed": (
        ('    station: "01589025"', '    station: "01589025'),
        '{f}:16:14: YAML syntax error: the quote (") opened here is never closed: end the value with "',
    ),
    "a bracket never closed": (
        ("notify: [officer]", "notify: [officer"),
        "{f}:26:17: YAML syntax error: the list opened with '[' here is not closed: found ':' at line 27 where ',' or ']' was expected",
    ),
    "two documents": (
        ("notifiers:\n", "---\nnotifiers:\n"),
        "{f}:29:1: YAML syntax error: a second YAML document ('---') in the file: a file holds one document",
    ),
    "two entries run together": (
        (
            "      - notify: [officer]\n      - after: 15m\n",
            "      - notify: [officer]\n        after: 15m\n",
        ),
        "{f}:28:9: escalation.default.steps[0].notify: duplicate key (first given at line 26)",
    ),
    # misspellings: "did you mean", and one mistake gives one error (issue 8, item 6)
    "a list heading lost": (
        ("rules:\n", ""),
        "{f}:14:5: feeds[1]: this entry has the keys of a rule, not of a feed: is the line 'rules:' above it missing?",
    ),
    "a misspelt top-level key": (
        ("notifiers:\n", "notifier:\n"),
        "{f}:29:1: notifier: unknown key; did you mean 'notifiers'?",
    ),
    "a misspelt plugin option": (
        ("    fields:", "    feilds:"),
        "{f}:12:5: feeds[0].feilds: unknown key; did you mean 'fields'?",
    ),
    "a misspelt feed interval": (
        ("    type: http_json\n", "    type: http_json\n    intervall: 5m\n"),
        "{f}:10:5: feeds[0].intervall: unknown key; did you mean 'interval'?",
    ),
    "a misspelt level": (
        ("level: yellow", "level: yelow"),
        "{f}:21:10: rules[0].levels[1].level: unknown level 'yelow'; did you mean 'yellow'? (levels are blue, yellow, orange, red; aliases 设防, FRZ, action, 警戒, WRZ, minor, flood, moderate, 保证, GRZ, major)",
    ),
    "a misspelt policy that rules use by default": (
        ("  default:\n", "  defualt:\n"),
        "{f}:24:3: escalation.defualt: escalation policy 'defualt' is used by nothing, and 'default', used by rules[0].escalation, silence.escalation, is not defined: did you mean 'default'?",
    ),
    "the first step delayed": (
        ("      - notify: [officer]\n", "      - after: 5m\n        notify: [officer]\n"),
        "{f}:26:9: escalation.default.steps[0].after: the first step pages at once: leave out its 'after'",
    ),
    "an empty list, at its key": (
        (
            "    levels:\n      - {level: blue, value: 18}\n      - {level: yellow, value: 20}\n",
            "    levels: []\n",
        ),
        "{f}:19:5: rules[0].levels: expected at least one item, found an empty list",
    ),
    # numbers and durations that mean nothing (issue 8, item 5)
    "a .nan threshold": (
        ("value: 18}", "value: .nan}"),
        "{f}:20:30: rules[0].levels[0].value: expected a finite number, found .nan",
    ),
    "nan written as text": (
        ("value: 18}", "value: nan}"),
        "{f}:20:23: rules[0].levels[0].value: expected a finite number, found nan",
    ),
    "an infinite threshold": (
        ("value: 20}", "value: .inf}"),
        "{f}:21:32: rules[0].levels[1].value: expected a finite number, found .inf",
    ),
    "an infinite limit": (
        ("Catonsville, MD\n", "Catonsville, MD\n    min: -.inf\n"),
        "{f}:7:10: stations[0].min: expected a finite number, found -.inf",
    ),
    "a plugin option written inf": (
        ("    type: http_json\n", "    type: http_json\n    backoff: inf\n"),
        "{f}:10:5: feeds[0].backoff: expected a finite number, found inf",
    ),
    "a feed polled every 0s": (
        ("    type: http_json\n", "    type: http_json\n    interval: 0s\n"),
        "{f}:10:5: feeds[0].interval: expected a duration longer than 0s, found '0s'",
    ),
    "a station expected every 0m": (
        ("Catonsville, MD\n", "Catonsville, MD\n    expect_every: 0m\n"),
        "{f}:7:5: stations[0].expect_every: expected a duration longer than 0s, found '0m'",
    ),
    "an outbox swept every 0s": (
        ("notifiers:\n", "delivery: {sweep: 0s}\nnotifiers:\n"),
        "{f}:29:12: delivery.sweep: expected a duration longer than 0s, found '0s'",
    ),
    "rosters reloaded every 0s": (
        ("notifiers:\n", "duty: {reload_every: 0s}\nnotifiers:\n"),
        "{f}:29:8: duty.reload_every: expected a duration longer than 0s, found '0s'",
    ),
    "a negative tick": (
        ("notifiers:\n", "escalation_tick: -5s\nnotifiers:\n"),
        "{f}:29:1: escalation_tick: expected a duration such as '15m', '1h' or '90s', found '-5s'",
    ),
    "a rainfall window of 0h": (
        (
            "rules:\n",
            'rules:\n  - {id: r, type: rainfall, station: "01589025", cadence: 5m, levels: [{level: blue, over: {0h: 5}}]}\n',
        ),
        "{f}:15:93: rules[0].levels[0].over.0h: expected a window longer than 0s, found '0h'",
    ),
    "an enormous duration": (
        ("hold: 1h", "hold: 99999999999d"),
        "{f}:22:5: rules[0].hold: expected a duration of at most 366d, found '99999999999d'",
    ),
    "a backoff that doubles past any date": (
        ("notifiers:\n", "delivery: {backoff: 2h}\nnotifiers:\n"),
        "{f}:29:12: delivery.backoff: expected a duration of at most 1h, found '2h'",
    ),
    "an absurd speed": (
        ("notifiers:\n", "clock: {start: 2018-05-27T14:30:00-05:00, speed: 1e308}\nnotifiers:\n"),
        "{f}:29:43: clock.speed: Input should be less than or equal to 100000, found '1e308'",
    ),
    "an absurd silence factor": (
        ("notifiers:\n", "silence: {factor: 1e9}\nnotifiers:\n"),
        "{f}:29:11: silence.factor: Input should be less than or equal to 100, found '1e9'",
    ),
    "coverage checked for centuries": (
        ("notifiers:\n", "duty: {coverage_days: 100000}\nnotifiers:\n"),
        "{f}:29:8: duty.coverage_days: Input should be less than or equal to 366, found 100000",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_mistake_is_named_with_its_place(tmp_path: Path, case: str) -> None:
    (old, new), expected = CASES[case]
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    env = {} if case == "missing secret" else {"COUNTY_TOKEN": "s3cret"}
    result = run_check(path, env)
    assert result.returncode == 1, result.stdout
    lines = result.stderr.splitlines()
    # one mistake, one line: exactly this problem, no follow-on errors
    types = ", ".join(sorted(Registry.from_entry_points().notifiers))  # every installed channel
    expected = expected.format(f=path, notifier_types=types)
    assert lines == [expected, "1 problem(s) found; nothing was changed."], result.stderr


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace("hold: 1h", "hold: soon").replace("type: console", "type: consol")
    with pytest.raises(ConfigError) as exc:
        check(write(tmp_path, text), Registry.from_entry_points(), env={"COUNTY_TOKEN": "x"})
    assert [p.path for p in exc.value.problems] == ["rules[0].hold"]
    # plugin options and cross-references are checked once the shape is right
    text = VALID.replace("type: console", "type: consol").replace(
        '"01589025"\n    par', '"x"\n    par'
    )
    with pytest.raises(ConfigError) as exc:
        check(write(tmp_path, text), Registry.from_entry_points(), env={"COUNTY_TOKEN": "x"})
    assert [p.path for p in exc.value.problems] == ["rules[0].station", "notifiers[0].type"]


def test_secrets_come_from_the_environment_and_stay_out_of_reprs(tmp_path: Path) -> None:
    config, _ = check(
        write(tmp_path, VALID), Registry.from_entry_points(), {"COUNTY_TOKEN": "s3cret"}
    )
    assert config.settings.rules[0].hold == timedelta(hours=1)
    options = config.plugin_options["feeds.county"]
    assert options.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(options) and "s3cret" not in str(options)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert fw("check", "--nope").returncode == 2
    assert fw("frobnicate").returncode == 2


def test_a_missing_file_is_a_checked_error(tmp_path: Path) -> None:
    result = run_check(tmp_path / "nowhere.yaml")
    assert result.returncode == 1
    assert f"{tmp_path / 'nowhere.yaml'}:1:1: file not found" in result.stderr


def test_the_readme_examples_of_refused_files_are_real_messages() -> None:
    """Each example line under "When a file is refused" is a line this table checks."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### When a file is refused", 1)[1]
    block = section.split("```\n", 2)[1]
    examples = block.splitlines()
    assert len(examples) >= 5
    types = ", ".join(sorted(Registry.from_entry_points().notifiers))
    checked = {
        expected.format(f="config/floodwatch.yaml", notifier_types=types)
        for _, expected in CASES.values()
    }
    for line in examples:
        assert line in checked, line
