"""Config loading: defaults < file (with _base_) < --cfg-options, typed values, unknown keys rejected + suggested."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cxrdet.config import (
    OPEN,
    KeysOnly,
    dump_config,
    load_config,
    merge,
    parse_options,
    parse_value,
    read_file,
    suggest,
)
from cxrdet.errors import ConfigError

DEFAULTS = {
    "engine": "ultralytics",
    "data_root": None,
    "epochs_total": 10,
    "ratio": 0.5,
    "flag": False,
    "name": "x",
    "section": {"lr": 0.01, "steps": 3, "mode": "a"},
    "loose": KeysOnly({"amp": True, "imgsz": 640}),
    "extra": OPEN,
}


def _write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3),
        ("0.25", 0.25),
        ("-2", -2),
        ("true", True),
        ("False", False),
        ("None", None),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("(1, 'a')", (1, "a")),
        ("'quoted'", "quoted"),
        ("sgd", "sgd"),
        ("runs/a b", "runs/a b"),
        ("{'a': 1}", {"a": 1}),
        ("1e-3", 1e-3),
    ],
)
def test_parse_value_types(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["1,2", "a,b", "1, 2", "x,", "[1,2]", "(1,2)", "[(1,2),(3,4)]", "3", "0.5", "sgd"])
def test_parse_value_reads_what_mmengine_dict_action_reads(text):
    """``cxrdet train --cfg-options`` and mmdet's ``tools/train.py --cfg-options`` agree (DictAction: the reference)."""
    from mmengine.config import DictAction

    reference = DictAction._parse_iterable(text)
    parsed = parse_value(text)
    assert parsed == reference and type(parsed) is type(reference)


def test_parse_options_builds_nested_dicts():
    assert parse_options(["a.b.c=1", "a.d=x", "e=[1,2]"]) == {"a": {"b": {"c": 1}, "d": "x"}, "e": [1, 2]}
    assert parse_options([]) == {} and parse_options(None) == {}
    assert parse_options(["path=a=b"]) == {"path": "a=b"}  # only the first '=' splits


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1", ".a=1"])
def test_parse_options_rejects_malformed_items(bad):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_options([bad])


def test_parse_options_rejects_a_key_that_is_both_value_and_section():
    with pytest.raises(ConfigError, match="given a value too"):
        parse_options(["a=1", "a.b=2"])


def test_override_order_defaults_file_base_options(tmp_path):
    base = _write(
        tmp_path / "_base_.py",
        """
        epochs_total = 20
        name = 'from_base'
        section = dict(lr=0.1, steps=5)
    """,
    )
    child = _write(
        tmp_path / "child.py",
        f"""
        _base_ = ['./{base.name}']
        name = 'from_child'
        section = dict(steps=7)
    """,
    )
    cfg = load_config(child, DEFAULTS, ["section.mode=b", "ratio=1"])
    assert cfg["epochs_total"] == 20  # base over defaults
    assert cfg["name"] == "from_child"  # child over base
    assert cfg["section"] == {"lr": 0.1, "steps": 7, "mode": "b"}  # nested merge at every level, options last
    assert cfg["ratio"] == 1.0 and isinstance(cfg["ratio"], float)  # int widened to the default's float
    assert cfg["flag"] is False and cfg["data_root"] is None and cfg["extra"] == {}  # untouched defaults
    assert "_base_" not in cfg
    assert load_config(None, DEFAULTS) == load_config(None, DEFAULTS, [])


def test_options_override_file_values(tmp_path):
    child = _write(tmp_path / "c.py", "name = 'file'\n")
    assert load_config(child, DEFAULTS, ["name=cli"])["name"] == "cli"
    assert load_config(child, DEFAULTS, {"name": "dict"})["name"] == "dict"


def test_unknown_keys_are_rejected_with_suggestions(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'epochs_totl' \(did you mean 'epochs_total'\?\)"):
        load_config(None, DEFAULTS, ["epochs_totl=3"])
    with pytest.raises(ConfigError, match=r"'section\.stepz' \(did you mean 'section\.steps'\?\)"):
        load_config(None, DEFAULTS, ["section.stepz=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'lr' \(did you mean 'section\.lr'\?\)"):
        load_config(None, DEFAULTS, ["lr=3"])  # a nested key given at the top level
    with pytest.raises(ConfigError, match=r"unknown config key 'zzz'$"):
        load_config(None, DEFAULTS, ["zzz=1"])  # nothing close: no suggestion
    typo = _write(tmp_path / "typo.py", "flg = True\n")
    with pytest.raises(ConfigError, match="did you mean 'flag'"):
        load_config(typo, DEFAULTS)  # the file is checked as strictly as the command line


def test_suggest_uses_close_matches_only():
    assert suggest("epoch", ["epochs", "patience"]) == " (did you mean 'epochs'?)"
    assert suggest("qqq", ["epochs"]) == ""


@pytest.mark.parametrize(
    "option, message",
    [
        ("flag=1", "expects true or false"),
        ("epochs_total=ten", "expects a number"),
        ("section.lr=fast", "expects a number"),
        ("section=3", "expects a dict"),
    ],
)
def test_values_of_the_wrong_type_are_rejected(option, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, DEFAULTS, [option])


def test_keys_only_sections_check_keys_but_not_types():
    cfg = load_config(None, DEFAULTS, ["loose.amp=bf16", "loose.imgsz=[640, 512]"])
    assert cfg["loose"] == {"amp": "bf16", "imgsz": [640, 512]}
    with pytest.raises(ConfigError, match=r"did you mean 'loose\.imgsz'"):
        load_config(None, DEFAULTS, ["loose.imgs=3"])


def test_open_sections_take_any_key_and_numbers_become_strings_for_str_defaults():
    cfg = load_config(None, DEFAULTS, ["extra.anything.deep=1", "name=0"])
    assert cfg["extra"] == {"anything": {"deep": 1}} and cfg["name"] == "0"


def test_merge_without_schema_is_a_plain_deep_update():
    base = {"a": {"b": 1, "c": 2}, "d": 1}
    out = merge(base, {"a": {"c": 3}, "e": 4})
    assert out == {"a": {"b": 1, "c": 3}, "d": 1, "e": 4}
    assert base == {"a": {"b": 1, "c": 2}, "d": 1}  # not modified


def test_dump_config_reads_back_identically(tmp_path):
    cfg = load_config(None, DEFAULTS, ["extra.x=[1, 2.5, None]", "name=with 'quotes'", "extra.y={'k v': 1}"])
    path = dump_config(cfg, tmp_path / "resolved.py")
    assert read_file(path) == cfg
    assert load_config(path, DEFAULTS) == cfg


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.py", DEFAULTS)
    broken = _write(tmp_path / "broken.py", "x = (\n")
    with pytest.raises(ConfigError, match=r"broken\.py: cannot read config"):
        load_config(broken, DEFAULTS)


def test_options_follow_mmengine_list_indices_and_delete(tmp_path):
    """``--cfg-options`` merge as mmengine's ``Config.merge_from_dict``: ``a.2.b`` indexes lists, ``_delete_``."""
    from cxrdet.config import read_config

    _write(
        tmp_path / "base.py",
        """
        pipeline = [dict(type='A', p=1), dict(type='B', p=2), dict(type='C', p=3)]
        section = dict(lr=0.1, steps=5, mode='a')
    """,
    )
    child = _write(
        tmp_path / "child.py",
        """
        _base_ = ['./base.py']
        section = dict(_delete_=True, lr=0.5)
    """,
    )
    cfg = read_file(child, ["pipeline.2.p=30", "pipeline.0.type=Z"])
    assert cfg["pipeline"] == [{"type": "Z", "p": 1}, {"type": "B", "p": 2}, {"type": "C", "p": 30}]
    assert cfg["section"] == {"lr": 0.5}  # _delete_ in the file replaced the base section
    replaced = read_file(child, {"section": {"_delete_": True, "steps": 9}})
    assert replaced["section"] == {"steps": 9}  # and in the options too
    assert type(read_config(child)).__name__ == "Config"
    with pytest.raises(ConfigError, match="--cfg-options"):
        read_file(child, ["pipeline.7.p=1"])  # no such list index


def test_delete_drops_base_keys_before_the_defaults_fill_in(tmp_path):
    _write(tmp_path / "base.py", "section = dict(lr=0.1, steps=5)\n")
    child = _write(tmp_path / "child.py", "_base_ = ['./base.py']\nsection = dict(_delete_=True, mode='z')\n")
    assert load_config(child, DEFAULTS)["section"] == {"lr": 0.01, "steps": 3, "mode": "z"}  # defaults < file


def test_package_scoped_mmdet_bases_are_read(tmp_path):
    child = _write(
        tmp_path / "det.py",
        """
        _base_ = ['mmdet::_base_/default_runtime.py']
        work_dir = 'work_dirs/det'
    """,
    )
    cfg = read_file(child)
    assert cfg["default_scope"] == "mmdet" and cfg["work_dir"] == "work_dirs/det" and "default_hooks" in cfg


def test_dump_uses_mmengine_pretty_text(tmp_path):
    from mmengine.config import Config

    cfg = {"a": [1, (2, 3)], "b": {"c": None, "d e": "x"}, "p": "runs/a b"}
    path = dump_config(cfg, tmp_path / "d.py")
    assert read_file(path) == cfg
    assert path.read_text().endswith(Config(cfg).pretty_text)


def test_shipped_configs_resolve_from_any_folder(tmp_path, monkeypatch):
    from cxrdet.config import packaged_configs, resolve_path

    tree = Path(__file__).parents[1] / "configs"
    shipped = packaged_configs()
    assert shipped.is_dir() and shipped.resolve() == tree.resolve()  # editable install: the tree's configs/
    monkeypatch.chdir(tmp_path)
    for name in ("yolo/yolov5s_1024-e40_vindr.py", "configs/yolo/yolov5s_1024-e40_vindr.py"):
        found = resolve_path(name)
        assert found.is_file() and found.read_text() == (tree / "yolo" / "yolov5s_1024-e40_vindr.py").read_text()
    (tmp_path / "yolo").mkdir()
    _write(tmp_path / "yolo" / "yolov5s_1024-e40_vindr.py", "x = 1\n")
    assert resolve_path("yolo/yolov5s_1024-e40_vindr.py") == Path("yolo/yolov5s_1024-e40_vindr.py")  # local wins
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_path("yolo/none.py")


@pytest.mark.slow
def test_wheel_ships_every_config(tmp_path):
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).parents[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("cxrdet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"cxrdet/.mim/configs/{p.relative_to(root / 'configs').as_posix()}" for p in (root / "configs").rglob("*.py")
    }
    assert expected and expected <= names
    assert "cxrdet/datasets/transforms/loading.py" in names and "cxrdet/engines/yolo/trainer.py" in names


def test_options_fill_in_a_section_the_config_leaves_none(tmp_path):
    """``init_cfg=None`` in a config + ``init_cfg.type=... init_cfg.checkpoint=...`` -> that dict (mmengine alone
    refuses: "cannot inherit from base"); a dict section still merges key by key."""
    from cxrdet.config import read_config

    path = _write(
        tmp_path / "cfg.py",
        "model = dict(backbone=dict(depth=50, init_cfg=None), neck=dict(rfp=[dict(pretrained=None)]))\n",
    )
    cfg = read_config(
        path,
        [
            "model.backbone.init_cfg.type=Pretrained",
            "model.backbone.init_cfg.checkpoint=/weights/r50.pth",
            "model.backbone.depth=18",
        ],
    )
    assert cfg.model.backbone.to_dict() == {
        "depth": 18,
        "init_cfg": {"type": "Pretrained", "checkpoint": "/weights/r50.pth"},
    }
    cfg = read_config(path, ["model.neck.rfp.0.pretrained=/weights/r50.pth"])
    assert cfg.model.neck.rfp[0].pretrained == "/weights/r50.pth"
    with pytest.raises(ConfigError, match="cannot inherit"):  # a value that is neither None nor a dict: mmengine's rule
        read_config(path, ["model.backbone.depth.x=1"])
