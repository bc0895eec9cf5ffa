"""cxrdet.submission."""
