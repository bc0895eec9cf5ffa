"""Resize transform: hand-computed sizes/scales, and the box round trip back to DICOM pixels."""

import numpy as np
import pytest

from cxrdet.preprocess.geometry import Resize


@pytest.mark.parametrize(
    "h, w, size, expected",
    [
        (3072, 2540, 1024, (1024, 847)),  # 2540 * 1024/3072 = 846.67 -> 847
        (2048, 2500, 1024, (839, 1024)),  # 2048 * 1024/2500 = 838.86 -> 839
        (512, 512, 1024, (1024, 1024)),  # enlarging is allowed
        (1955, 1841, 0, (1955, 1841)),  # 0 keeps the original
    ],
)
def test_longest_side(h, w, size, expected):
    r = Resize.longest_side(h, w, size)
    assert (r.height, r.width) == expected
    assert r.scale_x == expected[1] / w and r.scale_y == expected[0] / h


def test_round_trip_within_one_pixel_after_integer_rounding():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(500, 4000, size=2)
        r = Resize.longest_side(int(h), int(w), 1024)
        x1, y1 = rng.uniform(0, w - 10), rng.uniform(0, h - 10)
        box = np.array([[x1, y1, rng.uniform(x1 + 1, w), rng.uniform(y1 + 1, h)]])
        on_png = np.round(r.boxes_to_resized(box))  # e.g. a detector's integer output
        back = r.boxes_to_original(on_png)
        assert np.abs(back - box).max() <= 0.5 / min(r.scale_x, r.scale_y) + 1e-9
        np.testing.assert_allclose(r.boxes_to_original(r.boxes_to_resized(box)), box, rtol=1e-12)
        if min(r.scale_x, r.scale_y) >= 1 / 4:  # --size 1024 on images up to 4096 px
            assert np.abs(back - box).max() <= 2.0


def test_apply_uses_area_when_shrinking():
    image = np.zeros((4, 4), np.uint8)
    image[:2, :2] = 200
    out = Resize.longest_side(4, 4, 2).apply(image)
    assert out.tolist() == [[200, 0], [0, 0]]  # area averaging of 2x2 blocks
