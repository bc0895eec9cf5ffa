"""The mmdet engine's config and checkpoint plumbing, without training: fold ann_files set in the LOADED config
(through dataset wrappers), splits, resume sources, CPU DDP settings, and the weights-only checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cxrdet.errors import ConfigError

CONFIG = Path(__file__).parent / "mmdet_tiny_retinanet.py"


@pytest.fixture
def data(converted_example, tmp_path) -> Path:
    """The converted example's COCO files and convert.json (no images needed here)."""
    out = tmp_path / "data"
    shutil.copytree(converted_example / "coco", out / "coco")
    for name in ("convert.json", "classes.json", "meta.csv"):
        shutil.copy(converted_example / name, out / name)
    return out


def test_the_engine_is_registered_and_reads_its_config(tmp_path):
    from cxrdet.engines.base import engine_class_of_config, engine_of_config

    assert engine_class_of_config(CONFIG).__name__ == "MMDetEngine"
    engine = engine_of_config(CONFIG, {"work_dir": str(tmp_path / "w"), "launcher": "pytorch", "device": "cpu"})
    assert engine.name == "mmdet" and engine.work_dir == tmp_path / "w"
    assert engine.cfg["vindr_iou"] == 0.4 and engine.cfg["launcher"] == "pytorch" and engine.cfg["device"] == "cpu"
    assert "launcher" not in engine.runner_cfg and "device" not in engine.runner_cfg  # not mmengine keys
    default = engine_of_config(CONFIG)
    assert default.work_dir == Path("work_dirs") / "mmdet_tiny_retinanet"
    with pytest.raises(ConfigError, match=r"unknown predict option\(s\) \['tta_iouu'\]"):
        engine_of_config(CONFIG, {"predict": {"tta_iouu": 0.5}})
    with pytest.raises(ConfigError, match=r"engine='ultralytics', not 'mmdet'"):
        engine_class_of_config(CONFIG, {"engine": "mmdet"}).from_config(CONFIG, {"engine": "ultralytics"})


def test_a_fold_is_set_in_the_loaded_config_through_dataset_wrappers(data, tmp_path):
    from cxrdet.config import read_config
    from cxrdet.engines.runner.config import split_config

    cfg = read_config(CONFIG)
    wrapped = cfg.train_dataloader.dataset
    cfg.train_dataloader.dataset = {"type": "RepeatDataset", "times": 2, "dataset": {
        "type": "ConcatDataset", "datasets": [dict(wrapped), dict(wrapped)]}}  # fmt: skip
    out = split_config(cfg, "fold1", data_root=data, work_dir=tmp_path / "w" / "fold1", record={"png_size": 256})
    inner = out.train_dataloader.dataset.dataset.datasets
    assert [d.ann_file for d in inner] == ["coco/fold1_train.json"] * 2
    assert all(d.data_root == str(data.resolve()) for d in inner)
    assert out.val_dataloader.dataset.ann_file == "coco/fold1_val.json"
    assert out.test_dataloader.dataset.ann_file == "coco/fold1_val.json"
    assert out.work_dir == str(tmp_path / "w" / "fold1") and out.experiment_name == "run_fold1"
    assert out.default_hooks.checkpoint.save_best == "vindr/mAP" and out.default_hooks.checkpoint.rule == "greater"
    assert out.custom_hooks[-1] == {
        "type": "cxrdet.WeightsOnlyCheckpointHook",
        "record": {"png_size": 256, "split": "fold1"},
    }
    assert out.resume is False and out.launcher == "none" and out.engine == "mmdet"  # its saved config names it
    assert cfg.val_dataloader.dataset.ann_file == "coco/all.json"  # the loaded config itself is untouched
    everything = split_config(cfg, "all", data_root=data, work_dir=tmp_path / "a")
    assert everything.val_dataloader.dataset.ann_file == "coco/all.json"


def test_the_readme_cfg_options_pick_the_same_fold(data):
    from cxrdet.config import read_config
    from cxrdet.engines.runner.config import fold_cfg_options

    line = fold_cfg_options("fold2", "data/")
    cfg = read_config(CONFIG, line.split())
    assert cfg.train_dataloader.dataset.ann_file == "coco/fold2_train.json"
    assert cfg.val_dataloader.dataset.ann_file == "coco/fold2_val.json"
    assert cfg.test_dataloader.dataset.ann_file == "coco/fold2_val.json"
    assert cfg.val_dataloader.dataset.data_root == "data/"


def test_splits_and_resume_sources(data, tmp_path):
    from cxrdet.engines.runner.config import resume_source, select_splits

    assert select_splits(data, None, False) == ["all"]
    assert select_splits(data, [0, 2], False) == ["fold0", "fold2"]
    assert select_splits(data, None, True) == ["fold0", "fold1", "fold2"]
    with pytest.raises(ConfigError, match=r"no split 'fold7' \(available: all, fold0, fold1, fold2\)"):
        select_splits(data, [7], False)
    with pytest.raises(ConfigError, match="not both"):
        select_splits(data, [0], True)
    with pytest.raises(ConfigError, match=r"no coco/all\.json"):
        select_splits(tmp_path, None, False)
    run = tmp_path / "run"
    assert resume_source(run, None) is None
    with pytest.raises(ConfigError, match=r"--resume: no checkpoint in .*run to resume from"):
        resume_source(run, "auto")
    run.mkdir()
    (run / "epoch_3.pth").write_bytes(b"x")
    (run / "last_checkpoint").write_text(str(run / "epoch_3.pth"))
    assert resume_source(run, "auto") == (run / "epoch_3.pth").resolve()
    assert resume_source(run, str(run / "epoch_3.pth")) == (run / "epoch_3.pth").resolve()
    with pytest.raises(ConfigError, match=r"--resume: no .*epoch_9\.pth"):
        resume_source(run, str(run / "epoch_9.pth"))


def test_cpu_ddp_settings(monkeypatch):
    from mmengine.config import Config

    import cxrdet.engines.runner.distributed as distributed

    calls = []
    monkeypatch.setattr(distributed, "init_gloo", lambda: calls.append("gloo"))
    monkeypatch.setattr(distributed, "cpu_only", lambda: True)
    cfg = Config({"model": {"backbone": {"norm_cfg": {"type": "SyncBN", "requires_grad": True}},
                            "neck": [{"norm_cfg": {"type": "SyncBN"}}, {"norm_cfg": {"type": "GN"}}]}})  # fmt: skip
    distributed.configure_cpu_ddp(cfg)
    assert calls == ["gloo"]
    assert cfg.model_wrapper_cfg == {"type": "MMDistributedDataParallel", "device_ids": None}
    assert cfg.env_cfg.dist_cfg.backend == "gloo"
    assert cfg.model.backbone.norm_cfg.type == "BN" and cfg.model.neck[0].norm_cfg.type == "BN"
    assert cfg.model.neck[1].norm_cfg.type == "GN"
    monkeypatch.undo()
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ConfigError, match=r"RANK.* not set; start it with torchrun"):
        distributed.init_gloo()


def test_weights_only_file_loads_where_the_full_checkpoint_is_refused(tmp_path):
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer, MessageHub

    from cxrdet.engines.runner.hooks import WeightsOnlyCheckpointHook, plain, weights_path, write_weights

    hub = MessageHub("c-weights-test")
    hub.update_scalar("train/loss", 1.5)
    full = {
        "meta": {
            "epoch": 2,
            "seed": np.int64(7),
            "dataset_meta": {"classes": ("a", "b")},
            "cxrdet": {"split": "fold0"},
        },
        "state_dict": {"w": torch.arange(3.0)},
        "message_hub": hub.state_dict(),
    }
    ckpt = tmp_path / "epoch_2.pth"
    torch.save(full, ckpt)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(ckpt, weights_only=True)
    out = write_weights(ckpt, tmp_path)
    assert out == weights_path(ckpt) == tmp_path / "epoch_2_weights.pth"
    loaded = torch.load(out, weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], torch.arange(3.0))
    assert loaded["meta"] == {
        "epoch": 2,
        "seed": 7,
        "dataset_meta": {"classes": ["a", "b"]},
        "cxrdet": {"split": "fold0"},
    }
    assert isinstance(hub.get_scalar("train/loss"), HistoryBuffer)
    assert plain({"x": (1, np.float32(0.5)), "p": Path("/a")}) == {"x": [1, 0.5], "p": "/a"}

    class FakeRunner:  # the hook's view of a Runner: its work_dir
        work_dir = str(tmp_path)

    (tmp_path / "epoch_1_weights.pth").write_bytes(b"orphan")  # its checkpoint was removed (max_keep_ckpts)
    hook = WeightsOnlyCheckpointHook(record={"png_size": 256})
    hook.after_train_epoch(FakeRunner())
    assert not (tmp_path / "epoch_1_weights.pth").exists() and out.is_file()
    checkpoint: dict = {"meta": {"epoch": 1}}
    hook.before_save_checkpoint(FakeRunner(), checkpoint)
    assert checkpoint["meta"]["cxrdet"] == {"png_size": 256}


def _tool(name: str):
    import importlib.util

    path = Path(__file__).parents[2] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"cxrdet_tools_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tool_shims_take_mmdets_flags():
    train, test = _tool("train"), _tool("test")
    argv = ["CFG", "--work-dir", "W", "--amp", "--resume", "--cfg-options", "a=1", "--fold", "1", "--fold", "2"]
    assert train.cxrdet_argv(train.parse_args(argv)) == [
        "train", "CFG", "--launcher", "none", "--cfg-options", "a=1", "optim_wrapper.type=AmpOptimWrapper",
        "optim_wrapper.loss_scale=dynamic", "-o", "W", "--fold", "1", "--fold", "2", "--resume", "auto",
    ]  # fmt: skip
    argv = ["CFG", "--resume", "W/epoch_3.pth", "--launcher", "pytorch", "--local-rank", "1", "--all-folds"]
    assert train.cxrdet_argv(train.parse_args(argv)) == [
        "train", "CFG", "--launcher", "pytorch", "--all-folds", "--resume", "W/epoch_3.pth"
    ]  # fmt: skip
    assert test.cxrdet_argv(test.parse_args(["CFG", "CKPT", "--work-dir", "W", "--fold", "0"])) == [
        "test", "CFG", "CKPT", "--work-dir", "W", "--fold", "0"
    ]  # fmt: skip


def test_two_runs_in_one_process_log_into_their_own_folders(data, tmp_path):
    """mmdet's runtime names its visualizer 'visualizer' and mmengine keeps one instance per name: without one
    name per run, the second fold's scalars went into the first fold's folder (found by a full test run)."""
    from mmengine.runner import Runner

    import cxrdet.engines.runner.hooks  # noqa: F401 - registers the weights-only hook, as the engine does
    from cxrdet.config import read_config
    from cxrdet.engines.runner.config import split_config

    cfg = read_config(CONFIG)
    runners = [
        Runner.from_cfg(split_config(cfg, split, data_root=data, work_dir=tmp_path / split, record={"png_size": 256}))
        for split in ("fold0", "fold1")
    ]
    first, second = (r.visualizer for r in runners)
    assert first is not second
    for runner in runners:
        backend = next(iter(runner.visualizer._vis_backends.values()))
        assert Path(backend._save_dir).is_relative_to(Path(runner.work_dir)), (backend._save_dir, runner.work_dir)


def test_every_head_learns_the_finding_classes_of_the_convert_folder(data, tmp_path):
    """A 2-class set with no "no finding" class -> 2 outputs in every head, each cascade stage included; VinDr's
    15 classes with "no finding" -> the 14 findings (the configs' own number: nothing changes)."""
    from cxrdet.config import read_config, resolve_path
    from cxrdet.engines.runner.config import split_config

    cascade = read_config(resolve_path("mmdet/cascade-rcnn_r50-rfp_1024-e12_vindr.py"))
    two = {"dataset": {"classes": ["nodule", "mass"], "no_finding": None}}
    out = split_config(cascade, "all", data_root=data, work_dir=tmp_path / "c", record=two)
    assert [stage["num_classes"] for stage in out.model.roi_head.bbox_head] == [2, 2, 2]
    assert "num_classes" not in out.model.rpn_head
    vindr = {"dataset": {"classes": [f"c{i}" for i in range(15)], "no_finding": 14}}
    tiny = split_config(read_config(CONFIG), "all", data_root=data, work_dir=tmp_path / "t", record=vindr)
    assert tiny.model.bbox_head.num_classes == 14
    assert read_config(CONFIG).model.bbox_head.num_classes == 14
