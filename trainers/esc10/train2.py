"""ESC-10, fold 1 held out: the MixNet family on 64-bin log-mel spectrograms, three job blocks.

    bash launch.sh train2 --testing           # each block: 2 epochs on a small subset
    bash launch.sh train2                     # full training, about 10 minutes on 2 CPU cores
    bash launch.sh train2 --validation-only   # replay the latest job (its own block)
"""

import functools

from modules.models import mixednet, mixednet_inverted_residual, time_distributed_crnn
from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job

parameters.mode = "esc10"
parameters.sr = 22050
parameters.audio_length = 5.0
parameters.step_size = 5.0
parameters.n_fft = 1024
parameters.hop_length = 512
parameters.n_mels = 64
parameters.top_db = 80.0
parameters.split = "fold"
parameters.validation_fold = 1
parameters.n_epochs = 60
parameters.batch_size = 32
parameters.lr = 2e-3
parameters.es_patience = 12
parameters.lr_patience = 5

# --- job block 1: MixNet (plain blocks of conv + mixed depthwise conv) ----------------------
parameters.description = "MixNet, mixed depthwise kernels 3-7, log-mel 64, fold 1 held out"
launch_job({"Esc10": 1}, mixednet, [], [], spec_parser)

# --- job block 2: the inverted-residual variant ----------------------------------------------
parameters.description = "MixNet inverted residual, log-mel 64, fold 1 held out"
launch_job({"Esc10": 1}, mixednet_inverted_residual, [], [], spec_parser)

# --- job block 3: time-distributed CNN + 2x BiLSTM(128) over 4 slices of the spectrogram -----
parameters.description = "CRNN: time-distributed CNN over 4 slices, 2x BiLSTM(128)"
launch_job({"Esc10": 1}, functools.partial(time_distributed_crnn, n_sequences=4), [], [],
           spec_parser)
