"""modules.serialization: the registered name is Keras' own; configs carry the import that
registers the class and lose it again in from_config; Keras' automatic config still works."""

import keras
import pytest

from modules.serialization import LOAD_WITH_KEY, load_hint, serializable


@serializable(package="spectrain_test")
class Scaled(keras.layers.Layer):
    def __init__(self, factor: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@serializable(package="spectrain_test", load_with="modules.somewhere_else")
class MoreScaled(Scaled):
    """A registered subclass that keeps its parent's get_config and from_config."""


@serializable(package="spectrain_test")
class AutoConfigured(keras.layers.Layer):
    """No get_config of its own: Keras builds the config from the constructor's arguments."""

    def __init__(self, offset: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset


def test_the_config_names_the_import_and_from_config_drops_it():
    assert keras.saving.get_registered_name(Scaled) == "spectrain_test>Scaled"
    assert keras.saving.get_registered_object("spectrain_test>Scaled") is Scaled
    config = Scaled(3.0, name="s").get_config()
    assert config[LOAD_WITH_KEY] == load_hint("modules.models")
    assert list(config)[0] == LOAD_WITH_KEY  # early in Keras' one-line error message
    clone = Scaled.from_config(config)
    assert (clone.factor, clone.name) == (3.0, "s") and clone.get_config() == config
    old_style = {key: value for key, value in config.items() if key != LOAD_WITH_KEY}
    assert Scaled.from_config(old_style).factor == 3.0  # saved before the key existed
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(Scaled(4.0)))
    assert type(restored) is Scaled and restored.factor == 4.0


def test_a_subclass_names_its_own_import():
    config = MoreScaled(5.0).get_config()
    assert config[LOAD_WITH_KEY] == load_hint("modules.somewhere_else")
    clone = MoreScaled.from_config(config)
    assert type(clone) is MoreScaled and clone.factor == 5.0
    assert keras.saving.get_registered_name(MoreScaled) == "spectrain_test>MoreScaled"


def test_keras_automatic_config_is_kept():
    config = AutoConfigured(1.5, name="a").get_config()
    assert config["offset"] == 1.5 and config[LOAD_WITH_KEY] == load_hint("modules.models")
    clone = AutoConfigured.from_config(config)
    assert (clone.offset, clone.name) == (1.5, "a")


def test_a_class_without_a_classmethod_from_config_is_refused():
    class Odd(keras.layers.Layer):
        @staticmethod
        def from_config(config):
            return Odd()

    with pytest.raises(TypeError, match="from_config is not a classmethod"):
        serializable(package="spectrain_test")(Odd)
