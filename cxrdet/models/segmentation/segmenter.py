"""Segmentation model on mmengine's Runner (registered ``UNetSegmenter``): the gastric CA-U-Net and its ablations.

A :class:`mmengine.model.BaseModel` over :class:`~cxrdet.models.segmentation.unet.UNet`, so that ``cxrdet train |
test | predict | explain`` run it like the classifiers: ``forward(inputs, data_samples, mode)`` with
``mode='loss'`` (pixel cross entropy against each sample's ``gt_mask``, long ``H x W`` from ``PackMedicalInputs``),
``'predict'`` (per sample ``pred_mask_score``, the softmax ``C x H x W``, and ``pred_mask``, its argmax ``H x W``,
both at the model input's size) and ``'tensor'`` (the logits ``B x C x H x W``). The data preprocessor
(``ImgDataPreprocessor`` in the configs) normalises and stacks the batch; when it pads the batch, logits are cut
back to each sample's own ``img_shape`` (the top-left region, where mmengine's padding leaves the image).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from cxrdet.errors import ConfigError, InputError
from cxrdet.models.parts import class_weights
from cxrdet.models.segmentation.unet import UNet
from cxrdet.registry import MODELS

_MODES = ("loss", "predict", "tensor")


@MODELS.register_module()
class UNetSegmenter(BaseModel):
    """Per-pixel classification with a U-Net (CBAM / ASPP switches: plain U-Net ... CA-U-Net).

    Args:
        in_channels: input image channels.
        num_classes: classes of the masks (background first).
        base_channels: channels of the U-Net's first stage (64 full size; 8 in the tests).
        depth: the U-Net's downsamplings.
        cbam: CBAM after every encoder stage.
        aspp: ASPP at the bottleneck.
        aspp_rates: the ASPP's atrous rates.
        aspp_channels: channels of each ASPP branch (None: a quarter of the bottleneck's).
        cbam_reduction: CBAM's channel reduction ratio.
        norm: ``'BN'`` or ``'GN'``.
        class_weight: one cross-entropy weight per class, or None (equal).
        ignore_index: mask value that is not trained on (and not scored by ``SegmentationMetric``).
        data_preprocessor: mmengine data preprocessor config (e.g. ``ImgDataPreprocessor``).
        init_cfg: mmengine init config.

    Raises:
        ConfigError: bad class weights.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        base_channels: int = 64,
        depth: int = 4,
        cbam: bool = False,
        aspp: bool = False,
        aspp_rates: Sequence[int] = (6, 12, 18),
        aspp_channels: int | None = None,
        cbam_reduction: int = 16,
        norm: str = "BN",
        class_weight: Sequence[float] | None = None,
        ignore_index: int = 255,
        data_preprocessor: dict | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.net = UNet(
            in_channels=in_channels,
            num_classes=num_classes,
            base_channels=base_channels,
            depth=depth,
            cbam=cbam,
            aspp=aspp,
            aspp_rates=aspp_rates,
            aspp_channels=aspp_channels,
            cbam_reduction=cbam_reduction,
            norm=norm,
        )
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        weight = class_weights(class_weight, self.num_classes, "UNetSegmenter")
        if weight is not None:
            self.register_buffer("class_weight", weight, persistent=False)
        else:
            self.class_weight = None

    @property
    def cam_layer(self) -> torch.nn.Module:
        """The U-Net's bottleneck output module (Grad-CAM)."""
        return self.net.cam_layer

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: list[BaseDataElement] | None = None,
        mode: str = "tensor",
    ) -> torch.Tensor | dict[str, torch.Tensor] | list[BaseDataElement]:
        """Runs the model in one of mmengine's three modes.

        Args:
            inputs: the preprocessed ``B x C x H x W`` float batch.
            data_samples: one data sample per image (``gt_mask`` needed for ``'loss'``).
            mode: ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            ``'loss'``: ``{'loss': pixel cross entropy}``; ``'predict'``: the data samples with ``pred_mask_score``
            and ``pred_mask`` set (new ``BaseDataElement`` s when ``data_samples`` is None); ``'tensor'``: logits.
        """
        if mode not in _MODES:
            raise ConfigError(f"UNetSegmenter.forward: mode={mode!r}, expected one of {_MODES}")
        logits = self.net(inputs)
        if mode == "tensor":
            return logits
        if mode == "loss":
            return self.loss(logits, data_samples)
        return self.predict(logits, data_samples)

    def loss(self, logits: torch.Tensor, data_samples: list[BaseDataElement] | None) -> dict[str, torch.Tensor]:
        """Mean cross entropy over the labelled pixels of every sample's ``gt_mask``.

        Raises:
            ValueError: no data samples for the batch.
            InputError: a sample without ``gt_mask``, or a mask larger than the model input (naming the image).
        """
        if not data_samples or len(data_samples) != len(logits):
            raise ValueError(f"mode='loss' needs one data sample with gt_mask per image ({len(logits)} images)")
        height, width = logits.shape[-2:]
        targets = torch.full((len(logits), height, width), self.ignore_index, dtype=torch.long, device=logits.device)
        for k, sample in enumerate(data_samples):
            where = sample.metainfo.get("img_path", "<batch>")
            if "gt_mask" not in sample:
                raise InputError(where, "no gt_mask (a label mask) to train on")
            mask = torch.as_tensor(sample.gt_mask, dtype=torch.long, device=logits.device)
            if mask.ndim != 2 or mask.shape[0] > height or mask.shape[1] > width:
                raise InputError(where, f"gt_mask of shape {tuple(mask.shape)} for a model input of {height}x{width}")
            targets[k, : mask.shape[0], : mask.shape[1]] = mask  # padding (if any) is ignored
        weight = None if self.class_weight is None else self.class_weight.to(logits.device)
        loss = F.cross_entropy(logits, targets, weight=weight, ignore_index=self.ignore_index)
        return {"loss": loss}

    @staticmethod
    def predict(logits: torch.Tensor, data_samples: list[BaseDataElement] | None) -> list[BaseDataElement]:
        """Sets ``pred_mask_score`` (softmax, ``C x h x w``) and ``pred_mask`` (long ``h x w``) on each sample, cut
        to its ``img_shape`` when it has one."""
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(logits))]
        if len(data_samples) != len(logits):
            raise ValueError(f"{len(data_samples)} data samples for a batch of {len(logits)} images")
        scores = F.softmax(logits.detach().float(), dim=1)
        for sample, score in zip(data_samples, scores):
            shape = sample.metainfo.get("img_shape")
            if shape is not None:
                score = score[:, : int(shape[0]), : int(shape[1])]
            sample.pred_mask_score = score
            sample.pred_mask = score.argmax(dim=0).to(torch.long)
        return data_samples
