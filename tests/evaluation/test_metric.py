"""VinDrMetric: mmdet-style data samples in, VinDr mAP out (hand-computed), registry lookup, class-14 handling."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cxrdet.evaluation.metric import VinDrMetric


def sample(path, boxes, scores, labels, gt_boxes, gt_labels, raw=False, **extra):
    s = {
        "img_path": path,
        "img_id": 0,
        "pred_instances": {
            "bboxes": np.array(boxes, float).reshape(-1, 4),
            "scores": np.array(scores, float),
            "labels": np.array(labels, int),
        },
        **extra,
    }
    if raw:
        s["instances"] = [
            {"bbox": list(b), "bbox_label": int(c), "ignore_flag": 0} for b, c in zip(gt_boxes, gt_labels)
        ]
    else:
        s["gt_instances"] = {"bboxes": np.array(gt_boxes, float).reshape(-1, 4), "labels": np.array(gt_labels, int)}
    return s


def run(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def two_images(**kw):
    a = sample("/d/a.png", [[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.2], [0, 0], [[0, 0, 10, 10]], [0], **kw)
    b = sample("/d/b.png", [[0, 0, 10, 10]], [0.3], [0], [], [], **kw)  # a normal image
    return [a, b]


def test_finding_classes_only_by_default():
    # class 0 ranking: a TP (0.9), b FP (0.3), a FP (0.2) -> AP 1; class 14 skipped
    assert run(VinDrMetric(), two_images()) == {"vindr/mAP": pytest.approx(1.0)}


def test_one_minus_max_scores_class_14():
    # class 14 GT only on b (no boxes); predictions 14: a 1-0.9=0.1 (FP), b 1-0.3=0.7 (TP) -> AP 1
    out = run(VinDrMetric(no_finding="one_minus_max", classwise=True), two_images())
    assert out == {
        "vindr/mAP": pytest.approx(1.0),
        "vindr/AP_00": pytest.approx(1.0),
        "vindr/AP_14": pytest.approx(1.0),
    }
    low = sample("/d/c.png", [[0, 0, 10, 10]], [0.95], [0], [], [])  # confident on a normal image
    out = run(VinDrMetric(no_finding="one_minus_max", classwise=True), two_images() + [low])
    # class 14: b 0.7 TP, a 0.1 FP, c 0.05 TP -> precision 1, 1/2, 2/3 on 2 GT: 0.5 + 0.5 * 2/3
    assert out["vindr/AP_14"] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_raw_instances_label_offset_and_rescale():
    s = sample("/d/a.png", [[0, 0, 10, 10]], [0.9], [0], [[0, 0, 20, 20]], [1], raw=False, scale_factor=(2.0, 2.0))
    s["gt_instances"]["labels"] = np.array([0])
    assert run(VinDrMetric(gt_rescale=True), [s])["vindr/mAP"] == pytest.approx(1.0)
    assert run(VinDrMetric(), [dict(s)])["vindr/mAP"] == pytest.approx(0.0)  # IoU 0.25 without rescale
    r = sample("/d/a.png", [[0, 0, 10, 10]], [0.9], [0], [[0, 0, 10, 10]], [0], raw=True)
    assert run(VinDrMetric(label_offset=1, classwise=True), [r]) == {
        "vindr/mAP": pytest.approx(1.0),
        "vindr/AP_01": pytest.approx(1.0),
    }


def test_torch_tensors_and_duplicate_ids():
    torch = pytest.importorskip("torch", reason="torch is a dependency of mmengine's BaseMetric")
    s = sample("/d/a.png", [], [], [], [[0, 0, 10, 10]], [0])
    s["pred_instances"] = {
        "bboxes": torch.tensor([[0.0, 0, 10, 10]]),
        "scores": torch.tensor([0.5]),
        "labels": torch.tensor([0]),
    }
    # the same image twice counts as two images: 1 TP per copy
    assert run(VinDrMetric(), [s, dict(s)])["vindr/mAP"] == pytest.approx(1.0)


def test_registered_for_configs_in_a_fresh_interpreter():
    code = (
        "from cxrdet.registry import METRICS\n"
        "m = METRICS.build(dict(type='VinDrMetric', iou_thr=0.5))\n"
        "print(type(m).__name__, m.iou_thr)\n"
        "from mmengine.registry import METRICS as ROOT\n"
        "print(type(ROOT.build(dict(type='cxrdet.VinDrMetric'))).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["VinDrMetric", "0.5", "VinDrMetric"]


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match=r"no_finding must be one of .* got 'maybe'"):
        VinDrMetric(no_finding="maybe")


def test_a_dataset_without_no_finding_class():
    """classes.json's dict configures the metric; labels outside the 2 classes are refused by the evaluator."""
    dataset = {"classes": ["cat", "dog"], "no_finding": None}
    metric = VinDrMetric(dataset=dataset, classwise=True)
    a = sample("/d/a.png", [[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], [0, 1], [[0, 0, 10, 10]], [0])
    b = sample("/d/b.png", [[0, 0, 10, 10]], [0.4], [1], [[0, 0, 10, 10]], [1])
    # cat: one TP -> AP 1; dog: FP (0.8) then TP (0.4) -> AP 0.5
    assert run(metric, [a, b]) == {
        "vindr/mAP": pytest.approx(0.75),
        "vindr/AP_00": pytest.approx(1.0),
        "vindr/AP_01": pytest.approx(0.5),
    }
    with pytest.raises(ValueError, match="needs a data set with a 'no finding' class"):
        VinDrMetric(dataset=dataset, no_finding="one_minus_max")
    from cxrdet.errors import InputError

    with pytest.raises(InputError, match=r"predictions: class_id outside 0\.\.1"):
        run(VinDrMetric(dataset=dataset), [sample("/d/c.png", [[0, 0, 1, 1]], [0.5], [2], [], [])])
