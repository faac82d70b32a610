"""Datasets: tables of audio files, decoding and chunking, splits, fetching and inspection.

The layers, bottom up: :mod:`.schema` (the table every loader returns; imports no loader),
:mod:`.layouts` (layouts register themselves with a detect function; :func:`detect_layout`,
:func:`load_auto`), :mod:`.datasets` (registered dataset names: :func:`register_dataset`,
:func:`load_datasets`), then one module per layout, which registers it: :mod:`.manifest`,
:mod:`.esc` (and the datasets Esc10, Esc50), :mod:`.urbansound` (and the dataset UrbanSound8K),
:mod:`.dcase` (DCASE evaluation setups), :mod:`.folders`, :mod:`.packs`, :mod:`.feature_sets`,
:mod:`.clip_folders`, :mod:`.weak_labels` (clip-level label lists); and :mod:`.respiratory` (the datasets Icbhi, Jordan and Bd). The ESC
naming rule is :mod:`.esc_names`; the rows of metadata tables (skipped rows reported with file,
line and reason) are read with :mod:`.rows`.
"""

# Importing the layout modules registers their layouts; the order is the order in which
# messages list them ("Supported layouts: a manifest ...; ...").
from . import manifest, esc, urbansound, dcase  # noqa: F401, I001
from . import folders, packs, feature_sets, clip_folders, weak_labels  # noqa: F401, I001
from .audio import (
    CHUNK_MODES,
    BadAudioError,
    audio_info,
    check_audio,
    chunk_audio,
    decode_to_chunks,
    read_audio,
)
from .datasets import (
    DatasetSpec,
    dataset_spec,
    load_datasets,
    register_dataset,
    registered_datasets,
    unregister_dataset,
)
from .dcase import load_dcase_setup, read_dcase_setup
from .esc import load_esc50_csv, load_esc_folders, read_esc50
from .fetch import (
    ESC10_COMMIT,
    ESC10_REPOSITORY,
    locate_esc10,
    locate_esc50,
    project_root,
    resolve_data_root,
    shared_datasets_dir,
)
from .folders import load_class_folders
from .inspect import inspect_files, inspect_raw, summarise
from .layouts import (DATASET_LAYOUTS, LOADERS, LayoutError, decide_layout, detect_layout,
                      load_auto, register_layout)
from .manifest import load_manifest
from .respiratory import (  # importing it registers Icbhi, Jordan and Bd
    chunk_cw_labels,
    load_icbhi,
    load_spreadsheet,
    locate_respiratory,
    make_chunk_labeler,
    read_cycles,
)
from .rows import SkippedRow, skipped_of
from .schema import AUDIO_EXTENSIONS, SPLIT_VALUES, TABLE_COLUMNS, TASK_CLASSES, make_table
from .splits import (SPLIT_METHODS, SplitError, SplitParts, check_no_group_leak, split_parts,
                     split_table, testing_subset)
from .urbansound import load_urbansound8k, locate_urbansound8k, read_urbansound8k

__all__ = [
    "AUDIO_EXTENSIONS", "BadAudioError", "CHUNK_MODES", "DATASET_LAYOUTS", "DatasetSpec",
    "ESC10_COMMIT", "ESC10_REPOSITORY", "LOADERS", "LayoutError", "SPLIT_METHODS",
    "SPLIT_VALUES", "SkippedRow", "TABLE_COLUMNS", "TASK_CLASSES", "audio_info", "check_audio",
    "check_no_group_leak", "chunk_audio", "chunk_cw_labels", "dataset_spec", "decide_layout",
    "decode_to_chunks", "detect_layout", "inspect_files", "inspect_raw", "load_auto",
    "load_class_folders", "load_datasets", "load_dcase_setup", "load_esc50_csv",
    "load_esc_folders", "load_icbhi", "load_manifest", "load_spreadsheet", "load_urbansound8k",
    "locate_esc10", "locate_esc50", "locate_respiratory", "locate_urbansound8k",
    "make_chunk_labeler", "make_table", "project_root", "read_audio", "read_cycles",
    "read_dcase_setup", "read_esc50", "read_urbansound8k", "register_dataset",
    "register_layout", "registered_datasets", "resolve_data_root", "shared_datasets_dir",
    "SplitError", "SplitParts", "skipped_of", "split_parts", "split_table", "summarise",
    "testing_subset", "unregister_dataset",
]
