"""Runner engine for custom models: the test pipeline run one transform at a time, so each image's geometry is known.

``cxrdet predict`` and ``cxrdet explain`` put what the model made on its input (a Grad-CAM or CBAM map, a
segmentation's class scores) back into the file's own pixels. The geometric steps of a test pipeline are
``Resize`` (a scale per axis) and ``CenterCrop`` (mmcv's offsets: ``round((size - crop) / 2)``); every other step
must keep the image's size (``RandomFlip`` at test time has probability 0). :class:`Geometry` records the shapes
before and after each geometric step and inverts them: the crop's box is filled in the resized image (what the
crop cut away gets zeros), then resized to the file's size (bilinear).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from cxrdet.errors import ConfigError

GEOMETRY_FREE = ("Pack", "Normalize", "RandomFlip")  # steps that keep the geometry at test time


@dataclass
class Geometry:
    """Where the model input's pixels come from in the file: the file's shape and each step's shapes."""

    file_shape: tuple[int, int]
    steps: list[tuple[str, tuple[int, int], tuple[int, int]]] = field(default_factory=list)

    def to_file(self, heat: np.ndarray) -> np.ndarray:
        """A map over the model input -> the same map over the file's pixels (zeros where nothing was seen)."""
        import cv2

        out = np.asarray(heat, dtype=np.float32)
        for kind, before, after in reversed(self.steps):
            if kind == "crop":
                canvas = np.zeros(before, dtype=np.float32)
                y1 = max(0, round((before[0] - after[0]) / 2.0))
                x1 = max(0, round((before[1] - after[1]) / 2.0))
                resized = cv2.resize(out, (after[1], after[0]), interpolation=cv2.INTER_LINEAR)
                canvas[y1 : y1 + after[0], x1 : x1 + after[1]] = resized
                out = canvas
            else:
                out = cv2.resize(out, (before[1], before[0]), interpolation=cv2.INTER_LINEAR)
        if out.shape != tuple(self.file_shape):
            out = cv2.resize(out, (self.file_shape[1], self.file_shape[0]), interpolation=cv2.INTER_LINEAR)
        return out


@dataclass
class Traced:
    """One image through the test pipeline: the packed model input, the image as loaded, its geometry (None with
    ``problem`` saying which step cannot be inverted)."""

    packed: dict
    image: np.ndarray
    geometry: Geometry | None
    problem: str | None = None


class TracedPipeline:
    """A config's test pipeline that records each image's :class:`Geometry`; called like mmengine's ``Compose``.

    Args:
        cfg: the config (its test pipeline and ``default_scope``).
    """

    def __init__(self, cfg) -> None:
        from mmengine.registry import DefaultScope

        import cxrdet.datasets  # noqa: F401 - registers cxrdet's transforms
        from cxrdet.engines.runner.model import test_pipeline_steps
        from cxrdet.registry import TRANSFORMS

        with DefaultScope.overwrite_default_scope(str(cfg.get("default_scope") or "cxrdet")):
            self.steps = [
                (str(step.get("type")), TRANSFORMS.build(copy.deepcopy(step))) for step in test_pipeline_steps(cfg)
            ]

    def trace(self, results: dict) -> Traced:
        """Runs every step on ``results`` (``img_path``, ``img_id``).

        Raises:
            ConfigError: the pipeline loads no image, or a step drops the image (returns None).
        """
        image, geometry, problem = None, None, None
        for kind, step in self.steps:
            before = results["img"].shape[:2] if "img" in results else None
            results = step(results)
            if results is None:
                raise ConfigError(f"the test pipeline's {kind} dropped the image")
            if image is None and "img" in results:
                image = np.array(results["img"], copy=True)
                geometry = Geometry(tuple(image.shape[:2]))
                continue
            if "img" not in results or before is None:
                continue  # the packing step
            after = tuple(results["img"].shape[:2])
            if kind.endswith("Resize"):
                geometry.steps.append(("resize", tuple(before), after))
            elif kind.endswith("CenterCrop"):
                geometry.steps.append(("crop", tuple(before), after))
            elif not any(k in kind for k in GEOMETRY_FREE) and after != tuple(before):
                problem = f"cannot map the model's maps back through the test pipeline's {kind}"
        if image is None or geometry is None:
            raise ConfigError("the test pipeline loads no image")
        return Traced(results, image, None if problem else geometry, problem)

    def __call__(self, results: dict) -> dict:
        """The packed input; its data sample's metainfo gets ``file_geometry`` when the geometry is invertible."""
        traced = self.trace(results)
        sample = traced.packed.get("data_samples")
        if traced.geometry is not None and sample is not None and hasattr(sample, "set_metainfo"):
            sample.set_metainfo({"file_geometry": traced.geometry})
        return traced.packed
