"""YOLO engine, data: a ``cxrdet convert`` folder as Ultralytics training sees it, and which splits to train."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from cxrdet.errors import ConfigError


@dataclass
class Dataset:
    """A ``cxrdet convert`` folder as training sees it."""

    root: Path
    png_size: int
    bit_depth: int
    splits: list[str]

    @classmethod
    def open(cls, data_root: str | Path | None) -> Dataset:
        """Checks the folder and reads its conversion settings.

        Raises:
            ConfigError: no ``data_root``, or not a convert output with labels.
        """
        if not data_root:
            raise ConfigError("data_root is not set: point it at a cxrdet convert output folder "
                              "(--cfg-options data_root=PATH)")
        root = Path(data_root).resolve()
        settings = root / "convert.json"
        if not settings.is_file() or not (root / "yolo").is_dir():
            raise ConfigError(f"data_root={str(data_root)!r} is not a cxrdet convert output with labels "
                              "(no convert.json or yolo/); run cxrdet convert --labels ... first")
        try:
            info = json.loads(settings.read_text())
            size, bit_depth = int(info["size"]), int(info.get("bit_depth", 8))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"{settings}: unreadable or damaged (no size / bit_depth); convert again into a "
                              "new folder") from None
        splits = sorted(p.parent.name for p in (root / "yolo").glob("*/data.yaml"))
        return cls(root, size, bit_depth, splits)

    @property
    def folds(self) -> list[int]:
        return sorted(int(s[4:]) for s in self.splits if re.fullmatch(r"fold\d+", s))

    def data_yaml(self, split: str) -> Path:
        if split not in self.splits:
            raise ConfigError(f"{self.root}: no split {split!r} (available: {', '.join(self.splits)}); "
                              "convert with --folds K for K folds")
        return self.root / "yolo" / split / "data.yaml"


def select_splits(dataset: Dataset, fold: list[int] | None, folds: str | None) -> list[str]:
    """``--fold K`` (repeatable) / ``--folds all`` / neither (``all``: every labelled image) -> split names."""
    if fold and folds:
        raise ConfigError("give --fold K or --folds all, not both")
    if folds is not None:
        if folds != "all":
            raise ConfigError(f"--folds {folds!r}: only 'all' is accepted (use --fold K for single folds)")
        if not dataset.folds:
            raise ConfigError(f"{dataset.root} has no folds; convert with --folds K")
        return [f"fold{k}" for k in dataset.folds]
    if fold:
        return [f"fold{k}" for k in fold]
    return ["all"]
