"""GAIN classifier (registered ``GAINClassifier``): a classifier whose Grad-CAM attention is trained by masks.

The model of ``configs/gain/`` (seed ``gain_ca_unet_gastric.txt``, DOMAIN.md section 5: GAIN-ResNet-50, early
gastric cancer vs normal). backbone (its last conv map ``F``) -> global average pool -> head (logits). The
attention ``A`` is Grad-CAM of one class score on ``F`` (:func:`~cxrdet.models.gain.attention.grad_cam_attention`,
differentiable: the mask loss trains the head and the backbone), at the input size, in [0, 1]:

- ``mode='loss'``: the ground-truth class's attention; ``cls_weight * CE + mask_weight * MSE(A, mask)`` (defaults
  0.9 / 0.1, the write-up's), plus, with ``mining_weight > 0``, GAIN's attention mining: the softmax probability
  of the target class on the erased image ``I* = I - sigmoid(w (A - s)) * I``, which the loss pushes down (so the
  attention must cover all the evidence). The mask term runs over the images whose data sample has a ``gt_mask``
  (any value > 0 is foreground) and, with ``mask_positive_only`` (the default), whose mask has foreground: an
  image without a lesion (e.g. 'normal') has nothing its class's Grad-CAM could point at, and a target of all
  zeros would only teach the attention of the normal class to vanish. Images without a mask contribute the
  classification loss only. The mining term runs over images of ``mining_classes`` (None: all).
- ``mode='predict'``: ``pred_score`` (softmax), ``pred_label`` and ``pred_attention`` (the predicted class's
  attention, ``H x W`` in [0, 1] at the model input's size) per sample; gradients are enabled locally, so it works
  inside mmengine's no-grad test loop.
- ``mode='tensor'``: the logits (what ``cxrdet explain``'s Grad-CAM on :attr:`GAINClassifier.cam_layer` runs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from cxrdet.errors import ConfigError, InputError
from cxrdet.models.gain.attention import erase, grad_cam_attention
from cxrdet.models.parts import build_part
from cxrdet.registry import MODELS

_MODES = ("loss", "predict", "tensor")


def _where(sample: BaseDataElement) -> str:
    return str(sample.metainfo.get("img_path", "<batch>"))


@MODELS.register_module()
class GAINClassifier(BaseModel):
    """Guided attention inference network (Li et al., 2018) for whole-image classification.

    Args:
        backbone: config dict or module whose output is the last conv feature map ``B x K x h x w`` (e.g.
            ``dict(type='TimmBackbone', model_name='resnet50', in_chans=3, global_pool='')`` or
            ``dict(type='VGG', ..., out='map', pool_last=False)``); it exposes ``cam_layer``.
        head: maps the pooled ``B x K`` features to logits (e.g. ``dict(type='ClsHead', in_features=2048)``).
        cls_weight: weight of the cross entropy.
        mask_weight: weight of ``MSE(attention, mask)`` (0: no mask term).
        mining_weight: weight of the attention-mining term (0: off).
        mining_w: steepness ``w`` of the erasing's soft threshold.
        mining_sigma: threshold ``s`` of the erasing.
        mask_positive_only: the mask term only over images whose mask has foreground (see the module docstring).
        mining_classes: class indices whose images get the mining term (None: every image).
        log_accuracy: add the batch's training accuracy (``accuracy``, not optimised) to the loss dict.
        data_preprocessor: mmengine data preprocessor config (e.g. ``ImgDataPreprocessor``).
        init_cfg: mmengine init config.

    Raises:
        ConfigError: a negative weight, all weights zero, or a bad part.
    """

    def __init__(
        self,
        backbone: dict | nn.Module,
        head: dict | nn.Module,
        cls_weight: float = 0.9,
        mask_weight: float = 0.1,
        mining_weight: float = 0.0,
        mining_w: float = 10.0,
        mining_sigma: float = 0.5,
        mask_positive_only: bool = True,
        mining_classes: Sequence[int] | None = None,
        log_accuracy: bool = True,
        data_preprocessor: dict | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        weights = {"cls_weight": cls_weight, "mask_weight": mask_weight, "mining_weight": mining_weight}
        for name, value in weights.items():
            if not float(value) >= 0.0:
                raise ConfigError(f"GAINClassifier: {name}={value} must be >= 0")
        if sum(float(v) for v in weights.values()) <= 0.0:
            raise ConfigError("GAINClassifier: cls_weight, mask_weight and mining_weight are all 0: nothing to train")
        self.backbone = build_part(backbone, "GAINClassifier", "backbone")
        self.head = build_part(head, "GAINClassifier", "head")
        self.cls_weight = float(cls_weight)
        self.mask_weight = float(mask_weight)
        self.mining_weight = float(mining_weight)
        self.mining_w = float(mining_w)
        self.mining_sigma = float(mining_sigma)
        self.mask_positive_only = bool(mask_positive_only)
        self.mining_classes = None if mining_classes is None else tuple(int(c) for c in mining_classes)
        self.log_accuracy = bool(log_accuracy)

    @property
    def cam_layer(self) -> nn.Module:
        """The backbone's module whose output is the last convolutional feature map (for ``cxrdet explain``)."""
        return self.backbone.cam_layer

    # ------------------------------------------------------------------ the network

    def features_and_logits(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """The backbone's last map ``B x K x h x w`` and the logits of its global average."""
        features = self.backbone(inputs)
        if not isinstance(features, Tensor) or features.dim() != 4:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ConfigError(
                f"GAINClassifier: the backbone must output its last conv map B x K x h x w, got {shape} (timm: "
                "global_pool=''; cxrdet's VGG: out='map', pool_last=False)"
            )
        return features, self.head(features.mean(dim=(2, 3)))

    def attention(self, inputs: Tensor, classes: Tensor | None = None, create_graph: bool = True):
        """Logits and the attention ``B x H x W`` of ``classes`` (None: the predicted class) for ``inputs``.

        Gradients are enabled here, so it also works under ``torch.no_grad()``. With ``create_graph=False``
        (inference) the inputs are detached first and the results come back detached.
        """
        with torch.enable_grad():
            if not create_graph:
                inputs = inputs.detach().clone().requires_grad_(True)  # a graph even with frozen parameters
            features, logits = self.features_and_logits(inputs)
            target = logits.detach().argmax(dim=1) if classes is None else classes.to(logits.device)
            score = logits.gather(1, target.view(-1, 1)).squeeze(1)
            att = grad_cam_attention(features, score, tuple(inputs.shape[-2:]), create_graph=create_graph)
        return (logits, att) if create_graph else (logits.detach(), att.detach())

    def forward(
        self,
        inputs: Tensor,
        data_samples: list[BaseDataElement] | None = None,
        mode: str = "tensor",
    ) -> Tensor | dict[str, Tensor] | list[BaseDataElement]:
        """Runs the model in one of mmengine's three modes (see the module docstring).

        Args:
            inputs: the preprocessed ``B x C x H x W`` float batch.
            data_samples: one data sample per image (``gt_label``, optional ``gt_mask``, for ``'loss'``).
            mode: ``'loss'``, ``'predict'`` or ``'tensor'``.
        """
        if mode not in _MODES:
            raise ConfigError(f"GAINClassifier.forward: mode={mode!r}, expected one of {_MODES}")
        if mode == "tensor":
            return self.features_and_logits(inputs)[1]
        if mode == "loss":
            return self.loss(inputs, data_samples)
        return self.predict(inputs, data_samples)

    # ------------------------------------------------------------------ training

    def loss(self, inputs: Tensor, data_samples: list[BaseDataElement] | None) -> dict[str, Tensor]:
        """``loss_cls`` (weighted CE), ``loss_mask`` (with ``mask_weight > 0``), ``loss_mining`` (with
        ``mining_weight > 0``) and ``accuracy`` (with ``log_accuracy``)."""
        labels = _labels(data_samples, len(inputs)).to(inputs.device)
        needs_attention = self.mask_weight > 0 or self.mining_weight > 0
        if needs_attention:
            logits, attention = self.attention(inputs, labels, create_graph=True)
        else:
            logits = self.features_and_logits(inputs)[1]
        losses = {"loss_cls": self.cls_weight * F.cross_entropy(logits, labels)}
        if self.mask_weight > 0:
            losses["loss_mask"] = self.mask_weight * self._mask_loss(attention, data_samples, logits)
        if self.mining_weight > 0:
            losses["loss_mining"] = self.mining_weight * self._mining_loss(inputs, attention, labels, logits)
        if self.log_accuracy:
            losses["accuracy"] = (logits.detach().argmax(1) == labels).float().mean()
        return losses

    def _mask_loss(self, attention: Tensor, data_samples: list[BaseDataElement], logits: Tensor) -> Tensor:
        """Mean over the selected images of the per-pixel MSE between attention and mask (0 when none)."""
        rows, targets = [], []
        for i, sample in enumerate(data_samples):
            if "gt_mask" not in sample:
                continue
            mask = _mask_at(sample, tuple(attention.shape[-2:])).to(attention.device)
            if self.mask_positive_only and not bool(mask.any()):
                continue
            rows.append(i)
            targets.append(mask.to(attention.dtype))
        if not rows:
            return logits.sum() * 0.0  # in the graph, so every batch logs the same keys
        return F.mse_loss(attention[rows], torch.stack(targets))

    def _mining_loss(self, inputs: Tensor, attention: Tensor, labels: Tensor, logits: Tensor) -> Tensor:
        """Mean softmax probability of the target class on the erased images of ``mining_classes``."""
        rows = torch.arange(len(labels), device=labels.device)
        if self.mining_classes is not None:
            keep = torch.isin(labels, torch.as_tensor(self.mining_classes, device=labels.device))
            rows = rows[keep]
        if rows.numel() == 0:
            return logits.sum() * 0.0
        erased = erase(inputs[rows], attention[rows], self.mining_w, self.mining_sigma)
        logits_erased = self.features_and_logits(erased)[1]
        return F.softmax(logits_erased, dim=1).gather(1, labels[rows].view(-1, 1)).mean()

    # ------------------------------------------------------------------ inference

    def predict(self, inputs: Tensor, data_samples: list[BaseDataElement] | None) -> list[BaseDataElement]:
        """Sets ``pred_score``, ``pred_label`` and ``pred_attention`` on each sample (new samples when None)."""
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(len(inputs))]
        if len(data_samples) != len(inputs):
            raise ValueError(f"{len(data_samples)} data samples for a batch of {len(inputs)} images")
        logits, attention = self.attention(inputs, None, create_graph=False)  # grad on inside mmengine's no_grad
        scores = F.softmax(logits.float(), dim=1)
        for sample, score, att in zip(data_samples, scores, attention):
            sample.pred_score = score
            sample.pred_label = score.argmax().to(torch.long)
            sample.pred_attention = att.float()
        return data_samples


def _labels(data_samples: list[BaseDataElement] | None, batch: int) -> Tensor:
    if not data_samples or len(data_samples) != batch:
        raise ValueError(f"mode='loss' needs one data sample with gt_label per image ({batch} images)")
    labels = []
    for sample in data_samples:
        if "gt_label" not in sample:
            raise InputError(_where(sample), "no gt_label (class index) to train on")
        labels.append(torch.as_tensor(sample.gt_label, dtype=torch.long).reshape(()))
    return torch.stack(labels)


def _mask_at(sample: BaseDataElement, size: tuple[int, int]) -> Tensor:
    """The sample's ``gt_mask`` as a 0/1 ``H x W`` tensor of the batch's input size.

    A smaller mask is zero-padded at its bottom and right, as the data preprocessor pads the image.

    Raises:
        InputError: the mask is not 2-D or larger than the input.
    """
    mask = torch.as_tensor(sample.gt_mask)
    if mask.dim() == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.dim() != 2:
        raise InputError(_where(sample), f"gt_mask of shape {tuple(mask.shape)}, expected H x W")
    h, w = mask.shape
    if h > size[0] or w > size[1]:
        raise InputError(_where(sample), f"gt_mask of {h} x {w} is larger than the model input {size[0]} x {size[1]}")
    fg = (mask > 0).float()
    if (h, w) != tuple(size):
        fg = F.pad(fg, (0, size[1] - w, 0, size[0] - h))
    return fg
