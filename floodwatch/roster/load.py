"""Roster YAML files -> a validated Roster. Any error rejects every file given, whole.

Each entry (person, role, rotation, ...) is validated on its own, so one bad entry does not hide
the problems of the others; cross-references are checked across all files once every entry has
its shape. Every problem names ``file:line:col: key.path``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from floodwatch import yamlsource
from floodwatch.config import TimeZone
from floodwatch.durations import format_duration, parse_duration
from floodwatch.errors import ConfigError, Problem, close_matches, did_you_mean
from floodwatch.i18n import Text as Message
from floodwatch.i18n import _
from floodwatch.roster.model import (
    Assignment,
    Override,
    Person,
    Role,
    Roster,
    Rotation,
    Season,
    Span,
    Swap,
)
from floodwatch.yamlsource import AtKey, Invalid

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MONTH_DAY = re.compile(r"^(\d\d)-(\d\d)$")
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
_WHEN = re.compile(r"^\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d)?)?(Z|[+-]\d\d:?\d\d)?$")
SHIFT_HOURS = (4, 6, 8, 12, 24)
LANGUAGES = ("zh-CN", "en")
MAX_SHIFT_DAYS = 28


def _id(value: Any) -> str:
    if isinstance(value, str) and _ID.match(value):
        return value
    raise Invalid(
        _(
            "expected an id of letters, digits, '.', '_' or '-' (e.g. li.ming), found {found}",
            found=repr(value),
        )
    )


def _phone(value: Any) -> str:
    if isinstance(value, str) and _E164.match(value):
        return value
    raise Invalid(
        _(
            'expected a phone number in E.164 form: "+", country code and number, no spaces '
            '(e.g. "+8613800000001"), found {found}',
            found=repr(value),
        )
    )


def _email(value: Any) -> str:
    if isinstance(value, str) and _EMAIL.match(value):
        return value
    raise Invalid(
        _(
            "expected an e-mail address such as li.ming@example.org, found {found}",
            found=repr(value),
        )
    )


def _language(value: Any) -> str:
    if value in LANGUAGES:
        return str(value)
    raise Invalid(
        _(
            "expected one of {choices}, found {found}",
            choices=", ".join(LANGUAGES),
            found=repr(value),
        )
    )


def _chat_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise Invalid(
        _("expected this person's id on the chat service, found {found}", found=repr(value))
    )


def _handover(value: Any) -> time:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 8:00 as a sexagesimal integer (480)
        return time(value // 60, value % 60)
    if isinstance(value, str) and (m := _HHMM.match(value)):
        return time(int(m.group(1)), int(m.group(2)))
    raise Invalid(
        _('expected a local time as "HH:MM" (e.g. "08:00"), found {found}', found=repr(value))
    )


def _shift_length(value: Any) -> timedelta:
    if value == "weekly":
        return timedelta(days=7)
    try:
        length = parse_duration(value)
    except ValueError:
        length = timedelta(0)
    hours = length / timedelta(hours=1)
    if hours in SHIFT_HOURS or (
        length.days and length == timedelta(days=length.days) and length.days <= MAX_SHIFT_DAYS
    ):
        return length
    raise Invalid(
        _(
            "expected 24h (the default), 12h, 8h, 6h, 4h, a number of days such as 2d, "
            'or "weekly", found {found}',
            found=repr(value),
        )
    )


def _date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid(_("expected a date such as 2026-06-01, found {found}", found=repr(value)))


def _when(value: Any) -> date:
    """A date, or a date and time (local to the roster unless it carries an offset)."""
    if isinstance(value, date):  # datetimes too
        return value
    if isinstance(value, str) and _WHEN.match(value.strip()):
        text = value.strip()
        try:
            return date.fromisoformat(text) if _DATE.match(text) else datetime.fromisoformat(text)
        except ValueError:
            pass
    raise Invalid(
        _(
            'expected a date (2026-06-10) or a local date and time ("2026-06-10 08:00"), '
            "found {found}",
            found=repr(value),
        )
    )


def _season_day(value: Any) -> date | tuple[int, int]:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if m := _MONTH_DAY.match(value):
            month, day = int(m.group(1)), int(m.group(2))
            try:
                date(2000, month, day)  # a leap year, so 02-29 is allowed
                return (month, day)
            except ValueError:
                pass
        elif _DATE.match(value):
            return _date(value)
    raise Invalid(
        _(
            'expected a month and day such as "05-01" (every year) or a date such as '
            "2026-05-01, found {found}",
            found=repr(value),
        )
    )


Id = Annotated[str, BeforeValidator(_id)]
Phone = Annotated[str, BeforeValidator(_phone)]
Email = Annotated[str, BeforeValidator(_email)]
ChatId = Annotated[str, BeforeValidator(_chat_id)]
Language = Annotated[str, PlainValidator(_language)]
Handover = Annotated[time, PlainValidator(_handover)]
ShiftLength = Annotated[timedelta, PlainValidator(_shift_length)]
Day = Annotated[date, PlainValidator(_date)]
When = Annotated[date, PlainValidator(_when)]
SeasonDay = Annotated[date | tuple[int, int], PlainValidator(_season_day)]
Text = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False
    )


class RosterFile(_Strict):
    """The top level of a roster file; each list entry is validated on its own."""

    version: Literal[1]
    timezone: TimeZone | None = None
    roles: list[Any] = Field(default_factory=list)
    people: list[Any] = Field(default_factory=list)
    rotations: list[Any] = Field(default_factory=list)
    seasons: list[Any] = Field(default_factory=list)
    unavailable: list[Any] = Field(default_factory=list)
    swaps: list[Any] = Field(default_factory=list)
    overrides: list[Any] = Field(default_factory=list)


class PersonEntry(_Strict):
    id: Id
    name: Text
    language: Language = "zh-CN"
    phone: Phone | None = None
    phones: list[Phone] | None = None
    email: Email | None = None
    chat: dict[Id, ChatId] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_way_to_give_phones(self) -> PersonEntry:
        if self.phone is not None and self.phones is not None:
            raise AtKey("phones", _("give phone (one number) or phones (a list), not both"))
        return self


class RoleEntry(_Strict):
    id: Id
    name: Text | None = None
    description: str = ""


class RotationEntry(_Strict):
    role: Id
    members: list[Id]
    per_shift: int = Field(default=1, ge=1)
    shift: ShiftLength = timedelta(days=1)
    handover: Handover = time(8, 0)
    anchor: Day
    timezone: TimeZone | None = None

    @field_validator("members")
    @classmethod
    def _members(cls, members: list[str]) -> list[str]:
        if not members:
            raise Invalid(_("a rotation needs at least one member, found none"))
        first: dict[str, int] = {}
        for j, member in enumerate(members):
            if member in first:
                raise AtKey(
                    j,
                    _(
                        "{member} is listed twice (first at members[{first}])",
                        member=member,
                        first=first[member],
                    ),
                )
            first[member] = j
        return members


class SeasonEntry(_Strict):
    name: Text
    from_: SeasonDay = Field(alias="from")
    to: SeasonDay
    staffing: dict[Id, Annotated[int, Field(ge=0)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _range(self) -> SeasonEntry:
        if isinstance(self.from_, tuple) != isinstance(self.to, tuple):
            raise AtKey(
                "to",
                _('give from and to both as month-day ("05-01", every year) or both as dates'),
            )
        if isinstance(self.from_, date) and isinstance(self.to, date) and self.to < self.from_:
            raise AtKey(
                "to",
                _("to ({to}) is before from ({start})", to=str(self.to), start=str(self.from_)),
            )
        return self


class UnavailableEntry(_Strict):
    person: Id
    from_: When = Field(alias="from")
    to: When
    reason: Text


class SwapSide(_Strict):
    person: Id
    shift: When


class SwapEntry(_Strict):
    role: Id
    first: SwapSide
    second: SwapSide
    reason: Text


class OverrideEntry(_Strict):
    role: Id
    from_: When = Field(alias="from")
    to: When
    replace: Id | None = None
    with_: Id | None = Field(default=None, alias="with")
    add: Id | None = None
    remove: Id | None = None
    reason: Text

    @model_validator(mode="after")
    def _one_change(self) -> OverrideEntry:
        actions = [a for a in ("replace", "add", "remove") if getattr(self, a) is not None]
        if not actions and self.with_ is None:
            raise Invalid(_("say what changes: replace (with with), add or remove"))
        if len(actions) > 1:
            raise AtKey(
                actions[1],
                _(
                    "one change per override, found {changes}: write one override for each change",
                    changes=yamlsource.both(actions),
                ),
            )
        if self.replace is not None and self.with_ is None:
            raise AtKey("replace", _("replace needs with: the person who takes the place"))
        if self.with_ is not None and self.replace is None:
            raise AtKey("with", _("with needs replace: the person whose place is taken"))
        if self.replace is not None and self.replace == self.with_:
            raise AtKey("with", _("replace and with name the same person"))
        return self


@dataclass
class _File:
    doc: yamlsource.Document
    top: RosterFile
    zone: ZoneInfo
    people: list[tuple[int, PersonEntry]] = field(default_factory=list)
    roles: list[tuple[int, RoleEntry]] = field(default_factory=list)
    rotations: list[tuple[int, RotationEntry]] = field(default_factory=list)
    seasons: list[tuple[int, SeasonEntry]] = field(default_factory=list)
    unavailable: list[tuple[int, UnavailableEntry]] = field(default_factory=list)
    swaps: list[tuple[int, SwapEntry]] = field(default_factory=list)
    overrides: list[tuple[int, OverrideEntry]] = field(default_factory=list)

    def where(self, loc: tuple[str | int, ...]) -> str:
        return self.doc.line_of(loc)


@dataclass
class _Known:
    """Ids seen anywhere, valid or not, so one bad entry does not cause a cascade of errors."""

    people: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    rotation_roles: set[str] = field(default_factory=set)
    roles_declared: bool = False
    # roles whose rotation or a season is invalid: who is on which shift cannot be worked out
    # for them, so swaps are not checked against it (any role, when the role is not known)
    shaky_roles: set[str] = field(default_factory=set)
    all_shaky: bool = False


def load_rosters(
    paths: Sequence[str | Path], default_zone: ZoneInfo, *, env: Mapping[str, str] | None = None
) -> Roster:
    """Load and merge roster files; ids must be unique across all of them.

    Raises ConfigError listing every problem found, each with its file, line and column.
    """
    problems: list[Problem] = []
    known = _Known()
    files: list[_File] = []
    for path in paths:
        try:
            doc = yamlsource.load(path, env=env)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(doc.data, dict):
            problems.append(
                doc.problem((), _("expected a mapping (version, people, roles, rotations, ...)"))
            )
            continue
        try:
            top = yamlsource.validate(RosterFile, doc)
        except ConfigError as exc:
            problems.extend(exc.problems)
            _note_ids(doc.data, known)  # so other files' references to them are not errors too
            continue
        f = _File(doc, top, top.timezone or default_zone)
        known.roles_declared |= "roles" in doc.data
        _entries(f, problems, known)
        files.append(f)
    if not files and not problems:
        raise ConfigError([Problem("", 1, 1, "rosters", _("no roster files given"))])
    roster = _merge(files, problems, known, default_zone)
    if problems or roster is None:
        raise ConfigError(problems)
    return roster


_SECTIONS: dict[str, tuple[type[BaseModel], Message]] = {
    "people": (PersonEntry, _("a person")),
    "roles": (RoleEntry, _("a role")),
    "rotations": (RotationEntry, _("a rotation")),
    "seasons": (SeasonEntry, _("a season")),
    "unavailable": (UnavailableEntry, _("an unavailability")),
    "swaps": (SwapEntry, _("a swap")),
    "overrides": (OverrideEntry, _("an override")),
}
_ID_KEYS = {
    "people": ("id", "people"),
    "roles": ("id", "roles"),
    "rotations": ("role", "rotation_roles"),
}


def _keys(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def _raw_id(item: dict[Any, Any], section: str) -> str | None:
    """The id an entry defines, from its raw data: also under a misspelt key (``rle: leader``)."""
    key = _ID_KEYS[section][0]
    value = item.get(key)
    if isinstance(value, str):
        return value
    allowed = _keys(_SECTIONS[section][0])
    for k, v in item.items():
        if isinstance(k, str) and k not in allowed and close_matches(k, [key]):
            return v if isinstance(v, str) else None
    return None


def _note_id(item: Any, section: str, known: _Known) -> None:
    if section in _ID_KEYS and isinstance(item, dict):
        ident = _raw_id(item, section)
        if ident is not None:
            getattr(known, _ID_KEYS[section][1]).add(ident)


def _note_ids(data: dict[Any, Any], known: _Known) -> None:
    """The ids a file defines, read from its raw data (for a file whose top level is invalid)."""
    known.roles_declared |= "roles" in data
    known.all_shaky = True
    for section in _ID_KEYS:
        items = data.get(section)
        for item in items if isinstance(items, list) else []:
            _note_id(item, section, known)


def _misplaced(item: Any, section: str) -> str | None:
    """The other section whose entries have the keys `item` has, if not those of `section`
    (its own heading line was deleted, so it continues the list above)."""
    if not isinstance(item, dict):
        return None
    keys = {k for k in item if isinstance(k, str)}
    own = _keys(_SECTIONS[section][0])
    if keys <= own:
        return None
    for other, (model, _what) in _SECTIONS.items():
        theirs = _keys(model)
        if other != section and keys <= theirs and keys & (theirs - own):
            return other
    return None


def _entries(f: _File, problems: list[Problem], known: _Known) -> None:
    """Validate each entry of each section, keeping the good ones and the ids of all."""
    for name, (model, _what) in _SECTIONS.items():
        items = getattr(f.top, name)
        out: list[Any] = getattr(f, name)
        run: tuple[int, str] | None = None  # first of consecutive misplaced entries, their kind
        for i, item in enumerate([*items, None]):
            other = _misplaced(item, name) if i < len(items) else None
            if run is not None and other != run[1]:
                problems.append(_misplaced_problem(f, name, run, i))
                run = None
            if i == len(items):
                break
            if other is not None:
                # one mistake (a heading line lost), one problem; its entries' ids are known
                run = run or (i, other)
                _note_id(item, other, known)
                _note_shaky(item, other, known)
                continue
            _note_id(item, name, known)
            try:
                out.append((i, yamlsource.validate(model, f.doc, (name, i), item)))
            except ConfigError as exc:
                problems.extend(exc.problems)
                _note_shaky(item, name, known)


def _misplaced_problem(f: _File, section: str, run: tuple[int, str], end: int) -> Problem:
    first, other = run
    return f.doc.problem(
        (section, first),
        yamlsource.misplaced(end - first, _SECTIONS[other][1], _SECTIONS[section][1], other),
    )


def _note_shaky(item: Any, section: str, known: _Known) -> None:
    """An invalid rotation or season: who is on duty for its roles cannot be worked out."""
    if section == "rotations" and isinstance(item, dict) and (role := _raw_id(item, section)):
        known.shaky_roles.add(role)
    elif section == "rotations":
        known.all_shaky = True
    elif section == "seasons":
        staffing = item.get("staffing") if isinstance(item, dict) else None
        if isinstance(staffing, dict) and staffing:
            known.shaky_roles.update(str(role) for role in staffing)
        else:
            known.all_shaky = True


def _merge(
    files: list[_File], problems: list[Problem], known: _Known, default_zone: ZoneInfo
) -> Roster | None:
    merger = _Merger(files, problems, known)
    merger.people_and_roles()
    merger.rotations()
    merger.seasons()
    merger.unavailability()
    merger.swaps()
    zone = files[0].top.timezone if files and files[0].top.timezone else default_zone
    # who is on duty can only be worked out from valid rotations; the other checks run anyway
    merger.overrides(None if problems or merger.unknown else merger.roster(zone))
    problems.extend(merger.unknown.problems())
    return None if problems else merger.roster(zone)


class _Merger:
    """Cross-checks across all files, section by section; each problem is added to `problems`."""

    def __init__(self, files: list[_File], problems: list[Problem], known: _Known) -> None:
        self.files, self.problems, self.known = files, problems, known
        self.people: dict[str, Person] = {}
        self.roles: dict[str, Role] = {}
        self.entries: dict[str, tuple[_File, int, RotationEntry]] = {}
        self.rotations_by_role: dict[str, Rotation] = {}
        self.season_list: list[Season] = []
        self.spans: dict[str, list[Span]] = {}
        self.swap_list: list[Swap] = []
        self.override_list: list[Override] = []
        # an id used but defined nowhere is one mistake however often it is used: its uses
        # are gathered here and reported once
        self.unknown = yamlsource.References()
        self.misspelt_roles = self._misspelt_roles()

    def err(self, f: _File, loc: tuple[str | int, ...], message: str | Message) -> None:
        self.problems.append(f.doc.problem(loc, message))

    def _misspelt_roles(self) -> set[str]:
        """Declared roles that a rotation names misspelt (reported there, with "did you mean"):
        that they have no rotation is not a second mistake."""
        if not self.known.roles_declared:
            return set()
        undeclared = self.known.rotation_roles - self.known.roles
        return {m for r in undeclared for m in close_matches(r, self.known.roles)}

    def person_known(self, f: _File, loc: tuple[str | int, ...], person: str) -> bool:
        if person in self.people:
            return True
        if person not in self.known.people:  # else its entry is invalid and already reported
            hint = did_you_mean(person, self.known.people)
            message = _(
                "unknown person {person} (not in the people of any roster file){hint}",
                person=repr(person),
                hint=hint,
            )
            self.unknown.unknown("person", person, f.doc, loc, message)
        return False

    def rotation_for(self, f: _File, loc: tuple[str | int, ...], role: str) -> Rotation | None:
        rotation = self.rotations_by_role.get(role)
        if (
            rotation is None
            and role not in self.known.rotation_roles
            and role not in self.misspelt_roles
        ):
            hint = did_you_mean(role, self.known.rotation_roles)
            message = _("no rotation for role {role}{hint}", role=repr(role), hint=hint)
            self.unknown.unknown("role", role, f.doc, loc, message)
        return rotation

    def roster(self, zone: ZoneInfo) -> Roster:
        spans = {p: tuple(sorted(v, key=lambda s: s.start)) for p, v in self.spans.items()}
        return Roster(
            self.people,
            tuple(self.rotations_by_role.values()),
            roles=self.roles,
            seasons=tuple(self.season_list),
            overrides=tuple(self.override_list),
            swaps=tuple(self.swap_list),
            unavailable=spans,
            timezone=zone,
        )

    def people_and_roles(self) -> None:
        first_at: dict[str, str] = {}
        for f in self.files:
            for i, p in f.people:
                if p.id in self.people:
                    first = first_at[p.id]
                    message = _(
                        "duplicate person id {id} (first at {first})", id=repr(p.id), first=first
                    )
                    self.err(f, ("people", i, "id"), message)
                    continue
                phones = tuple(p.phones or ([p.phone] if p.phone else []))
                primary = phones[0] if phones else None
                self.people[p.id] = Person(
                    p.id, p.name, p.language, primary, p.email, phones, p.chat
                )
                first_at[p.id] = f.where(("people", i, "id"))
        role_at: dict[str, str] = {}
        for f in self.files:
            for i, r in f.roles:
                if r.id in self.roles:
                    first = role_at[r.id]
                    message = _(
                        "duplicate role id {id} (first at {first})", id=repr(r.id), first=first
                    )
                    self.err(f, ("roles", i, "id"), message)
                    continue
                self.roles[r.id] = Role(r.id, r.name or "", r.description)
                role_at[r.id] = f.where(("roles", i, "id"))
                if r.id not in self.known.rotation_roles and r.id not in self.misspelt_roles:
                    message = _("nobody can fill role {id}: no rotation has it", id=repr(r.id))
                    self.err(f, ("roles", i, "id"), message)

    def rotations(self) -> None:
        for f in self.files:
            for i, r in f.rotations:
                ok = True
                if self.known.roles_declared and r.role not in self.known.roles:
                    listed: str | Message = ", ".join(sorted(self.roles)) or _("none")
                    hint = did_you_mean(r.role, self.known.roles)
                    message = _(
                        "unknown role {role}{hint} (roles: {roles}; declare a new one under roles)",
                        role=repr(r.role),
                        hint=hint,
                        roles=listed,
                    )
                    self.err(f, ("rotations", i, "role"), message)
                    ok = False
                if r.role in self.entries:
                    g, j, _entry = self.entries[r.role]
                    first = g.where(("rotations", j, "role"))
                    message = _(
                        "role {role} already has a rotation (at {first})",
                        role=repr(r.role),
                        first=first,
                    )
                    self.err(f, ("rotations", i, "role"), message)
                    continue
                for j, member in enumerate(r.members):
                    # a member whose own entry is invalid keeps the rotation for later checks
                    known = self.person_known(f, ("rotations", i, "members", j), member)
                    ok &= known or member in self.known.people
                if r.per_shift > len(r.members):
                    message = _(
                        "{n} per shift but the rotation has only {size} member(s)",
                        n=r.per_shift,
                        size=len(r.members),
                    )
                    self.err(f, ("rotations", i, "per_shift"), message)
                    ok = False
                if ok:
                    self.entries[r.role] = (f, i, r)
        for role, (f, _i, r) in self.entries.items():
            self.rotations_by_role[role] = Rotation(
                role, tuple(r.members), r.per_shift, r.handover, r.anchor, r.timezone or f.zone,
                r.shift,
            )  # fmt: skip

    def seasons(self) -> None:
        placed: list[tuple[str, Season]] = []
        for f in self.files:
            for i, s in f.seasons:
                season = Season(s.name, s.from_, s.to, dict(s.staffing))
                ok = True
                for role, count in s.staffing.items():
                    loc = ("seasons", i, "staffing", role)
                    rotation = self.rotation_for(f, loc, role)
                    if rotation is None:
                        ok = False
                    elif count > len(rotation.members):
                        message = _(
                            "{n} per shift but the {role} rotation has only {size} member(s)",
                            n=count,
                            role=role,
                            size=len(rotation.members),
                        )
                        self.err(f, loc, message)
                        ok = False
                for where, other in placed:
                    common = ", ".join(sorted(set(other.staffing) & set(season.staffing)))
                    if common and _seasons_overlap(season, other):
                        message = _(
                            "overlaps season {season} (at {where}) for {roles}: a day can be in "
                            "one season only",
                            season=repr(other.name),
                            where=where,
                            roles=common,
                        )
                        self.err(f, ("seasons", i, "from"), message)
                        ok = False
                if ok:
                    placed.append((f.where(("seasons", i, "from")), season))
                    self.season_list.append(season)
                elif set(s.staffing) <= set(self.rotations_by_role):
                    self.known.shaky_roles.update(s.staffing)
                else:  # a misspelt role: the one meant is not known for sure
                    self.known.all_shaky = True
        for role, rotation in self.rotations_by_role.items():
            relevant = tuple(s for s in self.season_list if role in s.staffing)
            self.rotations_by_role[role] = replace(rotation, seasons=relevant)

    def unavailability(self) -> None:
        for f in self.files:
            for i, u in f.unavailable:
                start = _instant(u.from_, f.zone, end=False)
                end = _instant(u.to, f.zone, end=True)
                if end <= start:
                    message = _(
                        "to ({to}) is not after from ({start})", to=str(u.to), start=str(u.from_)
                    )
                    self.err(f, ("unavailable", i, "to"), message)
                elif self.person_known(f, ("unavailable", i, "person"), u.person):
                    span = Span(start, end, u.reason, f.where(("unavailable", i)))
                    self.spans.setdefault(u.person, []).append(span)

    def swaps(self) -> None:
        swapped: dict[tuple[str, int, str], str] = {}
        for f in self.files:
            for i, s in f.swaps:
                rotation = self.rotation_for(f, ("swaps", i, "role"), s.role)
                if rotation is None:
                    continue
                if self.known.all_shaky or s.role in self.known.shaky_roles:
                    # an invalid rotation or season changes who is on which shift: reported
                    # there, not here again as "b is not on that shift"
                    self.person_known(f, ("swaps", i, "first", "person"), s.first.person)
                    self.person_known(f, ("swaps", i, "second", "person"), s.second.person)
                    continue
                sides: list[tuple[str, int]] = []
                for name, side in (("first", s.first), ("second", s.second)):
                    found = self._swap_side(f, ("swaps", i, name), rotation, side, swapped)
                    if found is not None:
                        sides.append(found)
                if len(sides) != 2:
                    continue
                (a, na), (b, nb) = sides
                if na == nb or b in rotation.planned(na) or a in rotation.planned(nb):
                    message = _(
                        "{first} and {second} are on the same {role} shift: nothing to swap",
                        first=a,
                        second=b,
                        role=s.role,
                    )
                    self.err(f, ("swaps", i), message)
                    continue
                at = f.where(("swaps", i))
                swapped[(s.role, na, a)] = swapped[(s.role, nb, b)] = at
                self.swap_list.append(Swap(s.role, a, na, b, nb, s.reason, at))

    def _swap_side(
        self, f: _File, loc: tuple[str | int, ...], rotation: Rotation, side: SwapSide,
        swapped: dict[tuple[str, int, str], str],
    ) -> tuple[str, int] | None:  # fmt: skip
        if not self.person_known(f, (*loc, "person"), side.person):
            return None
        n = _shift_number(rotation, side.shift)
        if isinstance(n, Message):
            self.err(f, (*loc, "shift"), n)
            return None
        planned = rotation.planned(n)
        when = _show(rotation.local_start(n))
        role = rotation.role
        if side.person not in planned:
            on: str | Message = ", ".join(planned) or _("nobody")
            message = _(
                "{person} is not on the {role} shift of {when} (the rotation puts {on} there)",
                person=side.person,
                role=role,
                when=when,
                on=on,
            )
            self.err(f, (*loc, "person"), message)
            return None
        if (role, n, side.person) in swapped:
            first = swapped[(role, n, side.person)]
            message = _(
                "{person}'s {role} shift of {when} is already swapped (at {first})",
                person=side.person,
                role=role,
                when=when,
                first=first,
            )
            self.err(f, (*loc, "person"), message)
            return None
        return side.person, n

    def overrides(self, plain: Roster | None) -> None:
        """Checked against the roster with swaps and skips applied (`plain`), if valid."""
        for f in self.files:
            for i, o in f.overrides:
                rotation = self.rotation_for(f, ("overrides", i, "role"), o.role)
                if rotation is None:
                    continue
                override = self._override(f, i, o, rotation, plain)
                if override is not None:
                    self.override_list.append(override)

    def _override(
        self, f: _File, i: int, o: OverrideEntry, rotation: Rotation, plain: Roster | None
    ) -> Override | None:
        zone = rotation.timezone
        start = _aligned(o.from_, rotation, end=False)
        end = _aligned(o.to, rotation, end=True)
        first, last = _show(start.astimezone(zone)), _show(end.astimezone(zone))
        if end <= start:
            message = _("to is not after from (from {start} to {end})", start=first, end=last)
            self.err(f, ("overrides", i, "to"), message)
            return None
        ok = True
        changes = (("replace", o.replace), ("with", o.with_), ("add", o.add), ("remove", o.remove))
        for key, person in changes:
            if person is not None:
                ok &= self.person_known(f, ("overrides", i, key), person)
        if not ok:
            return None
        leaving = o.replace or o.remove
        segments = _bounded(plain, o.role, start, end) if plain else iter([])
        if plain and leaving and not any(leaving in a.people for _s, _e, a in segments):
            message = _(
                "{person} is not on {role} duty between {start} and {end}",
                person=leaving,
                role=o.role,
                start=first,
                end=last,
            )
            self.err(f, ("overrides", i, "replace" if o.replace else "remove"), message)
            ok = False
        coming = o.with_ or o.add
        if plain and coming and (busy := plain.busy(coming, start, end)) is not None:
            message = _(
                "{person} is unavailable then ({reason}, at {where})",
                person=coming,
                reason=busy.reason,
                where=busy.where,
            )
            self.err(f, ("overrides", i, "with" if o.with_ else "add"), message)
            ok = False
        where = f.where(("overrides", i))
        override = Override(
            o.role, start, end, o.reason, o.replace, o.with_, o.add, o.remove, where
        )
        for other in self.override_list:
            common = ", ".join(sorted(other.persons & override.persons))
            if other.role == o.role and common and start < other.end and other.start < end:
                message = _(
                    "contradicts the override at {where}: both change {people} then",
                    where=other.where,
                    people=common,
                )
                self.err(f, ("overrides", i), message)
                return None
        return override if ok else None


def _bounded(
    roster: Roster, role: str, start: datetime, end: datetime, limit: int = 20_000
) -> Iterator[tuple[datetime, datetime, Assignment]]:
    """The segments of [start, end), at most `limit` of them (an override spanning years)."""
    for k, segment in enumerate(roster.segments(role, start, end)):
        if k >= limit:
            return
        yield segment


def _instant(value: date, zone: ZoneInfo, *, end: bool) -> datetime:
    """A date means the whole day (from its start, to the end of it); times are local."""
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=zone)
        return when.astimezone(UTC)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _aligned(value: date, rotation: Rotation, *, end: bool) -> datetime:
    """Override bounds: a date means from the handover that day / to the handover after it."""
    if isinstance(value, datetime):
        return _instant(value, rotation.timezone, end=end)
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, rotation.handover, rotation.timezone).astimezone(UTC)


def _shift_number(rotation: Rotation, when: date) -> int | Message:
    """The shift a swap names, by its start date (24 h and longer) or start time; or why not."""
    zone, role = rotation.timezone, rotation.role
    if isinstance(when, datetime):
        at = _instant(when, zone, end=False)
        n = rotation.index_at(at)
        if rotation.start_utc(n) != at:
            return _(
                "no {role} shift starts at {when} (the one holding it starts {holding})",
                role=role,
                when=_show(at.astimezone(zone)),
                holding=_show(rotation.local_start(n)),
            )
        return n
    n = rotation.index_at(_aligned(when, rotation, end=False))
    if rotation.local_start(n).date() != when:
        return _(
            "no {role} shift starts on {day} (the one holding it starts {holding})",
            role=role,
            day=str(when),
            holding=_show(rotation.local_start(n)),
        )
    if rotation.length < timedelta(days=1):
        return _(
            "{role} shifts are {length} long, so several start on {day}: give the start time, "
            'e.g. "{day} {handover}"',
            role=role,
            length=format_duration(rotation.length),
            day=str(when),
            handover=rotation.handover.strftime("%H:%M"),
        )
    return n


def _seasons_overlap(a: Season, b: Season) -> bool:
    if isinstance(a.first, date) and isinstance(b.first, date):
        assert isinstance(a.last, date) and isinstance(b.last, date)
        return a.first <= b.last and b.first <= a.last
    if isinstance(a.first, date):
        a, b = b, a
    if isinstance(b.first, date):  # a recurs every year, b is dated
        assert isinstance(b.last, date)
        days = min((b.last - b.first).days, 366)
        return any(a.contains(b.first + timedelta(days=d)) for d in range(days + 1))
    year = [date(2000, 1, 1) + timedelta(days=d) for d in range(366)]
    return any(a.contains(d) and b.contains(d) for d in year)


def _show(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M}"
