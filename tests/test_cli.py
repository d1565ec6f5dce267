"""Every CLI command, run in this process through click's runner (`helpers.fw`); one smoke test
runs the installed `floodwatch` entry point as a separate process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from floodwatch import __version__
from floodwatch.app import build_app
from floodwatch.clock import SimulatedClock

from .conftest import LocalHTTPServer
from .helpers import (
    FLOODWATCH,
    ROOT,
    demo_readings,
    english_environ,
    flood_day_csv,
    fw,
    write_config,
)
from .test_service import fast_demo


def test_the_installed_entry_point() -> None:
    """The console script users run: installed, importable, wired to `floodwatch.cli:main`."""
    version = subprocess.run([FLOODWATCH, "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"floodwatch, version {__version__}"
    checked = subprocess.run(
        [FLOODWATCH, "check", "--config", "config/floodwatch.yaml"],
        capture_output=True, text=True, cwd=ROOT, check=False, env=english_environ(),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("config/floodwatch.yaml: ok (")


def test_run_shows_an_alert_open_escalate_and_clear_on_the_console(tmp_path: Path) -> None:
    config = fast_demo(
        tmp_path, 36000,
        notifiers=[{"name": "console", "type": "console"},
                   {"name": "file", "type": "jsonl", "path": "pages.jsonl"}],
    )  # fmt: skip
    result = fw("run", "--config", str(config), "--for", "5s")
    assert result.returncode == 0, result.stderr
    assert "opened: 01589025 - -> yellow at 20.63 ft" in result.stderr
    # a poll every 0.25 real s is 2.5 simulated hours at this speed: the rise to orange comes in
    # the opening's batch (escalation on the clock is tested in test_service.py)
    assert "raised: 01589025 yellow -> orange at 27.16 ft" in result.stderr
    assert "cleared: 01589025 blue -> - at" in result.stderr
    assert "【黄色预警】Patapsco River near Catonsville, MD" in result.stdout  # Mandarin
    assert "[Alert cleared] Patapsco River near Catonsville, MD" in result.stdout  # tom.baker
    assert "floodwatch stopped." in result.stderr


def test_alerts_ack_and_db_upgrade(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    readings = demo_readings()[:64]  # up to 15:45 EST: one open alert
    clock = SimulatedClock(readings[-1].observed_at)
    app = build_app(config, clock=clock)
    app.pipeline.ingest(readings, clock.now())
    app.db.dispose()

    listed = fw("alerts", "--config", str(config), "--json")
    assert listed.returncode == 0, listed.stderr
    [alert] = json.loads(listed.stdout)
    assert (alert["level"], alert["state"], alert["acknowledged_by"]) == ("yellow", "open", None)
    assert alert["opened_at"] == "2018-05-28T04:45:00+08:00"
    table = fw("alerts", "--config", str(config))
    assert "01589025" in table.stdout and "yellow" in table.stdout

    assert fw("ack", str(alert["id"]), "--by", "nobody", "--config", str(config)).returncode == 1
    acked = fw("ack", str(alert["id"]), "--by", "li.ming", "--config", str(config))
    assert acked.returncode == 0, acked.stderr
    assert f"alert #{alert['id']} acknowledged by li.ming" in acked.stdout
    again = fw("ack", str(alert["id"]), "--by", "li.ming", "--config", str(config))
    assert again.returncode == 1 and "already acknowledged" in again.stderr
    assert fw("ack", "999", "--by", "li.ming", "--config", str(config)).returncode == 1
    assert fw("ack", "--by", "li.ming", "--config", str(config)).returncode == 2
    [after] = json.loads(fw("alerts", "--config", str(config), "--json").stdout)
    assert after["acknowledged_by"] == "li.ming" and after["next_escalation_at"] is None


def test_plugins_lists_the_built_ins() -> None:
    result = fw("plugins")
    assert result.returncode == 0
    for name in ("csv", "http_json", "console", "jsonl"):
        assert f"  {name} " in result.stdout


def test_replay_text_output_and_a_bad_readings_file(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    day = flood_day_csv(tmp_path)
    result = fw("replay", "--readings", str(day), "--ack", "leader@+25m", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "acknowledged  #1" in result.stdout and "by wang.fang" in result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("station,parameter,value,unit,observed_at\ns,stage,1.5,m,2018-05-27 10:00\n")
    result = fw("replay", "--readings", str(bad), cwd=root)
    assert result.returncode == 1
    assert f"{bad}:2:1: observed_at: '2018-05-27 10:00' has no UTC offset" in result.stderr


def test_the_default_config_is_the_demo(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    result = fw("check", cwd=root)
    assert result.returncode == 0 and "config/floodwatch.yaml: ok" in result.stdout


def test_feeds_test_prints_what_a_real_payload_parses_to(
    tmp_path: Path, http_server: LocalHTTPServer, fixtures_dir: Path
) -> None:
    payload = (fixtures_dir / "feeds/usgs_nwis/waterservices_iv.json").read_bytes()
    http_server.serve("/nwis/iv/", payload)
    feed = {"name": "usgs", "type": "usgs_iv", "interval": "15m", "sites": ["01491000", "01645000"],
            "base_url": f"{http_server.url}/nwis/iv/"}  # fmt: skip
    config = write_config(tmp_path, feeds=[feed])
    result = fw("feeds", "test", "usgs", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    got = {(r["station"], r["parameter"], r["value"], r["unit"], r["observed_at"])
           for r in map(json.loads, result.stdout.splitlines())}  # fmt: skip
    assert got == {
        ("01491000", "discharge", 439.0, "ft3/s", "2020-02-13T22:15:00+00:00"),
        ("01491000", "stage", 4.36, "ft", "2020-02-13T22:15:00+00:00"),
        ("01645000", "discharge", 260.0, "ft3/s", "2020-02-13T21:50:00+00:00"),
        ("01645000", "stage", 2.68, "ft", "2020-02-13T21:50:00+00:00"),
    }
    assert "4 reading(s), 0 warning(s) from feed usgs" in result.stderr
    table = fw("feeds", "test", "usgs", "--config", str(config))
    assert "2020-02-14 06:15 CST  01491000     stage          4.36 ft" in table.stdout
    assert fw("feeds", "test", "nope", "--config", str(config)).returncode == 2
    http_server.serve(
        "/nwis/iv/", b"<html>maintenance</html>", status=404, content_type="text/html"
    )
    failed = fw("feeds", "test", "usgs", "--config", str(config))
    assert failed.returncode == 1 and "feed usgs" in failed.stderr
