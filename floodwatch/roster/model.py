"""Roster model and resolution. Pure: no I/O, no clock; `at` is always given.

A role's time line is cut into shifts by its rotation (wall-clock handovers in the rotation's
zone). Each shift is staffed in four steps, and every person carries the reason they are there:

1. rotation: the members whose turn it is (as many as the season's staffing asks for);
2. swap: two people trade shifts;
3. skip: a person who is unavailable for any part of the shift is skipped, and the next member
   in rotation order who is free stands in;
4. override: for a time range a person is replaced, added or removed (this may cut a shift into
   pieces, so resolution works on *segments*: stretches where nobody changes).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

from floodwatch.clock import require_aware

_CACHE_LIMIT = 20_000


def mask_phone(number: str) -> str:
    """``+8613800000001`` -> ``+86138****0001``: enough to recognise a number, not to dial it."""
    if len(number) < 8:
        return number[:1] + "*" * (len(number) - 1)
    head = min(6, len(number) - 6)
    return number[:head] + "*" * (len(number) - head - 4) + number[-4:]


@dataclass(frozen=True, repr=False)
class Person:
    """Someone who can hold a role. `phone` is the first of `phones`; `chat` maps a chat
    service (e.g. ``wecom``) to this person's id there."""

    id: str
    name: str
    language: str = "zh-CN"
    phone: str | None = None
    email: str | None = None
    phones: tuple[str, ...] = ()
    chat: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.phone and not self.phones:
            object.__setattr__(self, "phones", (self.phone,))
        elif self.phones and not self.phone:
            object.__setattr__(self, "phone", self.phones[0])
        object.__setattr__(self, "chat", MappingProxyType(dict(self.chat)))

    @property
    def masked_phone(self) -> str | None:
        """The first phone number, masked for logs and screens: ``+86138****0001``."""
        return mask_phone(self.phone) if self.phone else None

    def __repr__(self) -> str:  # phone numbers and addresses stay out of logs and tracebacks
        return f"Person(id={self.id!r}, name={self.name!r}, language={self.language!r})"


@dataclass(frozen=True)
class Role:
    """A post on the duty, e.g. ``leader`` (带班领导) or ``officer`` (值班员)."""

    id: str
    name: str = ""
    description: str = ""

    @property
    def title(self) -> str:
        """``带班领导 (leader)``, or just the id when the role has no display name."""
        return f"{self.name} ({self.id})" if self.name and self.name != self.id else self.id


class Why(StrEnum):
    """Why a person holds (or does not hold) a seat on a shift."""

    ROTATION = "rotation"  # their turn in the rotation
    SWAP = "swap"  # traded shifts with someone
    SKIP = "skip"  # stands in for an unavailable member (or: was skipped, being unavailable)
    OVERRIDE = "override"  # replaced, added or removed for a time range


@dataclass(frozen=True)
class Reason:
    person: str
    why: Why
    note: str = ""

    def __str__(self) -> str:
        return f"{self.why.value}: {self.note}" if self.note else self.why.value


@dataclass(frozen=True)
class Assignment:
    """Who holds `role` in the shift from `start` to `end` (aware, in the rotation's zone).

    `reasons[i]` says why `people[i]` is there; `absent` names the people the rotation put on
    this shift who are not there, and why. `required` is the staffing the shift asks for.
    """

    role: str
    start: datetime
    end: datetime
    people: tuple[str, ...]
    reasons: tuple[Reason, ...] = ()
    absent: tuple[Reason, ...] = ()
    required: int = -1

    def __post_init__(self) -> None:
        if self.required < 0:
            object.__setattr__(self, "required", len(self.people))
        if not self.reasons:
            object.__setattr__(self, "reasons", tuple(Reason(p, Why.ROTATION) for p in self.people))

    @property
    def duration(self) -> timedelta:
        """Elapsed time (23 or 25 h for a 24 h shift across a DST change), not wall time."""
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)

    @property
    def short(self) -> int:
        """How many people the shift lacks (0 when fully staffed)."""
        return max(0, self.required - len(self.people))

    def why(self, person: str) -> Reason | None:
        return next((r for r in self.reasons if r.person == person), None)


@dataclass(frozen=True)
class Duty:
    """Everyone on duty at one instant, by role."""

    at: datetime
    assignments: dict[str, Assignment]

    def people(self, role: str) -> tuple[str, ...]:
        a = self.assignments.get(role)
        return a.people if a else ()

    @property
    def start(self) -> datetime:
        """The latest shift start among the roles: since then, this duty has been on."""
        return max((a.start for a in self.assignments.values()), default=self.at)

    @property
    def end(self) -> datetime:
        """The earliest shift end among the roles: the next handover."""
        return min((a.end for a in self.assignments.values()), default=self.at)


@dataclass(frozen=True)
class Season:
    """A date range (each year when given as month-day) with its own staffing per role."""

    name: str
    first: date | tuple[int, int]
    last: date | tuple[int, int]
    staffing: Mapping[str, int] = field(default_factory=dict, hash=False)

    @property
    def recurring(self) -> bool:
        return isinstance(self.first, tuple)

    def contains(self, day: date) -> bool:
        if isinstance(self.first, tuple) and isinstance(self.last, tuple):
            md = (day.month, day.day)
            if self.first <= self.last:
                return self.first <= md <= self.last
            return md >= self.first or md <= self.last  # across new year, e.g. 11-01 .. 03-31
        assert isinstance(self.first, date) and isinstance(self.last, date)
        return self.first <= day <= self.last


@dataclass(frozen=True)
class Rotation:
    """Members take `role` in turn, `per_shift` at a time (or a season's staffing), in shifts
    of `length` that start at `handover` local time, counted from `anchor`.

    Shift 0 starts at `anchor` + `handover`; shift n starts n lengths later on the wall clock,
    so a 24 h shift across a DST change lasts 23 or 25 hours and handover stays at 08:00.
    """

    role: str
    members: tuple[str, ...]
    per_shift: int
    handover: time
    anchor: date
    timezone: ZoneInfo
    length: timedelta = timedelta(days=1)
    seasons: tuple[Season, ...] = ()
    origin: datetime = field(init=False, repr=False, compare=False)  # naive local shift 0 start
    origin_utc: datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        origin = datetime.combine(self.anchor, self.handover)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "origin_utc", origin.replace(tzinfo=self.timezone).astimezone(UTC))

    def index_at(self, at: datetime) -> int:
        """The number of the shift that holds the instant `at` (0 is the anchor's shift)."""
        at = require_aware(at, "at")
        n = (at.astimezone(self.timezone).replace(tzinfo=None) - self.origin) // self.length
        while self.start_utc(n) > at:  # wall-clock estimate off around a DST change
            n -= 1
        while self.start_utc(n + 1) <= at:
            n += 1
        return n

    def start_utc(self, n: int) -> datetime:
        return (self.origin + n * self.length).replace(tzinfo=self.timezone).astimezone(UTC)

    def local_start(self, n: int) -> datetime:
        """Start of shift n, aware in the rotation's zone."""
        return self.start_utc(n).astimezone(self.timezone)

    def staffing(self, n: int) -> int:
        """People the shift asks for: the season of its start date decides, else `per_shift`."""
        day = (self.origin + n * self.length).date()
        for season in self.seasons:
            if self.role in season.staffing and season.contains(day):
                return season.staffing[self.role]
        return self.per_shift

    def planned(self, n: int) -> tuple[str, ...]:
        """The members whose turn shift n is, before swaps, skips and overrides."""
        k, m = self.staffing(n), len(self.members)
        return tuple(self.members[(n * k + j) % m] for j in range(min(k, m)))

    def shift_at(self, at: datetime) -> Assignment:
        """The plain rotation's assignment at `at` (no swaps, unavailability or overrides)."""
        n = self.index_at(at)
        people = self.planned(n)
        return Assignment(
            self.role, self.local_start(n), self.local_start(n + 1), people, required=len(people)
        )


@dataclass(frozen=True)
class Span:
    """A time range [start, end) in UTC, with the reason written in the roster."""

    start: datetime
    end: datetime
    reason: str
    where: str = ""  # file:line, for messages

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Override:
    """For [start, end): `remove` leaves, `replace` is replaced by `by`, or `add` joins."""

    role: str
    start: datetime
    end: datetime
    reason: str
    replace: str | None = None
    by: str | None = None
    add: str | None = None
    remove: str | None = None
    where: str = ""

    @property
    def persons(self) -> set[str]:
        return {p for p in (self.replace, self.by, self.add, self.remove) if p}

    def describe(self) -> str:
        if self.remove:
            return f"remove {self.remove}"
        if self.add:
            return f"add {self.add}"
        return f"{self.by} replaces {self.replace}"


@dataclass(frozen=True)
class Swap:
    """Two people trade shifts of one role: `first` gives shift `first_n` to `second`, and
    `second` gives shift `second_n` to `first`."""

    role: str
    first: str
    first_n: int
    second: str
    second_n: int
    reason: str
    where: str = ""


@dataclass(frozen=True)
class _Shift:
    n: int
    start: datetime  # UTC
    end: datetime  # UTC
    assignment: Assignment


class _OverrideIndex:
    """A role's overrides cut into elementary intervals, each with the overrides active in it."""

    def __init__(self, overrides: list[Override]) -> None:
        cuts = sorted({o.start for o in overrides} | {o.end for o in overrides})
        self.cuts = cuts
        self.active: list[tuple[Override, ...]] = [()]
        for lo in cuts:
            self.active.append(tuple(o for o in overrides if o.start <= lo < o.end))


class Roster:
    """People, roles and rotations, with seasons, swaps, unavailability and overrides."""

    def __init__(
        self,
        people: Mapping[str, Person],
        rotations: tuple[Rotation, ...],
        *,
        roles: Mapping[str, Role] | None = None,
        seasons: tuple[Season, ...] = (),
        overrides: tuple[Override, ...] = (),
        swaps: tuple[Swap, ...] = (),
        unavailable: Mapping[str, tuple[Span, ...]] | None = None,
        timezone: ZoneInfo | None = None,
    ) -> None:
        self.people: dict[str, Person] = dict(people)
        self.rotations = rotations
        self.role_table: dict[str, Role] = dict(roles or {})
        for r in rotations:
            self.role_table.setdefault(r.role, Role(r.role))
        self.seasons = seasons
        self.overrides = overrides
        self.swaps = swaps
        self.unavailable: dict[str, tuple[Span, ...]] = dict(unavailable or {})
        self.timezone = timezone or (rotations[0].timezone if rotations else ZoneInfo("UTC"))
        self._rotation = {r.role: r for r in rotations}
        self._swaps: dict[tuple[str, int], list[tuple[str, str, Swap]]] = {}
        for s in swaps:
            self._swaps.setdefault((s.role, s.first_n), []).append((s.first, s.second, s))
            self._swaps.setdefault((s.role, s.second_n), []).append((s.second, s.first, s))
        by_role: dict[str, list[Override]] = {}
        for o in overrides:
            by_role.setdefault(o.role, []).append(o)
        self._overrides = {role: _OverrideIndex(os) for role, os in by_role.items()}
        self._shifts: dict[str, dict[int, _Shift]] = {r.role: {} for r in rotations}
        self._final: dict[tuple[str, int, int], Assignment] = {}

    # -- the interface the rest of floodwatch uses ---------------------------------------------

    @property
    def roles(self) -> set[str]:
        return set(self._rotation)

    def person(self, person_id: str) -> Person:
        return self.people[person_id]

    def role(self, role_id: str) -> Role:
        return self.role_table[role_id]

    def rotation(self, role: str) -> Rotation:
        return self._rotation[role]

    def on_duty(self, at: datetime) -> Duty:
        """Who is on duty at `at`, by role, each with their shift and why they are there."""
        at = require_aware(at, "at")
        resolve = self._resolve
        assignments = {}
        for rotation in self.rotations:
            assignments[rotation.role] = resolve(rotation, at)[2]
        return Duty(at, assignments)

    # -- time lines -----------------------------------------------------------------------------

    def assignment(self, role: str, at: datetime) -> Assignment:
        """Who holds `role` at `at`."""
        return self._resolve(self._rotation[role], require_aware(at, "at"))[2]

    def segments(
        self, role: str, start: datetime, end: datetime, *, clip: bool = True
    ) -> Iterator[tuple[datetime, datetime, Assignment]]:
        """Stretches [s, e) (UTC) of [start, end) in which nobody holding `role` changes.

        They tile the range exactly (with `clip=False` the first and last run over its ends
        to their true bounds); each carries its shift's assignment at that time.
        """
        rotation = self._rotation[role]
        t, end = require_aware(start, "start"), require_aware(end, "end")
        while t < end:
            s, e, a = self._segment(rotation, t)
            yield (max(s, t), min(e, end), a) if clip else (s, e, a)
            t = e

    def shift_numbers(self, role: str, start: datetime, end: datetime) -> range:
        """Numbers of the shifts of `role` that overlap [start, end)."""
        rotation = self._rotation[role]
        first = rotation.index_at(start)
        last = rotation.index_at(require_aware(end, "end") - timedelta(microseconds=1))
        return range(first, max(first, last) + 1)

    def planned_shift(self, role: str, n: int) -> Assignment:
        """Shift n of `role` after swaps and skips, before overrides."""
        return self._shift(self._rotation[role], n).assignment

    def busy(self, person: str, start: datetime, end: datetime) -> Span | None:
        """The first unavailability of `person` that overlaps [start, end), if any."""
        for span in self.unavailable.get(person, ()):
            if span.overlaps(start, end):
                return span
        return None

    # -- resolution -----------------------------------------------------------------------------

    def _segment(self, rotation: Rotation, at: datetime) -> tuple[datetime, datetime, Assignment]:
        shift, k, assignment = self._resolve(rotation, at)
        index = self._overrides.get(rotation.role)
        if index is None:
            return shift.start, shift.end, assignment
        cuts = index.cuts
        start, end = shift.start, shift.end
        if k > 0 and cuts[k - 1] > start:
            start = cuts[k - 1]
        if k < len(cuts) and cuts[k] < end:
            end = cuts[k]
        return start, end, assignment

    def _resolve(self, rotation: Rotation, at: datetime) -> tuple[_Shift, int, Assignment]:
        """The shift holding `at` (UTC), the override interval, and who holds the role."""
        cache = self._shifts[rotation.role]
        # exact in zones without DST; elsewhere off by one at most, and corrected below
        n = (at - rotation.origin_utc) // rotation.length
        shift = cache.get(n) or self._shift(rotation, n)
        while not shift.start <= at < shift.end:
            n += 1 if at >= shift.end else -1
            shift = cache.get(n) or self._shift(rotation, n)
        index = self._overrides.get(rotation.role)
        if index is None:
            return shift, 0, shift.assignment
        k = bisect.bisect_right(index.cuts, at)
        active = index.active[k]
        if not active:
            return shift, k, shift.assignment
        key = (rotation.role, n, k)
        final = self._final.get(key)
        if final is None:
            if len(self._final) > _CACHE_LIMIT:
                self._final.clear()
            final = self._final[key] = _apply(shift.assignment, active)
        return shift, k, final

    def _shift(self, rotation: Rotation, n: int) -> _Shift:
        cache = self._shifts[rotation.role]
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        start, end = rotation.start_utc(n), rotation.start_utc(n + 1)
        planned = rotation.planned(n)
        people = list(planned)
        reasons = [Reason(p, Why.ROTATION) for p in people]
        absent: list[Reason] = []
        for out, into, swap in self._swaps.get((rotation.role, n), ()):
            if out in people:
                i = people.index(out)
                people[i] = into
                note = f"swapped with {out}: {swap.reason}"
                reasons[i] = Reason(into, Why.SWAP, note)
                absent.append(Reason(out, Why.SWAP, f"swapped with {into}: {swap.reason}"))
        zone = rotation.timezone
        for i, person in enumerate(list(people)):
            span = self.busy(person, start, end)
            if span is None:
                continue
            when = f"{_local(span.start, zone)} to {_local(span.end, zone)}"
            absent.append(Reason(person, Why.SKIP, f"unavailable {when}: {span.reason}"))
            stand_in = self._stand_in(rotation, person, people, start, end)
            if stand_in is None:
                people[i] = ""
                continue
            people[i] = stand_in
            reasons[i] = Reason(stand_in, Why.SKIP, f"stands in for {person}: {span.reason}")
        seats = [(p, r) for p, r in zip(people, reasons, strict=True) if p]
        assignment = Assignment(
            rotation.role,
            start.astimezone(zone),
            end.astimezone(zone),
            tuple(p for p, _ in seats),
            tuple(r for _, r in seats),
            tuple(absent),
            len(planned),
        )
        shift = cache[n] = _Shift(n, start, end, assignment)
        return shift

    def _stand_in(
        self, rotation: Rotation, person: str, taken: list[str], start: datetime, end: datetime
    ) -> str | None:
        """The next member after `person`, in rotation order, who is free for the whole shift."""
        members = rotation.members
        i = members.index(person) if person in members else -1
        for step in range(1, len(members) + 1):
            candidate = members[(i + step) % len(members)]
            if candidate not in taken and self.busy(candidate, start, end) is None:
                return candidate
        return None


def _apply(base: Assignment, overrides: tuple[Override, ...]) -> Assignment:
    people = list(base.people)
    reasons = list(base.reasons)
    absent = list(base.absent)
    for o in overrides:
        if o.remove and o.remove in people:
            i = people.index(o.remove)
            del people[i], reasons[i]
            absent.append(Reason(o.remove, Why.OVERRIDE, f"removed: {o.reason}"))
        elif o.replace and o.by and o.replace in people and o.by not in people:
            i = people.index(o.replace)
            people[i] = o.by
            reasons[i] = Reason(o.by, Why.OVERRIDE, f"replaces {o.replace}: {o.reason}")
            absent.append(Reason(o.replace, Why.OVERRIDE, f"replaced by {o.by}: {o.reason}"))
        elif o.add and o.add not in people:
            people.append(o.add)
            reasons.append(Reason(o.add, Why.OVERRIDE, f"added: {o.reason}"))
    return Assignment(
        base.role,
        base.start,
        base.end,
        tuple(people),
        tuple(reasons),
        tuple(absent),
        base.required,
    )


def _local(when: datetime, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M}"
