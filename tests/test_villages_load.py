"""Loading villages: the shipped demo file, several files, the checks start-up and the roster
reload share, and the corpus of malformed village files, each rejected at its line."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from floodwatch.config import PluginTypes, load_config
from floodwatch.errors import ConfigError
from floodwatch.plugins import Registry
from floodwatch.roster import load_rosters
from floodwatch.validation import check, load_checked_villages, roster_problems
from floodwatch.villages.load import Known, load_villages
from floodwatch.villages.model import HEAD, MONITOR, WARNER

from .helpers import DEMO_CONFIG, ROOT, TOWNSHIP_ROSTER, expected_problems, fw
from .roster_support import SHANGHAI
from .villages_support import DEMO_VILLAGES, VILLAGE_ROSTER, known, write

BAD = Path(__file__).parent / "villages_bad"
CORPUS = sorted(BAD.glob("*.yaml"))
REGISTRY = Registry.from_entry_points()


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_each_malformed_village_file_is_rejected_at_its_line(path: Path) -> None:
    """Each file starts with one ``# expect: LINE:COL: key.path: message`` per problem."""
    expected = expected_problems(path)
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(ConfigError) as exc:
        load_villages([path], known())
    assert [str(p) for p in exc.value.problems] == expected


def test_the_shipped_demo_villages() -> None:
    villages = load_villages([DEMO_VILLAGES], known_for_demo())
    assert [v.id for v in villages] == ["hekou", "liulin"]
    hekou = villages.by_id["hekou"]
    assert (hekou.name, hekou.households, hekou.residents) == ("河口村", 108, 335)
    assert hekou.wait == timedelta(minutes=10) and villages.by_id["liulin"].wait == timedelta(
        minutes=10
    )
    assert [(r.person, r.role, r.group) for r in hekou.responsible] == [
        ("zhang.jianguo", HEAD, None), ("chen.zhiqiang", MONITOR, None), ("zhao.mei", WARNER, "g1"),
    ]  # fmt: skip
    assert [(s.key, s.address) for s in hekou.loudspeakers] == [
        ("hekou:g1", "hekou/g1"), ("hekou:g2", "hekou/g2"), ("hekou:g3", "hekou/g3"),
    ]  # fmt: skip
    assert hekou.site("g3") == "三组文化礼堂（北坡）" and hekou.site("g1") == hekou.evacuation
    [gauge] = hekou.levels
    assert (gauge.prepare, gauge.move_now) == (20, 24)
    assert [gauge.reached(v) for v in (19.9, 20, 23.99, 24)] == [-1, 0, 0, 1]
    assert hekou.area.polygon[0] == hekou.area.polygon[-1]
    assert dict(hekou.area.geocodes) == {"行政区划代码": "130102001001"}
    # its 叫应 policy: everyone must answer; the leader is the next step
    policy = villages.policies(load_config(DEMO_CONFIG, plugins()).settings.evacuation)[
        "village:hekou"
    ]
    first, second = policy.steps
    assert first.people == ["zhang.jianguo", "chen.zhiqiang", "zhao.mei"] and first.ack == "all"
    assert second.notify == ["leader"]


def known_for_demo() -> Known:
    roster = load_rosters([TOWNSHIP_ROSTER, VILLAGE_ROSTER], SHANGHAI)
    return Known(
        people=set(roster.people), stations={"01589025"},
        notifiers={"village-speakers": "broadcast_mqtt", "console": "console"},
        broadcast={"village-speakers"},
    )  # fmt: skip


def plugins() -> PluginTypes:
    return PluginTypes(REGISTRY.feeds, REGISTRY.notifiers)


def test_rain_indicators_per_window(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        villages:
          - id: shanxia
            name: 山下村
            evacuation: 村委会
            groups: [{id: g1, name: 一组, households: 20, residents: 61}]
            responsible: [{person: zhang.jianguo, role: 预警员}]
            rain:
              - {station: R01, cadence: 1h, prepare: {1h: 40, 3h: 60}, move_now: {3h: 90}}
        """,
    )
    [village] = load_villages([path], known())
    [rain] = village.rain
    hour, three = timedelta(hours=1), timedelta(hours=3)
    assert rain.windows == (hour, three)
    assert rain.reached({hour: 39.9, three: 59.9}) == (-1, None)
    assert rain.reached({hour: 40, three: 41}) == (0, hour)
    assert rain.reached({hour: 80, three: 90}) == (1, three)


def test_ids_are_unique_across_files(tmp_path: Path) -> None:
    text = """
        version: 1
        villages:
          - id: hekou
            name: 河口村
            evacuation: 河口村小学
            groups: [{id: g1, name: 一组, households: 4, residents: 9}]
            responsible: [{person: zhang.jianguo, role: 村级责任人}]
        """
    first, second = write(tmp_path, text, "a.yaml"), write(tmp_path, text, "b.yaml")
    with pytest.raises(ConfigError) as exc:
        load_villages([first, second], known())
    assert [str(p) for p in exc.value.problems] == [
        f"{second}:4:5: villages[0].id: duplicate village id 'hekou' (first at {first}:4)"
    ]


def test_a_missing_file_is_a_located_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_villages([tmp_path / "nowhere.yaml"])
    assert str(exc.value) == f"{tmp_path / 'nowhere.yaml'}:1:1: file not found"


def test_without_known_references_only_the_shape_is_checked(tmp_path: Path) -> None:
    path = BAD / "unknown_person.yaml"
    assert [v.id for v in load_villages([path])] == ["hekou"]


# -- floodwatch check, start-up and the roster reload ----------------------------------------


def demo_copy(tmp_path: Path, villages: str | None = None, **config: object) -> Path:
    """The demo config, rosters and villages copied into tmp_path (paths as shipped)."""
    (tmp_path / "config").mkdir()
    (tmp_path / "rosters").mkdir()
    for name in ("township.yaml", "villages.yaml"):
        shutil.copy(ROOT / "rosters" / name, tmp_path / "rosters" / name)
    shutil.copy(DEMO_VILLAGES, tmp_path / "config" / "villages.yaml")
    if villages is not None:
        write(tmp_path / "config", villages)
    settings = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    settings.update(config)
    path = tmp_path / "config" / "floodwatch.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def test_floodwatch_check_names_a_bad_village_file_at_its_line(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    text = (tmp_path / "config" / "villages.yaml").read_text(encoding="utf-8")
    (tmp_path / "config" / "villages.yaml").write_text(
        text.replace("person: chen.zhiqiang", "person: chen.zhiqang"), encoding="utf-8"
    )
    ran = fw("check", "--config", str(config))
    assert ran.returncode == 1
    villages = tmp_path / "config" / "villages.yaml"
    assert ran.stderr.splitlines()[0] == (
        f"{villages}:17:10: villages[0].responsible[1].person: unknown person 'chen.zhiqang' "
        "(not in the people of any roster file); did you mean 'chen.zhiqiang' or 'chen.jing'?"
    )
    assert fw("check", "--config", str(DEMO_CONFIG)).returncode == 0


def test_a_loudspeaker_on_a_paging_channel_is_refused_at_start_up(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    path = tmp_path / "config" / "villages.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("{id: all, channel: village-speakers}",
                                 "{id: all, channel: pages-file}"), "utf-8")  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        check(config, REGISTRY)
    assert [p.message for p in exc.value.problems] == [
        "'pages-file' (jsonl) pages people, it does not reach loudspeakers: name a broadcast "
        "notifier (village-speakers)"
    ]


def test_broadcast_channels_never_page_people_and_the_evacuation_settings_are_checked(
    tmp_path: Path,
) -> None:
    escalation = {
        "default": {"steps": [{"notify": ["officer"], "channels": ["village-speakers"]}]},
    }
    evacuation = {"prepare_level": "oragne", "move_now_level": "yellow", "fallback": ["smss"]}
    config = demo_copy(tmp_path, escalation=escalation, evacuation=evacuation)
    with pytest.raises(ConfigError) as exc:
        check(config, REGISTRY)
    assert sorted(f"{p.path}: {p.message}" for p in exc.value.problems) == [
        "escalation.default.steps[0].channels[0]: 'village-speakers' is a broadcast channel: it "
        "reaches loudspeakers, not people (loudspeakers are named in the village files)",
        "evacuation.fallback[0]: unknown notifier 'smss'",
        "evacuation.prepare_level: unknown level 'oragne'; did you mean 'orange'? (levels are "
        "blue, yellow, orange, red)",
    ]
    evacuation = {"prepare_level": "red", "move_now_level": "orange", "leader": "leeder"}
    other = tmp_path / "other"
    other.mkdir()
    config = demo_copy(other, evacuation=evacuation)
    with pytest.raises(ConfigError) as exc:
        check(config, REGISTRY)
    assert [f"{p.path}: {p.message}" for p in exc.value.problems] == [
        "evacuation.leader: no rotation for role 'leeder' in the rosters; did you mean "
        "'leader'? (roles: leader, officer): the village warnings need the leader on duty"
    ]


def test_a_roster_edit_that_drops_a_responsible_person_is_refused_like_at_start_up(
    tmp_path: Path,
) -> None:
    config_path = demo_copy(tmp_path)
    config = load_config(config_path, plugins())
    roster = load_rosters(config.roster_paths, SHANGHAI)
    assert roster_problems(config, roster) == []
    villages_roster = tmp_path / "rosters" / "villages.yaml"
    text = villages_roster.read_text(encoding="utf-8")
    villages_roster.write_text(
        "\n".join(line for line in text.splitlines() if "sun.li" not in line), encoding="utf-8"
    )
    edited = load_rosters(config.roster_paths, SHANGHAI)
    problems = roster_problems(config, edited)
    assert [f"{p.path}: {p.message}" for p in problems] == [
        "villages[1].responsible[1].person: unknown person 'sun.li' (not in the people of any "
        "roster file); did you mean 'sun.hao'?"
    ]
    assert problems[0].file == str(tmp_path / "config" / "villages.yaml")
    # and start-up refuses the same
    with pytest.raises(ConfigError):
        load_checked_villages(config, edited, REGISTRY.notifiers)
