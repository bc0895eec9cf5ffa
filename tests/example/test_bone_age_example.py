"""The synthetic bone age example (``cxrdet.example.bone_age``): RSNA layout exactly, ages and sexes, determinism,
refusals, and a learnable signal (hand-crafted image statistics predict the age; girls look older)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from cxrdet.errors import ConfigError
from cxrdet.example.bone_age import make_bone_age_example, render_hand

N, SIZE = 120, 96


@pytest.fixture(scope="module")
def hands(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bone_age") / "rsna"
    make_bone_age_example(out, n=N, seed=0, size=SIZE)
    return out


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _read(root: Path) -> tuple[pd.DataFrame, np.ndarray]:
    table = pd.read_csv(root / "boneage-training-dataset.csv")
    images = np.stack(
        [cv2.imread(str(root / "boneage-training-dataset" / f"{i}.png"), cv2.IMREAD_UNCHANGED) for i in table["id"]]
    )
    return table, images


def test_rsna_layout(hands):
    assert sorted(p.name for p in hands.iterdir()) == ["boneage-training-dataset", "boneage-training-dataset.csv"]
    lines = (hands / "boneage-training-dataset.csv").read_text().splitlines()
    assert lines[0] == "id,boneage,male" and len(lines) == N + 1
    rows = [line.split(",") for line in lines[1:]]
    assert all(len(r) == 3 and r[0].isdigit() and r[1].isdigit() and r[2] in ("True", "False") for r in rows)
    ids = [r[0] for r in rows]
    assert len(set(ids)) == N
    assert sorted(p.name for p in (hands / "boneage-training-dataset").iterdir()) == sorted(f"{i}.png" for i in ids)
    png = (hands / "boneage-training-dataset" / f"{ids[0]}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height, png[24], png[25]) == (SIZE, SIZE, 8, 0)  # 8-bit, colour type 0 = grey


def test_ages_spread_uniformly_and_sexes_balanced(hands):
    table = pd.read_csv(hands / "boneage-training-dataset.csv")
    assert table["boneage"].dtype.kind == "i" and table["male"].dtype == bool
    assert table["boneage"].between(6, 228).all()
    counts, _ = np.histogram(table["boneage"], bins=4, range=(6, 228))
    assert (np.abs(counts - N / 4) <= 1).all(), counts
    assert table["male"].sum() == N // 2


def test_deterministic_per_seed(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        make_bone_age_example(tmp_path / name, n=6, seed=seed, size=64)
    a, b, c = (_hashes(tmp_path / n) for n in "abc")
    assert a == b
    assert set(a) == set(c) and all(a[k] != c[k] for k in a)  # same file names (ids), other contents


def _features(images: np.ndarray) -> np.ndarray:
    """Per image: bone area (share of bright pixels) and the bony hand's height (rows holding bone)."""
    smooth = np.stack([cv2.GaussianBlur(img, (0, 0), 1.0) for img in images]).astype(np.float64) / 255
    bone = smooth > 0.5
    area = bone.mean(axis=(1, 2))
    rows = bone.any(axis=2)
    first = rows.argmax(axis=1)
    height = (rows.shape[1] - rows[:, ::-1].argmax(axis=1) - first) / rows.shape[1]
    return np.stack([area, height], axis=1)


def test_bone_area_and_hand_size_predict_the_age(hands):
    table, images = _read(hands)
    ages = table["boneage"].to_numpy(float)
    features = _features(images)
    r = np.corrcoef(features[:, 0], ages)[0, 1]
    assert r > 0.8, r
    # least squares age ~ 1 + area + height + area^2, fitted on one half, scored on the other
    design = np.column_stack([np.ones(N), features, features[:, 0] ** 2])
    fit, held = np.arange(N) % 2 == 0, np.arange(N) % 2 == 1
    coef, *_ = np.linalg.lstsq(design[fit], ages[fit], rcond=None)
    mad = np.abs(design[held] @ coef - ages[held]).mean()
    mean_predictor = np.abs(ages[fit].mean() - ages[held]).mean()
    assert mad < 0.5 * mean_predictor, (mad, mean_predictor)


def _density(image: np.ndarray) -> float:
    """Mean of the brightest 1% of the pixels: the density of the bone (whatever its width)."""
    values = np.sort(image.ravel())
    return float(values[-len(values) // 100 :].mean())


def test_the_same_hand_grows_smoothly_with_age_and_girls_look_older():
    # equal seeds: the same hand, pose, exposure and noise, only the age or the sex differs
    ages = np.linspace(6, 228, 12)
    for seed in range(3):
        grown = [_features(render_hand(a, True, 96, np.random.default_rng(seed))[None])[0, 0] for a in ages]
        assert (np.diff(grown) > 0).all(), grown  # bone area grows at every step
    older = []
    for seed, age in enumerate(np.linspace(24, 180, 24)):
        boy = render_hand(age, True, 96, np.random.default_rng([5, seed]))
        girl = render_hand(age, False, 96, np.random.default_rng([5, seed]))
        older.append(_density(girl) > _density(boy))  # girls' bones are as dense as older boys'
    assert np.mean(older) >= 0.9, older


def test_refusals_and_overwrite(tmp_path):
    with pytest.raises(ConfigError, match="n >= 1"):
        make_bone_age_example(tmp_path / "x", n=0)
    with pytest.raises(ConfigError, match=r"32\.\.2048"):
        make_bone_age_example(tmp_path / "x", n=2, size=16)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        make_bone_age_example(tmp_path / "file", n=2, size=64)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(ConfigError, match="not empty"):
        make_bone_age_example(out, n=2, size=64)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    make_bone_age_example(out, n=4, size=64, overwrite=True)
    summary = make_bone_age_example(out, n=2, size=64, overwrite=True)
    assert sorted(p.name for p in (out / "boneage-training-dataset").iterdir()) == [f"{i}.png" for i in summary.ids]
    assert (out / "mine.txt").read_text() == "user data"
    assert len(pd.read_csv(out / "boneage-training-dataset.csv")) == 2
