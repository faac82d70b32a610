"""ESC-10, fold 1 held out: the compact CNN baseline on 64-bin log-mel spectrograms.

    bash launch.sh train1                     # train (a few minutes on 2 CPU cores)
    bash launch.sh train1 --testing           # 2 epochs on a small subset
    bash launch.sh train1 --validation-only   # replay the latest job's best model
"""

from modules.models import baseline_cnn
from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job

# --- job block 1 ------------------------------------------------------------------------------
parameters.mode = "esc10"
parameters.description = parameters.description or "baseline CNN, log-mel 64, fold 1 held out"
parameters.sr = 22050
parameters.audio_length = 5.0
parameters.step_size = 5.0
parameters.n_fft = 1024
parameters.hop_length = 512
parameters.n_mels = 64
parameters.top_db = 80.0
parameters.split = "fold"
parameters.validation_fold = 1
parameters.n_epochs = 40
parameters.batch_size = 32
parameters.lr = 1e-3
parameters.es_patience = 10
parameters.lr_patience = 4
launch_job({"Esc10": 1}, baseline_cnn, [], [], spec_parser)
