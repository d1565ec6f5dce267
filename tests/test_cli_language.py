"""The command line speaks the officer's language: its confirmations, its one-line errors and
its tables' words come from the message catalogue, in Mandarin under LANG=zh_CN.UTF-8 and in
English under LANG=en_US.UTF-8 (and when LANG is unset, C or POSIX: English is the fallback).
Machine output (JSON) stays as it is in every language.
"""

from __future__ import annotations

import json
from pathlib import Path

from floodwatch.app import build_app
from floodwatch.clock import SimulatedClock

from .helpers import TOWNSHIP_ROSTER, Ran, demo_readings, fw, write_config
from .records_support import demo_clock_config

ZH = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
EN = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"}


def zh(*args: str) -> Ran:
    return fw(*args, env=ZH)


def en(*args: str) -> Ran:
    return fw(*args, env=EN)


def last_error(ran: Ran) -> str:
    assert ran.returncode != 0, ran.stdout
    return ran.stderr.strip().splitlines()[-1]


# -- the duty desk's records: hazards, the duty log, handovers, the report ----------------------


def test_hazards_in_mandarin_and_in_english(tmp_path: Path) -> None:
    c = ("--config", str(demo_clock_config(tmp_path, "2018-05-28T09:00:00+08:00")))
    add = ("hazard", "add", *c, "--where", "河口村3组河堤", "--what", "堤脚渗水",
           "--owner", "wu.qiang", "--due", "2018-05-29", "--by", "sun.hao")  # fmt: skip
    ran = zh(*add)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == (
        "隐患 #1 已登记：河口村3组河堤：堤脚渗水；责任人 wu.qiang，整改期限 2018-05-29"
    )
    ran = en(*add)
    assert ran.stdout.strip() == (
        "hazard #2 recorded: 河口村3组河堤: 堤脚渗水; owner wu.qiang, due 2018-05-29"
    )
    assert zh("hazard", "list", *c).stdout.splitlines()[0] == (
        "#1    期限 2018-05-29  进行中   责任人 wu.qiang    河口村3组河堤：堤脚渗水"
    )  # a Mandarin state fills its column as wide as the English one
    assert en("hazard", "list", *c).stdout.splitlines()[0] == (
        "#1    due 2018-05-29  open     owner wu.qiang    河口村3组河堤: 堤脚渗水"
    )
    assert zh("hazard", "list", *c, "--overdue").stdout.strip() == "没有逾期隐患"
    assert en("hazard", "list", *c, "--overdue").stdout.strip() == "no overdue hazards"
    ran = zh("hazard", "done", "1", *c, "--by", "wu.qiang", "--note", "已加固")
    assert (
        ran.stdout.startswith("隐患 #1 已由 wu.qiang 于 2018-05-28 ") and "整改完成" in ran.stdout
    )
    shown = zh("hazard", "show", "1", *c).stdout.splitlines()
    assert shown[:2] == [
        "隐患 #1：河口村3组河堤：堤脚渗水",
        "责任人 wu.qiang，整改期限 2018-05-29，已整改",
    ]
    shown = en("hazard", "show", "1", *c).stdout.splitlines()
    assert shown[1] == "owner wu.qiang, due 2018-05-29, done"
    listed = json.loads(zh("hazard", "list", *c, "--all", "--json").stdout)
    assert [h["state"] for h in listed] == ["done", "open"]  # JSON is not translated


def test_the_duty_log_in_mandarin_and_in_english(tmp_path: Path) -> None:
    c = ("--config", str(demo_clock_config(tmp_path, "2018-05-28T09:00:00+08:00")))
    ran = zh("log", "show", *c)
    assert ran.stdout.splitlines() == [
        "值班记录 2018-05-28 00:00 – 2018-05-29 00:00（Asia/Shanghai）", "没有记录"
    ]  # fmt: skip
    assert en("log", "show", *c).stdout.splitlines()[1] == "no entries"
    ran = zh("log", "add", "县防办来电", "--by", "zhao.lei", *c)
    assert ran.stdout.startswith("值班记录 #1 已于 2018-05-28 09:0") and "写入" in ran.stdout
    ran = en("log", "add", "更正", "--by", "zhao.lei", "--corrects", "1", *c)
    assert ran.stdout.startswith("duty-log entry #2 written at 2018-05-28 09:0")
    assert ran.stdout.strip().endswith("(corrects #1)")
    lines = zh("log", "show", *c).stdout.splitlines()
    assert lines[1].endswith("[已被 #2 更正] 县防办来电") and lines[2].endswith("[更正 #1] 更正")
    assert last_error(zh("log", "show", *c, "--date", "2018-05-28", "--from", "2018-05-27")) == (
        "错误：请给出 --date，或 --from/--to，不能同时给出"
    )
    assert last_error(en("log", "show", *c, "--kind", "gossip")).startswith(
        "error: --kind: unknown kind 'gossip' (kinds: "
    )
    assert last_error(zh("log", "add", "x", "--by", "nobody", *c)) == (
        "错误：--by：未知人员 'nobody'：不在值班名单中"
    )


def test_a_handover_in_mandarin_and_in_english(tmp_path: Path) -> None:
    c = ("--config", str(demo_clock_config(tmp_path, "2018-05-28T07:50:00+08:00")))
    ran = zh("handover", *c, "--by", "sun.hao", "--note", "1号闸门已落")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "交接班记录 #1（2018-05-28 08:00 交接班）已由 sun.hao 写好"
    assert "  未解除告警：0，未整改隐患：0" in lines
    assert lines[-1] == ("由接班带班领导确认：floodwatch handover accept --by ID（或确认告警 #1）")
    assert zh("handover", "list", *c).stdout.splitlines()[0].endswith("交班人 sun.hao     未确认")
    assert (
        en("handover", "list", *c).stdout.splitlines()[0].endswith("by sun.hao     NOT CONFIRMED")
    )
    ran = zh("handover", "accept", *c, "--by", "zhao.lei")
    assert (ran.returncode, ran.stdout.strip()) == (0, "交接班记录 #1 已由 zhao.lei 确认")
    listed = zh("handover", "list", *c).stdout.splitlines()
    assert "已由 zhao.lei 确认（cli）" in listed[0]
    assert listed[1] == "      未解除告警 0，未整改隐患 0；留言：1号闸门已落"
    ran = zh("handover", *c, "--by", "sun.hao")
    assert ran.returncode == 2 and "写交接班记录需要 --by ID 和 --note TEXT" in ran.stderr
    ran = en("handover", *c, "--by", "sun.hao")
    assert "writing a handover record needs --by ID and --note TEXT" in ran.stderr


def test_the_reports_own_messages_in_mandarin_and_in_english(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    out = str(tmp_path / "no-such-folder" / "report.md")
    args = ("report", "--date", "2018-05-28", "--out", out, "--config", str(config))
    folder = tmp_path / "no-such-folder"
    assert last_error(zh(*args)) == f"错误：--out：文件夹 {folder} 不存在"
    assert last_error(en(*args)) == f"error: --out: no folder {folder}"


# -- the alerts: ack, alerts, status, check, the service's start line ---------------------------


def one_open_alert(tmp_path: Path) -> tuple[str, ...]:
    """A database with one open yellow alert on the Patapsco gauge (as in test_cli.py)."""
    config = write_config(tmp_path)
    assert fw("db", "upgrade", "--config", str(config)).returncode == 0
    readings = demo_readings()[:64]
    clock = SimulatedClock(readings[-1].observed_at)
    app = build_app(config, clock=clock)
    app.pipeline.ingest(readings, clock.now())
    app.db.dispose()
    return ("--config", str(config))


def test_alerts_and_ack_in_mandarin_and_in_english(tmp_path: Path) -> None:
    c = one_open_alert(tmp_path)
    table = zh("alerts", *c).stdout.splitlines()
    assert table[0] == (
        "编号  规则类型     站点       级别    状态     发生时间          确认 / 下次升级"
    )  # the Mandarin headings keep the columns where the English ones are
    assert table[1].startswith("   1  ") and "第 0 步，下次 2018-05-28 05:00" in table[1]
    english = en("alerts", *c).stdout.splitlines()
    assert english[0] == (
        "  ID  RULE TYPE    STATION    LEVEL   STATE    OPENED            ACK / NEXT"
    )
    assert english[1].endswith("step 0, next 2018-05-28 05:00")
    assert table[1][:60] == english[1][:60]  # the values themselves are not translated
    assert last_error(zh("ack", "1", *c)).endswith("需要 --by PERSON（或 --url 加你的令牌）")
    assert last_error(en("ack", "1", *c)).endswith(
        "--by PERSON is required (or --url with your token)"
    )
    assert zh("ack", "1", "--by", "li.ming", *c).stdout.strip() == "告警 #1 已由 li.ming 确认"
    assert "已由 li.ming 确认" in zh("alerts", *c).stdout.splitlines()[1]
    assert en("alerts", *c).stdout.splitlines()[1].endswith("acknowledged by li.ming")
    assert zh("alerts", *c, "--json").stdout == en("alerts", *c, "--json").stdout


def test_no_alerts_status_and_check_in_mandarin_and_in_english(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    c = ("--config", str(config))
    assert zh("db", "upgrade", *c).stdout.strip() == (
        f"数据库 {tmp_path / 'floodwatch.db'} 已是最新版本"
    )
    assert zh("alerts", *c).stdout.strip() == "没有未解除的告警"
    assert en("alerts", *c, "--all").stdout.strip() == "no alerts"
    ran = zh("status", *c)
    assert ran.returncode == 1
    assert ran.stdout.splitlines()[0] == f"数据库    {tmp_path / 'floodwatch.db'}：正常"
    assert ran.stdout.splitlines()[-1] == "运行异常"
    assert "问题：" in ran.stderr
    assert en("status", *c).stdout.splitlines()[-1] == "UNHEALTHY"
    checked = zh("check", *c)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{config}：无误（1 个站点，0 个数据源，")
    assert en("check", *c).stdout.startswith(f"{config}: ok (1 station(s), 0 feed(s), ")


def test_the_services_start_and_stop_lines_in_mandarin(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    ran = fw("run", "--config", str(config), "--for", "1s", env=ZH)
    assert ran.returncode == 0, ran.stderr
    assert "正在为" in ran.stderr and "按 Ctrl-C 停止。" in ran.stderr
    assert "floodwatch 已停止。" in ran.stderr
    ran = fw("run", "--config", str(config), "--for", "1s", env=EN)
    assert "Ctrl-C stops it." in ran.stderr and "floodwatch stopped." in ran.stderr


def test_send_test_and_token_refusals_in_mandarin(tmp_path: Path) -> None:
    c = ("--config", str(write_config(tmp_path)))
    assert fw("db", "upgrade", *c).returncode == 0
    ran = zh("send-test", *c, "--channel", "sms", "--to", "li.ming")
    assert ran.returncode == 2 and "没有名为 'sms' 的通知渠道（现有渠道：file）" in ran.stderr
    assert last_error(zh("send-test", *c, "--channel", "file", "--to", "nobody")) == (
        "错误：未知人员 'nobody'：不在值班名单中"
    )
    assert last_error(en("user", "token", "nobody", *c)) == (
        "error: unknown person 'nobody': not in the rosters"
    )
    issued = zh("user", "token", "li.ming", *c)
    assert issued.returncode == 0 and issued.stderr.strip() == (
        "已为 li.ming 生成新令牌；请妥善保管（不会再次显示）"
    )


# -- the village warning chain: villages, warn, moved, clear, broadcast, drill ------------------


def test_the_village_chain_in_mandarin_and_in_english(tmp_path: Path) -> None:
    from .test_villages_desk import ON_DUTY
    from .villages_support import DEMO_VILLAGES, VILLAGE_ROSTER

    villages = DEMO_VILLAGES.read_text(encoding="utf-8").replace("village-speakers", "speakers")
    (tmp_path / "villages.yaml").write_text(villages, encoding="utf-8")
    config = write_config(
        tmp_path, rosters=[str(TOWNSHIP_ROSTER), str(VILLAGE_ROSTER)], villages=["villages.yaml"],
        notifiers=[
            {"name": "file", "type": "jsonl", "path": "pages.jsonl"},
            {"name": "speakers", "type": "broadcast_mqtt", "port": 9, "timeout": "0.2s"},
        ],
        cap={"sender": "fxb@shifan.example.cn"}, clock={"start": ON_DUTY, "speed": 1},
    )  # fmt: skip
    c = ("--config", str(config))
    assert fw("db", "upgrade", *c).returncode == 0
    warned = zh("villages", "warn", "hekou", "--level", "prepare", "--by", "li.ming", *c)
    assert warned.returncode == 0, warned.stderr
    assert warned.stdout.startswith("hekou：已发布准备转移（prepare）；叫应告警 #")
    chain = zh("villages", *c).stdout
    assert "河口村 (hekou)  108户335人  准备转移（prepare）自 2026-06-01 10:0" in chain
    assert "未应答" in chain and "柳林村 (liulin)  84户260人  无预警" in chain
    assert "  已转移：0户0人（0 份报告）" in chain
    english = en("villages", *c).stdout
    assert "NOT ANSWERED" in english and "  moved: 0户0人 (0 report(s))" in english
    moved = zh("villages", "moved", "hekou", "--households", "12", "--people", "35",
               "--by", "zhang.jianguo", *c)  # fmt: skip
    assert moved.stdout.strip() == "hekou：zhang.jianguo 报告已转移 12户35人；累计 12户35人"
    assert "已于 2026-06-01 10:0" in zh("villages", *c).stdout  # zhang.jianguo's answer
    cleared = zh("villages", "clear", "hekou", "--by", "li.ming", *c)
    assert cleared.stdout.strip() == "hekou：准备转移（prepare）已由 li.ming 解除"
    sent = zh("broadcast", "--villages", "hekou,liulin", "--text", "今晚有大暴雨，请不要到河边。",
              "--by", "sun.hao", *c)  # fmt: skip
    assert sent.stdout.strip().endswith("4 个大喇叭已排队待播")
    ran = zh("drill", "--level", "orange", *c)
    assert ran.returncode == 2 and "演练需要 --station, --by（或 --report ID）" in ran.stderr


# -- the roster: who, show, gaps, ical ----------------------------------------------------------


def test_the_roster_in_mandarin_and_in_english(tmp_path: Path) -> None:
    c = ("--config", str(write_config(tmp_path, rules=[])))
    who = zh("roster", "who", *c, "--at", "2026-06-03 10:00").stdout.splitlines()
    assert who[0] == "2026-06-03 10:00 CST（Asia/Shanghai）在岗人员"
    assert who[-1] == "下次交接班：2026-06-04 08:00 CST"
    who = en("roster", "who", *c, "--at", "2026-06-03 10:00").stdout.splitlines()
    assert (who[0], who[-1]) == (
        "On duty at 2026-06-03 10:00 CST (Asia/Shanghai)", "Next handover: 2026-06-04 08:00 CST"
    )  # fmt: skip
    table = zh("roster", "show", *c, "--from", "2026-06-01", "--days", "1").stdout.splitlines()
    assert table[1] == "2026-06-01 至 2026-06-01，时间为 Asia/Shanghai 时间"
    assert table[3].startswith("班次" + " " * 29 + "  ")
    assert table[4].startswith("2026-06-01 周一 08:00 - ")
    assert "联系方式：" in table
    table = en("roster", "show", *c, "--from", "2026-06-01", "--days", "1").stdout.splitlines()
    assert table[4].startswith("2026-06-01 Mon 08:00 - ") and "Contacts:" in table
    gaps = zh("roster", "gaps", *c, "--from", "2026-06-01", "--days", "1")
    assert gaps.returncode == 0 and gaps.stdout.startswith("没有缺口：2026-06-01 08:00 - ")
    ran = zh("roster", "ical", *c, "--person", "nobody")
    assert ran.returncode == 2 and "值班名单中没有人员 'nobody'" in ran.stderr
    ran = en("roster", "who", *c, "--at", "2026-06-03")
    assert ran.returncode == 2 and 'give a time too, e.g. "2026-06-03 08:00"' in ran.stderr
    ran = zh("roster", "who", *c, "--at", "2026-06-03")
    assert '请同时给出时刻，例如 "2026-06-03 08:00"' in ran.stderr
