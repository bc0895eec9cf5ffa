"""CA-U-Net through the real path: ``cxrdet train | test | predict | explain`` on the gastric example.

Learning: after a short CPU run the lesion IoU and the mIoU on the validation images clearly beat the all-background
mask (lesion IoU 0; mIoU = background share / 2, computed here from the mask files) and the same model untrained,
scored by the same ``cxrdet test`` path. ``predict`` writes label masks in each INPUT file's geometry (a non-square
file the pipeline squeezed to 64 x 64 gets a mask of its own size that matches its truth) and the rows file;
``explain`` writes the mask overlay, Seg-Grad-CAM and the CBAM maps in the file's size. Seg-Grad-CAM's score by hand.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from task_runs import one_thread, task_engine  # noqa: F401 - one_thread: autouse fixture

pytestmark = pytest.mark.slow

CONFIG = "segmentation/ca-unet_example.py"
EPOCHS = 4


@pytest.fixture(scope="module")
def gastric(tmp_path_factory) -> Path:
    from cxrdet.example.gastric import make_gastric_example

    out = tmp_path_factory.mktemp("gastric") / "data"
    make_gastric_example(out, n=40, seed=0, size=128)
    return out


@pytest.fixture(scope="module")
def run(gastric, tmp_path_factory):
    engine = task_engine(CONFIG, gastric, tmp_path_factory.mktemp("runs"), train_cfg={"max_epochs": EPOCHS})
    (result,) = engine.train(["all"])
    return engine, result


def _all_background_scores(engine) -> tuple[float, float]:
    """(lesion IoU, mIoU) of predicting background everywhere on the validation masks at the model's 64 px."""
    from cxrdet.engines.runner.task_data import set_task_split
    from cxrdet.engines.runner.task_predict import dataset_of

    cfg = engine.runner_cfg.copy()
    set_task_split(cfg, "all", engine.data_root())
    val = dataset_of(cfg, "val_dataloader")
    lesion = total = 0
    for i in range(len(val)):
        mask = cv2.imread(val.get_data_info(i)["seg_map_path"], cv2.IMREAD_UNCHANGED)
        mask = cv2.resize(mask, (64, 64), interpolation=cv2.INTER_NEAREST)
        lesion, total = lesion + int(mask.sum()), total + mask.size
    background_iou = (total - lesion) / total  # hit = union = the background pixels
    return 0.0, (background_iou + 0.0) / 2


def test_ca_unet_learns_lesions(run):
    engine, result = run
    assert result.metric == "seg/mIoU" and result.best.name.startswith("best_seg_mIoU_epoch_")
    trained = engine.test(result.best)
    untrained = engine.test(engine.untrained_checkpoint(engine.work_dir / "untrained.pth"))
    lesion_iou, miou = _all_background_scores(engine)
    print("trained", trained.lines(), "untrained", untrained.lines(), "all-background", lesion_iou, miou)
    assert trained.metrics["seg/IoU_lesion"] >= 0.6, trained.lines()
    assert trained.metrics["seg/mIoU"] >= miou + 0.3, (trained.lines(), miou)
    assert trained.metrics["seg/mIoU"] >= untrained.metrics["seg/mIoU"] + 0.3, (trained.lines(), untrained.lines())
    assert trained.metrics["seg/mIoU"] == pytest.approx(result.score)
    assert trained.metrics["seg/PA"] > 1 - (1 - 2 * miou) / 2  # wrong pixels: under half the lesion share
    assert trained.parameters == 157_550


@pytest.fixture(scope="module")
def wide(gastric, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A lesion view squeezed to 96 x 160 (a file the 64 x 64 Resize distorts), and its truth at that size."""
    labels = pd.read_csv(gastric / "labels.csv")
    image_id = labels.loc[labels["label"] == "egc", "image_id"].iloc[0]
    folder = tmp_path_factory.mktemp("wide")
    image = cv2.imread(str(gastric / "images" / f"{image_id}.png"))
    cv2.imwrite(str(folder / "wide.png"), cv2.resize(image, (160, 96), interpolation=cv2.INTER_AREA))
    truth = cv2.imread(str(gastric / "masks" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
    return folder, cv2.resize(truth, (160, 96), interpolation=cv2.INTER_NEAREST)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a > 0) & (b > 0)).sum() / max(((a > 0) | (b > 0)).sum(), 1))


def test_predict_writes_masks_in_each_files_geometry(run, wide, gastric, tmp_path):
    from cxrdet.cli import main

    _, result = run
    folder, truth = wide
    (folder / "square.png").write_bytes((gastric / "images" / "G0001.png").read_bytes())
    out = tmp_path / "pred.csv"
    assert main(["predict", str(CONFIG), str(result.best), "--source", str(folder), "-o", str(out)]) == 0
    rows = pd.read_csv(out).set_index("image_id")
    assert list(rows.columns) == ["fraction_background", "fraction_lesion", "mask"]
    assert rows.loc["wide", "mask"] == "pred_masks/wide.png"
    mask = cv2.imread(str(tmp_path / "pred_masks" / "wide.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (96, 160) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert _iou(mask, truth) >= 0.6, _iou(mask, truth)
    # the same mask transposed or left at the model's 64 x 64 would not fit the file
    assert rows.loc["wide", "fraction_lesion"] == pytest.approx(mask.mean())
    np.testing.assert_allclose(rows["fraction_background"] + rows["fraction_lesion"], 1.0)
    square = cv2.imread(str(tmp_path / "pred_masks" / "square.png"), cv2.IMREAD_UNCHANGED)
    assert square.shape == (128, 128)
    # a second run into the same place needs --overwrite
    assert main(["predict", str(CONFIG), str(result.best), "--source", str(folder), "-o", str(out)]) != 0


def test_explain_overlays_the_mask_and_the_maps_in_the_files_size(run, wide, tmp_path):
    from cxrdet.cli import main

    _, result = run
    folder, truth = wide
    maps = tmp_path / "maps"
    assert main(["explain", str(CONFIG), str(result.best), str(folder / "wide.png"), "-o", str(maps)]) == 0
    names = sorted(p.name for p in maps.glob("*.png"))
    assert names == ["wide_cbam1.png", "wide_cbam2.png", "wide_cbam3.png", "wide_gradcam.png", "wide_mask.png"]
    for name in names:
        assert cv2.imread(str(maps / name)).shape == (96, 160, 3)
    image = cv2.imread(str(folder / "wide.png")).astype(int)
    overlay = cv2.imread(str(maps / "wide_mask.png")).astype(int)
    changed = np.abs(overlay - image).max(axis=2) > 3
    assert _iou(changed, truth) >= 0.6  # the colour lies on the lesion, the rest is the image itself
    row = pd.read_csv(maps / "explain.csv").iloc[0]
    assert row["fraction_lesion"] > 0.03 and "wide_mask.png" in row["files"]


def test_seg_grad_cam_score_by_hand():
    from cxrdet.engines.runner.explain import score_function

    logits = torch.zeros(2, 3, 2, 2)
    logits[0, 1] = torch.tensor([[5.0, 4.0], [-1.0, -2.0]])  # image 0: class 1 wins the top row
    logits[1, 2] = torch.tensor([[1.0, 1.0], [1.0, 3.0]])  # image 1: class 2 everywhere
    logits[1, 1] = torch.tensor([[0.5, 0.0], [0.0, 0.0]])
    score = score_function(None, None)(logits)
    # image 0: class 1 over its two pixels (5 + 4) / 4; image 1: class 2 over all four pixels (1+1+1+3) / 4
    torch.testing.assert_close(score, torch.tensor([9 / 4, 6 / 4]))
    # a given class with no predicted pixel: its logits over the whole image
    torch.testing.assert_close(score_function(None, 1)(logits)[1], torch.tensor(0.5 / 4))
