from modules.models.baseline.cnn import baseline_cnn

__all__ = ["baseline_cnn"]
