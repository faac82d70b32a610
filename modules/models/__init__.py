"""The model zoo. One family per folder; each exposes a builder
``builder(input_shape, n_classes, **options) -> keras.Model`` usable as a job block's ``model``."""

from modules.models.baseline import baseline_cnn

__all__ = ["baseline_cnn"]
