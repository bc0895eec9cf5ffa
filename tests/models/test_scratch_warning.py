"""The scratch warning fires exactly when a run loads no weights; mmdet config sections are read and merged."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from cxrdet.models.mmdet_sections import merge, section
from cxrdet.models.scratch_warning import ScratchWarningHook, frozen_at_random, weight_sources

CONFIGS = Path(__file__).parents[2] / "configs" / "mmdet"


def _runner(cfg: dict):
    logger = logging.getLogger("test_scratch_warning")
    return SimpleNamespace(cfg=cfg, logger=logger)


def _warned(cfg: dict, caplog, **hook) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="test_scratch_warning"):
        ScratchWarningHook(**hook).before_train(_runner(cfg))
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_weight_sources_and_the_warning(caplog):
    scratch = dict(backbone=dict(type="ResNet", frozen_stages=1, norm_eval=True, init_cfg=None))
    assert weight_sources(scratch) == []
    (message,) = _warned(dict(model=scratch, load_from=None, resume=False), caplog)
    assert message.startswith("training from scratch: no pretrained backbone")
    assert "model.backbone.frozen_stages=1 (set -1)" in message and "load_from=LOCAL_FILE" in message

    local = dict(backbone=dict(init_cfg=dict(type="Pretrained", checkpoint="r50.pth")))
    assert weight_sources(local) == ["model.backbone.init_cfg: r50.pth"]
    rfp = dict(backbone=dict(init_cfg=None), neck=dict(rfp_backbone=dict(pretrained="r50.pth")))
    assert weight_sources(rfp) == ["model.neck.rfp_backbone.pretrained: r50.pth"]
    assert weight_sources(dict(init_cfg=[dict(type="Normal"), dict(type="Pretrained", checkpoint="x.pth")])) == [
        "model.init_cfg: x.pth"
    ]
    assert _warned(dict(model=local), caplog) == []
    assert _warned(dict(model=scratch, load_from="coco.pth"), caplog) == []
    assert _warned(dict(model=scratch, resume=True), caplog) == []
    assert _warned(dict(model=scratch), caplog, enabled=False) == []
    assert frozen_at_random(dict(backbone=dict(frozen_stages=-1, norm_eval=False))) == []


@pytest.mark.parametrize(
    ("config", "warns"),
    [("faster-rcnn_r50_fpn_1024-e12_vindr.py", True), ("retinanet_r18_fpn_160-e12_example.py", False)],
)
def test_the_shipped_configs(config, warns, caplog):
    from mmengine.config import Config

    cfg = Config.fromfile(str(CONFIGS / config))
    (hook,) = [h for h in cfg.custom_hooks if h["type"] == "cxrdet.ScratchWarningHook"]
    options = {k: v for k, v in hook.items() if k != "type"}
    assert bool(_warned(cfg, caplog, **options)) is warns


def test_merge_follows_mmengine_rules_and_sections_come_from_the_wheel():
    base = dict(a=dict(b=1, c=[1, 2]), d=3)
    assert merge(base, dict(a=dict(c=[9]), e=4)) == dict(a=dict(b=1, c=[9]), d=3, e=4)
    assert merge(base, dict(a=dict(_delete_=True, z=0))) == dict(a=dict(z=0), d=3)
    assert base == dict(a=dict(b=1, c=[1, 2]), d=3)  # unchanged
    model = section("mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py", "model", bbox_head=dict(num_classes=2))
    assert model["type"] == "DINO" and model["bbox_head"]["num_classes"] == 2
    assert model["num_queries"] == 900  # mmdet's own value, read from its file
    from cxrdet.errors import ConfigError

    with pytest.raises(ConfigError, match=r"no such\.py"):
        section("mmdet::dino/no such.py", "model")
    with pytest.raises(ConfigError, match="has no 'nothing'"):
        section("mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py", "nothing")
