"""ESC-10 with a held-out test fold: the recipe of train8, validated on fold 5 and tested on fold
1, the protocol its settings were chosen with (train on folds 2-4, validate on 5, never look at
1), as one job.

Validation (fold 5) picks the best epoch by the recording-level accuracy; fold 1 is decoded only
after training and evaluated once with that model. ``report.txt`` gives both parts apart, and
the gap between them is what choosing on validation is worth.

    bash launch.sh train9
    bash launch.sh train9 --testing
    spectrain jobs esc10/train9                 # validation and test columns side by side
"""

from modules.parameters import parameters
from modules.parsers import spec_parser
from modules.training import launch_job
from trainers.esc10.train8 import MODEL, augmentations, recipe_settings

if __name__ == "__main__":  # `spectrain train` runs trainer files as __main__
    # --- job block 1: validate on fold 5, hold out fold 1 ---------------------------------------
    recipe_settings()
    parameters.description = "train8's recipe; best epoch on fold 5, fold 1 held out as test"
    parameters.validation_fold = 5
    parameters.test_fold = 1
    parameters.target_metric = "val_file_accuracy"  # validation now picks the epoch
    launch_job({"Esc10": 1}, MODEL, augmentations(), [], spec_parser)
