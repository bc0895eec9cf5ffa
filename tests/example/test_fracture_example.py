"""The synthetic fracture example (``cxrdet.example.fracture``): class folders and patients exactly, determinism,
refusals, and a learnable signal (the gap splits the bright cortex: more bright pieces in fractured slices), also
inside the seed's CenterCrop(400) at full size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from cxrdet.errors import ConfigError
from cxrdet.example.fracture import make_fracture_example

N_PER_CLASS = 24


@pytest.fixture(scope="module")
def slices(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fracture") / "ct"
    make_fracture_example(out, n_per_class=N_PER_CLASS, seed=0, size=128)
    return out


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_class_folders_and_patients(slices):
    assert sorted(p.name for p in slices.iterdir()) == ["fractured", "normal", "patients.csv"]
    ids = {}
    for name in ("normal", "fractured"):
        files = sorted((slices / name).iterdir())
        assert len(files) == N_PER_CLASS and all(p.suffix == ".png" for p in files)
        image = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (128, 128) and image.dtype == np.uint8
        ids.update({p.stem: name for p in files})
    assert len(ids) == 2 * N_PER_CLASS  # image ids unique across the classes
    assert (slices / "patients.csv").read_text().splitlines()[0] == "image_id,patient_id"
    table = pd.read_csv(slices / "patients.csv", dtype=str)
    assert sorted(table["image_id"]) == sorted(ids)
    per_patient = table.groupby("patient_id")["image_id"].agg(list)
    assert (per_patient.map(len) == 2).all() and len(per_patient) == N_PER_CLASS
    assert all(len({ids[i] for i in images}) == 1 for images in per_patient)  # a patient's slices share a class
    # patient numbers are dealt across the classes, so the number does not tell the class
    normal_numbers = sorted(int(p[1:]) for p, images in per_patient.items() if ids[images[0]] == "normal")
    assert normal_numbers != list(range(N_PER_CLASS // 2))


def test_deterministic_per_seed(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        make_fracture_example(tmp_path / name, n_per_class=2, seed=seed, size=64)
    a, b, c = (_hashes(tmp_path / n) for n in "abc")
    assert a == b
    images = [k for k in a if k.endswith(".png")]
    assert all(a[k] != c.get(k) for k in images)


def _bright_pieces(image: np.ndarray) -> int:
    """Connected bright (cortex-like) regions of at least 0.3% of the image, after a light blur."""
    smooth = cv2.GaussianBlur(image, (0, 0), 0.7)
    _, _, stats, _ = cv2.connectedComponentsWithStats((smooth > 180).astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= 0.003 * image.size).sum())


def _pieces(root: Path, name: str, crop: int | None = None) -> np.ndarray:
    out = []
    for p in sorted((root / name).glob("*.png")):
        image = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if crop:
            top = (image.shape[0] - crop) // 2
            image = image[top : top + crop, top : top + crop]
        out.append(_bright_pieces(image))
    return np.array(out)


def _best_threshold_accuracy(normal: np.ndarray, fractured: np.ndarray) -> float:
    values = np.concatenate([normal, fractured])
    labels = np.r_[np.zeros(len(normal)), np.ones(len(fractured))]
    return max(((values >= t) == labels).mean() for t in np.unique(values))


def test_fractures_split_the_cortex(slices):
    normal, fractured = _pieces(slices, "normal"), _pieces(slices, "fractured")
    assert fractured.mean() > normal.mean() + 1.0, (normal, fractured)
    accuracy = _best_threshold_accuracy(normal, fractured)
    assert accuracy >= 0.85, (accuracy, normal, fractured)


def test_full_size_fractures_lie_inside_center_crop_400(tmp_path):
    make_fracture_example(tmp_path / "big", n_per_class=6, seed=1, size=448)
    image = cv2.imread(str(next((tmp_path / "big" / "normal").iterdir())), cv2.IMREAD_UNCHANGED)
    assert image.shape == (448, 448)
    normal, fractured = _pieces(tmp_path / "big", "normal", 400), _pieces(tmp_path / "big", "fractured", 400)
    assert _best_threshold_accuracy(normal, fractured) >= 0.8, (normal, fractured)


def test_other_class_names_and_odd_counts(tmp_path):
    summary = make_fracture_example(tmp_path / "x", n_per_class=3, size=64, classes=("intact", "broken"))
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["broken", "intact", "patients.csv"]
    assert {k: len(v) for k, v in summary.images.items()} == {"intact": 3, "broken": 3}
    assert sorted(pd.read_csv(tmp_path / "x" / "patients.csv")["patient_id"].value_counts()) == [1, 1, 2, 2]
    one = make_fracture_example(tmp_path / "one", n_per_class=1, size=64)
    assert [len(v) for v in one.images.values()] == [1, 1] and len(set(one.patients.values())) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_per_class=0), "n_per_class >= 1"),
        (dict(size=20), "32..2048"),
        (dict(classes=("normal",)), "two distinct class names"),
        (dict(classes=("a", "a")), "two distinct class names"),
        (dict(classes=("normal", "train")), "bad class folder name 'train'"),
        (dict(classes=("normal", "a/b")), "bad class folder name"),
    ],
)
def test_bad_options(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_fracture_example(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_refuses_a_non_empty_folder_and_overwrites_only_its_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(ConfigError, match="not empty"):
        make_fracture_example(out, n_per_class=2, size=64)
    make_fracture_example(out, n_per_class=4, size=64, overwrite=True)
    make_fracture_example(out, n_per_class=2, size=64, overwrite=True)
    assert len(list((out / "normal").iterdir())) == 2 and (out / "mine.txt").read_text() == "user data"
    assert len(pd.read_csv(out / "patients.csv")) == 4
