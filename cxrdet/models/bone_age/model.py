"""TJ-Net, the bone-age model (registered ``TJNet``): hand radiograph -> 77 age classes of 3 months + sex.

Blocks 1-4 (:class:`~cxrdet.models.bone_age.tjnet.TJNetBackbone`) -> multi-scale fusion -> block 5 (sex logit,
the joint task) and block 6 (features + sex -> age logits). An mmengine ``BaseModel`` driven by the shared Runner
(``cxrdet train|test|predict`` on ``configs/bone_age/``):

- ``mode='tensor'``: ``{'age_logits': B x 77, 'sex_logit': B}`` (no ``sex_logit`` when ``joint=False``).
- ``mode='loss'``: ``loss_age`` = cross entropy over the 77 classes of ``gt_age`` (label smoothing optional,
  0 by default: the write-up's plain softmax classifier) and, when ``joint``, ``loss_sex`` =
  ``sex_loss_weight x`` binary cross entropy of the sex logit over the images whose ``gt_male`` is known.
- ``mode='predict'``: sets ``pred_age`` (months: the expectation over the class centres), ``pred_age_score``
  (the 77 probabilities) and ``pred_male`` (block 5's P(male); NaN when ``joint=False``: there is no block 5).

The sex that block 6 receives: ``gt_male`` of the data sample when present and not NaN (RSNA ``male``, DICOM
PatientSex), else block 5's probability (detached: the age loss does not train block 5 through it), else (no
block 5) ``unknown_sex`` = 0.5. ``frozen_blocks=k`` freezes blocks 1..k (no gradients, batch norm in eval
mode: running statistics kept) for the transfer recipe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn

from cxrdet.errors import InputError
from cxrdet.models.bone_age.age_bins import age_to_class, expected_age
from cxrdet.models.bone_age.tjnet import TJNetBackbone
from cxrdet.models.bone_age.tjnet_heads import AgeHead, MultiScaleFusion, SexHead
from cxrdet.registry import MODELS


def _value(sample: BaseDataElement, key: str) -> float:
    value = sample.get(key, None)
    if value is None:
        return math.nan
    return float(value.item() if isinstance(value, torch.Tensor) else value)


def _where(sample: BaseDataElement) -> str:
    return str(sample.metainfo.get("img_path") or sample.metainfo.get("img_id") or "<data sample>")


@MODELS.register_module()
class TJNet(BaseModel):
    """TJ-Net (Tang, Wu and Shen 2020): joint bone-age classification and sex classification.

    Args:
        in_channels: image channels (1: grey).
        width: channel multiplier of the backbone and the dense layers (1.0 full; 0.25 a tiny CPU variant).
        use_cbam: the three CBAMs of blocks 1-3 (False: the no-CBAM ablation).
        joint: joint sex learning (block 5 and its loss). False: no block 5; block 6 still gets the sex label.
        sex_loss_weight: weight of the sex loss.
        label_smoothing: label smoothing of the age cross entropy.
        frozen_blocks: 0-4; blocks 1..k frozen (transfer recipe: 3).
        hidden: width of the dense layers (default ``256 x width``, at least 16).
        sex_features: width of block 6's sex input layer (default ``32 x width``, at least 8).
        dropout: dropout of the dense layers.
        incres_scale: the IncRes residual scale.
        cbam_reduction: the CBAM reduction ratio.
        fusion_blocks: which blocks (1-4) block 5 fuses (global average pooling, concatenated).
        unknown_sex: block 6's sex input when the label is unknown and there is no block 5.
        data_preprocessor: mmengine data preprocessor config (configs: ``ImgDataPreprocessor``).
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        in_channels: int = 1,
        width: float = 1.0,
        use_cbam: bool = True,
        joint: bool = True,
        sex_loss_weight: float = 1.0,
        label_smoothing: float = 0.0,
        frozen_blocks: int = 0,
        hidden: int | None = None,
        sex_features: int | None = None,
        dropout: float = 0.3,
        incres_scale: float = 0.2,
        cbam_reduction: int = 16,
        fusion_blocks: Sequence[int] = (2, 3, 4),
        unknown_sex: float = 0.5,
        data_preprocessor: dict | nn.Module | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not 0 <= int(frozen_blocks) <= 4:
            raise ValueError(f"TJNet: frozen_blocks={frozen_blocks} must be 0-4")
        if not fusion_blocks or any(not 1 <= int(b) <= 4 for b in fusion_blocks):
            raise ValueError(f"TJNet: fusion_blocks={tuple(fusion_blocks)} must name blocks 1-4")
        self.joint = bool(joint)
        self.sex_loss_weight = float(sex_loss_weight)
        self.label_smoothing = float(label_smoothing)
        self.frozen_blocks = int(frozen_blocks)
        self.unknown_sex = float(unknown_sex)
        hidden = int(hidden) if hidden else max(16, round(256 * width))
        sex_features = int(sex_features) if sex_features else max(8, round(32 * width))
        self.backbone = TJNetBackbone(
            in_channels=in_channels,
            width=width,
            use_cbam=use_cbam,
            cbam_reduction=cbam_reduction,
            incres_scale=incres_scale,
        )
        indices = [int(b) - 1 for b in fusion_blocks]
        self.fusion = MultiScaleFusion(indices)
        fused = sum(self.backbone.out_channels[i] for i in indices)
        self.sex_head = SexHead(fused, hidden=hidden, dropout=dropout) if self.joint else None
        self.age_head = AgeHead(fused, hidden=hidden, sex_features=sex_features, dropout=dropout)
        self._freeze()

    # -- structure -------------------------------------------------------------------------------------------
    @property
    def cam_layer(self) -> nn.Module:
        """Block 4's last conv module (Grad-CAM's layer)."""
        return self.backbone.cam_layer

    @property
    def layer_blocks(self) -> list[str]:
        """The module names of the layer table: blocks 1-4, the fusion, block 5 (when joint), block 6."""
        names = [f"backbone.block{k}" for k in range(1, 5)] + ["fusion"]
        return names + (["sex_head"] if self.joint else []) + ["age_head"]

    def _freeze(self) -> None:
        for block in self.backbone.blocks[: self.frozen_blocks]:
            block.eval()
            for param in block.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> TJNet:
        """Set the mode; frozen blocks stay in eval mode (their batch-norm statistics do not move)."""
        super().train(mode)
        self._freeze()
        return self

    # -- forward ---------------------------------------------------------------------------------------------
    def _sex_input(
        self, sex_logit: torch.Tensor | None, data_samples: Sequence[BaseDataElement] | None, batch: int
    ) -> torch.Tensor:
        if sex_logit is not None:
            sex = torch.sigmoid(sex_logit.detach())
        else:
            sex = torch.full((batch,), self.unknown_sex, device=self.age_head.sex_fc[0].weight.device)
        if data_samples is not None:
            known = torch.tensor([_value(s, "gt_male") for s in data_samples], dtype=sex.dtype, device=sex.device)
            sex = torch.where(torch.isnan(known), sex, known)
        return sex

    def _forward(
        self, inputs: torch.Tensor, data_samples: Sequence[BaseDataElement] | None = None
    ) -> dict[str, torch.Tensor]:
        features = self.fusion(self.backbone(inputs))
        sex_logit = self.sex_head(features).squeeze(1) if self.sex_head is not None else None
        age_logits = self.age_head(features, self._sex_input(sex_logit, data_samples, inputs.shape[0]))
        out = {"age_logits": age_logits}
        if sex_logit is not None:
            out["sex_logit"] = sex_logit
        return out

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: Sequence[BaseDataElement] | None = None,
        mode: str = "tensor",
    ) -> dict[str, torch.Tensor] | list[BaseDataElement]:
        """mmengine's entry point: ``mode`` 'tensor' (logits), 'loss' (losses) or 'predict' (data samples)."""
        if mode == "tensor":
            return self._forward(inputs, data_samples)
        if mode == "loss":
            return self.loss(inputs, data_samples)
        if mode == "predict":
            return self.predict(inputs, data_samples)
        raise ValueError(f"TJNet.forward: mode={mode!r}, expected 'tensor', 'loss' or 'predict'")

    def loss(self, inputs: torch.Tensor, data_samples: Sequence[BaseDataElement] | None) -> dict[str, torch.Tensor]:
        """``loss_age`` (and ``loss_sex`` when joint) of a batch whose data samples carry ``gt_age``."""
        if not data_samples or len(data_samples) != inputs.shape[0]:
            raise ValueError("TJNet.loss needs one data sample with gt_age per image")
        ages = []
        for sample in data_samples:
            age = _value(sample, "gt_age")
            if not math.isfinite(age):
                raise InputError(_where(sample), "no bone age (gt_age) to train on")
            ages.append(age)
        out = self._forward(inputs, data_samples)
        device = out["age_logits"].device
        targets = age_to_class(torch.tensor(ages, dtype=torch.float64)).to(device)
        losses = {
            "loss_age": F.cross_entropy(out["age_logits"], targets, label_smoothing=self.label_smoothing),
        }
        if self.joint:
            sex_logit = out["sex_logit"]
            male = torch.tensor([_value(s, "gt_male") for s in data_samples], dtype=sex_logit.dtype, device=device)
            known = ~torch.isnan(male)
            if known.any():
                bce = F.binary_cross_entropy_with_logits(sex_logit[known], male[known])
            else:
                bce = sex_logit.sum() * 0.0  # no known sex in this batch: zero, graph kept
            losses["loss_sex"] = self.sex_loss_weight * bce
        return losses

    def predict(
        self, inputs: torch.Tensor, data_samples: Sequence[BaseDataElement] | None = None
    ) -> list[BaseDataElement]:
        """The data samples (new ones when None) with ``pred_age``, ``pred_age_score`` and ``pred_male`` set."""
        out = self._forward(inputs, data_samples)
        probs = torch.softmax(out["age_logits"].detach().float(), dim=1)
        ages = expected_age(probs)
        if "sex_logit" in out:
            male = torch.sigmoid(out["sex_logit"].detach().float())
        else:
            male = torch.full((inputs.shape[0],), math.nan, device=probs.device)
        samples = list(data_samples) if data_samples is not None else [BaseDataElement() for _ in range(len(probs))]
        for sample, p, age, m in zip(samples, probs, ages, male):
            sample.pred_age_score = p
            sample.pred_age = age
            sample.pred_male = m
        return samples
