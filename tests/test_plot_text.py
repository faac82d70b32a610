"""Plots draw class and file names in a font that has their glyphs: no empty boxes, no
"Glyph ... missing" warnings, whatever the names (a bird list in Chinese, an emoji)."""

import warnings

import numpy as np
from PIL import Image

from modules.plot_text import drawable_characters, plot_label
from modules.reports import plot_confusion_matrix, plot_spectrogram

NAMES = ["Grünfink", "Ωmega", "白头鹎 (Chinese bulbul)", "Kookaburra 🐦", "ﬁnch"]


def test_a_label_keeps_what_the_font_draws_and_replaces_the_rest():
    assert plot_label("Grünfink Ωmega café") == "Grünfink Ωmega café"  # DejaVu has these
    if ord("鹎") not in drawable_characters():  # no CJK font installed here
        assert plot_label("白头鹎 (Chinese bulbul)") == "??? (Chinese bulbul)"
    assert "🐦" not in plot_label("Kookaburra 🐦") or ord("🐦") in drawable_characters()


def test_plots_with_such_names_warn_of_no_missing_glyph(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_confusion_matrix(np.eye(5, dtype=int) * 3, NAMES, tmp_path / "confusion.png",
                              title="白头鹎 job")
        plot_spectrogram(np.random.default_rng(0).normal(size=(32, 40)),
                         tmp_path / "example.png", "TP for 白头鹎: clip 🐦.ogg")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    for name in ("confusion.png", "example.png"):
        assert Image.open(tmp_path / name).size[0] > 300
