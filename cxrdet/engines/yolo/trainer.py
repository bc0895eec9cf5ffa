"""YOLO engine, trainer: Ultralytics' DetectionTrainer whose validator scores VinDr mAP, rebuildable from its args.

The VinDr settings (data_root with ``meta.csv`` and ``labels_fused.csv``, the split's ``val.txt``,
``vindr_iou``, ``best_metric``) travel as plain values in the trainer's overrides under
:data:`~cxrdet.engines.yolo.validation.SETTINGS_KEY` and stay in ``trainer.args``. Ultralytics' multi-GPU
path (``ultralytics.utils.dist.generate_ddp_file``) saves the trainer class by module + name and
``vars(trainer.args)`` and rebuilds ``CxrdetTrainer(cfg, overrides=args)`` in each worker process, so the
workers score VinDr mAP and pick ``best.pt`` by it too, and ``train()`` enters the offline sandbox there
(the workers inherit its environment but not its in-memory patches).

``CxrdetTrainer`` is a module attribute built on first access: importing this module does not import
Ultralytics (which writes its settings file when imported).
"""

from __future__ import annotations

import functools
import logging

from cxrdet.engines.yolo.validation import SETTINGS_KEY, VindrValidation

log = logging.getLogger(__name__)

__all__ = ["CxrdetTrainer"]  # noqa: F822 (made on first access by __getattr__: ultralytics loads late)


def __getattr__(name: str):
    if name == "CxrdetTrainer":
        return _trainer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _trainer_class() -> type:
    from copy import copy

    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.utils import DEFAULT_CFG

    from cxrdet.engines.yolo.validator import VindrValidator

    class CxrdetTrainer(DetectionTrainer):
        """DetectionTrainer with the VinDr validator.

        Args:
            cfg, _callbacks: as Ultralytics' ``DetectionTrainer``.
            overrides: Ultralytics' train arguments, plus :data:`SETTINGS_KEY` (a dict of
                :func:`~cxrdet.engines.yolo.validation.validation_settings`) to score VinDr mAP.
        """

        def __init__(self, cfg=DEFAULT_CFG, overrides: dict | None = None, _callbacks: dict | None = None) -> None:
            overrides = dict(overrides or {})
            settings = overrides.pop(SETTINGS_KEY, None)  # not an Ultralytics argument: its checks would refuse it
            super().__init__(cfg, overrides, _callbacks)
            self.vindr_settings: dict | None = dict(settings) if settings else None
            setattr(self.args, SETTINGS_KEY, self.vindr_settings)  # saved with the args (DDP file, checkpoints)

        def train(self):
            """Ultralytics' ``train()`` inside the offline sandbox (a DDP worker process enters it here)."""
            from cxrdet.engines.yolo.sandbox import sandbox_active, ultralytics_sandbox

            if sandbox_active():
                return super().train()
            with ultralytics_sandbox(self.args.project or self.save_dir.parent):
                return super().train()

        def get_validator(self):
            args = copy(self.args)
            if hasattr(args, SETTINGS_KEY):
                delattr(args, SETTINGS_KEY)
            vindr = VindrValidation.from_settings(self.vindr_settings) if self.vindr_settings else None
            return VindrValidator(
                self.test_loader, save_dir=self.save_dir, args=args, _callbacks=self.callbacks, vindr=vindr
            )

    CxrdetTrainer.__module__ = __name__
    CxrdetTrainer.__qualname__ = "CxrdetTrainer"
    return CxrdetTrainer
