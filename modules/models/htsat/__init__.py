"""HTS-AT (hierarchical token-semantic audio transformer) in Keras, with a converter from the
PyTorch checkpoints (``convert.py``; torch is needed only there)."""

from modules.models.htsat.convert import convert_checkpoint, convert_state_dict, load_checkpoint
from modules.models.htsat.model import htsat

__all__ = ["convert_checkpoint", "convert_state_dict", "htsat", "load_checkpoint"]
