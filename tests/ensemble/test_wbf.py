"""cxrdet's WBF against ensemble-boxes 1.0.9 (the spec) on many seeded inputs, and its input checks."""

from __future__ import annotations

import itertools

import ensemble_boxes
import numpy as np
import pytest
from ensemble_cases import KINDS, assert_same, make_case, oracle, stack_images

from cxrdet.ops.arrays import FlatBoxes
from cxrdet.ops.wbf import CONF_TYPES, wbf_many, weighted_boxes_fusion

WEIGHTS = (None, "int", "float")


def _weights(spec, n_models, rng):
    if spec == "int":
        return [int(v) for v in rng.integers(1, 4, n_models)]
    if spec == "float":
        return [float(v) for v in rng.uniform(0.3, 2.0, n_models)]
    return None


@pytest.mark.parametrize("conf_type,allows_overflow", list(itertools.product(CONF_TYPES, (False, True))))
def test_matches_ensemble_boxes(conf_type, allows_overflow):
    n_cases = 0
    for seed in range(60):
        kind = KINDS[seed % len(KINDS)]
        rng = np.random.default_rng(1000 + seed)
        boxes, scores, labels = make_case(
            seed, kind, n_boxes=int(rng.choice([4, 25, 80])), n_labels=int(rng.integers(1, 4))
        )
        kwargs = dict(
            weights=_weights(WEIGHTS[seed % 3], len(boxes), rng),
            iou_thr=float(rng.choice([0.0, 0.3, 0.55, 0.8])),
            skip_box_thr=float(rng.choice([0.0, 0.0, 0.1, 0.5])),
            conf_type=conf_type,
            allows_overflow=allows_overflow,
        )
        theirs = oracle(ensemble_boxes.weighted_boxes_fusion, boxes, scores, labels, **kwargs)
        assert_same(weighted_boxes_fusion(boxes, scores, labels, **kwargs), theirs)
        n_cases += len(theirs[0]) > 0
    assert n_cases > 30  # most cases produced boxes


def test_many_images_in_one_call_match_per_image_results():
    cases = [make_case(seed, KINDS[seed % len(KINDS)], n_models=3, n_labels=4) for seed in range(40)]
    flat = stack_images(cases, seed=1)
    kwargs = dict(weights=[2, 1, 3], iou_thr=0.45, skip_box_thr=0.05, conf_type="box_and_model_avg")
    fused = wbf_many(flat, **kwargs)
    assert np.all(np.diff(fused.images) >= 0)
    for i, case in enumerate(cases):
        rows = fused.images == i
        ours = (fused.boxes[rows], fused.scores[rows], fused.labels[rows])
        assert_same(ours, oracle(ensemble_boxes.weighted_boxes_fusion, *case, **kwargs))


def test_ties_keep_numpy_order_on_large_groups():
    # one class, 5 models x 60 boxes with scores on a 0.1 grid: groups far above numpy's small-sort size
    boxes, scores, labels = make_case(7, "rounded", n_models=5, n_boxes=60, n_labels=1)
    assert len(np.unique(np.concatenate(scores))) < 15
    for iou_thr in (0.1, 0.4, 0.7):
        theirs = oracle(ensemble_boxes.weighted_boxes_fusion, boxes, scores, labels, iou_thr=iou_thr)
        assert_same(weighted_boxes_fusion(boxes, scores, labels, iou_thr=iou_thr), theirs)


def test_identical_boxes_of_all_models_fuse_into_one():
    box = np.array([[0.1, 0.2, 0.4, 0.6]])
    boxes, scores, labels = [box] * 4, [np.array([0.8])] * 4, [np.array([2])] * 4
    b, s, lab = weighted_boxes_fusion(boxes, scores, labels)
    assert_same((b, s, lab), oracle(ensemble_boxes.weighted_boxes_fusion, boxes, scores, labels))
    assert len(b) == 1 and lab[0] == 2
    np.testing.assert_allclose(b[0], box[0], rtol=1e-6)


def test_single_model_and_empty_models():
    boxes, scores, labels = make_case(3, "plain", n_models=1)
    assert_same(
        weighted_boxes_fusion(boxes, scores, labels),
        oracle(ensemble_boxes.weighted_boxes_fusion, boxes, scores, labels),
    )
    empty = ([np.zeros((0, 4))] * 2, [np.zeros(0)] * 2, [np.zeros(0)] * 2)
    b, s, lab = weighted_boxes_fusion(*empty)
    assert b.shape == (0, 4) and len(s) == len(lab) == 0
    mixed = [boxes[0], np.zeros((0, 4))], [scores[0], np.zeros(0)], [labels[0], np.zeros(0)]
    assert_same(
        weighted_boxes_fusion(*mixed, weights=[1, 3]),
        oracle(ensemble_boxes.weighted_boxes_fusion, *mixed, weights=[1, 3]),
    )


def test_all_boxes_skipped_gives_empty_result():
    boxes, scores, labels = make_case(5, "plain", n_models=2)
    b, s, lab = weighted_boxes_fusion(boxes, scores, labels, skip_box_thr=1.5)
    assert len(b) == len(s) == len(lab) == 0


@pytest.mark.parametrize(
    "bad,match",
    [
        (lambda b, s, lab: ([b[0]], [s[0][:-1]], [lab[0]]), "boxes"),
        (lambda b, s, lab: ([b[0]], [s[0]], [lab[0][:-1]]), "labels"),
        (lambda b, s, lab: (b, s[:-1], lab), "lists"),
    ],
)
def test_mismatched_lengths_raise_instead_of_exit(bad, match):
    boxes, scores, labels = make_case(2, "plain", n_models=2, n_boxes=5)
    boxes = [b if len(b) else np.array([[0.1, 0.1, 0.2, 0.2]]) for b in boxes]
    scores = [s if len(s) else np.array([0.5]) for s in scores]
    labels = [lab if len(lab) else np.array([0]) for lab in labels]
    with pytest.raises(ValueError, match=match):
        weighted_boxes_fusion(*bad(boxes, scores, labels))


def test_bad_options_and_values_raise():
    boxes, scores, labels = [np.array([[0.1, 0.1, 0.5, 0.5]])], [np.array([0.9])], [np.array([1])]
    with pytest.raises(ValueError, match="conf_type"):
        weighted_boxes_fusion(boxes, scores, labels, conf_type="median")
    with pytest.raises(ValueError, match="weights"):
        weighted_boxes_fusion(boxes, scores, labels, weights=[1, 2])
    with pytest.raises(ValueError, match="weights"):
        weighted_boxes_fusion(boxes, scores, labels, weights=[0])
    with pytest.raises(ValueError, match="iou_thr"):
        weighted_boxes_fusion(boxes, scores, labels, iou_thr=float("nan"))
    with pytest.raises(ValueError, match="finite"):
        weighted_boxes_fusion(boxes, [np.array([np.nan])], labels)
    with pytest.raises(ValueError, match="finite"):
        weighted_boxes_fusion([np.array([[0.1, np.inf, 0.5, 0.5]])], scores, labels)
    with pytest.raises(ValueError, match="images"):
        wbf_many(FlatBoxes(boxes[0], scores[0], labels[0], [0], [3], n_models=1, n_images=2))
