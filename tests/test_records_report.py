"""The daily report (floodwatch.records.report and friends) of a replayed flood day: its figures
are the events, counted here independently; its picture has the warning levels; its PDF has its
pages; it is sent at the set time, once a day."""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy
import pytest
from PIL import Image
from sqlalchemy import select

from floodwatch.app import App
from floodwatch.clock import SimulatedClock
from floodwatch.records import dutylog
from floodwatch.records.fonts import MissingFont, cjk_font
from floodwatch.records.report import DailyReport
from floodwatch.store.models import (
    AlertRow,
    EventRow,
    HazardEventRow,
    LogEntryRow,
    PageRow,
)

from .conftest import need_service
from .helpers import fw
from .records_support import (
    DAY,
    DAY_END,
    DAY_START,
    Script,
    at,
    records_app,
    run_day,
)
from .roster_support import SHANGHAI

FLOOD_DAY = date.fromisoformat(DAY)


def need_cjk_font() -> str:
    try:
        return cjk_font()
    except MissingFont as exc:
        need_service("a CJK font", False, str(exc))
        raise  # need_service skipped or failed


@dataclass
class Day:
    app: App
    clock: SimulatedClock
    report: DailyReport


def acknowledge_the_flood(app: App, now: datetime) -> None:
    with app.db.sessions() as s:
        [alert] = s.scalars(select(AlertRow.id).where(AlertRow.rule_type == "threshold")).all()
    app.lifecycle.acknowledge(alert, "wang.fang", "sms", now)


def confirm_the_handover(app: App, now: datetime) -> None:
    row = app.handover_book.waiting()
    assert row.alert_id is not None
    app.lifecycle.acknowledge(row.alert_id, "zhao.lei", "sms", now)


def write_the_log(app: App, now: datetime) -> None:
    with app.db.transaction() as s:
        first = dutylog.add(s, now, "zhao.lei", "县防办来电，要求加密巡查", "call")
        dutylog.add(s, now, "zhao.lei", "县防办来电，要求每2小时巡查一次", "call", first.id)


def flood_script() -> Script:
    """What the people on duty do on 28 May (Shanghai): the leader answers 25 minutes after the
    alert opens, the outgoing officer writes the handover record, the incoming leader confirms
    it by SMS, hazards are found and one is rectified, the leader logs a call and corrects it."""
    s = Script()
    s.at(at("2018-05-28 04:55"), acknowledge_the_flood)
    s.at(at("2018-05-28 07:45"),
         lambda app, now: app.handover_book.write("sun.hao", "1号闸门已落，注意下游水位", now))  # fmt: skip
    s.at(at("2018-05-28 08:20"), confirm_the_handover)
    s.at(at("2018-05-28 09:00"), lambda app, now: app.hazards.add(
        "河口村3组河堤", "堤脚渗水", "wu.qiang", FLOOD_DAY, "wu.qiang", now, village="河口村"))  # fmt: skip
    s.at(at("2018-05-28 09:10"), lambda app, now: app.hazards.add(
        "S305桥头", "护栏被冲毁", "tom.baker", date(2018, 5, 30), "wu.qiang", now))  # fmt: skip
    s.at(at("2018-05-28 10:00"), write_the_log)
    s.at(at("2018-05-28 11:00"),
         lambda app, now: app.hazards.done(2, "tom.baker", "已设临时护栏", now))  # fmt: skip
    return s


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    tmp = tmp_path_factory.mktemp("flood-day")
    app, clock = records_app(tmp, at("2018-05-27 13:00"))
    run_day(app, clock, flood_script(), DAY_END)
    return Day(app, clock, app.reports.reader.read(FLOOD_DAY, clock.now()))


def events(app: App, *types: str) -> list[EventRow]:
    """Events in the report's day, counted straight from the table."""
    with app.db.sessions() as s:
        return list(
            s.scalars(
                select(EventRow)
                .where(EventRow.type.in_(types), EventRow.at >= DAY_START, EventRow.at < DAY_END)
                .order_by(EventRow.at, EventRow.id)
            )
        )


# -- the figures are the events ------------------------------------------------------------------


def test_every_alert_of_the_day_with_its_first_answer_and_who_gave_it(day: Day) -> None:
    opened = [e for e in events(day.app, "opened") if e.data["rule_type"] != "handover"]
    assert [a.id for a in day.report.alerts] == [e.alert_id for e in opened] and len(opened) == 1
    [alert] = day.report.alerts
    answers = [e for e in events(day.app, "acknowledged") if e.alert_id == alert.id]
    assert [(a.person, a.via, a.at) for a in alert.answers] == [
        ("王芳 (wang.fang)", e.data["via"], e.at) for e in answers
    ]
    assert alert.minutes_to_ack == 25  # opened 04:30, answered 04:55
    assert (alert.peak_level, alert.state) == ("orange", "cleared")
    # the shading follows the level through the day: yellow, orange, yellow, blue
    [station] = day.report.stations
    assert [s.level for s in station.alerts] == ["yellow", "orange", "yellow", "blue"]
    changes = events(day.app, "opened", "raised", "lowered")
    assert [s.start for s in station.alerts] == [e.at for e in changes if e.alert_id == alert.id]


def test_pages_sent_and_failed_per_channel_are_the_delivery_events(day: Day) -> None:
    counted: Counter[tuple[str, str]] = Counter(
        (e.data["channel"], e.type) for e in events(day.app, "page_sent", "page_failed")
    )
    assert day.report.pages == {
        channel: {
            "queued": len(
                [e for e in events(day.app, "page_queued") if e.data["channel"] == channel]
            ),
            "sent": counted[(channel, "page_sent")],
            "failed": counted[(channel, "page_failed")],
            "unknown": 0,
        }  # fmt: skip
        for channel in ("file", "sms")
    }
    # the sms channel refuses tom.baker: every page to him there failed, and nothing else did
    with day.app.db.sessions() as s:
        failed = s.scalars(select(PageRow.person).where(PageRow.status == "failed")).all()
    assert set(failed) == {"tom.baker"}
    assert day.report.pages["sms"]["failed"] == len(failed) > 0


def test_the_handover_with_its_record_note_and_confirmation(day: Day) -> None:
    assert len(events(day.app, "handover")) == len(day.report.handovers) == 1
    [h] = day.report.handovers
    assert h.at == at("2018-05-28 08:00")
    assert h.outgoing["带班领导"] == ("王芳 (wang.fang)",)
    assert h.incoming["值班员"] == ("吴强 (wu.qiang)", "Tom Baker (tom.baker)")
    assert (h.record, h.note, h.open_alerts) == (1, "1号闸门已落，注意下游水位", 1)
    [accepted] = events(day.app, "handover_accepted")
    assert (h.accepted_by, h.accepted_via, h.accepted_at) == (
        "赵磊 (zhao.lei)",
        accepted.data["via"],
        accepted.at,
    )
    stints = [(s.title, s.people) for s in day.report.stints]
    assert stints == [
        ("带班领导", ("王芳 (wang.fang)",)), ("带班领导", ("赵磊 (zhao.lei)",)),
        ("值班员", ("孙浩 (sun.hao)", "周敏 (zhou.min)")),
        ("值班员", ("吴强 (wu.qiang)", "Tom Baker (tom.baker)")),
    ]  # fmt: skip


def test_hazards_new_done_overdue_and_the_rectification_rate(day: Day) -> None:
    with day.app.db.sessions() as s:
        kinds = Counter(s.scalars(select(HazardEventRow.kind)))
    h = day.report.hazards
    assert (len(h.new), len(h.done)) == (kinds["added"], kinds["done"]) == (2, 1)
    assert [x.id for x in h.overdue] == [1]  # due on the day, not done by its end
    assert (h.total, h.rectified, h.rate) == (2, 1, 0.5)


def test_the_log_is_every_entry_of_the_day_corrections_marked(day: Day) -> None:
    with day.app.db.sessions() as s:
        entries = s.scalars(
            select(LogEntryRow.id).where(LogEntryRow.at >= DAY_START, LogEntryRow.at < DAY_END)
        ).all()
    assert [e.id for e in day.report.log] == sorted(entries)
    [first, fix] = [e for e in day.report.log if e.author == "zhao.lei"]
    assert (first.corrected_by, fix.corrects) == ((fix.id,), first.id)
    # one automatic entry for each event the log keeps, no more (no double from a module)
    kept = [e for e in events(day.app, *dutylog.LOGGED) if _logged(e)]
    assert len([e for e in day.report.log if e.author == dutylog.SYSTEM]) == len(kept)


def _logged(e: EventRow) -> bool:
    # alert changes of handover alerts are told by handover_written / handover_accepted
    return not (e.type in ("opened", "cleared") and e.data.get("rule_type") == "handover")


def test_the_markdown_report_reads_like_the_day(day: Day, tmp_path: Path) -> None:
    need_cjk_font()
    made = day.app.reports.make(FLOOD_DAY, day.clock.now(), "md", tmp_path / "day.md")
    text = (tmp_path / "day.md").read_text(encoding="utf-8")
    assert made.files == [tmp_path / "day.md", tmp_path / "day-01589025.png"]
    assert (
        "![Patapsco River near Catonsville, MD 水情过程线" in text and "(day-01589025.png)" in text
    )
    assert "| #1 | Patapsco River near Catonsville, MD | 水位阈值 | 橙色 | 04:30 |" in text
    assert "25 分钟 | 王芳 (wang.fang)，短信，04:55 |" in text
    assert "赵磊 (zhao.lei) 08:20 经短信确认（20 分钟）" in text
    assert "整改率 50%" in text and "本时段无预警广播" in text
    assert "（更正 #" in text and "（已由 #" in text


# -- the picture and the PDF ----------------------------------------------------------------------


def test_the_hydrograph_has_the_warning_levels_and_the_alert_shaded(day: Day) -> None:
    from floodwatch.records import hydrograph

    font = need_cjk_font()
    [station] = day.report.stations
    fig = hydrograph.figure(station, DAY_START, DAY_END, SHANGHAI, font, "t")
    stage = next(
        ax for ax in fig.axes if any(line.get_gid() == "series:stage" for line in ax.lines)
    )
    levels = {line.get_gid(): line.get_ydata()[0] for line in stage.lines
              if str(line.get_gid()).startswith("level:")}  # fmt: skip
    assert levels == {"level:blue": 18, "level:yellow": 20, "level:orange": 25}
    assert {p.get_gid() for p in stage.patches} == {"alert:1"}
    low, high = stage.get_ylim()
    assert low < 18 and high > 27.16  # every level line and the crest are in view

    png = day.app.reports.pictures(day.report, font)["01589025"]
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] > 800
    # the dashed level lines are there, in their colours
    for colour in ("#1565c0", "#e6b800", "#ef6c00"):
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert _pixels(image, rgb) > 100, colour


def _pixels(image: Image.Image, rgb: tuple[int, ...]) -> int:
    pixels = numpy.asarray(image, dtype=numpy.int16)
    return int((abs(pixels - numpy.array(rgb)) < 12).all(axis=2).sum())


def test_the_pdf_has_its_pages(day: Day, tmp_path: Path) -> None:
    need_cjk_font()
    out = tmp_path / "day.pdf"
    made = day.app.reports.make(FLOOD_DAY, day.clock.now(), "pdf", out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
    assert pages == made.pages >= 3  # the text, the picture, the tables and the log
    assert re.search(rb"/Count\s+%d\b" % pages, data)
    assert b"/Subtype /Image" in data  # the hydrograph
    assert b"/Type3" in data or b"/Type /Font" in data


def test_html_is_one_file_with_the_picture_inside(day: Day) -> None:
    need_cjk_font()
    made = day.app.reports.make(FLOOD_DAY, day.clock.now(), "html")
    assert made.text is not None and made.files == []
    assert made.text.count("data:image/png;base64,") == 1
    assert "<h2>三、告警</h2>" in made.text and '<html lang="zh-CN">' in made.text


def test_without_a_cjk_font_it_says_which_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(MissingFont, match="fonts-noto-cjk"):
        cjk_font(families=(), files=())
    with pytest.raises(MissingFont, match="no font file at"):
        cjk_font(tmp_path / "none.ttc")
    not_cjk = tmp_path / "latin.ttf"
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    not_cjk.write_bytes(dejavu.read_bytes())
    with pytest.raises(MissingFont, match="has no Chinese characters.*fonts-noto-cjk"):
        cjk_font(not_cjk)


def test_the_report_command_fails_in_one_line_when_the_font_is_missing(tmp_path: Path) -> None:
    from .helpers import write_config

    config = write_config(tmp_path, report={"font": "no-such-font.ttc"})
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    ran = fw("report", "--config", str(config), "--date", DAY, "--format", "pdf",
             "--out", str(tmp_path / "r.pdf"))  # fmt: skip
    assert ran.returncode == 1
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith("error: report.font: no font file at") and "fonts-noto-cjk" in line
    # markdown on the terminal draws no picture: it needs no font
    ran = fw("report", "--config", str(config), "--date", DAY)
    assert ran.returncode == 0 and "值班日报 2018-05-28" in ran.stdout


# -- sent at the set time -------------------------------------------------------------------------


def test_the_report_is_sent_at_the_set_time_once_a_day(tmp_path: Path) -> None:
    need_cjk_font()
    app, clock = records_app(
        tmp_path, at("2018-05-29 07:00"),
        report={"at": "08:00", "to": ["li.ming", "zhao.lei"], "format": "pdf", "dir": "reports"},
    )  # fmt: skip
    assert app.records.tick(clock.now()) == 0  # before 08:00
    clock.set(at("2018-05-29 08:00"))
    assert app.records.tick(clock.now()) == 2 * 2  # two people, two channels
    with app.db.sessions() as s:
        pages = s.scalars(select(PageRow).where(PageRow.role == "report")).all()
    assert {p.person for p in pages} == {"li.ming", "zhao.lei"}
    assert all("2018-05-28值班日报" in p.body and "reports/report-2018-05-28.pdf" in p.body
               for p in pages)  # fmt: skip
    assert (tmp_path / "reports" / "report-2018-05-28.pdf").read_bytes().startswith(b"%PDF-")
    [sent] = _all_events(app, "report_sent")
    assert sent.data["date"] == "2018-05-28" and sent.data["to"] == ["li.ming", "zhao.lei"]
    clock.set(at("2018-05-29 20:00"))
    assert app.records.tick(clock.now()) == 0  # once a day
    clock.set(at("2018-05-30 08:01"))
    assert app.records.tick(clock.now()) == 4  # and the next day again


def _all_events(app: App, kind: str) -> list[EventRow]:
    with app.db.sessions() as s:
        return list(s.scalars(select(EventRow).where(EventRow.type == kind)))


def test_a_markdown_report_is_sent_whole(tmp_path: Path) -> None:
    need_cjk_font()
    app, clock = records_app(tmp_path, at("2018-05-29 09:00"),
                             report={"at": "08:00", "to": ["li.ming"], "dir": "reports"})  # fmt: skip
    assert app.records.tick(clock.now()) == 2
    with app.db.sessions() as s:
        body = s.scalars(select(PageRow.body).where(PageRow.person == "li.ming")).first()
    assert body is not None and "## 三、告警" in body and "本时段无告警" in body
    assert (tmp_path / "reports" / "report-2018-05-28-01589025.png").is_file()


def test_the_readme_shows_this_days_report(day: Day) -> None:
    from floodwatch.records import document

    from .helpers import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Daily report (值班日报)", 1)[1]
    excerpt = section.split("```markdown\n", 1)[1].split("```", 1)[0]
    text = document.markdown(document.blocks(day.report), {})
    missing = [line for line in excerpt.splitlines() if line and line not in text.splitlines()]
    assert missing == []
    assert (ROOT / "config" / "demo-report.png").read_bytes().startswith(b"\x89PNG")


def test_the_loudspeakers_sounded_are_in_the_broadcasts_section(tmp_path: Path) -> None:
    from floodwatch.events import EVENT_TYPES
    from floodwatch.records import document
    from floodwatch.store.events import record

    app, clock = records_app(tmp_path, at("2018-05-28 10:00"))
    with app.db.transaction() as s:
        record(s, clock.now(), EVENT_TYPES["broadcast"](
            by="zhao.lei", villages=["河口村"], loudspeakers=["hk-1"], text="河水上涨，请勿靠近河边"))  # fmt: skip
    report = app.reports.reader.read(FLOOD_DAY, at("2018-05-28 12:00"))
    assert report.broadcasts == ((at("2018-05-28 10:00"),
                                  "zhao.lei 向 河口村 大喇叭广播：河水上涨，请勿靠近河边"),)  # fmt: skip
    text = document.markdown(document.blocks(report), {})
    assert "| 10:00 | zhao.lei 向 河口村 大喇叭广播：河水上涨，请勿靠近河边 |" in text
