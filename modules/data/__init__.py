"""Datasets: tables of audio files, decoding and chunking, splits, fetching and inspection."""

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
    "audio_info", "check_audio", "check_no_group_leak", "chunk_audio", "dataset_spec",
    "decode_to_chunks", "detect_layout", "inspect_files", "inspect_raw", "load_auto",
    "load_class_folders", "load_datasets", "load_esc50_csv", "load_esc_folders",
    "load_manifest", "locate_esc10", "locate_esc50", "make_table", "project_root",
    "read_audio", "register_dataset", "registered_datasets", "resolve_data_root",
    "shared_datasets_dir", "split_table", "summarise", "testing_subset", "unregister_dataset",
]
