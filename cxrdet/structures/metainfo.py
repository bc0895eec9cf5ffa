"""The data contract, bottom layer: a data set's class list and its optional "no finding" class (mmdet's METAINFO)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NO_FINDING_BOX: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
"""The ground-truth (and predicted) box of a "no finding" image: it matches itself with IoU 1."""

VINDR_CLASSES: tuple[str, ...] = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Consolidation",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Nodule/Mass",
    "Other lesion",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
    "No finding",
)


@dataclass(frozen=True)
class DatasetMeta:
    """What every stage needs to know about a data set's labels.

    Class ids are positions in ``classes`` (0-based, contiguous), as in mmdet's ``metainfo['classes']``.

    Attributes:
        classes: class names in id order (unique, non-empty).
        no_finding: id of the "no finding" class (an image-level class whose box is ``[0, 0, 1, 1]``,
            scored as an ordinary class by the VinDr metric), or None when the data set has none.
        palette: optional RGB colour per class, for plots.
    """

    classes: tuple[str, ...]
    no_finding: int | None = None
    palette: tuple[tuple[int, int, int], ...] | None = None

    def __post_init__(self) -> None:
        classes = tuple(str(c) for c in self.classes)
        object.__setattr__(self, "classes", classes)
        if not classes:
            raise ValueError("DatasetMeta needs at least one class")
        if any(not c.strip() for c in classes):
            raise ValueError("DatasetMeta: empty class name")
        twice = sorted({c for c in classes if classes.count(c) > 1})
        if twice:
            raise ValueError(f"DatasetMeta: class name {twice[0]!r} given twice")
        if self.no_finding is not None and (
            isinstance(self.no_finding, bool)
            or not isinstance(self.no_finding, int)
            or not (0 <= self.no_finding < len(classes))
        ):
            raise ValueError(
                f"DatasetMeta: no_finding must be a class id in 0..{len(classes) - 1} or None, got {self.no_finding!r}"
            )
        if self.palette is not None:
            palette = tuple(tuple(int(v) for v in rgb) for rgb in self.palette)
            if len(palette) != len(classes) or any(len(rgb) != 3 for rgb in palette):
                raise ValueError("DatasetMeta: palette needs one (r, g, b) per class")
            object.__setattr__(self, "palette", palette)

    @property
    def num_classes(self) -> int:
        """Number of classes the metric scores (the "no finding" class included)."""
        return len(self.classes)

    @property
    def finding_classes(self) -> tuple[int, ...]:
        """Ids of the classes a detector is trained on (every class but "no finding")."""
        return tuple(i for i in range(len(self.classes)) if i != self.no_finding)

    def name(self, class_id: int) -> str:
        """The name of ``class_id`` (its number as text when it is outside the list)."""
        return self.classes[class_id] if 0 <= class_id < len(self.classes) else str(class_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``classes.json`` holds)."""
        out: dict[str, Any] = {"classes": list(self.classes), "no_finding": self.no_finding}
        if self.palette is not None:
            out["palette"] = [list(rgb) for rgb in self.palette]
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetMeta:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: missing ``classes``, unknown keys, or values :class:`DatasetMeta` refuses.
        """
        if not isinstance(data, dict) or not isinstance(data.get("classes"), list):
            raise ValueError("expected an object with a 'classes' list")
        unknown = sorted(set(data) - {"classes", "no_finding", "palette"})
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} (expected classes, no_finding, palette)")
        if not all(isinstance(c, str) for c in data["classes"]):
            raise ValueError("every class name must be text")
        palette = data.get("palette")
        return cls(
            tuple(data["classes"]),
            data.get("no_finding"),
            tuple(tuple(p) for p in palette) if palette is not None else None,
        )

    @classmethod
    def from_names(cls, classes: Sequence[str], no_finding_name: str | None = "No finding") -> DatasetMeta:
        """The meta of ``classes``, with the class named ``no_finding_name`` (if present) as "no finding"."""
        classes = tuple(classes)
        return cls(classes, classes.index(no_finding_name) if no_finding_name in classes else None)


VINDR = DatasetMeta(VINDR_CLASSES, no_finding=14)
"""VinBigData / VinDr-CXR: 14 findings and "No finding" (id 14); the default everywhere."""
