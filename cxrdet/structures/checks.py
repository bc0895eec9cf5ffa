"""The data contract, bottom layer: the ONE check of box values (class, score, coordinates) every reader uses."""

from __future__ import annotations

import numpy as np

from cxrdet.structures.metainfo import NO_FINDING_BOX, VINDR, DatasetMeta

MAX_PIXELS: float = float(2**20)
"""Largest absolute box coordinate, height or width accepted, in pixels: a DICOM image has at most 65535 rows
and columns, so a value beyond this is a unit mix-up or garbage (and would overflow areas and normalisations)."""


def box_problems(
    class_id: np.ndarray,
    score: np.ndarray | None,
    xyxy: np.ndarray,
    meta: DatasetMeta = VINDR,
    *,
    no_finding_box: bool = False,
) -> list[tuple[np.ndarray, str]]:
    """Every check of box values, as ``(mask of failing boxes, reason)`` in a fixed order.

    Readers report the masks their way (a file line, a box number, a sextuple); the reasons are the same
    everywhere. A box fails at most the first non-finite check of each value; range checks look at finite
    values only.

    Args:
        class_id: (N,) class ids (float or int; a non-integer is a problem).
        score: (N,) confidences, or None when there are none to check (ground truth).
        xyxy: (N, 4) ``x_min, y_min, x_max, y_max`` in original pixels.
        meta: the data set (its number of classes and "no finding" class).
        no_finding_box: also require the "no finding" class's boxes to be ``0 0 1 1`` (anything else
            cannot match its ground truth).

    Returns:
        The list of checks (masks may hold no True).
    """
    cls = np.asarray(class_id, dtype=np.float64).reshape(-1)
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    finite_cls = np.isfinite(cls)
    finite_xy = np.asarray(np.isfinite(xyxy).all(axis=1))
    top = meta.num_classes - 1
    out: list[tuple[np.ndarray, str]] = [(~finite_cls, "class_id is NaN or infinite")]
    if score is not None:
        s = np.asarray(score, dtype=np.float64).reshape(-1)
        out.append((~np.isfinite(s), "score is NaN or infinite"))
    out.append((~finite_xy, "a coordinate is NaN or infinite"))
    out.append(
        (
            finite_xy & (np.abs(xyxy) > MAX_PIXELS).any(axis=1),
            f"box coordinate beyond ±{MAX_PIXELS:.0f} pixels (original image pixels expected)",
        )
    )
    out.append(
        (finite_cls & ((cls != np.round(cls)) | (cls < 0) | (cls > top)), f"class_id must be an integer in 0..{top}")
    )
    if score is not None:
        out.append((np.isfinite(s) & ((s < 0) | (s > 1)), "score must be in [0, 1]"))
    out.append((finite_xy & (xyxy[:, 2] < xyxy[:, 0]), "x_max < x_min"))
    out.append((finite_xy & (xyxy[:, 3] < xyxy[:, 1]), "y_max < y_min"))
    if no_finding_box and meta.no_finding is not None:
        name = meta.classes[meta.no_finding]
        out.append(
            (
                (cls == meta.no_finding) & (xyxy != np.array(NO_FINDING_BOX)).any(axis=1),
                f"class {meta.no_finding} ({name}) box is not '0 0 1 1' and cannot match the ground truth",
            )
        )
    return out
