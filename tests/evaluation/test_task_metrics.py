"""ClassificationMetric and BoneAgeMetric fed as mmengine's Evaluator feeds them (``data_sample.to_dict()``), checked
against scikit-learn and hand-computed values on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement
from sklearn import metrics as sk

from cxrdet.evaluation.task_metrics import BoneAgeMetric, ClassificationMetric
from cxrdet.registry import METRICS


def _classification_samples(rng, n: int, n_classes: int, with_label: bool = True) -> list[BaseDataElement]:
    out = []
    for _ in range(n):
        gt = int(rng.integers(0, n_classes))
        logits = rng.normal(0, 1, n_classes)
        logits[gt] += 1.0
        score = torch.softmax(torch.tensor(logits, dtype=torch.float32), 0)
        sample = BaseDataElement(metainfo=dict(img_id="x", img_shape=(8, 8)))
        sample.gt_label = torch.tensor(gt, dtype=torch.long)
        sample.pred_score = score
        if with_label:
            sample.pred_label = torch.argmax(score)
        out.append(sample)
    return out


def _evaluate(metric, samples, dataset_meta=None, batch: int = 4) -> dict:
    evaluator = Evaluator(metric)
    if dataset_meta is not None:
        evaluator.dataset_meta = dataset_meta
    for start in range(0, len(samples), batch):
        evaluator.process(data_samples=samples[start : start + batch], data_batch=None)
    return evaluator.evaluate(len(samples))


@pytest.mark.parametrize("seed", range(8))
def test_classification_metric_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_classes = 2 + seed % 3
    samples = _classification_samples(rng, 37, n_classes, with_label=seed % 2 == 0)
    names = tuple(f"k{i}" for i in range(n_classes))
    metric = ClassificationMetric()
    out = _evaluate(metric, samples, dict(classes=names))
    y = np.array([int(s.gt_label) for s in samples])
    scores = np.stack([s.pred_score.numpy() for s in samples])
    pred = scores.argmax(1)
    labels = list(range(n_classes))
    p, r, f, _ = sk.precision_recall_fscore_support(y, pred, labels=labels, average="macro", zero_division=0)
    expected = {"cls/accuracy": sk.accuracy_score(y, pred), "cls/precision": p, "cls/recall": r, "cls/f1": f}
    expected["cls/balanced_accuracy"] = sk.balanced_accuracy_score(y, pred)
    recalls = sk.recall_score(y, pred, labels=labels, average=None, zero_division=0)
    expected.update({f"cls/recall_{name}": value for name, value in zip(names, recalls)})
    mcm = sk.multilabel_confusion_matrix(y, pred, labels=labels)  # per class [[tn, fp], [fn, tp]]
    one_vs_rest_specificity = mcm[:, 0, 0] / (mcm[:, 0, 0] + mcm[:, 0, 1])
    if n_classes == 2:
        expected["cls/auc"] = sk.roc_auc_score(y, scores[:, 1])
        expected["cls/sensitivity"] = sk.recall_score(y, pred, pos_label=1)
        expected["cls/specificity"] = sk.recall_score(y, pred, pos_label=0)
    else:
        expected["cls/sensitivity"] = r
        expected["cls/specificity"] = float(np.mean(one_vs_rest_specificity))
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-6), key
        assert type(out[key]) is float
    report = metric.last_report
    assert report == sk.classification_report(y, pred, labels=labels, target_names=list(names), zero_division=0)
    assert np.array_equal(metric.last_confusion, sk.confusion_matrix(y, pred, labels=labels))


def test_classification_metric_one_class_auc_is_nan_and_empty_is_nan():
    samples = _classification_samples(np.random.default_rng(0), 6, 2)
    for s in samples:
        s.gt_label = torch.tensor(1)
    out = _evaluate(ClassificationMetric(prefix="vindr_cls"), samples, dict(classes=("normal", "abnormal")))
    assert math.isnan(out["vindr_cls/auc"]) and 0.0 <= out["vindr_cls/accuracy"] <= 1.0
    empty = ClassificationMetric(num_classes=2).compute_metrics([])
    keys = {"accuracy", "f1", "precision", "recall", "auc", "balanced_accuracy", "sensitivity", "specificity"}
    assert set(empty) == keys | {"recall_0", "recall_1"} and all(math.isnan(v) for v in empty.values())
    assert math.isnan(out["vindr_cls/sensitivity"]) is False and math.isnan(out["vindr_cls/specificity"])


def test_classification_metric_recall_keys_of_awkward_class_names():
    samples = _classification_samples(np.random.default_rng(1), 12, 3)
    out = _evaluate(ClassificationMetric(), samples, dict(classes=("No finding", "Nodule/Mass", "ILD")))
    assert {"cls/recall_No_finding", "cls/recall_Nodule_Mass", "cls/recall_ILD"} <= set(out)


def _bone_age_samples(rng, n: int) -> tuple[list[BaseDataElement], dict[str, np.ndarray]]:
    true = rng.uniform(0, 228, n)
    pred = true + rng.normal(0, 9, n)
    male = rng.integers(0, 2, n).astype(np.float64)
    male[rng.random(n) < 0.25] = np.nan
    p_male = np.clip(np.nan_to_num(male, nan=0.5) + rng.normal(0, 0.4, n), 0, 1)
    samples = []
    for i in range(n):
        s = BaseDataElement(metainfo=dict(img_id=str(i)))
        s.gt_age = torch.tensor(true[i], dtype=torch.float32)
        s.gt_male = torch.tensor(male[i], dtype=torch.float32)
        s.pred_age = torch.tensor(pred[i], dtype=torch.float32)
        s.pred_age_score = torch.full((77,), 1 / 77)
        s.pred_male = torch.tensor(p_male[i], dtype=torch.float32)
        samples.append(s)
    f32 = {
        k: v.astype(np.float32).astype(np.float64) for k, v in dict(true=true, pred=pred, male=male, p=p_male).items()
    }
    return samples, f32


def test_bone_age_metric_values_and_plot(tmp_path):
    samples, v = _bone_age_samples(np.random.default_rng(3), 41)
    metric = BoneAgeMetric(plot_dir=str(tmp_path / "plots"), group_years=2)
    out = _evaluate(metric, samples)
    err = v["pred"] - v["true"]
    known = ~np.isnan(v["male"])
    expected = {
        "bone_age/MAD_months": sk.mean_absolute_error(v["true"], v["pred"]),
        "bone_age/RMSE_months": math.sqrt(sk.mean_squared_error(v["true"], v["pred"])),
        "bone_age/MAD_years": np.mean(np.abs(err)) / 12,
        "bone_age/RMSE_years": np.sqrt(np.mean(err**2)) / 12,
        "bone_age/sex_accuracy": sk.accuracy_score(v["male"][known], v["p"][known] >= 0.5),
    }
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        assert type(out[key]) is float
    groups = np.floor(v["true"] / 24).astype(int)
    assert [g.count for g in metric.last_groups] == [int(np.sum(groups == k)) for k in np.unique(groups)]
    for g in metric.last_groups:
        sel = groups == int(g.low_years // 2)
        assert g.mad_months == pytest.approx(np.mean(np.abs(err[sel])))
    png = tmp_path / "plots" / "age_group_error.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import cv2

    assert cv2.imread(str(png)).shape[0] > 100


def test_bone_age_metric_without_sex_and_empty(tmp_path):
    samples, _ = _bone_age_samples(np.random.default_rng(4), 5)
    for s in samples:
        del s.gt_male
    out = _evaluate(BoneAgeMetric(prefix="ba"), samples)
    assert math.isnan(out["ba/sex_accuracy"]) and out["ba/MAD_months"] > 0
    empty = BoneAgeMetric(plot_dir=str(tmp_path)).compute_metrics([])
    assert all(math.isnan(x) for x in empty.values())
    assert (tmp_path / "age_group_error.png").stat().st_size > 0  # a "no images" plot, no crash


def test_built_from_the_registry():
    with DefaultScope.overwrite_default_scope("cxrdet"):
        a = METRICS.build(dict(type="ClassificationMetric"))
        b = METRICS.build(dict(type="BoneAgeMetric", plot_dir=None))
    assert isinstance(a, ClassificationMetric) and a.prefix == "cls"
    assert isinstance(b, BoneAgeMetric) and b.prefix == "bone_age"
