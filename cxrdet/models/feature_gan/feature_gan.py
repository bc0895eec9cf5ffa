"""Feature GAN step 2 (registered ``FeatureGAN``): generator, discriminator and classifier trained together on features.

The write-up's framework (``seeds/feature_gan_cxr.txt``, DOMAIN.md section 4) as an mmengine ``BaseModel`` with its
own :meth:`FeatureGAN.train_step` over an ``OptimWrapperDict`` (keys ``generator``, ``discriminator``,
``classifier``; built by :class:`~cxrdet.models.feature_gan.optim_constructor.FeatureGanOptimWrapperConstructor`):

- real features: the FROZEN extractor rows 2-15 (step 1's weights, eval mode, no gradient) give each image's
  512 x 10 x 10 feature; :class:`~cxrdet.models.feature_gan.scaler.FeatureScaler` maps it to [-1, 1] with
  per-channel minimum and maximum of step 1's training set (computed once before training by
  :class:`~cxrdet.models.feature_gan.stats_hook.FeatureStatsHook`, stored as buffers); the discriminator sees
  scaled features, the classifier unscaled ones (generated features are scaled back before the classifier).
- every step: the discriminator learns real (label 1) vs generated (label 0) features of the same batch size, each
  with its class (projection conditioning); then the generator learns to make the discriminator say "real" and
  the classifier say the class it was asked for (``g_cls_weight`` x cross entropy; the classifier acting as an
  auxiliary classifier); discriminator and classifier receive no gradient from that update.
- every ``fake_every`` steps (2) the classifier learns from a batch of generated features of classes drawn
  uniformly (or by ``fake_class_weights``): the minority classes get as many samples as the majority ones;
  every ``real_every`` steps (5) it learns from the batch's real features. A step counts one training batch;
  ``classifier_start`` steps may pass first (generator warm-up; 0 in the write-up). The step count is a buffer
  (``steps``), so a resumed run keeps the schedule.
- the classifier's average pool (row 19, where step 1 max-pools) changes the statistics its BatchNorms see: their
  running statistics are re-estimated once over step 1's training set before training (``recalibrate_bn``). While
  it learns (``classifier_bn='real'``) its BatchNorms run in training mode on real features, as in step 1 (batch
  statistics, running statistics following the real features), and in eval mode on generated ones (stored
  statistics, left unchanged): generated batches would move the statistics away from the real features it
  classifies, and fine-tuning under frozen statistics lets a few Adam updates on the 10:1 real batches push it to
  the majority classes (measured on the example: 0.72 -> 0.52 balanced accuracy after 5 real updates, 0.72 kept
  with training-mode BatchNorm).
- prediction (val/test/``cxrdet predict``): the classifier on real features, ``pred_score`` / ``pred_label`` as
  :class:`~cxrdet.models.classifiers.ImageClassifier`, so ``ClassificationMetric`` and ``prediction_rows`` apply.

Step 1's weights come from ``extractor_checkpoint`` (read by :meth:`FeatureGAN.init_weights`, which the Runner calls
before training; :mod:`~cxrdet.models.feature_gan.step1_weights`).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn

from cxrdet.errors import ConfigError
from cxrdet.models.classifiers.image_classifier import ImageClassifier
from cxrdet.models.feature_gan.classifier import FeatureClassifier
from cxrdet.models.feature_gan.scaler import FeatureScaler
from cxrdet.models.feature_gan.step1_weights import load_step1_weights
from cxrdet.models.parts import class_weights
from cxrdet.registry import MODELS

log = logging.getLogger(__name__)

_MODES = ("loss", "predict", "tensor")
OPTIM_KEYS = ("generator", "discriminator", "classifier")
BN_MODES = ("real", "frozen", "train")


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Within the block the modules' parameters take no gradient (restored after)."""
    saved = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    for p, _ in saved:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def _labels(data_samples: list[BaseDataElement] | None, n: int, device: torch.device) -> torch.Tensor:
    if data_samples is None or len(data_samples) != n:
        raise ValueError(f"FeatureGAN: {n} images need {n} data samples with gt_label")
    return ImageClassifier._labels(data_samples, n).to(device)


@MODELS.register_module()
class FeatureGAN(BaseModel):
    """Step 2 of the feature-level GAN for class imbalance.

    Args:
        extractor: step 1's backbone config (``GanFeatureExtractor``: ``in_channels``, ``width``, ``input_size``).
        head: step 1's head config (``FeatureGanHead``); ``num_classes`` is the GAN's class count.
        generator: ``FeatureGenerator`` options (``num_classes`` and ``feature_channels`` filled in).
        discriminator: ``FeatureDiscriminator`` options (``in_channels`` and ``num_classes`` filled in;
            ``num_classes=0`` for the unconditioned table).
        extractor_checkpoint: step 1's checkpoint (a local file); None leaves everything randomly initialised
            (a WARNING: only tests and config checks do that).
        fake_every: the classifier learns from generated features every this many steps (2).
        real_every: ... and from real features every this many steps (5).
        g_cls_weight: weight of the classifier's cross entropy in the generator's loss.
        fake_class_weights: relative frequency of each class among generated features (None: uniform).
        classifier_bn: the classifier's BatchNorm mode while it learns: ``'real'`` training mode on real features and
            eval mode on generated ones; ``'frozen'`` eval mode on both; ``'train'`` training mode on both.
        classifier_start: steps the generator and discriminator train before the classifier starts learning
            (0: from the first step, as the write-up).
        recalibrate_bn: re-estimate the classifier's BatchNorm statistics on step 1's training set before
            training (its average pool changes them; :meth:`fit_feature_stats`).
        data_preprocessor: the same as step 1's (the extractor must see what it was trained on).
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        extractor: dict,
        head: dict,
        generator: dict | None = None,
        discriminator: dict | None = None,
        extractor_checkpoint: str | None = None,
        fake_every: int = 2,
        real_every: int = 5,
        g_cls_weight: float = 1.0,
        fake_class_weights: Sequence[float] | None = None,
        classifier_bn: str = "real",
        recalibrate_bn: bool = True,
        classifier_start: int = 0,
        data_preprocessor: dict | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if classifier_bn not in BN_MODES:
            raise ConfigError(f"FeatureGAN: classifier_bn={classifier_bn!r}, expected one of {BN_MODES}")
        if int(fake_every) < 1 or int(real_every) < 1 or g_cls_weight < 0 or int(classifier_start) < 0:
            raise ConfigError(
                f"FeatureGAN: fake_every={fake_every}, real_every={real_every} (>= 1), g_cls_weight={g_cls_weight}, "
                f"classifier_start={classifier_start} (>= 0)"
            )
        backbone = MODELS.build(dict(extractor, type=extractor.get("type", "GanFeatureExtractor")))
        head_module = MODELS.build(dict(head, type=head.get("type", "FeatureGanHead")))
        self.num_classes = int(head_module.num_classes)
        self.extractor = backbone.trunk
        for p in self.extractor.parameters():
            p.requires_grad_(False)
        channels = int(backbone.feature_channels)
        self.classifier = FeatureClassifier(channels, backbone.width, head_module, pool="avg")
        self.scaler = FeatureScaler(channels)
        gen = dict(copy.deepcopy(generator or {}), type=(generator or {}).get("type", "FeatureGenerator"))
        gen.setdefault("num_classes", self.num_classes)
        gen.setdefault("feature_channels", channels)
        dis = dict(copy.deepcopy(discriminator or {}), type=(discriminator or {}).get("type", "FeatureDiscriminator"))
        dis.setdefault("in_channels", channels)
        dis.setdefault("num_classes", self.num_classes)
        dis.setdefault("feature_size", backbone.feature_size)
        self.generator = MODELS.build(gen)
        self.discriminator = MODELS.build(dis)
        if self.generator.num_classes != self.num_classes:
            raise ConfigError(f"FeatureGAN: generator.num_classes={gen['num_classes']}, head has {self.num_classes}")
        if backbone.feature_size != 10:
            raise ConfigError(
                f"FeatureGAN: the generator makes 10 x 10 features (a 160 px input); extractor.input_size="
                f"{backbone.input_size} gives {backbone.feature_size} x {backbone.feature_size}"
            )
        weights = class_weights(fake_class_weights, self.num_classes, "FeatureGAN", "fake_class_weights")
        if weights is None:
            weights = torch.ones(self.num_classes)
        self.register_buffer("fake_class_weights", weights / weights.sum(), persistent=False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.extractor_checkpoint = extractor_checkpoint
        self.fake_every = int(fake_every)
        self.real_every = int(real_every)
        self.g_cls_weight = float(g_cls_weight)
        self.classifier_bn = classifier_bn
        self.recalibrate_bn = bool(recalibrate_bn)
        self.classifier_start = int(classifier_start)
        self.extractor.eval()

    # ------------------------------------------------------------------ set-up

    def init_weights(self) -> None:
        """mmengine's initialisation, then step 1's weights into the extractor and the classifier."""
        super().init_weights()
        if self.extractor_checkpoint:
            load_step1_weights(self.extractor_checkpoint, self.extractor, self.classifier.top, self.classifier.head)
            log.info("FeatureGAN: extractor and classifier initialised from %s", self.extractor_checkpoint)
        else:
            log.warning("FeatureGAN: no extractor_checkpoint: the extractor and classifier are random, not step 1's")

    def train(self, mode: bool = True) -> FeatureGAN:
        """As ``nn.Module.train``, but the frozen extractor stays in eval mode (step 1's BatchNorm statistics)."""
        super().train(mode)
        self.extractor.eval()
        return self

    @property
    def cam_layer(self) -> nn.Module:
        """The classifier's last convolution block (Grad-CAM's target)."""
        return self.classifier.top.conv18

    @torch.no_grad()
    def real_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The frozen extractor's row-15 features of a preprocessed batch (extractor space, unscaled)."""
        return self.extractor(inputs)

    @torch.no_grad()
    def fit_feature_stats(self, batches: Iterable) -> int:
        """Step 1's training set -> the scaler's per-channel range and the classifier's BatchNorm statistics.

        The classifier's average pool (row 19) changes what the BatchNorms after it see compared with step 1's max
        pool; with ``recalibrate_bn`` their running statistics are re-estimated over the same real features
        (cumulative averages, no weight changes) before training. Returns the number of images seen.

        Args:
            batches: dataloader batches (``inputs`` + ``data_samples``), passed through the data preprocessor.
        """
        self.scaler.reset()
        norms = [m for m in self.classifier.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        was = self.classifier.training
        if self.recalibrate_bn:
            for m in norms:
                m.reset_running_stats()
                m.momentum = None
            self.classifier.train()
        seen = 0
        try:
            for batch in batches:
                inputs = self.data_preprocessor(batch, False)["inputs"]
                features = self.real_features(inputs)
                self.scaler.observe(features)
                if self.recalibrate_bn:
                    self.classifier(features)
                seen += len(inputs)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            self.classifier.train(was)
        self.scaler.finish()
        return seen

    def sample_classes(self, n: int, device: torch.device) -> torch.Tensor:
        """``n`` class indices drawn by ``fake_class_weights`` (uniform by default)."""
        return torch.multinomial(self.fake_class_weights.to(device), n, replacement=True)

    def generate(self, n: int, labels: torch.Tensor | None = None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` generated features (scaled space) and their classes (drawn when ``labels`` is None)."""
        device = device or self.fake_class_weights.device
        labels = self.sample_classes(n, device) if labels is None else labels.to(device)
        return self.generator(self.generator.sample_noise(n, device), labels), labels

    # ------------------------------------------------------------------ training

    def train_step(self, data, optim_wrapper) -> dict[str, torch.Tensor]:
        """One step: discriminator, generator, then the classifier on fake (every 2) / real (every 5) features.

        Args:
            data: a batch from the dataloader (images with ``gt_label``).
            optim_wrapper: mmengine's ``OptimWrapperDict`` with keys ``generator``, ``discriminator``,
                ``classifier``.

        Returns:
            The logged values: ``loss_d``, ``loss_g``, ``loss_g_adv``, ``loss_g_cls`` and, on the steps that have
            them, ``loss_c_fake`` / ``loss_c_real``.
        """
        missing = [k for k in OPTIM_KEYS if k not in optim_wrapper]
        if missing:
            raise ConfigError(
                f"FeatureGAN.train_step: optim_wrapper has no {missing} (a dict of generator / discriminator / "
                "classifier wrappers with constructor='FeatureGanOptimWrapperConstructor')"
            )
        data = self.data_preprocessor(data, True)
        inputs, samples = data["inputs"], data["data_samples"]
        labels = _labels(samples, len(inputs), inputs.device)
        real = self.real_features(inputs)
        real_scaled = self.scaler.scale(real)
        n = len(inputs)
        step = int(self.steps.item()) + 1
        self.steps += 1
        logs: dict[str, torch.Tensor] = {}

        opt_d = optim_wrapper["discriminator"]
        with opt_d.optim_context(self.discriminator):
            with torch.no_grad():
                fake, fake_labels = self.generate(n, device=inputs.device)
            scores = self.discriminator(torch.cat([real_scaled, fake]), torch.cat([labels, fake_labels]))
            targets = torch.cat([torch.ones(n), torch.zeros(n)]).to(scores)
            loss_d = F.binary_cross_entropy_with_logits(scores, targets)
        opt_d.update_params(loss_d)
        logs["loss_d"] = loss_d.detach()

        opt_g = optim_wrapper["generator"]
        was = self.classifier.training
        self.classifier.eval()
        with frozen(self.discriminator, self.classifier), opt_g.optim_context(self.generator):
            fake, fake_labels = self.generate(n, device=inputs.device)
            adv = F.binary_cross_entropy_with_logits(
                self.discriminator(fake, fake_labels), torch.ones(n, device=fake.device)
            )
            cls = F.cross_entropy(self.classifier(self.scaler.unscale(fake)), fake_labels)
            loss_g = adv + self.g_cls_weight * cls
        opt_g.update_params(loss_g)
        self.classifier.train(was)
        logs.update(loss_g=loss_g.detach(), loss_g_adv=adv.detach(), loss_g_cls=cls.detach())

        learns = step > self.classifier_start
        if learns and step % self.fake_every == 0:
            with torch.no_grad():
                fake, fake_labels = self.generate(n, device=inputs.device)
            bn_train = self.classifier_bn == "train"
            logs["loss_c_fake"] = self._classifier_step(self.scaler.unscale(fake), fake_labels, optim_wrapper, bn_train)
        if learns and step % self.real_every == 0:
            bn_train = self.classifier_bn != "frozen"
            logs["loss_c_real"] = self._classifier_step(real, labels, optim_wrapper, bn_train)
        return logs

    def _classifier_step(
        self, features: torch.Tensor, labels: torch.Tensor, optim_wrapper, bn_train: bool
    ) -> torch.Tensor:
        opt_c = optim_wrapper["classifier"]
        was = self.classifier.training
        self.classifier.train(bn_train)
        with opt_c.optim_context(self.classifier):
            loss = F.cross_entropy(self.classifier(features), labels)
        opt_c.update_params(loss)
        self.classifier.train(was)
        return loss.detach()

    # ------------------------------------------------------------------ inference

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: list[BaseDataElement] | None = None,
        mode: str = "tensor",
    ) -> torch.Tensor | dict[str, torch.Tensor] | list[BaseDataElement]:
        """The classifier on real features: ``'tensor'`` logits, ``'predict'`` samples, ``'loss'`` cross entropy.

        ``'predict'`` sets ``pred_score`` (softmax) and ``pred_label`` on each sample, as the image classifiers.
        """
        if mode not in _MODES:
            raise ConfigError(f"FeatureGAN.forward: mode={mode!r}, expected one of {_MODES}")
        logits = self.classifier(self.extractor(inputs))
        if mode == "tensor":
            return logits
        if mode == "loss":
            return {"loss": F.cross_entropy(logits, _labels(data_samples, len(logits), logits.device))}
        return ImageClassifier.predict(logits, data_samples)
