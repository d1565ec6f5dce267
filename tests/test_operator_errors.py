"""What an operator sees when the database is missing, unreachable or read-only, or an argument
is absurd: one line and exit 1 (2 for usage), never a traceback, and nothing created by a
command that only reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from floodwatch.app import build_app
from floodwatch.clock import SimulatedClock
from floodwatch.notify.dispatcher import Dispatcher
from floodwatch.store.db import describe_database_error, schema_head
from floodwatch.store.models import PageRow

from .helpers import demo_readings, fw, pages_in, write_config


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_read_only_commands_never_create_a_database(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    db = tmp_path / "floodwatch.db"
    for args in (["alerts"], ["alerts", "--json"], ["ack", "1", "--by", "li.ming"]):
        result = fw(*args, "--config", str(config))
        assert result.returncode == 1
        assert one_error_line(result.stderr) == (
            f"error: no database at {db}; run `floodwatch db upgrade`"
        )
        assert not db.exists()
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    assert db.is_file()
    assert fw("alerts", "--config", str(config)).stdout.strip() == "no open alerts"


def test_a_relative_sqlite_path_is_relative_to_the_config_file_wherever_the_command_runs(
    tmp_path: Path,
) -> None:
    office = tmp_path / "office"
    office.mkdir()
    config = write_config(office, database="sqlite:///data/fw.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    upgraded = fw("db", "upgrade", "--config", str(config), cwd=elsewhere)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"database {office / 'data' / 'fw.db'} is up to date"
    assert (office / "data" / "fw.db").is_file()
    assert list(elsewhere.iterdir()) == []
    relative = os.path.relpath(config, elsewhere)
    assert fw("alerts", "--config", relative, cwd=elsewhere).returncode == 0


def test_an_older_schema_is_named_with_the_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    app = build_app(config)
    app.db.upgrade()
    with app.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    app.db.dispose()
    result = fw("alerts", "--config", str(config))
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        f"error: {tmp_path / 'floodwatch.db'} has schema 0001, this floodwatch needs "
        f"{schema_head()}; "
        "run `floodwatch db upgrade`"
    )


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, database="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    for args in (["alerts"], ["db", "upgrade"], ["ack", "1", "--by", "li.ming"]):
        result = fw(*args, "--config", str(config))
        assert result.returncode == 1
        line = one_error_line(result.stderr)
        assert line.startswith("error: database unreachable: ") and "127.0.0.1" in line


def test_a_database_that_does_not_exist_on_the_server_is_named(
    tmp_path: Path, postgres_url: str
) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/floodwatch_no_such_db"
    config = write_config(tmp_path, database=missing)
    result = fw("alerts", "--config", str(config))
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line.startswith("error: no database at postgresql+psycopg://")
    assert line.endswith("/floodwatch_no_such_db; run `floodwatch db upgrade`")


def test_a_bad_database_url_is_refused_at_its_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, database="mysql://root@localhost/fw")
    result = fw("check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}:" in result.stderr
    assert "database: floodwatch runs on sqlite or postgresql, not 'mysql'" in result.stderr
    config = write_config(tmp_path, database="not a url at all")
    result = fw("alerts", "--config", str(config))
    assert result.returncode == 1 and "database: not a database URL: 'not a url at all'" in (
        result.stderr
    )


def test_a_database_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    # the tests run as root, where permission bits stop nothing: /sys refuses any new entry
    config = write_config(tmp_path, database="sqlite:////sys/floodwatch/fw.db")
    result = fw("db", "upgrade", "--config", str(config))
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "error: /sys/floodwatch: Operation not permitted"


def test_a_read_only_database_file_is_one_line(tmp_path: Path) -> None:
    # as root, permission bits do not stop a write; a file SQLite opens read-only does: the
    # database is upgraded, then opened through a read-only URI
    config = write_config(tmp_path)
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    ro = f"sqlite:///file:{tmp_path / 'floodwatch.db'}?mode=ro&uri=true"
    clock = SimulatedClock(demo_readings()[64].observed_at)
    app = build_app(config, clock=clock, database_url=ro)
    with pytest.raises(SQLAlchemyError) as caught:
        app.pipeline.ingest(demo_readings()[:65], clock.now())
    assert describe_database_error(caught.value).startswith(  # type: ignore[arg-type]
        "the database is read-only: attempt to write a readonly database"
    )


@pytest.mark.parametrize("alert_id", ["0", "99999999999999999999", "2147483648", "x"])
def test_an_absurd_alert_id_is_a_usage_error(tmp_path: Path, alert_id: str) -> None:
    config = write_config(tmp_path)
    result = fw("ack", alert_id, "--by", "li.ming", "--config", str(config))
    assert result.returncode == 2
    assert "Invalid value for 'ALERT_ID'" in result.stderr


def test_idempotency_keys_are_unique_per_installation(tmp_path: Path) -> None:
    # the jsonl file outlives its database: a fresh database's pages must not be taken for the
    # old pages in the file (same event ids, same people) and dropped as already delivered
    config = write_config(tmp_path)
    flood = demo_readings()
    readings = flood[: next(i for i, r in enumerate(flood) if r.value >= 20) + 1]  # it opens
    keys = []
    for _ in range(2):
        clock = SimulatedClock(readings[-1].observed_at)
        app = build_app(config, clock=clock)
        app.db.upgrade()
        app.pipeline.ingest(readings, clock.now())
        Dispatcher(app.db, app.notifiers, app.config.settings.delivery, "t").deliver_due(
            clock.now()
        )
        with app.db.sessions() as s:
            keys.append(sorted(s.scalars(select(PageRow.idempotency_key))))
            assert set(s.scalars(select(PageRow.status))) == {"delivered"}
        app.db.dispose()
        (tmp_path / "floodwatch.db").unlink()  # a fresh database, the same pages file
        for extra in tmp_path.glob("floodwatch.db-*"):
            extra.unlink()
    first, second = keys
    assert len(first) == len(second) == 2
    assert {k.split(":", 1)[1] for k in first} == {k.split(":", 1)[1] for k in second}
    assert not set(first) & set(second)
    assert len(pages_in(tmp_path / "pages.jsonl")) == 4  # both databases' pages were written


def test_the_demo_config_puts_its_database_beside_the_pages_file() -> None:
    from .helpers import DEMO_CONFIG, ROOT

    settings = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    app_db = build_app(DEMO_CONFIG).db
    assert app_db.file == ROOT / "var" / "demo.db"
    pages = next(n for n in settings["notifiers"] if n["type"] == "jsonl")["path"]
    assert (DEMO_CONFIG.parent / pages).resolve().parent == ROOT / "var"
