"""Pick a font that has Chinese glyphs for matplotlib, without hard-coded paths or warning floods.

matplotlib logs "findfont: Font family ... not found" for every missing name in a font list, and
draws empty boxes (with a "Glyph ... missing" warning) for characters its font lacks. So we keep
only families that matplotlib can actually see, and when none of the known CJK families is in its
font cache (for instance a font installed after the cache was built), we scan the system font
folders once and register any CJK font file we find.
"""

from __future__ import annotations

import functools
from pathlib import Path

from matplotlib import font_manager, rcParams

# Preferred families, Taiwan first. 'Noto Sans CJK TC' is Debian's fonts-noto-cjk (matplotlib >= 3.11
# sees every face of its .ttc; older versions only expose 'Noto Sans CJK JP', which covers the same
# Han characters with slightly different glyph shapes).
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK TC",
    "Noto Sans TC",
    "Source Han Sans TC",
    "PingFang TC",
    "Heiti TC",
    "Microsoft JhengHei",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)

# File names (lower case) that hold one of those families, for fonts the cache has not seen yet.
_CJK_FILE_HINTS = ("notosanscjk", "notoserifcjk", "notosanstc", "sourcehansans", "pingfang", "msjh", "wqy", "droidsansfallback")

INSTALL_HINT = {
    "debian": "sudo apt-get install fonts-noto-cjk",
    "fedora": "sudo dnf install google-noto-sans-cjk-fonts",
    "macos": "macOS ships PingFang TC; nothing to install",
    "windows": "Windows ships Microsoft JhengHei; nothing to install",
}


def _known_families() -> set[str]:
    return {entry.name for entry in font_manager.fontManager.ttflist}


def _register_new_cjk_files() -> None:
    """Add CJK font files that exist on disk but are missing from matplotlib's cache."""
    cached = {entry.fname for entry in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        name = Path(path).name.lower().replace("-", "").replace("_", "")
        if path not in cached and any(hint in name for hint in _CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable file is skipped, not fatal
                continue


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The first family in CJK_FAMILIES that matplotlib can use, or None."""
    for attempt in range(2):
        available = _known_families()
        for family in CJK_FAMILIES:
            if family in available:
                return family
        if attempt == 0:
            _register_new_cjk_files()
    return None


def use_cjk_font() -> str | None:
    """Put the CJK font (if any) first in matplotlib's sans-serif list; return its name or None.

    Latin text keeps DejaVu Sans' look only where the CJK font lacks a glyph; the list contains
    nothing matplotlib cannot find, so no "font not found" messages are logged.
    """
    family = find_cjk_font()
    if family is not None:
        rest = [name for name in rcParams["font.sans-serif"] if name != family and name in _known_families()]
        rcParams["font.family"] = ["sans-serif"]
        rcParams["font.sans-serif"] = [family, *rest]
        rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212 MINUS SIGN
    return family
