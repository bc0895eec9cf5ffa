"""The custom models through the real path: ``cxrdet train | test | predict | explain`` on mmengine's Runner.

Each model must learn: after a short CPU run on its synthetic example it beats the same model untrained (and the
trivial baseline) by a wide margin, scored by the same ``cxrdet test`` path. Also: the run folder holds what the
Runner promises (best checkpoint by the config's metric, weights-only twins, TensorBoard events, the training
curves, the resolved config), ``--resume`` continues a stopped run from its last epoch (counters, curves), K-fold
training writes out-of-fold probabilities that ``cxrdet submit --normal-prob`` reads, and ``predict`` /
``explain`` write per-image rows and maps of each image's own size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from task_runs import CONFIGS, QUIET, one_thread  # noqa: F401 - one_thread: autouse fixture
from task_runs import task_engine as _engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fracture_data(tmp_path_factory) -> Path:
    from cxrdet.example.fracture import make_fracture_example

    out = tmp_path_factory.mktemp("fracture") / "data"
    make_fracture_example(out, n_per_class=40, seed=0, size=128)
    return out


@pytest.fixture(scope="module")
def fracture_run(fracture_data, tmp_path_factory):
    engine = _engine("fracture/fracture_example.py", fracture_data, tmp_path_factory.mktemp("runs") / "fracture")
    (result,) = engine.train(["all"])
    return engine, result


def test_fracture_cnn_learns_and_its_run_folder_is_complete(fracture_run):
    engine, result = fracture_run
    assert result.metric == "cls/accuracy" and result.best.is_file()
    trained = engine.test(result.best)
    untrained = engine.test(engine.untrained_checkpoint(engine.work_dir / "untrained.pth"))
    # 16 validation images, 8 per class: the majority class scores 0.5
    assert trained.metrics["cls/accuracy"] >= 0.8, trained.lines()
    assert trained.metrics["cls/accuracy"] >= untrained.metrics["cls/accuracy"] + 0.25, (trained, untrained)
    assert trained.metrics["cls/accuracy"] == pytest.approx(result.score)  # the best checkpoint's own score
    assert "precision" in trained.report and "fractured" in trained.report and trained.parameters == 6066
    run = result.save_dir
    assert (run / f"{result.best.stem}_weights.pth").is_file()
    assert list(run.rglob("events.out.tfevents.*")), "no TensorBoard scalars"
    curves = pd.read_csv(run / "training_curves.csv")
    epochs = engine.runner_cfg.train_cfg.max_epochs
    assert sorted(curves.loc[curves["key"] == "train/loss", "step"]) == list(range(1, epochs + 1))
    assert {"train/accuracy", "val/cls/accuracy"} <= set(curves["key"])
    assert (run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (engine.work_dir / "config.py").is_file()


def test_fracture_predict_and_explain_write_rows_and_maps_of_each_images_size(fracture_run, fracture_data, tmp_path):
    import cv2

    from cxrdet.cli import main

    _, result = fracture_run
    config = str(CONFIGS / "fracture" / "fracture_example.py")
    out = tmp_path / "pred.csv"
    assert main(["predict", config, str(result.best), "--source", str(fracture_data), "-o", str(out)]) == 0
    rows = pd.read_csv(out)
    assert list(rows.columns) == ["image_id", "p_fractured", "p_normal", "label"] and len(rows) == 80
    np.testing.assert_allclose(rows["p_fractured"] + rows["p_normal"], 1.0, atol=1e-6)
    truth = [
        "fractured" if Path(p).parent.name == "fractured" else "normal" for p in sorted(fracture_data.rglob("*.png"))
    ]
    ids = [Path(p).stem for p in sorted(fracture_data.rglob("*.png"))]
    by_id = dict(zip(ids, truth))
    assert (rows["label"] == rows["image_id"].map(by_id)).mean() >= 0.8

    image = next((fracture_data / "fractured").glob("*.png"))
    maps = tmp_path / "maps"
    assert main(["explain", config, str(result.best), str(image), "-o", str(maps)]) == 0
    overlay = cv2.imread(str(maps / f"{image.stem}_gradcam.png"))
    assert overlay.shape == (128, 128, 3)  # the file's geometry, although the model saw a 64 px centre crop
    grey = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
    border = np.s_[:20, :20]  # outside the crop: no heat, the image itself
    assert np.abs(overlay[border].astype(int) - grey[border][..., None]).max() <= 1
    assert pd.read_csv(maps / "explain.csv")["files"].iloc[0] == f"{image.stem}_gradcam.png"


def test_resume_continues_a_stopped_run_from_its_last_epoch(fracture_data, tmp_path):
    import torch

    first = _engine("fracture/fracture_example.py", fracture_data, tmp_path / "r", train_cfg={"max_epochs": 2})
    first.train(["all"])
    again = _engine("fracture/fracture_example.py", fracture_data, tmp_path / "r", train_cfg={"max_epochs": 4})
    (result,) = again.train(["all"], resume="auto")
    last = torch.load(result.save_dir / "epoch_4_weights.pth", weights_only=True)
    assert last["meta"]["epoch"] == 4 and last["meta"]["iter"] == 4 * 8  # 64 training images, batch 8
    curves = pd.read_csv(result.save_dir / "training_curves.csv")
    assert sorted(curves.loc[curves["key"] == "train/loss", "step"]) == [1, 2, 3, 4]


@pytest.fixture(scope="module")
def vindr_data(tmp_path_factory) -> Path:
    """A convert folder of 160 example chest X-rays (30% normal) at 128 px with 2 folds."""
    from cxrdet.example.make import make_example
    from cxrdet.preprocess.convert import ConvertOptions, convert

    root = tmp_path_factory.mktemp("vindr_cls")
    make_example(root / "example", n_train=160, n_test=1, seed=1, sizes=[(256, 256)], workers=1)
    out = root / "data"
    convert(
        ConvertOptions(
            dicom_dir=root / "example" / "train",
            labels=root / "example" / "train.csv",
            out=out,
            size=128,
            folds=2,
            workers=1,
            progress=False,
        )
    )
    return out


def test_vindr_normal_classifier_learns_and_its_folds_feed_submit(vindr_data, tmp_path):
    from cxrdet.evaluation.classification import roc_auc
    from cxrdet.submission.gating import read_normal_probs

    engine = _engine("classifier/vindr-normal_example.py", vindr_data, tmp_path / "cls", train_cfg={"max_epochs": 10})
    results = engine.train(engine.select_splits(folds="all"))
    assert [r.split for r in results] == ["fold0", "fold1"] and results[0].metric == "cls/auc"
    oof = pd.read_csv(engine.work_dir / "oof.csv", dtype={"image_id": str})
    folds = pd.read_csv(vindr_data / "folds.csv", dtype={"image_id": str})
    assert sorted(oof["image_id"]) == sorted(folds["image_id"])  # every labelled image once, by its fold's model
    auc = roc_auc((oof["gt_label"] == "normal").astype(int).to_numpy(), oof["p_normal"].to_numpy())
    untrained = engine.predict(engine.untrained_checkpoint(tmp_path / "u.pth"), engine.sources(vindr_data / "images"))
    rows = untrained.rows.set_index("image_id").loc[oof["image_id"]]
    auc_untrained = roc_auc((oof["gt_label"] == "normal").astype(int).to_numpy(), rows["p_normal"].to_numpy())
    # measured: 0.72 trained (10 epochs on 80 images a fold) vs 0.33 untrained
    assert auc >= 0.65 and auc >= auc_untrained + 0.25, (auc, auc_untrained)
    probs = read_normal_probs(engine.work_dir / "oof.csv")  # what cxrdet submit --normal-prob reads
    assert len(probs) == len(oof) and probs.between(0, 1).all()


def test_tjnet_learns_bone_age_and_explain_shows_its_cbam_maps(tmp_path):
    import cv2

    from cxrdet.cli import main
    from cxrdet.engines.runner.task_predict import dataset_of
    from cxrdet.example.bone_age import make_bone_age_example

    data = tmp_path / "hands"
    make_bone_age_example(data, n=200, seed=0, size=128)
    engine = _engine("bone_age/tjnet_example.py", data, tmp_path / "tjnet")
    (result,) = engine.train(["all"])
    assert result.metric == "bone_age/MAD_months"
    trained = engine.test(result.best).metrics
    untrained = engine.test(engine.untrained_checkpoint(tmp_path / "u.pth")).metrics
    cfg = engine.split_cfg("all")
    train_ages = np.array([d["gt_age"] for d in dataset_of(cfg, "train_dataloader").load_data_list()])
    val_ages = np.array([d["gt_age"] for d in dataset_of(cfg, "val_dataloader").load_data_list()])
    mean_predictor = float(np.abs(val_ages - train_ages.mean()).mean())  # the trivial baseline, by hand
    # measured: 22.6 months trained vs 53.5 for the mean-age predictor
    assert trained["bone_age/MAD_months"] <= 0.6 * mean_predictor, (trained, mean_predictor)
    assert trained["bone_age/MAD_months"] <= 0.6 * untrained["bone_age/MAD_months"], (trained, untrained)
    assert trained["bone_age/MAD_years"] == pytest.approx(trained["bone_age/MAD_months"] / 12)
    assert (result.save_dir / "test" / "age_group_error.png").is_file() or list(
        result.save_dir.rglob("age_group_error.png")
    )

    image = sorted((data / "boneage-training-dataset").glob("*.png"))[0]
    maps = tmp_path / "maps"
    assert (
        main(["explain", str(CONFIGS / "bone_age" / "tjnet_example.py"), str(result.best), str(image), "-o", str(maps)])
        == 0
    )
    names = pd.read_csv(maps / "explain.csv")["files"].iloc[0].split()
    assert names == [f"{image.stem}_gradcam.png"] + [f"{image.stem}_cbam{k}.png" for k in (1, 2, 3)]
    assert all(cv2.imread(str(maps / n)).shape == (128, 128, 3) for n in names)
    assert "boneage_months" in pd.read_csv(maps / "explain.csv").columns
