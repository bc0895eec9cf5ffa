"""Feature GAN, from step 1 to step 2: step 1's checkpoint -> the frozen extractor and the classifier's weights.

Step 1 is an ``ImageClassifier(backbone=GanFeatureExtractor, head=FeatureGanHead)``; its state dict holds
``backbone.trunk.*`` (rows 2-15), ``backbone.top.*`` (rows 16-18) and ``head.*`` (rows 21-23). Step 2 copies the trunk
into its frozen extractor and ``top`` + ``head`` into its classifier (the average pool has no weights). The file is
read through mmengine's checkpoint loader: inside ``cxrdet train`` a checkpoint the config names
(``model.extractor_checkpoint``) is trusted like ``load_from`` (a full mmengine checkpoint loads); elsewhere torch's
safe ``weights_only`` loading applies, which reads the ``*_weights.pth`` twin that ``cxrdet train`` writes beside
every checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from cxrdet.errors import InputError

PARTS = {"trunk": "backbone.trunk.", "top": "backbone.top.", "head": "head."}


def read_state_dict(path: str | Path) -> dict:
    """The state dict of a checkpoint file (mmengine's ``state_dict`` key, or a plain state dict).

    Raises:
        InputError: no such file, or torch refuses it (a full checkpoint outside a trusted context).
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "step 1's checkpoint (model.extractor_checkpoint) not found; nothing is downloaded")
    try:
        checkpoint = _load_checkpoint(str(path), map_location="cpu", logger="silent")
    except Exception as err:  # torch's UnpicklingError for a full checkpoint under weights_only, a damaged file
        raise InputError(
            path,
            f"cannot read step 1's checkpoint ({type(err).__name__}); outside `cxrdet train` give its "
            "*_weights.pth twin (weights only)",
        ) from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise InputError(path, "not a checkpoint (no state dict)")
    return {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}


def load_step1_weights(path: str | Path, trunk: nn.Module, top: nn.Module, head: nn.Module) -> None:
    """Copies step 1's trunk, top and head weights (and BatchNorm statistics) from ``path`` into the modules.

    Raises:
        InputError: the file is not a step-1 feature-extractor checkpoint, or its tensors do not fit (another
            width, input size or class count).
    """
    state = read_state_dict(path)
    for name, module in (("trunk", trunk), ("top", top), ("head", head)):
        prefix = PARTS[name]
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not part:
            raise InputError(
                path,
                f"no {prefix}* tensors: not a step-1 checkpoint of "
                "ImageClassifier(GanFeatureExtractor, FeatureGanHead)",
            )
        try:
            module.load_state_dict(part, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise InputError(
                path, f"step 1's {name} does not fit this model (width, input size, classes): {first[-1].strip()}"
            ) from None
