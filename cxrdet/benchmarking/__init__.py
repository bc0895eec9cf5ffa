"""Benchmarking: parameters, GFLOPs, latency, throughput and peak memory of the models behind cxrdet's configs.

Sits above the engines (it builds YOLO models through the Ultralytics engine and MMDetection detectors from
their configs, never downloading weights) and below the commands (``cxrdet benchmark`` wraps it; the script
``benchmarks/detectors.py`` prints its table). One responsibility a module: :mod:`.counting` (parameters and
multiply-adds, with the two GFLOPs conventions), :mod:`.timing` (latency and throughput statistics),
:mod:`.memory` (peak memory of a call measured in its own process), :mod:`.detectors` (a model of a config
with inputs to feed it).
"""
