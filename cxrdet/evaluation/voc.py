"""Evaluation: the VinDr-CXR competition metric (PASCAL VOC 2010 all-point mAP at IoU >= 0.4), vectorised.

Matching follows the VOC devkit: per class, predictions are visited in descending score order over all
images (ties keep the prediction table's row order); each takes the same-image same-class ground-truth box
with the highest IoU (continuous coordinates, no "+1"; ties between GT boxes go to the first listed); it is a
true positive when that IoU >= ``iou_thr`` and the box is not yet matched, else a false positive. That rule
only depends on order, so it is resolved without a Python loop: best GT per prediction with numpy, then the
first claimer (in score order) of each GT wins. AP is the area under the monotone precision envelope; mAP is
the mean over classes that have ground truth. Class 14 ("No finding", GT ``[0, 0, 1, 1]``) is an ordinary class.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxrdet.errors import InputError
from cxrdet.structures import BOX_COLUMNS, VINDR, BoxTable, DatasetMeta

log = logging.getLogger(__name__)

MATCH_RULES = ("voc", "best_unmatched")
_MAX_PAIRS = 4_000_000  # prediction x GT pairs evaluated at once (bounds memory)


@dataclass
class PRCurve:
    """Precision/recall after each prediction of one class, in ranking order."""

    scores: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    tp: np.ndarray  # bool, per prediction


@dataclass
class VocResult:
    """Result of :func:`vindr_map`.

    Attributes:
        map: mean AP over classes with ground truth (NaN when there is no ground truth at all).
        per_class: one row per class: ``class_id, class_name, ap, n_gt, n_pred, n_tp`` (ap NaN without GT).
        curves: class_id -> :class:`PRCurve` (for plots).
        iou_thr: IoU threshold used.
        match: matching rule used.
    """

    map: float
    per_class: pd.DataFrame
    curves: dict[int, PRCurve] = field(default_factory=dict)
    iou_thr: float = 0.4
    match: str = "voc"


def _iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (N, 4) boxes ``a`` and ``b`` (0 where the union is empty)."""
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


class VocEvaluator:
    """Prepares the ground truth once, then scores any number of prediction tables (ensemble tuning).

    Args:
        gt: ground-truth table (scores ignored).
        iou_thr: a prediction matches a GT box when IoU >= this.
        match: ``"voc"`` (devkit rule, default) or ``"best_unmatched"`` (take the best still-unmatched GT box;
            used by some re-implementations, NOT the competition's rule).
        unknown_images: predictions for images absent from the ground truth: ``"error"`` (default: such a
            file is almost always the wrong split or fold, and scoring it either way would mislead) or
            ``"ignore"`` (drop those predictions, with a log line).
        num_classes: classes scored (``0..num_classes-1``); default ``meta.num_classes``.
        meta: the data set (class names in the per-class table; VinDr by default).
    """

    def __init__(
        self,
        gt: BoxTable,
        iou_thr: float = 0.4,
        match: str = "voc",
        unknown_images: str = "error",
        num_classes: int | None = None,
        meta: DatasetMeta = VINDR,
    ):
        if match not in MATCH_RULES:
            raise ValueError(f"match must be one of {MATCH_RULES}, got {match!r}")
        if unknown_images not in ("error", "ignore"):
            raise ValueError(f"unknown_images must be 'error' or 'ignore', got {unknown_images!r}")
        self.iou_thr, self.match, self.unknown_images = float(iou_thr), match, unknown_images
        self.meta = meta
        self.num_classes = int(meta.num_classes if num_classes is None else num_classes)
        self.gt_source = gt.source
        ids = pd.Index(gt.images.index).append(pd.Index(gt.boxes["image_id"].to_numpy())).unique()
        self.index = pd.Index(ids)
        g_cls = gt.boxes["class_id"].to_numpy(np.int64)
        self._check_classes(g_cls, gt.source)
        key = self.index.get_indexer(gt.boxes["image_id"]).astype(np.int64) * self.num_classes + g_cls
        self.order = np.argsort(key, kind="stable")  # GT rows grouped by (image, class), file order within
        n_keys = len(self.index) * self.num_classes
        self.count = np.bincount(key, minlength=n_keys)  # per (image, class) key: number of GT boxes
        self.start = np.concatenate(([0], np.cumsum(self.count)[:-1]))  # first position in self.order
        self.gt_boxes = gt.boxes[list(BOX_COLUMNS)].to_numpy(np.float64)
        self.n_gt = np.bincount(g_cls, minlength=self.num_classes)

    def _check_classes(self, cls: np.ndarray, source: str) -> None:
        if len(cls) and (cls.min() < 0 or cls.max() >= self.num_classes):
            raise InputError(source or "<table>", f"class_id outside 0..{self.num_classes - 1}")

    def _image_codes(self, pred: BoxTable) -> np.ndarray:
        codes = self.index.get_indexer(pred.boxes["image_id"])
        unknown = codes < 0
        if unknown.any():
            first = pred.boxes["image_id"].iloc[int(np.argmax(unknown))]
            n_img = pred.boxes["image_id"][unknown].nunique()
            msg = (
                f"{int(unknown.sum())} predictions on {n_img} images that are not in the ground truth "
                f"{self.gt_source or ''} (first: {first})"
            )
            if self.unknown_images == "error":
                raise InputError(
                    pred.source or "<predictions>", msg + "; evaluate the matching split, or ignore them explicitly"
                )
            log.warning("%s: ignored %s", pred.source or "predictions", msg)
        return codes

    def _pairs(self, idx: np.ndarray, p_key: np.ndarray, p_boxes: np.ndarray):
        """All (prediction, same-image same-class GT) pairs of predictions ``idx`` (each with >= 1 GT).

        Returns ``seg`` (first pair of each prediction), ``rep`` (position in ``idx`` per pair), ``pos``
        (rank of the GT in file order within its group), ``g`` (GT row) and ``iou``.
        """
        kk = self.count[p_key[idx]]
        seg = np.concatenate(([0], np.cumsum(kk)[:-1]))
        rep = np.repeat(np.arange(len(idx)), kk)
        pos = np.arange(int(kk.sum())) - seg[rep]
        g = self.order[self.start[p_key[idx]][rep] + pos]
        return seg, rep, pos, g, _iou_pairs(p_boxes[idx][rep], self.gt_boxes[g])

    def _best_gt(self, p_key: np.ndarray, p_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per prediction: the same-image same-class GT with the highest IoU (first on ties), and that IoU."""
        k = self.count[p_key]
        best = np.full(len(p_key), -1, dtype=np.int64)
        best_iou = np.zeros(len(p_key))
        has = np.flatnonzero(k > 0)
        ends = np.cumsum(k[has])
        start = 0
        while start < len(has):  # chunks of at most _MAX_PAIRS pairs
            stop = max(int(np.searchsorted(ends, (ends[start - 1] if start else 0) + _MAX_PAIRS, "right")), start + 1)
            idx = has[start:stop]
            seg, rep, pos, _g, iou = self._pairs(idx, p_key, p_boxes)
            top = np.maximum.reduceat(iou, seg)
            first = np.minimum.reduceat(np.where(iou == top[rep], pos, np.iinfo(np.int64).max), seg)
            best[idx] = self.order[self.start[p_key[idx]] + first]
            best_iou[idx] = top
            start = stop
        return best, best_iou

    def _best_unmatched(self, cand: np.ndarray, rank: np.ndarray, p_key: np.ndarray, p_boxes: np.ndarray) -> np.ndarray:
        """Greedy "best still-unmatched GT" matching, resolved in rounds (see module notes); returns TP mask.

        Each round every unresolved prediction proposes its best available GT (IoU >= thr); the earliest
        proposer of a GT wins it; within an (image, class) group the winners ranked before the group's first
        loser are exactly what the sequential greedy loop would do, so they are accepted.
        """
        tp = np.zeros(len(p_key), bool)
        _, rep, pos, g, iou = self._pairs(cand, p_key, p_boxes)
        ok = iou >= self.iou_thr
        p, g, iou, pos = cand[rep[ok]], g[ok], iou[ok], pos[ok]
        srt = np.lexsort((pos, -iou, p))  # per prediction: best IoU first, file order on ties
        p, g = p[srt], g[srt]
        group = np.unique(p_key[p], return_inverse=True)[1]
        free = np.ones(len(self.gt_boxes), bool)
        resolved = np.zeros(len(p_key), bool)
        big = np.iinfo(np.int64).max
        while True:
            live = free[g] & ~resolved[p]
            if not live.any():
                return tp
            lp, lg, lgroup = p[live], g[live], group[live]
            head = np.concatenate(([True], lp[1:] != lp[:-1]))  # each prediction's proposal
            prop_p, prop_g, prop_grp = lp[head], lg[head], lgroup[head]
            win_rank = np.full(len(free), big)
            np.minimum.at(win_rank, prop_g, rank[prop_p])
            wins = rank[prop_p] == win_rank[prop_g]
            first_loss = np.full(int(group.max()) + 1, big)
            np.minimum.at(first_loss, prop_grp[~wins], rank[prop_p[~wins]])
            accept = wins & (rank[prop_p] < first_loss[prop_grp])
            tp[prop_p[accept]] = True
            resolved[prop_p[accept]] = True
            free[prop_g[accept]] = False

    def evaluate(self, pred: BoxTable, curves: bool = True) -> VocResult:
        """Scores ``pred`` against the prepared ground truth (an empty table is fine)."""
        codes = self._image_codes(pred)
        keep = codes >= 0
        b = pred.boxes
        p_cls = b["class_id"].to_numpy(np.int64)[keep]
        self._check_classes(p_cls, pred.source)
        scores = b["score"].to_numpy(np.float64)[keep]
        p_boxes = b[list(BOX_COLUMNS)].to_numpy(np.float64)[keep]
        p_key = codes[keep].astype(np.int64) * self.num_classes + p_cls
        order = np.argsort(-scores, kind="stable")  # descending score, row order on ties
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        best, best_iou = self._best_gt(p_key, p_boxes)
        cand = np.flatnonzero(best_iou >= self.iou_thr)
        if self.match == "best_unmatched":
            tp = self._best_unmatched(cand, rank, p_key, p_boxes)
        else:  # devkit: a candidate is TP iff it is the first (in score order) to claim its best GT
            first = np.full(len(self.gt_boxes), np.iinfo(np.int64).max)
            np.minimum.at(first, best[cand], rank[cand])
            tp = np.zeros(len(p_key), bool)
            tp[cand[rank[cand] == first[best[cand]]]] = True
        return self._summarise(tp, scores, p_cls, order, curves)

    def _summarise(self, tp, scores, p_cls, order, want_curves) -> VocResult:
        small = p_cls.astype(np.int16) if self.num_classes < 2**15 else p_cls  # radix sort
        ranked = order[np.argsort(small[order], kind="stable")]  # by class, then score rank
        bounds = np.searchsorted(p_cls[ranked], np.arange(self.num_classes + 1))
        rows, curves = [], {}
        for c in range(self.num_classes):
            sel = ranked[bounds[c] : bounds[c + 1]]
            hits = tp[sel]
            ctp = np.cumsum(hits)
            n_gt = int(self.n_gt[c])
            precision = ctp / np.arange(1, len(sel) + 1)
            recall = ctp / n_gt if n_gt else np.full(len(sel), np.nan)
            ap = np.nan
            if n_gt:
                envelope = np.maximum.accumulate(precision[::-1])[::-1]
                ap = float(envelope[hits].sum() / n_gt)
            name = self.meta.name(c)
            rows.append((c, name, ap, n_gt, len(sel), int(hits.sum())))
            if want_curves:
                curves[c] = PRCurve(scores[sel], precision, recall, hits)
        per_class = pd.DataFrame(rows, columns=["class_id", "class_name", "ap", "n_gt", "n_pred", "n_tp"])
        scored = per_class["ap"][per_class["n_gt"] > 0]
        if scored.empty:
            log.warning("the ground truth has no boxes: mAP is undefined (NaN)")
        value = float(scored.mean()) if len(scored) else float("nan")
        return VocResult(value, per_class, curves, self.iou_thr, self.match)


def vindr_map(
    gt: BoxTable,
    pred: BoxTable,
    iou_thr: float = 0.4,
    match: str = "voc",
    unknown_images: str = "error",
    curves: bool = True,
    meta: DatasetMeta = VINDR,
) -> VocResult:
    """The VinDr-CXR metric: VOC 2010 all-point mAP at IoU >= ``iou_thr`` over classes with ground truth.

    Args:
        gt: ground truth (normal images carry class 14 boxes ``[0, 0, 1, 1]``; scores ignored).
        pred: predictions in original pixels; may be empty.
        iou_thr: IoU threshold (competition: 0.4).
        match: ``"voc"`` (devkit, default) or ``"best_unmatched"``.
        unknown_images: ``"error"`` (default) or ``"ignore"`` for predictions on images not in ``gt``.
        curves: keep per-class precision/recall arrays in the result.
        meta: the data set (its classes are the ones scored); VinDr by default.

    Returns:
        :class:`VocResult`. To score many prediction tables against one ground truth, build a
        :class:`VocEvaluator` once and call its ``evaluate``.
    """
    return VocEvaluator(gt, iou_thr, match, unknown_images, meta=meta).evaluate(pred, curves=curves)
