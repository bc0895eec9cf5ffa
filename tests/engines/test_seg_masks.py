"""Predicted masks back in the file's geometry (``cxrdet.engines.runner.seg_masks``): a resize is undone (a mask of
the file's size, the class boundary where the scores cross), what a centre crop cut away is background, and the
PNG writer refuses to mix runs without --overwrite; TracedPipeline records the geometry the masks need."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from cxrdet.engines.runner.seg_masks import mask_in_file, masks_folder, write_masks
from cxrdet.engines.runner.traced_pipeline import Geometry, TracedPipeline
from cxrdet.errors import InputError


def test_resize_undone_with_the_boundary_where_the_scores_cross():
    scores = np.zeros((2, 4, 4), np.float32)
    scores[0, :, :2], scores[1, :, 2:] = 1.0, 1.0  # left half background, right half lesion
    mask = mask_in_file(torch.from_numpy(scores), Geometry((8, 12), [("resize", (8, 12), (4, 4))]))
    assert mask.shape == (8, 12) and mask.dtype == np.uint8
    expected = np.zeros((8, 12), np.uint8)
    expected[:, 6:] = 1  # columns 0-5 map to the left half, 6-11 to the right
    np.testing.assert_array_equal(mask, expected)


def test_what_the_crop_cut_away_is_background():
    scores = np.zeros((2, 2, 2), np.float32)
    scores[1] = 1.0  # lesion everywhere the model saw
    geometry = Geometry((12, 12), [("crop", (12, 12), (4, 4))])  # the central 4 x 4 of the file
    mask = mask_in_file(scores, geometry)
    expected = np.zeros((12, 12), np.uint8)
    expected[4:8, 4:8] = 1
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(ValueError, match="C x h x w"):
        mask_in_file(np.zeros((4, 4)), geometry)


def test_mask_files_and_overwrite(tmp_path):
    folder = masks_folder(tmp_path / "pred.csv")
    assert folder == tmp_path / "pred_masks"
    write_masks(folder, {"a": np.eye(3, dtype=np.uint8)})
    np.testing.assert_array_equal(cv2.imread(str(folder / "a.png"), cv2.IMREAD_UNCHANGED), np.eye(3))
    with pytest.raises(InputError, match="holds masks already"):
        write_masks(folder, {"b": np.zeros((2, 2), np.uint8)})
    write_masks(folder, {"b": np.zeros((2, 2), np.uint8)}, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["b.png"]  # the old run's masks are gone


def test_traced_pipeline_records_resize_and_crop(tmp_path):
    from mmengine.config import Config

    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((30, 50), np.uint8))
    cfg = Config(
        dict(
            default_scope="cxrdet",
            test_dataloader=dict(
                dataset=dict(
                    pipeline=[
                        dict(type="LoadMedicalImage"),
                        dict(type="LoadMaskFromFile"),
                        dict(type="Resize", scale=(20, 10), keep_ratio=False),
                        dict(type="CenterCrop", crop_size=(8, 6)),
                        dict(type="PackMedicalInputs"),
                    ]
                )
            ),
        )
    )
    packed = TracedPipeline(cfg)({"img_path": str(tmp_path / "x.png"), "img_id": "x"})
    geometry = packed["data_samples"].metainfo["file_geometry"]
    assert geometry.file_shape == (30, 50)
    assert geometry.steps == [("resize", (30, 50), (10, 20)), ("crop", (10, 20), (6, 8))]
    assert "gt_mask" not in packed["data_samples"]  # no mask at prediction time
