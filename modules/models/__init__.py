"""The model zoo. One family per folder; each exposes builders
``builder(input_shape, n_classes, **options) -> keras.Model`` usable as a job block's ``model``.

Importing this package registers every custom layer of the zoo with Keras, so any saved
``.keras`` model of the project loads (``load_model`` below does it for callers).
"""

from modules.models.baseline import baseline_cnn
from modules.models.compact_vgg import compact_vgg
from modules.models.feature_mlp import feature_mlp
from modules.models.htsat import htsat
from modules.models.mixednet import mixednet, mixednet_inverted_residual, time_distributed_crnn
from modules.models.panns import (cnn6, cnn10, cnn14, cnn14_decision_level_att,
                                  cnn14_decision_level_avg, cnn14_decision_level_max)
from modules.models.sed_crnn import sed_crnn
# A job's best_model.keras is saved compiled, with the suite's metric when it was compiled
# (respiratory or imbalanced jobs): this one import must register that too.
from modules.training_metrics import ConfusionMatrixMetric  # noqa: F401


def load_model(path, compile: bool = True):
    """``keras.models.load_model`` with every zoo layer registered."""
    import keras

    return keras.models.load_model(path, compile=compile)


__all__ = ["baseline_cnn", "compact_vgg", "feature_mlp", "cnn6", "cnn10", "cnn14",
           "cnn14_decision_level_att", "cnn14_decision_level_avg", "cnn14_decision_level_max", "htsat", "mixednet",
           "mixednet_inverted_residual", "sed_crnn", "time_distributed_crnn", "load_model"]
