"""GAIN: a classifier whose Grad-CAM attention is supervised by lesion masks (issue 11; filled by its engineer)."""
