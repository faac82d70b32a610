"""Parse functions: decoded audio batches -> model inputs.

A parse function is a *builder*: ``launch_job`` calls it once with the frozen parameters, and it
returns ``parse(audio, labels) -> (inputs, labels)`` working on batches (batch, samples). The
builder's name is recorded in each job, so a replay rebuilds exactly the same inputs.
"""

from __future__ import annotations

import importlib

from modules.frontend import frontend_from_parameters


def spec_parser(params):
    """Log-mel (or MFCC / STFT, per ``params.spectrogram``) images of shape (bins, frames, 1)."""
    frontend = frontend_from_parameters(params)

    def parse(audio, labels):
        return frontend(audio), labels

    return parse


def waveform_parser(params):
    """The waveform itself (samples,), for models that hold their own front end."""

    def parse(audio, labels):
        return audio, labels

    return parse


def feature_parser(params):
    """Feature vectors (features,) of a feature-set dataset (learned representations, see
    :mod:`modules.data.feature_sets`), as they are: a model such as ``feature_mlp``
    standardises them itself."""

    def parse(features, labels):
        return features, labels

    return parse


def qualified_name(function) -> str:
    """"module:qualname" of a function (or a functools.partial's function, or an object's class)."""
    target = getattr(function, "func", function)
    module = getattr(target, "__module__", type(target).__module__)
    name = getattr(target, "__qualname__", type(target).__qualname__)
    return f"{module}:{name}"


def resolve(name: str):
    """The function recorded by ``qualified_name`` (e.g. "modules.parsers:spec_parser")."""
    module_name, _, attribute = name.partition(":")
    try:
        target = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise LookupError(f"cannot find parse function {name!r}: {error}") from None
    return target
