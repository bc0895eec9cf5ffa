"""The data contract, bottom layer: per-image :class:`Detections` / :class:`GroundTruth`, many-image :class:`BoxTable`.

Boxes are always ``x_min, y_min, x_max, y_max`` in ORIGINAL image pixels (the DICOM's rows/columns),
continuous coordinates. Engines (ultralytics, mmdet) convert to these at their edge; ensembling,
evaluation and submission only ever see these types.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BOX_COLUMNS: tuple[str, ...] = ("x_min", "y_min", "x_max", "y_max")
"""Box coordinates, in this order everywhere: continuous ORIGINAL image pixels."""
PRED_COLUMNS: tuple[str, ...] = ("image_id", "class_id", "score", *BOX_COLUMNS)
"""Columns of :attr:`BoxTable.boxes` (and of a prediction file)."""
SIZE_COLUMNS: tuple[str, ...] = ("height", "width")
"""Columns of :attr:`BoxTable.images`."""
_NUM = ("class_id", "score", *BOX_COLUMNS)


def _as_boxes(boxes) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


@dataclass
class Detections:
    """Boxes predicted for one image.

    Attributes:
        image_id: the image.
        boxes: (N, 4) float64 xyxy in original pixels.
        scores: (N,) float64 confidences in [0, 1].
        labels: (N,) int64 class ids.
    """

    image_id: str
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        n = len(self.boxes)
        if len(self.scores) != n or len(self.labels) != n:
            raise ValueError(f"{self.image_id}: {n} boxes but {len(self.scores)} scores and {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass
class GroundTruth:
    """Annotated boxes of one image (already fused across readers, or one row per reader).

    Attributes:
        image_id: the image.
        boxes: (N, 4) float64 xyxy in original pixels.
        labels: (N,) int64 class ids.
    """

    image_id: str
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(self.boxes):
            raise ValueError(f"{self.image_id}: {len(self.boxes)} boxes but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.boxes)


def _empty_boxes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": pd.Series([], dtype=str),
            "class_id": np.zeros(0, np.int64),
            **{c: np.zeros(0) for c in ("score", *BOX_COLUMNS)},
        }
    )


def images_frame(ids: Iterable[str], height=None, width=None) -> pd.DataFrame:
    index = pd.Index(pd.Series(list(ids) if not isinstance(ids, pd.Index) else ids, dtype=str), name="image_id")
    n = len(index)
    h = np.full(n, np.nan) if height is None else np.asarray(height, dtype=np.float64)
    w = np.full(n, np.nan) if width is None else np.asarray(width, dtype=np.float64)
    return pd.DataFrame({"height": h, "width": w}, index=index)


@dataclass
class BoxTable:
    """Boxes of many images, plus the list of images (including those without boxes).

    Attributes:
        boxes: one row per box; columns ``image_id`` (str), ``class_id`` (int64), ``score``, ``x_min``,
            ``y_min``, ``x_max``, ``y_max`` (float64), coordinates in original pixels.
        images: index ``image_id`` (unique; every image the source lists), columns ``height``, ``width``
            (float64, NaN when unknown). When None at construction it is derived from ``boxes``.
        source: where the table came from, for messages.
    """

    boxes: pd.DataFrame = field(default_factory=_empty_boxes)
    images: pd.DataFrame = None  # None at construction: derived from boxes
    source: str = ""

    def __post_init__(self) -> None:
        b = self.boxes
        missing = [c for c in PRED_COLUMNS if c not in b.columns]
        if missing:
            raise ValueError(f"BoxTable.boxes lacks columns {missing}")
        b = b.loc[:, list(PRED_COLUMNS)]
        self.boxes = b.astype({"image_id": str, "class_id": np.int64, **{c: np.float64 for c in _NUM[1:]}}).reset_index(
            drop=True
        )
        if self.images is None:
            self.images = images_frame(pd.unique(self.boxes["image_id"]))
        else:  # cheap (one row per image): exact columns, float sizes, str index named image_id
            images = self.images.reindex(columns=list(SIZE_COLUMNS)).astype(np.float64)
            images.index = pd.Index(images.index.astype(str), name="image_id")
            if images.index.has_duplicates:
                raise ValueError("BoxTable.images: duplicate image_id")
            self.images = images

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def image_ids(self) -> pd.Index:
        """Every image of the table, in order."""
        return self.images.index

    def per_image(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """Yields ``(image_id, boxes of that image)`` for every image, empty frames included."""
        groups = self.boxes.groupby("image_id", sort=False).indices
        empty = np.zeros(0, dtype=np.intp)
        for image_id in self.images.index:
            yield image_id, self.boxes.iloc[groups.get(image_id, empty)]

    def to_detections(self) -> list[Detections]:
        """One :class:`Detections` per image (in ``images`` order)."""
        groups = self.boxes.groupby("image_id", sort=False).indices
        xyxy = self.boxes[list(BOX_COLUMNS)].to_numpy()
        scores, labels = self.boxes["score"].to_numpy(), self.boxes["class_id"].to_numpy()
        out = []
        for image_id in self.images.index:
            idx = groups.get(image_id, np.zeros(0, dtype=np.intp))
            out.append(Detections(image_id, xyxy[idx], scores[idx], labels[idx]))
        return out

    def to_ground_truth(self) -> list[GroundTruth]:
        """One :class:`GroundTruth` per image (scores dropped)."""
        return [GroundTruth(d.image_id, d.boxes, d.labels) for d in self.to_detections()]

    @classmethod
    def from_detections(
        cls, detections: Iterable[Detections | GroundTruth], sizes: pd.DataFrame | None = None, source: str = ""
    ) -> BoxTable:
        """Builds a table from per-image results (GroundTruth gets score 1).

        Args:
            detections: one item per image; images without boxes are kept in ``images``.
            sizes: optional frame indexed by image_id with ``height``/``width``.
            source: label for messages.
        """
        dets = list(detections)
        counts = np.array([len(d) for d in dets], dtype=np.intp)
        ids = [d.image_id for d in dets]
        boxes = np.concatenate([d.boxes for d in dets]) if dets else np.zeros((0, 4))
        scores = np.concatenate([getattr(d, "scores", np.ones(len(d))) for d in dets]) if dets else np.zeros(0)
        labels = np.concatenate([d.labels for d in dets]) if dets else np.zeros(0, np.int64)
        frame = pd.DataFrame(
            {
                "image_id": pd.Series(np.repeat(np.array(ids, dtype=object), counts), dtype=str),
                "class_id": labels.astype(np.int64),
                "score": scores,
                **{c: boxes[:, i] for i, c in enumerate(BOX_COLUMNS)},
            }
        )
        images = images_frame(pd.unique(pd.Series(ids, dtype=str)))
        if sizes is not None:
            images[list(SIZE_COLUMNS)] = sizes.reindex(images.index)[list(SIZE_COLUMNS)].to_numpy(np.float64)
        return cls(frame, images, source)

    @classmethod
    def empty(cls, image_ids: Iterable[str] = (), source: str = "") -> BoxTable:
        """A table with the given images and no boxes."""
        return cls(_empty_boxes(), images_frame(image_ids), source)

    @staticmethod
    def concat(tables: Iterable[BoxTable], source: str = "") -> BoxTable:
        """Stacks tables: all boxes, union of images (first known size wins)."""
        tables = list(tables)
        if not tables:
            return BoxTable(source=source)
        boxes = pd.concat([t.boxes for t in tables], ignore_index=True)
        images = pd.concat([t.images for t in tables])
        images = images.groupby(level=0, sort=False).first()
        images.index.name = "image_id"
        return BoxTable(boxes, images, source or "+".join(t.source for t in tables))

    def subset(self, image_ids: Iterable[str]) -> BoxTable:
        """The table restricted to ``image_ids`` (ids unknown to the table are added without boxes)."""
        ids = pd.Index(pd.Series(list(image_ids), dtype=str), name="image_id").drop_duplicates()
        boxes = self.boxes[self.boxes["image_id"].isin(ids)]
        images = self.images.reindex(ids)
        return BoxTable(boxes, images, self.source)
