"""cxrdet.benchmarking.detectors: an mmdet config built offline, its input size, inputs and counts.

The RetinaNet-R18 config (``mmdet_tiny.py``) inherits mmdet's own, whose backbone points at
``torchvision://resnet18``: it is built and initialised with sockets blocked, and its parameters and GFLOPs
equal what mmdet's own ``tools/analysis_tools/get_flops.py`` (the copy in the mmdet wheel) prints for it.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import socket
from pathlib import Path

import pytest
import torch

from cxrdet.benchmarking.detectors import config_input_size, load_detector, strip_pretrained
from cxrdet.errors import ConfigError

GET_FLOPS = Path(__import__("mmdet").__file__).parent / ".mim" / "tools" / "analysis_tools" / "get_flops.py"


def _no_network(*args, **kwargs):
    raise OSError("network access in a test")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from mmdet_tiny import write_tiny_set

    config = write_tiny_set(tmp_path_factory.mktemp("tiny"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        det = load_detector(config)
        det.model.init_weights()  # would fetch torchvision://resnet18 if the Pretrained init_cfg were kept
    return config, det


def _mmdet_get_flops(config: Path) -> dict:
    """mmdet's ``get_flops.py`` on ``config`` over 1 image, in this process (mmdet is imported once)."""
    from mmengine.logging import MMLogger

    spec = importlib.util.spec_from_file_location("mmdet_get_flops", GET_FLOPS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = argparse.Namespace(config=str(config), num_images=1, cfg_options=None)
    return module.inference(args, MMLogger.get_instance("mmdet-get-flops"))


def _size(text: str) -> float:
    """mmengine's ``_format_size`` string (``'1.234G'``) -> number."""
    value, unit = re.fullmatch(r"([\d.]+)([KMGTP]?)", text).groups()
    return float(value) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}[unit]


def test_counts_equal_mmdets_get_flops(tiny):
    from mmdet_tiny import SIZE

    config, det = tiny
    theirs = _mmdet_get_flops(config)
    assert tuple(theirs["pad_shape"]) == (SIZE, SIZE)
    c = det.complexity()
    assert det.size == (SIZE, SIZE) and c.input_shape == (1, 3, SIZE, SIZE)
    # get_flops prints 3 decimals of the unit (19.792M, 2.464G): equal up to that rounding
    assert c.params == pytest.approx(_size(theirs["params"]), abs=0.0005 * 1e6)
    assert c.macs == pytest.approx(_size(theirs["flops"]), abs=0.0005 * 1e9)
    assert c.gflops_mmdet == pytest.approx(_size(theirs["flops"]) / 1e9, abs=0.0005)


def test_built_offline_with_what_was_dropped(tiny):
    _, det = tiny
    assert det.engine == "mmdet" and det.name == "retinanet_r18_tiny"
    assert det.removed == ["model.backbone.init_cfg: torchvision://resnet18"]
    assert det.channels == 3 and det.size_divisor == 32
    assert not det.model.training
    bn = det.model.backbone.bn1  # statistics of one calibration batch, not the fresh 0 / 1
    assert int(bn.num_batches_tracked) == 1 and bn.momentum == 0.1
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def test_inputs_and_forward(tiny):
    _, det = tiny
    images, samples = det.inputs(batch=2, size=100)  # padded to the size divisor
    assert tuple(images.shape) == (2, 3, 128, 128) and len(samples) == 2
    assert samples[0].batch_input_shape == (128, 128)
    cls_scores, _ = det.forward(images, samples)
    assert len(cls_scores) == 5  # RetinaNet: P3-P7
    assert tuple(cls_scores[0].shape) == (2, 9 * 2, 16, 16)  # 9 anchors x 2 classes at stride 8


def test_strip_pretrained_everywhere():
    model = {
        "backbone": {"type": "ResNet", "init_cfg": {"type": "Pretrained", "checkpoint": "torchvision://resnet50"}},
        "neck": {
            "type": "RFP",
            "rfp_backbone": {"type": "DetectoRS_ResNet", "pretrained": "torchvision://resnet50"},
            "init_cfg": [{"type": "Xavier"}, {"type": "Pretrained", "checkpoint": "local.pth"}],
        },
        "head": {"init_cfg": {"type": "Normal", "std": 0.01}},
    }
    removed = strip_pretrained(model)
    assert removed == [
        "model.backbone.init_cfg: torchvision://resnet50",
        "model.neck.init_cfg: local.pth",
        "model.neck.rfp_backbone.pretrained: torchvision://resnet50",
    ]
    assert model["backbone"]["init_cfg"] is None
    assert model["neck"]["rfp_backbone"]["pretrained"] is None
    assert model["neck"]["init_cfg"] == [{"type": "Xavier"}]
    assert model["head"]["init_cfg"] == {"type": "Normal", "std": 0.01}  # not a download: kept
    assert strip_pretrained(model) == []


def _cfg(*pipeline):
    return {"test_dataloader": {"dataset": {"pipeline": list(pipeline)}}}


@pytest.mark.parametrize(
    "pipeline,size",
    [
        ([{"type": "Resize", "scale": (1333, 800), "keep_ratio": True}], (800, 800)),  # (w, h); a square fits
        ([{"type": "Resize", "scale": (1024, 768), "keep_ratio": False}], (768, 1024)),
        ([{"type": "Resize", "scale": 512, "keep_ratio": True}], (512, 512)),
        ([{"type": "Resize", "scale": (512, 512)}, {"type": "Pad", "size": (640, 512)}], (512, 640)),
        ([{"type": "mmdet.FixShapeResize", "width": 768, "height": 768}], (768, 768)),
    ],
)
def test_config_input_size(pipeline, size):
    assert config_input_size(_cfg(*pipeline)) == size


def test_config_input_size_in_a_wrapped_dataset_and_missing():
    wrapped = {"test_dataloader": {"dataset": {"type": "ClassBalancedDataset", "dataset": _cfg()["test_dataloader"]}}}
    wrapped["test_dataloader"]["dataset"]["dataset"]["dataset"]["pipeline"] = [{"type": "Resize", "scale": (64, 64)}]
    assert config_input_size(wrapped) == (64, 64)
    with pytest.raises(ConfigError, match="no Resize with a scale"):
        config_input_size(_cfg({"type": "LoadImageFromFile"}))
