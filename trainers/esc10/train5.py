"""ESC-10, fold 1 held out: fine-tune an AudioSet-pretrained PANNs CNN14 (transfer learning).

First convert the official checkpoint (Kong et al., 2020; Zenodo record 3987831) once:

    bash launch.sh convert panns Cnn14_mAP=0.431.pth cache/pretrained/Cnn14.keras --model Cnn14

Block 1 trains only a new 10-class head on the frozen AudioSet model; block 2 fine-tunes every
layer at a lower learning rate. The audio is decoded at the model's 32 kHz.

    bash launch.sh train5 --testing
    bash launch.sh train5 --validation-only
"""

import functools

from modules.models import cnn14
from modules.parameters import parameters
from modules.parsers import waveform_parser
from modules.training import launch_job

parameters.mode = "esc10"
parameters.pretrained_path = "cache/pretrained/Cnn14.keras"
parameters.audio_length = 5.0
parameters.step_size = 5.0
parameters.split = "fold"
parameters.validation_fold = 1
parameters.batch_size = 8
parameters.es_patience = 8
parameters.lr_patience = 3

# --- job block 1: linear probe on the frozen base --------------------------------------------
parameters.description = "CNN14 AudioSet weights, frozen base, new 10-class head"
parameters.freeze_base = True
parameters.n_epochs = 30
parameters.lr = 1e-3
launch_job({"Esc10": 1}, functools.partial(cnn14, clip_activation="softmax", spec_augment=False),
           [], [], waveform_parser)

# --- job block 2: fine-tune everything ----------------------------------------------------------
parameters.description = "CNN14 AudioSet weights, all layers fine-tuned"
parameters.freeze_base = False
parameters.n_epochs = 30
parameters.lr = 1e-4
launch_job({"Esc10": 1}, functools.partial(cnn14, clip_activation="softmax"), [], [],
           waveform_parser)
