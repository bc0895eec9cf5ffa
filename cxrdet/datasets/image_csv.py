"""Data sets, classification from a CSV of image paths and labels, CheXpert-style (feature GAN; issue 11)."""
