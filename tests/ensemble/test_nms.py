"""cxrdet's NMS, soft-NMS and NMW against ensemble-boxes 1.0.9 on many seeded inputs, and their input checks."""

from __future__ import annotations

import ensemble_boxes
import numpy as np
import pytest
from ensemble_cases import KINDS, assert_same, make_case, oracle, stack_images

from cxrdet.ops import nms as cx
from cxrdet.ops.nmw import nmw_many


def _case(seed):
    rng = np.random.default_rng(2000 + seed)
    case = make_case(
        seed, KINDS[seed % len(KINDS)], n_boxes=int(rng.choice([4, 25, 70])), n_labels=int(rng.integers(1, 4))
    )
    weights = [
        None,
        [int(v) for v in rng.integers(1, 4, len(case[0]))],
        [float(v) for v in rng.uniform(0.3, 2, len(case[0]))],
    ][seed % 3]
    return rng, case, weights


def _check(ours, theirs):
    if theirs is None:  # ensemble-boxes' nms/soft_nms crash when every box is dropped
        assert len(ours[0]) == 0
    else:
        assert_same(ours, theirs)


def test_nms_matches_ensemble_boxes():
    for seed in range(80):
        rng, case, weights = _case(seed)
        iou_thr = float(rng.choice([0.0, 0.3, 0.5, 0.8]))
        _check(
            cx.nms(*case, iou_thr=iou_thr, weights=weights),
            oracle(ensemble_boxes.nms, *case, iou_thr=iou_thr, weights=weights),
        )


@pytest.mark.parametrize("method", [1, 2, 3])
def test_soft_nms_matches_ensemble_boxes(method):
    for seed in range(50):
        rng, case, weights = _case(seed)
        kwargs = dict(
            method=method,
            iou_thr=float(rng.choice([0.0, 0.3, 0.5])),
            weights=weights,
            sigma=float(rng.choice([0.1, 0.5, 2.0])),
            thresh=float(rng.choice([0.001, 0.05, 0.3])),
        )
        _check(cx.soft_nms(*case, **kwargs), oracle(ensemble_boxes.soft_nms, *case, **kwargs))


def test_nmw_matches_ensemble_boxes():
    for seed in range(80):
        rng, case, weights = _case(seed)
        kwargs = dict(
            weights=weights, iou_thr=float(rng.choice([0.0, 0.3, 0.55])), skip_box_thr=float(rng.choice([0.0, 0.2]))
        )
        _check(cx.non_maximum_weighted(*case, **kwargs), oracle(ensemble_boxes.non_maximum_weighted, *case, **kwargs))


def test_soft_nms_returns_original_scores_of_kept_boxes():
    # two heavily overlapping boxes: gaussian soft-NMS decays the second, but returns its own score
    boxes = [np.array([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.52]])]
    scores, labels = [np.array([0.9, 0.8])], [np.array([0, 0])]
    b, s, _ = cx.soft_nms(boxes, scores, labels, sigma=0.5, thresh=0.01)
    assert_same((b, s, _), oracle(ensemble_boxes.soft_nms, boxes, scores, labels, sigma=0.5, thresh=0.01))
    np.testing.assert_array_equal(np.sort(s), [0.8, 0.9])


def test_many_images_in_one_call_match_per_image_results(monkeypatch):
    monkeypatch.setattr(cx, "_PAIR_CHUNK", 50)  # gaussian decays computed over many small chunks
    cases = [make_case(seed, KINDS[seed % len(KINDS)], n_models=3, n_boxes=20) for seed in range(30)]
    flat = stack_images(cases, seed=2)
    runs = [
        (cx.nms_many(flat, iou_thr=0.4, weights=[1, 2, 1]), ensemble_boxes.nms, dict(iou_thr=0.4, weights=[1, 2, 1])),
        (
            cx.soft_nms_many(flat, method=2, sigma=0.3, thresh=0.05),
            ensemble_boxes.soft_nms,
            dict(method=2, sigma=0.3, thresh=0.05),
        ),
        (
            nmw_many(flat, weights=[3, 1, 1], iou_thr=0.5),
            ensemble_boxes.non_maximum_weighted,
            dict(weights=[3, 1, 1], iou_thr=0.5),
        ),
    ]
    for fused, fn, kwargs in runs:
        assert np.all(np.diff(fused.images) >= 0)
        for i, case in enumerate(cases):
            rows = fused.images == i
            _check((fused.boxes[rows], fused.scores[rows], fused.labels[rows]), oracle(fn, *case, **kwargs))


def test_empty_input():
    empty = ([np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0)])
    for result in (cx.nms(*empty), cx.soft_nms(*empty), cx.non_maximum_weighted(*empty)):
        assert result[0].shape == (0, 4) and len(result[1]) == len(result[2]) == 0


def test_bad_input_raises():
    boxes, scores, labels = [np.array([[0.1, 0.1, 0.5, 0.5]])], [np.array([0.9])], [np.array([1])]
    with pytest.raises(ValueError, match="method"):
        cx.soft_nms(boxes, scores, labels, method=4)
    with pytest.raises(ValueError, match="sigma"):
        cx.soft_nms(boxes, scores, labels, sigma=0.0)
    with pytest.raises(ValueError, match="weights"):
        cx.nms(boxes, scores, labels, weights=[1, 1])
    with pytest.raises(ValueError, match="weights"):
        cx.non_maximum_weighted(boxes, scores, labels, weights=[-1])
    with pytest.raises(ValueError, match="boxes"):
        cx.nms(boxes, [np.array([0.9, 0.8])], labels)
    with pytest.raises(ValueError, match="finite"):
        cx.non_maximum_weighted(boxes, [np.array([np.inf])], labels)
