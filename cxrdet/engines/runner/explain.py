"""Runner engine for custom models, explanations: Grad-CAM and CBAM attention maps in each image's own geometry.

An image goes through the config's test pipeline one transform at a time, so that its geometry is known:
``Resize`` (a scale per axis) and ``CenterCrop`` (mmcv's offsets: ``round((size - crop) / 2)``). A map made
on the model input (Grad-CAM of :func:`cxrdet.models.gradcam.grad_cam` on the model's ``cam_layer``, or a
CBAM spatial attention) is put back where its pixels came from: into the crop's box of the resized image,
then resized to the file's own size; what the crop cut away gets no heat. The overlays
(:func:`cxrdet.io.overlays.overlay_heatmap`) are PNGs of the original image's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cxrdet.engines.runner.traced_pipeline import GEOMETRY_FREE, Geometry, TracedPipeline
from cxrdet.errors import ConfigError

__all__ = ["GEOMETRY_FREE", "Geometry", "display_image", "grey_for_display", "run_pipeline", "score_function"]


def run_pipeline(cfg, path: str | Path, image_id: str) -> tuple[dict, np.ndarray, Geometry]:
    """The packed model input of one image, the file's image as loaded, and its :class:`Geometry`.

    Raises:
        ConfigError: a geometric step explain cannot invert, or a pipeline that loads no image.
    """
    traced = TracedPipeline(cfg).trace({"img_path": str(path), "img_id": str(image_id)})
    if traced.geometry is None:
        raise ConfigError(f"explain: {traced.problem}")
    return traced.packed, traced.image, traced.geometry


def _segmentation_score(logits, target: int | None):
    """Seg-Grad-CAM's score (Vinogradova et al., 2020) of ``B x C x H x W`` logits: the logits of class ``target``
    (None: the foreground class with the most predicted pixels, class 1 when none has any) summed over the pixels
    predicted as that class (over every pixel when there is none), divided by ``H x W``."""
    import torch

    batch, classes, height, width = logits.shape
    predicted = logits.argmax(dim=1)
    if target is None:
        counts = torch.stack([(predicted == c).flatten(1).sum(1) for c in range(classes)], dim=1)
        if classes > 1:
            counts[:, 0] = -1  # background is not explained
        chosen = counts.argmax(dim=1)
        chosen = torch.where(counts.amax(dim=1) > 0, chosen, torch.full_like(chosen, min(1, classes - 1)))
    else:
        chosen = torch.full((batch,), int(target), dtype=torch.long, device=logits.device)
    logit = logits.gather(1, chosen.view(-1, 1, 1, 1).expand(-1, 1, height, width)).squeeze(1)
    region = (predicted == chosen.view(-1, 1, 1)).to(logits.dtype)
    empty = region.flatten(1).sum(1) == 0
    region = torch.where(empty.view(-1, 1, 1), torch.ones_like(region), region)
    return (logit * region).flatten(1).sum(1) / (height * width)


def score_function(output, target: int | None):
    """What Grad-CAM explains: a classifier's class logit (``target``, else the predicted class); for a bone-age
    model (a dict with ``age_logits``) the expected age; for a segmentation model (``B x C x H x W`` logits) the
    class's logits over its predicted region (:func:`_segmentation_score`)."""
    import torch

    def score(out) -> torch.Tensor:
        if isinstance(out, dict):
            logits = out["age_logits"]
            from cxrdet.models.bone_age.age_bins import class_centres

            centres = torch.as_tensor(class_centres(), dtype=logits.dtype, device=logits.device)
            return (logits.softmax(dim=1) * centres).sum(dim=1)
        if out.dim() == 4:
            return _segmentation_score(out, target)
        index = out.argmax(dim=1) if target is None else torch.full_like(out[:, 0], int(target), dtype=torch.long)
        return out.gather(1, index.view(-1, 1)).squeeze(1)

    return score


def grey_for_display(image: np.ndarray) -> np.ndarray:
    """A loaded image (float [0, 1], 1 or 3 channels) -> 2-D float [0, 1]."""
    grey = image[..., 0] if image.ndim == 3 else image
    return np.clip(grey.astype(np.float32), 0.0, 1.0)


def display_image(image: np.ndarray) -> np.ndarray:
    """A loaded image -> what the overlays are drawn on: 2-D grey float [0, 1] (one channel, or equal channels), or
    ``H x W x 3`` float B, G, R for a colour image loaded as R, G, B (``LoadMedicalImage(colour=True)``)."""
    if (
        image.ndim == 3
        and image.shape[2] == 3
        and not (np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]))
    ):
        return np.clip(np.ascontiguousarray(image[..., ::-1], dtype=np.float32), 0.0, 1.0)
    return grey_for_display(image)
