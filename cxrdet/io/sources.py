"""Pipeline inputs: which images a command reads (a DICOM folder, a convert folder, a list of its PNGs).

Used by ``convert`` (:func:`find_dicoms`) and by every engine's prediction (:func:`find_sources`). Sizes are
plain ints here; engines build their own geometry from them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxrdet.errors import InputError

DICOM_SUFFIXES = (".dcm", ".dicom")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", *DICOM_SUFFIXES)  # what image-level models read (find_images)


@dataclass(frozen=True)
class SourceImage:
    """One image to predict.

    Attributes:
        image_id: the DICOM's file stem.
        path: a DICOM file or a converted PNG.
        kind: ``"dicom"`` or ``"png"`` (:func:`find_images`: ``"dicom"`` or ``"image"``).
        original_height, original_width: the DICOM's size, for PNGs (from ``meta.csv``); None for DICOMs.
        height, width: the PNG's size, for PNGs (from ``meta.csv``); None for DICOMs.
    """

    image_id: str
    path: Path
    kind: str
    original_height: int | None = None
    original_width: int | None = None
    height: int | None = None
    width: int | None = None


def find_dicoms(dicom_dir: Path) -> list[Path]:
    """The ``.dcm``/``.dicom`` files directly in ``dicom_dir``, sorted; image ids (stems) must be unique.

    Raises:
        InputError: no such folder, no DICOM in it, or two files with one stem.
    """
    dicom_dir = Path(dicom_dir)
    if not dicom_dir.is_dir():
        raise InputError(dicom_dir, "DICOM folder not found")
    files = sorted(p for p in dicom_dir.iterdir() if p.suffix.lower() in DICOM_SUFFIXES and p.is_file())
    if not files:
        raise InputError(dicom_dir, f"no {'/'.join(DICOM_SUFFIXES)} files in the folder")
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise InputError(dicom_dir, f"two files share one image id (file stem): {seen[f.stem].name}, {f.name}")
        seen[f.stem] = f
    return files


def _meta_sources(root: Path, ids: list[str] | None = None) -> list[SourceImage]:
    meta = pd.read_csv(root / "meta.csv", dtype={"image_id": str})
    need = {"image_id", "file", "original_height", "original_width", "height", "width"}
    if not need <= set(meta.columns):
        raise InputError(root / "meta.csv", f"needs columns {sorted(need)}", row=1)
    if ids is not None:
        meta = meta.set_index("image_id", drop=False)
        unknown = [i for i in ids if i not in meta.index]
        if unknown:
            raise InputError(root / "meta.csv", f"{len(unknown)} listed images are not in it (first: {unknown[0]})")
        meta = meta.loc[ids]
    return [
        SourceImage(
            str(r.image_id),
            root / r.file,
            "png",
            int(r.original_height),
            int(r.original_width),
            int(r.height),
            int(r.width),
        )
        for r in meta.itertuples(index=False)
    ]


def find_sources(source: str | os.PathLike) -> list[SourceImage]:
    """The images under ``source``, sorted by image id.

    ``source`` is one of: a folder of ``.dcm``/``.dicom`` files; a ``cxrdet convert`` output folder (its
    ``meta.csv`` lists the PNGs and their original sizes) or its ``images/`` folder; a text file of PNG
    paths inside a convert folder (e.g. ``yolo/fold0/val.txt``).

    Raises:
        InputError: nothing to predict, duplicate image ids, or PNGs without their ``meta.csv``.
    """
    source = Path(source)
    if source.is_file() and source.suffix == ".txt":
        paths = [Path(line.strip()) for line in source.read_text().splitlines() if line.strip()]
        roots = {p.parent.parent for p in paths}
        if len(roots) != 1 or not (next(iter(roots)) / "meta.csv").is_file():
            raise InputError(source, "the listed PNGs must all lie in one cxrdet convert folder's images/")
        return sorted(_meta_sources(roots.pop(), [p.stem for p in paths]), key=lambda s: s.image_id)
    if not source.is_dir():
        raise InputError(source, "no such folder (expected DICOMs, a convert folder or its images/)")
    for root in (source, source.parent):
        if (root / "meta.csv").is_file() and (root / "images").is_dir() and source in (root, root / "images"):
            return sorted(_meta_sources(root), key=lambda s: s.image_id)
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in DICOM_SUFFIXES)
    if not files:
        raise InputError(source, f"no {'/'.join(DICOM_SUFFIXES)} files, and not a convert folder (no meta.csv)")
    stems = pd.Series([f.stem for f in files])
    if stems.duplicated().any():
        raise InputError(source, f"image id {stems[stems.duplicated()].iloc[0]!r} is used by two files")
    return [SourceImage(f.stem, f, "dicom") for f in files]


def find_images(source: str | os.PathLike) -> list[SourceImage]:
    """PNG/JPEG/DICOM files: ``source`` itself, or every such file under the folder ``source`` (recursively).

    Raises:
        InputError: no such file or folder, no image in it, or two files with one stem.
    """
    source = Path(source)
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        raise InputError(source, "no such file or folder")
    if not files:
        raise InputError(source, f"no {'/'.join(IMAGE_SUFFIXES)} images in it")
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise InputError(f, f"image id {f.stem!r} is also used by {seen[f.stem]}")
        seen[f.stem] = f
    return [SourceImage(f.stem, f, "dicom" if f.suffix.lower() in DICOM_SUFFIXES else "image") for f in files]
