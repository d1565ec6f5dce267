"""Village YAML files -> validated `Villages`. Any error rejects every file given, whole.

Each village is validated on its own, so one bad village does not hide the problems of the
others; ids are then checked across all files, and references to the rest of the system (roster
people, configured stations, broadcast notifiers) against `Known` where it is given. Every
problem names ``file:line:col: key.path``, like the config and the rosters (`yamlsource`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, model_validator

from floodwatch import yamlsource
from floodwatch.durations import AS_TEXT, parse_duration, positive_at_most
from floodwatch.errors import ConfigError, Problem, did_you_mean
from floodwatch.i18n import Text as Message
from floodwatch.i18n import _
from floodwatch.villages.model import (
    HEAD,
    MONITOR,
    ROLE_ZH,
    WARNER,
    Area,
    Group,
    LevelTrigger,
    Loudspeaker,
    RainTrigger,
    Responsible,
    Village,
    Villages,
)
from floodwatch.yamlsource import AtKey, Invalid

Loc = tuple[str | int, ...]

_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TOPIC = re.compile(r"^[^#+\s]+(/[^#+\s/]+)*$")
MAX_VILLAGE_ID = 32  # a loudspeaker's key, village:speaker, must fit the 64 of a page's person
MAX_SPEAKER_ID = 31
PHONE_CHANNELS = ("broadcast_call", "broadcast_sms")
TOPIC_CHANNELS = ("broadcast_mqtt",)

# how a responsible person's role may be written: in Chinese, or its id
ROLES = {
    **{zh: role for role, zh in ROLE_ZH.items()},
    HEAD: HEAD, MONITOR: MONITOR, WARNER: WARNER,
}  # fmt: skip


def _id(most: int, example: str) -> BeforeValidator:
    def check(value: Any) -> str:
        if isinstance(value, str) and _ID.match(value) and len(value) <= most:
            return value
        raise Invalid(
            _(
                "expected an id of at most {most} letters, digits, '.', '_' or '-' "
                "(e.g. {example}), found {found}",
                most=most,
                example=example,
                found=repr(value),
            )
        )

    return BeforeValidator(check)


def _role(value: Any) -> str:
    if isinstance(value, str) and value in ROLES:
        return ROLES[value]
    hint = did_you_mean(value, ROLES)
    raise Invalid(
        _(
            "expected a village role: 村级责任人 (head), 监测员 (monitor) or 预警员 (warner), "
            "found {found}{hint}",
            found=repr(value),
            hint=hint,
        )
    )


def _text(value: Any) -> str:
    """A geocode's value: YAML reads 130102001001 as a number; it is a code, kept as written."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(_("expected a code such as '130102001001', found {found}", found=repr(value)))
    return str(value)


VillageId = Annotated[str, _id(MAX_VILLAGE_ID, "hekou")]
LocalId = Annotated[str, _id(MAX_SPEAKER_ID, "g1")]
PersonId = Annotated[str, _id(64, "li.ming")]
Role = Annotated[str, PlainValidator(_role)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Wait = Annotated[timedelta, positive_at_most(timedelta(days=1)), AS_TEXT]
Cadence = Annotated[timedelta, positive_at_most(timedelta(days=1)), AS_TEXT]
Code = Annotated[str, BeforeValidator(_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False
    )


class VillagesFile(_Strict):
    """The top level of a village file; each village is validated on its own."""

    version: Literal[1]
    villages: list[Any] = Field(min_length=1)


class GroupEntry(_Strict):
    id: LocalId
    name: Text
    households: int = Field(ge=0, le=100_000)
    residents: int = Field(ge=0, le=1_000_000)
    evacuation: Text | None = None

    @model_validator(mode="after")
    def _someone_per_household(self) -> GroupEntry:
        if self.residents < self.households:
            raise AtKey(
                "residents",
                _(
                    "{residents} residents in {households} households: every household has at "
                    "least one resident (are the two numbers swapped?)",
                    residents=self.residents,
                    households=self.households,
                ),
            )
        return self


class ResponsibleEntry(_Strict):
    person: PersonId
    role: Role
    group: LocalId | None = None


class LoudspeakerEntry(_Strict):
    id: LocalId
    channel: Annotated[str, Field(min_length=1, max_length=64)]
    address: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    group: LocalId | None = None


class LevelEntry(_Strict):
    """The village's own water levels at a station."""

    station: Annotated[str, Field(min_length=1, max_length=64)]
    parameter: Annotated[str, Field(min_length=1, max_length=64)] = "stage"
    unit: Text
    prepare: float | None = None
    move_now: float | None = None

    @model_validator(mode="after")
    def _levels(self) -> LevelEntry:
        if self.prepare is None and self.move_now is None:
            raise AtKey("prepare", _("give the level for prepare, for move_now, or both"))
        if self.prepare is not None and self.move_now is not None:
            if self.move_now <= self.prepare:
                raise AtKey(
                    "move_now",
                    _(
                        "move_now ({move_now}) must be above prepare ({prepare}): the order to "
                        "move comes after the one to prepare",
                        move_now=format(self.move_now, "g"),
                        prepare=format(self.prepare, "g"),
                    ),
                )
        return self


def _windows(table: Mapping[str, float], key: str) -> dict[timedelta, float]:
    out: dict[timedelta, float] = {}
    for window, amount in table.items():
        try:
            length = parse_duration(window, most=timedelta(days=7))
        except ValueError as exc:
            raise AtKey((key, window), yamlsource.message_of(exc)) from None
        if length <= timedelta(0):
            raise AtKey(
                (key, window),
                _("expected a window longer than 0s, found {found}", found=repr(window)),
            )
        if amount <= 0:
            raise AtKey(
                (key, window),
                _("expected an amount above 0, found {found}", found=format(amount, "g")),
            )
        out[length] = amount
    return out


class RainEntry(_Strict):
    """The county's rainfall indicators (雨量预警指标) at a rain gauge: amounts per window."""

    station: Annotated[str, Field(min_length=1, max_length=64)]
    parameter: Annotated[str, Field(min_length=1, max_length=64)] = "rain"
    unit: Text = "mm"
    cadence: Cadence
    prepare: dict[str, float] = Field(default_factory=dict)
    move_now: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tables(self) -> RainEntry:
        if not self.prepare and not self.move_now:
            raise AtKey("prepare", _("give the amounts for prepare, for move_now, or both"))
        prepare = _windows(self.prepare, "prepare")
        _windows(self.move_now, "move_now")
        for window, amount in self.move_now.items():
            length = parse_duration(window)
            if length in prepare and amount <= prepare[length]:
                raise AtKey(
                    ("move_now", window),
                    _(
                        "move_now over {window} ({amount}) must be above prepare ({prepare})",
                        window=window,
                        amount=format(amount, "g"),
                        prepare=format(prepare[length], "g"),
                    ),
                )
        for window in (*self.prepare, *self.move_now):
            if parse_duration(window) < self.cadence:
                raise AtKey(
                    ("prepare" if window in self.prepare else "move_now", window),
                    _("a window of {window} is shorter than the gauge's cadence", window=window),
                )
        return self

    def trigger(self) -> RainTrigger:
        return RainTrigger(
            self.station, self.parameter, self.unit, self.cadence,
            _windows(self.prepare, "prepare"), _windows(self.move_now, "move_now"),
        )  # fmt: skip


class AreaEntry(_Strict):
    """For CAP: a polygon of [latitude, longitude] points, closed (the first point again at
    the end), and geocodes (e.g. the 12-digit administrative division code)."""

    polygon: list[tuple[float, float]] | None = None
    geocodes: dict[Annotated[str, Field(min_length=1)], Code] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _polygon(self) -> AreaEntry:
        points = self.polygon
        if points is None:
            return self
        for j, (lat, lon) in enumerate(points):
            if not -90 <= lat <= 90:
                message = (
                    _("latitude {lat} is not within -90..90 (a point is [latitude, longitude]: "
                      "are the two swapped?)", lat=format(lat, "g"))
                    if -90 <= lon <= 90
                    else _("latitude {lat} is not within -90..90", lat=format(lat, "g"))
                )  # fmt: skip
                raise AtKey(("polygon", j, 0), message)
            if not -180 <= lon <= 180:
                raise AtKey(
                    ("polygon", j, 1),
                    _("longitude {lon} is not within -180..180", lon=format(lon, "g")),
                )
        if len(points) < 4:
            raise AtKey(
                "polygon",
                _(
                    "a polygon needs at least 4 points (3 corners and the first again), found {n}",
                    n=len(points),
                ),
            )
        if points[0] != points[-1]:
            corner = f"[{points[0][0]:g}, {points[0][1]:g}]"
            raise AtKey(
                ("polygon", len(points) - 1),
                _(
                    "a polygon is closed: its last point must repeat the first {point}",
                    point=corner,
                ),
            )
        return self


class VillageEntry(_Strict):
    id: VillageId
    name: Text
    evacuation: Text  # where everyone goes, unless their group names its own place
    wait: Wait = timedelta(minutes=10)  # 叫应: how long responsible persons have to answer
    groups: list[GroupEntry] = Field(min_length=1)
    responsible: list[ResponsibleEntry] = Field(min_length=1)
    loudspeakers: list[LoudspeakerEntry] = Field(default_factory=list)
    stations: list[LevelEntry] = Field(default_factory=list)
    rain: list[RainEntry] = Field(default_factory=list)
    area: AreaEntry | None = None
    language: Literal["zh-CN", "en"] = "zh-CN"  # what its loudspeakers speak


@dataclass(frozen=True)
class Known:
    """What the rest of the configuration defines, for the references a village makes; None:
    not checked (the files' own shape is)."""

    people: Collection[str] | None = None
    stations: Collection[str] | None = None
    # every notifier, name -> plugin type; and the names of those that reach loudspeakers
    # (None: which notifiers broadcast is not known, so a loudspeaker's channel is not checked
    # for it, nor its address for the channel)
    notifiers: Mapping[str, str] | None = None
    broadcast: Collection[str] | None = None


@dataclass
class _File:
    doc: yamlsource.Document
    villages: list[tuple[int, VillageEntry]] = field(default_factory=list)

    def where(self, loc: Loc) -> str:
        return self.doc.line_of(loc)


def load_villages(
    paths: Sequence[str | Path], known: Known | None = None, *,
    env: Mapping[str, str] | None = None,
) -> Villages:  # fmt: skip
    """Load and check village files; raise ConfigError listing every problem with its place."""
    problems: list[Problem] = []
    files: list[_File] = []
    for path in paths:
        try:
            doc = yamlsource.load(path, env=env)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(doc.data, dict):
            problems.append(doc.problem((), _("expected a mapping (version, villages)")))
            continue
        try:
            top = yamlsource.validate(VillagesFile, doc)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        f = _File(doc)
        for i, item in enumerate(top.villages):
            try:
                f.villages.append(
                    (i, yamlsource.validate(VillageEntry, doc, ("villages", i), item))
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
        files.append(f)
    villages = _merge(files, problems, known or Known())
    if problems:
        raise ConfigError(problems)
    return villages


def _merge(files: list[_File], problems: list[Problem], known: Known) -> Villages:
    refs = yamlsource.References()
    out: list[Village] = []
    first_at: dict[str, str] = {}
    for f in files:
        for i, v in f.villages:
            here: Loc = ("villages", i)

            def err(loc: Loc, message: Message, f: _File = f) -> None:
                problems.append(f.doc.problem(loc, message))

            if v.id in first_at:
                err(
                    (*here, "id"),
                    _("duplicate village id {id} (first at {first})", id=repr(v.id),
                      first=first_at[v.id]),
                )  # fmt: skip
                continue
            first_at[v.id] = f.where((*here, "id"))
            if known.stations is not None and v.id in known.stations:
                err(
                    (*here, "id"),
                    _(
                        "{id} is the id of a station: a village needs an id of its own",
                        id=repr(v.id),
                    ),
                )
            groups = _unique(err, here, "groups", [g.id for g in v.groups], _("group"))
            _unique(err, here, "loudspeakers", [s.id for s in v.loudspeakers], _("loudspeaker"))
            seen: dict[tuple[str, str, str | None], int] = {}
            for j, r in enumerate(v.responsible):
                loc = (*here, "responsible", j)
                if (r.person, r.role, r.group) in seen:
                    first = seen[(r.person, r.role, r.group)]
                    err(
                        (*loc, "person"),
                        _(
                            "{person} is listed twice as {role} (first at responsible[{first}])",
                            person=r.person,
                            role=r.role,
                            first=first,
                        ),
                    )
                seen.setdefault((r.person, r.role, r.group), j)
                _group_known(err, (*loc, "group"), r.group, groups)
                if known.people is not None and r.person not in known.people:
                    hint = did_you_mean(r.person, known.people)
                    message = _(
                        "unknown person {person} (not in the people of any roster file){hint}",
                        person=repr(r.person),
                        hint=hint,
                    )
                    refs.unknown("person", r.person, f.doc, (*loc, "person"), message)
            for j, s in enumerate(v.loudspeakers):
                loc = (*here, "loudspeakers", j)
                _group_known(err, (*loc, "group"), s.group, groups)
                _channel(err, refs, f, loc, s, v.id, known)
            placed = [("stations", k, t.station) for k, t in enumerate(v.stations)]
            placed += [("rain", k, t.station) for k, t in enumerate(v.rain)]
            for key, k, station in placed:
                if known.stations is not None and station not in known.stations:
                    hint = did_you_mean(station, known.stations)
                    message = _(
                        "unknown station {station}{hint} (stations are in the config)",
                        station=repr(station),
                        hint=hint,
                    )
                    refs.unknown("station", station, f.doc, (*here, key, k, "station"), message)
            out.append(_village(f, i, v))
    problems.extend(refs.problems())
    return Villages(tuple(out))


def _unique(err: Any, here: Loc, key: str, ids: list[str], what: Message) -> set[str]:
    first: dict[str, int] = {}
    for j, ident in enumerate(ids):
        if ident in first:
            err(
                (*here, key, j, "id"),
                _(
                    "duplicate {what} id {id} (first at {key}[{first}])",
                    what=what,
                    id=repr(ident),
                    key=key,
                    first=first[ident],
                ),
            )
        first.setdefault(ident, j)
    return set(first)


def _group_known(err: Any, loc: Loc, group: str | None, groups: set[str]) -> None:
    if group is not None and group not in groups:
        hint = did_you_mean(group, groups)
        listed: str | Message = ", ".join(sorted(groups)) or _("none")
        err(
            loc,
            _(
                "unknown group {group}{hint} (this village's groups: {groups})",
                group=repr(group),
                hint=hint,
                groups=listed,
            ),
        )


def _channel(
    err: Any, refs: yamlsource.References, f: _File, loc: Loc, s: LoudspeakerEntry, village: str,
    known: Known,
) -> None:  # fmt: skip
    """The loudspeaker's channel is a broadcast notifier, and its address suits the channel."""
    if known.notifiers is None:
        return
    kind = known.notifiers.get(s.channel)
    if kind is None:
        hint = did_you_mean(s.channel, known.broadcast or known.notifiers)
        listed: str | Message = ", ".join(sorted(known.broadcast or known.notifiers)) or _(
            "none configured"
        )
        message = _(
            "unknown notifier {name}{hint} (notifiers: {notifiers})",
            name=repr(s.channel),
            hint=hint,
            notifiers=listed,
        )
        refs.unknown("notifier", s.channel, f.doc, (*loc, "channel"), message)
        return
    if known.broadcast is None:
        return
    if s.channel not in known.broadcast:
        broadcast: str | Message = ", ".join(sorted(known.broadcast)) or _("none configured")
        err(
            (*loc, "channel"),
            _(
                "{name} ({type}) pages people, it does not reach loudspeakers: name a broadcast "
                "notifier ({notifiers})",
                name=repr(s.channel),
                type=kind,
                notifiers=broadcast,
            ),
        )
        return
    if kind in PHONE_CHANNELS:
        if s.address is None or not _E164.match(s.address):
            err(
                (*loc, "address") if s.address is not None else loc,
                _(
                    "a {type} loudspeaker is reached at its phone number in E.164 form "
                    '(e.g. "+8613900000001"), found {found}',
                    type=kind,
                    found=repr(s.address),
                ),
            )
    elif kind in TOPIC_CHANNELS:
        if s.address is not None and not _TOPIC.match(s.address):
            err(
                (*loc, "address"),
                _(
                    "expected a topic below the channel's (e.g. {village} or {village}/g1, "
                    "without '+', '#' or spaces), found {found}",
                    village=village,
                    found=repr(s.address),
                ),
            )
    elif s.address is None:
        err(loc, _("a {type} loudspeaker needs its `address` (its id at the gateway)", type=kind))


def _village(f: _File, i: int, v: VillageEntry) -> Village:
    def speaker_address(s: LoudspeakerEntry) -> str:
        if s.address is not None:
            return s.address
        return f"{v.id}/{s.group}" if s.group else v.id  # a topic below the channel's

    area = v.area or AreaEntry()
    return Village(
        id=v.id, name=v.name, evacuation=v.evacuation, wait=v.wait,
        groups=tuple(Group(g.id, g.name, g.households, g.residents, g.evacuation)
                     for g in v.groups),
        responsible=tuple(Responsible(r.person, r.role, r.group) for r in v.responsible),
        loudspeakers=tuple(
            Loudspeaker(v.id, s.id, s.channel, speaker_address(s), s.group) for s in v.loudspeakers
        ),
        levels=tuple(LevelTrigger(t.station, t.parameter, t.unit, t.prepare, t.move_now)
                     for t in v.stations),
        rain=tuple(t.trigger() for t in v.rain),
        area=Area(tuple(area.polygon or ()), tuple(area.geocodes.items())),
        language=v.language, where=f.where(("villages", i)),
    )  # fmt: skip
