"""cxrdet.example."""
