"""Multi-GPU path: a trainer rebuilt from Ultralytics' DDP file (in a fresh interpreter) still scores VinDr mAP.

Ultralytics' ``generate_ddp_file`` saves the trainer class (by module + name) and ``vars(trainer.args)``; each
DDP worker rebuilds ``Trainer(cfg, overrides=args)``. No GPU and no real DDP here: the generated file runs
in a subprocess with ``trainer.train()`` replaced by checks of the rebuilt trainer and its validator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

CONFIG = Path(__file__).parents[2] / "configs" / "yolo" / "yolov5n_192-e20_example.py"

CHECK = r"""
import json, sys
ddp_file, report = sys.argv[1], sys.argv[2]

def _check(trainer):
    from ultralytics.models.yolo.detect import DetectionValidator

    from cxrdet.engines.yolo.validation import VINDR_KEY
    from cxrdet.structures import Detections

    trainer.test_loader = None  # built by _setup_train() in a real run
    validator = trainer.get_validator()
    gt = validator.vindr.gt
    validator._vindr_dets = [Detections(i, gt.boxes.loc[gt.boxes["image_id"] == i, ["x_min", "y_min", "x_max",
                             "y_max"]].to_numpy(), [1.0] * int((gt.boxes["image_id"] == i).sum()),
                             gt.boxes.loc[gt.boxes["image_id"] == i, "class_id"].to_numpy()) for i in gt.image_ids]
    DetectionValidator.get_stats = lambda self: {"metrics/mAP50(B)": 0.2, "fitness": 0.05}
    stats = validator.get_stats()
    from ultralytics.models.yolo.detect import DetectionTrainer

    from cxrdet.engines.yolo.sandbox import sandbox_active

    seen = []
    DetectionTrainer.train = lambda self: seen.append(sandbox_active())  # the loop itself: not run here
    trainer.train()
    with open(report, "w") as f:
        json.dump({"trainer": f"{type(trainer).__module__}.{type(trainer).__qualname__}",
                   "validator": f"{type(validator).__module__}.{type(validator).__qualname__}",
                   "settings": trainer.vindr_settings, "iou_thr": validator.vindr.iou_thr,
                   "best_metric": validator.vindr.best_metric, "n_images": len(gt.image_ids),
                   "vindr": stats[VINDR_KEY], "fitness": stats["fitness"], "sandboxed": seen}, f)

code = open(ddp_file).read()
assert "trainer.train()" in code
code = code.replace("trainer.train()", "_check(trainer)")
exec(compile(code, ddp_file, "exec"), {"__name__": "__main__", "_check": _check})
"""


@pytest.fixture(scope="module")
def converted(example_dataset, tmp_path_factory) -> Path:
    from cxrdet.preprocess.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("ddp") / "data"
    convert(
        ConvertOptions(
            dicom_dir=example_dataset / "train",
            labels=example_dataset / "train.csv",
            out=out,
            size=64,
            folds=2,
            progress=False,
        )
    )
    return out


def test_ddp_file_rebuilds_a_trainer_that_scores_vindr_map(converted, tmp_path, monkeypatch):
    from cxrdet.engines.yolo.config import resolve_config
    from cxrdet.engines.yolo.dataset import Dataset
    from cxrdet.engines.yolo.fit import ultralytics_args
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox
    from cxrdet.engines.yolo.validation import SETTINGS_KEY

    cfg = resolve_config(CONFIG, {"data_root": str(converted), "vindr_iou": 0.5, "ultralytics": {"imgsz": 64}})
    work = tmp_path / "work"
    with ultralytics_sandbox(work):
        import ultralytics.utils.dist as dist

        from cxrdet.engines.yolo.trainer import CxrdetTrainer

        monkeypatch.setattr(dist, "USER_CONFIG_DIR", tmp_path / "ultralytics_config")
        (tmp_path / "ultralytics_config").mkdir()
        trainer = CxrdetTrainer(overrides=ultralytics_args(cfg, Dataset.open(converted), "fold0", work))
        assert getattr(trainer.args, SETTINGS_KEY)["vindr_iou"] == 0.5  # carried in the args the DDP file saves
        ddp_file = dist.generate_ddp_file(trainer)
        env = dict(os.environ)  # what a DDP worker inherits from the sandboxed parent
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-c", CHECK, ddp_file, str(report)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    got = json.loads(report.read_text())
    assert got["trainer"] == "cxrdet.engines.yolo.trainer.CxrdetTrainer"  # module-level class, rebuilt by name
    assert got["validator"] == "cxrdet.engines.yolo.validator.VindrValidator"
    assert got["settings"]["data_root"] == str(converted.resolve())
    assert got["settings"]["val_list"] == str((converted / "yolo" / "fold0" / "val.txt").resolve())
    assert got["iou_thr"] == 0.5 and got["best_metric"] == "vindr_map"
    folds = (converted / "folds.csv").read_text().splitlines()[1:]
    assert got["n_images"] == sum(line.endswith(",0") for line in folds)  # fold 0's validation images
    assert got["vindr"] == pytest.approx(1.0) and got["fitness"] == pytest.approx(1.0)  # fitness = VinDr mAP
    assert got["sandboxed"] == [True]  # the worker's training loop runs offline, in the sandbox


def test_trainer_without_vindr_settings_validates_like_ultralytics(converted, tmp_path):
    from cxrdet.engines.yolo.config import resolve_config
    from cxrdet.engines.yolo.dataset import Dataset
    from cxrdet.engines.yolo.fit import ultralytics_args
    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox
    from cxrdet.engines.yolo.validation import SETTINGS_KEY

    cfg = resolve_config(CONFIG, {"data_root": str(converted), "ultralytics": {"imgsz": 64}})
    with ultralytics_sandbox(tmp_path):
        from cxrdet.engines.yolo.trainer import CxrdetTrainer

        args = ultralytics_args(cfg, Dataset.open(converted), "fold1", tmp_path / "work")
        del args[SETTINGS_KEY]
        trainer = CxrdetTrainer(overrides=args)
        trainer.test_loader = None
        assert trainer.vindr_settings is None and trainer.get_validator().vindr is None
