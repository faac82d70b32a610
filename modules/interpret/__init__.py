"""Interpretability: why a model decides what it does.

Methods (each takes explicit arrays and a Keras model; ``spectrain explain`` runs them on a
job's saved model, see :mod:`.explain`): Grad-CAM (:mod:`.gradcam`), saliency, SmoothGrad,
Integrated Gradients and deletion curves (:mod:`.gradients`), LIME over time-frequency patches
or any components (:mod:`.lime_explainer`), and listenable NMF explanations after "Listen to
Interpret" with fidelity and faithfulness metrics (:mod:`.nmf`).
"""

from modules.interpret.gradcam import default_gradcam_layer, grad_cam
from modules.interpret.gradients import (attribution_map, deletion_curve, integrated_gradients,
                                         random_maps, saliency, smoothgrad)

__all__ = ["attribution_map", "default_gradcam_layer", "deletion_curve", "grad_cam",
           "integrated_gradients", "random_maps", "saliency", "smoothgrad"]
