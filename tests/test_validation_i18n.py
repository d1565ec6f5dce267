"""Config, roster and village validation errors in the reader's language.

A `Problem` keeps its place (``file:line:col: key.path``) and its English message (`str()` and
`.message` are what they always were); the catalogue's message rides along in `.text`, and
`render(language)` shows it in Mandarin under LANG=zh_CN, at the very same place.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ConfigDict, Field

from floodwatch import yamlsource
from floodwatch.errors import ConfigError, Problem, did_you_mean, first_few
from floodwatch.i18n import _
from floodwatch.roster import load_rosters
from floodwatch.villages.load import load_villages

from .helpers import Ran, expected_problems, fw, write_config
from .villages_support import known

TESTS = Path(__file__).parent
MANY = TESTS / "rosters_bad" / "many_problems_at_once.yaml"
NO_LOCALE = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None}

# many_problems_at_once.yaml, problem by problem: where, then the message in Mandarin
MANY_IN_MANDARIN = [
    (
        "8:22: people[0].phone",
        '应为 E.164 格式的电话号码："+"、国家代码和号码，不含空格（例如 "+8613800000001"），'
        "实为 '+86 138 0000 0001'",
    ),
    ("9:22: people[1].langauge", "未知的键；是否应为 'language'？"),
    (
        "12:54: rotations[0].handover",
        '应为 "HH:MM" 格式的当地时刻（例如 "08:00"），实为 \'8.00\'',
    ),
    ("13:37: rotations[1].members[2]", "未知人员 'd'（不在任何值班表文件的 people 中）"),
]


def check(config: Path, lang: str) -> Ran:
    return fw("check", "--config", str(config), env={**NO_LOCALE, "LANG": lang})


def test_check_prints_a_bad_rosters_problems_in_mandarin_at_the_same_places(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, rosters=[str(MANY)])
    zh = check(config, "zh_CN.UTF-8")
    assert zh.returncode == 1
    lines = zh.stderr.strip().splitlines()
    assert lines[:-1] == [f"{MANY}:{where}: {message}" for where, message in MANY_IN_MANDARIN]
    assert lines[-1] == "发现 4 个问题，未作任何更改。"


def test_check_prints_the_same_problems_in_english_under_lang_c(tmp_path: Path) -> None:
    config = write_config(tmp_path, rosters=[str(MANY)])
    en = check(config, "C")
    assert en.returncode == 1
    lines = en.stderr.strip().splitlines()
    assert lines[:-1] == expected_problems(MANY)  # word for word what it said before
    assert lines[-1] == "4 problem(s) found; nothing was changed."
    places = [line.split(": ", 1)[0] for line in lines[:-1]]
    assert places == [f"{MANY}:{where.split(': ')[0]}" for where, _m in MANY_IN_MANDARIN]


def test_a_config_checked_against_the_roster_names_its_problem_in_mandarin(
    tmp_path: Path,
) -> None:
    """validation.py: the config's escalation pages a role the rosters do not have."""
    escalation = {"default": {"steps": [{"notify": ["offcer"]}]}}
    config = write_config(tmp_path, escalation=escalation)
    zh, en = check(config, "zh_CN.UTF-8"), check(config, "C")
    assert (zh.returncode, en.returncode) == (1, 1)
    (zh_line, zh_count), (en_line, _count) = (
        zh.stderr.strip().splitlines(),
        en.stderr.strip().splitlines(),
    )
    where = f"{config}:"
    assert en_line.startswith(where) and zh_line.startswith(where)
    place = en_line.split(": ")[0] + ": escalation.default.steps[0].notify[0]: "
    assert en_line == place + (
        "no rotation for role 'offcer' in the rosters; did you mean 'officer'? "
        "(roles: leader, officer)"
    )
    assert zh_line == place + (
        "值班表中没有角色 'offcer' 的轮班；是否应为 'officer'？（现有角色：leader, officer）"
    )
    assert zh_count == "发现 1 个问题，未作任何更改。"


# -- every problem of the malformed-file corpora has its Mandarin ---------------------------


def corpus_problems() -> list[Problem]:
    problems: list[Problem] = []
    for path in sorted((TESTS / "rosters_bad").glob("*.yaml")):
        with pytest.raises(ConfigError) as exc:
            load_rosters([path], ZoneInfo("Asia/Shanghai"))
        problems += exc.value.problems
    for path in sorted((TESTS / "villages_bad").glob("*.yaml")):
        with pytest.raises(ConfigError) as exc:
            load_villages([path], known())  # as tests/test_villages_load.py loads them
        problems += exc.value.problems
    return problems


def test_every_problem_of_the_bad_rosters_and_villages_is_in_mandarin() -> None:
    problems = corpus_problems()
    assert len(problems) > 90
    untranslated = [str(p) for p in problems if p.text is None]
    assert not untranslated, "\n".join(untranslated)
    for p in problems:
        zh, en = p.render("zh-CN"), p.render("en")
        assert en == str(p)
        where = str(p)[: len(str(p)) - len(p.message)]
        assert zh.startswith(where) and zh != en, zh
        # the message itself is Mandarin: at least one CJK character the English lacks
        assert re.search(r"[\u4e00-\u9fff]", zh[len(where) :]), zh
        # no English connecting words were left behind (a hint, a list of places)
        assert not re.search(r"did you mean|also used at| and \d+ more", zh), zh


# -- Problem.render ---------------------------------------------------------------------------


def test_render_keeps_the_place_and_puts_the_message_in_the_language() -> None:
    p = Problem("r.yaml", 3, 5, "people[0].name", _("required key is missing"))
    assert str(p) == "r.yaml:3:5: people[0].name: required key is missing"
    assert p.message == "required key is missing"
    assert p.render("en") == str(p)
    assert p.render("zh-CN") == "r.yaml:3:5: people[0].name: 缺少必填的键"
    no_path = Problem("r.yaml", 1, 1, "", _("the file is empty"))
    assert (str(no_path), no_path.render("zh-CN")) == (
        "r.yaml:1:1: the file is empty",
        "r.yaml:1:1: 文件是空的",
    )


def test_a_message_not_in_the_catalogue_renders_in_english() -> None:
    plain = Problem("r.yaml", 2, 1, "x", "a plugin's own words")
    assert plain.text is None
    assert plain.render("zh-CN") == "r.yaml:2:1: x: a plugin's own words"


def test_problems_are_equal_by_place_and_english_whatever_they_were_made_from() -> None:
    text = Problem("r.yaml", 3, 5, "a", _("unknown key{hint}", hint=did_you_mean("nme", ["name"])))
    english = Problem("r.yaml", 3, 5, "a", "unknown key; did you mean 'name'?")
    assert text == english and hash(text) == hash(english)
    assert len({text, english}) == 1
    assert text != Problem("r.yaml", 3, 6, "a", "unknown key; did you mean 'name'?")
    assert text.render("zh-CN") == "r.yaml:3:5: a: 未知的键；是否应为 'name'？"
    assert english.render("zh-CN") == "r.yaml:3:5: a: unknown key; did you mean 'name'?"


def test_did_you_mean_and_first_few_speak_both_languages() -> None:
    one, two = did_you_mean("offcer", ["officer"]), did_you_mean("ab", ["abc", "abd"])
    assert (str(one), str(two)) == ("; did you mean 'officer'?", "; did you mean 'abd' or 'abc'?")
    assert not isinstance(one, str) and not isinstance(two, str)
    assert one.render("zh-CN") == "；是否应为 'officer'？"
    assert two.render("zh-CN") == "；是否应为 'abd' 或 'abc'？"
    assert did_you_mean("zzz", ["officer"]) == ""
    more = first_few(["f:1", "f:2", "f:3", "f:4", "f:5"])
    assert not isinstance(more, str)
    assert (str(more), more.render("zh-CN")) == (
        "f:1, f:2, f:3 and 2 more",
        "f:1, f:2, f:3 及另外 2 个",
    )
    assert first_few(["f:1", "f:2"]) == "f:1, f:2"


def test_pydantics_english_is_kept_word_for_word_when_the_catalogue_has_no_match() -> None:
    """pydantic's messages are translated only when the catalogue's English is exactly the
    one pydantic gave: the singular "1 character" is not in the catalogue, so it stays."""

    class Model(BaseModel):
        model_config = ConfigDict(extra="forbid")
        short: str = Field(max_length=1)
        count: int = Field(ge=1)

    doc = yamlsource.Document("m.yaml", {"short": "ab", "count": 0})
    with pytest.raises(ConfigError) as exc:
        yamlsource.validate(Model, doc)
    count, short = sorted(exc.value.problems, key=lambda p: p.path)
    assert str(count) == "m.yaml:1:1: count: Input should be greater than or equal to 1, found 0"
    assert count.render("zh-CN") == "m.yaml:1:1: count: 应大于或等于 1，实为 0"
    assert str(short) == "m.yaml:1:1: short: String should have at most 1 character, found 'ab'"
    assert short.render("zh-CN") == (
        "m.yaml:1:1: short: String should have at most 1 character，实为 'ab'"
    )
