"""Text for plots: class names, file names and titles drawn in a font that has their glyphs.

matplotlib draws with DejaVu Sans, which covers Latin, Greek and Cyrillic but not, say, Chinese
species names or emoji; a missing glyph is drawn as an empty box and warned about once per
glyph. :func:`plot_label` keeps every character the font has, spells an accented letter the
font lacks as its base letter, and writes any other character as ``?``; the page beside the plot
(``report.html``) shows the names in full. :func:`use_fallback_fonts` first adds the installed
fonts that cover more scripts (Noto CJK and the like), so a machine that has them draws the
names as they are.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Fonts with wide coverage, tried after DejaVu Sans when installed (Debian: fonts-noto-cjk,
# fonts-noto-core).
FALLBACK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans", "Noto Sans Symbols 2")


@lru_cache(maxsize=1)
def use_fallback_fonts() -> tuple:
    """Set matplotlib's font list to DejaVu Sans and the installed :data:`FALLBACK_FONTS`;
    returns the list."""
    import matplotlib
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    families = ("DejaVu Sans", *(name for name in FALLBACK_FONTS if name in installed))
    matplotlib.rcParams["font.family"] = list(families)
    return families


@lru_cache(maxsize=1)
def drawable_characters() -> frozenset:
    """Every code point one of the plot fonts has a glyph for."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    points = set()
    for family in use_fallback_fonts():
        path = font_manager.findfont(family, fallback_to_default=False)
        points |= set(FT2Font(path).get_charmap())
    return frozenset(points)


def plot_label(text) -> str:
    """``text`` with every character the plot fonts cannot draw replaced (see the module)."""
    text = str(text)
    drawable = drawable_characters()
    if all(ord(character) in drawable or character in "\n\t" for character in text):
        return text
    out = []
    for character in text:
        if ord(character) in drawable or character in "\n\t":
            out.append(character)
            continue
        base = unicodedata.normalize("NFKD", character)
        base = "".join(c for c in base if not unicodedata.combining(c))
        out.append(base if base and all(ord(c) in drawable for c in base) else "?")
    return "".join(out)


def save_figure(figure, path, **options) -> None:
    """``figure.savefig(path, **options)`` with every text in it made drawable
    (:func:`plot_label`): titles, axis and tick labels, legends, annotations."""
    from matplotlib.text import Text

    use_fallback_fonts()
    for ax in figure.axes:  # tick labels given as a list are redrawn from their formatter
        for axis in (ax.xaxis, ax.yaxis):
            labels = [label.get_text() for label in axis.get_ticklabels()]
            drawable = [plot_label(label) for label in labels]
            if drawable != labels:
                axis.set_ticklabels(drawable)
    for text in figure.findobj(Text):
        content = text.get_text()
        if content:
            text.set_text(plot_label(content))
    figure.savefig(path, **options)
