"""YOLO inference: letterbox = Ultralytics', DICOM path = convert's PNG, boxes come back to ORIGINAL DICOM pixels."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from cxrdet.engines.yolo.frames import InferenceImages, Prepared, collate, read_dicom_png_frame, read_png, source_resize
from cxrdet.engines.yolo.letterbox import Letterbox
from cxrdet.engines.yolo.predict import PredictOptions, _assemble, append_no_finding, boxes_to_original, detections_for
from cxrdet.errors import InputError
from cxrdet.io.predictions import BoxTable
from cxrdet.io.sources import SourceImage, find_sources
from cxrdet.preprocess.geometry import Resize
from cxrdet.structures import Detections

SHAPES = [(512, 512), (2048, 1792), (832, 768), (100, 333), (333, 100), (64, 64), (1, 700), (190, 191)]


@pytest.fixture(scope="module")
def converted(example_dataset, tmp_path_factory) -> Path:
    """The session example's train DICOMs converted at 160 px (train/, with labels) and test at 160 px (test/)."""
    from cxrdet.preprocess.convert import ConvertOptions, convert

    out = tmp_path_factory.mktemp("yolo_predict")
    convert(
        ConvertOptions(
            dicom_dir=example_dataset / "train",
            labels=example_dataset / "train.csv",
            out=out / "train",
            size=160,
            folds=2,
            progress=False,
        )
    )
    convert(ConvertOptions(dicom_dir=example_dataset / "test", out=out / "test", size=160, progress=False))
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("imgsz, auto", [(640, True), (192, True), (160, False), (1024, True)])
def test_letterbox_equals_ultralytics(shape, imgsz, auto):
    from ultralytics.data.augment import LetterBox

    image = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
    reference = LetterBox((imgsz, imgsz), auto=auto, stride=32)(image=image.copy())
    ours = Letterbox.fit(*shape, imgsz, stride=32, auto=auto)
    out = ours.apply(image)
    assert out.shape == reference.shape == (ours.canvas_height, ours.canvas_width, 3)
    assert np.array_equal(out, reference)
    grey = ours.apply(image[..., 0])  # what cxrdet feeds: one grey channel, replicated later
    assert np.array_equal(grey, reference[..., 0])


@pytest.mark.parametrize("shape", SHAPES)
def test_letterbox_inverse_equals_ultralytics_scale_boxes(shape):
    import torch
    from ultralytics.utils import ops

    lb = Letterbox.fit(*shape, 192, stride=32)
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, [lb.canvas_width, lb.canvas_height], (20, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 40, (20, 2))], axis=1)
    reference = ops.scale_boxes((lb.canvas_height, lb.canvas_width), torch.tensor(boxes), shape).numpy()
    assert np.allclose(lb.boxes_to_source(boxes), reference, atol=1e-9)


def _forward(box_dicom, resize: Resize, lb: Letterbox) -> np.ndarray:
    """Independent forward map DICOM -> canvas: multiply by PNG/DICOM and letterbox/PNG sizes, add the pads."""
    b = np.asarray(box_dicom, float)
    sx = resize.width / resize.original_width * lb.new_width / lb.width
    sy = resize.height / resize.original_height * lb.new_height / lb.height
    return np.array([b[0] * sx + lb.left, b[1] * sy + lb.top, b[2] * sx + lb.left, b[3] * sy + lb.top])


def test_known_dicom_boxes_come_back_in_dicom_pixels(example_dataset):
    """Stub model: a 'detection' drawn on the canvas where a true finding lies maps back to that finding."""
    info = json.loads((example_dataset / "example_info.json").read_text())
    items = find_sources(example_dataset / "train")
    dataset = InferenceImages(items, imgsz=192, stride=32, png_size=160)
    truth = {i["image_id"]: i for i in info["images"] if i["split"] == "train" and i["findings"]}
    checked = 0
    for index, item in enumerate(items):
        if item.image_id not in truth:
            continue
        prepared = dataset[index]
        assert prepared.error is None
        assert (prepared.resize.original_height, prepared.resize.original_width) == (
            truth[item.image_id]["rows"],
            truth[item.image_id]["cols"],
        )
        boxes = np.array([f["box"] for f in truth[item.image_id]["findings"]], float)
        canvas = np.stack([_forward(b, prepared.resize, prepared.letterbox) for b in boxes])
        outputs = [np.column_stack([canvas, np.full(len(boxes), 0.9), np.arange(len(boxes))])]
        (det,) = detections_for([prepared], outputs)
        assert det.image_id == item.image_id
        assert np.allclose(det.boxes, boxes, atol=1e-6)
        assert np.array_equal(det.labels, np.arange(len(boxes))) and np.allclose(det.scores, 0.9)
        checked += 1
    assert checked >= 5


def test_hflip_outputs_map_to_the_mirrored_dicom_frame_and_tta_merges_back():
    resize = Resize(2048, 1792, 160, 140)  # non-square, scale_x != scale_y by rounding
    lb = Letterbox.fit(160, 140, 192)
    canvas_width = lb.canvas_width + 32  # the batch canvas is wider (another image of the batch)
    box = np.array([300.0, 400.0, 900.0, 1500.0])
    canvas = _forward(box, resize, lb)
    mirrored = np.array([canvas_width - canvas[2], canvas[1], canvas_width - canvas[0], canvas[3]])
    item = Prepared("img", None, lb, resize)
    (plain,) = detections_for([item], [np.array([[*canvas, 0.8, 3]])])
    (flipped,) = detections_for([item], [np.array([[*mirrored, 0.6, 3]])], canvas_width, flipped=True)
    assert np.allclose(plain.boxes, [box])
    assert np.allclose(flipped.boxes, [[1792 - box[2], box[1], 1792 - box[0], box[3]]])
    source = [SourceImage("img", Path("img.dicom"), "dicom"), SourceImage("failed", Path("f.dicom"), "dicom")]
    table = _assemble(source, [plain], [flipped], {"img": (2048, 1792)}, PredictOptions(tta=True))
    assert list(table.image_ids) == ["img", "failed"]  # every image listed, in source order
    assert len(table) == 1
    row = table.boxes.iloc[0]
    assert np.allclose(row[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float), box)
    assert row["class_id"] == 3 and row["score"] == pytest.approx(0.7)  # WBF mean of the two scores
    assert table.images.loc["img", "height"] == 2048 and np.isnan(table.images.loc["failed", "height"])


def test_boxes_are_clipped_to_the_image():
    resize, lb = Resize(1000, 500, 200, 100), Letterbox.fit(200, 100, 192)
    out = boxes_to_original([[-50, -50, 500, 500]], lb, resize)
    assert np.allclose(out, [[0, 0, 500, 1000]])


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_dicom_path_equals_the_converted_png(example_dataset, tmp_path, bit_depth):
    """Every encoding of the example (RLE, JPEG-LS, J2K, MONOCHROME1, VOI LUT...) gives convert's PNG exactly."""
    from cxrdet.preprocess.images import ConvertTask, dicom_to_png

    for path in sorted((example_dataset / "train").glob("*.dicom")):
        record = dicom_to_png(ConvertTask(path, path.stem, tmp_path, 160, bit_depth))
        png = read_png(tmp_path / record["file"])
        ultralytics_view = cv2.imread(str(tmp_path / record["file"]), cv2.IMREAD_COLOR)  # how training reads it
        image, resize = read_dicom_png_frame(path, 160, bit_depth)
        assert image.dtype == np.uint8 and np.array_equal(image, png), path.name
        assert all(np.array_equal(ultralytics_view[..., c], image) for c in range(3))
        assert (resize.scale_x, resize.scale_y) == (record["scale_x"], record["scale_y"])


def test_find_sources_layouts(converted, example_dataset, tmp_path):
    dicoms = find_sources(example_dataset / "test")
    assert [s.kind for s in dicoms] == ["dicom"] * 4 and dicoms == sorted(dicoms, key=lambda s: s.image_id)
    pngs = find_sources(converted / "test")
    assert [s.image_id for s in pngs] == [s.image_id for s in dicoms]
    assert find_sources(converted / "test" / "images") == pngs
    meta = pd.read_csv(converted / "test" / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    for s in pngs:
        assert s.kind == "png" and s.path.is_file()
        sizes = tuple(meta.loc[s.image_id, ["original_height", "original_width", "height", "width"]])
        assert (s.original_height, s.original_width, s.height, s.width) == sizes
        assert source_resize(s) == Resize(*sizes)
    val = find_sources(converted / "train" / "yolo" / "fold0" / "val.txt")
    listed = (converted / "train" / "yolo" / "fold0" / "val.txt").read_text().split()
    assert sorted(Path(p).stem for p in listed) == [s.image_id for s in val]
    with pytest.raises(InputError, match=r"no \.dcm/\.dicom files"):
        find_sources(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        find_sources(tmp_path / "missing")


def test_collate_pads_bottom_right_and_keeps_failures(converted):
    items = find_sources(converted / "test")[:3]
    dataset = InferenceImages(items, imgsz=192, stride=32, png_size=160)
    prepared = [dataset[i] for i in range(3)] + [Prepared("bad", None, None, None, "cannot decode")]
    shapes = [p.image.shape for p in prepared[:3]]
    copies = [p.image.copy() for p in prepared[:3]]
    batch, out = collate(prepared)
    assert batch.shape == (3, max(s[0] for s in shapes), max(s[1] for s in shapes))
    for i, (h, w) in enumerate(shapes):
        assert np.array_equal(batch[i, :h, :w], copies[i])
        assert (batch[i, h:, :] == 114).all() and (batch[i, :, w:] == 114).all()
    assert [p.image_id for p in out] == [p.image_id for p in prepared] and out[3].error == "cannot decode"


def test_append_no_finding_scores_one_minus_the_top_finding():
    dets = [
        Detections("a", [[0, 0, 5, 5], [1, 1, 4, 4]], [0.3, 0.9], [0, 8]),
        Detections("b"),
        Detections("c", [[0, 0, 1, 1]], [0.5], [14]),
    ]
    out = append_no_finding(BoxTable.from_detections(dets))
    normal = out.boxes[out.boxes["class_id"] == 14].set_index("image_id")["score"]
    assert normal.to_dict() == pytest.approx({"a": 0.1, "b": 1.0, "c": 1.0})  # c's own class-14 row replaced
    assert len(out) == 2 + 3 and list(out.image_ids) == ["a", "b", "c"]
    normal_boxes = out.boxes.loc[out.boxes["class_id"] == 14, ["x_min", "y_min", "x_max", "y_max"]]
    assert (normal_boxes == [0, 0, 1, 1]).all().all()


@pytest.fixture(scope="module")
def untrained(converted, tmp_path_factory) -> Path:
    from cxrdet.engines.yolo.checkpoints import untrained_checkpoint
    from cxrdet.engines.yolo.config import resolve_config

    cfg = resolve_config(
        Path(__file__).parents[2] / "configs" / "yolo" / "yolov5n_192-e20_example.py", ["ultralytics.imgsz=128"]
    )
    return untrained_checkpoint(cfg, tmp_path_factory.mktemp("untrained") / "untrained.pt", png_size=160)


def test_predict_dicoms_equals_predict_pngs_and_lists_every_image(untrained, converted, example_dataset, tmp_path):
    """A random-weight model with conf 0 gives many boxes: DICOM and PNG sources must give the same ones."""
    from cxrdet.engines.yolo.predict import predict

    opts = PredictOptions(conf=0.0, max_det=20, batch=3, workers=1, progress=False)
    from_dicom = predict(untrained, find_sources(example_dataset / "test"), opts)
    from_png = predict(untrained, find_sources(converted / "test"), PredictOptions(**{**opts.__dict__, "workers": 0}))
    assert from_dicom.settings == {"imgsz": 128, "png_size": 160, "bit_depth": 8}
    assert len(from_dicom.table) == 4 * 20 and not from_dicom.failures
    pd.testing.assert_frame_equal(from_dicom.table.boxes, from_png.table.boxes)
    pd.testing.assert_frame_equal(from_dicom.table.images, from_png.table.images)
    meta = pd.read_csv(converted / "test" / "meta.csv", dtype={"image_id": str}).set_index("image_id")
    sizes = from_dicom.table.images
    assert (sizes["height"] == meta.loc[sizes.index, "original_height"]).all()
    b = from_dicom.table.boxes.merge(sizes, left_on="image_id", right_index=True)
    assert (b["x_min"] >= 0).all() and (b["x_max"] <= b["width"]).all() and (b["y_max"] <= b["height"]).all()
    default = predict(untrained, find_sources(example_dataset / "test"), PredictOptions(progress=False))
    assert len(default.table.images) == 4 and default.settings["imgsz"] == 128


def test_unreadable_dicom_is_listed_and_reported(untrained, example_dataset, tmp_path):
    from cxrdet.engines.yolo.predict import predict

    source = tmp_path / "dicoms"
    shutil.copytree(example_dataset / "test", source)
    (source / "broken.dicom").write_bytes(b"DICM but not really")
    result = predict(untrained, find_sources(source), PredictOptions(conf=0.0, max_det=5, progress=False))
    assert set(result.failures) == {"broken"}
    assert "broken" in result.table.image_ids and len(result.table.image_ids) == 5
    assert not (result.table.boxes["image_id"] == "broken").any()


class PanicException(BaseException):
    """pyo3's PanicException (a Rust decoder's panic) derives from BaseException."""


def _hostile_frame(abort_id: str, panic_id: str):
    import cxrdet.engines.yolo.frames as sources

    real = sources.read_dicom_png_frame

    def frame(path, png_size, bit_depth=8):
        if Path(path).stem == abort_id:
            os.abort()
        if Path(path).stem == panic_id:
            raise PanicException("index out of bounds")
        return real(path, png_size, bit_depth)

    return frame


@pytest.mark.parametrize("workers", [1, 2])
def test_a_crashing_decoder_costs_its_image_only(untrained, example_dataset, tmp_path, monkeypatch, workers):
    """An injected decoder that aborts (SIGABRT) and one that raises a BaseException: predict goes on."""
    import cxrdet.engines.yolo.frames as sources
    from cxrdet.engines.yolo.predict import predict

    ids = sorted(p.stem for p in (example_dataset / "test").glob("*.dicom"))
    monkeypatch.setattr(sources, "read_dicom_png_frame", _hostile_frame(ids[0], ids[2]))
    result = predict(
        untrained,
        find_sources(example_dataset / "test"),
        PredictOptions(conf=0.0, max_det=5, batch=2, workers=workers, progress=False),
    )
    assert result.failures == {
        ids[0]: "decoder crashed: SIGABRT in the worker process",
        ids[2]: "decoder crashed: PanicException raised in the worker process",
    }
    assert list(result.table.image_ids) == ids  # every image listed, the failed ones without boxes
    per_image = result.table.boxes.groupby("image_id").size()
    assert set(per_image.index) == {ids[1], ids[3]} and (per_image == 5).all()


def test_cli_lists_unreadable_images_beside_the_predictions_and_submit_warns(
    untrained, example_dataset, tmp_path, caplog
):
    from cxrdet.cli import main

    source = tmp_path / "dicoms"
    shutil.copytree(example_dataset / "test", source)
    (source / "broken.dicom").write_bytes(b"DICM but not really")
    out = tmp_path / "pred.csv"
    assert (
        main(
            [
                "predict",
                str(untrained),
                "--source",
                str(source),
                "-o",
                str(out),
                "--conf",
                "0.0",
                "--max-det",
                "3",
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 1
    )
    failures = pd.read_csv(tmp_path / "pred.failures.csv")
    assert failures["image_id"].tolist() == ["broken"] and "not a DICOM file" in failures["reason"][0]
    ids = sorted(p.stem for p in source.glob("*.dicom"))
    pd.DataFrame({"image_id": ids, "PredictionString": "14 1 0 0 1 1"}).to_csv(tmp_path / "sample.csv", index=False)
    caplog.clear()
    assert main(["submit", str(out), "--sample", str(tmp_path / "sample.csv"), "-o", str(tmp_path / "sub.csv")]) == 0
    assert "1 images could not be read when predicting" in caplog.text
    submission = pd.read_csv(tmp_path / "sub.csv").set_index("image_id")["PredictionString"]
    assert sorted(submission.index) == ids  # exactly one row per sample image
    assert submission["broken"] == "14 1 0 0 1 1" and (submission.drop("broken").str.split().str.len() == 18).all()
