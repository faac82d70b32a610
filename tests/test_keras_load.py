"""A saved ``.keras`` model with the suite's layers loads in a fresh process once
``modules.models`` is imported (it registers them); plain ``keras.saving.load_model`` without
that import fails with Keras' ``Could not locate class 'LogMelSpectrogram'`` (Keras imports a
custom layer's module itself only for its own packages: keras, keras_hub, keras_cv, keras_nlp).
The message ends with the object's config, in which ``modules.serialization`` puts the import
that fixes it; a model saved before that key existed still loads."""

import json
import subprocess
import sys
import zipfile

import keras
import numpy as np

from modules import PROJECT_ROOT
from modules.frontend import LogMelSpectrogram
from modules.serialization import LOAD_WITH_KEY
from modules.training_metrics import training_metrics

FRESH_LOAD = """
import sys, keras

def attempt(label, **options):
    try:
        model = keras.saving.load_model(sys.argv[1], **options)
    except TypeError as error:
        print(label, "FAILS:", str(error).splitlines()[-1])
    else:
        print(label, "LOADS:", type(model.layers[1]).__name__)

attempt("PLAIN")
import modules.models
attempt("WITH MODELS")
"""


def _saved_model(path):
    """waveform -> LogMelSpectrogram -> Dense, compiled with the suite's ConfusionMatrixMetric
    (as a respiratory job's checkpoint is)."""
    waveform = keras.Input((4096,))
    spectrogram = LogMelSpectrogram(sr=16000, n_fft=512, hop_length=256, n_mels=32)(waveform)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(spectrogram))
    model = keras.Model(waveform, outputs)
    model.compile(loss="categorical_crossentropy", metrics=training_metrics("cw", 2))
    model.optimizer.build(model.trainable_variables)  # saved as after training: no warning
    model.save(path)
    return model


def test_a_saved_model_needs_modules_models_imported_and_the_error_says_so(tmp_path):
    path = tmp_path / "model.keras"
    _saved_model(path)

    result = subprocess.run([sys.executable, "-c", FRESH_LOAD, str(path)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    lines = {line.split(":", 1)[0]: line for line in result.stdout.splitlines()}
    everything = result.stdout + result.stderr
    plain = lines.get("PLAIN FAILS", "")
    assert "Could not locate class 'LogMelSpectrogram'" in plain, everything
    assert "'load_with': 'import modules.models before keras.saving.load_model" in plain
    # one import registers the layers and the compiled metric (ConfusionMatrixMetric) alike
    assert "WITH MODELS LOADS: LogMelSpectrogram" in result.stdout, everything


def _strip_load_hints(value):
    if isinstance(value, dict):
        return {key: _strip_load_hints(item) for key, item in value.items()
                if key != LOAD_WITH_KEY}
    if isinstance(value, list):
        return [_strip_load_hints(item) for item in value]
    return value


def test_a_model_saved_without_the_load_hint_still_loads(tmp_path):
    saved, old_style = tmp_path / "model.keras", tmp_path / "old_style.keras"
    model = _saved_model(saved)
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(old_style, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                assert LOAD_WITH_KEY in data.decode()  # written today: LogMel and metrics
                data = json.dumps(_strip_load_hints(json.loads(data))).encode()
                assert LOAD_WITH_KEY not in data.decode()
            target.writestr(item, data)

    loaded = keras.saving.load_model(old_style)
    assert isinstance(loaded.layers[1], LogMelSpectrogram)
    clips = np.random.default_rng(0).normal(size=(2, 4096)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(clips, verbose=0), model.predict(clips, verbose=0),
                               rtol=0, atol=1e-6)
    labels = np.eye(2, dtype=np.float32)[[0, 1]]
    assert "icbhi_score" in loaded.evaluate(clips, labels, verbose=0, return_dict=True)
    # saving again writes the key again
    assert loaded.layers[1].get_config()[LOAD_WITH_KEY].startswith("import modules.models ")
