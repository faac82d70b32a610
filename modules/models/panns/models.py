"""PANNs (Kong et al. 2020, "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio
Pattern Recognition"): Cnn6, Cnn10, Cnn14 and the Cnn14 sound-event-detection variants.

Every builder returns a functional ``keras.Model`` from a waveform ``(batch, samples)`` at the
preset's rate to a dict of outputs:

* ``clipwise_output`` (batch, n_classes): the clip activation (sigmoid, or softmax);
* ``embedding`` (batch, 512 | 1024 | 2048): the clip embedding (``fc1`` features);
* with ``decision_level``: ``framewise_output`` (batch, frames, n_classes), one row per
  front-end frame (``frames = 1 + samples // hop``).

The layers are those of the reference code, in order: log-mel front end (``logmel_extractor``)
-> ``bn0`` (batch norm over mel bins) -> ``spec_augmenter`` (training only) -> conv blocks
``conv_block1..N`` each followed by dropout 0.2 -> mean over mel -> max + mean over time ->
dropout 0.5 -> ``fc1`` (ReLU) -> ``fc_audioset`` -> ``clipwise_output``. Grad-CAM targets the
last conv block (``conv_block6`` for Cnn14, ``conv_block5`` Cnn10, ``conv_block4`` Cnn6; see
``LAST_CONV_LAYER``).

Differences a user can notice, all deliberate:

* Cnn10 and Cnn6 exist in the reference without decision-level heads; here any builder accepts
  ``decision_level`` (upsampling ratio 32 for Cnn10/Cnn14, 16 for Cnn6).
* The decision-level reference models return no embedding; here ``embedding`` is the time mean of
  the frame features fed to the classifier (after ``fc1``, ReLU and dropout).
* ``clip_activation="softmax"`` applies the softmax over classes where the reference applies its
  sigmoid (per segment for the decision-level heads; with ``"max"`` the clip output is then a
  max over segments of distributions and does not sum to one).
"""

from __future__ import annotations

from typing import Optional, Union

import keras
from keras import layers

from modules.models.layers import SpecAugmentation, log_mel_frames
from modules.models.panns.layers import (BN_EPSILON, BN_MOMENTUM, AttBlock, AttentionPooling,
                                         AxisMean, ClipPooling, ConvBlock, FramewiseUpsample,
                                         SegmentPooling, TimeReduce, batch_norm)
from modules.models.presets import PANNS_32K, FrontEndPreset, get_preset

DECISION_LEVELS = ("max", "avg", "att")
CLIP_ACTIVATIONS = ("sigmoid", "softmax")
#: Grad-CAM target of each family: the output of the last conv block.
LAST_CONV_LAYER = {"cnn6": "conv_block4", "cnn10": "conv_block5", "cnn14": "conv_block6"}

# (filters, pool) per block; kernel size and convs per block by family.
_ARCHITECTURES = {
    "cnn6": dict(blocks=((64, 2), (128, 2), (256, 2), (512, 2)), kernel_size=5, convs=1),
    "cnn10": dict(blocks=((64, 2), (128, 2), (256, 2), (512, 2), (1024, 2)), kernel_size=3, convs=2),
    "cnn14": dict(blocks=((64, 2), (128, 2), (256, 2), (512, 2), (1024, 2), (2048, 1)),
                  kernel_size=3, convs=2),
}
_OPTIONS = {"conv_dropout": 0.2, "fc_dropout": 0.5, "bn_momentum": BN_MOMENTUM,
            "bn_epsilon": BN_EPSILON, "kernel_initializer": "glorot_uniform", "name": None}


def _resolve_preset(preset: Union[FrontEndPreset, str]) -> FrontEndPreset:
    if isinstance(preset, FrontEndPreset):
        return preset
    if isinstance(preset, str):
        return get_preset(preset)
    raise ValueError(f"preset must be a FrontEndPreset or a preset name, got {preset!r}")


def _build(family: str, input_shape=(None,), n_classes: int = 527,
           preset: Union[FrontEndPreset, str] = PANNS_32K, clip_activation: str = "sigmoid",
           spec_augment: bool = True, decision_level: Optional[str] = None,
           seed: Optional[int] = None, **options) -> keras.Model:
    options = _check_options(family, options)
    preset = _resolve_preset(preset)
    _check_arguments(family, input_shape, n_classes, clip_activation, decision_level)
    architecture = _ARCHITECTURES[family]
    seeds = _SeedSequence(seed)
    waveform = keras.Input(shape=tuple(input_shape), name="waveform")
    frames = log_mel_frames(waveform, preset)  # (batch, time, mel, 1)
    x, time_ratio = _conv_stack(frames, architecture, options, spec_augment, seeds)
    width = architecture["blocks"][-1][0]
    if decision_level is None:
        outputs = _clip_level_head(x, width, n_classes, clip_activation, options, seeds)
    else:
        outputs = _decision_level_head(x, frames, time_ratio, width, n_classes, clip_activation,
                                       decision_level, options, seeds)
    name = options["name"] or (family if decision_level is None
                               else f"{family}_decision_level_{decision_level}")
    return keras.Model(waveform, outputs, name=name)


def _check_options(family: str, options: dict) -> dict:
    """The options with the defaults filled in; raise on an unknown one."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"{family}: unknown option(s) {', '.join(unknown)}; "
                         f"accepted: {', '.join(sorted(_OPTIONS))}")
    return {**_OPTIONS, **options}


def _check_arguments(family: str, input_shape, n_classes, clip_activation,
                     decision_level) -> None:
    """Raise on a bad input shape, class count, clip activation or decision level."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 1:
        raise ValueError(f"{family} takes a waveform (samples,), got input_shape {input_shape}; "
                         "use a waveform parser for the job (the model computes its own log-mel)")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"{family}: n_classes must be a positive integer, got {n_classes!r}")
    if clip_activation not in CLIP_ACTIVATIONS:
        raise ValueError(f"{family}: clip_activation must be one of {CLIP_ACTIVATIONS}, "
                         f"got {clip_activation!r}")
    if clip_activation == "softmax" and n_classes < 2:
        raise ValueError(f"{family}: a softmax output needs at least 2 classes, got {n_classes}")
    if decision_level not in (None,) + DECISION_LEVELS:
        raise ValueError(f"{family}: decision_level must be None or one of {DECISION_LEVELS}, "
                         f"got {decision_level!r}")


def _conv_stack(frames, architecture: dict, options: dict, spec_augment: bool,
                seeds: "_SeedSequence"):
    """bn0 -> SpecAugment -> conv blocks with dropout -> mean over mel: (features, time ratio).

    The features are (batch, time, channels); the time ratio is the product of the pool sizes.
    """
    x = batch_norm("bn0", axis=2, momentum=options["bn_momentum"],
                   epsilon=options["bn_epsilon"])(frames)
    if spec_augment:
        x = SpecAugmentation(time_drop_width=64, time_stripes_num=2, freq_drop_width=8,
                             freq_stripes_num=2, seed=seeds.next(), name="spec_augmenter")(x)
    time_ratio = 1
    for index, (filters, pool) in enumerate(architecture["blocks"], start=1):
        x = ConvBlock(filters, kernel_size=architecture["kernel_size"], convs=architecture["convs"],
                      pool_size=(pool, pool), bn_momentum=options["bn_momentum"],
                      bn_epsilon=options["bn_epsilon"],
                      kernel_initializer=options["kernel_initializer"], name=f"conv_block{index}")(x)
        x = layers.Dropout(options["conv_dropout"], seed=seeds.next(), name=f"dropout{index}")(x)
        time_ratio *= pool
    return AxisMean(axis=2, name="mel_mean")(x), time_ratio


def _clip_level_head(x, width: int, n_classes: int, clip_activation: str, options: dict,
                     seeds: "_SeedSequence") -> dict:
    """Max + mean over time -> fc1 -> fc_audioset: the embedding and clipwise outputs."""
    init = options["kernel_initializer"]
    outputs = {}
    x = ClipPooling(name="clip_pooling")(x)
    x = layers.Dropout(options["fc_dropout"], seed=seeds.next(), name="dropout_pooled")(x)
    x = layers.Dense(width, activation="relu", kernel_initializer=init, name="fc1")(x)
    # As in the reference: the embedding output is dropped out while training, the
    # classifier reads fc1 directly.
    outputs["embedding"] = layers.Dropout(options["fc_dropout"], seed=seeds.next(),
                                          name="embedding")(x)
    logits = layers.Dense(n_classes, kernel_initializer=init, name="fc_audioset")(x)
    outputs["clipwise_output"] = layers.Activation(clip_activation, name="clipwise_output")(logits)
    return outputs


def _decision_level_head(x, frames, time_ratio: int, width: int, n_classes: int,
                         clip_activation: str, decision_level: str, options: dict,
                         seeds: "_SeedSequence") -> dict:
    """Per-segment classifier pooled by ``decision_level``: embedding, clip and frame outputs."""
    init = options["kernel_initializer"]
    outputs = {}
    x = SegmentPooling(name="segment_pooling")(x)
    x = layers.Dropout(options["fc_dropout"], seed=seeds.next(), name="dropout_pooled")(x)
    x = layers.Dense(width, activation="relu", kernel_initializer=init, name="fc1")(x)
    x = layers.Dropout(options["fc_dropout"], seed=seeds.next(), name="dropout_fc1")(x)
    outputs["embedding"] = TimeReduce("mean", name="embedding")(x)
    if decision_level == "att":
        norm_att, segmentwise = AttBlock(n_classes, activation=clip_activation,
                                         kernel_initializer=init, name="att_block")(x)
        outputs["clipwise_output"] = AttentionPooling(
            activation=clip_activation, name="clipwise_output")([norm_att, segmentwise])
    else:
        logits = layers.Dense(n_classes, kernel_initializer=init, name="fc_audioset")(x)
        segmentwise = layers.Activation(clip_activation, name="segmentwise_output")(logits)
        outputs["clipwise_output"] = TimeReduce("max" if decision_level == "max" else "mean",
                                                activation=clip_activation,
                                                name="clipwise_output")(segmentwise)
    outputs["framewise_output"] = FramewiseUpsample(time_ratio, name="framewise_output")(
        [segmentwise, frames])
    return outputs


class _SeedSequence:
    """Distinct, reproducible seeds for the random layers when a model seed is given."""

    def __init__(self, seed: Optional[int]):
        self.seed = seed
        self.count = 0

    def next(self) -> Optional[int]:
        if self.seed is None:
            return None
        self.count += 1
        return int(self.seed) * 1000 + self.count


_SIGNATURE_DOC = """

    Args:
        input_shape: ``(samples,)`` of the waveform; ``(None,)`` for any length.
        n_classes: outputs of ``fc_audioset`` (527 for AudioSet).
        preset: the front end, a ``FrontEndPreset`` or its name (default ``PANNS_32K``).
        clip_activation: ``"sigmoid"`` (multi-label, as published) or ``"softmax"``.
        spec_augment: include the SpecAugment layer (active in training only).
        decision_level: None, or ``"max"`` / ``"avg"`` / ``"att"`` for the sound-event-detection
            heads (adds ``framewise_output``).
        seed: seeds SpecAugment and the dropouts (reproducible training).
        **options: ``conv_dropout`` (0.2), ``fc_dropout`` (0.5), ``bn_momentum`` (0.9, Keras
            convention), ``bn_epsilon`` (1e-5), ``kernel_initializer`` of the conv and dense
            layers ("glorot_uniform" = torch's xavier_uniform, as published), ``name``.
    """


def cnn6(input_shape=(None,), n_classes: int = 527, preset=PANNS_32K,
         clip_activation: str = "sigmoid", spec_augment: bool = True,
         decision_level: Optional[str] = None, seed: Optional[int] = None,
         **options) -> keras.Model:
    return _build("cnn6", input_shape, n_classes, preset, clip_activation, spec_augment,
                  decision_level, seed, **options)


def cnn10(input_shape=(None,), n_classes: int = 527, preset=PANNS_32K,
          clip_activation: str = "sigmoid", spec_augment: bool = True,
          decision_level: Optional[str] = None, seed: Optional[int] = None,
          **options) -> keras.Model:
    return _build("cnn10", input_shape, n_classes, preset, clip_activation, spec_augment,
                  decision_level, seed, **options)


def cnn14(input_shape=(None,), n_classes: int = 527, preset=PANNS_32K,
          clip_activation: str = "sigmoid", spec_augment: bool = True,
          decision_level: Optional[str] = None, seed: Optional[int] = None,
          **options) -> keras.Model:
    return _build("cnn14", input_shape, n_classes, preset, clip_activation, spec_augment,
                  decision_level, seed, **options)


def cnn14_decision_level_max(input_shape=(None,), n_classes: int = 527, preset=PANNS_32K,
                             clip_activation: str = "sigmoid", spec_augment: bool = True,
                             seed: Optional[int] = None, **options) -> keras.Model:
    return cnn14(input_shape, n_classes, preset, clip_activation, spec_augment, "max", seed,
                 **options)


def cnn14_decision_level_avg(input_shape=(None,), n_classes: int = 527, preset=PANNS_32K,
                             clip_activation: str = "sigmoid", spec_augment: bool = True,
                             seed: Optional[int] = None, **options) -> keras.Model:
    return cnn14(input_shape, n_classes, preset, clip_activation, spec_augment, "avg", seed,
                 **options)


def cnn14_decision_level_att(input_shape=(None,), n_classes: int = 527, preset=PANNS_32K,
                             clip_activation: str = "sigmoid", spec_augment: bool = True,
                             seed: Optional[int] = None, **options) -> keras.Model:
    return cnn14(input_shape, n_classes, preset, clip_activation, spec_augment, "att", seed,
                 **options)


cnn6.__doc__ = "Cnn6: four 5x5 conv blocks (one conv each), 512-d embedding." + _SIGNATURE_DOC
cnn10.__doc__ = "Cnn10: five 3x3 conv blocks (two convs each), 1024-d embedding." + _SIGNATURE_DOC
cnn14.__doc__ = ("Cnn14: six 3x3 conv blocks (two convs each, no pooling after the sixth), "
                 "2048-d embedding." + _SIGNATURE_DOC)
for _builder, _level in ((cnn14_decision_level_max, "max"), (cnn14_decision_level_avg, "avg"),
                         (cnn14_decision_level_att, "att")):
    _builder.__doc__ = f"Cnn14 with decision_level={_level!r} (Cnn14_DecisionLevel{_level.title()})."

BUILDERS = {"cnn6": cnn6, "cnn10": cnn10, "cnn14": cnn14,
            "cnn14_decision_level_max": cnn14_decision_level_max,
            "cnn14_decision_level_avg": cnn14_decision_level_avg,
            "cnn14_decision_level_att": cnn14_decision_level_att}
# The job launcher reads this to decode the job's audio at the model's rate.
for _builder in BUILDERS.values():
    _builder.default_preset = PANNS_32K
