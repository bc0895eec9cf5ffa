"""VinDr mAP (VOC 2010 all-point @0.4): hand-computed cases, a slow devkit transcription, and mmdet's eval_map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrdet.errors import InputError
from cxrdet.evaluation.voc import VocEvaluator, vindr_map
from cxrdet.structures import BoxTable

# ------------------------------------------------------------------------------------------ helpers


def table(rows, images=None, gt=False):
    """rows: (image_id, class_id, score, x1, y1, x2, y2) or, for gt, (image_id, class_id, x1, y1, x2, y2)."""
    if gt:
        rows = [(r[0], r[1], 1.0, *r[2:]) for r in rows]
    frame = pd.DataFrame(rows, columns=["image_id", "class_id", "score", "x_min", "y_min", "x_max", "y_max"])
    if not len(rows):
        return BoxTable.empty(images or [])
    ids = list(dict.fromkeys(list(images or []) + frame["image_id"].tolist()))
    return BoxTable(frame, BoxTable.empty(ids).images)


def ref_iou(box, boxes):
    """Straight from the VOC devkit (voc_eval.py), without the "+1" of integer pixels."""
    ixmin = np.maximum(boxes[:, 0], box[0])
    iymin = np.maximum(boxes[:, 1], box[1])
    ixmax = np.minimum(boxes[:, 2], box[2])
    iymax = np.minimum(boxes[:, 3], box[3])
    iw = np.maximum(ixmax - ixmin, 0.0)
    ih = np.maximum(iymax - iymin, 0.0)
    inters = iw * ih
    uni = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inters
    return inters / uni


def ref_voc_ap(rec, prec):
    """VOC 2010+ all-point AP, transcribed from the devkit."""
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def ref_map(gt_rows, pred_rows, iou_thr=0.4, match="voc", n_classes=15):
    """Slow per-class loop: gt_rows (img, cls, x1, y1, x2, y2); pred_rows (img, cls, score, x1, y1, x2, y2)."""
    aps = {}
    for c in range(n_classes):
        R = {}
        for r in gt_rows:
            if r[1] == c:
                R.setdefault(r[0], []).append(r[2:])
        R = {k: {"bbox": np.array(v, float), "det": [False] * len(v)} for k, v in R.items()}
        npos = sum(len(v["det"]) for v in R.values())
        dets = [r for r in pred_rows if r[1] == c]
        order = sorted(range(len(dets)), key=lambda j: -dets[j][2])  # Python's sort is stable
        tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
        for d, j in enumerate(order):
            img, box = dets[j][0], np.array(dets[j][3:], float)
            entry = R.get(img)
            ovmax, jmax = -np.inf, -1
            if entry is not None and len(entry["bbox"]):
                ov = ref_iou(box, entry["bbox"])
                if match == "best_unmatched":
                    ov = np.where(entry["det"], -np.inf, ov)
                ovmax, jmax = np.max(ov), int(np.argmax(ov))
            if ovmax >= iou_thr and not entry["det"][jmax]:
                tp[d] = 1
                entry["det"][jmax] = True
            else:
                fp[d] = 1
        if npos == 0:
            continue
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        rec = tp / npos
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps[c] = ref_voc_ap(rec, prec)
    return (np.mean(list(aps.values())) if aps else np.nan), aps


def ap_of(result, c):
    return float(result.per_class.set_index("class_id").loc[c, "ap"])


# ------------------------------------------------------------------------------------------ hand-computed


def test_ties_keep_row_order():
    gt = table([("a", 0, 0, 0, 10, 10)], gt=True)
    miss, hit = ("a", 0, 0.5, 50, 50, 60, 60), ("a", 0, 0.5, 0, 0, 10, 10)
    # equal scores: the first row is ranked first. miss then hit: precision 0, 1/2 -> AP 0.5
    assert vindr_map(gt, table([miss, hit])).map == pytest.approx(0.5)
    assert vindr_map(gt, table([hit, miss])).map == pytest.approx(1.0)


def test_duplicate_on_matched_gt_is_false_positive():
    gt = table([("a", 0, 0, 0, 10, 10), ("b", 0, 0, 0, 10, 10)], gt=True)
    pred = table([("a", 0, 0.9, 0, 0, 10, 10), ("a", 0, 0.8, 0, 0, 10, 10), ("b", 0, 0.7, 0, 0, 10, 10)])
    r = vindr_map(gt, pred)
    # TP, FP, TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> 0.5 * 1 + 0.5 * 2/3
    assert r.map == pytest.approx(0.5 + 0.5 * 2 / 3)
    row = r.per_class.set_index("class_id").loc[0]
    assert (row.n_gt, row.n_pred, row.n_tp) == (2, 3, 2)


def test_empty_predictions_give_zero():
    gt = table([("a", 0, 0, 0, 10, 10), ("b", 3, 5, 5, 20, 20)], gt=True)
    r = vindr_map(gt, BoxTable.empty(["a", "b"]))
    assert r.map == 0.0
    assert ap_of(r, 0) == 0.0 and ap_of(r, 3) == 0.0
    assert np.isnan(ap_of(r, 1))  # no GT: not scored


def test_predictions_on_images_without_gt_are_false_positives():
    gt = table([("a", 0, 0, 0, 10, 10)], images=["a", "empty"], gt=True)
    pred = table([("empty", 0, 0.9, 0, 0, 10, 10), ("a", 0, 0.8, 0, 0, 10, 10)])
    assert vindr_map(gt, pred).map == pytest.approx(0.5)


def test_unknown_images_error_by_default_or_ignored():
    gt = table([("a", 0, 0, 0, 10, 10)], gt=True)
    pred = table([("elsewhere", 0, 0.9, 0, 0, 10, 10), ("a", 0, 0.8, 0, 0, 10, 10)])
    with pytest.raises(InputError, match="not in the ground truth"):
        vindr_map(gt, pred)
    assert vindr_map(gt, pred, unknown_images="ignore").map == pytest.approx(1.0)


def test_class_14_is_an_ordinary_class():
    gt = table([("a", 14, 0, 0, 1, 1), ("b", 0, 10, 10, 50, 50)], gt=True)
    pred = table([("b", 14, 0.9, 0, 0, 1, 1), ("a", 14, 0.6, 0, 0, 1, 1)])
    r = vindr_map(gt, pred)
    assert ap_of(r, 14) == pytest.approx(0.5)  # FP then TP
    assert ap_of(r, 0) == 0.0
    assert r.map == pytest.approx(0.25)


def test_class_14_only():
    gt = table([("a", 14, 0, 0, 1, 1), ("b", 14, 0, 0, 1, 1)], gt=True)
    pred = table([("a", 14, 0.3, 0, 0, 1, 1)])
    r = vindr_map(gt, pred)
    assert r.map == pytest.approx(0.5)  # recall 1/2 at precision 1
    assert r.per_class["n_gt"].sum() == 2


def test_match_rules_differ_on_taken_best_gt():
    g1, g2 = (0, 0, 10, 10), (2, 0, 12, 10)
    gt = table([("a", 0, *g1), ("a", 0, *g2)], gt=True)
    # p2 overlaps g1 (IoU 0.905) more than g2 (IoU 0.739), and g1 is already taken by p1
    pred = table([("a", 0, 0.9, *g1), ("a", 0, 0.8, 0.5, 0, 10.5, 10)])
    assert vindr_map(gt, pred, match="voc").map == pytest.approx(0.5)
    assert vindr_map(gt, pred, match="best_unmatched").map == pytest.approx(1.0)


def test_iou_threshold_is_inclusive_and_continuous():
    gt = table([("a", 0, 0, 0, 10, 10)], gt=True)
    pred = table([("a", 0, 0.9, 0, 0, 10, 4)])  # IoU exactly 0.4 (no "+1" pixel)
    assert vindr_map(gt, pred).map == pytest.approx(1.0)
    assert vindr_map(gt, table([("a", 0, 0.9, 0, 0, 10, 3.99)])).map == 0.0


def test_no_ground_truth_gives_nan():
    r = vindr_map(BoxTable.empty(["a"]), table([("a", 0, 0.9, 0, 0, 10, 4)]))
    assert np.isnan(r.map)


def test_curves_are_precision_recall_in_rank_order():
    gt = table([("a", 0, 0, 0, 10, 10), ("b", 0, 0, 0, 10, 10)], gt=True)
    pred = table([("a", 0, 0.2, 0, 0, 10, 10), ("b", 0, 0.9, 50, 50, 60, 60), ("b", 0, 0.5, 0, 0, 10, 10)])
    c = vindr_map(gt, pred).curves[0]
    np.testing.assert_allclose(c.scores, [0.9, 0.5, 0.2])
    np.testing.assert_allclose(c.precision, [0, 1 / 2, 2 / 3])
    np.testing.assert_allclose(c.recall, [0, 0.5, 1.0])


# ------------------------------------------------------------------------------------------ random vs reference


def random_case(seed, n_img=12, n_cls=4, n_gt=30, n_pred=150):
    rng = np.random.default_rng(seed)
    ids = [f"img{i}" for i in range(n_img)]
    centers = rng.uniform(0, 100, (n_gt, 2))
    sizes = rng.uniform(5, 30, (n_gt, 2))
    g_img = rng.integers(0, n_img, n_gt)
    g_cls = rng.choice([*range(n_cls), 14], n_gt)
    for i in range(1, n_gt, 2):  # half the GT boxes are a second reader's box on the previous finding
        g_img[i], g_cls[i] = g_img[i - 1], g_cls[i - 1]
        centers[i] = centers[i - 1] + rng.normal(0, 3, 2)
        sizes[i] = sizes[i - 1] + rng.normal(0, 2, 2)
    gt_rows = [
        (ids[g_img[i]], int(g_cls[i]), *np.round(np.r_[centers[i] - sizes[i] / 2, centers[i] + sizes[i] / 2], 1))
        for i in range(n_gt)
    ]
    src = rng.integers(0, n_gt, n_pred)
    jitter = rng.normal(0, 4, (n_pred, 4))
    pred_rows = []
    for k, s in enumerate(src):
        x1, y1, x2, y2 = np.array(gt_rows[s][2:]) + jitter[k]
        cls = gt_rows[s][1] if rng.random() < 0.8 else int(rng.integers(0, n_cls))
        img = gt_rows[s][0] if rng.random() < 0.9 else ids[int(rng.integers(0, n_img))]
        score = float(np.round(rng.random(), 1))  # many ties
        pred_rows.append((img, cls, score, min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    return ids, gt_rows, pred_rows


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("match", ["voc", "best_unmatched"])
def test_random_cases_match_slow_devkit_loop(seed, match):
    ids, gt_rows, pred_rows = random_case(seed)
    if match == "best_unmatched":  # the case must exercise the difference between the rules
        assert ref_map(gt_rows, pred_rows, match="voc")[0] != ref_map(gt_rows, pred_rows, match=match)[0]
    expected_map, expected = ref_map(gt_rows, pred_rows, match=match)
    r = vindr_map(table(gt_rows, images=ids, gt=True), table(pred_rows), match=match)
    assert r.map == pytest.approx(expected_map, abs=1e-12)
    for c, ap in expected.items():
        assert ap_of(r, c) == pytest.approx(ap, abs=1e-12)
    assert set(r.per_class.loc[r.per_class["n_gt"] > 0, "class_id"]) == set(expected)


def test_evaluator_reuse_and_small_chunks(monkeypatch):
    import cxrdet.evaluation.voc as voc

    ids, gt_rows, pred_rows = random_case(42, n_pred=400)
    expected_map, _ = ref_map(gt_rows, pred_rows)
    ev = VocEvaluator(table(gt_rows, images=ids, gt=True))
    monkeypatch.setattr(voc, "_MAX_PAIRS", 7)  # forces many chunks in the pair expansion
    assert ev.evaluate(table(pred_rows)).map == pytest.approx(expected_map, abs=1e-12)
    assert ev.evaluate(table(pred_rows[:50])).map == pytest.approx(ref_map(gt_rows, pred_rows[:50])[0], abs=1e-12)


def test_mmdet_eval_map_reference():
    """mmdet's eval_map (area mode = VOC 2010 all-point, no legacy +1) on random data without score ties."""
    import mmdet.evaluation.functional.mean_ap as mean_ap_mod  # a dependency: this reference always runs

    n_cls = 5
    for seed in range(4):
        ids, gt_rows, pred_rows = random_case(100 + seed, n_cls=n_cls)
        rng = np.random.default_rng(seed)
        pred_rows = [(*r[:2], float(s), *r[3:]) for r, s in zip(pred_rows, rng.random(len(pred_rows)))]
        gt_rows = [r for r in gt_rows if r[1] < n_cls]
        det_results, annotations = [], []
        for img in ids:
            det_results.append(
                [
                    np.array(
                        [[*r[3:], r[2]] for r in pred_rows if r[0] == img and r[1] == c], dtype=np.float32
                    ).reshape(-1, 5)
                    for c in range(n_cls)
                ]
            )
            g = [r for r in gt_rows if r[0] == img]
            annotations.append(
                {
                    "bboxes": np.array([r[2:] for r in g], dtype=np.float32).reshape(-1, 4),
                    "labels": np.array([r[1] for r in g], dtype=np.int64),
                }
            )
        expected, results = mean_ap_mod.eval_map(
            det_results, annotations, iou_thr=0.4, eval_mode="area", nproc=1, logger="silent"
        )
        # same boxes as float32, as mmdet sees them
        f32 = lambda rows, k: [(*r[:k], *np.float32(r[k:])) for r in rows]  # noqa: E731
        r = vindr_map(
            table(f32(gt_rows, 2), images=ids, gt=True),
            table([(*x[:2], float(np.float32(x[2])), *x[3:]) for x in f32(pred_rows, 3)]),
        )
        assert r.map == pytest.approx(expected, abs=1e-6)
        for c in range(n_cls):
            if results[c]["num_gts"] > 0:
                assert ap_of(r, c) == pytest.approx(float(results[c]["ap"]), abs=1e-6)
