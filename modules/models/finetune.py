"""Building a job's network: a model-zoo builder or a built model, optionally initialised from a
pretrained ``.keras`` file (fine-tuning), reduced to the one output a classification job trains.

Weight transfer is strict, like the checkpoint converters: layers are matched by name, and the
only weights allowed to differ in shape are those whose differing axes are the class count (the
head, re-initialised for the job's ``n_classes``). A layer of the pretrained model left unused, or
a layer of the job's model with no pretrained counterpart, is an error naming the layers, because
a silent partial load trains a different model from the one the user thinks they have.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import keras

from modules.models.presets import FrontEndPreset, check_frontend_match, frontend_settings

# Output names a multi-output zoo model trains on in a classification job, in order of preference.
CLASSIFICATION_OUTPUTS = ("clipwise_output", "probabilities")


@dataclass
class TransferReport:
    """What ``load_pretrained`` did, for the job log and report."""

    source: str
    copied: list = field(default_factory=list)  # layer names whose weights were loaded
    new_head: list = field(default_factory=list)  # layer names re-initialised for n_classes
    frozen: list = field(default_factory=list)  # layer names made non-trainable

    def summary(self) -> str:
        text = f"pretrained weights from {self.source}: {len(self.copied)} layers loaded"
        if self.new_head:
            text += f", new head {', '.join(self.new_head)}"
        if self.frozen:
            text += f", {len(self.frozen)} layers frozen"
        return text


def builder_preset(model_spec) -> Optional[FrontEndPreset]:
    """The front-end preset a builder (or functools.partial of one) will use, or None."""
    keywords = {}
    while isinstance(model_spec, functools.partial):
        keywords = {**model_spec.keywords, **keywords}
        model_spec = model_spec.func
    preset = keywords.get("preset", getattr(model_spec, "default_preset", None))
    if isinstance(preset, str):
        from modules.models.presets import get_preset

        preset = get_preset(preset)
    return preset


def classification_model(network: keras.Model) -> keras.Model:
    """The network itself when it has one output, else a model over its clip-level output."""
    outputs = network.output
    if not isinstance(outputs, dict):
        return network
    for name in CLASSIFICATION_OUTPUTS:
        if name in outputs:
            return keras.Model(network.inputs, outputs[name], name=network.name)
    raise ValueError(f"model {network.name!r} has outputs {sorted(outputs)}; a classification job "
                     f"needs one named {' or '.join(CLASSIFICATION_OUTPUTS)}")


def n_output_classes(network: keras.Model) -> int:
    """Class count of a network's classification output."""
    return int(classification_model(network).output_shape[-1])


def output_activation(network: keras.Model) -> str:
    """'sigmoid' or 'softmax' (or another activation name) of the classification output layer."""
    layer = classification_model(network).layers[-1]
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation))


def load_pretrained(network: keras.Model, pretrained_path, freeze_base: bool = False) -> TransferReport:
    """Copy the weights of the model saved at ``pretrained_path`` into ``network`` by layer name.

    Fails when the front ends differ (naming both settings), when a layer exists on one side only,
    or when weights differ in shape anywhere but along the class axis.
    """
    path = Path(pretrained_path)
    if not path.exists():
        raise FileNotFoundError(f"pretrained model {path} does not exist (parameters.pretrained_path); "
                                "convert a checkpoint with `spectrain convert` or use a job's best_model.keras")
    from modules.models import load_model

    source = load_model(path, compile=False)
    check_frontend_match(frontend_settings(source), frontend_settings(network),
                         f"pretrained model {path.name}", f"job model {network.name}")
    source_classes, target_classes = n_output_classes(source), n_output_classes(network)
    source_layers = {layer.name: layer for layer in _weighted_layers(source)}
    target_layers = {layer.name: layer for layer in _weighted_layers(network)}
    only_source = sorted(set(source_layers) - set(target_layers))
    only_target = sorted(set(target_layers) - set(source_layers))
    if only_source or only_target:
        raise ValueError(
            f"pretrained model {path.name} ({source.name}) and job model {network.name} have "
            f"different layers: only in the pretrained model: {only_source or 'none'}; only in "
            f"the job model: {only_target or 'none'}")
    report = TransferReport(source=str(path))
    for name, target in target_layers.items():
        source_weights = source_layers[name].get_weights()
        target_weights = target.get_weights()
        shapes = [(s.shape, t.shape) for s, t in zip(source_weights, target_weights)]
        if len(source_weights) == len(target_weights) and all(s == t for s, t in shapes):
            target.set_weights(source_weights)
            report.copied.append(name)
        elif len(source_weights) == len(target_weights) and all(
                _differs_only_in_classes(s, t, source_classes, target_classes) for s, t in shapes):
            report.new_head.append(name)
        else:
            raise ValueError(f"layer {name!r}: pretrained weight shapes {[s for s, _ in shapes]} do "
                             f"not fit the job model's {[t for _, t in shapes]}")
    if freeze_base:
        for name, layer in target_layers.items():
            if name not in report.new_head:
                layer.trainable = False
                report.frozen.append(name)
        if not report.new_head:
            raise ValueError("freeze_base is set but the head was not replaced (same class count), "
                             "so nothing would train")
    return report


def build_network(model_spec, input_shape, n_classes: int, pretrained_path=None,
                  freeze_base: bool = False) -> tuple[keras.Model, Optional[TransferReport]]:
    """The job's network (one classification output) and what fine-tuning loaded, if anything."""
    if freeze_base and not pretrained_path:
        raise ValueError("freeze_base needs parameters.pretrained_path (there is no base to freeze)")
    network = model_spec if isinstance(model_spec, keras.Model) else model_spec(
        input_shape=tuple(input_shape), n_classes=n_classes)
    report = load_pretrained(network, pretrained_path, freeze_base) if pretrained_path else None
    return classification_model(network), report


def _weighted_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _weighted_layers(layer)
        elif layer.weights:
            yield layer


def _differs_only_in_classes(source_shape, target_shape, source_classes, target_classes) -> bool:
    if len(source_shape) != len(target_shape) or source_shape == target_shape:
        return source_shape == target_shape
    return all(s == t or (s == source_classes and t == target_classes)
               for s, t in zip(source_shape, target_shape))
