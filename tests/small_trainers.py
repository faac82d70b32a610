"""The head of the small trainer files that the job-level tests write (resume, parallel): a tiny
CNN with dropout, and ``common(epochs)``, the settings that make a testing job on ESC-10 take
seconds (8 kHz, 32 mel bins, 2 clips per class and split)."""

import pytest

from tests.conftest import ESC10

HEAD = '''
import keras
from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job


def small_cnn(input_shape, n_classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)  # its seed state is part of what a resume restores
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x))


def common(epochs):
    parameters.reset()
    parameters.mode = "esc10"
    parameters.sr = 8000
    parameters.n_fft = 512
    parameters.hop_length = 256
    parameters.n_mels = 32
    parameters.testing_epochs = epochs
    parameters.testing_files_per_class = 2
    parameters.batch_size = 8
    parameters.es_patience = 100
    parameters.n_gradcam = 0
    parameters.n_example_plots = 0
'''


def esc10_or_skip():
    if not ESC10.is_dir():
        pytest.skip(f"ESC-10 not found at {ESC10}")
