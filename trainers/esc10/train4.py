"""ESC-10, fold 1 held out: HTS-AT (hierarchical token-semantic audio transformer) from scratch.

The 5 s clips at 32 kHz give 501 log-mel frames, stretched to the model's 1024 frames and folded
into a 256 x 256 image. Transformers want far more data than ESC-10 has: fine-tune a converted
AudioSet checkpoint instead (see train5) for real use; this block shows the model trains and
replays.

    bash launch.sh train4 --testing
    bash launch.sh train4 --validation-only
"""

import functools

from modules.models import htsat
from modules.parameters import parameters
from modules.parsers import waveform_parser
from modules.training import launch_job

parameters.mode = "esc10"
parameters.description = "HTS-AT from scratch, waveform at 32 kHz, fold 1 held out"
parameters.audio_length = 5.0
parameters.step_size = 5.0
parameters.split = "fold"
parameters.validation_fold = 1
parameters.n_epochs = 60
parameters.batch_size = 8
parameters.lr = 1e-4
parameters.es_patience = 12
parameters.lr_patience = 5
launch_job({"Esc10": 1}, functools.partial(htsat, clip_activation="softmax"), [], [],
           waveform_parser)
