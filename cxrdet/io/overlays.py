"""Heat-map overlays and atomic PNG writes: the image files that ``cxrdet explain`` (Grad-CAM, CBAM attention)
and the synthetic example generators write.

A heat map (a model's low-resolution attention, values in [0, 1]) is resized to the image's own geometry
(bilinear, OpenCV), coloured with OpenCV's JET colour map and blended over the grey image with a per-pixel weight
``alpha x heat``: where the heat is 0 the pixel is the grey image's, where it is 1 it is ``alpha`` colour.
Colour arrays are in OpenCV's channel order (B, G, R), which :func:`write_png_atomic` (``cv2.imencode``) expects.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from cxrdet.io.atomic import write_bytes


def _grey_unit(image: np.ndarray) -> np.ndarray:
    """``image`` as float32 in [0, 1]: uint8 / 255, uint16 / 65535, floats as they are when within [0, 1],
    else min-max scaled (a constant image becomes 0)."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if image.dtype.kind != "f":
        raise ValueError(f"the image must be uint8, uint16 or float, got {image.dtype}")
    img = np.nan_to_num(image.astype(np.float32))
    lo, hi = float(img.min()), float(img.max())
    if lo >= 0.0 and hi <= 1.0:
        return img
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def overlay_heatmap(image: np.ndarray, heat, alpha: float = 0.5) -> np.ndarray:
    """Blend a coloured heat map over a grey image, in the image's own geometry.

    Args:
        image: grey image ``H x W`` (or ``H x W x 1``): uint8, uint16 or float (see the scaling above); an
            ``H x W x 3`` array is taken as a B, G, R colour image.
        heat: ``h x w`` map in [0, 1] (numpy or a torch tensor; values are clipped, NaN counts as 0), resized to
            ``H x W`` with bilinear interpolation.
        alpha: weight of the colour where the heat is 1 (0..1).

    Returns:
        ``uint8`` array ``H x W x 3`` (B, G, R).

    Raises:
        ValueError: a bad image or heat shape, dtype, or ``alpha``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        base = np.repeat(_grey_unit(image)[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 3:
        base = _grey_unit(image)
    else:
        raise ValueError(f"the image must be H x W, H x W x 1 or H x W x 3, got shape {image.shape}")
    if hasattr(heat, "detach"):  # a torch tensor
        heat = heat.detach().cpu().numpy()
    heat = np.asarray(heat, dtype=np.float32)
    heat = heat.reshape(heat.shape[-2:]) if heat.ndim > 2 and all(s == 1 for s in heat.shape[:-2]) else heat
    if heat.ndim != 2 or min(heat.shape) < 1:
        raise ValueError(f"the heat map must be h x w, got shape {heat.shape}")
    height, width = base.shape[:2]
    heat = np.clip(np.nan_to_num(heat, nan=0.0), 0.0, 1.0)
    heat = np.clip(cv2.resize(heat, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    colour = cv2.applyColorMap(np.rint(heat * 255).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32) / 255.0
    weight = (alpha * heat)[:, :, None]
    blended = base * (1.0 - weight) + colour * weight
    return np.clip(np.rint(blended * 255), 0, 255).astype(np.uint8)


def write_png_atomic(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (uint8 or uint16; ``H x W`` grey or ``H x W x 3`` B, G, R) as a PNG, atomically.

    Raises:
        ValueError: an array OpenCV cannot encode as PNG.
    """
    array = np.ascontiguousarray(array)
    if array.dtype not in (np.uint8, np.uint16) or array.ndim not in (2, 3):
        raise ValueError(f"a PNG needs a 2-D or H x W x 3 uint8/uint16 array, got {array.dtype} {array.shape}")
    ok, data = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {array.dtype} {array.shape} array as PNG for {path}")
    write_bytes(path, data.tobytes())
