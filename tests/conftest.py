"""Shared pytest fixtures: a small synthetic VinDr-style dataset made once per test session."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

EXAMPLE_N_TRAIN = 12
EXAMPLE_N_TEST = 4
EXAMPLE_SEED = 0


@pytest.fixture(scope="session")
def example_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a ``cxrdet make-example`` dataset: 12 train + 4 test images, seed 0 (~1-2 s, once).

    Layout: ``train/<id>.dicom``, ``test/<id>.dicom``, ``train.csv``, ``sample_submission.csv``,
    ``test_labels.csv`` and ``example_info.json`` (true boxes in pixels and each file's DICOM
    encoding). The 16 images cover every transfer syntax (explicit, RLE, JPEG-LS, JPEG 2000),
    MONOCHROME1 and 2, BitsStored 12/14/16, no/one/two windows, a VOI LUT Sequence, rescale,
    signed pixels, sizes 512-2048 (non-square too), and findings of classes 0, 3, 8 and 10.
    Read-only: tests must not modify it (copy it to ``tmp_path`` first).
    """
    from cxrdet.example.make import make_example

    logging.getLogger("openjpeg").setLevel(logging.WARNING)
    root = tmp_path_factory.mktemp("example") / "vindr"
    make_example(root, n_train=EXAMPLE_N_TRAIN, n_test=EXAMPLE_N_TEST, seed=EXAMPLE_SEED)
    return root


@pytest.fixture(scope="session")
def converted_example(example_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cxrdet convert`` of :func:`example_dataset` at 256 px, 16-bit PNGs, 3 folds (once per session).

    Layout: ``images/<id>.png``, ``meta.csv`` (original sizes), ``classes.json``, ``labels_fused.csv``,
    ``folds.csv``, ``coco/{all,foldK_train,foldK_val}.json`` and ``yolo/...``. Read-only: copy it first.
    """
    from cxrdet.preprocess.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("converted") / "vindr256"
    convert(
        ConvertOptions(
            dicom_dir=example_dataset / "train",
            out=out,
            labels=example_dataset / "train.csv",
            size=256,
            bit_depth=16,
            folds=3,
            workers=1,
            progress=False,
        )
    )
    return out
