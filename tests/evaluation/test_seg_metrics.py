"""Segmentation numbers against hand counts and scikit-learn: the pixel confusion matrix (ignore index), PA, IoU
and Dice per class and their nan-skipping means, and SegmentationMetric summing pixels over images (not averaging
per-image scores) with the contract's keys."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement
from sklearn import metrics as sk

from cxrdet.evaluation.segmentation import (
    dice_per_class,
    iou_per_class,
    pixel_accuracy,
    pixel_confusion,
    segmentation_scores,
)

TRUTH = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 0]])
PRED = np.array([[0, 1, 1, 1], [0, 0, 0, 1], [2, 1, 1, 0]])


def test_confusion_by_hand():
    cm = pixel_confusion(TRUTH, PRED, 3)
    # truth 0: (0,0)->0 (0,1)->1 (1,0)->0 (1,1)->0 (2,3)->0 : 4 right, 1 as class 1
    # truth 1: (0,2)->1 (0,3)->1 (1,2)->0 (1,3)->1         : 3 right, 1 as class 0
    # truth 2: (2,0)->2 (2,1)->1                            : 1 right, 1 as class 1; (2,2) ignored
    np.testing.assert_array_equal(cm, [[4, 1, 0], [1, 3, 0], [0, 1, 1]])
    assert pixel_confusion(TRUTH, PRED, 256, ignore_index=None).sum() == 12


def test_scores_by_hand():
    cm = pixel_confusion(TRUTH, PRED, 3)
    assert pixel_accuracy(cm) == pytest.approx(8 / 11)
    # IoU: class 0 4/(5+5-4)=4/6, class 1 3/(4+5-3)=3/6, class 2 1/(2+1-1)=1/2
    np.testing.assert_allclose(iou_per_class(cm), [4 / 6, 3 / 6, 1 / 2])
    # Dice: 2*4/(5+5), 2*3/(4+5), 2*1/(2+1)
    np.testing.assert_allclose(dice_per_class(cm), [8 / 10, 6 / 9, 2 / 3])
    scores = segmentation_scores(cm, ["bg", "a", "b"])
    assert list(scores) == ["PA", "mIoU", "mDice", "IoU_bg", "IoU_a", "IoU_b", "Dice_bg", "Dice_a", "Dice_b"]
    assert scores["mIoU"] == pytest.approx((4 / 6 + 3 / 6 + 1 / 2) / 3)
    assert scores["mDice"] == pytest.approx((8 / 10 + 6 / 9 + 2 / 3) / 3)


def test_against_sklearn():
    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 3, (40, 50)), rng.integers(0, 3, (40, 50))
    cm = pixel_confusion(truth, pred, 3)
    t, p = truth.ravel(), pred.ravel()
    np.testing.assert_allclose(iou_per_class(cm), sk.jaccard_score(t, p, average=None))
    np.testing.assert_allclose(dice_per_class(cm), sk.f1_score(t, p, average=None))
    assert pixel_accuracy(cm) == pytest.approx(sk.accuracy_score(t, p))
    np.testing.assert_array_equal(cm, sk.confusion_matrix(t, p, labels=[0, 1, 2]))


def test_absent_class_is_nan_and_left_out_of_the_means():
    cm = pixel_confusion(np.zeros((2, 2)), np.zeros((2, 2)), 2)
    scores = segmentation_scores(cm)
    assert scores["IoU_0"] == 1.0 and math.isnan(scores["IoU_1"]) and math.isnan(scores["Dice_1"])
    assert scores["mIoU"] == 1.0 and scores["mDice"] == 1.0 and scores["PA"] == 1.0
    assert math.isnan(pixel_accuracy(np.zeros((2, 2))))


def test_bad_input():
    with pytest.raises(ValueError, match="differ in shape"):
        pixel_confusion(np.zeros((2, 2)), np.zeros((2, 3)), 2)
    with pytest.raises(ValueError, match=r"prediction has class 3, outside 0\.\.1"):
        pixel_confusion(np.zeros((1, 2)), np.array([[0, 3]]), 2)
    with pytest.raises(ValueError, match="2 class names for a 3-class"):
        segmentation_scores(np.eye(3), ["a", "b"])


def _sample(gt, pred) -> BaseDataElement:
    return BaseDataElement(gt_mask=torch.as_tensor(gt), pred_mask=torch.as_tensor(pred))


def test_metric_sums_pixels_over_images_with_the_contracts_keys(cxrdet_metric_scope):
    from cxrdet.registry import METRICS

    metric = METRICS.build(dict(type="SegmentationMetric", prefix="seg"))
    metric.dataset_meta = {"classes": ("background", "early lesion")}
    # image 1: 4 lesion pixels, 2 found; image 2: no lesion, 1 false positive among 16 pixels
    gt1, pred1 = np.zeros((4, 4), int), np.zeros((4, 4), int)
    gt1[0, :4] = 1
    pred1[0, :2] = 1
    gt2, pred2 = np.zeros((4, 4), int), np.zeros((4, 4), int)
    pred2[3, 3] = 1
    metric.process({}, [_sample(gt1, pred1), _sample(gt2, pred2)])
    out = metric.evaluate(2)
    # lesion: hit 2, truth 4, predicted 3 -> IoU 2/5, Dice 4/7; background: hit 27, truth 28, predicted 29 -> 27/30
    assert out["seg/IoU_early_lesion"] == pytest.approx(2 / 5)
    assert out["seg/Dice_early_lesion"] == pytest.approx(4 / 7)
    assert out["seg/IoU_background"] == pytest.approx(27 / 30)
    assert out["seg/PA"] == pytest.approx(29 / 32)
    assert out["seg/mIoU"] == pytest.approx((2 / 5 + 27 / 30) / 2)
    assert set(out) == {
        "seg/PA",
        "seg/mIoU",
        "seg/mDice",
        "seg/IoU_background",
        "seg/IoU_early_lesion",
        "seg/Dice_background",
        "seg/Dice_early_lesion",
    }
    # the mean of per-image lesion IoUs would differ (2/4 and 0/1 -> 0.25): pixels are pooled
    assert out["seg/IoU_early_lesion"] != pytest.approx(0.25)


def test_metric_needs_both_masks_and_the_class_count(cxrdet_metric_scope):
    from cxrdet.evaluation.segmentation_metric import SegmentationMetric

    metric = SegmentationMetric(num_classes=2)
    with pytest.raises(KeyError, match="gt_mask or pred_mask"):
        metric.process({}, [BaseDataElement(gt_mask=torch.zeros(2, 2))])
    with pytest.raises(ValueError, match="give num_classes"):
        SegmentationMetric().process({}, [_sample(np.zeros((2, 2)), np.zeros((2, 2)))])


@pytest.fixture()
def cxrdet_metric_scope():
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("cxrdet"):
        yield
