"""Import the PyTorch PANNs reference models from their PyPI packages, without side effects.

Used by the parity tests and the CNN14 benchmark only (needs torch and torchlibrosa: the
``reference`` extra). ``panns_inference/__init__.py`` downloads a label file at import time and
``laion_clap/clap_module/__init__.py`` pulls in the whole CLAP stack, so the module files that
hold the models are loaded on their own, under a synthetic package name, so that their relative
imports (``.pytorch_utils``, ``.utils``, ``.feature_fusion``) still resolve.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

# Names of the synthetic packages the reference modules are loaded under.
_PANNS_PACKAGE = "_spectrain_reference_panns_inference"
_CLAP_PACKAGE = "_spectrain_reference_laion_clap"


def _package_dir(distribution_module: str) -> Path:
    spec = importlib.util.find_spec(distribution_module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the reference package {distribution_module!r} is not installed "
                          "(pip install -e .[reference])")
    return Path(list(spec.submodule_search_locations)[0])


def _synthetic_package(name: str, directory: Path) -> None:
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(directory)]
        package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        package.__spec__.submodule_search_locations = [str(directory)]
        sys.modules[name] = package


def _load(package: str, directory: Path, module: str):
    full_name = f"{package}.{module}"
    if full_name in sys.modules:
        return sys.modules[full_name]
    _synthetic_package(package, directory)
    spec = importlib.util.spec_from_file_location(full_name, directory / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[full_name] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[full_name]
        raise
    return loaded


def panns_inference_models():
    """``panns_inference/models.py`` (Cnn14, Cnn14_DecisionLevelMax)."""
    return _load(_PANNS_PACKAGE, _package_dir("panns_inference"), "models")


def laion_clap_pann_models():
    """``laion_clap/clap_module/pann_model.py`` (Cnn6, Cnn10, Cnn14 with CLAP's extra outputs).

    Its ``utils`` module imports ``torchvision.ops.misc.FrozenBatchNorm2d`` for a helper the
    models never use; when torchvision is missing a stand-in module is registered for it.
    """
    try:
        import torchvision.ops.misc  # noqa: F401
    except ImportError:
        _stub_torchvision()
    directory = _package_dir("laion_clap") / "clap_module"
    return _load(_CLAP_PACKAGE, directory, "pann_model")


def _stub_torchvision() -> None:
    import torch

    class FrozenBatchNorm2d(torch.nn.Module):  # never instantiated by the PANN models
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision stand-in: FrozenBatchNorm2d is not available")

    for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchvision.ops.misc"].FrozenBatchNorm2d = FrozenBatchNorm2d
    sys.modules["torchvision"].ops = sys.modules["torchvision.ops"]
    sys.modules["torchvision.ops"].misc = sys.modules["torchvision.ops.misc"]


def build(model_name: str, preset, classes_num: int = 527):
    """A reference model (random init) for ``model_name`` with ``preset``'s front end."""
    kwargs = dict(sample_rate=preset.sr, window_size=preset.window_size, hop_size=preset.hop_size,
                  mel_bins=preset.mel_bins, fmin=preset.fmin, fmax=preset.fmax,
                  classes_num=classes_num)
    if model_name in ("Cnn14", "Cnn14_DecisionLevelMax"):
        return getattr(panns_inference_models(), model_name)(**kwargs)
    if model_name in ("Cnn6", "Cnn10"):
        return getattr(laion_clap_pann_models(), model_name)(**kwargs)
    raise ValueError(f"no PyPI reference for {model_name!r}")
