"""Data sets, classification images with optional lesion masks (GAIN; issue 11, filled by its engineer)."""
