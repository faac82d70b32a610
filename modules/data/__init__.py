"""Datasets: tables of audio files, decoding and chunking, splits, fetching and inspection.

Registered datasets: Esc10, Esc50 (:mod:`.tables`), Icbhi, Jordan, Bd (:mod:`.respiratory`).
"""

from .audio import (
    CHUNK_MODES,
    BadAudioError,
    audio_info,
    check_audio,
    chunk_audio,
    decode_to_chunks,
    read_audio,
)
from .fetch import (
    ESC10_COMMIT,
    ESC10_REPOSITORY,
    locate_esc10,
    locate_esc50,
    project_root,
    resolve_data_root,
    shared_datasets_dir,
)
from .inspect import inspect_files, inspect_raw, summarise
from .respiratory import (  # importing it registers Icbhi, Jordan and Bd
    TASK_CLASSES,
    chunk_cw_labels,
    load_icbhi,
    load_spreadsheet,
    locate_respiratory,
    make_chunk_labeler,
    read_cycles,
)
from .splits import SPLIT_METHODS, check_no_group_leak, split_table, testing_subset
from .tables import (
    AUDIO_EXTENSIONS,
    LOADERS,
    SPLIT_VALUES,
    TABLE_COLUMNS,
    DatasetSpec,
    dataset_spec,
    detect_layout,
    load_auto,
    load_class_folders,
    load_datasets,
    load_esc50_csv,
    load_esc_folders,
    load_manifest,
    make_table,
    register_dataset,
    registered_datasets,
    unregister_dataset,
)

__all__ = [
    "AUDIO_EXTENSIONS", "BadAudioError", "CHUNK_MODES", "DatasetSpec", "ESC10_COMMIT",
    "ESC10_REPOSITORY", "LOADERS", "SPLIT_METHODS", "SPLIT_VALUES", "TABLE_COLUMNS",
    "TASK_CLASSES", "audio_info", "check_audio", "check_no_group_leak", "chunk_audio",
    "chunk_cw_labels", "dataset_spec", "decode_to_chunks", "detect_layout", "inspect_files",
    "inspect_raw", "load_auto", "load_class_folders", "load_datasets", "load_esc50_csv",
    "load_esc_folders", "load_icbhi", "load_manifest", "load_spreadsheet", "locate_esc10",
    "locate_esc50", "locate_respiratory", "make_chunk_labeler", "make_table", "project_root",
    "read_audio", "read_cycles", "register_dataset", "registered_datasets",
    "resolve_data_root", "shared_datasets_dir", "split_table", "summarise", "testing_subset",
    "unregister_dataset",
]
