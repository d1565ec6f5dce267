"""CAP 1.2 (OASIS Common Alerting Protocol) for every alert and village warning: its issue, its
updates and its end, built from the events that recorded them.

A *chain* is one alert (opened, raised, lowered, cleared or retired) or one village warning
(warned, raised to move now, cleared): its first message is an Alert, the next ones Updates,
its end a Cancel (with the responseType AllClear); each later message lists every earlier one of
its chain in `references`. `sent` carries the office's UTC offset (CAP's dateTime has no "Z").
A drill's messages have the status Exercise, a note and headlines that say so. The area names
the villages (each with its polygon and geocodes where the village files give them): for an
alert, the villages that watch its station.

`CapFeed.chain`, `messages` and `message` give `CapMessage`s (their `xml` is the document);
`atom` an Atom index of them, for the web app to serve.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from floodwatch.config import Cap, Evacuation, Level, level_ids
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.office import Office
from floodwatch.store import Database
from floodwatch.store.models import AlertRow, EventRow
from floodwatch.villages.model import MOVE_NOW, WARNING_EN, WARNING_ZH, Village, Villages

NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/cap+xml"
ALERT_EVENTS = ("opened", "raised", "lowered", "cleared", "retired")
VILLAGE_EVENTS = ("village_warned", "village_cleared")
ENDS = ("cleared", "retired", "village_cleared")
NOT_PUBLIC = ("handover",)  # alerts that are about the duty office, not the public
_RULE_EVENT = {
    "rainfall": ("暴雨预警", "Heavy rain warning"),
    "rate_of_rise": ("水位陡涨预警", "Rapid rise warning"),
    "forecast": ("降雨预报预警", "Rain forecast warning"),
    "silence": ("测站数据中断", "Gauge silent"),
}
_URGENCY = {"Extreme": "Immediate", "Severe": "Expected", "Moderate": "Expected", "Minor": "Future"}


@dataclass(frozen=True)
class CapMessage:
    """One CAP message: its identifier, when it was sent, its status and type, its headline
    (in the first language) and its document; the alert or village it is about."""

    identifier: str
    sent: datetime
    status: str
    msg_type: str
    headline: str
    xml: str
    alert: int | None
    village: str | None


@dataclass(frozen=True)
class _Info:
    language: str
    categories: tuple[str, ...]
    event: str
    response: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str
    parameters: tuple[tuple[str, str], ...] = ()


class CapFeed:
    """The CAP messages of one floodwatch database, written for `cap` (the config's section)."""

    def __init__(
        self, db: Database, cap: Cap | None, office: Office, villages: Villages,
        evacuation: Evacuation, station_names: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.db = db
        self.cap = cap
        self.office = office
        self.villages = villages
        self.station_names = dict(station_names or {})
        ids = level_ids(office.levels)
        self.warning_levels = {
            "prepare": ids.get(evacuation.prepare_level, evacuation.prepare_level),
            "move_now": ids.get(evacuation.move_now_level, evacuation.move_now_level),
        }
        self._installation: str | None = None

    # -- what the web app serves ---------------------------------------------------------------

    def chain(self, alert_id: int) -> list[CapMessage]:
        """The messages of an alert, oldest first; for a village warning's round of 叫应, the
        messages of the warning (NotFound: no such alert; FloodwatchError: it is not public)."""
        self._prefix()  # read before a session is open: SQLite lets one at a time
        with self.db.sessions() as session:
            alert = session.get(AlertRow, alert_id)
            if alert is None:
                raise NotFound(f"no alert #{alert_id}")
            if alert.rule_type in NOT_PUBLIC:
                raise FloodwatchError(
                    f"alert #{alert_id} ({alert.rule_type}) is about the duty office: no CAP"
                )
            if self._is_village(alert):
                for chain in self._village_chains(session):
                    if any(e.alert_id == alert_id for e in chain):
                        return self._messages(session, chain)
                return []
            events = list(
                session.scalars(
                    select(EventRow)
                    .where(EventRow.alert_id == alert_id, EventRow.type.in_(ALERT_EVENTS))
                    .order_by(EventRow.id)
                )
            )
            return self._messages(session, events)

    def messages(self, limit: int = 100) -> list[CapMessage]:
        """The newest `limit` messages of every chain, newest first (the Atom index)."""
        self._prefix()
        with self.db.sessions() as session:
            out: list[CapMessage] = []
            for chain in self._alert_chains(session) + self._village_chains(session):
                out += self._messages(session, chain)
        out.sort(key=lambda m: (m.sent, m.identifier), reverse=True)
        return out[:limit]

    def message(self, identifier: str) -> CapMessage | None:
        """One message by its identifier (None: no such message)."""
        prefix = f"{self._prefix()}-"
        number = identifier.removeprefix(prefix)
        if not identifier.startswith(prefix) or not number.isdigit() or len(number) > 12:
            return None
        with self.db.sessions() as session:
            event = session.get(EventRow, int(number))
            if event is None or event.type not in (*ALERT_EVENTS, *VILLAGE_EVENTS):
                return None
            if event.type in VILLAGE_EVENTS:
                chains = self._village_chains(session)
            else:
                chains = self._alert_chains(session, event.alert_id)
            for chain in chains:
                if any(e.id == event.id for e in chain):
                    found = self._messages(session, chain)
                    return next((m for m in found if m.identifier == identifier), None)
        return None

    def atom(self, messages: Sequence[CapMessage], self_url: str,
             entry_url: Callable[[CapMessage], str]) -> str:  # fmt: skip
        """An Atom feed of `messages` (newest first): each entry links to its CAP document at
        `entry_url(message)`."""
        feed = ET.Element("feed", xmlns=ATOM)  # its children are in the Atom namespace
        _text(feed, "id", f"urn:floodwatch:{self._installation_id()}:cap")
        _text(feed, "title", f"{self.office.name} CAP")
        newest = messages[0].sent if messages else datetime(1970, 1, 1, tzinfo=UTC)
        _text(feed, "updated", _atom_time(newest))
        author = ET.SubElement(feed, "author")
        _text(author, "name", self._cap().sender_name or self.office.name)
        ET.SubElement(feed, "link", rel="self", href=self_url)
        for m in messages:
            entry = ET.SubElement(feed, "entry")
            _text(entry, "id", f"urn:floodwatch:cap:{m.identifier}")
            _text(entry, "title", m.headline)
            _text(entry, "updated", _atom_time(m.sent))
            _text(entry, "summary", f"{m.status} {m.msg_type}")
            ET.SubElement(entry, "link", rel="alternate", type=MEDIA_TYPE, href=entry_url(m))
        body = ET.tostring(feed, encoding="unicode")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"

    # -- chains --------------------------------------------------------------------------------

    def _is_village(self, alert: AlertRow) -> bool:
        return alert.rule_type == "village" or (
            alert.rule_type == "drill" and alert.parameter == "evacuation"
        )

    def _alert_chains(self, session: Session, alert_id: int | None = None) -> list[list[EventRow]]:
        query = select(EventRow).where(EventRow.type.in_(ALERT_EVENTS))
        if alert_id is not None:
            query = query.where(EventRow.alert_id == alert_id)
        chains: dict[int, list[EventRow]] = {}
        alerts: dict[int, AlertRow | None] = {}
        for event in session.scalars(query.order_by(EventRow.id)):
            if event.alert_id is None:
                continue
            if event.alert_id not in alerts:
                alerts[event.alert_id] = session.get(AlertRow, event.alert_id)
            alert = alerts[event.alert_id]
            if alert is None or alert.rule_type in NOT_PUBLIC or self._is_village(alert):
                continue
            chains.setdefault(event.alert_id, []).append(event)
        return list(chains.values())

    def _village_chains(self, session: Session) -> list[list[EventRow]]:
        """Each village warning: from its issue to its clear, per village and drill."""
        open_: dict[tuple[str, Any], list[EventRow]] = {}
        out: list[list[EventRow]] = []
        for event in session.scalars(
            select(EventRow).where(EventRow.type.in_(VILLAGE_EVENTS)).order_by(EventRow.id)
        ):
            key = (str(event.data.get("village")), event.data.get("drill"))
            if event.type == "village_warned" and event.data.get("from") is None:
                if key in open_:  # an earlier warning never cleared (a hand-edited database)
                    out.append(open_.pop(key))
                open_[key] = [event]
            elif key in open_:
                open_[key].append(event)
                if event.type == "village_cleared":
                    out.append(open_.pop(key))
        return out + list(open_.values())

    def _messages(self, session: Session, events: Sequence[EventRow]) -> list[CapMessage]:
        out: list[CapMessage] = []
        for k, event in enumerate(events):
            msg_type = "Cancel" if event.type in ENDS else "Alert" if k == 0 else "Update"
            out.append(self._message(session, event, msg_type, out))
        return out

    # -- one message ---------------------------------------------------------------------------

    def _message(
        self, session: Session, event: EventRow, msg_type: str, earlier: Sequence[CapMessage]
    ) -> CapMessage:
        cap = self._cap()
        identifier = f"{self._prefix()}-{event.id}"
        sent = event.at.astimezone(self.office.zone).replace(microsecond=0)
        if event.type in VILLAGE_EVENTS:
            village = self.villages.get(str(event.data.get("village")))
            drill = event.data.get("drill")
            infos = self._village_infos(event, village, cap.languages)
            areas = [village] if village is not None else []
            alert_id, village_id = event.alert_id, str(event.data.get("village"))
        else:
            alert = session.get(AlertRow, event.alert_id)
            drill = (
                alert.rule_id.removeprefix("drill-")
                if alert and alert.rule_type == "drill"
                else None
            )
            infos = self._alert_infos(event, alert, cap.languages)
            areas = self.villages.concerned_by(event.station or "")
            alert_id, village_id = event.alert_id, None
        status = "Exercise" if drill is not None else "Actual"
        root = ET.Element(f"{{{NS}}}alert")
        _text(root, f"{{{NS}}}identifier", identifier)
        _text(root, f"{{{NS}}}sender", cap.sender)
        _text(root, f"{{{NS}}}sent", sent.isoformat())
        _text(root, f"{{{NS}}}status", status)
        _text(root, f"{{{NS}}}msgType", msg_type)
        _text(root, f"{{{NS}}}source", "floodwatch")
        _text(root, f"{{{NS}}}scope", "Public")
        if drill is not None:
            _text(root, f"{{{NS}}}note", f"演练 / EXERCISE: floodwatch drill {drill}")
        if earlier:
            refs = " ".join(f"{cap.sender},{m.identifier},{m.sent.isoformat()}" for m in earlier)
            _text(root, f"{{{NS}}}references", refs)
        chain = f"village-{village_id}" if village_id else f"alert-{alert_id}"
        _text(root, f"{{{NS}}}incidents", f"{self._prefix()}-{chain}")
        for info in infos:
            self._info(root, info, sent, areas, event, drill is not None)
        xml = ET.tostring(root, encoding="unicode", default_namespace=NS)
        document = '<?xml version="1.0" encoding="UTF-8"?>\n' + xml + "\n"
        headline = infos[0].headline
        if drill is not None:
            headline = ("演练：" if infos[0].language == "zh-CN" else "EXERCISE: ") + headline
        return CapMessage(identifier, sent, status, msg_type, headline, document, alert_id,
                          village_id)  # fmt: skip

    def _info(
        self, root: ET.Element, info: _Info, sent: datetime, areas: Sequence[Village],
        event: EventRow, drill: bool,
    ) -> None:  # fmt: skip
        cap = self._cap()
        zh = info.language == "zh-CN"
        mark = (
            ("演练（非真实预警）：" if zh else "EXERCISE (not a real warning): ") if drill else ""
        )
        element = ET.SubElement(root, f"{{{NS}}}info")
        _text(element, f"{{{NS}}}language", info.language)
        for category in info.categories:
            _text(element, f"{{{NS}}}category", category)
        _text(element, f"{{{NS}}}event", info.event)
        _text(element, f"{{{NS}}}responseType", info.response)
        _text(element, f"{{{NS}}}urgency", info.urgency)
        _text(element, f"{{{NS}}}severity", info.severity)
        _text(element, f"{{{NS}}}certainty", info.certainty)
        if cap.expires is not None:
            _text(element, f"{{{NS}}}expires", (sent + cap.expires).isoformat())
        _text(element, f"{{{NS}}}senderName", cap.sender_name or self.office.name)
        _text(element, f"{{{NS}}}headline", mark + info.headline)
        _text(element, f"{{{NS}}}description", mark + info.description)
        if info.instruction:
            _text(element, f"{{{NS}}}instruction", mark + info.instruction)
        if cap.web:
            _text(element, f"{{{NS}}}web", cap.web)
        if cap.contact:
            _text(element, f"{{{NS}}}contact", cap.contact)
        for name, value in info.parameters:
            parameter = ET.SubElement(element, f"{{{NS}}}parameter")
            _text(parameter, f"{{{NS}}}valueName", name)
            _text(parameter, f"{{{NS}}}value", value)
        if not areas:
            area = ET.SubElement(element, f"{{{NS}}}area")
            station = event.station or ""
            _text(area, f"{{{NS}}}areaDesc", self.station_names.get(station, station) or "-")
        for village in areas:
            area = ET.SubElement(element, f"{{{NS}}}area")
            _text(
                area, f"{{{NS}}}areaDesc", village.name if zh else f"{village.name} ({village.id})"
            )
            if village.area.polygon:
                points = " ".join(f"{lat:g},{lon:g}" for lat, lon in village.area.polygon)
                _text(area, f"{{{NS}}}polygon", points)
            for name, value in village.area.geocodes:
                geocode = ET.SubElement(area, f"{{{NS}}}geocode")
                _text(geocode, f"{{{NS}}}valueName", name)
                _text(geocode, f"{{{NS}}}value", value)

    def _alert_infos(
        self, event: EventRow, alert: AlertRow | None, languages: Sequence[str]
    ) -> list[_Info]:
        data = event.data
        station = self.station_names.get(event.station or "", event.station or "")
        rule_type = str(data.get("rule_type") or (alert.rule_type if alert else "threshold"))
        level = self._level(event.level or (alert.level if alert else None))
        ended = event.type in ENDS
        severity = "Minor" if ended or level is None else level.cap_severity
        urgency = "Past" if ended else _URGENCY.get(severity, "Expected")
        if ended:
            response = "AllClear"
        else:
            response = "Prepare" if severity in ("Severe", "Extreme") else "Monitor"
        certainty = "Likely" if rule_type == "forecast" else "Observed"
        value, unit = data.get("value"), str(data.get("unit") or "")
        seen = f"{value:g} {unit}".strip() if isinstance(value, int | float) else ""
        parameters: tuple[tuple[str, str], ...] = ()
        if seen and not ended:
            parameters = (("floodwatch:value", seen),)
        if level is not None:
            parameters += (("floodwatch:level", level.id),)
        names = _RULE_EVENT.get(rule_type, ("洪水预警", "Flood warning"))
        headline_of_issuer = (data.get("detail") or {}).get("headline")
        if rule_type == "official" and headline_of_issuer:
            names = (str(headline_of_issuer), str(headline_of_issuer))
        out = []
        for language in languages:
            zh = language == "zh-CN"
            event_name = names[0] if zh else names[1]
            if level is None:
                colour = ""
            elif zh:
                colour = f"{level.name_zh}（{level.grade}级）"
            else:
                colour = f"{level.name_en} (level {level.grade})"
            reason = data.get("reason")
            if ended and zh:
                headline = f"{station}预警解除"
                description = f"{station}预警已解除。" + (f"（{reason}）" if reason else "")
                instruction = ""
            elif ended:
                headline = f"{station}: all clear"
                description = f"The alert at {station} is over." + (
                    f" ({reason})" if reason else ""
                )
                instruction = ""
            elif zh:
                verb = {"raised": "升级为", "lowered": "降为"}.get(event.type, "已达")
                headline = f"{station}{colour}{event_name}"
                description = f"{station}：{seen}，{verb}{colour}预警。"
                instruction = "沿河群众请注意防范，听从转移指挥。"
            else:
                verb = {"raised": "raised to", "lowered": "lowered to"}.get(event.type, "at")
                headline = f"{event_name} at {station}: {colour}"
                description = f"{station}: {seen}, {verb} {colour}."
                instruction = "People along the river: stay alert and follow evacuation orders."
            out.append(
                _Info(language, ("Infra",) if rule_type == "silence" else ("Met",), event_name,
                      response, urgency, severity, certainty, headline, description,
                      instruction, parameters)
            )  # fmt: skip
        return out

    def _village_infos(
        self, event: EventRow, village: Village | None, languages: Sequence[str]
    ) -> list[_Info]:
        data = event.data
        warning = str(data.get("warning"))
        name = village.name if village else str(data.get("village"))
        level = self._level(self.warning_levels.get(warning))
        cleared = event.type == "village_cleared"
        severity = "Minor" if cleared or level is None else level.cap_severity
        move = warning == MOVE_NOW
        urgency = "Past" if cleared else "Immediate" if move else "Expected"
        response = "AllClear" if cleared else "Evacuate" if move else "Prepare"
        cause = data.get("cause") or {}
        certainty = "Likely" if cause.get("kind") == "hand" else "Observed"
        sites = village.sites() if village else ""
        params: tuple[tuple[str, str], ...] = (("floodwatch:warning", warning),)
        if village is not None:
            params += (
                ("floodwatch:households", str(village.households)),
                ("floodwatch:residents", str(village.residents)),
            )
        out = []
        for language in languages:
            zh = language == "zh-CN"
            event_name = WARNING_ZH[warning] if zh else WARNING_EN[warning].capitalize()
            if cleared and zh:
                headline = f"{name}{event_name}预警解除"
                description = f"{name}转移预警已由带班领导解除。"
                instruction = "请听从村干部安排有序返回。"
            elif cleared:
                headline = f"{name}: the warning to {WARNING_EN[warning]} is over"
                description = f"The leader on duty cleared the evacuation warning of {name}."
                instruction = "Return as the village officials direct."
            elif zh:
                headline = f"{name}{event_name}预警"
                description = self._cause(cause, zh)
                instruction = (
                    f"请立即转移到：{sites}。" if move else f"请做好转移准备，转移地点：{sites}。"
                )
            else:
                headline = f"{name}: {event_name}"
                description = self._cause(cause, zh)
                instruction = f"Move now to: {sites}." if move else f"Prepare to move to: {sites}."
            out.append(
                _Info(language, ("Met", "Safety"), event_name, response, urgency, severity,
                      certainty, headline, description, instruction, params)
            )  # fmt: skip
        return out

    def _cause(self, cause: Mapping[str, Any], zh: bool) -> str:
        kind = cause.get("kind")
        station = self.station_names.get(str(cause.get("station")), str(cause.get("station")))
        unit = cause.get("unit", "")
        if kind in ("level", "rain"):
            value, threshold = f"{cause['value']:g} {unit}", f"{cause['threshold']:g} {unit}"
            if kind == "level" and zh:
                return f"{station}水位{value}，已达本村转移水位{threshold}。"
            if kind == "level":
                return f"{station} at {value}, the village's level of {threshold}."
            window = cause.get("window", "")
            if zh:
                return f"{station}{window}降雨{value}，已达本村雨量预警指标{threshold}。"
            return (
                f"{value} of rain in {window} at {station}, the village's indicator of {threshold}."
            )
        if kind == "hand":
            who = cause.get("name") or cause.get("by")
            return f"带班领导{who}发布。" if zh else f"Issued by the leader on duty, {who}."
        return "防汛演练。" if zh else "A flood drill."

    # -- helpers -------------------------------------------------------------------------------

    def _level(self, level_id: str | None) -> Level | None:
        return next((lv for lv in self.office.levels if lv.id == level_id), None)

    def _cap(self) -> Cap:
        if self.cap is None:
            raise FloodwatchError(
                "CAP is not configured: add a `cap:` section with your `sender` to the config"
            )
        return self.cap

    def _installation_id(self) -> str:
        if self._installation is None:
            self._installation = self.db.installation()
        return self._installation

    def _prefix(self) -> str:
        return f"floodwatch-{self._installation_id()[:12]}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _atom_time(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
