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
        "{f}:23:4: YAML syntax error: while parsing a block collection: expected <block end>, but found '<block mapping start>'",
    ),
    "unknown key": (
        ("    hold: 1h\n", "    hold: 1h\n    dedband: 0.5\n"),
        "{f}:23:5: rules[0].dedband: unknown key (check the spelling; see the README for the keys allowed here)",
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
        "{f}:16:5: rules[0].station: unknown station '0158902'",
    ),
    "levels that do not rise": (
        ("value: 20}", "value: 17}"),
        "{f}:19:5: rules[0].levels: levels must rise: yellow (17.0) is not above blue (18.0)",
    ),
    "unknown role": (
        ("notify: [leader]", "notify: [leeder]"),
        "{f}:28:18: escalation.default.steps[1].notify[0]: no rotation for role 'leeder' in the rosters (roles: leader, officer)",
    ),
    "unknown notifier type": (
        ("type: console", "type: consol"),
        "{f}:31:5: notifiers[0].type: unknown notifier type 'consol' (console, jsonl)",
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
    assert expected.format(f=path) in lines, result.stderr
    assert lines[-1].endswith("problem(s) found; nothing was changed.")


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
