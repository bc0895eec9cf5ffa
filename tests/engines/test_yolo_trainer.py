"""YOLO training edge: configs, the offline sandbox, and the validator's VinDr mAP in DICOM pixels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxrdet.engines.yolo import config as yolo_config
from cxrdet.engines.yolo import dataset as yolo_dataset
from cxrdet.engines.yolo import oof as yolo_oof
from cxrdet.engines.yolo.validation import VINDR_KEY, VindrValidation
from cxrdet.errors import ConfigError
from cxrdet.io.predictions import BoxTable
from cxrdet.preprocess.geometry import Resize
from cxrdet.structures import Detections

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "yolo").glob("*.py"))
EXAMPLE_CONFIG = Path(__file__).parents[2] / "configs" / "yolo" / "yolov5n_192-e20_example.py"


def test_there_are_full_size_and_example_configs():
    names = {c.name for c in CONFIGS}
    assert {"yolov5s_1024-e40_vindr.py", "yolov5m_1024-e50_vindr.py", "yolov5n_192-e20_example.py"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_resolves_and_passes_ultralytics_checks(config, tmp_path):
    from cxrdet.engines.yolo.fit import check_args as _check_args
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    cfg = yolo_config.resolve_config(config)
    assert cfg["engine"] == "ultralytics" and cfg["best_metric"] == "vindr_map"
    size, epochs = config.stem.split("_")[1].split("-e")  # the name states size and epochs
    assert cfg["ultralytics"]["imgsz"] == int(size) and cfg["ultralytics"]["epochs"] == int(epochs)
    assert cfg["model"] == config.stem.split("_")[0]
    assert cfg["work_dir"] == str(Path("work_dirs") / config.stem)  # mmengine's default
    args = {**cfg["ultralytics"], "model": yolo_config.model_yaml(cfg["model"]), "data": "x.yaml"}
    with ultralytics_sandbox(tmp_path):
        _check_args(args)


def test_yolov5u_sizes_build_from_ultralytics_yaml_with_14_classes(tmp_path):
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    with ultralytics_sandbox(tmp_path):
        from ultralytics.nn.tasks import DetectionModel

        params = []
        for size in "nsmlx":
            model = DetectionModel(yolo_config.model_yaml(f"yolov5{size}"), nc=14, verbose=False)
            assert model.yaml["nc"] == 14 and model.model[-1].nc == 14
            assert model.yaml["yaml_file"] == f"yolov5{size}u.yaml"
            assert type(model.model[-1]).__name__ == "Detect"  # anchor-free YOLOv5u head
            params.append(sum(p.numel() for p in model.parameters()))
    assert params == sorted(params) and 2.0e6 < params[0] < 3.0e6 and params[-1] > 90e6


@pytest.mark.parametrize(
    "name, expected",
    [
        ("yolov5n", "yolov5nu.yaml"),
        ("yolov5su", "yolov5su.yaml"),
        ("yolov5x.yaml", "yolov5xu.yaml"),
        ("yolov5lu.yaml", "yolov5lu.yaml"),
    ],
)
def test_model_names(name, expected):
    assert yolo_config.model_yaml(name) == expected


@pytest.mark.parametrize(
    "options, message",
    [
        (["epochs=3"], r"did you mean 'ultralytics\.epochs'"),
        (["ultralytics.epoch=3"], r"did you mean 'ultralytics\.epochs'"),
        (["ultralytics.data=x.yaml"], "set by cxrdet: use data_root and --fold"),
        (["ultralytics.pretrained=true"], "use load_from"),
        (["model=yolov8n"], "expected yolov5n"),
        (["model=yolov5s.pt"], "weights go in load_from"),
        (["load_from=/nonexistent/yolov5su.pt"], "never downloads"),
        (["best_metric=map50"], "best_metric"),
        (["engine=mmdet"], "engine"),
        (["vindr_iou=0"], "vindr_iou"),
        (["predict.tta=1"], "expects true or false"),
        (["oof=yes"], "expects true or false"),
        (["randomness.seed=abc"], "randomness.seed"),
        (["randomness.sed=1"], r"did you mean 'randomness\.seed'"),
        (["resume=3"], "resume="),
        (["resume=[1]"], "resume="),
        (["ultralytics.resume=true"], "set by cxrdet: use resume"),
    ],
)
def test_config_errors_are_explained(options, message):
    with pytest.raises(ConfigError, match=message):
        yolo_config.resolve_config(EXAMPLE_CONFIG, options)


def test_ultralytics_section_is_type_checked_by_ultralytics(tmp_path):
    from cxrdet.engines.yolo.fit import check_args as _check_args
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    cfg = yolo_config.resolve_config(
        EXAMPLE_CONFIG, ["ultralytics.epochs=many"]
    )  # keys-only section: Ultralytics judges
    with ultralytics_sandbox(tmp_path), pytest.raises(ConfigError, match="epochs"):
        _check_args({**cfg["ultralytics"], "model": "yolov5nu.yaml", "data": "x.yaml"})


def test_select_splits(tmp_path):
    dataset = yolo_dataset.Dataset(tmp_path, 192, 8, ["all", "fold0", "fold1", "fold2"])
    assert yolo_dataset.select_splits(dataset, None, "all") == ["fold0", "fold1", "fold2"]
    assert yolo_dataset.select_splits(dataset, [2, 0], None) == ["fold2", "fold0"]
    assert yolo_dataset.select_splits(dataset, None, None) == ["all"]
    with pytest.raises(ConfigError, match="not both"):
        yolo_dataset.select_splits(dataset, [0], "all")
    with pytest.raises(ConfigError, match="only 'all'"):
        yolo_dataset.select_splits(dataset, None, "3")
    with pytest.raises(ConfigError, match="no split 'fold7'"):
        dataset.data_yaml("fold7")
    with pytest.raises(ConfigError, match="not a cxrdet convert output"):
        yolo_dataset.Dataset.open(tmp_path)
    with pytest.raises(ConfigError, match="data_root is not set"):
        yolo_dataset.Dataset.open(None)


def test_sandbox_is_offline_and_undone_on_exit(tmp_path, monkeypatch):
    from cxrdet.engines.yolo import sandbox as yolo_sandbox

    monkeypatch.setenv("ULTRALYTICS_API_KEY", "secret")
    monkeypatch.delenv("YOLO_OFFLINE", raising=False)
    import cv2
    import torch

    before_env, before_threads = dict(os.environ), (torch.get_num_threads(), cv2.getNumThreads())
    with yolo_sandbox.ultralytics_sandbox(tmp_path / "run"):
        from ultralytics.utils.torch_utils import select_device

        select_device("cpu", verbose=False)  # sets torch's threads to cores - 1
        cv2.setNumThreads(0)  # as importing Ultralytics does
        import ultralytics.data.utils
        import ultralytics.engine.trainer
        import ultralytics.utils
        import ultralytics.utils.checks
        import ultralytics.utils.events
        import ultralytics.utils.plotting

        settings = ultralytics.utils.SETTINGS
        assert settings["sync"] is False and settings["api_key"] == ""
        assert not any(settings[k] for k in ("wandb", "comet", "mlflow", "clearml", "dvc", "raytune", "tensorboard"))
        assert settings["weights_dir"].startswith(str((tmp_path / "run").resolve()))
        assert os.environ["YOLO_OFFLINE"] == "1" and "ULTRALYTICS_API_KEY" not in os.environ
        assert ultralytics.utils.ONLINE is False and ultralytics.utils.checks.ONLINE is False
        assert ultralytics.utils.events.events.enabled is False
        font = ultralytics.data.utils.check_font("Arial.ttf")
        assert Path(font).is_file() and Path(font).suffix == ".ttf"  # a local font, nothing downloaded
        assert ultralytics.utils.plotting.check_font is yolo_sandbox.local_font
        assert ultralytics.engine.trainer.check_amp is yolo_sandbox.local_amp_check
        assert yolo_sandbox.sandbox_active()
        os.environ["CXRDET_TEST_SET_INSIDE"] = "kept"  # not the sandbox's: must survive its exit
    assert os.environ.pop("CXRDET_TEST_SET_INSIDE") == "kept"
    assert dict(os.environ) == before_env  # incl. OMP_NUM_THREADS etc. that importing Ultralytics sets
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before_threads
    assert not yolo_sandbox.sandbox_active()
    assert ultralytics.engine.trainer.check_amp is ultralytics.utils.checks.check_amp
    assert not str(settings["weights_dir"]).startswith(str(tmp_path))  # settings restored
    # and the overrides were never written: the settings file (this sandbox's, or an earlier sandbox's when
    # Ultralytics was first imported by an earlier test, whose temporary folder may be gone) never holds them
    settings_file = Path(settings.file)
    assert not settings_file.exists() or not json.loads(settings_file.read_text())["weights_dir"].startswith(
        str(tmp_path)
    )


def test_local_amp_check_is_off_on_cpu():
    import torch

    from cxrdet.engines.yolo.sandbox import local_amp_check

    assert local_amp_check(torch.nn.Linear(2, 2)) is False


@pytest.fixture()
def validation() -> VindrValidation:
    gt = BoxTable(
        pd.DataFrame(
            {
                "image_id": ["a", "a"],
                "class_id": [0, 8],
                "score": [1.0, 1.0],
                "x_min": [100.0, 900.0],
                "y_min": [200.0, 900.0],
                "x_max": [700.0, 1100.0],
                "y_max": [800.0, 1150.0],
            }
        ),
        pd.DataFrame(
            {"height": [2048.0, 512.0], "width": [1792.0, 512.0]}, index=pd.Index(["a", "b"], name="image_id")
        ),
    )
    return VindrValidation(gt, {"a": Resize(2048, 1792, 160, 140), "b": Resize(512, 512, 160, 160)})


def test_validation_score_against_an_independent_count(validation):
    perfect = [Detections("a", validation.gt.boxes.iloc[:, 3:].to_numpy(), [0.9, 0.8], [0, 8]), Detections("b")]
    assert validation.score(perfect) == pytest.approx(1.0)
    assert validation.score([Detections("a"), Detections("b")]) == 0.0
    half = [Detections("a", [[100, 200, 700, 800], [0, 0, 10, 10]], [0.9, 0.8], [0, 8])]
    assert validation.score(half) == pytest.approx(0.5)  # class 0 AP 1, class 8 AP 0


def test_validator_maps_letterboxed_predictions_to_dicom_pixels(validation, tmp_path):
    """Val letterbox of 'a': PNG 160x140 -> 192x168 (+12 px left pad); boxes must land back on DICOM pixels."""
    import torch

    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    with ultralytics_sandbox(tmp_path):
        from cxrdet.engines.yolo.validator import VindrValidator as validator_cls

        v = validator_cls.__new__(validator_cls)
        v.device, v.vindr, v._vindr_dets = torch.device("cpu"), validation, []
        dicom = validation.gt.boxes.iloc[:, 3:].to_numpy()
        gain = np.array([168 / 140, 192 / 160]) * np.array([140 / 1792, 160 / 2048])  # DICOM -> canvas, x and y
        canvas = dicom * np.tile(gain, 2) + np.array([12, 0, 12, 0])
        pred = {
            "bboxes": torch.tensor(canvas, dtype=torch.float32),
            "conf": torch.tensor([0.9, 0.3]),
            "cls": torch.tensor([0.0, 8.0]),
            "extra": torch.zeros(2, 0),
        }
        batch = {
            "batch_idx": torch.zeros(0),
            "cls": torch.zeros(0, 1),
            "bboxes": torch.zeros(0, 4),
            "ori_shape": [(160, 140)],
            "img": torch.zeros(1, 3, 192, 192),
            "ratio_pad": [((192 / 160, 168 / 140), (12, 0))],
            "im_file": ["/x/images/a.png"],
        }
        v.collect_vindr([pred], batch)
    (det,) = v._vindr_dets
    assert det.image_id == "a" and np.array_equal(det.labels, [0, 8])
    assert np.allclose(det.boxes, dicom, atol=0.05)  # float32 canvas coordinates
    assert validation.score(v._vindr_dets) == pytest.approx(1.0)


@pytest.mark.parametrize("best_metric", ["vindr_map", "ultralytics"])
def test_fitness_follows_best_metric(validation, tmp_path, monkeypatch, best_metric):
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    with ultralytics_sandbox(tmp_path):
        from ultralytics.models.yolo.detect import DetectionValidator

        from cxrdet.engines.yolo.validator import VindrValidator as validator_cls

        monkeypatch.setattr(DetectionValidator, "get_stats", lambda self: {"metrics/mAP50(B)": 0.2, "fitness": 0.05})
        v = validator_cls.__new__(validator_cls)
        validation.best_metric = best_metric
        v.vindr = validation
        v._vindr_dets = [Detections("a", [[100, 200, 700, 800]], [0.9], [0])]
        stats = v.get_stats()
    assert stats[VINDR_KEY] == pytest.approx(0.5)
    assert stats["fitness"] == pytest.approx(0.5 if best_metric == "vindr_map" else 0.05)


def test_validation_from_convert_reads_fused_labels_and_scales(example_dataset, tmp_path):
    from cxrdet.preprocess.convert import ConvertOptions, convert

    convert(
        ConvertOptions(
            dicom_dir=example_dataset / "train",
            labels=example_dataset / "train.csv",
            out=tmp_path,
            size=128,
            folds=2,
            progress=False,
        )
    )
    val = VindrValidation.from_convert(tmp_path, tmp_path / "yolo" / "fold1" / "val.txt")
    folds = pd.read_csv(tmp_path / "folds.csv", dtype={"image_id": str})
    ids = sorted(folds.loc[folds["fold"] == 1, "image_id"])
    assert sorted(val.gt.image_ids) == ids and sorted(val.resizes) == ids
    fused = pd.read_csv(tmp_path / "labels_fused.csv", dtype={"image_id": str})
    assert len(val.gt) == fused["image_id"].isin(ids).sum()
    meta = pd.read_csv(tmp_path / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    for i in ids:
        assert val.resizes[i].scale_x == pytest.approx(meta.loc[i, "scale_x"])
        assert val.gt.images.loc[i, "height"] == meta.loc[i, "original_height"]


def test_combined_oof_needs_every_fold(tmp_path):
    from cxrdet.io.predictions import read_table, write_predictions

    dataset = yolo_dataset.Dataset(tmp_path, 192, 8, ["all", "fold0", "fold1"])
    fold0 = BoxTable.from_detections([Detections("a", [[1, 2, 3, 4]], [0.5], [3]), Detections("b")])
    write_predictions(fold0, tmp_path / "oof_fold0.csv")
    assert yolo_oof.combine_oof(tmp_path, dataset) is None  # fold 1 missing
    write_predictions(
        BoxTable.from_detections([Detections("c", [[5, 6, 7, 8]], [0.25], [8])]), tmp_path / "oof_fold1.csv"
    )
    combined = read_table(yolo_oof.combine_oof(tmp_path, dataset))
    assert sorted(combined.image_ids) == ["a", "b", "c"] and len(combined) == 2
    assert sorted(combined.boxes["class_id"]) == [3, 8]


def test_mmengine_names_reach_ultralytics(tmp_path):
    """``randomness.seed`` is Ultralytics' seed, ``load_from`` its ``pretrained``; ``work_dir`` its project."""
    from cxrdet.engines.yolo.fit import ultralytics_args
    from cxrdet.engines.yolo.validation import SETTINGS_KEY

    (tmp_path / "yolo" / "fold0").mkdir(parents=True)
    (tmp_path / "yolo" / "fold0" / "data.yaml").write_text(f"val: {tmp_path / 'val.txt'}\n")
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"")
    cfg = yolo_config.resolve_config(EXAMPLE_CONFIG, ["randomness.seed=7", f"load_from={weights}"])
    assert cfg["randomness"] == {"seed": 7} and cfg["resume"] is False
    args = ultralytics_args(cfg, yolo_dataset.Dataset(tmp_path, 192, 8, ["fold0"]), "fold0", tmp_path / "w")
    assert args["seed"] == 7 and args["pretrained"] == str(weights.resolve()) and args["project"] == str(tmp_path / "w")
    assert args[SETTINGS_KEY] == {
        "data_root": str(tmp_path.resolve()),
        "val_list": str((tmp_path / "val.txt").resolve()),
        "vindr_iou": 0.4,
        "best_metric": "vindr_map",
    }
    assert yolo_config.resolve_config(EXAMPLE_CONFIG)["randomness"] == {"seed": 0}  # the shipped recipe's seed


def test_resume_names_a_checkpoint(tmp_path):
    from cxrdet.engines.yolo.fit import resume_checkpoint

    last = tmp_path / "fold0" / "weights" / "last.pt"
    assert resume_checkpoint(tmp_path, "fold0", None) is None and resume_checkpoint(tmp_path, "fold0", False) is None
    with pytest.raises(ConfigError, match=r"no .*last\.pt to resume from"):
        resume_checkpoint(tmp_path, "fold0", "auto")
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    assert resume_checkpoint(tmp_path, "fold0", "auto") == last == resume_checkpoint(tmp_path, "fold0", True)
    other = tmp_path / "elsewhere.pt"
    with pytest.raises(ConfigError, match=r"elsewhere\.pt"):
        resume_checkpoint(tmp_path, "fold0", str(other))
    other.write_bytes(b"")
    assert resume_checkpoint(tmp_path, "fold0", str(other)) == other.resolve()
