"""The pieces every spectrain HTML page is made of: one self-contained document (inline CSS and
script, no CDN, no web fonts), sections, tables (sortable by a click on a header), figures,
audio players and the "missing" note. Links and sources are relative to the page's folder, so a
page opens from ``file://`` and travels with its job folder.

Everything user-supplied (class names, descriptions, paths) goes through :func:`escape`.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Iterable, Sequence

STYLE = """
:root { --ink: #1d2329; --muted: #5b6670; --line: #d9dee3; --band: #f4f6f8;
        --good: #1a7f37; --bad: #b42318; --accent: #0b5cad; --changed: #fff4c2; }
* { box-sizing: border-box; }
body { font: 15px/1.45 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 1200px; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; } h2 { font-size: 1.25rem; margin: 2rem 0 .6rem;
     border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
.muted { color: var(--muted); } .status { font-weight: bold; padding: .1rem .5rem;
     border-radius: .3rem; background: var(--band); }
.status-finished { color: var(--good); } .status-failed, .status-died,
.status-interrupted { color: var(--bad); }
.headline { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; }
.headline div { background: var(--band); border-radius: .4rem; padding: .5rem .9rem; }
.headline b { display: block; font-size: 1.35rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .92rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left;
         vertical-align: top; }
th { background: var(--band); } td.number { text-align: right;
     font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: var(--muted); font-size: .8em; }
tr.changed td { background: var(--changed); }
.gallery { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; max-width: 100%; } figure img { max-width: 100%; height: auto;
         border: 1px solid var(--line); } figcaption { font-size: .85rem; color: var(--muted);
         max-width: 420px; overflow-wrap: anywhere; }
audio { display: block; width: 100%; max-width: 420px; margin-top: .3rem; }
.missing { color: var(--bad); font-style: italic; }
pre { background: var(--band); padding: .8rem; overflow-x: auto; font-size: .85rem; }
details summary { cursor: pointer; color: var(--accent); }
"""

# Sorts a table.sortable by the clicked column: numbers as numbers, the rest as text; a second
# click reverses. No library: the page must open offline.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (header, column) {
    header.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var down = header.dataset.order !== "down";
      header.dataset.order = down ? "down" : "up";
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.sort || a.cells[column].textContent.trim();
        var y = b.cells[column].dataset.sort || b.cells[column].textContent.trim();
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return down ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def escape(value) -> str:
    return html.escape(str(value), quote=True)


def relative(path: Path | str, page_dir: Path | str) -> str:
    """``path`` as a link from a page in ``page_dir`` (POSIX separators, URL-safe)."""
    from urllib.parse import quote

    return quote(Path(os.path.relpath(Path(path), Path(page_dir))).as_posix())


def document(title: str, body: Iterable[str], script: bool = True) -> str:
    """A whole page: ``body`` is a sequence of HTML fragments."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             *body]
    if script:
        parts.append(f"<script>{SORT_SCRIPT}</script>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def section(title: str, *content: str, anchor: str | None = None) -> str:
    ident = f' id="{escape(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{escape(title)}</h2>\n" + "\n".join(content) + "\n</section>"


def missing(what: str) -> str:
    """A note where something the page would show does not exist (never a broken element)."""
    return f'<p class="missing">{escape(what)}: missing</p>'


def cell(value, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{escape('-' if value is None else value)}</td>"
    if isinstance(value, (int, float)):
        text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
        return f'<td class="number" data-sort="{value}">{escape(text)}</td>'
    return f"<td>{escape(value)}</td>"


def table(header: Sequence[str], rows: Iterable[Sequence], sortable: bool = False,
          row_classes: Sequence[str] | None = None, digits: int = 4) -> str:
    """A table; numbers right-aligned (and sorted as numbers in a sortable table)."""
    rows = list(rows)
    classes = list(row_classes or [""] * len(rows))
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    lines = [f'<table{" class=sortable" if sortable else ""}><thead><tr>{head}</tr></thead>',
             "<tbody>"]
    for row, name in zip(rows, classes):
        attribute = f' class="{escape(name)}"' if name else ""
        lines.append(f"<tr{attribute}>" + "".join(cell(v, digits) for v in row) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def figure(image: Path, page_dir: Path, caption: str = "", width: int | None = None,
           link: Path | None = None) -> str:
    """An image (``link``: what a click opens, e.g. the full-size file), or the missing note."""
    if not Path(image).is_file():
        return missing(caption or Path(image).name)
    size = f' width="{int(width)}"' if width else ""
    img = (f'<img src="{relative(image, page_dir)}" alt="{escape(caption or Path(image).name)}"'
           f' loading="lazy"{size}>')
    if link is not None and Path(link).is_file():
        img = f'<a href="{relative(link, page_dir)}">{img}</a>'
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{img}{text}</figure>"


AUDIO_TYPES = {".ogg": "audio/ogg", ".opus": "audio/ogg", ".wav": "audio/wav",
               ".flac": "audio/flac", ".mp3": "audio/mpeg"}


def audio(path: Path, page_dir: Path, label: str = "") -> str:
    """An audio player for ``path`` (or the missing note)."""
    if not Path(path).is_file():
        return missing(label or Path(path).name)
    kind = AUDIO_TYPES.get(Path(path).suffix.lower(), "audio/wav")
    return (f'<audio controls preload="metadata" title="{escape(label)}">'
            f'<source src="{relative(path, page_dir)}" type="{kind}"></audio>')
