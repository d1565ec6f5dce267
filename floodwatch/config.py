"""`floodwatch.yaml` -> typed, validated settings.

Every key is declared; unknown keys, wrong types and dangling references are errors that name
``file:line:col: key.path``. A file with one bad entry is rejected whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from floodwatch import yamlsource
from floodwatch.durations import Duration
from floodwatch.errors import ConfigError, Problem

DEFAULT_DATABASE = "sqlite:///var/floodwatch.db"


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"expected an IANA time zone name such as 'Asia/Shanghai', found {value!r}"
        )
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (expected e.g. 'Asia/Shanghai')") from None


TimeZone = Annotated[ZoneInfo, BeforeValidator(_zone)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Level(Strict):
    """One alert level; the default ladder is China's four colours (blue IV .. red I)."""

    id: Name
    name_zh: str
    name_en: str
    grade: str
    cap_severity: Literal["Minor", "Moderate", "Severe", "Extreme"]


DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(id="blue", name_zh="蓝色", name_en="Blue", grade="IV", cap_severity="Minor"),
    Level(id="yellow", name_zh="黄色", name_en="Yellow", grade="III", cap_severity="Moderate"),
    Level(id="orange", name_zh="橙色", name_en="Orange", grade="II", cap_severity="Severe"),
    Level(id="red", name_zh="红色", name_en="Red", grade="I", cap_severity="Extreme"),
)


class Station(Strict):
    id: Name
    name: str


class PluginSettings(BaseModel):
    """A feed or notifier: its name and plugin type; the other keys are the plugin's options."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Name
    type: Name

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class FeedSettings(PluginSettings):
    interval: Duration = timedelta(minutes=5)


class NotifierSettings(PluginSettings):
    pass


class Step(Strict):
    """One rung of a threshold ladder: the alert reaches `level` when the value is >= `value`."""

    level: Name
    value: float


class ThresholdRule(Strict):
    """Water level (or any value) against an ordered ladder of levels, with hysteresis."""

    id: Name
    type: Literal["threshold"] = "threshold"
    station: Name
    parameter: Name
    unit: str
    levels: list[Step] = Field(min_length=1)
    deadband: float = Field(default=0.0, ge=0)
    hold: Duration = timedelta(0)
    escalation: Name = "default"

    @field_validator("levels")
    @classmethod
    def _ascending(cls, steps: list[Step]) -> list[Step]:
        for lower, higher in zip(steps, steps[1:], strict=False):
            if higher.value <= lower.value:
                raise ValueError(
                    f"levels must rise: {higher.level} ({higher.value}) is not above "
                    f"{lower.level} ({lower.value})"
                )
        return steps


class EscalationStep(Strict):
    """Page the people on duty in `notify` roles, `after` the previous step (0 for the first)."""

    after: Duration = timedelta(0)
    notify: list[Name] = Field(min_length=1)
    channels: list[Name] | None = None


class EscalationPolicy(Strict):
    steps: list[EscalationStep] = Field(min_length=1)
    repeat_every: Duration | None = None

    @field_validator("steps")
    @classmethod
    def _first_is_immediate(cls, steps: list[EscalationStep]) -> list[EscalationStep]:
        if steps and steps[0].after != timedelta(0):
            raise ValueError("the first step pages at once: leave out its 'after'")
        return steps


class DemoClock(Strict):
    """Run the service on a fast clock from `start` (used by the offline demo)."""

    start: datetime
    speed: float = Field(gt=0)
    fresh_start: bool = False  # `run` empties the database first, so the demo can be rerun

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2018-05-27T14:30:00-05:00")
        return value


class Delivery(Strict):
    """How the dispatcher retries and how long a claim on a page lasts."""

    max_attempts: int = Field(default=5, ge=1)
    backoff: Duration = timedelta(seconds=30)
    claim_timeout: Duration = timedelta(minutes=2)
    sweep: Duration = timedelta(seconds=5)


class Settings(Strict):
    version: Literal[1]
    office: str
    timezone: TimeZone = ZoneInfo("Asia/Shanghai")
    database: str = DEFAULT_DATABASE
    rosters: list[str] = Field(min_length=1)
    levels: list[Level] = Field(default_factory=lambda: list(DEFAULT_LEVELS), min_length=1)
    stations: list[Station] = Field(default_factory=list)
    feeds: list[FeedSettings] = Field(default_factory=list)
    rules: list[ThresholdRule] = Field(default_factory=list)
    escalation: dict[Name, EscalationPolicy]
    notifiers: list[NotifierSettings] = Field(min_length=1)
    escalation_tick: Duration = timedelta(seconds=15)
    delivery: Delivery = Delivery()
    clock: DemoClock | None = None


@dataclass(frozen=True)
class Config:
    """Validated settings plus where they came from."""

    settings: Settings
    path: Path
    doc: yamlsource.Document
    plugin_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path written in the config, relative to the config file."""
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def roster_paths(self) -> list[Path]:
        return [self.resolve(p) for p in self.settings.rosters]

    def level(self, level_id: str) -> Level:
        return next(lv for lv in self.settings.levels if lv.id == level_id)

    def rule(self, rule_id: str) -> ThresholdRule:
        return next(r for r in self.settings.rules if r.id == rule_id)

    def station(self, station_id: str) -> Station:
        return next(s for s in self.settings.stations if s.id == station_id)


class PluginTypes:
    """What config validation needs of the plugin registry: option models by type name."""

    def __init__(self, feeds: Mapping[str, Any], notifiers: Mapping[str, Any]) -> None:
        self.feeds = feeds
        self.notifiers = notifiers


def load_config(
    path: str | Path, plugins: PluginTypes, *, env: Mapping[str, str] | None = None
) -> Config:
    """Load and validate a config file; raise ConfigError listing every problem with its place."""
    path = Path(path)
    doc = yamlsource.load(path, env=env)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), "expected a mapping of settings at the top level")])
    settings = yamlsource.validate(Settings, doc)
    problems = _cross_check(settings, doc)
    options: dict[str, Any] = {}
    sections: tuple[tuple[str, Sequence[PluginSettings], Mapping[str, Any]], ...] = (
        ("feeds", settings.feeds, plugins.feeds),
        ("notifiers", settings.notifiers, plugins.notifiers),
    )
    for kind, entries, types in sections:
        for i, entry in enumerate(entries):
            loc = (kind, i)
            plugin = types.get(entry.type)
            if plugin is None:
                known = ", ".join(sorted(types)) or "none installed"
                problems.append(
                    doc.problem(
                        (*loc, "type"), f"unknown {kind[:-1]} type {entry.type!r} ({known})"
                    )
                )
                continue
            try:
                options[f"{kind}.{entry.name}"] = yamlsource.validate(
                    plugin.Options, doc, loc, entry.options
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return Config(settings=settings, path=path, plugin_options=options, doc=doc)


def _cross_check(s: Settings, doc: yamlsource.Document) -> list[Problem]:
    problems: list[Problem] = []

    def unique(kind: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                key = "name" if kind in ("feeds", "notifiers") else "id"
                problems.append(doc.problem((kind, i, key), f"duplicate {key} {ident!r}"))
            seen.add(ident)

    unique("levels", [lv.id for lv in s.levels])
    unique("stations", [st.id for st in s.stations])
    unique("feeds", [f.name for f in s.feeds])
    unique("rules", [r.id for r in s.rules])
    unique("notifiers", [n.name for n in s.notifiers])
    level_order = [lv.id for lv in s.levels]
    stations = {st.id for st in s.stations}
    notifiers = {n.name for n in s.notifiers}
    for i, rule in enumerate(s.rules):
        if rule.station not in stations:
            problems.append(
                doc.problem(("rules", i, "station"), f"unknown station {rule.station!r}")
            )
        if rule.escalation not in s.escalation:
            problems.append(
                doc.problem(
                    ("rules", i, "escalation"), f"unknown escalation policy {rule.escalation!r}"
                )
            )
        ranks = []
        for j, step in enumerate(rule.levels):
            if step.level not in level_order:
                problems.append(
                    doc.problem(
                        ("rules", i, "levels", j, "level"),
                        f"unknown level {step.level!r} (levels are {', '.join(level_order)})",
                    )
                )
            else:
                ranks.append(level_order.index(step.level))
        if ranks != sorted(set(ranks)):
            problems.append(
                doc.problem(
                    ("rules", i, "levels"),
                    "levels must follow the order of the level list, each once",
                )
            )
    for name, policy in s.escalation.items():
        for j, esc in enumerate(policy.steps):
            for k, channel in enumerate(esc.channels or []):
                if channel not in notifiers:
                    problems.append(
                        doc.problem(
                            ("escalation", name, "steps", j, "channels", k),
                            f"unknown notifier {channel!r}",
                        )
                    )
    return problems
