"""Feature GAN step 2: computes the feature scaler's per-channel statistics once, before training starts.

Registered hook (``custom_hooks=[dict(type='FeatureStatsHook')]`` in ``configs/feature_gan/``): at ``before_train``
(after mmengine has initialised the model from step 1's checkpoint or resumed a run) it runs the frozen extractor
over the whole training dataloader, step 1's training set, and stores the per-channel minimum and maximum in
:class:`~cxrdet.models.feature_gan.scaler.FeatureScaler`'s buffers (and re-estimates the classifier's BatchNorm
statistics: :meth:`~cxrdet.models.feature_gan.FeatureGAN.fit_feature_stats`). A resumed run or a model whose
statistics are already set keeps them (they are computed once).
"""

from __future__ import annotations

import logging

from mmengine.hooks import Hook

from cxrdet.registry import HOOKS

log = logging.getLogger(__name__)


def compute_feature_stats(model, dataloader) -> int:
    """``model.fit_feature_stats`` over ``dataloader``; returns the number of images seen."""
    return int(model.fit_feature_stats(dataloader))


@HOOKS.register_module()
class FeatureStatsHook(Hook):
    """Fills a ``FeatureGAN``'s feature scaler from the training set before its first training step."""

    priority = "VERY_HIGH"

    def before_train(self, runner) -> None:
        model = getattr(runner.model, "module", runner.model)
        scaler = getattr(model, "scaler", None)
        if scaler is None:
            raise TypeError(f"FeatureStatsHook: {type(model).__name__} has no feature scaler (not a FeatureGAN)")
        if bool(scaler.ready):
            log.info("FeatureStatsHook: per-channel feature statistics already set (resumed or loaded)")
            return
        seen = compute_feature_stats(model, runner.train_dataloader)
        log.info("FeatureStatsHook: per-channel min/max of %d training images' features", seen)
