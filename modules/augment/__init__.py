"""Augmentation for training: mixup, cutmix, SpecAugment, AugMix and seeded waveform transforms.

Job blocks name augmentations as ``[name, {arguments}]`` lists (see :mod:`.augmentations`);
waveform transforms such as ``shift_pitch`` and ``stretch_time`` are imported from here.
"""

from modules.augment.waveform import (  # the names trainers import
    WAVEFORM_TRANSFORMS,
    AddBackgroundNoise,
    AddGaussianNoise,
    ChangeGain,
    ShiftPitch,
    ShiftTime,
    StretchTime,
    WaveformTransform,
    add_gaussian_noise,
    change_gain,
    resolve_transform,
    shift_pitch,
    shift_time,
    stretch_time,
)
from modules.augment.augmentations import (
    AUGMENTATIONS,
    Augmentation,
    AugmentationError,
    ExamplePool,
    Recipe,
    build_augmentations,
    describe,
)
from modules.augment.training_set import AugmentedTrainingSet, combine

__all__ = [
    "AUGMENTATIONS", "AddBackgroundNoise", "AddGaussianNoise", "Augmentation",
    "AugmentationError", "AugmentedTrainingSet", "ChangeGain", "ExamplePool", "Recipe",
    "ShiftPitch", "ShiftTime", "StretchTime", "WAVEFORM_TRANSFORMS", "WaveformTransform",
    "add_gaussian_noise", "build_augmentations", "change_gain", "combine", "describe",
    "resolve_transform", "shift_pitch", "shift_time", "stretch_time",
]
