"""cxrdet.ensemble."""
