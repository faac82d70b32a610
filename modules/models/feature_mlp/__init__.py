"""An MLP on feature vectors (learned representations), standardised on the training data."""

from modules.models.feature_mlp.model import adapt_standardization, feature_mlp

__all__ = ["adapt_standardization", "feature_mlp"]
