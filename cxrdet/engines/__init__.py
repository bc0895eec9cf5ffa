"""cxrdet.engines."""
