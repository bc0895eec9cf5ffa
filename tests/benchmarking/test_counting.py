"""cxrdet.benchmarking.counting: parameters and multiply-adds against hand counts and the tools' own figures.

* a model small enough to count by hand (a 3x3 convolution and a linear layer);
* the two GFLOPs conventions (mmdet's multiply-adds, Ultralytics' 2 x multiply-adds) converted both ways;
* YOLOv5n (Ultralytics' YAML, built through cxrdet's YOLO engine): parameters equal Ultralytics' count and
  GFLOPs in Ultralytics' convention equal ``model.info()``'s figure (THOP) within 1.5 %.

mmdet's own ``get_flops.py`` figure is checked in ``test_detectors.py`` (with the detector built there).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cxrdet.benchmarking.counting import (
    Complexity,
    count_complexity,
    count_parameters,
    mmdet_to_ultralytics_gflops,
    ultralytics_to_mmdet_gflops,
)


def _tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 2)
    )


def test_a_hand_counted_model():
    model = _tiny().eval()
    c = count_complexity(model, torch.zeros(1, 3, 8, 8))
    # conv: 4 filters x (3 x 3 x 3) weights + 4 biases; linear: 256 x 2 weights + 2 biases
    assert c.params == (4 * 27 + 4) + (256 * 2 + 2) == 626
    # conv: 4 x 8 x 8 outputs x 27 multiply-adds; linear: 2 outputs x 256 multiply-adds
    assert c.macs == 4 * 64 * 27 + 2 * 256 == 7424
    assert c.input_shape == (1, 3, 8, 8)
    assert c.gflops_mmdet == pytest.approx(7424e-9)
    assert c.gflops_ultralytics == pytest.approx(2 * 7424e-9)
    # the count scales with the input: batch 2 doubles it, a 16x16 input (with a wider linear layer) too
    assert count_complexity(model, torch.zeros(2, 3, 8, 8)).macs == 2 * 7424


def test_parameters_shared_once_and_trainable_only():
    shared = torch.nn.Linear(3, 3)  # 12 parameters
    model = torch.nn.Sequential(shared, torch.nn.ReLU(), shared, torch.nn.Linear(3, 1))  # + 4
    assert count_parameters(model) == 16
    model[3].weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 13


def test_the_two_conventions():
    assert mmdet_to_ultralytics_gflops(1.25) == 2.5
    assert ultralytics_to_mmdet_gflops(7.1) == pytest.approx(3.55)
    c = Complexity(params=1, macs=3_000_000_000, input_shape=(1, 3, 64, 64))
    assert (c.gflops("mmdet"), c.gflops("ultralytics")) == (3.0, 6.0)
    with pytest.raises(ValueError, match="unknown GFLOPs convention 'thop'"):
        c.gflops("thop")


def test_custom_forward_is_what_is_counted():
    model = _tiny().eval()
    only_conv = count_complexity(model, torch.zeros(1, 3, 8, 8), forward=lambda m, x: m[0](x))
    assert only_conv.macs == 4 * 64 * 27
    assert only_conv.params == 626  # parameters are the whole model's


def test_yolov5n_matches_ultralytics_model_info():
    from cxrdet.benchmarking.detectors import load_detector

    det = load_detector(Path(__file__).parents[2] / "configs/yolo/yolov5n_192-e20_example.py")
    ours = det.complexity(640)
    with _quiet_sandbox():
        _, params, _, gflops = det.model.info(verbose=True, imgsz=640)  # (layers, parameters, gradients, GFLOPs)
    assert ours.params == params == 2_511_194  # YOLOv5nu with 14 classes
    assert gflops > 0
    assert ours.gflops_ultralytics == pytest.approx(gflops, rel=0.015)
    assert ours.gflops_mmdet == pytest.approx(ultralytics_to_mmdet_gflops(gflops), rel=0.015)
    # at the config's own size (192) the compute scales with the pixel count
    assert det.complexity().macs == pytest.approx(ours.macs * (192 / 640) ** 2, rel=0.02)


def _quiet_sandbox():
    import tempfile
    from contextlib import ExitStack

    from cxrdet.engines.yolo.sandbox import ultralytics_sandbox

    stack = ExitStack()
    tmp = stack.enter_context(tempfile.TemporaryDirectory())
    stack.enter_context(ultralytics_sandbox(tmp))
    return stack
