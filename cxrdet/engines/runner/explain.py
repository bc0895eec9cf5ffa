"""Runner engine for custom models, explanations: Grad-CAM and CBAM attention maps in each image's own geometry.

An image goes through the config's test pipeline one transform at a time, so that its geometry is known:
``Resize`` (a scale per axis) and ``CenterCrop`` (mmcv's offsets: ``round((size - crop) / 2)``). A map made
on the model input (Grad-CAM of :func:`cxrdet.models.gradcam.grad_cam` on the model's ``cam_layer``, or a
CBAM spatial attention) is put back where its pixels came from: into the crop's box of the resized image,
then resized to the file's own size; what the crop cut away gets no heat. The overlays
(:func:`cxrdet.io.overlays.overlay_heatmap`) are PNGs of the original image's size.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cxrdet.errors import ConfigError

GEOMETRY_FREE = ("Pack", "Normalize", "RandomFlip")  # steps that keep the geometry at test time (flip: prob 0)


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


def run_pipeline(cfg, path: str | Path, image_id: str) -> tuple[dict, np.ndarray, Geometry]:
    """The packed model input of one image, the file's grey image as loaded, and its :class:`Geometry`.

    Raises:
        ConfigError: a geometric step explain cannot invert.
    """
    from mmengine.registry import DefaultScope

    import cxrdet.datasets  # noqa: F401 - registers cxrdet's transforms
    from cxrdet.engines.runner.model import test_pipeline_steps
    from cxrdet.registry import TRANSFORMS

    results: dict = {"img_path": str(path), "img_id": str(image_id)}
    image = None
    geometry = None
    with DefaultScope.overwrite_default_scope(str(cfg.get("default_scope") or "cxrdet")):
        for step_cfg in test_pipeline_steps(cfg):
            kind = str(step_cfg.get("type"))
            step = TRANSFORMS.build(copy.deepcopy(step_cfg))
            before = results["img"].shape[:2] if "img" in results else None
            results = step(results)
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
                raise ConfigError(f"explain: cannot map the maps back through the test pipeline's {kind}")
    if image is None or geometry is None:
        raise ConfigError("explain: the test pipeline loads no image")
    return results, image, geometry


def score_function(output, target: int | None):
    """What Grad-CAM explains: a classifier's class logit (``target``, else the predicted class) or, for a
    bone-age model (a dict with ``age_logits``), the expected age."""
    import torch

    def score(out) -> torch.Tensor:
        if isinstance(out, dict):
            logits = out["age_logits"]
            from cxrdet.models.bone_age.age_bins import class_centres

            centres = torch.as_tensor(class_centres(), dtype=logits.dtype, device=logits.device)
            return (logits.softmax(dim=1) * centres).sum(dim=1)
        index = out.argmax(dim=1) if target is None else torch.full_like(out[:, 0], int(target), dtype=torch.long)
        return out.gather(1, index.view(-1, 1)).squeeze(1)

    return score


def grey_for_display(image: np.ndarray) -> np.ndarray:
    """A loaded image (float [0, 1], 1 or 3 channels) -> 2-D float [0, 1]."""
    grey = image[..., 0] if image.ndim == 3 else image
    return np.clip(grey.astype(np.float32), 0.0, 1.0)
