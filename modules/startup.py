"""TensorFlow's start-up lines, left out of a ``spectrain`` command's console.

TensorFlow 2.21 writes two lines twice at ``import tensorflow``: absl's "All log messages before
absl::InitializeLog() is called are written to STDERR" and "oneDNN custom operations are on...".
They come through absl from ``libtensorflow_framework.so.2`` and again from the profiler plugin
(which carries its own copy), so ``TF_CPP_MIN_LOG_LEVEL`` does not reach them, and the only
setting that removes them, ``TF_ENABLE_ONEDNN_OPTS=0``, changes the numbers. What the process
can do is hold its stderr while TensorFlow loads and pass on everything else it wrote:
:func:`import_tensorflow_quietly` does that, once, before a command runs.
"""

from __future__ import annotations

import os
import sys
import tempfile

__all__ = ["START_UP_LINES", "import_tensorflow_quietly"]

START_UP_LINES = ("All log messages before absl::InitializeLog() is called are written to STDERR",
                  "oneDNN custom operations are on.")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with :data:`START_UP_LINES` left out of stderr; every other line
    written while it loads (an error, a warning) is written on as it was. Nothing is held back
    when TensorFlow is imported already or ``TF_CPP_MIN_LOG_LEVEL`` is below 2 (the user asked
    for TensorFlow's lines)."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    if "tensorflow" in sys.modules or not level.isdigit() or int(level) < 2:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    # A file, not a pipe: a pipe would fill and block TensorFlow's writes with no reader.
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines(True)
                    if not any(known in line for known in START_UP_LINES)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
