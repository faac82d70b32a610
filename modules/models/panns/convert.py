"""Convert PyTorch PANNs checkpoints (qiuqiangkong/audioset_tagging_cnn releases) to Keras.

    model = convert_checkpoint("Cnn14_mAP=0.431.pth", "cnn14.keras", "Cnn14")

The Keras layers carry the torch module names, so the name map is mechanical: the Keras weight
``conv_block3/bn2/moving_variance`` is the torch key ``conv_block3.bn2.running_var``. The
conversion is strict:

* every checkpoint key is either loaded into a Keras weight or listed in ``IGNORED_KEYS`` /
  ``IGNORED_SUFFIXES`` (front-end constants, batch counters, the Att model's unused ``bn_att``);
  any other key raises, naming it;
* every Keras weight must receive a value; one left over raises, naming it;
* a shape mismatch raises, naming the key and both shapes;
* the front-end constants in the checkpoint (STFT window, mel filterbank) are compared with the
  Keras front end, and a difference raises naming both settings, so weights never meet features
  they were not trained on.

Layout changes: conv kernels torch (out, in, kh, kw) -> Keras (kh, kw, in, out) (time stays the
first spatial axis: both models are time major); Conv1d (out, in, k) -> (k, in, out); Linear
(out, in) -> (in, out); batch norm weight/bias/running_mean/running_var -> gamma/beta/
moving_mean/moving_variance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Union

import keras
import numpy as np

from modules.frontend import LogMelSpectrogram
from modules.models.checkpoints import (MEL_MATRIX, STFT_IMAG, STFT_REAL, check_frontend_constants,
                                        frontend_constants, read_torch_checkpoint, to_numpy)
from modules.models.panns.models import cnn6, cnn10, cnn14
from modules.models.presets import (PANNS_8K, PANNS_16K, PANNS_32K, FrontEndPreset,
                                    get_preset)

# model name -> (builder, decision_level, default preset)
MODELS = {
    "Cnn6": (cnn6, None, PANNS_32K),
    "Cnn10": (cnn10, None, PANNS_32K),
    "Cnn14": (cnn14, None, PANNS_32K),
    "Cnn14_DecisionLevelMax": (cnn14, "max", PANNS_32K),
    "Cnn14_DecisionLevelAvg": (cnn14, "avg", PANNS_32K),
    "Cnn14_DecisionLevelAtt": (cnn14, "att", PANNS_32K),
    "Cnn14_16k": (cnn14, None, PANNS_16K),
    "Cnn14_8k": (cnn14, None, PANNS_8K),
}

#: Checkpoint keys deliberately not loaded: the front end is rebuilt from its settings (and the
#: checkpoint's copy is checked against it instead).
IGNORED_KEYS = (STFT_REAL, STFT_IMAG, MEL_MATRIX)
#: Key endings deliberately not loaded: torch's batch counters (no Keras counterpart).
IGNORED_SUFFIXES = (".num_batches_tracked",)
#: Per model: AttBlock.bn_att exists in the reference but its forward pass never uses it.
IGNORED_PREFIXES = {"Cnn14_DecisionLevelAtt": ("att_block.bn_att.",)}

# Keras variable name -> torch parameter name.
_PARAMETER_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
                    "moving_mean": "running_mean", "moving_variance": "running_var"}


#: Other names of the same models: the original repository calls its averaging SED model
#: ``Cnn13_DecisionLevelAvg`` (it is a Cnn14: six blocks).
ALIASES = {"cnn13_decisionlevelavg": "Cnn14_DecisionLevelAvg"}


def _canonical_name(model_name: str) -> str:
    if str(model_name).lower() in ALIASES:
        return ALIASES[str(model_name).lower()]
    for name in MODELS:
        if name.lower() == str(model_name).lower():
            return name
    raise ValueError(f"unknown PANNs model {model_name!r}; known: {', '.join(MODELS)}")


def _strip_prefix(state_dict: Mapping) -> dict:
    """Drop the ``module.`` prefix DataParallel adds to every key."""
    keys = list(state_dict)
    if keys and all(key.startswith("module.") for key in keys):
        return {key[len("module."):]: value for key, value in state_dict.items()}
    return dict(state_dict)


def torch_key(weight_path: str) -> str:
    """The torch state_dict key of a Keras weight path (``conv_block1/bn1/gamma`` ->
    ``conv_block1.bn1.weight``)."""
    *modules, parameter = weight_path.split("/")
    if parameter not in _PARAMETER_NAMES:
        raise ValueError(f"no torch counterpart for the Keras weight {weight_path!r}")
    return ".".join(modules + [_PARAMETER_NAMES[parameter]])


def _to_keras_layout(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:  # Conv2d (out, in, kh, kw) -> (kh, kw, in, out)
        return np.transpose(array, (2, 3, 1, 0))
    if array.ndim == 3:  # Conv1d (out, in, k) -> (k, in, out)
        return np.transpose(array, (2, 1, 0))
    if array.ndim == 2:  # Linear (out, in) -> (in, out)
        return array.T
    return array


def _to_torch_shape(keras_shape) -> tuple:
    shape = tuple(int(s) for s in keras_shape)
    if len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    if len(shape) == 3:
        return (shape[2], shape[1], shape[0])
    if len(shape) == 2:
        return (shape[1], shape[0])
    return shape


def _loadable_variables(model: keras.Model):
    """The model's weights that come from a checkpoint (not RNG states of dropout/SpecAugment)."""
    return [v for v in model.weights if "seed_generator" not in v.path]


def _n_classes(state_dict: Mapping, model_name: str) -> int:
    key = "att_block.att.weight" if model_name == "Cnn14_DecisionLevelAtt" else "fc_audioset.weight"
    if key not in state_dict:
        raise ValueError(f"{model_name} checkpoint has no {key!r}, so the number of classes is "
                         f"unknown; is this a {model_name} checkpoint? Keys start with: "
                         f"{', '.join(sorted(state_dict)[:8])}")
    return int(np.shape(to_numpy(state_dict[key]))[0])


def convert_state_dict(state_dict: Mapping, model_name: str,
                       preset: Union[FrontEndPreset, str, None] = None) -> keras.Model:
    """A Keras PANNs model holding the weights of a PyTorch ``state_dict``.

    Args:
        state_dict: key -> tensor (torch tensors or numpy arrays); a ``module.`` prefix on every
            key is removed.
        model_name: one of ``MODELS`` (case-insensitive), e.g. ``"Cnn14"``.
        preset: the front end to build; default the model's own (32 kHz, or 16/8 kHz for
            ``Cnn14_16k``/``Cnn14_8k``). The checkpoint's mel filterbank and window must match it.

    Raises:
        ValueError: unknown model, unused or missing keys, shape mismatches, front-end mismatch.
    """
    model_name = _canonical_name(model_name)
    builder, decision_level, default_preset = MODELS[model_name]
    if preset is None:
        preset = default_preset
    elif isinstance(preset, str):
        preset = get_preset(preset)
    state_dict = {key: to_numpy(value) for key, value in _strip_prefix(state_dict).items()}
    check_frontend_constants(state_dict, preset)

    # Zero initial kernels: every one is overwritten, and random init of 80M weights is slow.
    model = builder((None,), n_classes=_n_classes(state_dict, model_name), preset=preset,
                    decision_level=decision_level, kernel_initializer="zeros")

    ignored_prefixes = IGNORED_PREFIXES.get(model_name, ())
    unused = {key for key in state_dict
              if key not in IGNORED_KEYS and not key.endswith(IGNORED_SUFFIXES)
              and not key.startswith(ignored_prefixes)}
    missing, mismatched, assignments = [], [], []
    for variable in _loadable_variables(model):
        key = torch_key(variable.path)
        if key not in state_dict:
            missing.append(f"{variable.path} (checkpoint key {key})")
            continue
        unused.discard(key)
        value = _to_keras_layout(state_dict[key])
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(f"{key}: checkpoint has shape {tuple(state_dict[key].shape)}, "
                              f"the Keras {model_name} needs {_to_torch_shape(variable.shape)} "
                              f"(Keras {variable.path} {tuple(variable.shape)})")
            continue
        assignments.append((variable, value))

    problems = []
    if mismatched:
        problems.append("shape mismatch:\n  " + "\n  ".join(mismatched))
    if unused:
        problems.append(f"checkpoint keys with no place in the Keras {model_name}:\n  "
                        + "\n  ".join(sorted(unused)))
    if missing:
        problems.append("Keras weights the checkpoint does not provide:\n  "
                        + "\n  ".join(missing))
    if problems:
        raise ValueError(f"cannot convert the checkpoint to {model_name}: " + "\n".join(problems))
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
    return model


def _frontend_layer(model: keras.Model) -> LogMelSpectrogram:
    return next(layer for layer in model.layers if isinstance(layer, LogMelSpectrogram))


def state_dict_from_keras(model: keras.Model, include_frontend: bool = True) -> dict:
    """The inverse map: a torch-layout state_dict (numpy arrays) of a Keras PANNs model, with
    the front-end constants (STFT kernels, mel matrix) and batch counters the reference code
    keeps. ``torch.nn.Module.load_state_dict`` accepts it after ``torch.from_numpy``."""
    state_dict = {}
    for variable in _loadable_variables(model):
        key = torch_key(variable.path)
        value = np.asarray(variable.numpy())
        if value.ndim == 4:
            value = np.transpose(value, (3, 2, 0, 1))
        elif value.ndim == 3:
            value = np.transpose(value, (2, 1, 0))
        elif value.ndim == 2:
            value = value.T
        state_dict[key] = np.ascontiguousarray(value)
        if key.endswith(".running_var"):
            state_dict[key[: -len("running_var")] + "num_batches_tracked"] = np.array(0, np.int64)
    if include_frontend:
        state_dict.update(frontend_constants(_frontend_layer(model)))
    return state_dict


def load_checkpoint(path: Union[str, Path], allow_pickle: bool = False) -> dict:
    """The state_dict of a PyTorch checkpoint: ``{"model": state_dict, ...}`` (the PANNs
    release format) or a bare state_dict; a ``module.`` prefix is removed. Read safely unless
    ``allow_pickle`` (see ``modules.models.checkpoints.read_torch_checkpoint``)."""
    return _strip_prefix(read_torch_checkpoint(path, allow_pickle))


def convert_checkpoint(checkpoint_path: Union[str, Path], output_path: Union[str, Path],
                       model_name: str = "Cnn14", preset: Union[FrontEndPreset, str, None] = None,
                       allow_pickle: bool = False) -> keras.Model:
    """Load a PyTorch PANNs checkpoint, convert it, save it as ``output_path`` (``.keras``) and
    return the Keras model."""
    output_path = Path(output_path)
    if output_path.suffix != ".keras":
        raise ValueError(f"the output must be a .keras file, got {output_path}")
    model = convert_state_dict(load_checkpoint(checkpoint_path, allow_pickle=allow_pickle),
                               model_name, preset=preset)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(output_path)
    return model


__all__ = ["IGNORED_KEYS", "IGNORED_SUFFIXES", "MODELS", "convert_checkpoint", "convert_state_dict",
           "load_checkpoint", "state_dict_from_keras", "torch_key"]
