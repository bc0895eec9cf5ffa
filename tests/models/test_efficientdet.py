"""EfficientDet in cxrdet (cxrdet.models.efficientdet and configs/mmdet/efficientdet-*): checked against the paper.

References independent of the code: TF's SAME-padding rule (hand-computed pads, and mmcv's own TF-style
conv), hand-computed fusion weights and max-pool values, the paper's parameter counts (Tan et al. 2020,
table 2: D0 3.9 M, D1 6.6 M, D2 8.1 M with COCO's 90 classes) and D0's 2.5 B FLOPs, the paper's anchor
sizes, torch's own Huber loss, feature sizes from ``ceil(size / stride)``; and a shrunk EfficientDet that
must learn two boxes.
"""

from __future__ import annotations

import logging
import math
import socket
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "mmdet"
PAPER_PARAMS = {  # config file, the paper's parameter count (90 classes)
    "d0": ("efficientdet-d0_512-e300_vindr.py", 3.9e6),
    "d1": ("efficientdet-d1_640-e300_vindr.py", 6.6e6),
    "d2": ("efficientdet-d2_768-e300_vindr.py", 8.1e6),
}


@pytest.fixture(autouse=True)
def _quiet_mmengine():
    logger = logging.getLogger("mmengine")
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter at INFO
    yield
    logger.setLevel(level)


@pytest.fixture
def mmdet_scope():
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope

    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope("mmdet"):
        yield


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads per process thrash (measured 10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- TF SAME padding


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "expected"),
    [
        (7, 3, 2, 1, (1, 1)),  # out 4: (4-1)*2 + 3 - 7 = 2
        (8, 3, 2, 1, (0, 1)),  # out 4: 6 + 3 - 8 = 1, the odd pixel at the end (PyTorch's padding=1 puts one each side)
        (9, 5, 2, 1, (2, 2)),  # out 5: 8 + 5 - 9 = 4
        (10, 5, 2, 1, (1, 2)),  # out 5: 8 + 5 - 10 = 3
        (7, 3, 1, 1, (1, 1)),  # stride 1: k - 1
        (6, 1, 2, 1, (0, 0)),  # 1x1: never padded
        (9, 3, 1, 2, (2, 2)),  # dilation 2: effective kernel 5
        (3, 3, 2, 1, (1, 1)),  # out 2: 2 + 3 - 3 = 2
    ],
)
def test_same_padding_is_tf_formula(size, kernel, stride, dilation, expected):
    from cxrdet.models.efficientdet import same_padding

    assert same_padding(size, kernel, stride, dilation) == expected


@pytest.mark.parametrize(("height", "width"), [(7, 9), (8, 11), (13, 6)])
@pytest.mark.parametrize(("kernel", "stride"), [(3, 2), (5, 2), (3, 1)])
def test_conv_same_padding_matches_tf_and_mmcv(height, width, kernel, stride):
    from mmcv.cnn.bricks.conv2d_adaptive_padding import Conv2dAdaptivePadding

    from cxrdet.models.efficientdet import Conv2dSamePadding

    torch.manual_seed(0)
    conv = Conv2dSamePadding(2, 3, kernel, stride=stride, padding=kernel // 2)  # padding is ignored
    x = torch.randn(1, 2, height, width)
    out = conv(x)
    assert out.shape[-2:] == (math.ceil(height / stride), math.ceil(width / stride))
    reference = Conv2dAdaptivePadding(2, 3, kernel, stride=stride)  # mmcv's TF-style conv, written independently
    reference.load_state_dict(conv.state_dict())
    torch.testing.assert_close(out, reference(x))


def test_maxpool_same_padding_never_picks_the_padding():
    from cxrdet.models.efficientdet import MaxPool2dSamePadding

    x = -torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # all negative: zero padding would win everywhere
    out = MaxPool2dSamePadding(3, 2)(x)
    # SAME on 3 px, k3 s2: out 2, one pixel of padding each side; windows rows/cols {-1,0,1} and {1,2,3}
    assert out.tolist() == [[[[-1.0, -2.0], [-4.0, -5.0]]]]
    assert MaxPool2dSamePadding(3, 2)(torch.zeros(1, 1, 9, 5)).shape[-2:] == (5, 3)


# ---------------------------------------------------------------- fusion


def test_fast_normalized_fusion_hand_computed():
    from cxrdet.models.efficientdet import FastNormalizedFusion

    fusion = FastNormalizedFusion(3)
    torch.testing.assert_close(fusion.normalized_weights(), torch.full((3,), 1 / 3.0001))
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([2.0, -1.0, 1.0]))
    w = fusion.normalized_weights()
    torch.testing.assert_close(w, torch.tensor([2 / 3.0001, 0.0, 1 / 3.0001]))  # relu(w) / (sum relu(w) + 1e-4)
    inputs = [torch.full((1, 2, 2, 2), v) for v in (3.0, 5.0, 6.0)]
    torch.testing.assert_close(fusion(inputs), torch.full((1, 2, 2, 2), 12 / 3.0001))


def test_fusion_weights_stay_non_negative_and_normalised_after_training():
    from cxrdet.models.efficientdet import FastNormalizedFusion

    torch.manual_seed(0)
    fusion = FastNormalizedFusion(3)
    opt = torch.optim.SGD(fusion.parameters(), lr=0.5)
    a, b, c = (torch.randn(4, 8) for _ in range(3))
    for _ in range(50):  # the target is a alone: the optimiser pushes b's and c's raw weights below zero
        loss = ((fusion([a, b, c]) - a) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert fusion.weight.min() < 0  # raw weights went negative ...
    w = fusion.normalized_weights()
    assert bool((w >= 0).all())  # ... the fused weights never do
    assert float(w.detach().sum()) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="2 inputs for a fusion of 3"):
        fusion([a, b])


# ---------------------------------------------------------------- shapes


def test_bifpn_output_shapes_per_level():
    from cxrdet.models.efficientdet import BiFPN

    # an odd 130 x 97 image through stride-2 SAME convs: level k has ceil(size / 2**k)
    sizes = [(math.ceil(130 / 2**k), math.ceil(97 / 2**k)) for k in range(3, 8)]
    assert sizes == [(17, 13), (9, 7), (5, 4), (3, 2), (2, 1)]
    feats = [torch.randn(2, c, *s) for c, s in zip([40, 112, 320], sizes[:3])]
    neck = BiFPN(in_channels=[40, 112, 320], out_channels=64, num_stages=3)
    outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(2, 64, *s) for s in sizes]
    with pytest.raises(ValueError, match="2 backbone maps for a BiFPN over 3 levels"):
        neck(feats[:2])


def test_config_mistakes_are_named():
    from cxrdet.errors import ConfigError
    from cxrdet.models.efficientdet import BiFPN, EfficientDetHead

    b2_neck = BiFPN(in_channels=[48, 120, 352], out_channels=16, num_stages=1)  # on a B0 backbone's maps:
    b0_maps = [torch.zeros(1, c, s, s) for c, s in zip([40, 112, 320], [8, 4, 2])]
    with pytest.raises(ConfigError, match=r"in_channels=\[48, 120, 352\] but the backbone gives \[40, 112, 320\]"):
        b2_neck(b0_maps)
    with pytest.raises(ConfigError, match="4 strides for 5 levels"):
        EfficientDetHead(
            num_classes=2, in_channels=16, anchor_generator=dict(type="AnchorGenerator", strides=[8, 16, 32, 64])
        )
    with pytest.raises(ConfigError, match="feat_channels=32 != in_channels=16"):
        EfficientDetHead(num_classes=2, in_channels=16, feat_channels=32)
    with pytest.raises(ConfigError, match="num_stages=0"):
        BiFPN(in_channels=[40, 112, 320], out_channels=16, num_stages=0)


def test_head_shapes_anchors_and_class_prior():
    from cxrdet.models.efficientdet import EfficientDetHead

    head = EfficientDetHead(num_classes=14, in_channels=64)
    head.init_weights()
    sizes = [(16, 12), (8, 6), (4, 3), (2, 2), (1, 1)]
    cls_scores, bbox_preds = head([torch.randn(2, 64, *s) for s in sizes])
    assert [tuple(c.shape) for c in cls_scores] == [(2, 9 * 14, *s) for s in sizes]
    assert [tuple(b.shape) for b in bbox_preds] == [(2, 9 * 4, *s) for s in sizes]
    assert float(torch.sigmoid(head.cls_pred.pointwise.bias.detach()[0])) == pytest.approx(0.01)
    # convs shared across levels, a BN per level: 3 convs per tower, 3 x 5 norms
    assert len(head.cls_tower.convs) == 3 and [len(n) for n in head.cls_tower.norms] == [5, 5, 5]
    # the paper's anchors: side 4 * stride * 2**(k/3) (area preserved across ratios), h/w in {0.5, 1, 2}
    generator = head.prior_generator
    assert generator.strides == [(8, 8), (16, 16), (32, 32), (64, 64), (128, 128)]
    for level, stride in enumerate([8, 16, 32, 64, 128]):
        base = generator.base_anchors[level]
        w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
        sides = sorted({round(float(s), 2) for s in (w * h).sqrt()})
        assert sides == [round(4 * stride * 2 ** (k / 3), 2) for k in range(3)]
        assert sorted({round(float(r), 3) for r in h / w}) == [0.5, 1.0, 2.0]
    first = generator.grid_priors([(16, 12)] * 5, device="cpu")[0][0]
    assert ((first[0] + first[2]) / 2, (first[1] + first[3]) / 2) == (4.0, 4.0)  # centred at stride / 2


def test_box_loss_is_the_papers_huber():
    from mmdet.registry import MODELS

    from cxrdet.models.efficientdet.head import PAPER_HUBER

    torch.manual_seed(0)
    pred, target = torch.randn(6, 4) * 0.3, torch.randn(6, 4) * 0.3
    num_pos = 6
    ours = MODELS.build(dict(PAPER_HUBER))(pred, target, avg_factor=num_pos)
    paper = 50.0 * F.huber_loss(pred, target, delta=0.1, reduction="sum") / (4 * num_pos)  # TF: / (4 N_pos)
    torch.testing.assert_close(ours, paper)


# ---------------------------------------------------------------- configs and registries


def _load_config(name: str):
    from mmengine.config import Config

    return Config.fromfile(str(CONFIG_DIR / name))


@pytest.mark.parametrize("variant", sorted(PAPER_PARAMS))
def test_parameter_counts_match_the_paper(variant, mmdet_scope, no_network):
    from mmdet.registry import MODELS

    from cxrdet.models.efficientdet import EfficientDet

    name, paper = PAPER_PARAMS[variant]
    cfg = _load_config(name)
    cfg.model.bbox_head.num_classes = 90  # the paper counts COCO's 90 classes
    model = MODELS.build(cfg.model)
    assert isinstance(model, EfficientDet)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - paper) / paper < 0.05, f"{variant}: {count / 1e6:.3f} M parameters, the paper {paper / 1e6} M"
    size = cfg.image_size
    assert size == {"d0": 512, "d1": 640, "d2": 768}[variant]
    assert cfg.model.neck.num_stages == {"d0": 3, "d1": 4, "d2": 5}[variant]
    assert cfg.model.bbox_head.stacked_convs == 3
    channels = model.backbone(torch.zeros(1, 3, 128, 128))
    assert [c.shape[1] for c in channels] == cfg.model.neck.in_channels


def test_d0_multiply_adds_match_the_paper(mmdet_scope, no_network, one_thread):
    """The paper's 2.5 B FLOPs (multiply-adds) for D0 at 512 px: checks the resolution path, not only the widths."""
    from mmdet.registry import MODELS
    from mmengine.analysis import get_model_complexity_info

    cfg = _load_config(PAPER_PARAMS["d0"][0])
    cfg.model.bbox_head.num_classes = 90
    model = MODELS.build(cfg.model).eval()

    class Dense(torch.nn.Module):  # image -> head outputs (no anchors, no NMS: not counted by the paper)
        def __init__(self, detector):
            super().__init__()
            self.detector = detector

        def forward(self, x):
            return self.detector.bbox_head(self.detector.extract_feat(x))

    logging.getLogger("mmengine").setLevel(logging.ERROR)  # fvcore names the ops it does not count (BN, Swish)
    info = get_model_complexity_info(
        Dense(model), inputs=(torch.zeros(1, 3, 512, 512),), show_table=False, show_arch=False
    )
    assert abs(info["flops"] - 2.5e9) / 2.5e9 < 0.05, f"{info['flops'] / 1e9:.3f} G multiply-adds, the paper 2.5 G"


def _tiny_model_cfg(num_classes: int = 2) -> dict:
    norm = dict(type="BN", momentum=0.1, eps=1e-3)
    return dict(
        type="cxrdet.EfficientDet",
        data_preprocessor=dict(type="DetDataPreprocessor", mean=[0.0] * 3, std=[1.0] * 3),
        backbone=dict(
            type="EfficientNet", arch="b0", out_indices=(3, 4, 5), conv_cfg=dict(type="cxrdet.Conv2dSamePadding")
        ),
        neck=dict(type="cxrdet.BiFPN", in_channels=[40, 112, 320], out_channels=16, num_stages=1, norm_cfg=norm),
        bbox_head=dict(
            type="cxrdet.EfficientDetHead", num_classes=num_classes, in_channels=16, stacked_convs=1, norm_cfg=norm
        ),
        train_cfg=dict(
            assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
            sampler=dict(type="PseudoSampler"),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        ),
        test_cfg=dict(
            nms_pre=100, min_bbox_size=0, score_thr=0.0, nms=dict(type="nms", iou_threshold=0.5), max_per_img=5
        ),
    )


def test_components_build_through_mmdet_registry_in_mmdet_scope(mmdet_scope):
    from mmdet.registry import MODELS
    from mmengine.config import Config

    from cxrdet.models import efficientdet as ed
    from cxrdet.models.efficientdet.same_padding import Conv2dSamePadding

    for name in ("EfficientDet", "BiFPN", "EfficientDetHead", "Conv2dSamePadding", "MaxPool2dSamePadding"):
        assert MODELS.get(f"cxrdet.{name}") is getattr(ed, name)
    cfg = Config(dict(default_scope="mmdet", model=_tiny_model_cfg()))
    model = MODELS.build(cfg.model)
    assert isinstance(model.neck, ed.BiFPN) and isinstance(model.bbox_head, ed.EfficientDetHead)
    assert type(model.backbone).__name__ == "EfficientNet"  # mmdet's own, with TF SAME convs
    assert isinstance(model.backbone.layers[0].conv, Conv2dSamePadding)


def test_builds_inside_mmengine_runner(tmp_path):
    from mmengine.runner import Runner

    from cxrdet.models.efficientdet import EfficientDet

    runner = Runner(model=_tiny_model_cfg(), work_dir=str(tmp_path), default_scope="mmdet")
    assert isinstance(runner.model, EfficientDet)


# ---------------------------------------------------------------- learning


def _tiny_efficientdet():
    """EfficientDet with everything shrunk: EfficientNet at width 0.25 / depth 0.34, BiFPN 16 x 1, head 1 layer."""
    from mmdet.models.backbones import EfficientNet
    from mmdet.registry import MODELS
    from mmengine.config import ConfigDict

    class TinyEfficientNet(EfficientNet):  # mmdet's EfficientNet code, one more compound-scaling setting
        arch_settings: ClassVar[dict] = {**EfficientNet.arch_settings, "b_tiny": (0.25, 0.34, 96)}

    cfg = ConfigDict(_tiny_model_cfg())
    cfg.backbone.out_indices = (1,)  # built cheaply, then replaced
    cfg.neck.in_channels = [16, 32, 80]
    model = MODELS.build(cfg)
    model.backbone = TinyEfficientNet(
        arch="b_tiny",
        out_indices=(3, 4, 5),
        conv_cfg=dict(type="cxrdet.Conv2dSamePadding"),
        norm_cfg=dict(type="BN", momentum=0.1, eps=1e-3),
    )
    model.init_weights()
    return model


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_shrunk_efficientdet_overfits_two_images(mmdet_scope, one_thread):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    torch.manual_seed(0)
    model = _tiny_efficientdet()
    assert sum(p.numel() for p in model.parameters()) < 300_000
    size = 96
    boxes = [[20.0, 30.0, 60.0, 70.0], [50.0, 10.0, 90.0, 44.0]]  # one finding an image, classes 0 and 1
    images = torch.zeros(2, 3, size, size)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        images[i, :, int(y1) : int(y2), int(x1) : int(x2)] = 1.0 if i == 0 else 0.5

    def samples():
        out = []
        for i, box in enumerate(boxes):
            shape = (size, size)
            sample = DetDataSample(
                metainfo=dict(
                    img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape, scale_factor=(1.0, 1.0)
                )
            )
            sample.gt_instances = InstanceData(bboxes=torch.tensor([box]), labels=torch.tensor([i]))
            out.append(sample)
        return out

    def top_predictions():
        model.eval()
        with torch.no_grad():
            results = model.predict(images, samples())
        model.train()
        return [
            (r.pred_instances.bboxes[0].tolist(), int(r.pred_instances.labels[0]), float(r.pred_instances.scores[0]))
            for r in results
        ]

    untrained = top_predictions()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    history = []
    for _ in range(80):
        losses = model.loss(images, samples())
        loss = sum(sum(v) for v in losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    trained = top_predictions()
    assert history[-1] < 0.1 * history[0], f"loss {history[0]:.3f} -> {history[-1]:.3f}"
    for i, (box, label, score) in enumerate(trained):
        assert _iou(box, boxes[i]) >= 0.5, f"image {i}: top box {box} vs {boxes[i]}"
        assert label == i
        assert score > 0.5 > untrained[i][2]  # the untrained head scores the 0.01 prior


# ---------------------------------------------------------------- the D0 config on real data


def test_d0_config_trains_a_step_and_predicts_on_the_converted_example(
    converted_example, tmp_path, no_network, one_thread
):
    from mmengine.runner import Runner

    from cxrdet.models.efficientdet import EfficientDet

    cfg = _load_config(PAPER_PARAMS["d0"][0])
    cfg.work_dir = str(tmp_path)
    root = str(converted_example) + "/"
    for split in ("train_dataloader", "val_dataloader", "test_dataloader"):
        cfg[split].dataset.data_root = root
        cfg[split].update(batch_size=1, num_workers=0, persistent_workers=False)
    runner = Runner.from_cfg(cfg)
    assert isinstance(runner.model, EfficientDet)
    assert runner.model.bbox_head.num_classes == cfg.num_classes
    optim_wrapper = runner.build_optim_wrapper(runner.cfg.optim_wrapper)
    batch = next(iter(runner.train_dataloader))
    assert batch["inputs"][0].shape[0] == 3  # 3 grey channels for an ImageNet-style backbone
    losses = runner.model.train_step(batch, optim_wrapper)
    assert set(losses) >= {"loss_cls", "loss_bbox"} and all(torch.isfinite(v) for v in losses.values())
    val = next(iter(runner.val_dataloader))
    (result,) = runner.model.val_step(val)
    assert result.pred_instances.bboxes.shape[-1] == 4
