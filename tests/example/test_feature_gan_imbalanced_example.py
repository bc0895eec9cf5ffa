"""The imbalanced chest example (``cxrdet.example.imbalanced``): counts 10:1 and balanced, severities per class in
their ranges, determinism, refusals, and that a finding is visible in the pixels (measured by hand on the images:
heart width, basal brightness, lung texture grow with the severity)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from cxrdet.errors import ConfigError
from cxrdet.example.imbalanced import MAJORITY, MINORITY, make_imbalanced_example


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imbalanced") / "chest"
    make_imbalanced_example(out, n_per_class_major=20, ratio=10, n_test_per_class=4, size=96, seed=0)
    return out


def test_counts_are_ten_to_one_in_train_and_balanced_in_test(example):
    train = pd.read_csv(example / "train.csv")
    test = pd.read_csv(example / "test.csv")
    assert list(train.columns) == ["Path", "label", "severity"]
    assert train["label"].value_counts().to_dict() == {**{c: 20 for c in MAJORITY}, **{c: 2 for c in MINORITY}}
    assert test["label"].value_counts().to_dict() == {c: 4 for c in MAJORITY + MINORITY}
    files = sorted(p.name for p in (example / "images").iterdir())
    assert len(files) == 66 + 24 and set(files) == {Path(p).name for p in pd.concat([train, test])["Path"]}
    image = cv2.imread(str(example / train["Path"][0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (96, 96) and image.dtype == np.uint8
    for frame in (train, test):  # majority severities in [0, 0.6], minority in [0.4, 1]: they overlap in between
        major = frame[frame["label"].isin(MAJORITY)]["severity"]
        minor = frame[frame["label"].isin(MINORITY)]["severity"]
        assert major.between(0.0, 0.6).all() and minor.between(0.4, 1.0).all()


def test_findings_grow_with_severity_in_the_pixels(tmp_path):
    from cxrdet.example.imbalanced import render_chest

    size = 128

    def image(finding, severity, seed=3):
        return render_chest(finding, severity, size, np.random.default_rng(seed)).astype(np.float64)

    # heart: the bright band across the lower mediastinum widens (row at 62% of the height)
    def bright_width(img):
        row = img[int(0.62 * size)]
        return int((row > 0.5 * 255).sum())

    assert bright_width(image(0, 1.0)) > bright_width(image(0, 0.0)) + 0.1 * size

    # basal fluid: the lung bases brighten, more with a higher level
    def base(img):
        return img[int(0.70 * size) : int(0.78 * size), int(0.22 * size) : int(0.4 * size)].mean()

    assert base(image(1, 1.0)) > base(image(1, 0.0)) + 20

    # haze: the lungs' texture (standard deviation after removing noise by a blur) grows
    def texture(img):
        lung = cv2.GaussianBlur(img, (0, 0), 3)[int(0.35 * size) : int(0.6 * size), int(0.22 * size) : int(0.38 * size)]
        return lung.std()

    assert texture(image(2, 1.0)) > 2 * texture(image(2, 0.0))


def test_deterministic_and_refusals(example, tmp_path):
    again = tmp_path / "again"
    make_imbalanced_example(again, n_per_class_major=20, ratio=10, n_test_per_class=4, size=96, seed=0)

    def hashes(root):
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.*")}

    assert hashes(again) == hashes(example)
    with pytest.raises(ConfigError, match="not empty"):
        make_imbalanced_example(again, n_per_class_major=20)
    with pytest.raises(ConfigError, match="no image"):
        make_imbalanced_example(tmp_path / "x", n_per_class_major=5, ratio=10)
    with pytest.raises(ConfigError, match=r"32\.\.1024"):
        make_imbalanced_example(tmp_path / "y", size=16)
