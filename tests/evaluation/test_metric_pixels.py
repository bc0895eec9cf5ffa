"""VinDrMetric in ORIGINAL DICOM pixels: boxes scaled by DICOM size / PNG size per axis, checked against hand values.

The case: two images, each converted with a different, non-uniform scale (the PNG sizes are rounded), the
DICOM size known from the sample (``original_shape``, as VinDrCocoDataset sets it) or from a ``meta.csv``.
"""

from __future__ import annotations

import numpy as np
import pytest

from cxrdet.evaluation.metric import VinDrMetric

# image a: DICOM 1280 x 1152 (h x w) -> PNG 192 x 173 (convert's rounding: sx = 173/1152, sy = 192/1280)
# image b: DICOM 600 x 800 -> PNG 150 x 200 (sx = sy = 0.25)
A_DICOM, A_PNG = (1280, 1152), (192, 173)
B_DICOM, B_PNG = (600, 800), (150, 200)


def _sample(name, png, dicom, boxes, scores, labels, gt_boxes, gt_labels):
    s = {
        "img_path": f"/data/images/{name}.png",
        "ori_shape": png,
        "pred_instances": {
            "bboxes": np.array(boxes, float).reshape(-1, 4),
            "scores": np.array(scores, float),
            "labels": np.array(labels, int),
        },
        "gt_instances": {"bboxes": np.array(gt_boxes, float).reshape(-1, 4), "labels": np.array(gt_labels, int)},
    }
    if dicom is not None:
        s["original_shape"] = dicom
    return s


def _samples(with_sizes=True):
    a = _sample(
        "a",
        A_PNG,
        A_DICOM if with_sizes else None,
        [[17.3, 19.2, 34.6, 38.4], [100, 100, 110, 110]],
        [0.9, 0.6],
        [8, 8],
        [[17.3, 19.2, 34.6, 38.4]],
        [8],
    )
    b = _sample("b", B_PNG, B_DICOM if with_sizes else None, [[10, 20, 30, 40]], [0.8], [8], [[10, 20, 30, 40]], [8])
    return [a, b]


def _run(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_boxes_and_image_sizes_are_in_dicom_pixels():
    metric = VinDrMetric(classwise=True)
    out = _run(metric, _samples())
    # class 8 ranked: a 0.9 TP, b 0.8 TP, a 0.6 FP over 2 GT -> precision 1, 1, 2/3 at recall 0.5, 1, 1 -> AP 1
    assert out == {"vindr/mAP": pytest.approx(1.0), "vindr/AP_08": pytest.approx(1.0)}
    boxes = metric.predictions.boxes.sort_values("score", ascending=False)
    # by hand: a's x * 1152/173, y * 1280/192; b's * 4
    sx, sy = 1152 / 173, 1280 / 192
    expected = np.array(
        [
            [17.3 * sx, 19.2 * sy, 34.6 * sx, 38.4 * sy],
            [40.0, 80.0, 120.0, 160.0],
            [100 * sx, 100 * sy, 110 * sx, 110 * sy],
        ]
    )
    np.testing.assert_allclose(boxes[["x_min", "y_min", "x_max", "y_max"]].to_numpy(), expected, rtol=1e-9)
    np.testing.assert_allclose(expected[0], [115.2, 128.0, 230.4, 256.0], rtol=1e-12)  # 17.3 / 173 = 0.1 of 1152
    gt = metric.ground_truth.boxes.sort_values("image_id")
    np.testing.assert_allclose(gt[["x_min", "y_min", "x_max", "y_max"]].to_numpy(), expected[:2], rtol=1e-9)
    sizes = metric.predictions.images.sort_index()
    assert sizes.to_numpy().tolist() == [[1280.0, 1152.0], [600.0, 800.0]]


def test_sizes_from_a_convert_meta_csv(tmp_path):
    meta = tmp_path / "meta.csv"
    meta.write_text(
        "image_id,file,original_height,original_width,height,width\n"
        f"a,images/a.png,{A_DICOM[0]},{A_DICOM[1]},{A_PNG[0]},{A_PNG[1]}\n"
        f"b,images/b.png,{B_DICOM[0]},{B_DICOM[1]},{B_PNG[0]},{B_PNG[1]}\n"
    )
    with_meta = VinDrMetric(sizes=str(meta))
    assert _run(with_meta, _samples(with_sizes=False)) == {"vindr/mAP": pytest.approx(1.0)}
    given = VinDrMetric()
    _run(given, _samples())
    np.testing.assert_allclose(with_meta.predictions.boxes.iloc[:, 3:].to_numpy(), given.predictions.boxes.iloc[:, 3:])


def test_scaling_back_keeps_the_match_verdict_near_the_threshold():
    """IoU is unchanged by per-image axis scaling: the PNG-frame and DICOM-frame verdicts agree (hand IoUs)."""
    # PNG frame: GT [0, 0, 10, 10], prediction [0, 0, 10, 4.1]: IoU 0.41 -> TP at 0.4; [0, 0, 10, 3.9]: 0.39 FP
    for height, ap in ((4.1, 1.0), (3.9, 0.0)):
        s = _sample("a", A_PNG, A_DICOM, [[0, 0, 10, height]], [0.9], [0], [[0, 0, 10, 10]], [0])
        assert _run(VinDrMetric(), [s])["vindr/mAP"] == pytest.approx(ap)
