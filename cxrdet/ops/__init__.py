"""Fusion kernels, bottom layer: numba WBF / NMS / soft-NMS / NMW and IoU over flat arrays (ensemble-boxes exact).

Used by reader fusion of the labels (:mod:`cxrdet.ops.readers`, for ``convert`` and ground truth) and by
``cxrdet ensemble`` (:mod:`cxrdet.ensemble.fuse`). Imports nothing of cxrdet but :mod:`cxrdet.ops` itself.
"""
