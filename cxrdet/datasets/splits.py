"""Data sets, splits: the seeded 8:2 train/val split and the K folds of the task data sets (pure functions).

Every task data set (class folders, bone age, ...) hands its images' stratum (class index, age band) and,
when the data carry one, their patient id to these functions and keeps the subset it is asked for. Both
functions stratify per stratum and are seeded and deterministic. Without patient ids, each stratum's count in
each subset (fold) is within one image of its exact share (``n_c * fraction``) and so is each subset's total
(systematic sampling over the shuffled images, listed stratum by stratum). With patient ids, every patient's
images stay in one subset: patients are assigned greedily, largest first, each to the subset whose per-stratum
counts and total fall furthest short of their targets; ties are broken by a seeded shuffle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _codes(labels: Sequence | np.ndarray) -> np.ndarray:
    """Dense integer codes ``0..m-1`` of arbitrary hashable stratum values."""
    values = list(labels)
    if any(v is None for v in values):
        raise ValueError("a stratification label is None")
    if not values:
        return np.zeros(0, np.int64)
    keys = np.asarray([str(v) for v in values], dtype=object)
    return np.unique(keys, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _group_codes(n: int, groups: Sequence | np.ndarray | None) -> np.ndarray:
    if groups is None:
        return np.arange(n, dtype=np.int64)
    groups = list(groups)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} group ids for {n} labels")
    # an image without a patient id (None or NaN) is a group of its own
    keys = [
        ("image", i) if g is None or (isinstance(g, float) and g != g) else ("group", str(g))
        for i, g in enumerate(groups)
    ]
    return np.unique(np.asarray([f"{a}:{b}" for a, b in keys], dtype=object), return_inverse=True)[1].astype(np.int64)


def _fill_empty_bins(bin_of_group: np.ndarray, sizes: np.ndarray, n_bins: int, tie: np.ndarray) -> np.ndarray:
    """Every bin non-empty (tiny data): an empty bin gets the smallest group of the fullest bin with two or more."""
    bin_of_group = bin_of_group.copy()
    for b in range(n_bins):
        if (bin_of_group == b).any():
            continue
        totals = np.bincount(bin_of_group, weights=sizes, minlength=n_bins)
        donors = [d for d in np.argsort(-totals, kind="stable") if (bin_of_group == d).sum() > 1]
        if not donors:
            break
        members = np.flatnonzero(bin_of_group == donors[0])
        bin_of_group[members[np.lexsort((tie[members], sizes[members]))[0]]] = b
    return bin_of_group


def _assign_images(labels: np.ndarray, weights: np.ndarray, seed: int) -> np.ndarray:
    """Bin of each image without groups: systematic sampling over the images listed class by class.

    The images are shuffled within each class and the classes put in a shuffled order, one class after the
    other; position ``i`` of that list goes to validation when ``floor((i + 1) f + u) > floor(i f + u)`` (two
    bins, a random offset ``u``), or to fold ``(i + shift) mod K`` (K equal bins). Each class fills one run of
    positions, so its count per bin is the floor or the ceiling of its share, and so is every bin's total.
    """
    rng = np.random.default_rng(seed)
    n_labels = int(labels.max()) + 1
    order = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in rng.permutation(n_labels)])
    pos = np.arange(len(order), dtype=np.float64)
    if len(weights) == 2:
        f, u = float(weights[1]), float(rng.random())
        slots = (np.floor((pos + 1) * f + u) - np.floor(pos * f + u)).astype(np.int64)
    else:
        slots = (np.arange(len(order)) + int(rng.integers(len(weights)))) % len(weights)
    out = np.empty(len(order), np.int64)
    out[order] = slots
    return _fill_empty_bins(out, np.ones(len(out)), len(weights), rng.permutation(len(out)))


def _assign_groups(labels: np.ndarray, groups: np.ndarray, weights: np.ndarray, seed: int) -> np.ndarray:
    """Bin of each image with groups: whole groups, largest first, each to the bin it brings closest to target.

    The target of a bin is its weight times every label's count and times the image total; a group goes where
    ``sum_c ((filled_c + g_c - target_c)^2 - (filled_c - target_c)^2) / n_c`` plus the same term of the totals
    (over ``n``) is smallest; ties go to the emptier bin (relative to its weight), then at random (seeded).
    """
    n_bins = len(weights)
    n_groups = int(groups.max()) + 1
    n_labels = int(labels.max()) + 1
    counts = np.zeros((n_groups, n_labels + 1), np.int64)  # last column: the group's image count
    np.add.at(counts, (groups, labels), 1)
    counts[:, -1] = counts[:, :-1].sum(axis=1)
    per_column = counts.sum(axis=0).astype(np.float64)
    targets = weights[:, None] * per_column[None, :]  # (bins, labels + total)
    scale = 1.0 / np.maximum(per_column, 1.0)
    sizes = counts[:, -1]
    rng = np.random.default_rng(seed)
    tie = rng.permutation(n_groups)
    bin_tie = rng.random((n_groups, n_bins))
    filled = np.zeros((n_bins, n_labels + 1), np.float64)
    bin_of_group = np.empty(n_groups, np.int64)
    for g in np.lexsort((tie, -sizes)):  # largest groups first, ties in seeded random order
        c = counts[g][None, :]
        cost = (c * (2.0 * (filled - targets) + c) * scale[None, :]).sum(axis=1)
        fill = filled[:, -1] / np.maximum(weights, 1e-12)
        b = int(np.lexsort((bin_tie[g], fill, np.round(cost, 9)))[0])
        bin_of_group[g] = b
        filled[b] += counts[g]
    return _fill_empty_bins(bin_of_group, sizes.astype(np.float64), n_bins, tie)[groups]


def _assign(labels: np.ndarray, groups: np.ndarray | None, weights: np.ndarray, seed: int) -> np.ndarray:
    if groups is None or len(np.unique(groups)) == len(groups):
        return _assign_images(labels, weights, seed)
    return _assign_groups(labels, groups, weights, seed)


def _checked(labels: Sequence | np.ndarray, groups: Sequence | np.ndarray | None, n_bins: int, what: str):
    codes = _codes(labels)
    group_codes = _group_codes(len(codes), groups)
    n_groups = len(np.unique(group_codes))
    if n_groups < n_bins:
        unit = "images" if groups is None else "patients (groups)"
        raise ValueError(f"cannot make {what} from {n_groups} {unit}")
    return codes, group_codes


def train_val_split(
    labels: Sequence | np.ndarray,
    val_fraction: float = 0.2,
    seed: int = 0,
    groups: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """Which images are validation images: a seeded split stratified per label, grouped by patient.

    Args:
        labels: one stratum per image (a class index, or any hashable value such as an age band).
        val_fraction: the validation share (0.2: the 8:2 split), strictly between 0 and 1.
        seed: the shuffling seed; the same inputs and seed always give the same split.
        groups: optional patient id per image (None/NaN: an image of its own); a patient's images all
            land in the same subset.

    Returns:
        Boolean array, True for a validation image. Without groups each label's validation count is
        within one image of ``n_label * val_fraction``, and so is the validation total; both subsets are
        non-empty.

    Raises:
        ValueError: ``val_fraction`` outside (0, 1), fewer than 2 images (patients), or lengths differ.
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction!r}")
    codes, group_codes = _checked(labels, groups, 2, "a train/val split")
    weights = np.array([1.0 - float(val_fraction), float(val_fraction)])
    return _assign(codes, group_codes, weights, seed) == 1


def k_folds(
    labels: Sequence | np.ndarray,
    num_folds: int = 5,
    seed: int = 0,
    groups: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """Fold number (0..num_folds-1) of each image: seeded, stratified per label, grouped by patient.

    Args:
        labels: one stratum per image.
        num_folds: K >= 2.
        seed: the shuffling seed.
        groups: optional patient id per image (see :func:`train_val_split`).

    Returns:
        Integer array of fold numbers. Without groups each label's count in every fold is within one image
        of ``n_label / num_folds``, and so is every fold's size; every fold is non-empty.

    Raises:
        ValueError: K < 2, fewer images (patients) than folds, or lengths differ.
    """
    if isinstance(num_folds, bool) or not isinstance(num_folds, (int, np.integer)) or num_folds < 2:
        raise ValueError(f"num_folds must be an integer >= 2, got {num_folds!r}")
    codes, group_codes = _checked(labels, groups, int(num_folds), f"{num_folds} folds")
    weights = np.full(int(num_folds), 1.0 / int(num_folds))
    return _assign(codes, group_codes, weights, seed)
