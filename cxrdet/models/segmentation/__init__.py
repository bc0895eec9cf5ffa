"""Segmentation: U-Net, CBAM/ASPP variants and CA-U-Net (issue 11; filled by its engineer)."""
