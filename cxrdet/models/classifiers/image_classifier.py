"""Image classifier (registered ``ImageClassifier``): backbone -> optional neck -> head, on mmengine's Runner.

The model of the fracture CNNs (``configs/fracture/``) and of the VinDr normal/abnormal classifier
(``configs/classifier/``), shaped like mmpretrain's ``ImageClassifier``: ``forward(inputs, data_samples, mode)``
with ``mode='loss'`` (cross entropy against each sample's ``gt_label``), ``'predict'`` (softmax ``pred_score``
and argmax ``pred_label`` set on each data sample) and ``'tensor'`` (the logits). The data preprocessor
(``ImgDataPreprocessor`` in the configs) normalises the batch before it reaches :meth:`forward`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn

from cxrdet.errors import ConfigError, InputError
from cxrdet.models.parts import build_part, class_weights
from cxrdet.registry import MODELS

_MODES = ("loss", "predict", "tensor")


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """Classifies whole images into ``head.num_classes`` classes.

    Args:
        backbone: the feature extractor (config dict, e.g. ``dict(type='AlexNet')``, or a module); it exposes
            ``cam_layer``.
        head: maps features to logits (e.g. ``dict(type='ClsHead', in_features=..., num_classes=2)``).
        neck: optional module between backbone and head (config dict or module).
        label_smoothing: cross-entropy label smoothing (0: none).
        class_weight: one loss weight per class, or None for equal weights.
        log_accuracy: also return the batch's training accuracy as ``accuracy`` in the loss dict (mmengine
            logs it and, as its name has no ``loss``, does not add it to the optimised loss).
        data_preprocessor: mmengine data preprocessor config (e.g. ``ImgDataPreprocessor``).
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        backbone: dict | nn.Module,
        head: dict | nn.Module,
        neck: dict | nn.Module | None = None,
        label_smoothing: float = 0.0,
        class_weight: Sequence[float] | None = None,
        log_accuracy: bool = False,
        data_preprocessor: dict | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = build_part(backbone, "ImageClassifier", "backbone")
        self.neck = None if neck is None else build_part(neck, "ImageClassifier", "neck")
        self.head = build_part(head, "ImageClassifier", "head")
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"ImageClassifier: label_smoothing={label_smoothing} outside [0, 1)")
        self.label_smoothing = float(label_smoothing)
        self.log_accuracy = bool(log_accuracy)
        num_classes = getattr(self.head, "num_classes", None)
        weight = class_weights(class_weight, num_classes, "ImageClassifier")
        if weight is not None:
            self.register_buffer("class_weight", weight, persistent=False)
        else:
            self.class_weight = None

    @property
    def cam_layer(self) -> nn.Module:
        """The backbone's module whose output is the last convolutional feature map (for Grad-CAM)."""
        return self.backbone.cam_layer

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """Backbone (and neck) features of a preprocessed batch."""
        x = self.backbone(inputs)
        return x if self.neck is None else self.neck(x)

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: list[BaseDataElement] | None = None,
        mode: str = "tensor",
    ) -> torch.Tensor | dict[str, torch.Tensor] | list[BaseDataElement]:
        """Runs the model in one of mmengine's three modes.

        Args:
            inputs: the preprocessed ``B x C x H x W`` float batch.
            data_samples: one data sample per image (``gt_label`` needed for ``'loss'``).
            mode: ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            ``'loss'``: ``{'loss': cross entropy}`` (plus ``'accuracy'`` with ``log_accuracy``);
            ``'predict'``: the data samples with ``pred_score`` (softmax, ``[num_classes]``) and ``pred_label``
            (long scalar) set, new ``BaseDataElement`` s when ``data_samples`` is None; ``'tensor'``: the
            ``B x num_classes`` logits.
        """
        if mode not in _MODES:
            raise ConfigError(f"ImageClassifier.forward: mode={mode!r}, expected one of {_MODES}")
        logits = self.head(self.extract_feat(inputs))
        if mode == "tensor":
            return logits
        if mode == "loss":
            return self.loss(logits, data_samples)
        return self.predict(logits, data_samples)

    def loss(self, logits: torch.Tensor, data_samples: list[BaseDataElement] | None) -> dict[str, torch.Tensor]:
        """Cross entropy of ``logits`` against the samples' ``gt_label``."""
        labels = self._labels(data_samples, len(logits)).to(logits.device)
        weight = None if self.class_weight is None else self.class_weight.to(logits.device)
        losses = {"loss": F.cross_entropy(logits, labels, weight=weight, label_smoothing=self.label_smoothing)}
        if self.log_accuracy:
            losses["accuracy"] = (logits.detach().argmax(1) == labels).float().mean()
        return losses

    @staticmethod
    def predict(logits: torch.Tensor, data_samples: list[BaseDataElement] | None) -> list[BaseDataElement]:
        """Sets ``pred_score`` and ``pred_label`` on each sample (new samples when None)."""
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(logits))]
        if len(data_samples) != len(logits):
            raise ValueError(f"{len(data_samples)} data samples for a batch of {len(logits)} images")
        scores = F.softmax(logits.detach().float(), dim=1)
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score
            sample.pred_label = score.argmax().to(torch.long)
        return data_samples

    @staticmethod
    def _labels(data_samples: list[BaseDataElement] | None, batch: int) -> torch.Tensor:
        if not data_samples or len(data_samples) != batch:
            raise ValueError(f"mode='loss' needs one data sample with gt_label per image ({batch} images)")
        labels = []
        for sample in data_samples:
            if "gt_label" not in sample:
                raise InputError(sample.metainfo.get("img_path", "<batch>"), "no gt_label (class index) to train on")
            labels.append(torch.as_tensor(sample.gt_label, dtype=torch.long).reshape(()))
        return torch.stack(labels)
