"""Data sets, segmentation: image + mask folders with the same stems (CA-U-Net; issue 11)."""
