"""The job report's parameters table: every field of :class:`~modules.parameters.Parameters` in
the group its ``# --- name ---`` comment line puts it in, with the comment that explains it,
and the values that differ from the default highlighted.

The groups are read from the dataclass's source, so a new field lands in its group without
anything here changing.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from functools import lru_cache
from pathlib import Path

from modules.html_report.page import escape, section
from modules.parameters import Parameters

GROUP_LINE = re.compile(r"^\s*#\s*---\s*(?P<name>[^-].*?)\s*-{3,}\s*$")
FIELD_LINE = re.compile(r"^    (?P<name>[A-Za-z]\w*)\s*:[^=]*(=.*)?$")
OTHER = "other"


@lru_cache(maxsize=1)
def parameter_groups() -> dict[str, list[tuple[str, str]]]:
    """``{group: [(field, comment), ...]}`` in source order. A field's comment is its trailing
    comment and the comment lines just above it (the group lines excepted)."""
    fields = {f.name for f in dataclasses.fields(Parameters)}
    groups: dict[str, list[tuple[str, str]]] = {}
    group, above = OTHER, []
    for line in inspect.getsource(Parameters).splitlines():
        header = GROUP_LINE.match(line)
        if header:
            group, above = header["name"], []
            continue
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = FIELD_LINE.match(line)
        if match and match["name"] in fields:
            trailing = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            comment = " ".join(part for part in (*above, trailing) if part)
            groups.setdefault(group, []).append((match["name"], comment))
        above = []
    missed = fields - {name for members in groups.values() for name, _ in members}
    if missed:  # a field the parser could not place still shows
        groups.setdefault(OTHER, []).extend((name, "") for name in sorted(missed))
    return groups


def recorded_parameters(job_dir: Path) -> dict | None:
    """params.json as recorded (not the job's current place), or None when absent."""
    path = Path(job_dir) / "params.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def default_values() -> dict:
    return Parameters().snapshot()


def _shown(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else (value or '""')


def changed_parameters(recorded: dict) -> list[str]:
    """The names whose recorded value differs from this version's default (or that this
    version does not know)."""
    defaults = default_values()
    return [name for name, value in recorded.items()
            if name not in defaults or _comparable(value) != _comparable(defaults[name])]


def _comparable(value):
    return list(value) if isinstance(value, tuple) else value


def parameters_section(job_dir: Path) -> str:
    """The grouped table (or the missing note for a job without params.json)."""
    from modules.html_report.page import missing

    recorded = recorded_parameters(job_dir)
    if recorded is None:
        return section("Parameters", missing("params.json"), anchor="parameters")
    changed, defaults = set(changed_parameters(recorded)), default_values()
    groups = dict(parameter_groups())
    unknown = [(name, "not a parameter of this version") for name in recorded
               if name not in defaults]
    if unknown:
        groups["recorded, unknown to this version"] = unknown
    parts = [f'<p class="muted">{len(changed)} of {len(recorded)} differ from the default '
             f'(highlighted).</p>']
    for group, members in groups.items():
        rows = [_parameter_row(name, comment, recorded, defaults, name in changed)
                for name, comment in members if name in recorded]
        if rows:
            parts.append(f"<h3>{escape(group)}</h3>")
            parts.append('<table class="parameters"><thead><tr><th>parameter</th><th>value</th>'
                         '<th>default</th><th>what it is</th></tr></thead><tbody>'
                         + "".join(rows) + "</tbody></table>")
    return section("Parameters", *parts, anchor="parameters")


def _parameter_row(name: str, comment: str, recorded: dict, defaults: dict,
                   changed: bool) -> str:
    default = _shown(defaults[name]) if name in defaults else "-"
    attributes = ' class="changed" data-changed="1"' if changed else ""
    return (f'<tr{attributes} data-parameter="{escape(name)}"><td><code>{escape(name)}</code>'
            f"</td><td>{escape(_shown(recorded[name]))}</td><td>{escape(default)}</td>"
            f'<td class="muted">{escape(comment)}</td></tr>')
