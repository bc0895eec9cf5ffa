"""Segmentation: U-Net with CBAM / ASPP switches (plain U-Net, U-Net + CBAM, U-Net + ASPP, CA-U-Net; issue 11).

:mod:`.blocks` (DoubleConv, ASPP), :mod:`.unet` (the network), :mod:`.segmenter` (``UNetSegmenter``, the registered
mmengine model: pixel cross entropy, ``pred_mask`` / ``pred_mask_score``). Importing this package registers it.
"""

from cxrdet.models.segmentation.blocks import ASPP, DoubleConv
from cxrdet.models.segmentation.segmenter import UNetSegmenter
from cxrdet.models.segmentation.unet import UNet

__all__ = ["ASPP", "DoubleConv", "UNet", "UNetSegmenter"]
