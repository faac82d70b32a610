"""Registration of the suite's Keras classes (layers, metrics, initializers, models).

Keras finds a custom class of a saved ``.keras`` file only if the loading process registered it,
and imports a class's module itself only for its own packages (keras, keras_hub, keras_cv,
keras_nlp). So a plain ``keras.saving.load_model`` of a spectrain model, without
``import modules.models`` first, fails with Keras' "Could not locate class 'LogMelSpectrogram'",
a message that ends with the object's config. :func:`serializable` registers a class as
``keras.saving.register_keras_serializable`` does (same registered name, e.g.
"spectrain>LogMelSpectrogram") and puts into its config a ``load_with`` key naming the import
that registers it, so that message points at the fix; ``from_config`` drops the key again, and a
config without it (a model saved before) loads as before::

    @serializable()                                        # registered by importing modules.models
    class MyLayer(keras.layers.Layer): ...

    @serializable(load_with="modules.representation.autoencoders")  # one modules.models lacks
    class MyEncoder(keras.layers.Layer): ...
"""

from __future__ import annotations

import functools
import inspect

import keras

__all__ = ["LOAD_WITH_KEY", "PACKAGE", "load_hint", "serializable", "without_load_hint"]

PACKAGE = "spectrain"
LOAD_WITH_KEY = "load_with"


def load_hint(module: str) -> str:
    """The ``load_with`` value of the classes that ``import module`` registers."""
    return (f"import {module} before keras.saving.load_model "
            f"(spectrain registers its Keras classes there)")


def without_load_hint(config):
    """``config`` without the ``load_with`` key (a copy when it had one)."""
    if isinstance(config, dict) and LOAD_WITH_KEY in config:
        return {key: value for key, value in config.items() if key != LOAD_WITH_KEY}
    return config


def serializable(package: str = PACKAGE, load_with: str = "modules.models"):
    """Class decorator: ``keras.saving.register_keras_serializable(package)``, the class's
    ``get_config`` adding ``load_with`` (:func:`load_hint` of the module whose import registers
    the class) and its ``from_config`` dropping it."""

    def decorate(cls):
        _add_load_hint(cls, load_hint(load_with))
        return keras.saving.register_keras_serializable(package=package)(cls)

    return decorate


def _add_load_hint(cls, hint: str) -> None:
    get_config = cls.get_config  # the class's own or the inherited one

    # wraps also copies Keras' "default method" mark, so a class whose get_config is Keras'
    # own keeps its automatic config (Operation.get_config checks that mark)
    @functools.wraps(get_config)
    def get_config_with_hint(self):
        # first: the key shows early in Keras' (long, one-line) error message
        return {LOAD_WITH_KEY: hint, **without_load_hint(get_config(self))}

    from_config = inspect.getattr_static(cls, "from_config")
    if not isinstance(from_config, classmethod):
        raise TypeError(f"{cls.__name__}.from_config is not a classmethod")
    build = from_config.__func__

    @functools.wraps(build)
    def from_config_without_hint(klass, config):
        return build(klass, without_load_hint(config))

    cls.get_config = get_config_with_hint
    cls.from_config = classmethod(from_config_without_hint)
