"""A station's hydrograph for the console: the last 24 hours drawn by records.hydrograph (the
daily report's drawing, with its level lines and alert shading), as PNG bytes."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from floodwatch.records.fonts import MissingFont, cjk_font
from floodwatch.records.hydrograph import figure, png
from floodwatch.records.report import DayReader

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
FALLBACK_FONT = "DejaVu Sans"  # matplotlib's own: Chinese labels become boxes, the lines stay

# matplotlib's rc_context changes process-wide settings for the drawing's length: one at a time
_DRAWING = threading.Lock()


class Charts:
    def __init__(self, reader: DayReader, zone: ZoneInfo, font_file: str | None = None) -> None:
        self.reader = reader
        self.zone = zone
        self.font_file = font_file
        self._font: str | None = None

    def font(self) -> str:
        if self._font is None:
            try:
                self._font = cjk_font(self.font_file)
            except MissingFont as exc:
                log.warning("hydrographs: %s; drawing with %s", exc, FALLBACK_FONT)
                self._font = FALLBACK_FONT
        return self._font

    def hydrograph(self, station: str, end: datetime, title: str) -> bytes:
        """The station's readings over the 24 hours up to `end`, as PNG."""
        start = end - WINDOW
        day = self.reader.station(station, start, end)
        font = self.font()
        with _DRAWING:
            fig = figure(day, start, end, self.zone, font, title)
            fig.set_size_inches(7.2, fig.get_size_inches()[1] * 0.85)
            return png(fig, font)
