"""MixNet-style models (mixed-kernel depthwise convolutions) and a time-sliced CRNN."""

from modules.models.mixednet.crnn import time_distributed_crnn
from modules.models.mixednet.layers import MixedDepthwiseConv2D, TimeSlices
from modules.models.mixednet.mixednet import mixednet, mixednet_inverted_residual

__all__ = ["MixedDepthwiseConv2D", "TimeSlices", "mixednet", "mixednet_inverted_residual",
           "time_distributed_crnn"]
