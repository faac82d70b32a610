"""A saved ``.keras`` model with the suite's layers loads in a fresh process once
``modules.models`` is imported (it registers them); plain ``keras.saving.load_model`` without
that import fails with Keras' ``Could not locate class 'LogMelSpectrogram'`` (Keras imports a
custom layer's module itself only for its own packages: keras, keras_hub, keras_cv, keras_nlp)."""

import subprocess
import sys

import keras

from modules import PROJECT_ROOT
from modules.frontend import LogMelSpectrogram

FRESH_LOAD = """
import sys, keras
try:
    keras.saving.load_model(sys.argv[1])
except TypeError as error:
    print("PLAIN:", str(error).splitlines()[-1][:200])
import modules.models
model = keras.saving.load_model(sys.argv[1])
print("WITH IMPORT:", type(model.layers[1]).__name__)
"""


def test_a_saved_model_needs_modules_models_imported(tmp_path):
    waveform = keras.Input((4096,))
    spectrogram = LogMelSpectrogram(sr=16000, n_fft=512, hop_length=256, n_mels=32)(waveform)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(spectrogram))
    path = tmp_path / "model.keras"
    keras.Model(waveform, outputs).save(path)

    result = subprocess.run([sys.executable, "-c", FRESH_LOAD, str(path)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    assert "PLAIN: Exception encountered: Could not locate class 'LogMelSpectrogram'" \
        in result.stdout, result.stdout + result.stderr
    assert "WITH IMPORT: LogMelSpectrogram" in result.stdout
