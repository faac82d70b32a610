"""spectrain: a TensorFlow/Keras 3 training suite for audio classification and sound-event detection."""

import os
from pathlib import Path

# TensorFlow's C++ start-up chatter (oneDNN, CPU-feature notes) buries the job's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parents[1]

__version__ = "0.1.0"
