"""The engine seam: engines found by name, YOLO implements every method, commands never name an engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cxrdet.engines.base import ENGINES, Engine, engine_class, engine_class_of_config, engine_of_checkpoint
from cxrdet.errors import ConfigError

CONFIG = Path(__file__).parents[2] / "configs" / "yolo" / "yolov5n_192-e20_example.py"
COMMANDS = Path(__file__).parents[2] / "cxrdet" / "commands"


def test_every_registered_engine_implements_the_seam():
    for name in ENGINES:
        cls = engine_class(name)
        assert issubclass(cls, Engine) and cls.name == name
        assert not getattr(cls, "__abstractmethods__", None), cls.__abstractmethods__


def test_unknown_engines_are_explained(tmp_path):
    available = r"\(available: 'ultralytics', 'mmdet', 'mmengine'\)"
    with pytest.raises(ConfigError, match=r"engine='detectron2': no such engine " + available):
        engine_class("detectron2")
    with pytest.raises(ConfigError, match="no such engine"):
        engine_class_of_config(CONFIG, {"engine": "detectron2"})
    with pytest.raises(ConfigError, match="give its config first"):
        engine_of_checkpoint(tmp_path / "model.pth")


def test_the_yolo_engine_from_its_config_and_from_a_checkpoint(tmp_path):
    engine = engine_class_of_config(CONFIG).from_config(CONFIG, {"work_dir": str(tmp_path / "w")})
    assert engine.name == "ultralytics" and engine.work_dir == tmp_path / "w"
    assert engine.cfg["model"] == "yolov5n" and engine.config_path == CONFIG
    alone = engine_of_checkpoint(tmp_path / "best.pt")
    assert alone.name == "ultralytics" and alone.config_path is None
    assert engine.flag_options(data_root="d", device="0,1") == {"data_root": "d", "ultralytics": {"device": "0,1"}}


@pytest.mark.parametrize("command", ["train.py", "test.py", "predict.py"])
def test_commands_do_not_name_an_engine(command):
    tree = ast.parse((COMMANDS / command).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not any("yolo" in m or "ultralytics" in m or "mmdet" in m for m in imported if m), imported
