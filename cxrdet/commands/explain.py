"""``cxrdet explain``: Grad-CAM overlays and CBAM attention maps of an image-level model (and a segmentation model's
predicted mask over the image), in each image's geometry."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = (
    "Grad-CAM overlays (classifiers, TJ-Net, segmentation) and CBAM attention maps of images (and a segmentation's "
    "mask over them), as PNGs of each image's own size"
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cxrdet explain``."""
    parser.add_argument("config", help="the config the checkpoint was trained with (an engine='mmengine' config)")
    parser.add_argument("checkpoint", help="a local checkpoint written by cxrdet train")
    parser.add_argument("images", nargs="+", help="PNG/JPEG/DICOM files or folders of them")
    parser.add_argument("-o", "--out", required=True, type=Path, help="folder for the PNGs and explain.csv")
    parser.add_argument(
        "--target-class",
        type=int,
        help="class index Grad-CAM explains (None: each image's predicted class; bone age: the predicted age)",
    )
    parser.add_argument("--alpha", type=float, default=0.45, help="opacity of the heat map over the image")
    parser.add_argument("--no-cbam", action="store_true", help="only Grad-CAM, no CBAM attention maps")
    parser.add_argument("--device", help="cpu, 0, cuda:0 ... (None: a GPU if there is one)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out folder")


def run(args: argparse.Namespace) -> int:
    """Writes ``<id>_gradcam.png`` (and ``<id>_cbam<k>.png`` per CBAM module; ``<id>_mask.png``, the predicted
    foreground over the image, for a segmentation model) per image plus ``explain.csv``."""
    import pandas as pd
    from mmengine.dataset import pseudo_collate

    from cxrdet.config import resolve_path
    from cxrdet.engines.base import engine_of_config
    from cxrdet.engines.runner.explain import display_image, run_pipeline, score_function
    from cxrdet.engines.runner.seg_masks import mask_in_file
    from cxrdet.engines.runner.task_model import prediction_rows
    from cxrdet.errors import ConfigError, CxrdetError, InputError
    from cxrdet.io.atomic import write_csv
    from cxrdet.io.outputs import check_output_dir
    from cxrdet.io.overlays import overlay_heatmap, write_png_atomic
    from cxrdet.models.gradcam import cbam_maps, grad_cam

    if not 0.0 <= args.alpha <= 1.0:
        raise ConfigError(f"--alpha {args.alpha}: expected a value in [0, 1]")
    engine = engine_of_config(resolve_path(args.config), {"device": args.device} if args.device else None)
    if engine.name != "mmengine":
        raise ConfigError(f"{args.config}: explain needs an image-level model (engine='mmengine'), not {engine.name!r}")
    check_output_dir(args.out, "--out", inputs=[args.config, args.checkpoint, *args.images])
    if args.out.is_dir() and any(args.out.iterdir()) and not args.overwrite:
        raise InputError(args.out, "is not empty; give --overwrite to replace the maps in it")
    items = [item for source in args.images for item in engine.sources(source)]
    model = engine.load_model(args.checkpoint, args.device)
    classes = engine.classes(args.checkpoint)
    layer = model.cam_layer
    rows, failed = [], 0
    args.out.mkdir(parents=True, exist_ok=True)
    for item in items:
        try:
            packed, image, geometry = run_pipeline(engine.runner_cfg, item.path, item.image_id)
        except CxrdetError as err:
            log.warning("%s: not explained: %s", item.path, err)
            failed += 1
            continue
        data = model.data_preprocessor(pseudo_collate([packed]), False)
        inputs = data["inputs"]
        cam = grad_cam(model, inputs, layer=layer, score_fn=score_function(None, args.target_class))[0]
        shown = display_image(image)
        written = [args.out / f"{item.image_id}_gradcam.png"]
        write_png_atomic(written[0], overlay_heatmap(shown, geometry.to_file(cam.detach().cpu().numpy()), args.alpha))
        if not args.no_cbam:
            for k, attention in enumerate(cbam_maps(model)):
                heat = attention[0, 0].detach().cpu().numpy()
                path = args.out / f"{item.image_id}_cbam{k + 1}.png"
                write_png_atomic(path, overlay_heatmap(shown, geometry.to_file(heat), args.alpha))
                written.append(path)
        samples = model.test_step(pseudo_collate([packed]))
        row = prediction_rows(samples, classes)[0]
        scores = samples[0].get("pred_mask_score")
        if scores is not None:  # a segmentation: the predicted foreground (any class but 0) over the image
            foreground = (mask_in_file(scores, geometry) > 0).astype("float32")
            path = args.out / f"{item.image_id}_mask.png"
            write_png_atomic(path, overlay_heatmap(shown, foreground, args.alpha))
            written.append(path)
        row["files"] = " ".join(p.name for p in written)
        rows.append(row)
    if rows:
        write_csv(args.out / "explain.csv", pd.DataFrame(rows))
    print(f"explained {len(rows)} of {len(items)} images -> {args.out}" + (f" ({failed} not read)" if failed else ""))
    return 1 if failed else 0
