"""The synthetic gastric example (``cxrdet.example.gastric``): layout, labels and masks exactly, lesion sizes,
determinism, refusals, and a learnable signal: a colour rule that knows nothing of the generator (green share of
the pixel's R+G+B far from the image's median) finds the lesions (IoU with the masks) and nothing in normal views,
and the lesion's grey level differs from the mucosa around it (a grey pipeline can learn it too)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from cxrdet.errors import ConfigError
from cxrdet.example.gastric import make_gastric_example

N = 24


@pytest.fixture(scope="module")
def views(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("gastric") / "g"
    return out, make_gastric_example(out, n=N, seed=0, size=96)


def _read(root: Path, image_id: str) -> tuple[np.ndarray, np.ndarray]:
    image = cv2.imread(str(root / "images" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(root / "masks" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
    return image, mask


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_layout_labels_and_masks(views):
    root, summary = views
    assert sorted(p.name for p in root.iterdir()) == ["images", "labels.csv", "masks"]
    assert (root / "labels.csv").read_text().splitlines()[0] == "image_id,label"
    table = pd.read_csv(root / "labels.csv", dtype=str)
    assert list(table["image_id"]) == [f"G{i:04d}" for i in range(N)]
    assert table["label"].value_counts().to_dict() == {"normal": N // 2, "egc": N // 2}
    assert dict(zip(table["image_id"], table["label"])) == summary.labels
    assert sorted(p.stem for p in (root / "images").iterdir()) == sorted(p.stem for p in (root / "masks").iterdir())
    for image_id, label in summary.labels.items():
        image, mask = _read(root, image_id)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8
        assert mask.shape == (96, 96) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        fraction = float(mask.mean())
        assert fraction == pytest.approx(summary.lesion_fraction[image_id])
        if label == "normal":
            assert fraction == 0.0
        else:
            assert 0.05 <= fraction <= 0.30, (image_id, fraction)
            _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            assert len(stats) == 2  # one lesion
    # colour, not grey: the channels differ (mucosa is red)
    image, _ = _read(root, "G0000")
    inside = image.sum(axis=2) > 60
    assert image[..., 2][inside].mean() > image[..., 1][inside].mean() + 40  # R > G
    # the ids are dealt across the classes: the first half is not one class
    assert len(set(table["label"][: N // 2])) == 2


def _green_share_rule(image: np.ndarray) -> np.ndarray:
    """Pixels whose blurred green share g / (r + g + b) is 0.04 or more from the median of the field of view."""
    rgb = image.astype(np.float32) / 255.0
    view = rgb.sum(axis=2) > 0.15
    share = cv2.GaussianBlur(rgb[..., 1] / np.maximum(rgb.sum(axis=2), 1e-3), (0, 0), 1.5)
    return (np.abs(share - np.median(share[view])) > 0.04) & view


def test_lesions_are_found_by_a_colour_rule_and_differ_in_grey(views):
    root, summary = views
    ious, normal_hits, grey_steps = [], [], []
    for image_id, label in summary.labels.items():
        image, mask = _read(root, image_id)
        found, lesion = _green_share_rule(image), mask > 0
        if label == "normal":
            normal_hits.append(found.mean())
            continue
        ious.append((found & lesion).sum() / (found | lesion).sum())
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        ring = cv2.dilate(mask, np.ones((9, 9), np.uint8)).astype(bool) & ~lesion
        grey_steps.append(abs(grey[lesion].mean() - grey[ring].mean()))
    assert np.mean(ious) >= 0.75 and min(ious) >= 0.5, ious
    assert max(normal_hits) < 0.03, normal_hits  # (the field of view's soft edge only)
    assert min(grey_steps) >= 15, grey_steps  # grey levels of 0..255


def test_deterministic_per_seed(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        make_gastric_example(tmp_path / name, n=4, seed=seed, size=48)
    a, b, c = (_hashes(tmp_path / n) for n in "abc")
    assert a == b
    assert all(a[k] != c.get(k) for k in a if k.startswith("images"))


def test_odd_count_overwrite_and_full_size(tmp_path):
    summary = make_gastric_example(tmp_path / "x", n=3, size=256)
    assert sorted(summary.labels.values()) == ["egc", "normal", "normal"]
    (tmp_path / "x" / "notes.txt").write_text("kept")
    again = make_gastric_example(tmp_path / "x", n=2, size=64, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "x" / "images").iterdir()) == ["G0000.png", "G0001.png"]
    assert (tmp_path / "x" / "notes.txt").read_text() == "kept" and again.size == 64
    image, _ = _read(tmp_path / "x", "G0000")
    assert image.shape == (64, 64, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(n=1), "n >= 2"), (dict(n=True), "n >= 2"), (dict(size=20), "32..2048"), (dict(size=64.0), "32..2048")],
)
def test_refusals(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_gastric_example(tmp_path / "bad", **kwargs)


def test_refuses_a_non_empty_folder_and_a_file(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        make_gastric_example(tmp_path / "full", n=2, size=32)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        make_gastric_example(tmp_path / "file", n=2, size=32)
