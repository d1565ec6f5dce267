"""The village warning chain, end to end, on the recorded Ellicott City flood of 27 May 2018:
the service's jobs on a simulated clock polling the CSV feed, Twilio through its SDK into the
recording fake, the web app answering Twilio's signed requests, loudspeakers behind a
text-to-speech gateway on 127.0.0.1 and on the real Mosquitto.

The river reaches 20.63 ft at 15:30 EST (04:30 in Shanghai): 河口村 (prepare at 20 ft) is told to
prepare; at 15:45, 24.16 ft, it is told to move now and 柳林村 (prepare 22 ft, move 26 ft) to
prepare; at 15:52, 27.16 ft, 柳林村 to move now. Each village's responsible persons are paged and
must answer; one answers by SMS and reports households moved, the other never does and the
leader on duty is paged with his name. The water falls; the warnings stay until the leader
clears them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import xmlschema
from fastapi.testclient import TestClient
from sqlalchemy import select

from floodwatch.app import App
from floodwatch.clock import SimulatedClock
from floodwatch.errors import FloodwatchError
from floodwatch.service import Service
from floodwatch.store.models import AlertRow, EventRow, LogEntryRow, PageRow, VillageWarningRow
from floodwatch.web.app import create_app

from .conftest import FIXTURES, need_service, port_open
from .harness_broadcast import GATEWAY_KEY, Gateway, Loudspeakers
from .harness_channels import Sink
from .helpers import TOWNSHIP_ROSTER, demo_readings
from .twilio_support import FakeTwilio, Phones, Webhooks, twilio_notifiers, twilio_service
from .villages_support import VILLAGE_ROSTER, write

FLOOD = demo_readings()
EST_1530 = FLOOD[0].observed_at + timedelta(hours=15, minutes=30)  # 20.63 ft
LEADER = ("wang.fang", "+8613800000002")  # on duty from 08:00 on 28 May, Shanghai
ZHANG = ("zhang.jianguo", "+8613900000101")  # 河口村's 村级责任人: answers
CHEN = ("chen.zhiqiang", "+8613900000102")  # 河口村's 监测员: never answers
SCHEMA = FIXTURES / "cap-schema" / "CAP-v1.2.xsd"

VILLAGES = """
version: 1
villages:
  - id: hekou
    name: 河口村
    evacuation: 河口村小学操场（后山高地）
    wait: 10m
    groups:
      - {id: g1, name: 一组, households: 42, residents: 131}
      - {id: g2, name: 二组, households: 37, residents: 118}
    responsible:
      - {person: zhang.jianguo, role: 村级责任人}
      - {person: chen.zhiqiang, role: 监测员}
    loudspeakers:
      - {id: g1, channel: gateway, address: HK-0001, group: g1}
      - {id: all, channel: mqtt}
    stations:
      - {station: "01589025", parameter: stage, unit: ft, prepare: 20, move_now: 24}
    area:
      polygon: [[39.268, -76.803], [39.274, -76.795], [39.266, -76.786], [39.268, -76.803]]
  - id: liulin
    name: 柳林村
    evacuation: 柳林村委会广场
    groups: [{id: g1, name: 一组, households: 51, residents: 163}]
    responsible:
      - {person: wang.deming, role: 村级责任人}
    loudspeakers:
      - {id: all, channel: mqtt}
    stations:
      - {station: "01589025", parameter: stage, unit: ft, prepare: 22, move_now: 26}
"""


@dataclass
class Chain:
    service: Service
    clock: SimulatedClock
    fake: FakeTwilio
    phones: Phones
    gateway: Gateway
    speakers: Loudspeakers
    next_poll: datetime

    @property
    def app(self) -> App:
        return self.service.app

    def run(self, until: datetime, step: timedelta = timedelta(minutes=1)) -> None:
        """The service's jobs every `step`, the feed polled every 15 minutes from the start
        (the village desk's tick is in the service's duty job)."""
        service, clock = self.service, self.clock
        app = service.app
        while True:
            now = clock.now()
            service.check_lease()
            if now >= self.next_poll:
                service.poll(app.feeds["demo"])
                while self.next_poll <= now:
                    self.next_poll += timedelta(minutes=15)
            service.escalate()
            app.village_desk.tick(now)
            service.dispatch()
            if now + step > until:
                return
            clock.advance(step)

    def events(self, type_: str) -> list[EventRow]:
        with self.app.db.sessions() as s:
            return list(s.scalars(select(EventRow).where(EventRow.type == type_)
                                  .order_by(EventRow.id)))  # fmt: skip

    def warning(self, village: str) -> VillageWarningRow:
        with self.app.db.sessions() as s:
            return s.scalars(select(VillageWarningRow).where(VillageWarningRow.village == village)
                             .order_by(VillageWarningRow.id.desc()).limit(1)).one()  # fmt: skip

    def sms_to(self, phone: str) -> list[str]:
        return [m.body for m in self.fake.sms if m.to == phone]


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    need_service("Mosquitto", port_open("127.0.0.1", 1883), "nothing listens on 127.0.0.1:1883")
    sink = Sink()
    gateway = Gateway(sink)
    prefix = f"floodwatch-test/{uuid.uuid4().hex}/broadcast"
    speakers = Loudspeakers(prefix)
    (tmp_path / "gateway.key").write_text(GATEWAY_KEY, encoding="utf-8")
    write(tmp_path, VILLAGES, "villages.yaml")
    notifiers = [
        *twilio_notifiers(),
        {"name": "gateway", "type": "broadcast_http", "url": sink.url + "/api/tts",
         "secret_file": "gateway.key", "success": {"path": "code", "equals": 0},
         "body": {"terminal": "{address}", "text": "{body}", "title": "{subject}",
                  "key": "{key}", "page": "{page}", "speaker": "{person}"}},
        {"name": "mqtt", "type": "broadcast_mqtt", "topic": prefix, "timeout": "5s"},
    ]  # fmt: skip
    fake = FakeTwilio()
    service, clock = twilio_service(
        tmp_path, EST_1530 - timedelta(minutes=30), fake, notifiers=notifiers,
        rosters=[str(TOWNSHIP_ROSTER), str(VILLAGE_ROSTER)], villages=["villages.yaml"],
        evacuation={"channels": ["sms"], "remind_every": "1h"},
        cap={"sender": "fxb@shifan.example.cn", "languages": ["zh-CN", "en"]},
    )  # fmt: skip
    with TestClient(create_app(service.app)) as client:
        yield Chain(service, clock, fake, Phones(fake, Webhooks(client)), gateway, speakers,
                    clock.now())  # fmt: skip
    for notifier in service.app.notifiers.values():
        close = getattr(notifier, "close", None)
        if callable(close):
            close()
    speakers.close()
    sink.stop()
    fake.close()


def test_the_river_warns_two_villages_and_the_chain_runs_until_the_leader_clears(
    chain: Chain,
) -> None:
    app = chain.app
    # -- 15:30 EST: 河口村 is told to prepare ---------------------------------------------------
    chain.run(EST_1530)
    [warned] = chain.events("village_warned")
    assert (warned.data["village"], warned.data["warning"], warned.data["from"]) == (
        "hekou", "prepare", None,
    )  # fmt: skip
    assert warned.data["cause"]["value"] == 20.63 and warned.data["cause"]["threshold"] == 20
    for _, phone in (ZHANG, CHEN):  # each responsible person, by SMS (evacuation.channels)
        [sms] = chain.sms_to(phone)
        assert sms.startswith("【准备转移】河口村\n") and "回复 1a 确认" in sms
        assert "河口村小学操场（后山高地）" in sms and "79户249人" in sms
    # the loudspeakers: the gateway says it for group 1, the village's topic carries it
    [spoken] = [r.json() for r in chain.gateway.accepted]
    assert spoken["terminal"] == "HK-0001" and spoken["speaker"] == "hekou:g1"
    assert (
        spoken["text"].startswith("紧急通知！河口村一组的村民请注意")
        and "准备转移" in spoken["text"]
    )
    assert "河口村小学操场（后山高地）" in spoken["text"]
    chain.speakers.settle()
    assert [(t.rsplit("/", 1)[-1], m["speaker"]) for t, m in chain.speakers.messages] == [
        ("hekou", "hekou:all")
    ]
    with app.db.sessions() as s:  # dispatched, never delivered: nobody confirms a loudspeaker
        statuses = set(s.scalars(select(PageRow.status).where(PageRow.role == "loudspeaker")))
    assert statuses == {"dispatched"}

    # -- 张建国 answers by SMS and reports what has been moved ----------------------------------
    chain.clock.advance(timedelta(minutes=2))
    sms = chain.phones.expect_sms(ZHANG[1], "准备转移")
    assert sms.reply("1a") == "已记录你对告警#2的确认；本级还需其他人确认。"
    moved = app.village_desk.moved("hekou", 12, 35, ZHANG[0], "cli", chain.clock.now())
    assert moved == (12, 35)
    # -- the wait passes: the leader on duty is paged with the name of 陈志强, who never answered
    chain.run(EST_1530 + timedelta(minutes=10))
    [unanswered] = chain.events("village_unanswered")
    assert unanswered.data["pending"] == [CHEN[0]] and unanswered.data["told"] == [LEADER[0]]
    [to_leader] = [b for b in chain.sms_to(LEADER[1]) if "叫应未应答" in b]
    assert "陈志强（监测员）" in to_leader and "张建国" not in to_leader.split("尚未应答")[1]

    # -- 15:45: 河口村 must move now, 柳林村 prepare; 16:00 (27.16 ft at 15:52): 柳林村 move now
    chain.run(EST_1530 + timedelta(minutes=30))
    warnings = [(e.data["village"], e.data["warning"], e.data["from"])
                for e in chain.events("village_warned")]  # fmt: skip
    assert warnings == [
        ("hekou", "prepare", None), ("hekou", "move_now", "prepare"),
        ("liulin", "prepare", None), ("liulin", "move_now", "prepare"),
    ]  # fmt: skip
    assert [b.split("\n")[0] for b in chain.sms_to(ZHANG[1])] == [
        "【准备转移】河口村",
        "【立即转移】河口村",
    ]
    texts = [r.json()["text"] for r in chain.gateway.accepted]
    assert "立即转移到河口村小学操场（后山高地）" in texts[-1]
    chain.speakers.settle()
    topics = [t.rsplit("/", 1)[-1] for t, _ in chain.speakers.messages]
    assert topics == ["hekou", "hekou", "liulin", "liulin"]
    # the move-now round is a new round: everyone must answer again (at 15:55 nobody had)
    assert [(e.data["village"], e.data["pending"]) for e in chain.events("village_unanswered")] == [
        ("hekou", [CHEN[0]]), ("hekou", [ZHANG[0], CHEN[0]]), ("liulin", ["wang.deming"]),
    ]  # fmt: skip

    # -- the water falls; the warnings stand, and the leader is reminded ------------------------
    chain.run(EST_1530 + timedelta(hours=6), step=timedelta(minutes=5))
    assert app.village_desk.chain()[0].warning is not None
    assert chain.warning("hekou").state == "standing" and chain.warning("hekou").level == "move_now"
    reminded = chain.events("village_reminded")
    assert {e.data["village"] for e in reminded} == {"hekou", "liulin"} and len(reminded) >= 8
    with app.db.sessions() as s:
        stage = s.scalar(select(AlertRow.state).where(AlertRow.station == "01589025"))
    assert stage in ("open", "cleared")  # the river's own alert lowers and clears on its own

    # -- nobody but the leader on duty clears it ------------------------------------------------
    now = chain.clock.now()
    [leader] = app.roster.current.on_duty(now).people("leader")
    assert leader == "zhao.lei"  # the 08:00 handover came and went
    for who in (ZHANG[0], LEADER[0]):  # a responsible person; yesterday's leader
        with pytest.raises(FloodwatchError, match="only the leader on duty"):
            app.village_desk.clear("hekou", who, now)
    app.village_desk.clear("hekou", leader, now)
    chain.run(now)
    assert chain.warning("hekou").state == "cleared"
    assert (
        chain.gateway.accepted[-1]
        .json()["text"]
        .startswith("河口村一组的村民请注意：转移预警已经解除")
    )
    [cleared] = chain.events("village_cleared")
    assert cleared.data["by"] == leader
    count = len(chain.events("village_reminded"))
    chain.run(now + timedelta(hours=2), step=timedelta(minutes=10))
    later = [e for e in chain.events("village_reminded")[count:]]
    assert {e.data["village"] for e in later} == {"liulin"}  # 河口村's reminders stopped

    # the duty log keeps the chain, in the office's words
    with app.db.sessions() as s:
        kinds = set(s.scalars(select(LogEntryRow.kind)))
    assert {"village_warned", "village_unanswered", "village_cleared", "village_moved"} <= kinds

    # -- every CAP message of the flood is valid CAP 1.2 ----------------------------------------
    schema = xmlschema.XMLSchema(str(SCHEMA))
    messages = app.cap.messages(limit=1000)
    for m in messages:
        schema.validate(m.xml)
    hekou = [m for m in messages if m.village == "hekou"]
    assert sorted(m.msg_type for m in hekou) == ["Alert", "Cancel", "Update"]

    # `floodwatch villages --json`: the chain is one query away
    [h, _] = [c.as_json(app.config.settings.timezone) for c in app.village_desk.chain()]
    assert h["warning"] is None  # cleared
    assert json.dumps(h, ensure_ascii=False)
