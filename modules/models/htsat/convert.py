"""Convert a PyTorch HTS-AT checkpoint into the Keras model of ``modules.models.htsat``.

The Keras layers carry the reference's module names with dots turned into underscores at the
top level (``layers.2.blocks.5`` -> layer ``layers_2_blocks_5``) and the same attribute names
below (``attn.qkv``, ``mlp.fc1``, ``downsample.reduction`` ...), so every checkpoint key finds
its variable by name; only the parameter names and layouts differ between the frameworks
(``_PARAMETERS``).

The conversion is strict: every checkpoint key is either loaded or listed in ``IGNORED`` with
the reason (constants are checked against ours, not skipped blindly), every Keras weight must
receive a value, and shapes must agree. Anything else raises ValueError naming the keys.

torch is only needed to read checkpoint files (``load_checkpoint``); ``convert_state_dict``
takes any mapping of names to arrays.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Dict, Mapping

import keras
import numpy as np

from modules.models.checkpoints import check_frontend_constants, read_torch_checkpoint, to_numpy
from modules.models.htsat.model import htsat
from modules.models.presets import HTSAT_32K

# Checkpoint keys deliberately not loaded into weights, with why. Those marked "checked" are
# compared with what our model computes, and a difference raises ValueError.
IGNORED = {
    # torchlibrosa computes the STFT as a 1-D convolution with the windowed DFT basis as (frozen)
    # kernels; LogMelSpectrogram computes the same STFT with tf.signal. Checked: shape and
    # window equal the preset's.
    r"spectrogram_extractor\.stft\.conv_(real|imag)\.weight": "STFT basis (checked: window size)",
    # The frozen Slaney mel matrix; ours is rebuilt from the preset. Checked: equal.
    r"logmel_extractor\.melW": "mel filterbank (checked: equal to the preset's)",
    # BatchNorm's update counter; only used when momentum=None (cumulative average), never here.
    r"(.*\.)?num_batches_tracked": "BatchNorm step counter (unused with a fixed momentum)",
    # Buffer derived from the window size. Checked: equal to ours.
    r".*\.attn\.relative_position_index": "relative position index (checked: equal to ours)",
    # Buffer derived from grid, window and shift. Checked: equal to ours.
    r".*\.attn_mask": "shifted-window attention mask (checked: equal to ours)",
    # nn.Linear(classes, classes) that HTS-AT creates next to tscam_conv but its forward never
    # calls (laion-clap and the original with enable_tscam=True).
    r"head\.(weight|bias)": "unused head (never called by the token-semantic forward)",
}

# Prefixes wrapped around the HTS-AT keys by the training code that saved them.
_PREFIXES = ("sed_model.",  # original HTS-AT (pytorch lightning SEDWrapper)
             "module.",  # DistributedDataParallel
             "audio_branch.")  # CLAP (after "module.")


# torch parameter name -> (Keras variable attribute, layout change), per Keras layer class.
def _dense_kernel(w):
    return w.T  # torch Linear (out, in) -> Keras (in, out)


def _conv_kernel(w):
    return w.transpose(2, 3, 1, 0)  # torch (out, in, kh, kw) -> Keras (kh, kw, in, out)


_PARAMETERS = {
    "Dense": {"weight": ("kernel", _dense_kernel), "bias": ("bias", None)},
    "Conv2D": {"weight": ("kernel", _conv_kernel), "bias": ("bias", None)},
    "LayerNormalization": {"weight": ("gamma", None), "bias": ("beta", None)},
    "BatchNormalization": {"weight": ("gamma", None), "bias": ("beta", None),
                           "running_mean": ("moving_mean", None),
                           "running_var": ("moving_variance", None)},
    "WindowAttention": {"relative_position_bias_table": ("relative_position_bias_table", None)},
}


def convert_state_dict(state_dict: Mapping[str, object], **builder_options) -> keras.Model:
    """Build ``htsat(**builder_options)`` and load ``state_dict`` (HTS-AT keys, arrays or tensors).

    Sizes not given in ``builder_options`` are read from the checkpoint: n_classes (from
    ``tscam_conv``), embed_dim and patch_size (``patch_embed.proj``), depths (block keys),
    num_heads and window_size (bias tables), mlp_ratio (``mlp.fc1``) and spec_size (the
    shifted-window masks). ``preset`` defaults to HTSAT_32K and must match the checkpoint's mel
    filterbank. ``spec_augment``, ``seed``, ``clip_activation``, ``drop_path_rate`` and
    ``input_shape`` pass through.
    """
    arrays = {key: to_numpy(value) for key, value in state_dict.items()}
    options = dict(builder_options)
    options.setdefault("preset", HTSAT_32K)
    for key, value in _infer_options(arrays).items():
        options.setdefault(key, value)
    preset = options["preset"]
    check_frontend_constants(arrays, preset)

    model = htsat(**options)
    top_level = {layer.name: layer for layer in model.layers}
    assigned, unused, mismatched = {}, [], []
    for key, value in arrays.items():
        if any(re.fullmatch(pattern, key) for pattern in IGNORED):
            _check_buffer(key, value, top_level)
            continue
        target = _resolve(key, top_level)
        if target is None:
            unused.append(key)
            continue
        variable, transform = target
        value = transform(value) if transform is not None else value
        if tuple(variable.shape) != tuple(value.shape):
            mismatched.append(f"{key}: checkpoint {tuple(arrays[key].shape)} (as Keras "
                              f"{tuple(value.shape)}) vs {variable.path} {tuple(variable.shape)}")
            continue
        assigned[id(variable)] = (variable, value.astype(variable.dtype))
    if unused:
        raise ValueError(f"{len(unused)} checkpoint keys match no weight of the model and are not in "
                         f"the ignored list: {', '.join(sorted(unused))}")
    if mismatched:
        raise ValueError("shape mismatch between checkpoint and model:\n  " + "\n  ".join(mismatched))
    missing = [variable.path for variable in model.weights if id(variable) not in assigned]
    if missing:
        raise ValueError(f"{len(missing)} model weights get no value from the checkpoint: "
                         f"{', '.join(missing)}")
    for variable, value in assigned.values():
        variable.assign(value)
    return model


def load_checkpoint(path, allow_pickle: bool = False) -> Dict[str, np.ndarray]:
    """Read the HTS-AT state dict (name -> numpy array) from a checkpoint file.

    Accepts the original HTS-AT pytorch-lightning ``.ckpt`` (``{"state_dict": {"sed_model.<key>"
    ...}}``), a CLAP checkpoint (the ``audio_branch.`` keys; the text branch is dropped), or a
    bare state dict. Read safely unless ``allow_pickle`` (``--trust-checkpoint``; see
    ``modules.models.checkpoints.read_torch_checkpoint``).
    """
    return _strip_prefixes(read_torch_checkpoint(path, allow_pickle))


def convert_checkpoint(checkpoint_path, output_path, allow_pickle: bool = False,
                       **builder_options) -> keras.Model:
    """Convert a PyTorch HTS-AT checkpoint and save the Keras model to ``output_path`` (.keras)."""
    output_path = Path(output_path)
    if output_path.suffix != ".keras":
        raise ValueError(f"output path must end in .keras, got {output_path}")
    model = convert_state_dict(load_checkpoint(checkpoint_path, allow_pickle), **builder_options)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(output_path)
    return model


# ----------------------------------------------------------------------------------------------
def _strip_prefixes(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    for prefix in _PREFIXES:
        matching = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
        if not matching:
            continue
        if prefix == "audio_branch.":  # CLAP: keep the audio tower only
            state = matching
        elif len(matching) == len(state):
            state = matching
    return state


def _resolve(key: str, top_level: Mapping[str, keras.layers.Layer]):
    """The Keras variable (and layout change) for a torch key, or None."""
    parts = key.split(".")
    module, parameter = parts[:-1], parts[-1]
    for split in range(len(module), 0, -1):
        layer = top_level.get("_".join(module[:split]))
        if layer is None:
            continue
        for attribute in module[split:]:
            layer = getattr(layer, attribute, None)
            if not isinstance(layer, keras.layers.Layer):
                return None
        mapping = _PARAMETERS.get(type(layer).__name__, {}).get(parameter)
        if mapping is None:
            return None
        attribute, transform = mapping
        variable = getattr(layer, attribute, None)
        return None if variable is None else (variable, transform)
    return None


def _check_buffer(key: str, value: np.ndarray, top_level) -> None:
    """Compare a constant of the checkpoint with the one our model computes."""
    if key.endswith("attn.relative_position_index"):
        attention = _module(key[:-len(".relative_position_index")], top_level)
        ours = None if attention is None else attention.relative_position_index
        if ours is None or ours.shape != value.shape or not np.array_equal(ours, value):
            raise ValueError(f"{key}: the checkpoint's relative position index differs from the "
                             "model's (different window size?)")
    elif key.endswith("attn_mask"):
        block = _module(key[:-len(".attn_mask")], top_level)
        ours = None if block is None else block.attn_mask
        if ours is None or ours.shape != value.shape or not np.array_equal(ours, value):
            raise ValueError(f"{key}: the checkpoint's shifted-window mask "
                             f"{None if value is None else value.shape} differs from the model's "
                             f"{None if ours is None else ours.shape} (different spec_size, window "
                             "or shift?)")


def _module(path: str, top_level):
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        layer = top_level.get("_".join(parts[:split]))
        if layer is not None:
            for attribute in parts[split:]:
                layer = getattr(layer, attribute, None)
            return layer
    return None


def _infer_options(arrays: Mapping[str, np.ndarray]) -> dict:
    """Model sizes readable from the checkpoint's shapes (only those present)."""
    options = {}
    if "tscam_conv.weight" in arrays:
        options["n_classes"] = int(arrays["tscam_conv.weight"].shape[0])
    if "patch_embed.proj.weight" in arrays:
        proj = arrays["patch_embed.proj.weight"]
        options["embed_dim"], options["patch_size"] = int(proj.shape[0]), int(proj.shape[2])
    blocks = {}
    for key in arrays:
        match = re.match(r"layers\.(\d+)\.blocks\.(\d+)\.", key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
    if blocks:
        stages = range(max(blocks) + 1)
        options["depths"] = tuple(blocks.get(stage, 0) for stage in stages)
        heads = [arrays.get(f"layers.{stage}.blocks.0.attn.relative_position_bias_table")
                 for stage in stages]
        if all(table is not None for table in heads):
            options["num_heads"] = tuple(int(table.shape[1]) for table in heads)
            options["window_size"] = (int(round(math.sqrt(heads[0].shape[0]))) + 1) // 2
        fc1 = arrays.get("layers.0.blocks.0.mlp.fc1.weight")
        if fc1 is not None:
            options["mlp_ratio"] = fc1.shape[0] / fc1.shape[1]
        # A shifted block's mask has (side / window)^2 windows of window^2 tokens.
        for key, mask in arrays.items():
            match = re.fullmatch(r"layers\.(\d+)\.blocks\.\d+\.attn_mask", key)
            if match and mask is not None and mask.ndim == 3 and "patch_size" in options:
                window = int(round(math.sqrt(mask.shape[1])))
                side = int(round(math.sqrt(mask.shape[0]))) * window
                options["spec_size"] = side * 2 ** int(match.group(1)) * options["patch_size"]
                break
    return options
