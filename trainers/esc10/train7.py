"""ESC-10 from learned representations: auDeep's evaluation MLP as five job blocks, one per fold.

The inputs are not spectrograms but the feature vectors a recurrent autoencoder learned without
labels (README, "Representation learning"): run the tutorial first, which writes
``cache/representations/esc10/representations.nc``, or point ``REPRESENTATIONS`` at another
feature set (``t-rae generate``, ``fuse`` or ``import`` output). Each block holds out one of the
five ESC-10 folds stored in the set, so the five jobs together are ``spectrain mlp evaluate
--cross-validate``, with each job's report, predictions, replay and MLflow run.

As in auDeep's evaluation, the best model is chosen on the *training* loss (the validation fold
never picks an epoch) and the learning rate stays fixed: 400 full-batch Adam steps.

    bash launch.sh train7
    bash launch.sh train7 --testing
    spectrain jobs esc10/train7               # the five folds side by side
"""

from modules.data import register_dataset
from modules.models import feature_mlp
from modules.parameters import parameters
from modules.parsers import feature_parser
from modules.training import launch_job, resolve_path

REPRESENTATIONS = "cache/representations/esc10/representations.nc"
if not resolve_path(REPRESENTATIONS).is_file():
    raise SystemExit(f"{REPRESENTATIONS}: no such feature set. Run the representation tutorial "
                     f"in the README (preprocess, t-rae train, t-rae generate) first, or set "
                     f"REPRESENTATIONS in {__file__} to your own .nc file")
register_dataset("Esc10Representations", REPRESENTATIONS)

for fold in range(1, 6):
    # --- job block <fold>: fold <fold> held out ---------------------------------------------
    parameters.mode = "esc10"
    parameters.description = f"MLP on t-RAE representations, fold {fold} held out"
    parameters.split = "fold"
    parameters.validation_fold = fold
    parameters.n_epochs = 400
    parameters.batch_size = 320  # the whole training part: one step per epoch, as auDeep
    parameters.lr = 1e-3
    parameters.target_metric = "loss"  # pick the epoch without looking at the held-out fold
    parameters.es_patience = 400
    parameters.lr_patience = 400
    parameters.n_example_plots = 0
    launch_job({"Esc10Representations": 1}, feature_mlp, [], [], feature_parser)
