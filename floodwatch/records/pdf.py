"""The daily report as a PDF: the document's blocks laid out on A4 pages with matplotlib's
PdfPages (no other PDF library), the text in the report's CJK font, embedded."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Mapping
from datetime import datetime

import matplotlib
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.lines import Line2D

from floodwatch.records.document import Block, Heading, Para, Picture, Table
from floodwatch.records.hydrograph import style

WIDTH, HEIGHT = 8.27, 11.69  # A4, inches
MARGIN = 0.6
USABLE = WIDTH - 2 * MARGIN
SIZES = {1: 15.0, 2: 12.0, 3: 10.0}
BODY, CELL = 8.5, 7.0
LEADING = 1.45
PAD = 0.04  # inches around a table cell's text


def text_width(text: str, size: float) -> float:
    """Inches a line of text takes: a CJK character is about 1 em, others about half."""
    ems = sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.55 for ch in text)
    return ems * size / 72


def wrap(text: str, size: float, width: float) -> list[str]:
    """Lines of at most `width` inches (broken anywhere: Chinese has no spaces to break at)."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for ch in paragraph:
            if line and text_width(line + ch, size) > width:
                out.append(line)
                line = ""
            line += ch
        out.append(line)
    return out


class _Pages:
    """A cursor going down A4 pages."""

    def __init__(self, pdf: PdfPages, footer: str) -> None:
        self.pdf = pdf
        self.footer = footer
        self.count = 0
        self.fig: Figure | None = None
        self.y = 0.0  # inches from the top

    def page(self) -> Figure:
        if self.fig is None:
            self.fig = Figure(figsize=(WIDTH, HEIGHT))
            self.count += 1
            self.y = MARGIN
        return self.fig

    def room(self, height: float) -> Figure:
        """The page to draw `height` inches on: this one if it fits, else a new one."""
        fig = self.page()
        if self.y + height > HEIGHT - MARGIN and self.y > MARGIN:
            self.finish()
            fig = self.page()
        return fig

    def finish(self) -> None:
        if self.fig is not None:
            self.fig.text(0.5, 0.3 / HEIGHT, f"{self.footer}　第 {self.count} 页", ha="center",
                          fontsize=7, color="#757575")  # fmt: skip
            self.pdf.savefig(self.fig)  # type: ignore[no-untyped-call]
            self.fig = None

    def text(self, line: str, size: float, x: float = MARGIN, **kw: object) -> None:
        height = size * LEADING / 72
        fig = self.room(height)
        fig.text(x / WIDTH, 1 - (self.y + size / 72) / HEIGHT, line, fontsize=size, **kw)  # type: ignore[arg-type]
        self.y += height


def render(
    parts: list[Block], pictures: Mapping[str, bytes], font: str, title: str, made: datetime
) -> tuple[bytes, int]:
    """The PDF's bytes and its number of pages."""
    out = io.BytesIO()
    with matplotlib.rc_context(style(font)), PdfPages(out, metadata={
        "Title": title, "Creator": "floodwatch", "CreationDate": made,
    }) as pdf:  # fmt: skip
        pages = _Pages(pdf, title)
        for b in parts:
            if isinstance(b, Heading):
                size = SIZES.get(b.level, BODY)
                pages.y += size / 72 * 0.4
                for line in wrap(b.text, size, USABLE):
                    pages.text(line, size, weight="bold" if b.level < 3 else "normal")
            elif isinstance(b, Para):
                for line in wrap(b.text, BODY, USABLE):
                    pages.text(line, BODY)
                pages.y += BODY / 72 * 0.5
            elif isinstance(b, Table):
                _table(pages, b)
            elif isinstance(b, Picture) and b.station in pictures:
                _picture(pages, pictures[b.station], b.caption)
        pages.finish()
        count = pages.count
    return out.getvalue(), count


def _table(pages: _Pages, t: Table) -> None:
    columns = len(t.header)
    natural = [
        max(text_width(row[i], CELL) for row in (t.header, *t.rows)) + 2 * PAD
        for i in range(columns)
    ]
    # every column gets what it needs up to an even share; the rest goes to the wide ones
    share = USABLE / columns
    widths = [min(n, share) for n in natural]
    spare = USABLE - sum(widths)
    wide = [i for i in range(columns) if natural[i] > share]
    need = sum(natural[i] - share for i in wide)
    for i in wide:
        widths[i] += spare * (natural[i] - share) / need if need else 0
    line_h = CELL * LEADING / 72

    def row(cells: tuple[str, ...], bold: bool) -> None:
        wrapped = [wrap(c, CELL, w - 2 * PAD) for c, w in zip(cells, widths, strict=True)]
        height = max(len(w) for w in wrapped) * line_h + 2 * PAD
        fig = pages.room(height)
        if pages.y == MARGIN and not bold:  # a new page: the header again
            row(t.header, True)
            fig = pages.page()
        x = MARGIN
        for lines, w in zip(wrapped, widths, strict=True):
            for k, line in enumerate(lines):
                top = pages.y + PAD + k * line_h + CELL / 72
                fig.text((x + PAD) / WIDTH, 1 - top / HEIGHT, line, fontsize=CELL,
                         weight="bold" if bold else "normal")  # fmt: skip
            x += w
        bottom = 1 - (pages.y + height) / HEIGHT
        fig.add_artist(Line2D([MARGIN / WIDTH, (WIDTH - MARGIN) / WIDTH], [bottom, bottom],
                              color="#9e9e9e" if bold else "#e0e0e0", linewidth=0.6))  # fmt: skip
        pages.y += height

    row(t.header, True)
    for cells in t.rows:
        row(cells, False)
    pages.y += BODY / 72 * 0.6


def _picture(pages: _Pages, png: bytes, caption: str) -> None:
    image = imread(io.BytesIO(png), format="png")
    h_px, w_px = image.shape[:2]
    width = USABLE
    height = min(width * h_px / w_px, HEIGHT - 2 * MARGIN - 0.4)
    width = height * w_px / h_px
    fig = pages.room(height + 0.3)
    ax = fig.add_axes((MARGIN / WIDTH, 1 - (pages.y + height) / HEIGHT, width / WIDTH,
                       height / HEIGHT))  # fmt: skip
    ax.imshow(image, interpolation="antialiased")
    ax.set_axis_off()
    pages.y += height + 0.05
    pages.text(caption, CELL, color="#616161")
    pages.y += 0.1
