"""Who may do what in the console and the API: roles from the rosters and the config.

- officer: everyone in the rosters (the duty officers, and anyone else who can be paged):
  see everything, acknowledge, escalate, write the duty log, hand over;
- leader: the members of the rotation of the leader role (`evacuation.leader`, "leader" in
  the example roster), and whoever holds that role now (an override): besides, clear an alert,
  clear a village's warning, broadcast by hand;
- admin: the people in `duty.roster_admins`: besides, set people's passwords.

The same check serves the console and the API (`Access.require`), so a refusal on the page is
a refusal in JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from floodwatch.clock import Clock
from floodwatch.i18n import Refused, Text, _
from floodwatch.roster.holder import RosterHolder

OFFICER, LEADER, ADMIN = "officer", "leader", "admin"
ROLES = (OFFICER, LEADER, ADMIN)
ROLE_TEXT = {OFFICER: _("duty officer"), LEADER: _("leader"), ADMIN: _("administrator")}


class Forbidden(Refused):
    """The person may not do this (their roles lack the one it needs)."""


class NotSignedIn(Refused):
    """No person: no session or token, or one that no longer holds."""


@dataclass(frozen=True)
class Person:
    """A signed-in person as the console and the API see them."""

    id: str
    name: str
    language: str  # from the roster
    roles: frozenset[str]

    def can(self, role: str) -> bool:
        return role in self.roles


class Access:
    def __init__(
        self, roster: RosterHolder, clock: Clock, leader_role: str, admins: Sequence[str]
    ) -> None:
        self.roster = roster
        self.clock = clock
        self.leader_role = leader_role
        self.admins = frozenset(admins)

    def person(self, person_id: str) -> Person | None:
        """The person with their roles now; None for an id not in the rosters (any more)."""
        roster = self.roster.current
        found = roster.people.get(person_id)
        if found is None:
            return None
        roles = {OFFICER}
        if self.leader_role in roster.roles:
            members = roster.rotation(self.leader_role).members
            on_duty = roster.on_duty(self.clock.now()).people(self.leader_role)
            if person_id in members or person_id in on_duty:
                roles.add(LEADER)
        if person_id in self.admins:
            roles.add(ADMIN)
        return Person(found.id, found.name, found.language, frozenset(roles))

    @staticmethod
    def require(person: Person, role: str, what: Text) -> None:
        """Forbidden unless `person` has `role`; `what` names the action in the message."""
        if not person.can(role):
            raise Forbidden(
                _("only a {role} may {what}: {person} is not one",
                  role=ROLE_TEXT.get(role, Text(role)), what=what, person=person.id)
            )  # fmt: skip
