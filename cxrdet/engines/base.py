"""The engine seam: what every training framework behind ``cxrdet train | test | predict`` implements.

An engine owns its config section (it resolves and checks the config, unknown keys included), trains,
scores a checkpoint on its config's validation split, predicts images and writes out-of-fold predictions,
and converts to cxrdet's contract at its edge (a :class:`~cxrdet.io.predictions.BoxTable` in ORIGINAL DICOM
pixels). Commands pick the engine from the config's ``engine`` key (:func:`engine_class`) and never branch
on it. The interface follows mmengine's Runner vocabulary (``work_dir``, ``load_from``, ``resume``,
``_base_`` configs), so a Runner-based engine implements it as well as the Ultralytics one.
"""

from __future__ import annotations

import abc
import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cxrdet.errors import ConfigError
from cxrdet.structures import VINDR, DatasetMeta

ENGINES: dict[str, str] = {
    "ultralytics": "cxrdet.engines.yolo.engine:YoloEngine",
    "mmdet": "cxrdet.engines.runner.engine:MMDetEngine",
    "mmengine": "cxrdet.engines.runner.task_engine:TaskEngine",
}
"""Engine name (a config's ``engine`` key) -> ``module:Class``, imported on first use."""


@dataclass
class TrainResult:
    """One training run of :meth:`Engine.train` (a fold, or ``all``).

    Attributes:
        split: ``foldK`` or ``all``.
        save_dir: the run's folder.
        best: the checkpoint picked by the validation metric.
        score: its validation score (None if not scored).
        oof: the out-of-fold prediction file written after a fold, or None.
        seconds: wall time of the run.
        metric: what ``score`` is (detectors: VinDr mAP@0.4; custom models: their config's best metric).
    """

    split: str
    save_dir: Path
    best: Path
    score: float | None
    oof: Path | None
    seconds: float
    metric: str = "VinDr mAP@0.4"

    @property
    def vindr_map(self) -> float | None:
        """The detectors' name for :attr:`score`."""
        return self.score


@dataclass
class PredictResult:
    """What :meth:`Engine.predict` produced.

    ``meta`` is the class list of the model (its class ids are ids of ``meta.classes``): the one its
    checkpoint records, VinDr for a checkpoint that records none. Detectors fill ``table`` (boxes);
    image-level models (classifiers, bone age) fill ``rows`` instead: one row per image, ``image_id`` first
    (e.g. ``image_id,p_normal,p_abnormal,label``), written as a CSV by ``cxrdet predict``.
    """

    table: Any = None  # a cxrdet.io.predictions.BoxTable, every image listed, boxes in original pixels
    failures: dict[str, str] = field(default_factory=dict)  # image_id -> reason
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)
    meta: DatasetMeta = VINDR
    rows: Any = None  # a pandas DataFrame of per-image predictions (image-level models)


class Engine(abc.ABC):
    """A training framework behind cxrdet's commands, built from a resolved config.

    Args:
        cfg: the resolved config (:meth:`from_config`): defaults < file < ``--cfg-options``.
        config_path: the file it came from (None: defaults or a checkpoint alone).
    """

    name: ClassVar[str]

    def __init__(self, cfg: Mapping[str, Any], config_path: str | os.PathLike | None = None) -> None:
        self.cfg = dict(cfg)
        self.config_path = None if config_path is None else Path(config_path)

    @classmethod
    @abc.abstractmethod
    def from_config(cls, path: str | os.PathLike | None, options: Mapping[str, Any] | None = None) -> Engine:
        """The engine of a config file with ``--cfg-options`` applied (checked: unknown keys are rejected)."""

    @classmethod
    def reads_checkpoint_alone(cls, checkpoint: str | os.PathLike) -> bool:
        """Whether ``cxrdet predict CHECKPOINT`` (no config) can use this engine for ``checkpoint``."""
        return False

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike) -> Engine:
        """The engine for a checkpoint that carries what prediction needs (see :meth:`reads_checkpoint_alone`)."""
        raise ConfigError(f"{checkpoint}: the {cls.name!r} engine needs its config: cxrdet predict CONFIG CHECKPOINT")

    @staticmethod
    @abc.abstractmethod
    def flag_options(
        data_root: str | None = None,
        work_dir: str | None = None,
        load_from: str | None = None,
        device: str | None = None,
    ) -> dict[str, Any]:
        """The command-line shortcut flags as config options of this engine (they win over ``--cfg-options``)."""

    @property
    def work_dir(self) -> Path:
        """Where runs, checkpoints and the resolved config go (mmengine's ``work_dir``)."""
        return Path(self.cfg["work_dir"])

    @abc.abstractmethod
    def select_splits(self, fold: Sequence[int] | None = None, folds: str | None = None) -> list[str]:
        """``--fold K`` (repeatable) / ``--all-folds`` / neither -> the split names :meth:`train` takes."""

    @abc.abstractmethod
    def train(self, splits: Sequence[str] | None = None, resume: bool | str | None = None) -> list[TrainResult]:
        """Trains one model per split; ``resume``: ``auto`` (each split's last checkpoint), a path, or None."""

    @abc.abstractmethod
    def test(self, checkpoint: str | os.PathLike, split: str | None = None):
        """Scores ``checkpoint`` on the config's validation split: detectors return a :class:`cxrdet.evaluation.voc`
        result; image-level engines a result whose ``lines()`` are the printed report."""

    def checkpoint_meta(self, checkpoint: str | os.PathLike) -> DatasetMeta | None:
        """The class list ``checkpoint`` predicts (known before predicting), or None when only
        :attr:`PredictResult.meta` tells."""
        return None

    def sources(self, source: str | os.PathLike) -> list:
        """The images ``cxrdet predict --source`` names (:func:`cxrdet.io.sources.find_sources`: DICOM folders,
        convert folders, PNG lists); image-level engines also read plain PNG/JPEG folders."""
        from cxrdet.io.sources import find_sources

        return find_sources(source)

    @abc.abstractmethod
    def predict(self, checkpoint: str | os.PathLike, items: Sequence, **options: Any) -> PredictResult:
        """Predicts ``items`` (:func:`cxrdet.io.sources.find_sources`); boxes in ORIGINAL DICOM pixels."""

    @abc.abstractmethod
    def write_oof(self, checkpoint: str | os.PathLike, split: str, out: str | os.PathLike) -> Path:
        """Predicts a fold's validation images with ``checkpoint`` into the prediction file ``out``."""

    @abc.abstractmethod
    def untrained_checkpoint(self, out: str | os.PathLike) -> Path:
        """Writes the config's model with its initial weights as a checkpoint :meth:`predict` reads (a baseline:
        what the same pipeline scores before any training)."""

    def describe(self) -> str:
        """One line naming the model and its training settings, for summaries (e.g. ``yolov5n at 192 px``)."""
        return self.config_path.stem if self.config_path else self.name


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as ``name`` in :data:`ENGINES`.

    Raises:
        ConfigError: no such engine (with the available names).
    """
    if name not in ENGINES:
        raise ConfigError(f"engine={name!r}: no such engine (available: {', '.join(repr(k) for k in ENGINES)})")
    module, _, attr = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def engine_class_of_config(path: str | os.PathLike, options: Mapping[str, Any] | None = None) -> type[Engine]:
    """The engine class a config names in its ``engine`` key (``--cfg-options engine=...`` wins)."""
    from cxrdet.config import read_file

    name = (options or {}).get("engine") or read_file(path).get("engine", "ultralytics")
    return engine_class(str(name))


def engine_of_config(path: str | os.PathLike, options: Mapping[str, Any] | None = None) -> Engine:
    """The engine a config names in its ``engine`` key, built from the config and ``options``."""
    return engine_class_of_config(path, options).from_config(path, options)


def engine_of_checkpoint(checkpoint: str | os.PathLike) -> Engine:
    """The engine that predicts with ``checkpoint`` alone (e.g. a YOLO ``.pt`` written by cxrdet train).

    Raises:
        ConfigError: no engine reads it without its config.
    """
    for name in ENGINES:
        cls = engine_class(name)
        if cls.reads_checkpoint_alone(checkpoint):
            return cls.from_checkpoint(checkpoint)
    raise ConfigError(
        f"{checkpoint}: no engine predicts with this file alone; give its config first "
        "(cxrdet predict CONFIG CHECKPOINT)"
    )
