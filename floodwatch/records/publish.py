"""A day's report made into a file: markdown (with its hydrographs as PNG files beside it), one
HTML file (pictures inline), or a PDF. matplotlib is imported only when a picture is drawn."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from floodwatch.records import document
from floodwatch.records.report import DailyReport, DayReader

Format = Literal["md", "html", "pdf"]
FORMATS: tuple[Format, ...] = ("md", "html", "pdf")


@dataclass(frozen=True)
class Made:
    """A report made: its text (markdown, HTML) or bytes (PDF), the files written, the PDF's
    page count."""

    report: DailyReport
    text: str | None = None
    data: bytes | None = None
    files: list[Path] = field(default_factory=list)
    pages: int = 0


class ReportMaker:
    def __init__(self, reader: DayReader, font_file: str | Path | None = None) -> None:
        self.reader = reader
        self.font_file = font_file

    def font(self) -> str:
        """The CJK font's family (MissingFont when the machine has none)."""
        from floodwatch.records.fonts import cjk_font

        return cjk_font(self.font_file)

    def pictures(self, report: DailyReport, font: str) -> dict[str, bytes]:
        """Each station's hydrograph as PNG bytes."""
        from floodwatch.records import hydrograph

        zone = ZoneInfo(report.zone_name)
        out = {}
        for st in report.stations:
            title = f"{st.name}（{st.station}）{report.day.isoformat()} 水情过程线"
            fig = hydrograph.figure(st, report.start, report.end, zone, font, title)
            out[st.station] = hydrograph.png(fig, font)
        return out

    def make(self, day: date, now: datetime, fmt: Format, out: Path | None = None) -> Made:
        """The report of `day` in `fmt`, written to `out` when given (markdown's pictures go
        beside it as OUT-STATION.png). Markdown without `out` has no pictures and needs no
        font; the other formats need one."""
        report = self.reader.read(day, now)
        parts = document.blocks(report)
        title = document.title(report)
        if fmt == "md":
            if out is None:
                return Made(report, text=document.markdown(parts, {}))
            font = self.font()
            files = []
            names = {}
            for station, png in self.pictures(report, font).items():
                picture = out.with_name(f"{out.stem}-{_safe(station)}.png")
                picture.write_bytes(png)
                files.append(picture)
                names[station] = picture.name
            text = document.markdown(parts, names)
            out.write_text(text, encoding="utf-8")
            return Made(report, text=text, files=[out, *files])
        font = self.font()
        pictures = self.pictures(report, font)
        if fmt == "html":
            text = document.as_html(parts, pictures, title)
            if out is not None:
                out.write_text(text, encoding="utf-8")
            return Made(report, text=text, files=[out] if out else [])
        from floodwatch.records import pdf

        data, pages = pdf.render(parts, pictures, font, title, now)
        if out is not None:
            out.write_bytes(data)
        return Made(report, data=data, files=[out] if out else [], pages=pages)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
