"""GAIN through the real path: ``cxrdet train | test | predict | explain`` on mmengine's Runner (configs/gain/).

1. GAIN learns the gastric example (``make_gastric_example``, 64 views, 52 train / 12 val): the test accuracy
   beats the majority class and the same model untrained by a wide margin; ``cxrdet test`` reports
   sensitivity and specificity; ``predict`` writes per-image rows, ``explain`` a Grad-CAM overlay of the file's size.
2. The mask term moves the attention onto the lesions. On the plain example a tiny CNN's Grad-CAM already finds
   the lesions (measured, seed 0, the settings below: val IoU at threshold 0.5 of 0.89 without the mask term, 0.91
   with mask_weight=0.1, 0.90 with 1.0), so the test uses the situation GAIN was made for: a spurious cue. Every
   EGC view of a copy of the example gets a white tag in its black corner (as endoscope overlays do), which
   predicts the class as well as the lesion. The same model, seed and schedule is trained with ``mask_weight=1.0``
   and with ``mask_weight=0``; the IoU of the thresholded (0.5) predicted-class attention with the masks on the
   validation EGC views, from the last epoch's weights, is compared. Measured (data seeds 0/1/2, 8 epochs): 0.86 /
   0.76 / 0.87 with the mask term vs 0.42 / 0.26 / 0.39 without; the test (seed 0) asks for >= 0.65 and a margin
   of 0.15. With the write-up's 0.1 this short run moves less (0.47 / 0.38 / 0.48), hence the raised weight.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from task_runs import one_thread, task_engine  # noqa: F401 - one_thread: autouse fixture

pytestmark = pytest.mark.slow

CONFIG = "gain/gain_example.py"
EPOCHS = 8


def _engine(data: Path, work: Path, every: int = 2, **options):
    """The example config's engine; validation, checkpoint and curves every ``every`` epochs (each redraw of the
    training-curves PNG and each checkpoint's config dump cost about as much as an epoch of this tiny model)."""
    from cxrdet.config import merge

    base = dict(
        train_cfg={"max_epochs": EPOCHS, "val_interval": every}, default_hooks={"checkpoint": {"interval": every}}
    )
    return task_engine(CONFIG, data, work, **merge(base, options))


@pytest.fixture(scope="module")
def gastric(tmp_path_factory) -> Path:
    from cxrdet.example.gastric import make_gastric_example

    out = tmp_path_factory.mktemp("gastric") / "data"
    make_gastric_example(out, n=64, seed=0, size=96)
    return out


@pytest.fixture(scope="module")
def gain_run(gastric, tmp_path_factory):
    engine = _engine(gastric, tmp_path_factory.mktemp("runs") / "gain")
    (result,) = engine.train(["all"])
    return engine, result


def test_gain_learns_the_gastric_example_and_reports_sensitivity_and_specificity(gain_run) -> None:
    engine, result = gain_run
    assert result.metric == "cls/accuracy" and result.best.is_file()
    trained = engine.test(result.best)
    untrained = engine.test(engine.untrained_checkpoint(engine.work_dir / "untrained.pth"))
    from cxrdet.engines.runner.task_predict import dataset_of

    val = dataset_of(engine.split_cfg("all"), "val_dataloader")
    labels = [val.get_data_info(i)["gt_label"] for i in range(len(val))]
    majority = max(labels.count(0), labels.count(1)) / len(labels)  # 12 views: the trivial baseline, by hand
    acc = trained.metrics["cls/accuracy"]
    print(f"GAIN val accuracy {acc:.3f} (untrained {untrained.metrics['cls/accuracy']:.3f}, majority {majority:.3f})")
    assert acc >= 0.85 and acc >= majority + 0.3, trained.lines()
    assert acc >= untrained.metrics["cls/accuracy"] + 0.3, (trained.metrics, untrained.metrics)
    for key in ("sensitivity", "specificity", "balanced_accuracy", "recall_egc", "recall_normal", "f1", "precision"):
        assert 0.0 <= trained.metrics[f"cls/{key}"] <= 1.0, key
    assert trained.metrics["cls/sensitivity"] == trained.metrics["cls/recall_egc"]
    assert trained.metrics["cls/specificity"] == trained.metrics["cls/recall_normal"]
    assert "egc" in trained.report


def test_gain_predict_and_explain_write_rows_and_a_map_of_the_files_size(gain_run, gastric, tmp_path) -> None:
    from cxrdet.cli import main

    _, result = gain_run
    out = tmp_path / "pred.csv"
    assert main(["predict", str(CONFIG), str(result.best), "--source", str(gastric / "images"), "-o", str(out)]) == 0
    rows = pd.read_csv(out, dtype={"image_id": str})
    assert list(rows.columns) == ["image_id", "p_normal", "p_egc", "label"] and len(rows) == 64
    truth = pd.read_csv(gastric / "labels.csv", dtype=str).set_index("image_id")["label"]
    agree = (rows["label"] == rows["image_id"].map(truth)).mean()
    print(f"GAIN predict: {agree:.3f} of the 64 views right")
    assert agree >= 0.8  # train and val views; the majority class is 0.5

    image = gastric / "images" / f"{truth[truth == 'egc'].index[0]}.png"
    maps = tmp_path / "maps"
    assert main(["explain", str(CONFIG), str(result.best), str(image), "-o", str(maps)]) == 0
    overlay = cv2.imread(str(maps / f"{image.stem}_gradcam.png"))
    assert overlay.shape == (96, 96, 3)  # the file's geometry; the model saw 64 px
    assert not np.array_equal(overlay, cv2.imread(str(image)))


def _with_corner_tag(src: Path, dst: Path) -> Path:
    """A copy of the example whose EGC views all carry a white tag in the black top-left corner."""
    shutil.copytree(src, dst)
    labels = pd.read_csv(dst / "labels.csv", dtype=str)
    for image_id in labels.loc[labels["label"] == "egc", "image_id"]:
        path = dst / "images" / f"{image_id}.png"
        image = cv2.imread(str(path))
        image[3:15, 3:21] = 255
        cv2.imwrite(str(path), image)
    return dst


def _attention_iou(engine, checkpoint: Path, threshold: float = 0.5) -> float:
    """Mean IoU of the thresholded predicted-class attention with the lesion masks, validation EGC views."""
    import torch
    from mmengine.dataset import pseudo_collate

    from cxrdet.engines.runner.task_predict import dataset_of

    model = engine.load_model(checkpoint)
    dataset = dataset_of(engine.split_cfg("all"), "val_dataloader")
    ious = []
    for i in range(len(dataset)):
        item = dataset[i]
        if int(item["data_samples"].gt_label) != 1:
            continue
        with torch.no_grad():  # as mmengine's test loop: GAIN enables gradients for its attention itself
            (sample,) = model.test_step(pseudo_collate([item]))
        truth = item["data_samples"].gt_mask.numpy() > 0
        called = sample.pred_attention.numpy() >= threshold
        ious.append((called & truth).sum() / max((called | truth).sum(), 1))
    assert len(ious) >= 5
    return float(np.mean(ious))


def test_mask_term_moves_the_attention_onto_the_lesions(gastric, tmp_path) -> None:
    data = _with_corner_tag(gastric, tmp_path / "tagged")
    iou = {}
    for weight in (1.0, 0.0):
        engine = _engine(data, tmp_path / f"mask{weight}", every=EPOCHS, model={"mask_weight": weight})
        (result,) = engine.train(["all"])
        last = result.save_dir / f"epoch_{EPOCHS}.pth"
        assert engine.test(last).metrics["cls/accuracy"] >= 0.9  # both classify: the tag alone gives the class
        iou[weight] = _attention_iou(engine, last)
    print(f"attention IoU with the mask term {iou[1.0]:.3f}, without {iou[0.0]:.3f}")
    assert iou[1.0] >= 0.65 and iou[1.0] >= iou[0.0] + 0.15, iou
