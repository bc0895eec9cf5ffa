"""YOLO engine, data: a ``cxrdet convert`` folder as Ultralytics training sees it, and which splits to train."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cxrdet.errors import ConfigError
from cxrdet.structures import VINDR, DatasetMeta


@dataclass
class Dataset:
    """A ``cxrdet convert`` folder as training sees it.

    ``meta`` is its class list (``classes.json``; VinDr for a folder written before it): the detector's
    classes, the validation metric's classes, and what the checkpoints record.
    """

    root: Path
    png_size: int
    bit_depth: int
    splits: list[str]
    meta: DatasetMeta = field(default=VINDR)

    @classmethod
    def open(cls, data_root: str | Path | None) -> Dataset:
        """Checks the folder and reads its conversion settings.

        Raises:
            ConfigError: no ``data_root``, or not a convert output with labels.
        """
        if not data_root:
            raise ConfigError(
                "data_root is not set: point it at a cxrdet convert output folder (--cfg-options data_root=PATH)"
            )
        root = Path(data_root).resolve()
        settings = root / "convert.json"
        if not settings.is_file() or not (root / "yolo").is_dir():
            raise ConfigError(
                f"data_root={str(data_root)!r} is not a cxrdet convert output with labels "
                "(no convert.json or yolo/); run cxrdet convert --labels ... first"
            )
        try:
            info = json.loads(settings.read_text())
            size, bit_depth = int(info["size"]), int(info.get("bit_depth", 8))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(
                f"{settings}: unreadable or damaged (no size / bit_depth); convert again into a new folder"
            ) from None
        from cxrdet.io.metainfo import read_convert_meta

        splits = sorted(p.parent.name for p in (root / "yolo").glob("*/data.yaml"))
        return cls(root, size, bit_depth, splits, read_convert_meta(root))

    @property
    def folds(self) -> list[int]:
        return sorted(int(s[4:]) for s in self.splits if re.fullmatch(r"fold\d+", s))

    def data_yaml(self, split: str) -> Path:
        if split not in self.splits:
            raise ConfigError(
                f"{self.root}: no split {split!r} (available: {', '.join(self.splits)}); "
                "convert with --folds K for K folds"
            )
        return self.root / "yolo" / split / "data.yaml"

    def check_classes(self, split: str) -> None:
        """``split``'s data.yaml names the detector classes of ``classes.json`` (checked before training)."""
        check_names(self.data_yaml(split), self.meta)


def check_names(data_yaml: Path, meta: DatasetMeta) -> None:
    """``data.yaml``'s ``nc``/``names`` must be the detector classes of ``classes.json`` (same convert run),
    so Ultralytics builds the model with the data set's class count.

    Raises:
        ConfigError: they differ (a folder mixed from two convert runs) or the file is unreadable.
    """
    import yaml

    from cxrdet.engines.yolo.checkpoints import detector_names

    try:
        data = yaml.safe_load(data_yaml.read_text())
        names = data["names"]
        names = dict(enumerate(names)) if isinstance(names, list) else {int(k): str(v) for k, v in names.items()}
        nc = int(data.get("nc", len(names)))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError):
        raise ConfigError(f"{data_yaml}: unreadable or damaged data.yaml; convert again into a new folder") from None
    expected = detector_names(meta)
    if nc != len(expected) or names != expected:
        raise ConfigError(
            f"{data_yaml}: its classes ({nc}: {', '.join(map(str, list(names.values())[:4]))}...) "
            f"differ from {data_yaml.parents[2] / 'classes.json'} ({len(expected)} detector classes); "
            "convert again into a new folder"
        )


def select_splits(dataset: Dataset, fold: list[int] | None, folds: str | None) -> list[str]:
    """``--fold K`` (repeatable) / ``--all-folds`` / neither (``all``: every labelled image) -> split names."""
    if fold and folds:
        raise ConfigError("give --fold K or --all-folds, not both")
    if folds is not None:
        if folds != "all":
            raise ConfigError(f"--folds {folds!r}: only 'all' is accepted (use --fold K for single folds)")
        if not dataset.folds:
            raise ConfigError(f"{dataset.root} has no folds; convert with --folds K")
        return [f"fold{k}" for k in dataset.folds]
    if fold:
        return [f"fold{k}" for k in fold]
    return ["all"]
