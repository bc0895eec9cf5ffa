"""Heat-map overlays (``cxrdet.io.overlays``): the image's geometry, the per-pixel blend worked by hand, and the
atomic PNG writer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cxrdet.io.overlays import overlay_heatmap, write_png_atomic

# OpenCV's JET colour map at its two ends, B, G, R (dark blue at 0, dark red at 255), from OpenCV's table.
JET_LOW = np.array([128.0, 0.0, 0.0])
JET_HIGH = np.array([0.0, 0.0, 128.0])


def test_output_has_the_images_geometry_not_the_heat_maps():
    image = np.linspace(0, 1, 50 * 80, dtype=np.float32).reshape(50, 80)
    out = overlay_heatmap(image, np.random.default_rng(0).random((5, 8)), alpha=0.5)
    assert out.shape == (50, 80, 3) and out.dtype == np.uint8


def test_zero_heat_leaves_the_grey_image():
    image = np.random.default_rng(1).integers(0, 256, (30, 45), dtype=np.uint8)
    out = overlay_heatmap(image, np.zeros((3, 4)), alpha=0.7)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], image)


def test_full_heat_is_an_alpha_blend_worked_by_hand():
    image = np.full((6, 9), 100, np.uint8)
    out = overlay_heatmap(image, np.ones((2, 2)), alpha=0.4)
    expected = np.rint(0.6 * 100 + 0.4 * JET_HIGH)  # B 60, G 60, R 60 + 51.2
    assert expected.tolist() == [60, 60, 111]
    assert (out.reshape(-1, 3) == expected).all()
    # alpha 1 shows the colour alone; alpha 0 the grey image alone
    assert (overlay_heatmap(image, np.ones((2, 2)), alpha=1.0).reshape(-1, 3) == JET_HIGH).all()
    assert (overlay_heatmap(image, np.ones((2, 2)), alpha=0.0) == 100).all()


def test_low_but_non_zero_heat_blends_the_blue_end_by_its_weight():
    image = np.full((4, 4), 200, np.uint8)
    heat = np.full((4, 4), 1 / 255)  # colour map index 1: still JET's dark blue end, within one level
    out = overlay_heatmap(image, heat, alpha=1.0).reshape(-1, 3).astype(float)
    w = 1 / 255
    expected = 200 * (1 - w) + w * JET_LOW  # the colour counts only by alpha x heat
    assert np.abs(out - expected).max() <= 1.0


def test_heat_is_resized_bilinearly_to_the_image():
    image = np.full((10, 40), 128, np.uint8)
    out = overlay_heatmap(image, np.array([[0.0, 1.0]]), alpha=0.5)
    # a 1 x 2 map stretched to 40 columns: the left quarter is exactly 0 (grey), the right quarter exactly 1
    assert (out[:, :10] == 128).all()
    assert (out[:, -10:].reshape(-1, 3) == np.rint(0.5 * 128 + 0.5 * JET_HIGH)).all()
    middle = out[0, 12:28]  # in between, heat rises from 0.125 to 0.875: neither end's colour
    assert (middle != out[0, 0]).any(axis=1).all() and (middle != out[0, -1]).any(axis=1).all()


def test_16_bit_and_float_images_are_scaled_to_8_bits():
    heat = np.zeros((2, 2))
    assert (overlay_heatmap(np.full((3, 3), 65535, np.uint16), heat) == 255).all()
    assert (overlay_heatmap(np.full((3, 3), 32768, np.uint16), heat) == 128).all()
    assert (overlay_heatmap(np.full((3, 3), 0.5, np.float32), heat) == 128).all()
    hu = np.array([[-1000.0, 0.0], [500.0, 1000.0]])  # outside [0, 1]: min-max scaled
    np.testing.assert_array_equal(overlay_heatmap(hu, heat)[:, :, 0], [[0, 128], [191, 255]])


def test_torch_heat_and_channel_shapes():
    image = np.full((8, 8, 1), 50, np.uint8)
    out = overlay_heatmap(image, torch.zeros(1, 4, 4), alpha=0.5)
    assert out.shape == (8, 8, 3) and (out == 50).all()


@pytest.mark.parametrize(
    "image, heat, alpha, message",
    [
        (np.zeros((4, 4)), np.zeros((2, 2)), 1.5, "alpha"),
        (np.zeros((4, 4, 2)), np.zeros((2, 2)), 0.5, "H x W"),
        (np.zeros((4, 4)), np.zeros((2, 2, 2)), 0.5, "h x w"),
        (np.zeros((4, 4), np.int32), np.zeros((2, 2)), 0.5, "uint8, uint16 or float"),
    ],
)
def test_bad_arguments(image, heat, alpha, message):
    with pytest.raises(ValueError, match=message):
        overlay_heatmap(image, heat, alpha=alpha)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.uint8).reshape(3, 4),
        np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000,
        np.arange(36, dtype=np.uint8).reshape(3, 4, 3),
    ],
)
def test_write_png_atomic_round_trip(tmp_path, array):
    import cv2

    path = tmp_path / "sub" / "a.png"
    write_png_atomic(path, array)
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]  # no temporary file left


def test_write_png_atomic_refuses_floats(tmp_path):
    with pytest.raises(ValueError, match="uint8/uint16"):
        write_png_atomic(tmp_path / "a.png", np.zeros((3, 3), np.float32))
    assert not list(tmp_path.iterdir())
