"""Training set-up check for MMDetection configs: a loud WARNING when a detector would train from random weights.

cxrdet never downloads weights, so its full-size configs start from scratch unless the user points a
backbone ``init_cfg`` / ``pretrained`` or ``load_from`` at a local file. A GPU user rarely wants that: this
hook (``custom_hooks = [dict(type='cxrdet.ScratchWarningHook')]`` in ``configs/mmdet/_base_``) says so at
the start of training, with the settings that load weights.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from mmengine.hooks import Hook

from cxrdet.registry import HOOKS

log = logging.getLogger(__name__)

SCRATCH_MESSAGE = (
    "training from scratch: no pretrained backbone (no init_cfg of type 'Pretrained', no 'pretrained' path) "
    "and no load_from. Nothing is downloaded; to start from weights you copied here, set "
    "model.backbone.init_cfg=dict(type='Pretrained', checkpoint=LOCAL_FILE) (ImageNet; DetectoRS also "
    "model.neck.rfp_backbone.pretrained=LOCAL_FILE) or load_from=LOCAL_FILE (a COCO detector)"
)


def _walk(node: Any, path: str = "model") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, (list, tuple)):
        for k, value in enumerate(node):
            yield from _walk(value, f"{path}.{k}")


def weight_sources(model_cfg: Any) -> list[str]:
    """Where a model config loads weights from: ``'KEY: FILE'`` for each Pretrained init_cfg / ``pretrained``."""
    found = []
    for key, value in _walk(model_cfg):
        name = key.rsplit(".", 1)[-1]
        if name == "pretrained" and isinstance(value, str) and value:
            found.append(f"{key}: {value}")
        elif name == "init_cfg":
            for cfg in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(cfg, dict) and cfg.get("type") == "Pretrained" and cfg.get("checkpoint"):
                    found.append(f"{key}: {cfg['checkpoint']}")
    return found


def frozen_at_random(model_cfg: Any) -> list[str]:
    """Backbone settings meant for pretrained weights that keep random layers fixed when training from scratch."""
    backbone = model_cfg.get("backbone", {}) if isinstance(model_cfg, dict) else {}
    out = []
    if isinstance(backbone, dict):
        if int(backbone.get("frozen_stages", -1)) >= 0:
            out.append(f"model.backbone.frozen_stages={backbone['frozen_stages']} (set -1)")
        norm = backbone.get("norm_cfg") or {}
        if backbone.get("norm_eval") or (isinstance(norm, dict) and norm.get("requires_grad") is False):
            out.append(
                "model.backbone.norm_eval / norm_cfg.requires_grad=False (set norm_eval=False, requires_grad=True)"
            )
    return out


@HOOKS.register_module()
class ScratchWarningHook(Hook):
    """Logs a WARNING before training when the run loads no weights (no ``load_from``/``resume``, no pretrained).

    Args:
        enabled: False turns the check off (for small configs that are meant to train from scratch).
    """

    priority = "VERY_HIGH"

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)

    def before_train(self, runner: Any) -> None:
        """Checks ``runner.cfg`` and warns through the runner's logger."""
        if not self.enabled:
            return
        cfg = runner.cfg
        if cfg.get("load_from") or cfg.get("resume"):
            return
        model_cfg = cfg.get("model", {})
        if weight_sources(model_cfg):
            return
        message = SCRATCH_MESSAGE
        frozen = frozen_at_random(model_cfg)
        if frozen:
            message += "; these settings then keep random layers fixed: " + ", ".join(frozen)
        runner.logger.warning(message)
