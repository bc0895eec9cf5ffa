"""Data sets, common base of the task data sets (classification, bone age): data root, split and subset.

Every task data set takes the same options: ``data_root``, ``split`` (``'all'``: the seeded 8:2 split, or
``'foldK'``: fold K of a seeded K-fold as validation), ``subset`` (``'train'`` or ``'val'``), ``seed``,
``val_fraction`` and ``num_folds``. A subclass reads its layout into items (:meth:`TaskDataset.read_items`)
with a stratum and an optional patient id each; this base picks the subset through
:mod:`cxrdet.datasets.splits` (a subclass with fixed folds overrides :meth:`TaskDataset.subset_mask`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from mmengine.dataset import BaseDataset

from cxrdet.datasets.splits import k_folds, train_val_split
from cxrdet.errors import ConfigError

SUBSETS = ("train", "val")
STRATUM_KEY = "_stratum"
"""Item key of the stratification value (class index, age band); removed from the data list."""
GROUP_KEY = "_group"
"""Item key of the patient id (None: none known); removed from the data list."""

_FOLD = re.compile(r"fold(\d+)")


def parse_split(split: str, num_folds: int | None) -> int | None:
    """The validation fold of ``split`` (None for ``'all'``).

    Raises:
        ConfigError: not ``'all'`` or ``'foldK'`` with ``0 <= K < num_folds``.
    """
    if split == "all":
        return None
    match = _FOLD.fullmatch(str(split))
    if not match:
        raise ConfigError(f"split={split!r}: expected 'all' or 'foldK' (e.g. 'fold0')")
    fold = int(match.group(1))
    if num_folds is not None and fold >= num_folds:
        raise ConfigError(f"split={split!r}: there are {num_folds} folds (fold0..fold{num_folds - 1})")
    return fold


class TaskDataset(BaseDataset):
    """Base of the task data sets: one subset of a seeded split (or of fixed folds) of a data root.

    Args:
        data_root: the data set's folder (set by ``--data-root``; None is a config error).
        split: ``'all'`` or ``'foldK'``.
        subset: ``'train'`` or ``'val'``.
        seed: seed of the split and of the folds.
        val_fraction: validation share of ``split='all'``.
        num_folds: K of the ``'foldK'`` splits.
        pipeline: the transforms (configs or callables).
        metainfo: extra metainfo (merged over the data set's own).
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset` (``serialize_data``, ``lazy_init``,
            ``test_mode``, ``indices``, ``max_refetch``).

    Raises:
        ConfigError: no ``data_root``, an unknown split or subset, a bad ``val_fraction``/``num_folds``, or
            a subset without images.
    """

    def __init__(
        self,
        data_root: str | None = None,
        split: str = "all",
        subset: str = "train",
        seed: int = 0,
        val_fraction: float = 0.2,
        num_folds: int = 5,
        pipeline: Sequence[dict | Callable] = (),
        metainfo: Mapping | None = None,
        **kwargs: Any,
    ) -> None:
        if data_root is None or str(data_root) == "":
            raise ConfigError(f"{type(self).__name__}: data_root is not set (give --data-root)")
        if subset not in SUBSETS:
            raise ConfigError(f"subset={subset!r}: expected one of {SUBSETS}")
        if not 0.0 < float(val_fraction) < 1.0:
            raise ConfigError(f"val_fraction={val_fraction!r}: expected a number between 0 and 1")
        if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
            raise ConfigError(f"num_folds={num_folds!r}: expected an integer >= 2")
        self.split = str(split)
        self.subset = subset
        self.seed = int(seed)
        self.val_fraction = float(val_fraction)
        self.num_folds = num_folds
        self.val_fold = parse_split(self.split, self.fixed_num_folds(str(data_root)) or num_folds)
        given = dict(metainfo or {})
        own = self.read_metainfo(str(data_root))
        super().__init__(data_root=str(data_root), pipeline=list(pipeline), metainfo={**own, **given}, **kwargs)

    # --- what a subclass provides -------------------------------------------------------------------------

    def read_metainfo(self, data_root: str) -> dict:
        """The data set's own metainfo (e.g. ``classes``), read before loading; default none."""
        return {}

    def read_items(self) -> list[dict]:
        """Every image of the data root as a data-info dict, with :data:`STRATUM_KEY` and :data:`GROUP_KEY`."""
        raise NotImplementedError

    @classmethod
    def fixed_num_folds(cls, data_root: str) -> int | None:
        """The number of folds the data root fixes itself (e.g. a ``folds.csv``), else None."""
        return None

    # --- the split ----------------------------------------------------------------------------------------

    def subset_mask(self, items: list[dict]) -> np.ndarray:
        """Which items belong to ``self.subset`` (the seeded split or fold of their strata and groups)."""
        labels = [item[STRATUM_KEY] for item in items]
        groups = [item.get(GROUP_KEY) for item in items]
        if not any(g is not None for g in groups):
            groups = None
        try:
            if self.val_fold is None:
                is_val = train_val_split(labels, self.val_fraction, self.seed, groups)
            else:
                is_val = k_folds(labels, self.num_folds, self.seed, groups) == self.val_fold
        except ValueError as err:
            raise ConfigError(f"{type(self).__name__} at {self.data_root}: {err}") from None
        return is_val if self.subset == "val" else ~is_val

    def load_data_list(self) -> list[dict]:
        """The data infos of the subset (private split keys removed).

        Raises:
            ConfigError: the subset has no image.
        """
        items = self.read_items()
        mask = np.asarray(self.subset_mask(items), dtype=bool)
        out = [
            {k: v for k, v in item.items() if k not in (STRATUM_KEY, GROUP_KEY)}
            for item, keep in zip(items, mask)
            if keep
        ]
        if not out:
            raise ConfigError(
                f"{type(self).__name__} at {self.data_root}: the {self.subset!r} subset of split {self.split!r} "
                f"has no image ({len(items)} images in all)"
            )
        return out

    @classmethod
    def available_splits(cls, data_root: str, num_folds: int = 5, **dataset_kwargs: Any) -> list[str]:
        """``['all', 'fold0', ..., 'fold{K-1}']`` for this data root (K fixed by the data, else ``num_folds``)."""
        k = cls.fixed_num_folds(str(data_root)) or int(num_folds)
        return ["all"] + [f"fold{i}" for i in range(k)]
