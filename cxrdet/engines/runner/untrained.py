"""Runner engine, a baseline: the config's detector with its initial weights, saved as a checkpoint predict reads.

``cxrdet demo`` scores it beside the trained model, so that "the model learned" is a measured gap rather
than a claim. The weights are what the model's own ``init_weights`` gives under the config's seed (no
pretrained file is read: ``Pretrained`` init configs are dropped); the file records what a checkpoint of
``cxrdet train`` records (``meta['cxrdet']``: PNG size, bit depth, the class list) and is weights-only, so
torch's safe ``weights_only=True`` loads it.
"""

from __future__ import annotations

from pathlib import Path


def write_untrained_checkpoint(runner_cfg, record: dict, out: str | Path) -> Path:
    """Writes the initialised (untrained) model of ``runner_cfg`` to ``out``; returns ``out``.

    Args:
        runner_cfg: the loaded mmengine ``Config`` of an mmdet detector.
        record: what cxrdet's checkpoints record (:meth:`MMDetEngine.record`).
        out: the ``.pth`` to write (its folder is created; an existing file is replaced atomically).
    """
    import torch

    from cxrdet.engines.runner.model import build_detector
    from cxrdet.io.atomic import atomic_path
    from cxrdet.structures import DatasetMeta

    seed = (runner_cfg.get("randomness") or {}).get("seed")
    torch.manual_seed(0 if seed is None else int(seed))
    dataset = DatasetMeta.from_dict(dict(record["dataset"]))
    model = build_detector(runner_cfg, len(dataset.finding_classes))  # as training does
    model.init_weights()
    classes = [dataset.name(c) for c in dataset.finding_classes]
    meta = {"cxrdet": dict(record, split="untrained"), "dataset_meta": {"classes": classes}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
    return out
