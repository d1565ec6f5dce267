"""A station's day as a hydrograph (水情过程线): each parameter's readings against time, the
warning levels of its threshold rules as horizontal lines, the alerts shaded in their level's
colour. matplotlib's object API (no pyplot: no global figure state), imported when a figure is
first drawn: the console's pages and every command import this module for its colours, and
matplotlib takes half a second to import.

Artists carry ids a reader (or a test) can find: `series:PARAMETER`, `level:LEVEL`,
`alert:ID`.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from floodwatch.records.report import PARAMETER_ZH, StationDay

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

# the four colours of China's flood warnings; other levels take a grey
COLOURS = {"blue": "#1565c0", "yellow": "#e6b800", "orange": "#ef6c00", "red": "#c62828"}
OTHER = "#757575"
DPI = 110


def colour(level: str) -> str:
    return COLOURS.get(level, OTHER)


def style(font: str) -> dict[RcKeyType, Any]:
    """matplotlib settings for the report (used in an rc_context, never set globally)."""
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [font, "DejaVu Sans"],
        "axes.unicode_minus": False,  # CJK fonts often lack U+2212
        # glyphs drawn as Type 3 procedures: Noto CJK's outlines are CFF, which a TrueType
        # (Type 42) embedding would misdeclare (viewers then warn or refuse)
        "pdf.fonttype": 3,
    }


def figure(
    day: StationDay, start: datetime, end: datetime, zone: ZoneInfo, font: str, title: str
) -> Figure:
    """The hydrograph of one station over [start, end)."""
    import matplotlib
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    with matplotlib.rc_context(style(font)):
        shown = day.series or ()
        rows = max(1, len(shown))
        fig = Figure(figsize=(9.0, 2.9 * rows + 0.6), dpi=DPI, layout="constrained")
        axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
        for ax, series in zip(axes, shown, strict=False):
            if series.points:
                times = [t for t, _ in series.points]
                values = [v for _, v in series.points]
                ax.plot(times, values, color="#263238", linewidth=1.6,
                        gid=f"series:{series.parameter}")  # fmt: skip
            else:
                ax.text(0.5, 0.5, "本日无读数", transform=ax.transAxes, ha="center", va="center")
            for line in series.levels:
                ax.axhline(line.value, color=colour(line.level), linestyle="--", linewidth=1.3,
                           gid=f"level:{line.level}")  # fmt: skip
                ax.annotate(
                    f"{line.name} {line.value:g} {series.unit}", xy=(1, line.value),
                    xycoords=("axes fraction", "data"), xytext=(-4, 3),
                    textcoords="offset points", ha="right", va="bottom", fontsize=8,
                    color=colour(line.level),
                )  # fmt: skip
            for span in day.alerts:
                ax.axvspan(span.start, span.end, color=colour(span.level), alpha=0.16,
                           linewidth=0, gid=f"alert:{span.alert}")  # fmt: skip
            name = PARAMETER_ZH.get(series.parameter, series.parameter)
            ax.set_ylabel(f"{name}（{series.unit}）")
            ax.grid(True, color="#e0e0e0", linewidth=0.6)
            if series.rejected:
                ax.text(0.01, 0.97, f"剔除异常读数 {series.rejected} 个", transform=ax.transAxes,
                        va="top", fontsize=8, color="#757575")  # fmt: skip
        if not shown:
            axes[0].text(0.5, 0.5, "本日无读数", transform=axes[0].transAxes, ha="center")
        last = axes[-1]
        last.set_xlim(start, end)
        hours = mdates.HourLocator(byhour=range(0, 24, 3), tz=zone)  # type: ignore[no-untyped-call]
        last.xaxis.set_major_locator(hours)
        last.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))  # type: ignore[no-untyped-call]
        last.set_xlabel(f"时间（{zone.key}）")
        fig.suptitle(title)
    return fig


def png(fig: Figure, font: str) -> bytes:
    """The figure as PNG bytes."""
    import matplotlib

    out = io.BytesIO()
    with matplotlib.rc_context(style(font)):
        fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
