"""cxrdet.io."""
