"""The older import path of the table names (``from modules.data.tables import ...``).

The data layer is now split by what each part does, and these names live there:

* the table schema (:data:`TABLE_COLUMNS`, :func:`make_table`...): :mod:`.schema`;
* layouts, their registration and detection (:func:`detect_layout`, :func:`load_auto`):
  :mod:`.layouts`;
* registered datasets (:func:`register_dataset`, :func:`load_datasets`): :mod:`.datasets`;
* each loader beside its layout: :mod:`.manifest`, :mod:`.esc`, :mod:`.folders`,
  :mod:`.packs`, :mod:`.feature_sets`, :mod:`.clip_folders`.

New code imports from :mod:`modules.data` or from those modules.
"""

from .clip_folders import clips_dataset_table as load_sed_clips
from .datasets import (DatasetSpec, dataset_spec, load_datasets, register_dataset,
                       registered_datasets, unregister_dataset)
from .esc import load_esc50_csv, load_esc_folders
from .feature_sets import load_feature_set
from .folders import load_class_folders
from .layouts import LOADERS, detect_layout, load_auto
from .manifest import load_manifest
from .packs import load_pack as load_waveform_pack
from .schema import AUDIO_EXTENSIONS, SPLIT_VALUES, STRING_DTYPE, TABLE_COLUMNS, PathArg, make_table

__all__ = [
    "AUDIO_EXTENSIONS", "DatasetSpec", "LOADERS", "PathArg", "SPLIT_VALUES", "STRING_DTYPE",
    "TABLE_COLUMNS", "dataset_spec", "detect_layout", "load_auto", "load_class_folders",
    "load_datasets", "load_esc50_csv", "load_esc_folders", "load_feature_set", "load_manifest",
    "load_sed_clips", "load_waveform_pack", "make_table", "register_dataset",
    "registered_datasets", "unregister_dataset",
]
