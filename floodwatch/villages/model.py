"""Villages as the YAML describes them, as frozen values. Pure: no I/O, no clock.

A village (行政村) has groups (组) with their households and residents, responsible persons
(people of the rosters, each with a role in the village: 村级责任人, 监测员, 预警员), broadcast
endpoints (loudspeakers: a channel and an address, for one group or the whole village), an
evacuation site, an optional area (a polygon, geocodes) for CAP, and what concerns it: stations
with the village's own water levels for 准备转移 (prepare) and 立即转移 (move now), and rain
gauges with the county's rainfall indicators (雨量预警指标) per window.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from floodwatch.config import EscalationPolicy, EscalationStep, Evacuation

PREPARE, MOVE_NOW = "prepare", "move_now"
WARNINGS = (PREPARE, MOVE_NOW)  # lowest first
NONE = -1  # the rank of "no warning"
WARNING_ZH = {PREPARE: "准备转移", MOVE_NOW: "立即转移"}
WARNING_EN = {PREPARE: "prepare to move", MOVE_NOW: "move now"}

HEAD, MONITOR, WARNER = "head", "monitor", "warner"
ROLE_ZH = {HEAD: "村级责任人", MONITOR: "监测员", WARNER: "预警员"}
POLICY_PREFIX = "village:"  # a village's escalation policy: village:<id>


def rank(warning: str | None) -> int:
    """A warning's place in WARNINGS (NONE for no warning)."""
    return WARNINGS.index(warning) if warning in WARNINGS else NONE


def warning_at(index: int) -> str | None:
    return WARNINGS[index] if index != NONE else None


@dataclass(frozen=True)
class Group:
    """A village group (村民小组): its people, for the figures, and its own evacuation site
    where it has one."""

    id: str
    name: str
    households: int
    residents: int
    evacuation: str | None = None


@dataclass(frozen=True)
class Responsible:
    """A roster person with a role in the village (`head`, `monitor` or `warner`), for the
    whole village or for one group."""

    person: str
    role: str
    group: str | None = None

    @property
    def role_zh(self) -> str:
        return ROLE_ZH.get(self.role, self.role)


@dataclass(frozen=True)
class Loudspeaker:
    """A broadcast endpoint: reached through `channel` (a broadcast notifier) at `address`, for
    one group or (group None) the whole village. `key` names it in pages (never a person id:
    person ids have no ':')."""

    village: str
    id: str
    channel: str
    address: str
    group: str | None = None

    @property
    def key(self) -> str:
        return f"{self.village}:{self.id}"


@dataclass(frozen=True)
class LevelTrigger:
    """The village's own water levels at a station: `prepare` and `move_now` in `unit` (either
    may be left out); reached when a reading is at or above them."""

    station: str
    parameter: str
    unit: str
    prepare: float | None = None
    move_now: float | None = None

    @property
    def source(self) -> str:
        return f"level:{self.station}:{self.parameter}"

    def reached(self, value: float) -> int:
        """The highest warning `value` reaches (NONE, or the index in WARNINGS)."""
        if self.move_now is not None and value >= self.move_now:
            return WARNINGS.index(MOVE_NOW)
        if self.prepare is not None and value >= self.prepare:
            return WARNINGS.index(PREPARE)
        return NONE

    def threshold(self, warning: str) -> float | None:
        return self.prepare if warning == PREPARE else self.move_now


@dataclass(frozen=True)
class RainTrigger:
    """The county's rainfall indicators for the village at a rain gauge: per warning, amounts
    over windows (``{1h: 40, 3h: 60}``); a warning is reached when any window's sum reaches its
    amount. Readings are amounts fallen since the previous one, one every `cadence`."""

    station: str
    parameter: str
    unit: str
    cadence: timedelta
    prepare: Mapping[timedelta, float] = field(default_factory=dict, hash=False)
    move_now: Mapping[timedelta, float] = field(default_factory=dict, hash=False)

    @property
    def source(self) -> str:
        return f"rain:{self.station}:{self.parameter}"

    @property
    def windows(self) -> tuple[timedelta, ...]:
        return tuple(sorted(set(self.prepare) | set(self.move_now)))

    def reached(self, sums: Mapping[timedelta, float]) -> tuple[int, timedelta | None]:
        """The highest warning the window sums reach, and the window that reaches it."""
        for index, table in ((1, self.move_now), (0, self.prepare)):
            for window, amount in sorted(table.items()):
                if sums.get(window, 0.0) >= amount:
                    return index, window
        return NONE, None

    def threshold(self, warning: str, window: timedelta) -> float | None:
        return (self.prepare if warning == PREPARE else self.move_now).get(window)


Trigger = LevelTrigger | RainTrigger


@dataclass(frozen=True)
class Area:
    """Where the village is, for CAP's <area>: a polygon of (latitude, longitude) points, the
    first repeated as the last, and geocodes (valueName, value)."""

    polygon: tuple[tuple[float, float], ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Village:
    id: str
    name: str
    evacuation: str
    wait: timedelta
    groups: tuple[Group, ...] = ()
    responsible: tuple[Responsible, ...] = ()
    loudspeakers: tuple[Loudspeaker, ...] = ()
    levels: tuple[LevelTrigger, ...] = ()
    rain: tuple[RainTrigger, ...] = ()
    area: Area = Area()
    language: str = "zh-CN"  # what its loudspeakers speak
    where: str = ""  # file:line, for messages

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        return (*self.levels, *self.rain)

    @property
    def policy(self) -> str:
        return f"{POLICY_PREFIX}{self.id}"

    @property
    def households(self) -> int:
        return sum(g.households for g in self.groups)

    @property
    def residents(self) -> int:
        return sum(g.residents for g in self.groups)

    @property
    def people(self) -> tuple[str, ...]:
        """The responsible persons' ids, each once, in the order given."""
        return tuple(dict.fromkeys(r.person for r in self.responsible))

    def group(self, group_id: str | None) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def roles_of(self, person: str) -> list[Responsible]:
        return [r for r in self.responsible if r.person == person]

    def sites(self) -> str:
        """Where everyone goes: the village's site, and each group's own where it has one."""
        own = [f"{g.name}：{g.evacuation}" for g in self.groups if g.evacuation]
        return "；".join([self.evacuation, *own])

    def site(self, group_id: str | None) -> str:
        """Where the people of a group (or the village) go."""
        group = self.group(group_id)
        return group.evacuation if group is not None and group.evacuation else self.evacuation

    def escalation_policy(self, evacuation: Evacuation) -> EscalationPolicy:
        """The village's 叫应 policy: step 0 pages every responsible person, and everyone must
        answer (`ack: all`); step 1 is the leader on duty, paged at once when someone asks for
        it (an SMS ``3e``). Who has not answered after `wait` is named to the leader by the
        village desk, not by this policy (its page names them)."""
        return EscalationPolicy(
            steps=[
                EscalationStep(
                    people=list(self.people), ack="all", channels=evacuation.channels,
                    fallback=list(evacuation.fallback),
                ),
                EscalationStep(after=self.wait, notify=[evacuation.leader]),
            ]
        )  # fmt: skip


@dataclass(frozen=True)
class Villages:
    """Every village of the config's village files."""

    villages: tuple[Village, ...] = ()

    @cached_property
    def by_id(self) -> Mapping[str, Village]:
        return {v.id: v for v in self.villages}

    def __iter__(self) -> Iterator[Village]:
        return iter(self.villages)

    def __len__(self) -> int:
        return len(self.villages)

    def get(self, village_id: str) -> Village | None:
        return self.by_id.get(village_id)

    @cached_property
    def series(self) -> frozenset[tuple[str, str]]:
        """Every (station, parameter) some village watches."""
        return frozenset((t.station, t.parameter) for v in self.villages for t in v.triggers)

    def concerned_by(self, station: str) -> list[Village]:
        """The villages that watch `station` (a level or a rain gauge)."""
        return [v for v in self.villages if any(t.station == station for t in v.triggers)]

    def policies(self, evacuation: Evacuation) -> dict[str, EscalationPolicy]:
        """Each village's 叫应 policy, by name (village:<id>)."""
        return {v.policy: v.escalation_policy(evacuation) for v in self.villages}

    def loudspeakers(self, ids: Sequence[str] = ()) -> list[Loudspeaker]:
        """Every loudspeaker of the villages `ids` (all villages when none are given)."""
        chosen = [self.by_id[i] for i in ids] if ids else list(self.villages)
        return [s for v in chosen for s in v.loudspeakers]


NO_VILLAGES = Villages()
