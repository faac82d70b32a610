from modules.models.compact_vgg.model import compact_vgg

__all__ = ["compact_vgg"]
