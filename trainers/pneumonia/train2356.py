"""Pneumonia from stethoscope recordings: ICBHI 2017 + the Jordan lung-sound dataset.

Binary task (no_pneumonia / pneumonia from each patient's diagnosis), 5 s chunks every 2.5 s,
patient-level 5-fold split (no patient on both sides), class weights, and heavy augmentation:
mixup across the two classes and AugMix over pitch shifts and time stretches. Early stopping and
the best checkpoint follow the validation ICBHI score ((sensitivity + specificity) / 2); the
report adds the patient table and the patient-level confusion matrix.

The datasets cannot be downloaded automatically: unpack ICBHI into ../shared/datasets/ICBHI or
data/ICBHI, the Jordan dataset (audio + annotation spreadsheet) into .../Jordan.

    bash launch.sh train2356
    bash launch.sh train2356 --validation-only
    spectrain augment train2356 --pretend 0     # before/after PNGs and WAVs of one clip
"""

from modules.augment import shift_pitch, stretch_time
from modules.models import mixednet
from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job

# --- job block 1: MixNet, mixup + AugMix ------------------------------------------------------
parameters.mode = "pneumonia"
parameters.description = parameters.description or "MixNet, mixup + AugMix, patient 5-fold (fold 1)"
parameters.task = "pneumonia"
parameters.sr = 4000  # stethoscope sounds: nothing of interest above 2 kHz
parameters.audio_length = 5.0
parameters.step_size = 2.5
parameters.n_fft = 256
parameters.hop_length = 64
parameters.n_mels = 64
parameters.fmin = 50.0
parameters.fmax = 2000.0
parameters.top_db = 80.0
parameters.split = "group"  # patients never on both sides
parameters.n_folds = 5
parameters.validation_fold = 1
parameters.class_weights = True
parameters.target_metric = "val_icbhi_score"
parameters.n_epochs = 40
parameters.batch_size = 32
parameters.lr = 1e-3
parameters.es_patience = 10
parameters.lr_patience = 4
spec_aug_params = [["mixup", {"quantity": 0.2, "no_pad": False, "label_one": 0, "label_two": 1,
                              "minval": 0.3, "maxval": 0.7}]]
audio_aug_params = [["augmix", {"quantity": 0.2, "label": -1, "no_pad": False, "minval": 0.3,
                                "maxval": 0.7, "aug_functions": [shift_pitch, stretch_time]}]]
launch_job({"Icbhi": 1, "Jordan": 1, "Bd": 0}, mixednet, spec_aug_params, audio_aug_params,
           spec_parser)
