"""cxrdet.evaluation."""
