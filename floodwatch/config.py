"""`floodwatch.yaml` -> typed, validated settings.

Every key is declared; unknown keys, wrong types and dangling references are errors that name
``file:line:col: key.path``. A file with one bad entry is rejected whole.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from floodwatch import yamlsource
from floodwatch.durations import (
    AS_TEXT,
    Duration,
    PositiveDuration,
    parse_duration,
    positive_at_most,
)
from floodwatch.errors import ConfigError, Problem, close_matches, did_you_mean, first_few
from floodwatch.i18n import Text, _
from floodwatch.yamlsource import AtKey, Invalid

Loc = tuple[str | int, ...]
DEFAULT_DATABASE = "sqlite:///var/floodwatch.db"
LOOPBACK = ("127.0.0.1", "localhost")  # the hosts web.demo_users may listen on
OFFICIAL_POLICY = "default"  # the escalation policy of alerts raised by official warnings


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str):
        raise Invalid(
            _(
                "expected an IANA time zone name such as 'Asia/Shanghai', found {found}",
                found=repr(value),
            )
        )
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            _("unknown time zone {zone} (expected e.g. 'Asia/Shanghai')", zone=repr(value))
        ) from None


TimeZone = Annotated[ZoneInfo, BeforeValidator(_zone)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Strict(BaseModel):
    # allow_inf_nan: `.nan` or `inf` in any number is refused at its line (a NaN threshold is
    # never crossed; an infinite one silently disables a rule)
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False
    )


class Level(Strict):
    """One alert level; the default ladder is China's four colours (blue IV .. red I)."""

    id: Name
    name_zh: str
    name_en: str
    grade: str
    cap_severity: Literal["Minor", "Moderate", "Severe", "Extreme"]
    aliases: list[str] = Field(default_factory=list)  # other names rules may use for it
    # the escalation policy of alerts at this level (overrides the rule's `escalation`)
    escalation: Name | None = None


# Chinese water-level names (设防/警戒/保证, in hydrological databases FRZ/WRZ/GRZ) and NWS flood
# categories (action/minor/moderate/major) are accepted as names of the four colours.
DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(id="blue", name_zh="蓝色", name_en="Blue", grade="IV", cap_severity="Minor",
          aliases=["设防", "FRZ", "action"]),
    Level(id="yellow", name_zh="黄色", name_en="Yellow", grade="III", cap_severity="Moderate",
          aliases=["警戒", "WRZ", "minor", "flood"]),
    Level(id="orange", name_zh="橙色", name_en="Orange", grade="II", cap_severity="Severe",
          aliases=["moderate"]),
    Level(id="red", name_zh="红色", name_en="Red", grade="I", cap_severity="Extreme",
          aliases=["保证", "GRZ", "major"]),
)  # fmt: skip


class Maintenance(Strict):
    """A time when a station's alerts are evaluated and logged but nobody is paged."""

    start: datetime
    end: datetime
    reason: str

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise Invalid(_("needs a UTC offset, e.g. 2026-07-01T09:00:00+08:00"))
        return value


class Station(Strict):
    id: Name
    name: str
    expect_every: PositiveDuration | None = None  # the feed's cadence: silence is measured by it
    min: float | None = None  # hard limits: a reading outside them is rejected
    max: float | None = None
    max_rate: float | None = Field(default=None, gt=0)  # plausible change per hour (spikes)
    unit: str | None = None  # the unit of min, max and max_rate (default: the reading's)
    maintenance: list[Maintenance] = Field(default_factory=list)


class PluginSettings(BaseModel):
    """A feed or notifier: its name and plugin type; the other keys are the plugin's options."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    name: Name
    type: Name

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class FeedSettings(PluginSettings):
    interval: PositiveDuration = timedelta(minutes=5)


class NotifierSettings(PluginSettings):
    pass


class Step(Strict):
    """One rung of a threshold ladder: the alert reaches `level` when the value is >= `value`."""

    level: str = Field(min_length=1)
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
        for j, (lower, higher) in enumerate(zip(steps, steps[1:], strict=False), start=1):
            if higher.value <= lower.value:
                raise AtKey(
                    (j, "value"),
                    _(
                        "levels must rise: {higher} ({higher_value}) is not above {lower} "
                        "({lower_value})",
                        higher=higher.level,
                        higher_value=format(higher.value, "g"),
                        lower=lower.level,
                        lower_value=format(lower.value, "g"),
                    ),
                )
        return steps


class RainStep(Strict):
    """One level of a rainfall table: reached when any window's sum is >= its amount."""

    level: str = Field(min_length=1)
    over: dict[str, float] = Field(min_length=1)  # window ("1h", "3h", ...) -> amount

    @field_validator("over")
    @classmethod
    def _windows(cls, over: dict[str, float]) -> dict[str, float]:
        for window in over:
            try:
                length = parse_duration(window)
            except ValueError as exc:
                raise AtKey(window, yamlsource.message_of(exc)) from None
            if length <= timedelta(0):
                raise AtKey(
                    window, _("expected a window longer than 0s, found {found}", found=repr(window))
                )
        return over


class RainfallRule(Strict):
    """Rain accumulated over rolling windows; the level is the highest any window reaches."""

    id: Name
    type: Literal["rainfall"]
    station: Name
    parameter: Name = "rain"
    unit: str = "mm"
    cadence: PositiveDuration  # one reading (an amount fallen since the last) every cadence
    levels: list[RainStep] = Field(min_length=1)
    hold: Duration = timedelta(0)
    escalation: Name = "default"


class RiseRule(Strict):
    """Water rising at least `rise` per `per`, over `confirm` consecutive intervals."""

    id: Name
    type: Literal["rate_of_rise"]
    station: Name
    parameter: Name = "stage"
    unit: str
    rise: float = Field(gt=0)
    per: PositiveDuration = timedelta(hours=1)
    confirm: int = Field(default=2, ge=2, le=100)
    level: str = Field(min_length=1)
    hold: Duration = timedelta(hours=1)
    escalation: Name = "default"


class ForecastRule(Strict):
    """Predicted accumulation over the next `hours` against a ladder: an advisory."""

    id: Name
    type: Literal["forecast"]
    station: Name
    parameter: Name = "rain_forecast"
    unit: str = "mm"
    window: PositiveDuration = timedelta(hours=24)
    levels: list[Step] = Field(min_length=1)
    escalation: Name = "default"


def _rule_type(value: Any) -> str | None:
    """A rule's `type`, "threshold" when left out."""
    if isinstance(value, dict):
        kind = value.get("type", "threshold")
        return kind if isinstance(kind, str) else None
    return getattr(value, "type", None)


AnyRule = ThresholdRule | RainfallRule | RiseRule | ForecastRule
RULE_TYPE = _("type must be threshold, rainfall, rate_of_rise or forecast")
Rule = Annotated[
    Annotated[ThresholdRule, Tag("threshold")]
    | Annotated[RainfallRule, Tag("rainfall")]
    | Annotated[RiseRule, Tag("rate_of_rise")]
    | Annotated[ForecastRule, Tag("forecast")],
    Discriminator(
        _rule_type,
        custom_error_type="rule_type",
        custom_error_message=str(RULE_TYPE),
    ),
]


class Silence(Strict):
    """A station with `expect_every` silent for `factor` times that long raises a data alert."""

    factor: float = Field(default=3.0, gt=1, le=100)
    level: str = "blue"
    escalation: Name = "default"


class EscalationStep(Strict):
    """Page the people on duty in `notify` roles and the named `people`, `after` the previous
    step (0 for the first), over `channels` (None: every channel). `ack: any` (the default):
    one answer acknowledges the alert for everyone; `ack: all`: everyone paged in the step must
    answer. `fallback` channels are tried for a person whom every one of `channels` failed."""

    after: Duration = timedelta(0)
    notify: list[Name] = Field(default_factory=list)
    people: list[Name] = Field(default_factory=list)
    channels: list[Name] | None = Field(default=None, min_length=1)
    fallback: list[Name] = Field(default_factory=list)
    ack: Literal["any", "all"] = "any"

    @model_validator(mode="after")
    def _someone(self) -> EscalationStep:
        if not self.notify and not self.people:
            raise AtKey(("notify",), _("a step pages somebody: give `notify` roles or `people`"))
        return self


class EscalationPolicy(Strict):
    steps: list[EscalationStep] = Field(min_length=1)
    repeat_every: PositiveDuration | None = None

    @field_validator("steps")
    @classmethod
    def _first_is_immediate(cls, steps: list[EscalationStep]) -> list[EscalationStep]:
        if steps and steps[0].after != timedelta(0):
            raise AtKey((0, "after"), _("the first step pages at once: leave out its 'after'"))
        return steps


class DemoClock(Strict):
    """Run the service on a fast clock from `start` (used by the offline demo)."""

    start: datetime
    speed: float = Field(gt=0, le=100_000)  # at most a day and more per second
    fresh_start: bool = False  # `run` empties the database first, so the demo can be rerun

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise Invalid(_("start needs a UTC offset, e.g. 2018-05-27T14:30:00-05:00"))
        return value


class Delivery(Strict):
    """How the dispatcher retries and how long a claim on a page lasts."""

    max_attempts: int = Field(default=5, ge=1, le=20)
    # doubled at each retry: at most 1h, so 20 attempts stay within a date's range
    backoff: Annotated[timedelta, positive_at_most(timedelta(hours=1)), AS_TEXT] = timedelta(
        seconds=30
    )
    claim_timeout: PositiveDuration = timedelta(minutes=2)
    sweep: PositiveDuration = timedelta(seconds=5)


class DutySettings(Strict):
    """What the duty office is told besides alerts."""

    # before a shift, to those taking it
    handover_reminder: PositiveDuration | None = timedelta(hours=2)
    coverage_days: int = Field(default=7, ge=1, le=366)  # the coverage monitor looks this far ahead
    coverage_at: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # local, daily
    roster_admins: list[Name] = Field(default_factory=list)  # paged about gaps in the roster
    reload_every: PositiveDuration = timedelta(seconds=30)  # how often roster files are looked at


class Outage(Strict):
    """What floodwatch does while the database cannot be reached."""

    tell_after: PositiveDuration = timedelta(minutes=2)  # then the officers on duty are told
    retry: PositiveDuration = timedelta(seconds=1)  # first retry of a poll that could not store


class Heartbeat(Strict):
    """A dead-man ping to an outside monitor (healthchecks.io style) while floodwatch is well;
    `<url>/fail` when it is not. Nothing arriving tells the monitor floodwatch is dead."""

    url: str = Field(pattern=r"^https?://")
    every: PositiveDuration = timedelta(minutes=5)
    method: Literal["GET", "POST"] = "GET"
    timeout: PositiveDuration = timedelta(seconds=10)


class Web(Strict):
    """The web app `floodwatch run` serves: Twilio's callbacks, the acknowledgement API (and
    the duty console). `public_url` is the address the outside world uses for it (Twilio signs
    its requests against it)."""

    listen: str = Field(default="127.0.0.1:8080", pattern=r"^[^:\s]+:\d{1,5}$")
    public_url: str = Field(pattern=r"^https?://[^\s]+$")
    # THE DEMO ONLY: console passwords written here in the clear (person id -> password), given
    # at `floodwatch run` to those without one. Refused unless `clock:` runs the demo clock and
    # `listen` is a loopback address, so a real deployment cannot carry them.
    demo_users: dict[Name, Annotated[str, Field(min_length=8, max_length=256)]] = Field(
        default_factory=dict
    )


class Leader(Strict):
    """Several nodes on one PostgreSQL: one holds the leader lease and runs what must happen
    once; the others try to take it over every `check_every`."""

    check_every: PositiveDuration = timedelta(seconds=5)


_HH_MM = r"^([01]\d|2[0-3]):[0-5]\d$"


class Records(Strict):
    """The duty office's records (floodwatch.records): hazards to rectify, handover records."""

    # a hazard's owner is paged this long before its deadline (the end of its due day)
    hazard_reminder: PositiveDuration = timedelta(days=1)
    # the escalation policy that reminds and escalates an unconfirmed handover record (None:
    # `default`, or the first policy when there is no `default`)
    handover_escalation: Name | None = None


class Report(Strict):
    """The daily duty report (值班日报): what a day is, where it is kept, and to whom it is sent
    at `at` each day (the previous day's)."""

    at: str | None = Field(default=None, pattern=_HH_MM)  # local; None: not sent
    to: list[Name] = Field(default_factory=list)  # person ids
    format: Literal["md", "html", "pdf"] = "md"
    dir: str = "var/reports"  # where sent reports are saved, relative to this file
    day_starts: str = Field(default="00:00", pattern=_HH_MM)  # "08:00": a day is 8时至次日8时
    font: str | None = None  # a font file with Chinese characters; None: one installed is found

    @model_validator(mode="after")
    def _recipients(self) -> Report:
        if self.at is not None and not self.to:
            raise AtKey(("to",), _("`at` sends the report to people: list their ids in `to`"))
        return self


class Evacuation(Strict):
    """Village warnings (准备转移 / 立即转移, floodwatch.villages): the alert level each warning
    has (its pages' colour, its CAP severity), who the township leader on duty is, how often
    that leader is reminded while a warning stands, and the channels responsible persons are
    paged on for 叫应."""

    prepare_level: Name = "orange"
    move_now_level: Name = "red"
    leader: Name = "leader"  # the roster role of the township leader on duty
    remind_every: PositiveDuration = timedelta(minutes=30)
    channels: list[Name] | None = Field(default=None, min_length=1)  # None: every paging channel
    fallback: list[Name] = Field(default_factory=list)


class Cap(Strict):
    """CAP 1.2 messages for alerts and village warnings (floodwatch.cap): who sends them and
    what every message carries."""

    # CAP: an address-like id without spaces, commas, '<' or '&' (e.g. fxb@qingxi.example.cn)
    sender: str = Field(min_length=1, max_length=200, pattern=r"^[^\s,<&]+$")
    sender_name: str | None = Field(default=None, min_length=1)  # None: the office's name
    languages: list[Literal["zh-CN", "en"]] = Field(default=["zh-CN"], min_length=1)
    web: str | None = Field(default=None, pattern=r"^https?://\S+$")
    contact: str | None = Field(default=None, min_length=1)
    expires: PositiveDuration | None = None  # each message's info expires this long after it


class Settings(Strict):
    version: Literal[1]
    office: str
    timezone: TimeZone = ZoneInfo("Asia/Shanghai")
    database: str = DEFAULT_DATABASE
    rosters: list[str] = Field(min_length=1)
    levels: list[Level] = Field(default_factory=lambda: list(DEFAULT_LEVELS), min_length=1)
    stations: list[Station] = Field(default_factory=list)
    feeds: list[FeedSettings] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    silence: Silence = Silence()
    duty: DutySettings = DutySettings()
    records: Records = Records()
    report: Report = Report()
    escalation: dict[Name, EscalationPolicy]
    notifiers: list[NotifierSettings] = Field(min_length=1)
    escalation_tick: PositiveDuration = timedelta(seconds=15)
    delivery: Delivery = Delivery()
    outage: Outage = Outage()
    heartbeat: Heartbeat | None = None
    web: Web | None = None
    leader: Leader = Leader()
    clock: DemoClock | None = None
    villages: list[str] = Field(default_factory=list)  # village files (floodwatch.villages)
    evacuation: Evacuation = Evacuation()
    cap: Cap | None = None

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            raise Invalid(
                _(
                    "not a database URL: {url} (expected e.g. sqlite:///var/floodwatch.db or "
                    "postgresql+psycopg://user@host/floodwatch)",
                    url=repr(value),
                )
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise Invalid(
                _("floodwatch runs on sqlite or postgresql, not {backend}", backend=repr(backend))
            )
        return value


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

    def database_url(self) -> URL:
        """`database`, with a relative SQLite path resolved against the config file's folder
        (like every path in the file), so commands run from any directory find the same one."""
        url = make_url(self.settings.database)  # checked when the settings were loaded
        path = url.database
        if url.get_backend_name() == "sqlite" and path and path != ":memory:":
            if not path.startswith("file:") and not Path(path).is_absolute():
                url = url.set(database=os.path.normpath(self.resolve(path)))
        return url

    @property
    def roster_paths(self) -> list[Path]:
        return [self.resolve(p) for p in self.settings.rosters]

    @property
    def village_paths(self) -> list[Path]:
        return [self.resolve(p) for p in self.settings.villages]

    def level(self, level_id: str) -> Level:
        return next(lv for lv in self.settings.levels if lv.id == level_id)

    def rule(self, rule_id: str) -> AnyRule:
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
    doc = yamlsource.load(path, env=env, limits=yamlsource.CONFIG)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), _("expected a mapping of settings at the top level"))])
    try:
        settings = yamlsource.validate(Settings, doc, custom_errors={"rule_type": RULE_TYPE})
    except ConfigError as exc:
        raise ConfigError(_one_per_misplaced_run(doc, exc.problems)) from None
    problems: list[Problem] = []
    official: list[tuple[Loc, str]] = []
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
                known: str | Text = ", ".join(sorted(types)) or _("none installed")
                hint = did_you_mean(entry.type, types)
                unknown = (
                    _("unknown feed type {type}{hint} ({known})", type=repr(entry.type),
                      hint=hint, known=known)
                    if kind == "feeds"
                    else _("unknown notifier type {type}{hint} ({known})", type=repr(entry.type),
                           hint=hint, known=known)
                )  # fmt: skip
                problems.append(doc.problem((*loc, "type"), unknown))
                continue
            common = type(entry).model_fields
            try:
                options[f"{kind}.{entry.name}"] = yamlsource.validate(
                    plugin.Options, doc, loc, entry.options, also_allowed=common
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
            if hasattr(plugin, "fetch_warnings"):
                official.append((loc, entry.type))
    problems.extend(_cross_check(settings, doc, official))
    if problems:
        raise ConfigError(problems)
    return Config(settings=settings, path=path, plugin_options=options, doc=doc)


def _fields(*models: type[BaseModel]) -> tuple[set[str], set[str]]:
    """The keys `models` allow, and those every one of them requires."""
    keys = {f.alias or n for m in models for n, f in m.model_fields.items()}
    required = set.intersection(
        *({f.alias or n for n, f in m.model_fields.items() if f.is_required()} for m in models)
    )
    return keys, required


# the lists at the top of a config: what an entry of each is called, and its keys
_LISTS: dict[str, tuple[Text, tuple[set[str], set[str]]]] = {
    "levels": (_("a level"), _fields(Level)),
    "stations": (_("a station"), _fields(Station)),
    "feeds": (_("a feed"), _fields(FeedSettings)),
    "rules": (_("a rule"), _fields(ThresholdRule, RainfallRule, RiseRule, ForecastRule)),
    "notifiers": (_("a notifier"), _fields(NotifierSettings)),
}


def _misplaced(entry: Any, section: str) -> str | None:
    """The other list whose entries `entry` looks like (more of its keys, and all it requires):
    the heading of that list was deleted, so its entries continue the list above."""
    if not isinstance(entry, dict):
        return None
    keys = {k for k in entry if isinstance(k, str)}
    own = len(keys & _LISTS[section][1][0])
    for other, (_what, (theirs, required)) in _LISTS.items():
        if other != section and required <= keys and len(keys & theirs) > own:
            return other
    return None


def _one_per_misplaced_run(doc: yamlsource.Document, problems: list[Problem]) -> list[Problem]:
    """The problems of entries under the wrong heading replaced by one per run of them."""
    out = problems
    for section in _LISTS:
        entries = doc.data.get(section) if isinstance(doc.data, dict) else None
        if not isinstance(entries, list):
            continue
        runs: list[tuple[int, int, str]] = []  # first, last, the list they belong to
        for i, entry in enumerate(entries):
            other = _misplaced(entry, section)
            if other and runs and runs[-1][1] == i - 1 and runs[-1][2] == other:
                runs[-1] = (runs[-1][0], i, other)
            elif other:
                runs.append((i, i, other))
        for first, last, other in runs:
            inside = {yamlsource.dotted((section, i)) for i in range(first, last + 1)}
            mine = [p for p in out if p.path.split(".")[0] in inside]
            if not mine:  # valid where it stands: not a lost heading after all
                continue
            message = yamlsource.misplaced(
                last - first + 1, _LISTS[other][0], _LISTS[section][0], other
            )
            out = [p for p in out if p not in mine] + [doc.problem((section, first), message)]
    return out


def level_ids(levels: Sequence[Level]) -> dict[str, str]:
    """Every name a rule may use for a level (its id and aliases) -> the level's id."""
    out: dict[str, str] = {}
    for lv in levels:
        out[lv.id] = lv.id
        for alias in lv.aliases:
            out.setdefault(alias, lv.id)
    return out


# what _References calls the kinds of names it checks, in messages
_KINDS = {
    "level": _("level"), "station": _("station"), "escalation policy": _("escalation policy"),
    "notifier": _("notifier"),
}  # fmt: skip


class _References:
    """Names used in one place and defined in another. A name that is not defined is one
    mistake however often it is used (a misspelt policy is used by every rule): it is reported
    once, where it is first written, with the other uses and a "did you mean". A name used only
    by default (a rule without `escalation` uses "default") is reported at the definition it
    looks like, if nothing uses that one: there the misspelling is."""

    def __init__(self, doc: yamlsource.Document) -> None:
        self.doc = doc
        self.unknown: dict[tuple[str, str], list[tuple[Loc, Text]]] = {}
        self.used: set[tuple[str, str]] = set()
        self.defined: dict[str, Mapping[str, Loc]] = {}

    def known(
        self, kind: str, name: str, loc: Loc, defined: Mapping[str, Loc] | Collection[str],
        message: Text | None = None,
    ) -> bool:  # fmt: skip
        """Whether `name` is in `defined` (the names, or a mapping of each to where it is
        defined); if not, the use at `loc` is noted under (kind, name)."""
        if isinstance(defined, Mapping):
            self.defined[kind] = defined
        if name in defined:
            self.used.add((kind, name))
            return True
        if message is None:
            message = _(
                "unknown {kind} {name}{hint}",
                kind=_KINDS[kind],
                name=repr(name),
                hint=did_you_mean(name, defined),
            )
        self.unknown.setdefault((kind, name), []).append((loc, message))
        return False

    def problems(self) -> list[Problem]:
        out = []
        for (kind, name), uses in self.unknown.items():
            written = [use for use in uses if use[0] in self.doc.marks]
            loc, message = (written or uses)[0]
            places = [yamlsource.dotted(other) for other, _ in uses]
            unused = [
                (other, where)
                for other, where in self.defined.get(kind, {}).items()
                if (kind, other) not in self.used and other in close_matches(name, [other])
            ]
            if not written and len(unused) == 1:
                other, where = unused[0]
                message = _(
                    "{kind} {other} is used by nothing, and {name}, used by {places}, is not "
                    "defined: did you mean {name}?",
                    kind=_KINDS[kind],
                    other=repr(other),
                    name=repr(name),
                    places=first_few(places),
                )
                out.append(self.doc.problem(where, message))
                continue
            others = [p for p in places if p != yamlsource.dotted(loc)]
            if others:
                message = _(
                    "{message} (also used by {places})", message=message, places=first_few(others)
                )
            out.append(self.doc.problem(loc, message))
        return out


def _cross_check(
    s: Settings, doc: yamlsource.Document, official_feeds: Sequence[tuple[Loc, str]] = ()
) -> list[Problem]:
    """References between sections; `official_feeds` (place and type) follow OFFICIAL_POLICY."""
    problems: list[Problem] = []
    refs = _References(doc)

    def unique(kind: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                if kind in ("feeds", "notifiers"):
                    problems.append(
                        doc.problem((kind, i, "name"), _("duplicate name {name}", name=repr(ident)))
                    )
                else:
                    problems.append(
                        doc.problem((kind, i, "id"), _("duplicate id {id}", id=repr(ident)))
                    )
            seen.add(ident)

    unique("levels", [lv.id for lv in s.levels])
    unique("stations", [st.id for st in s.stations])
    unique("feeds", [f.name for f in s.feeds])
    unique("rules", [r.id for r in s.rules])
    unique("notifiers", [n.name for n in s.notifiers])
    level_order = [lv.id for lv in s.levels]
    ids = level_ids(s.levels)
    aliases = [a for lv in s.levels for a in lv.aliases]
    listed, listed_aliases = ", ".join(level_order), ", ".join(aliases)

    levels: dict[str, Loc] = {}
    for i, lv in enumerate(s.levels):
        levels.setdefault(lv.id, ("levels", i, "id"))
        for j, alias in enumerate(lv.aliases):
            levels.setdefault(alias, ("levels", i, "aliases", j))

    def level_known(loc: Loc, name: str) -> bool:
        hint = did_you_mean(name, ids)
        message = (
            _("unknown level {name}{hint} (levels are {levels}; aliases {aliases})",
              name=repr(name), hint=hint, levels=listed, aliases=listed_aliases)
            if aliases
            else _("unknown level {name}{hint} (levels are {levels})", name=repr(name), hint=hint,
                   levels=listed)
        )  # fmt: skip
        return refs.known("level", name, loc, levels, message)

    stations = {st.id for st in s.stations}
    notifiers = {n.name for n in s.notifiers}
    policies: dict[str, Loc] = {name: ("escalation", name) for name in s.escalation}
    for i, rule in enumerate(s.rules):
        refs.known("station", rule.station, ("rules", i, "station"), stations)
        refs.known("escalation policy", rule.escalation, ("rules", i, "escalation"), policies)
        named: list[tuple[Loc, str]] = []
        if isinstance(rule, RiseRule):
            named.append((("rules", i, "level"), rule.level))
        else:
            steps: Sequence[Step | RainStep] = rule.levels
            named.extend(
                (("rules", i, "levels", j, "level"), st.level) for j, st in enumerate(steps)
            )
        ranks = [level_order.index(ids[name]) for loc, name in named if level_known(loc, name)]
        if not isinstance(rule, RiseRule) and ranks != sorted(set(ranks)):
            problems.append(
                doc.problem(
                    ("rules", i, "levels"),
                    _("levels must follow the order of the level list, each once"),
                )
            )
    level_known(("silence", "level"), s.silence.level)
    refs.known("escalation policy", s.silence.escalation, ("silence", "escalation"), policies)
    for loc, kind in official_feeds:
        hint = did_you_mean(OFFICIAL_POLICY, s.escalation)
        message = _(
            "a {type} feed brings official warnings, which follow the escalation policy "
            "{policy}: add it under 'escalation'{hint}",
            type=kind,
            policy=repr(OFFICIAL_POLICY),
            hint=hint,
        )
        refs.known("escalation policy", OFFICIAL_POLICY, (*loc, "type"), policies, message)
    for i, st in enumerate(s.stations):
        if st.min is not None and st.max is not None and st.min >= st.max:
            problems.append(
                doc.problem(
                    ("stations", i, "max"),
                    _(
                        "max {max} is not above min {min}",
                        max=format(st.max, "g"),
                        min=format(st.min, "g"),
                    ),
                )
            )
        for j, window in enumerate(st.maintenance):
            if window.end <= window.start:
                problems.append(
                    doc.problem(
                        ("stations", i, "maintenance", j, "end"), _("end is not after start")
                    )
                )
    for name, policy in s.escalation.items():
        for j, esc in enumerate(policy.steps):
            for key in ("channels", "fallback"):
                for k, channel in enumerate(getattr(esc, key) or []):
                    loc = ("escalation", name, "steps", j, key, k)
                    refs.known("notifier", channel, loc, notifiers)
    if s.web is not None and s.web.demo_users:
        host = s.web.listen.rpartition(":")[0]
        if s.clock is None or host not in LOOPBACK:
            problems.append(
                doc.problem(
                    ("web", "demo_users"),
                    _(
                        "demo users (passwords written in this file) are for the demo only: they "
                        "need the demo clock (`clock:`) and `listen` on a loopback address "
                        "({hosts}); give people passwords with "
                        "`floodwatch user set-password PERSON` instead",
                        hosts=", ".join(LOOPBACK),
                    ),
                )
            )
    for i, level in enumerate(s.levels):
        if level.escalation is not None:
            loc = ("levels", i, "escalation")
            refs.known("escalation policy", level.escalation, loc, policies)
    return problems + refs.problems()
