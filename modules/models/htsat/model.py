"""HTS-AT builder: waveform in, framewise / clipwise scores and a clip embedding out.

The graph follows ``HTSAT_Swin_Transformer.forward`` (laion-clap, ``enable_fusion=False``; the
same as the original RetroCirce/HTS-Audio-Transformer with ``enable_tscam=True`` and
``htsat_attn_heatmap=False``) in eval mode, with layers named after the reference's modules:

    waveform -> logmel_extractor -> time_major -> bn0 (per mel bin) -> spec_augmenter (training)
    -> interpolate_time (bicubic, align corners, to spec_size * freq_ratio frames)
    [-> interpolate_freq when the preset has fewer mel bins than spec_size / freq_ratio]
    -> reshape_wav2img (fold into a spec_size x spec_size image)
    -> patch_embed_proj -> patch_embed_flatten -> patch_embed_norm
    -> layers_{i}_blocks_{j} ... layers_{i}_downsample (i < last stage) -> norm
    -> embedding (mean over tokens)
    -> tscam_regroup -> tscam_pad -> tscam_conv -> tscam_logits (batch, time steps, classes)
    -> clip_logits (mean over time) -> clipwise_output
    -> frame_activation -> framewise_output (each step repeated to spec_size * freq_ratio frames)
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np

from modules.models.htsat.layers import (AlignCornersBicubicResize, FoldSpectrogram, PatchMerging,
                                         SwinTransformerBlock, TokenSemanticRegroup)
from modules.models.layers import SpecAugmentation, log_mel_frames
from modules.models.presets import HTSAT_32K, FrontEndPreset

LAYER_NORM_EPSILON = 1e-5  # torch nn.LayerNorm default (Keras' default is 1e-3)
BATCH_NORM_EPSILON = 1e-5  # torch nn.BatchNorm2d default
BATCH_NORM_MOMENTUM = 0.9  # Keras' momentum = 1 - torch's 0.1


def htsat(input_shape=(None,), n_classes: int = 527, preset: FrontEndPreset = HTSAT_32K,
          clip_activation: Optional[str] = "sigmoid", spec_augment: bool = True,
          seed: Optional[int] = None, embed_dim: int = 96, depths: Sequence[int] = (2, 2, 6, 2),
          num_heads: Sequence[int] = (4, 8, 16, 32), window_size: int = 8, spec_size: int = 256,
          patch_size: int = 4, mlp_ratio: float = 4.0, drop_path_rate: float = 0.1,
          name: str = "htsat") -> keras.Model:
    """Build HTS-AT (the defaults are HTS-AT "tiny", the published AudioSet model).

    Args:
        input_shape: ``(None,)`` or ``(n_samples,)``; the model takes (batch, samples) waveforms
            at ``preset.sr``. Clips may give at most ``spec_size * freq_ratio`` log-mel frames
            (1024 by default: 10.23 s at 32 kHz); shorter ones are stretched to that many.
        n_classes: number of output classes.
        preset: front-end settings (sample rate, window, hop, mel bins, ...).
        clip_activation: activation of the scores, ``"sigmoid"`` (the reference, multi-label),
            ``"softmax"`` (over classes) or ``None``/``"linear"`` for logits. It is applied to the
            clip score (mean over time of the token-semantic logits) and to each frame's logits.
        spec_augment: add torchlibrosa-style SpecAugment (time 64 x 2, freq 8 x 2) in training.
        seed: seeds SpecAugment and stochastic depth (None: random).
        embed_dim, depths, num_heads, window_size, mlp_ratio: the Swin transformer; stage ``i``
            has ``embed_dim * 2**i`` channels and ``depths[i]`` blocks with ``num_heads[i]`` heads.
        spec_size: side of the square image the log-mel is folded into; ``freq_ratio =
            spec_size // mel_bins`` time chunks are stacked along frequency.
        patch_size: side (and stride) of the patch embedding convolution.
        drop_path_rate: stochastic depth, rising linearly from 0 to this over the blocks.

    Returns:
        A ``keras.Model`` from the waveform to a dict: ``framewise_output`` (batch,
        spec_size * freq_ratio, n_classes), ``clipwise_output`` (batch, n_classes) and
        ``embedding`` (batch, embed_dim * 2**(stages - 1)).
    """
    depths, num_heads = tuple(int(d) for d in depths), tuple(int(h) for h in num_heads)
    geometry = _geometry(preset, n_classes, depths, num_heads, embed_dim, window_size, spec_size,
                         patch_size)
    input_shape = _check_input_shape(input_shape, preset, geometry, spec_size)
    activation = None if clip_activation in (None, "linear") else clip_activation

    waveform = keras.Input(shape=input_shape, name="waveform")
    x = _spectrogram_image(waveform, preset, geometry, spec_augment, seed)
    x = _patch_embedding(x, geometry["grid"], embed_dim, patch_size)
    x = _swin_stages(x, geometry["grid"], embed_dim, depths, num_heads, window_size, mlp_ratio,
                     drop_path_rate, seed)
    x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")(x)
    embedding = keras.layers.GlobalAveragePooling1D(name="embedding", dtype="float32")(x)
    frames, clip = _token_semantic_head(x, geometry, n_classes, activation)
    outputs = {"framewise_output": frames, "clipwise_output": clip, "embedding": embedding}
    return keras.Model(waveform, outputs, name=name)


def _check_input_shape(input_shape, preset, geometry: dict, spec_size: int) -> tuple:
    """``input_shape`` as a tuple; raise unless it is a waveform short enough for the model."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 1:
        raise ValueError(f"htsat takes waveforms: input_shape must be (n_samples,) or (None,), "
                         f"got {input_shape}")
    if input_shape[0] is not None and preset.n_frames(input_shape[0]) > geometry["target_frames"]:
        raise ValueError(
            f"htsat: {input_shape[0]} samples give {preset.n_frames(input_shape[0])} frames at hop "
            f"{preset.hop_size}, more than the {geometry['target_frames']} the model takes "
            f"(spec_size {spec_size} x freq_ratio {geometry['freq_ratio']})")
    return input_shape


def _spectrogram_image(waveform, preset, geometry: dict, spec_augment: bool, seed):
    """Log-mel -> bn0 -> SpecAugment -> resized and folded into a spec_size x spec_size image."""
    x = log_mel_frames(waveform, preset)  # (batch, frames, mel, 1)
    x = keras.layers.BatchNormalization(axis=2, epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM,
                                        name="bn0")(x)
    if spec_augment:
        x = SpecAugmentation(time_drop_width=64, time_stripes_num=2, freq_drop_width=8,
                             freq_stripes_num=2, seed=seed, name="spec_augmenter")(x)
    x = AlignCornersBicubicResize(geometry["target_frames"], axis=1, name="interpolate_time")(x)
    if preset.mel_bins < geometry["target_bins"]:
        x = AlignCornersBicubicResize(geometry["target_bins"], axis=2, name="interpolate_freq")(x)
    return FoldSpectrogram(geometry["freq_ratio"], name="reshape_wav2img")(x)


def _patch_embedding(x, grid: int, embed_dim: int, patch_size: int):
    """Image -> (batch, grid * grid, embed_dim) normalised patch tokens."""
    x = keras.layers.Conv2D(embed_dim, patch_size, strides=patch_size, name="patch_embed_proj")(x)
    x = keras.layers.Reshape((grid * grid, embed_dim), name="patch_embed_flatten")(x)
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="patch_embed_norm")(x)


def _swin_stages(x, grid: int, embed_dim: int, depths, num_heads, window_size: int,
                 mlp_ratio: float, drop_path_rate: float, seed):
    """The Swin stages: ``depths[i]`` blocks each, patch merging between stages."""
    drop_path = np.linspace(0.0, drop_path_rate, sum(depths)) if sum(depths) else []
    block_index = 0
    for stage, (depth, heads) in enumerate(zip(depths, num_heads)):
        resolution = (grid // 2 ** stage, grid // 2 ** stage)
        dim = embed_dim * 2 ** stage
        for block in range(depth):
            x = SwinTransformerBlock(
                dim, resolution, heads, window_size=window_size,
                shift_size=0 if block % 2 == 0 else window_size // 2, mlp_ratio=mlp_ratio,
                drop_path=float(drop_path[block_index]), layer_norm_epsilon=LAYER_NORM_EPSILON,
                seed=None if seed is None else seed + 1 + block_index,
                name=f"layers_{stage}_blocks_{block}")(x)
            block_index += 1
        if stage < len(depths) - 1:
            x = PatchMerging(resolution, dim, layer_norm_epsilon=LAYER_NORM_EPSILON,
                             name=f"layers_{stage}_downsample")(x)
    return x


def _token_semantic_head(x, geometry: dict, n_classes: int, activation):
    """Token-semantic CAM: (framewise output, clipwise output) from the normalised tokens."""
    final_grid = geometry["final_grid"]
    x = TokenSemanticRegroup((final_grid, final_grid), geometry["freq_ratio"], name="tscam_regroup")(x)
    x = keras.layers.ZeroPadding2D(((0, 0), (1, 1)), name="tscam_pad")(x)
    x = keras.layers.Conv2D(n_classes, (geometry["token_bins"], 3), name="tscam_conv")(x)
    steps = geometry["time_steps"]
    logits = keras.layers.Reshape((steps, n_classes), name="tscam_logits")(x)
    clip = keras.layers.GlobalAveragePooling1D(name="clip_logits")(logits)
    clip = keras.layers.Activation(activation, name="clipwise_output", dtype="float32")(clip)
    frames = keras.layers.Activation(activation, name="frame_activation", dtype="float32")(logits)
    frames = keras.layers.UpSampling1D(geometry["target_frames"] // steps, name="framewise_output",
                                       dtype="float32")(frames)
    return frames, clip


htsat.default_preset = HTSAT_32K


def _geometry(preset, n_classes, depths, num_heads, embed_dim, window_size, spec_size, patch_size):
    """Derived sizes, validating the configuration with messages that name the culprit."""
    for label, value in (("n_classes", n_classes), ("embed_dim", embed_dim), ("window_size", window_size),
                         ("spec_size", spec_size), ("patch_size", patch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"htsat: {label} must be a positive integer, got {value!r}")
    if not depths or len(depths) != len(num_heads):
        raise ValueError(f"htsat: depths {depths} and num_heads {num_heads} must be non-empty and "
                         "of the same length (one per stage)")
    for stage, heads in enumerate(num_heads):
        if heads < 1 or (embed_dim * 2 ** stage) % heads:
            raise ValueError(f"htsat: stage {stage} has {embed_dim * 2 ** stage} channels, not divisible "
                             f"by num_heads {heads}")
    mel_bins = preset.mel_bins
    freq_ratio = spec_size // mel_bins
    if freq_ratio < 1 or spec_size % freq_ratio:
        raise ValueError(f"htsat: spec_size {spec_size} must be at least the {mel_bins} mel bins and "
                         f"divisible by spec_size // mel_bins = {freq_ratio}")
    if spec_size % patch_size:
        raise ValueError(f"htsat: spec_size {spec_size} is not divisible by patch_size {patch_size}")
    grid = spec_size // patch_size
    stages = len(depths)
    if grid % 2 ** (stages - 1):
        raise ValueError(f"htsat: the {grid} x {grid} patch grid cannot be halved {stages - 1} times")
    final_grid = grid // 2 ** (stages - 1)
    if final_grid % freq_ratio:
        raise ValueError(f"htsat: the final {final_grid} x {final_grid} token grid must be a multiple of "
                         f"freq_ratio {freq_ratio} (make spec_size larger or use fewer stages)")
    for stage in range(stages):
        side = grid // 2 ** stage
        if side > window_size and side % window_size:
            raise ValueError(f"htsat: stage {stage} grid {side} is not divisible by window_size "
                             f"{window_size}")
    return dict(freq_ratio=freq_ratio, target_frames=spec_size * freq_ratio,
                target_bins=spec_size // freq_ratio, grid=grid, final_grid=final_grid,
                token_bins=final_grid // freq_ratio, time_steps=final_grid * freq_ratio)
