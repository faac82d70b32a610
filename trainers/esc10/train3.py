"""ESC-10, fold 1 held out: PANNs CNNs trained from scratch on the raw waveform.

The models bring their own front end (32 kHz, window 1024, hop 320, 64 mel bins, 50-14000 Hz), so
the job decodes the audio at 32 kHz and feeds waveforms (``waveform_parser``). ESC-10 is a
single-label task: the heads use softmax instead of AudioSet's sigmoid.

    bash launch.sh train3 --testing           # each block: 2 epochs on a small subset
    bash launch.sh train3 --validation-only   # replay the latest job (its own block)
"""

import functools

from modules.models import cnn6, cnn10, cnn14
from modules.parameters import parameters
from modules.parsers import waveform_parser
from modules.training import launch_job

parameters.mode = "esc10"
parameters.audio_length = 5.0
parameters.step_size = 5.0
parameters.split = "fold"
parameters.validation_fold = 1
parameters.n_epochs = 60
parameters.batch_size = 16
parameters.lr = 1e-3
parameters.es_patience = 12
parameters.lr_patience = 5

# --- job block 1: CNN6 (4 blocks of 5x5 convolutions) ----------------------------------------
parameters.description = "PANNs CNN6 from scratch, waveform at 32 kHz, fold 1 held out"
launch_job({"Esc10": 1}, functools.partial(cnn6, clip_activation="softmax"), [], [],
           waveform_parser)

# --- job block 2: CNN10 ------------------------------------------------------------------------
parameters.description = "PANNs CNN10 from scratch, waveform at 32 kHz, fold 1 held out"
launch_job({"Esc10": 1}, functools.partial(cnn10, clip_activation="softmax"), [], [],
           waveform_parser)

# --- job block 3: CNN14 with the decision-level attention head (sound-event detection) --------
parameters.description = "PANNs CNN14, decision-level attention head, fold 1 held out"
parameters.batch_size = 8
launch_job({"Esc10": 1}, functools.partial(cnn14, clip_activation="softmax", decision_level="att"),
           [], [], waveform_parser)
