"""The mmdet engine end to end on two example images: ``cxrdet train`` learns (loss falls, the box is recovered,
trained >> untrained), ``cxrdet predict`` writes boxes in ORIGINAL DICOM pixels (DICOM and PNG inputs agree,
flip TTA by WBF or mmdet's DetTTAModel), ``cxrdet test`` scores and writes predictions, and an mmdet prediction
file fuses with a YOLO one through ``cxrdet ensemble`` and is scored by ``cxrdet evaluate``.

One training run for the module: the tiny RetinaNet (``mmdet_tiny_retinanet.py``, 96 px) on the first two
images of ``coco/all.json`` (one Cardiomegaly box, one normal image), 20 epochs of one AdamW step.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CONFIG = Path(__file__).parent / "mmdet_tiny_retinanet.py"
pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out
EPOCHS = 20
LEARN = [
    "train_dataloader.dataset.indices=2",
    "val_dataloader.dataset.indices=2",
    f"train_cfg.max_epochs={EPOCHS}",
    f"train_cfg.val_interval={EPOCHS}",
    f"default_hooks.checkpoint.interval={EPOCHS}",
    'optim_wrapper.optimizer={"_delete_": True, "type": "AdamW", "lr": 0.003, "weight_decay": 0.0001}',
]


def _iou(a, b) -> float:
    """IoU of two xyxy boxes (continuous coordinates)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def run(converted_example, example_dataset, tmp_path_factory) -> dict:
    from cxrdet.cli import main

    tmp = tmp_path_factory.mktemp("mmdet_learn")
    data = tmp / "data"
    shutil.copytree(converted_example, data)
    ids = [i["image_id"] for i in json.loads((data / "coco" / "all.json").read_text())["images"][:2]]
    dicoms = tmp / "dicoms"
    dicoms.mkdir()
    for image_id in ids:
        shutil.copy(example_dataset / "train" / f"{image_id}.dicom", dicoms)
    work = tmp / "work"
    code = main(["train", str(CONFIG), "--data-root", str(data), "-o", str(work), "--cfg-options", *LEARN])
    assert code == 0
    return {"data": data, "ids": ids, "dicoms": dicoms, "work": work, "tmp": tmp, "example": example_dataset}


def _truth(data: Path, image_id: str) -> pd.DataFrame:
    fused = pd.read_csv(data / "labels_fused.csv", dtype={"image_id": str})
    return fused[(fused["image_id"] == image_id) & fused["x_min"].notna()]


def _scalars(work: Path) -> list[dict]:
    (path,) = (work / "all").glob("*/vis_data/scalars.json")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_training_lowers_the_loss_and_keeps_the_best_checkpoint_by_vindr_map(run):
    history = [r for r in _scalars(run["work"]) if "loss" in r]
    assert len(history) == EPOCHS  # one iteration per epoch
    assert history[-1]["loss"] < 0.5 * history[0]["loss"], (history[0]["loss"], history[-1]["loss"])
    val = [r for r in _scalars(run["work"]) if "vindr/mAP" in r]
    assert val and val[-1]["vindr/mAP"] >= 0.9
    best = sorted((run["work"] / "all").glob("best_vindr_mAP_epoch_*.pth"))
    assert [p.name for p in best] == [
        f"best_vindr_mAP_epoch_{EPOCHS}.pth",
        f"best_vindr_mAP_epoch_{EPOCHS}_weights.pth",
    ]


def test_trained_far_beats_untrained_and_recovers_the_box(run):
    import torch
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope

    from cxrdet.engines.base import engine_of_config
    from cxrdet.engines.runner.oof import split_ground_truth
    from cxrdet.evaluation.voc import vindr_map
    from cxrdet.io.sources import find_sources

    engine = engine_of_config(CONFIG, {"data_root": str(run["data"])})
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope("mmdet"):
        model = MODELS.build(engine.runner_cfg.model)
    model.init_weights()
    untrained = run["tmp"] / "untrained.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, untrained)
    items = [s for s in find_sources(run["data"]) if s.image_id in run["ids"]]
    gt = split_ground_truth(run["data"], "all").subset(run["ids"])
    best = run["work"] / "all" / f"best_vindr_mAP_epoch_{EPOCHS}.pth"
    scores = {}
    for name, ckpt in (("untrained", untrained), ("trained", best)):
        table = engine.predict(ckpt, items, progress=False, workers=0).table
        scores[name] = vindr_map(gt, table, iou_thr=0.4, meta=engine.dataset_meta()).map
    assert scores["trained"] >= 0.9 and scores["untrained"] <= 0.1, scores
    table = engine.predict(best, items, progress=False, workers=0).table
    truth = _truth(run["data"], run["ids"][0]).iloc[0]
    top = table.boxes[table.boxes["image_id"] == run["ids"][0]].sort_values("score").iloc[-1]
    assert top["class_id"] == truth["class_id"]
    assert _iou(top[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float),
                truth[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float)) >= 0.5  # fmt: skip


def test_predict_writes_original_pixels_from_dicoms_and_pngs_alike(run):
    import pydicom

    from cxrdet.cli import main
    from cxrdet.engines.base import engine_of_config
    from cxrdet.io.predictions import read_table, write_predictions
    from cxrdet.io.sources import find_sources

    best = run["work"] / "all" / f"best_vindr_mAP_epoch_{EPOCHS}_weights.pth"  # the weights-only file predicts too
    out = run["tmp"] / "pred"
    out.mkdir()
    png_list = out / "pngs.txt"
    png_list.write_text("".join(f"{run['data'] / 'images' / (i + '.png')}\n" for i in run["ids"]))
    for name, source, extra in (
        ("dicom.csv", run["dicoms"], []),
        ("png.csv", png_list, []),
        ("tta.csv", run["dicoms"], ["--tta"]),
    ):
        argv = ["predict", str(CONFIG), str(best), "--source", str(source), "-o", str(out / name), "--no-progress"]
        assert main([*argv, "--workers", "1", *extra]) == 0
    engine = engine_of_config(CONFIG, {"predict": {"tta_merge": "nms"}})  # mmdet's DetTTAModel merges instead
    nms = engine.predict(best, find_sources(run["dicoms"]), tta=True, progress=False, workers=0)
    assert nms.settings["tta_merge"] == "nms"
    write_predictions(nms.table, out / "tta_nms.csv")
    dicom, png = read_table(out / "dicom.csv"), read_table(out / "png.csv")
    for image_id in run["ids"]:
        ds = pydicom.dcmread(run["dicoms"] / f"{image_id}.dicom", stop_before_pixels=True)
        assert tuple(dicom.images.loc[image_id, ["height", "width"]]) == (ds.Rows, ds.Columns)
        assert tuple(png.images.loc[image_id, ["height", "width"]]) == (ds.Rows, ds.Columns)
    a = dicom.boxes.sort_values(["image_id", "score"]).reset_index(drop=True)
    b = png.boxes.sort_values(["image_id", "score"]).reset_index(drop=True)
    assert len(a) == len(b) > 0
    columns = ["x_min", "y_min", "x_max", "y_max", "score"]
    np.testing.assert_allclose(a[columns], b[columns], atol=1e-3)
    truth = _truth(run["data"], run["ids"][0]).iloc[0][["x_min", "y_min", "x_max", "y_max"]].to_numpy(float)
    for name in ("dicom.csv", "tta.csv", "tta_nms.csv"):
        table = read_table(out / name)
        top = table.boxes[table.boxes["image_id"] == run["ids"][0]].sort_values("score").iloc[-1]
        assert _iou(top[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float), truth) >= 0.5, name
    assert json.loads((out / "dicom.classes.json").read_text())["no_finding"] == 14


def test_cxrdet_test_reports_the_map_and_writes_a_prediction_file(run, capsys):
    from cxrdet.cli import main
    from cxrdet.io.predictions import read_table

    best = run["work"] / "all" / f"best_vindr_mAP_epoch_{EPOCHS}.pth"
    argv = ["test", str(CONFIG), str(best), "--data-root", str(run["data"]), "--work-dir", str(run["work"])]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mAP@0.4: " in printed and "Cardiomegaly" in printed
    pred = run["work"] / "all" / f"test_best_vindr_mAP_epoch_{EPOCHS}.csv"
    assert f"predictions: {pred}" in printed
    table = read_table(pred)
    assert len(table.images) == len(json.loads((run["data"] / "coco" / "all.json").read_text())["images"])


def test_an_mmdet_file_fuses_with_a_yolo_file_and_is_scored(run):
    from cxrdet.cli import main

    best = run["work"] / "all" / f"best_vindr_mAP_epoch_{EPOCHS}.pth"
    out = run["tmp"] / "fuse"
    out.mkdir()
    mm = out / "mmdet.csv"
    argv = ["predict", str(CONFIG), str(best), "--source", str(run["dicoms"]), "-o", str(mm), "--tta"]
    assert main([*argv, "--no-finding", "--no-progress", "--workers", "1"]) == 0
    truth = _truth(run["data"], run["ids"][0]).iloc[0]
    sizes = pd.read_csv(run["data"] / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    rows = []  # a YOLO prediction file in the documented format, written by hand (boxes a few pixels off)
    for image_id in run["ids"]:
        h, w = sizes.loc[image_id, ["original_height", "original_width"]]
        if image_id == run["ids"][0]:
            box = truth[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float) + [3, -2, 4, 2]
            rows.append([image_id, int(truth["class_id"]), 0.8, *box, h, w])
            rows.append([image_id, 14, 0.2, 0, 0, 1, 1, h, w])
        else:
            rows.append([image_id, 14, 0.9, 0, 0, 1, 1, h, w])
    yolo = out / "yolo.csv"
    columns = ["image_id", "class_id", "score", "x_min", "y_min", "x_max", "y_max", "height", "width"]
    pd.DataFrame(rows, columns=columns).to_csv(yolo, index=False)
    wbf = out / "wbf.csv"
    assert main(["ensemble", str(mm), str(yolo), "-o", str(wbf), "--iou-thr", "0.4"]) == 0
    train = pd.read_csv(run["example"] / "train.csv", dtype={"image_id": str})
    gt = out / "gt.csv"
    train[train["image_id"].isin(run["ids"])].to_csv(gt, index=False)
    metrics = out / "m.json"
    assert main(["evaluate", "--gt", str(gt), "--gt-fuse", "wbf", "--pred", str(wbf), "--json", str(metrics)]) == 0
    result = json.loads(metrics.read_text())
    assert result["mAP"] >= 0.9, result
    fused = pd.read_csv(wbf, dtype={"image_id": str})
    assert set(fused["image_id"]) == set(run["ids"])


def test_an_unreadable_dicom_is_listed_without_boxes_and_reported(run, capsys):
    from cxrdet.cli import main
    from cxrdet.io.failures import read_failures
    from cxrdet.io.predictions import read_table

    source = run["tmp"] / "with_broken"
    shutil.copytree(run["dicoms"], source)
    (source / "broken.dicom").write_bytes(b"DICM" * 40)  # not a DICOM: the decoder refuses it in its worker
    best = run["work"] / "all" / f"best_vindr_mAP_epoch_{EPOCHS}_weights.pth"
    out = run["tmp"] / "broken.csv"
    argv = ["predict", str(CONFIG), str(best), "--source", str(source), "-o", str(out), "--no-progress"]
    assert main([*argv, "--workers", "1"]) == 1
    assert "1 images could not be read" in capsys.readouterr().out
    failures = read_failures(out)
    assert list(failures) == ["broken"] and failures["broken"]
    table = read_table(out)
    assert "broken" in table.images.index and not (table.boxes["image_id"] == "broken").any()
    assert set(table.images.index) == {*run["ids"], "broken"}
    assert run["ids"][0] in set(table.boxes["image_id"])  # the readable finding still has its boxes
