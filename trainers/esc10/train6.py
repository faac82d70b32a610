"""ESC-10, fold 1 held out: does mixup + SpecAugment help the baseline CNN?

Block 1 is the baseline job of train1 without augmentation; block 2 is the same job with
mixup (any two clips) and SpecAugment (two time and two frequency masks) adding extra training
examples every epoch. Compare the two jobs' fold-1 accuracy with `spectrain jobs esc10/train6`.

    bash launch.sh train6
    bash launch.sh train6 --testing
    spectrain augment train6 --pretend 0     # look at and listen to one clip's augmentation
"""

from modules.models import baseline_cnn
from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job


def baseline_settings():
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
    parameters.n_epochs = 40
    parameters.batch_size = 32
    parameters.lr = 1e-3
    parameters.es_patience = 10
    parameters.lr_patience = 4


# --- job block 1: no augmentation -------------------------------------------------------------
baseline_settings()
parameters.description = "baseline CNN, no augmentation (compare with block 2)"
launch_job({"Esc10": 1}, baseline_cnn, [], [], spec_parser)

# --- job block 2: mixup + SpecAugment ---------------------------------------------------------
baseline_settings()
parameters.description = "baseline CNN + mixup + SpecAugment"
spec_aug_params = [
    ["mixup", {"quantity": 0.5, "no_pad": False, "label_one": -1, "label_two": -1,
               "minval": 0.3, "maxval": 0.7}],
    ["specaugment", {"quantity": 0.5, "time_masks": 2, "time_width": 0.1, "freq_masks": 2,
                     "freq_width": 0.15}],
]
launch_job({"Esc10": 1}, baseline_cnn, spec_aug_params, [], spec_parser)
