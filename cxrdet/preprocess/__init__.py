"""cxrdet.preprocess."""
