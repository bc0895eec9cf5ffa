"""Standard backbones from timm (registered ``TimmBackbone``), grey input, weights only from a local file.

The VinDr normal/abnormal classifier (``configs/classifier/``) uses an EfficientNet-B5 (the winners' choice) or
a small timm network for CPU runs: ``timm.create_model(name, num_classes=0, in_chans=1)`` returns the pooled
features that :class:`~cxrdet.models.classifiers.ClsHead` turns into logits. Nothing is ever downloaded:
``pretrained`` is None (random init) or the path of a local weights file, loaded by timm itself through
``pretrained_cfg_overlay=dict(file=PATH)``; timm adapts a 3-channel stem to ``in_chans=1`` by summing the
stem's weights over the input channels (``timm.models.adapt_input_conv``). timm is imported when a backbone is
built, not with this module: importing it imports ``torch._inductor``, which sets ``TORCHINDUCTOR_CACHE_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from cxrdet.errors import ConfigError, InputError
from cxrdet.registry import MODELS

_WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".tar", ".ckpt")
_HEAD_CHILDREN = {"global_pool", "fc", "classifier", "head", "head_drop", "pre_logits", "fc_norm", "flatten"}
_HOW = (
    "give the path of a local weights file instead, e.g. saved once on a machine with internet by "
    "torch.save(timm.create_model('{name}', pretrained=True).state_dict(), 'weights/{name}.pth') and copied "
    "here: pretrained='weights/{name}.pth' (or --cfg-options model.backbone.pretrained=PATH)"
)


def _local_weights(pretrained: str | os.PathLike | bool | None, model_name: str) -> Path | None:
    """The local weights file named by ``pretrained``, None for random init; refuses anything remote."""
    if pretrained is None or pretrained is False:
        return None
    how = _HOW.format(name=model_name)
    if pretrained is True:
        raise ConfigError(f"TimmBackbone({model_name!r}): pretrained=True would download weights; {how}")
    text = str(pretrained)
    if "://" in text or text.startswith(("hf-hub:", "hf_hub:", "timm/")):
        raise ConfigError(f"TimmBackbone({model_name!r}): pretrained={text!r} is remote, never downloaded; {how}")
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if os.sep in text or "/" in text or text.lower().endswith(_WEIGHT_SUFFIXES):
        raise InputError(path, f"pretrained weights file for TimmBackbone({model_name!r}) does not exist")
    raise ConfigError(
        f"TimmBackbone({model_name!r}): pretrained={text!r} is neither None nor a local file (timm tags and "
        f"names like 'imagenet' are never downloaded); {how}"
    )


def _read_weights(path: Path, model_name: str) -> dict:
    """The state dict in a local weights file (timm's reader: plain, ``state_dict``/``model`` key, EMA)."""
    import timm

    try:
        return timm.models.load_state_dict(str(path))
    except Exception as err:
        raise InputError(path, f"cannot read weights for TimmBackbone({model_name!r}): {err}") from err


def _check_coverage(path: Path, state: dict, model: nn.Module, model_name: str) -> None:
    """Refuses a weights file that does not cover the model's tensors (timm loads it non-strictly)."""
    missing = [k for k in model.state_dict() if k not in state]
    if missing:
        raise InputError(
            path,
            f"not weights of timm's {model_name!r}: {len(missing)} of its tensors are missing "
            f"(e.g. {', '.join(missing[:3])})",
        )


@MODELS.register_module()
class TimmBackbone(nn.Module):
    """A timm classification network without its classifier: ``B x C x H x W -> B x num_features``.

    Args:
        model_name: a timm model name (``timm.list_models()``), e.g. ``'efficientnet_b5'``, ``'resnet10t'``.
        in_chans: input channels (1 for grey X-rays).
        pretrained: None (random init) or the path of a local weights file (a timm state dict, or a checkpoint
            holding one under ``state_dict``/``model``); URLs, hub names, tags and True are refused.
        drop_rate: dropout before the (removed) classifier, timm's ``drop_rate``.
        drop_path_rate: stochastic depth rate where the model has it (None: timm's default).
        global_pool: timm's pooling of the last map (``'avg'``, ``'max'``, ``'avgmax'``...).
        **kwargs: further ``timm.create_model`` arguments (model specific).
    """

    def __init__(
        self,
        model_name: str,
        in_chans: int = 1,
        pretrained: str | os.PathLike | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float | None = None,
        global_pool: str = "avg",
        **kwargs,
    ) -> None:
        super().__init__()
        if ":" in model_name:
            raise ConfigError(
                f"TimmBackbone: model_name={model_name!r}: source prefixes (hf-hub:, local-dir:) are not used; "
                "give a timm model name and pretrained=LOCAL_FILE"
            )
        import timm

        if not timm.is_model(model_name):
            raise ConfigError(f"TimmBackbone: {model_name!r} is not a timm model (see timm.list_models())")
        weights = _local_weights(pretrained, model_name)
        args = dict(num_classes=0, in_chans=int(in_chans), drop_rate=float(drop_rate), global_pool=global_pool)
        if drop_path_rate is not None:
            args["drop_path_rate"] = float(drop_path_rate)
        args.update(kwargs)
        if weights is None:
            self.model = timm.create_model(model_name, pretrained=False, **args)
        else:
            state = _read_weights(weights, model_name)
            try:
                self.model = timm.create_model(
                    model_name, pretrained=True, pretrained_cfg_overlay=dict(file=str(weights)), **args
                )
            except RuntimeError as err:  # tensor size mismatches
                raise InputError(weights, f"weights do not fit timm's {model_name!r}: {err}") from err
            _check_coverage(weights, state, self.model, model_name)
        self.model_name = model_name
        self.in_chans = int(in_chans)
        self.pretrained = None if weights is None else str(weights)
        self.num_features = int(self.model.num_features)

    @property
    def cam_layer(self) -> nn.Module:
        """The last module before pooling: its output is the final conv feature map (``forward_features``)."""
        last = None
        for name, module in self.model.named_children():
            if name not in _HEAD_CHILDREN:
                last = module
        return last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``B x num_features``."""
        return self.model(x)
