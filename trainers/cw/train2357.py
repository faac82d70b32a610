"""Crackles and wheezes (ICBHI 2017): 4 classes none / crackle / wheeze / both per chunk.

A chunk's label comes from the annotated respiratory cycles overlapping it by at least
overlap_threshold * audio_length seconds. The official ICBHI train/test split, minority classes
oversampled, SpecAugment and AugMix; early stopping follows the validation ICBHI score.

The dataset cannot be downloaded automatically: unpack it into ../shared/datasets/ICBHI or
data/ICBHI.

    bash launch.sh cw/train2357
    bash launch.sh cw/train2357 --validation-only
    spectrain augment cw/train2357 --pretend 0
"""

from modules.augment import shift_pitch, stretch_time
from modules.models import mixednet
from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job

# --- job block 1: MixNet, official split, oversampling, SpecAugment + AugMix --------------------
parameters.mode = "cw"
parameters.description = parameters.description or "MixNet, crackle/wheeze, official split"
parameters.task = "cw"
parameters.overlap_threshold = 0.2
parameters.sr = 4000
parameters.audio_length = 4.0
parameters.step_size = 2.0
parameters.n_fft = 256
parameters.hop_length = 64
parameters.n_mels = 64
parameters.fmin = 50.0
parameters.fmax = 2000.0
parameters.split = "official"
parameters.oversample = True
parameters.target_metric = "val_icbhi_score"
parameters.n_epochs = 40
parameters.batch_size = 32
parameters.es_patience = 10
spec_aug_params = [["specaugment", {"quantity": 0.3, "time_masks": 2, "time_width": 0.1,
                                    "freq_masks": 1, "freq_width": 0.1}],
                   ["mixup", {"quantity": 0.2, "label_one": "crackle", "label_two": "wheeze"}]]
audio_aug_params = [["augmix", {"quantity": 0.2, "label": -1, "minval": 0.3, "maxval": 0.7,
                                "aug_functions": [shift_pitch, stretch_time]}]]
launch_job({"Icbhi": 1}, mixednet, spec_aug_params, audio_aug_params, spec_parser)
