"""CAP 1.2 for every alert and village warning: each message valid against the OASIS schema,
Alert / Update / Cancel with their references, times with their offset, the villages as areas,
and the Atom index the web app serves."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import xmlschema
from fastapi.testclient import TestClient
from sqlalchemy import select

from floodwatch.app import App, build_app
from floodwatch.cap import NS
from floodwatch.clock import SimulatedClock
from floodwatch.errors import FloodwatchError, NotFound
from floodwatch.store.models import VillageWarningRow
from floodwatch.web.app import create_app

from .conftest import FIXTURES
from .helpers import TOWNSHIP_ROSTER, demo_readings, write_config
from .villages_support import DEMO_VILLAGES, VILLAGE_ROSTER

FLOOD = demo_readings()
CAP = "{" + NS + "}"
SENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(FIXTURES / "cap-schema" / "CAP-v1.2.xsd"))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The whole demo flood through the pipeline, with the demo's villages; one village
    warned and cleared by hand after it."""
    tmp_path = tmp_path_factory.mktemp("cap")
    (tmp_path / "villages.yaml").write_text(
        DEMO_VILLAGES.read_text(encoding="utf-8").replace("village-speakers", "speakers"), "utf-8"
    )
    path = write_config(
        tmp_path, rosters=[str(TOWNSHIP_ROSTER), str(VILLAGE_ROSTER)], villages=["villages.yaml"],
        notifiers=[{"name": "file", "type": "jsonl", "path": "pages.jsonl"},
                   {"name": "speakers", "type": "broadcast_mqtt", "port": 9, "timeout": "0.2s"}],
        cap={"sender": "fxb@shifan.example.cn", "languages": ["zh-CN", "en"], "expires": "6h",
             "web": "https://fxb.shifan.example.cn/", "contact": "0571-8888 0000"},
    )  # fmt: skip
    clock = SimulatedClock(FLOOD[0].observed_at)
    built = build_app(path, clock=clock)
    built.db.upgrade()
    for reading in FLOOD:
        built.pipeline.ingest([reading], reading.observed_at)
    now = FLOOD[-1].observed_at
    [leader] = built.roster.current.on_duty(now).people("leader")
    built.village_desk.clear("hekou", leader, now)
    yield built
    built.db.dispose()


def test_every_message_is_valid_cap_and_chains_hold_together(
    app: App, schema: xmlschema.XMLSchema
) -> None:
    messages = app.cap.messages(limit=1000)
    assert {m.village for m in messages} == {None, "hekou", "liulin"}
    for m in messages:
        schema.validate(m.xml)
        root = ET.fromstring(m.xml)
        assert SENT.match(root.findtext(f"{CAP}sent") or ""), m.xml
        assert [i.findtext(f"{CAP}language") for i in root.iter(f"{CAP}info")] == ["zh-CN", "en"]
        assert m.status == "Actual" and root.findtext(f"{CAP}sender") == "fxb@shifan.example.cn"
    river = app.cap.chain(1)  # the gauge's alert: opened, raised, lowered twice, cleared
    assert [m.msg_type for m in river] == ["Alert", "Update", "Update", "Update", "Cancel"]
    last = ET.fromstring(river[-1].xml)
    refs = (last.findtext(f"{CAP}references") or "").split(" ")
    assert refs == [
        f"fxb@shifan.example.cn,{m.identifier},{m.sent.isoformat()}" for m in river[:-1]
    ]
    info = last.find(f"{CAP}info")
    assert info is not None
    assert (info.findtext(f"{CAP}responseType"), info.findtext(f"{CAP}urgency")) == (
        "AllClear", "Past",
    )  # fmt: skip
    first = ET.fromstring(river[0].xml).find(f"{CAP}info")
    assert first is not None
    assert first.findtext(f"{CAP}severity") == "Moderate"  # yellow
    assert [a.findtext(f"{CAP}areaDesc") for a in first.iter(f"{CAP}area")] == ["河口村", "柳林村"]
    assert first.findtext(f"{CAP}expires", "").endswith("+08:00")


def test_a_village_warning_is_prepare_then_evacuate_then_all_clear(app: App) -> None:
    with app.db.sessions() as s:
        row = s.scalars(select(VillageWarningRow).where(VillageWarningRow.village == "hekou")).one()
    chain = app.cap.chain(row.alert_id or 0)
    assert [m.msg_type for m in chain] == ["Alert", "Update", "Cancel"]
    infos = [ET.fromstring(m.xml).find(f"{CAP}info") for m in chain]
    got = [(i.findtext(f"{CAP}responseType"), i.findtext(f"{CAP}urgency"),
            i.findtext(f"{CAP}severity"), i.findtext(f"{CAP}event")) for i in infos if i is not None]  # fmt: skip
    assert got == [
        ("Prepare", "Expected", "Severe", "准备转移"),
        ("Evacuate", "Immediate", "Extreme", "立即转移"),
        ("AllClear", "Past", "Minor", "立即转移"),
    ]
    area = ET.fromstring(chain[0].xml).find(f"{CAP}info/{CAP}area")
    assert area is not None
    assert area.findtext(f"{CAP}polygon", "").startswith("39.268,-76.803 ")
    assert area.findtext(f"{CAP}geocode/{CAP}value") == "130102001001"
    assert app.cap.message(chain[1].identifier) == chain[1]
    assert app.cap.message("floodwatch-nope-1") is None


def test_the_atom_index(app: App) -> None:
    messages = app.cap.messages(limit=3)
    feed = app.cap.atom(messages, "https://fxb.example.cn/cap.atom",
                        lambda m: f"https://fxb.example.cn/cap/{m.identifier}.xml")  # fmt: skip
    root = ET.fromstring(feed)
    atom = "{http://www.w3.org/2005/Atom}"
    entries = root.findall(f"{atom}entry")
    assert len(entries) == 3
    assert entries[0].findtext(f"{atom}title") == messages[0].headline
    link = entries[0].find(f"{atom}link")
    assert link is not None and link.get("type") == "application/cap+xml"
    assert (root.findtext(f"{atom}updated") or "").endswith("Z")


def test_what_has_no_cap(app: App, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        app.cap.chain(999)
    (tmp_path / "bare").mkdir()
    bare = build_app(
        write_config(tmp_path / "bare", cap=None), clock=SimulatedClock(FLOOD[0].observed_at)
    )
    bare.db.upgrade()
    bare.pipeline.ingest(FLOOD, FLOOD[-1].observed_at)
    with pytest.raises(FloodwatchError, match="add a `cap:` section"):
        bare.cap.messages()
    bare.db.dispose()


def test_the_web_app_serves_the_index_and_each_message(
    app: App, schema: xmlschema.XMLSchema
) -> None:
    client = TestClient(create_app(app))  # CAP is for passing on: no sign-in
    index = client.get("/cap/index.atom")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("application/atom+xml")
    atom = "{http://www.w3.org/2005/Atom}"
    links = [e.find(f"{atom}link") for e in ET.fromstring(index.text).findall(f"{atom}entry")]
    hrefs = [link.get("href", "") for link in links if link is not None]
    assert len(hrefs) == len(app.cap.messages()) > 0
    for href in hrefs:
        path = "/" + href.split("/", 3)[3]  # the link is absolute, on web.public_url or ours
        served = client.get(path)
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("application/cap+xml")
        schema.validate(served.text)
        identifier = path.removeprefix("/cap/").removesuffix(".xml")
        assert ET.fromstring(served.text).findtext(f"{CAP}identifier") == identifier
    assert client.get("/cap/floodwatch-nope-1.xml").status_code == 404
