"""Segmentation numbers (CA-U-Net): the pixel confusion matrix and the pixel accuracy, IoU and Dice it gives.

Plain numpy, no torch: :class:`~cxrdet.evaluation.segmentation_metric.SegmentationMetric` sums per-image confusion
matrices over a data set and reads its numbers here. With ``M[t, p]`` the pixels of true class ``t`` predicted as
``p`` (pixels whose truth is ``ignore_index`` left out):

- pixel accuracy ``PA = trace(M) / sum(M)`` (the write-up's PA);
- per class ``IoU_c = M[c, c] / (sum_p M[c, p] + sum_t M[t, c] - M[c, c])`` (Jaccard) and
  ``Dice_c = 2 M[c, c] / (sum_p M[c, p] + sum_t M[t, c])`` (F1 of the class's pixels);
- a class absent from both truth and prediction has no IoU/Dice (nan); the means ``mIoU`` and ``mDice`` average
  the classes that have one (as mmsegmentation's ``IoUMetric``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pixel_confusion(truth, prediction, num_classes: int, ignore_index: int | None = 255) -> np.ndarray:
    """``num_classes x num_classes`` int64 counts ``M[true, predicted]`` over the pixels of one or more masks.

    Args:
        truth: true class per pixel (any integer array).
        prediction: predicted class per pixel, the same shape.
        num_classes: the number of classes.
        ignore_index: truth value whose pixels are not counted (None: every pixel counts).

    Raises:
        ValueError: different shapes, or a class index outside ``0..num_classes-1``.
    """
    truth, prediction = np.asarray(truth), np.asarray(prediction)
    if truth.shape != prediction.shape:
        raise ValueError(f"truth {truth.shape} and prediction {prediction.shape} differ in shape")
    truth, prediction = truth.reshape(-1).astype(np.int64), prediction.reshape(-1).astype(np.int64)
    if ignore_index is not None:
        keep = truth != ignore_index
        truth, prediction = truth[keep], prediction[keep]
    for name, values in (("truth", truth), ("prediction", prediction)):
        bad = values[(values < 0) | (values >= num_classes)]
        if bad.size:
            raise ValueError(f"{name} has class {int(bad[0])}, outside 0..{num_classes - 1}")
    counts = np.bincount(truth * num_classes + prediction, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def pixel_accuracy(confusion: np.ndarray) -> float:
    """Share of the counted pixels whose class is right (nan when no pixel is counted)."""
    total = float(np.sum(confusion))
    return float(np.trace(confusion)) / total if total else float("nan")


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU of each class (nan for a class in neither truth nor prediction)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hit = np.diag(confusion)
    union = confusion.sum(axis=1) + confusion.sum(axis=0) - hit
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hit / union, np.nan)


def dice_per_class(confusion: np.ndarray) -> np.ndarray:
    """Dice of each class (nan for a class in neither truth nor prediction)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hit = np.diag(confusion)
    sizes = confusion.sum(axis=1) + confusion.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, 2 * hit / sizes, np.nan)


def _mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def segmentation_scores(confusion: np.ndarray, class_names: Sequence[str] | None = None) -> dict[str, float]:
    """``PA``, ``mIoU``, ``mDice``, then ``IoU_<class>`` and ``Dice_<class>`` per class (names: ``class_names``,
    else the class indices)."""
    confusion = np.asarray(confusion)
    names = [str(n) for n in class_names] if class_names else [str(k) for k in range(len(confusion))]
    if len(names) != len(confusion):
        raise ValueError(f"{len(names)} class names for a {len(confusion)}-class confusion matrix")
    iou, dice = iou_per_class(confusion), dice_per_class(confusion)
    scores = {"PA": pixel_accuracy(confusion), "mIoU": _mean(iou), "mDice": _mean(dice)}
    scores.update({f"IoU_{n}": float(v) for n, v in zip(names, iou)})
    scores.update({f"Dice_{n}": float(v) for n, v in zip(names, dice)})
    return scores
