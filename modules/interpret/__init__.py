"""Interpretability: why a model decides what it does."""

from modules.interpret.gradcam import default_gradcam_layer, grad_cam

__all__ = ["default_gradcam_layer", "grad_cam"]
