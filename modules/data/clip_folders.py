"""The folder ``spectrain clips`` writes (:func:`modules.sed.clips.make_clips`), read back:
``metadata.tsv`` with one row per (clip, event inside it), and the clips as a dataset.

Reading lives here, beside the other layouts, so that the data layer needs nothing from
:mod:`modules.sed`; cutting the clips and training on windows of them stay there. Importing this
module registers the layout "sed_clips".
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .layouts import register_layout
from .schema import PathArg, make_table

METADATA_COLUMNS = ("clip", "source", "clip_start", "clip_length", "onset", "offset", "label",
                    "truncated", "group")
METADATA_FILE = "metadata.tsv"

#: Columns of the table :func:`load_clip_table` returns.
CLIP_COLUMNS = ("clip", "path", "group", "clip_length", "events")
BACKGROUND_LABEL = "background"  # the dataset label of a clip without events


def read_metadata(output_dir: PathArg) -> pd.DataFrame:
    """metadata.tsv of a clips folder, typed as :func:`modules.sed.clips.make_clips` returns it
    (without attrs)."""
    path = Path(output_dir) / METADATA_FILE
    table = pd.read_csv(path, sep="\t", dtype={"clip": str, "source": str, "label": str,
                                               "group": str}, keep_default_na=False,
                        na_values={"onset": [""], "offset": [""]})
    table["truncated"] = table["truncated"].astype(str).str.lower().eq("true")
    return table


def load_clip_table(clips_dir: PathArg) -> tuple[pd.DataFrame, list[str]]:
    """One row per clip of a clips folder, and its classes.

    Returns:
        ``(clips, classes)``: ``clips`` has the columns ``clip`` (as in metadata.tsv),
        ``path`` (absolute), ``group`` (source recording), ``clip_length`` (s) and ``events``
        (list of ``(onset, offset, label)`` relative to the clip, sorted by onset; empty for a
        background clip), in the order the clips first appear in metadata.tsv. ``classes`` is
        the sorted list of event labels (background, the empty label, excluded).
    """
    root = Path(clips_dir).resolve()
    table = read_metadata(root)
    rows: dict = {}
    for record in table.itertuples(index=False):
        row = rows.get(record.clip)
        if row is None:
            row = rows[record.clip] = {"clip": record.clip, "path": str(root / record.clip),
                                       "group": record.group,
                                       "clip_length": float(record.clip_length), "events": []}
        label = record.label if isinstance(record.label, str) else ""
        if label:
            row["events"].append((float(record.onset), float(record.offset), label))
    for row in rows.values():
        row["events"].sort()
    clips = pd.DataFrame(list(rows.values()), columns=list(CLIP_COLUMNS))
    classes = sorted({label for row in rows.values() for _, _, label in row["events"]})
    return clips, classes


def clips_dataset_table(clips_dir: PathArg) -> pd.DataFrame:
    """A clips folder as a dataset table (:mod:`.schema`), so job blocks can flag it like any
    dataset: one row per clip, ``label`` = the clip's first event's label (or "background"; it
    serves stratified subsets, the events themselves stay in metadata.tsv), ``group`` = the
    source recording (group splits keep a recording on one side) and ``annotation`` = the
    folder's ``metadata.tsv``, where the clip's events are."""
    root = Path(clips_dir).resolve()
    clips, _ = load_clip_table(root)
    rows = [{"path": clip.path, "group": clip.group, "annotation": str(root / METADATA_FILE),
             "label": clip.events[0][2] if clip.events else BACKGROUND_LABEL}
            for clip in clips.itertuples(index=False)]
    return make_table(rows, dataset=root.name)


def is_clips_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with a ``metadata.tsv``."""
    return path.is_dir() and (path / METADATA_FILE).is_file()


register_layout("sed_clips", is_clips_folder, clips_dataset_table,
                "a folder of `spectrain clips` output (metadata.tsv)")
