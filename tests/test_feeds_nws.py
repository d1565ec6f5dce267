"""nws_alerts on the recorded api.weather.gov answer, and on alerts with bad parts."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from floodwatch.feeds.nws import NwsAlertsFeed
from floodwatch.feeds.official import OfficialWarning

from .conftest import LocalHTTPServer
from .feed_support import Sleeps, context, dumps, load, raw, spoiled

ALERTS = "nws_alerts/alerts_active_zone.json"
NOW = datetime(2019, 12, 20, 22, 0, tzinfo=UTC)
ZONES = ("ORZ001", "ORZ006", "WAZ039", "WAZ022", "ORZ005", "ORZ004", "WAZ020", "WAZ021",
         "ORZ002", "ORZ003", "WAZ040")  # fmt: skip


def feed(server: LocalHTTPServer, tmp_path: Path, **options: Any) -> NwsAlertsFeed:
    opts = {"base_url": server.url, "zones": ["ORZ004"]} | options
    f = NwsAlertsFeed("nws", NwsAlertsFeed.Options.model_validate(opts), context(tmp_path))
    f.sleep = Sleeps()
    return f


def test_the_recorded_flood_watch(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/alerts/active", raw(fixtures_dir, ALERTS))
    f = feed(http_server, tmp_path)

    [w] = f.fetch_warnings(NOW)

    description = w.description
    assert w == OfficialWarning(
        source="nws",
        id="NWS-IDP-PROD-3965873-3369046",
        references=(
            "NWS-IDP-PROD-3964821-3368352",
            "NWS-IDP-PROD-3965324-3368680",
            "NWS-IDP-PROD-3965155-3368578",
            "NWS-IDP-PROD-3963421-3367361",
        ),
        msg_type="Update",
        status="Actual",
        event="Flood Watch",
        severity="Severe",
        urgency="Future",
        certainty="Possible",
        headline="Flood Watch issued December 20 at 1:34PM PST until December 22 at 10:00AM "
        "PST by NWS Portland OR",
        description=description,
        instruction=w.instruction,
        areas=(
            "North Oregon Coast", "Greater Portland Metro Area", "Greater Vancouver Area",
            "Lower Columbia and I - 5 Corridor in Cowlitz County", "Lower Columbia",
            "Central Coast Range of Western Oregon", "Willapa Hills", "South Washington Coast",
            "Central Oregon Coast", "Coast Range of Northwest Oregon",
            "South Washington Cascade Foothills",
        ),
        area_codes=ZONES,
        sent=datetime(2019, 12, 20, 21, 34, tzinfo=UTC),
        effective=datetime(2019, 12, 20, 21, 34, tzinfo=UTC),
        expires=datetime(2019, 12, 21, 13, 30, tzinfo=UTC),
        in_force=True,
    )  # fmt: skip
    assert description.startswith("The Flood Watch continues for\n\n* Portions of Northwest")
    assert description.endswith("Around 1 inch is possible in the\nWillamette Valley.")
    assert w.instruction.startswith("A Flood Watch means there is a potential for flooding")
    assert f.rejected == {}
    assert f.degraded is False
    assert f.fetch(NOW) == []  # alerts are not readings
    [(_, path, headers)] = http_server.requests
    assert parse_qs(urlsplit(path).query) == {"zone": ["ORZ004"]}
    assert headers["Accept"] == "application/geo+json"
    assert headers["User-Agent"].startswith("floodwatch/")


@pytest.mark.parametrize(
    ("now", "in_force"),
    [
        (datetime(2019, 12, 21, 13, 29, tzinfo=UTC), True),
        # past the message's expiry, the watch itself still runs until `ends`
        (datetime(2019, 12, 22, 17, 59, tzinfo=UTC), True),
        (datetime(2019, 12, 22, 18, 0, tzinfo=UTC), False),
    ],
)
def test_in_force_until_the_hazard_ends(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    now: datetime,
    in_force: bool,
) -> None:
    http_server.serve("/alerts/active", raw(fixtures_dir, ALERTS))
    [w] = feed(http_server, tmp_path).fetch_warnings(now)
    assert w.in_force is in_force


def alerts_with(fixtures: Path, *changes: dict[str, Any]) -> dict[str, Any]:
    """The recorded collection with one feature per change, each a copy of the real one."""
    data: dict[str, Any] = load(fixtures, ALERTS)
    original = data["features"][0]
    data["features"] = []
    for i, change in enumerate(changes):
        feature = copy.deepcopy(original)
        feature["properties"]["id"] = f"alert-{i}"
        for key, value in change.items():
            if value is None:
                feature["properties"].pop(key, None)
            else:
                feature["properties"][key] = value
        data["features"].append(feature)
    return data


def test_a_cancel_is_not_in_force(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    http_server.serve("/alerts/active", dumps(alerts_with(fixtures_dir, {"messageType": "Cancel"})))
    [w] = feed(http_server, tmp_path).fetch_warnings(NOW)
    assert (w.msg_type, w.in_force, len(w.references)) == ("Cancel", False, 4)


def test_fields_nws_leaves_out_have_safe_defaults(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    change: dict[str, Any] = {"severity": "Bogus", "urgency": None, "headline": None, "expires": None,
              "ends": None, "references": [], "instruction": None, "geocode": None}  # fmt: skip
    http_server.serve("/alerts/active", dumps(alerts_with(fixtures_dir, change)))
    [w] = feed(http_server, tmp_path).fetch_warnings(NOW)
    assert (w.severity, w.urgency) == ("Unknown", "Unknown")
    assert w.headline == "FLOOD WATCH REMAINS IN EFFECT THROUGH SUNDAY MORNING"  # NWSheadline
    assert (w.expires, w.in_force, w.references, w.instruction) == (None, True, (), "")
    assert w.area_codes == ()


def test_bad_alerts_are_skipped_and_counted(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    data = alerts_with(
        fixtures_dir,
        {},
        {"messageType": "Ack"},
        {"sent": "Friday afternoon"},
        {"expires": "2019-12-21T05:30:00"},  # no offset
        {"id": "alert-0"},  # a repeat of the first
        {"messageType": "Alert"},
    )
    data["features"].append({"type": "Feature"})  # no properties
    http_server.serve("/alerts/active", dumps(data))
    f = feed(http_server, tmp_path)
    got = f.fetch_warnings(NOW)
    assert [(w.id, w.msg_type) for w in got] == [("alert-0", "Update"), ("alert-5", "Alert")]
    assert f.rejected == {
        "unknown_msg_type": 1, "unparseable_time": 2, "duplicate": 1, "malformed": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("options", "query"),
    [
        ({"zones": ["ORZ004", "WAZ039"]}, {"zone": ["ORZ004,WAZ039"]}),
        ({"zones": [], "point": [45.52, -122.68]}, {"point": ["45.5200,-122.6800"]}),
        ({"zones": [], "areas": ["OR", "WA"], "events": ["Flood Watch", "Flood Warning"]},
         {"area": ["OR,WA"], "event": ["Flood Watch,Flood Warning"]}),
    ],
)  # fmt: skip
def test_the_selection_becomes_the_query(
    http_server: LocalHTTPServer,
    fixtures_dir: Path,
    tmp_path: Path,
    options: dict[str, Any],
    query: dict[str, list[str]],
) -> None:
    http_server.serve("/alerts/active", raw(fixtures_dir, ALERTS))
    feed(http_server, tmp_path, user_agent="floodwatch (duty@example.org)", **options)\
        .fetch_warnings(NOW)  # fmt: skip
    [(_, path, headers)] = http_server.requests
    assert parse_qs(urlsplit(path).query) == query
    assert headers["User-Agent"] == "floodwatch (duty@example.org)"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of zones, point or areas"),
        ({"zones": ["ORZ004"], "areas": ["OR"]}, "exactly one of zones, point or areas"),
        ({"zones": ["Portland"]}, "not UGC zone codes"),
        ({"areas": ["Oregon"]}, "not area codes"),
        ({"point": [95, 0]}, "out of range"),
        ({"zones": ["ORZ004"], "zone": "ORZ004"}, "Extra inputs"),
    ],
)
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NwsAlertsFeed.Options.model_validate(options)


def test_a_garbled_letter_in_an_alert_text_keeps_the_alert_one_in_its_id_does_not(
    http_server: LocalHTTPServer, fixtures_dir: Path, tmp_path: Path
) -> None:
    data = alerts_with(
        fixtures_dir,
        {"description": "Heavy rain will cause rivers to rise@@BAD@@."},
        {"id": "alert-@@BAD@@1"},
        {"id": "x" * 201},
    )
    http_server.serve("/alerts/active", spoiled(data, "@@BAD@@"))
    f = feed(http_server, tmp_path)
    [w] = f.fetch_warnings(NOW)
    assert (w.id, w.description) == ("alert-0", "Heavy rain will cause rivers to rise\ufffd.")
    assert f.rejected == {"undecodable": 1, "oversized": 1}
