"""A light CRNN for sound event detection (framewise + clipwise outputs)."""

from modules.models.sed_crnn.model import FramesToBins, TemporalAttentionPooling, sed_crnn

__all__ = ["FramesToBins", "TemporalAttentionPooling", "sed_crnn"]
