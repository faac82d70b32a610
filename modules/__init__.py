"""spectrain: a TensorFlow/Keras 3 training suite for audio classification and sound-event detection."""

import os
from pathlib import Path

# TensorFlow's C++ INFO/WARNING chatter (the CPU-feature note) buries the job's own output; set
# before anything imports TensorFlow, and a user's own level wins. The oneDNN line printed twice at
# import ignores it (absl logging): the command line leaves it out (modules/startup.py).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parents[1]

__version__ = "0.1.0"
