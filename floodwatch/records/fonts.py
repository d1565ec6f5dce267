"""The font the report's pictures and PDF are drawn with: one that has Chinese characters.

matplotlib's own font (DejaVu Sans) has none: without a CJK font every Chinese character would
be an empty box. A configured file (`report.font`) is used when given; otherwise the first of
the well-known CJK families installed (Noto Sans CJK, from Debian's fonts-noto-cjk, first).
When there is none, `MissingFont` says which package to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from floodwatch.i18n import Refused, _

FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Noto Serif CJK SC", "AR PL UMing CN",
    "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Noto Sans CJK JP",
)  # fmt: skip
# where distributions put them, in case matplotlib's font list was built before they came
FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
HINT = _(
    "install a font with Chinese characters: the package fonts-noto-cjk on Debian/Ubuntu "
    "(apt-get install fonts-noto-cjk), or name a font file in report.font"
)
_PROBE = "水位"  # a font that draws these draws the report


class MissingFont(Refused):
    """No font with Chinese characters was found."""


def cjk_font(
    path: str | Path | None = None, families: Sequence[str] = FAMILIES,
    files: Sequence[str] = FILES,
) -> str:  # fmt: skip
    """The name of a font family with Chinese characters, known to matplotlib from here on."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise MissingFont(
                _("report.font: no font file at {file}; {hint}", file=str(file), hint=HINT)
            )
        manager.addfont(str(file))
        name = font_manager.FontProperties(fname=str(file)).get_name()
        if not _draws_chinese(str(file)):
            raise MissingFont(
                _("report.font: {file} ({name}) has no Chinese characters; {hint}",
                  file=str(file), name=name, hint=HINT)
            )  # fmt: skip
        return name
    known = {f.fname for f in manager.ttflist}
    for file_name in files:
        if file_name not in known and Path(file_name).is_file():
            manager.addfont(file_name)
    by_name = {f.name: f.fname for f in manager.ttflist}
    for family in families:
        if family in by_name and _draws_chinese(by_name[family]):
            return family
    raise MissingFont(_("no font with Chinese characters found for the report; {hint}", hint=HINT))


def _draws_chinese(file: str) -> bool:
    from matplotlib import ft2font

    try:
        font = ft2font.FT2Font(file)
    except (OSError, RuntimeError):
        return False
    return all(font.get_char_index(ord(ch)) for ch in _PROBE)
