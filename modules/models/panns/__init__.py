"""PANNs (Cnn6, Cnn10, Cnn14 and the Cnn14 decision-level models) and their weight converter."""

from modules.models.panns.models import (BUILDERS, LAST_CONV_LAYER, cnn6, cnn10, cnn14,
                                         cnn14_decision_level_att, cnn14_decision_level_avg,
                                         cnn14_decision_level_max)

__all__ = ["BUILDERS", "LAST_CONV_LAYER", "cnn6", "cnn10", "cnn14", "cnn14_decision_level_att",
           "cnn14_decision_level_avg", "cnn14_decision_level_max"]
