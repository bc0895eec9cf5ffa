"""Building blocks of cxrdet's custom models: CBAM attention and the Inception-ResNet modules IncRes1/IncRes2.

Plain ``torch.nn`` modules built by the models that use them (e.g. TJ-Net); ``CBAM``, ``IncRes1`` and ``IncRes2``
are also registered in cxrdet's MODELS so a config can name them.
"""

from cxrdet.models.blocks.cbam import CBAM, ChannelGate, SpatialGate
from cxrdet.models.blocks.incres import ConvBNReLU, IncRes1, IncRes2

__all__ = ["CBAM", "ChannelGate", "ConvBNReLU", "IncRes1", "IncRes2", "SpatialGate"]
