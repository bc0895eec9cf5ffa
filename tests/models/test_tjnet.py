"""TJ-Net (bone age): the layer table in the full config's header, predict fields, the expected age, the sex
input's fallback, frozen blocks, the two ablations, the configs, and a short learning run on synthetic images.

Hand references: class centres 3k + 1.5; a one-hot class distribution's expected age is that class's centre;
uniform logits cost log(77); a zero sex logit costs log(2). The learning test trains a tiny TJ-Net (width 0.25,
64 px) with plain PyTorch on images whose bar length encodes the age and must beat the mean-age predictor's MAD.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import pytest
import torch
from mmengine.structures import BaseDataElement

from cxrdet.models.blocks import CBAM
from cxrdet.models.bone_age import NUM_AGE_CLASSES, TJNet, age_to_class, class_centres, expected_age
from cxrdet.models.layer_table import format_layer_table, layer_table, parse_layer_table

pytestmark = pytest.mark.usefixtures("cxrdet_scope")  # builds in cxrdet's scope (tests/models/conftest.py)

CONFIG_DIR = Path(__file__).parents[2] / "configs" / "bone_age"
FULL_CONFIG = CONFIG_DIR / "tjnet_512-e100_rsna.py"
CONFIGS = sorted(CONFIG_DIR.glob("*.py"))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny convolutions run fastest on one thread on the shared 2-core machine; the setting is restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny(**kwargs) -> TJNet:
    torch.manual_seed(0)
    return TJNet(width=0.25, **kwargs)


def _samples(males: list[float | None], ages: list[float] | None = None) -> list[BaseDataElement]:
    out = []
    for k, male in enumerate(males):
        s = BaseDataElement(metainfo={"img_id": f"im{k}", "img_path": f"/data/im{k}.png"})
        if male is not None:
            s.gt_male = torch.tensor(male, dtype=torch.float32)
        if ages is not None:
            s.gt_age = torch.tensor(ages[k], dtype=torch.float32)
        out.append(s)
    return out


def _load(path: Path):
    from mmengine.config import Config

    return Config.fromfile(str(path))


def _build(cfg_model: dict) -> TJNet:
    from cxrdet.registry import MODELS

    return MODELS.build(copy.deepcopy(dict(cfg_model)))


# -- age classes ---------------------------------------------------------------------------------------------------
def test_age_classes_by_hand():
    assert NUM_AGE_CLASSES == 77
    for months, k in [(0, 0), (2.99, 0), (3.0, 1), (4.5, 1), (100.0, 33), (228.0, 76), (230.99, 76), (231, 76)]:
        assert age_to_class(months) == k, months
    assert age_to_class(500.0) == 76 and age_to_class(-4.0) == 0  # clipped into [0, 231)
    assert age_to_class(torch.tensor([0.0, 3.0, 231.0, -1.0])).tolist() == [0, 1, 76, 0]
    centres = class_centres()
    assert centres.shape == (77,) and centres[0] == 1.5 and centres[1] == 4.5 and centres[76] == 229.5
    with pytest.raises(ValueError, match="non-finite"):
        age_to_class(math.nan)


def test_expected_age_of_one_hot_and_two_classes():
    p = torch.zeros(2, 77)
    p[0, 10] = 1.0  # class 10 covers [30, 33): centre 31.5
    p[1, 0], p[1, 2] = 0.25, 0.75  # 0.25 * 1.5 + 0.75 * 7.5 = 6.0
    assert expected_age(p).tolist() == pytest.approx([31.5, 6.0])


# -- layer table ---------------------------------------------------------------------------------------------------
def test_layer_table_equals_the_full_config_header():
    header = parse_layer_table(FULL_CONFIG.read_text(), prefix="# ")
    assert len(header) == 8, "the header lists blocks 1-4, fusion, block 5, block 6 and the total"
    cfg = _load(FULL_CONFIG)
    assert f"1 x {cfg.image_size} x {cfg.image_size}" in FULL_CONFIG.read_text()
    model = _build(cfg.model)
    rows = layer_table(model, (1, cfg.image_size, cfg.image_size), model.layer_blocks)
    assert rows == header
    # independent checks at 512 px: strides 4, 8, 16, 32 and the design's widths 64-512
    shapes = {r.name: r.output_shape for r in rows}
    assert shapes["backbone.block1"] == (64, 128, 128)
    assert shapes["backbone.block4"] == (512, 16, 16)
    assert shapes["fusion"] == (128 + 256 + 512,)
    assert shapes["sex_head"] == (1,) and shapes["age_head"] == (77,)
    assert sum(r.params for r in rows[:-1]) == rows[-1].params == sum(p.numel() for p in model.parameters())


def test_layer_table_text_round_trips():
    model = _tiny()
    rows = layer_table(model, (1, 64, 64), model.layer_blocks)
    assert parse_layer_table(format_layer_table(rows)) == rows
    text = "\n".join("# " + line for line in format_layer_table(rows).splitlines())
    assert parse_layer_table(text, prefix="# ") == rows


# -- forward / predict ---------------------------------------------------------------------------------------------
def test_tensor_mode_and_cam_layer_and_cbam_maps():
    model = _tiny().eval()
    seen = {}

    def hook(_module, _args, output) -> None:
        seen["cam"] = output.shape

    handle = model.cam_layer.register_forward_hook(hook)
    out = model(torch.randn(2, 1, 64, 64))
    handle.remove()
    assert set(out) == {"age_logits", "sex_logit"}
    assert out["age_logits"].shape == (2, 77) and out["sex_logit"].shape == (2,)
    assert seen["cam"] == (2, model.backbone.out_channels[-1], 2, 2)  # block 4: 64 / 32
    assert model.cam_layer is model.backbone.block4[-1]
    cbams = [m for m in model.modules() if isinstance(m, CBAM)]
    assert [tuple(c.last_spatial_attention.shape) for c in cbams] == [(2, 1, 16, 16), (2, 1, 8, 8), (2, 1, 4, 4)]


def test_predict_sets_the_contract_fields():
    model = _tiny().eval()
    with torch.no_grad():
        preds = model(torch.randn(3, 1, 64, 64), None, mode="predict")
    assert len(preds) == 3
    centres = [3 * k + 1.5 for k in range(77)]
    for s in preds:
        assert isinstance(s, BaseDataElement)
        assert s.pred_age_score.shape == (77,)
        assert float(s.pred_age_score.sum()) == pytest.approx(1.0, abs=1e-5)
        assert s.pred_age.shape == ()
        by_hand = sum(float(p) * c for p, c in zip(s.pred_age_score, centres))
        assert float(s.pred_age) == pytest.approx(by_hand, rel=1e-5)
        assert 0.0 < float(s.pred_male) < 1.0
    samples = _samples([1.0, None])
    out = model(torch.randn(2, 1, 64, 64), samples, mode="predict")
    assert out[0] is samples[0] and "pred_age" in out[1]  # the given samples are filled in


def test_predicted_age_of_a_one_hot_class_is_its_centre():
    model = _tiny().eval()
    last = model.age_head.classifier[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-50.0)
        last.bias[20] = 50.0  # class 20: [60, 63) months
    pred = model(torch.randn(2, 1, 64, 64), None, mode="predict")
    assert [float(s.pred_age) for s in pred] == pytest.approx([61.5, 61.5], abs=1e-4)


def _age_logits(model: TJNet, x: torch.Tensor, samples) -> torch.Tensor:
    with torch.no_grad():
        return model(x, samples)["age_logits"]


def test_sex_input_is_the_label_when_known_else_block5():
    model = _tiny().eval()
    x = torch.randn(3, 1, 64, 64)
    samples = _samples([math.nan, 1.0, None])  # unknown (NaN), male, no gt_male field
    sex_bias = model.sex_head.mlp[-1].bias
    with torch.no_grad():
        sex_bias.fill_(8.0)
    high = _age_logits(model, x, samples)
    with torch.no_grad():
        sex_bias.fill_(-8.0)
    low = _age_logits(model, x, samples)
    assert not torch.allclose(high[0], low[0])  # NaN label: block 5's prediction is used
    assert not torch.allclose(high[2], low[2])  # no label: the same
    assert torch.allclose(high[1], low[1], atol=1e-7)  # known label: block 5 is not consulted
    # the known label is really the input: male and female give different outputs
    female = _age_logits(model, x, _samples([math.nan, 0.0, None]))
    assert not torch.allclose(female[1], low[1])
    # with a very confident block 5 (sigmoid(8) ~ 1) the unknown image reads like a labelled male
    with torch.no_grad():
        sex_bias.fill_(30.0)
    assert torch.allclose(_age_logits(model, x, samples)[0], _age_logits(model, x, _samples([1.0] * 3))[0], atol=1e-5)


def test_no_joint_unknown_sex_gets_one_half():
    model = _tiny(joint=False).eval()
    x = torch.randn(2, 1, 64, 64)
    nan = _age_logits(model, x, _samples([math.nan, None]))
    half = _age_logits(model, x, _samples([0.5, 0.5]))
    assert torch.allclose(nan, half, atol=1e-7)
    pred = model(x, _samples([1.0, 0.0]), mode="predict")
    assert all(math.isnan(float(s.pred_male)) for s in pred)


# -- losses --------------------------------------------------------------------------------------------------------
def test_losses_by_hand():
    model = _tiny(sex_loss_weight=0.5).eval()
    with torch.no_grad():
        for layer in (model.age_head.classifier[-1], model.sex_head.mlp[-1]):
            layer.weight.zero_()
            layer.bias.zero_()
    x = torch.randn(3, 1, 64, 64)
    losses = model(x, _samples([1.0, math.nan, 0.0], ages=[10.0, 100.0, 200.0]), mode="loss")
    assert set(losses) == {"loss_age", "loss_sex"}
    assert float(losses["loss_age"]) == pytest.approx(math.log(77), rel=1e-5)  # uniform over 77 classes
    assert float(losses["loss_sex"]) == pytest.approx(0.5 * math.log(2), rel=1e-5)  # logit 0, known images only
    unknown = model(x, _samples([math.nan, None, math.nan], ages=[10.0, 100.0, 200.0]), mode="loss")
    assert float(unknown["loss_sex"]) == 0.0
    assert unknown["loss_sex"].requires_grad
    no_joint = _tiny(joint=False)(x, _samples([1.0, 0.0, 1.0], ages=[10.0, 100.0, 200.0]), mode="loss")
    assert set(no_joint) == {"loss_age"}


def test_loss_targets_are_the_age_classes():
    model = _tiny().eval()
    last = model.age_head.classifier[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(0.0)
        last.bias[3] = 20.0  # the model is sure of class 3 = [9, 12) months
    x = torch.randn(2, 1, 64, 64)
    right = model(x, _samples([1.0, 1.0], ages=[9.0, 11.9]), mode="loss")["loss_age"]
    wrong = model(x, _samples([1.0, 1.0], ages=[12.0, 8.9]), mode="loss")["loss_age"]
    assert float(right) < 1e-6 and float(wrong) == pytest.approx(20.0, rel=1e-4)


def test_loss_without_an_age_names_the_image():
    from cxrdet.errors import InputError

    model = _tiny()
    with pytest.raises(InputError, match=r"im0\.png"):
        model(torch.randn(1, 1, 64, 64), _samples([1.0]), mode="loss")


# -- frozen blocks and variants ------------------------------------------------------------------------------------
def test_frozen_blocks_do_not_train_and_keep_batch_norm_statistics():
    model = _tiny(frozen_blocks=3)
    model.train()
    blocks = model.backbone.blocks
    for k, block in enumerate(blocks):
        assert all(p.requires_grad == (k >= 3) for p in block.parameters())
        assert all(m.training == (k >= 3) for m in block.modules())
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = sum(model(torch.randn(4, 1, 64, 64), _samples([1.0, 0.0, 1.0, 0.0], [5, 50, 100, 200]), "loss").values())
    loss.backward()
    opt.step()
    after = model.state_dict()
    for name in before:
        changed = not torch.equal(before[name], after[name])
        if name.startswith(("backbone.block1.", "backbone.block2.", "backbone.block3.")):
            assert not changed, name  # weights AND running_mean / running_var / num_batches_tracked
        elif name.endswith(("running_mean", "weight")) and name.startswith("backbone.block4."):
            assert changed, name
    assert all(p.grad is None for b in blocks[:3] for p in b.parameters())
    with pytest.raises(ValueError, match="frozen_blocks"):
        TJNet(frozen_blocks=5)


def test_no_cbam_and_no_joint_variants_differ_as_stated():
    full, no_cbam, no_joint = _tiny(), _tiny(use_cbam=False), _tiny(joint=False)
    n = {k: sum(p.numel() for p in m.parameters()) for k, m in [("full", full), ("cbam", no_cbam), ("joint", no_joint)]}
    assert sum(isinstance(m, CBAM) for m in full.modules()) == 3
    assert sum(isinstance(m, CBAM) for m in no_cbam.modules()) == 0
    # CBAM(C): 2*C*h + h + C + 100 with h = max(C // 16, 8); width 0.25 -> C = 16, 32, 64 (h = 8 each)
    assert n["full"] - n["cbam"] == sum(2 * c * 8 + 8 + c + 100 for c in (16, 32, 64))
    # block 5 at width 0.25: fused 32 + 64 + 128 = 224 -> Linear(224, 64) -> Linear(64, 1)
    assert no_joint.sex_head is None
    assert n["full"] - n["joint"] == 224 * 64 + 64 + 64 + 1
    x = torch.randn(1, 1, 64, 64)
    assert set(no_joint.eval()(x)) == {"age_logits"}
    assert no_cbam.eval()(x)["age_logits"].shape == (1, 77)


# -- configs -------------------------------------------------------------------------------------------------------
def test_the_bone_age_configs_are_there_and_build():
    names = {p.name for p in CONFIGS}
    assert {
        "tjnet_512-e100_rsna.py",
        "tjnet-no-cbam_512-e100_rsna.py",
        "tjnet-no-joint_512-e100_rsna.py",
        "tjnet-transfer_512-e50_rsna.py",
        "tjnet_example.py",
    } <= names
    cfgs = {p.name: _load(p) for p in CONFIGS}
    for name, cfg in cfgs.items():
        assert cfg.engine == "mmengine" and cfg.default_scope == "cxrdet" and cfg.data_root is None, name
        assert cfg.train_cfg.max_epochs > 0 and cfg.optim_wrapper.optimizer.type == "Adam", name
        assert cfg.default_hooks.checkpoint.save_best == "bone_age/MAD_months", name
        assert cfg.default_hooks.checkpoint.rule == "less", name
        for split in ("train_dataloader", "val_dataloader", "test_dataloader"):
            ds = cfg[split].dataset
            assert ds.type == "BoneAgeDataset" and ds.ann_file == "boneage-training-dataset.csv", (name, split)
            resize = [t for t in ds.pipeline if t.type == "Resize"]
            assert resize[0].scale == (cfg.image_size, cfg.image_size), (name, split)
        assert "work_dir" not in cfg, name
    full = cfgs["tjnet_512-e100_rsna.py"]
    assert full.train_dataloader.batch_size == 16 and full.image_size == 512
    assert full.model.use_cbam and full.model.joint and full.model.frozen_blocks == 0
    assert not cfgs["tjnet-no-cbam_512-e100_rsna.py"].model.use_cbam
    assert not cfgs["tjnet-no-joint_512-e100_rsna.py"].model.joint
    transfer = cfgs["tjnet-transfer_512-e50_rsna.py"]
    assert transfer.model.frozen_blocks == 3 and transfer.load_from is None
    example = cfgs["tjnet_example.py"]
    assert example.image_size <= 96 and example.model.width <= 0.25 and example.train_dataloader.batch_size == 8
    # every model builds; the example's is tiny
    for name, cfg in cfgs.items():
        if name != "tjnet_example.py":
            model = _build(cfg.model)
            assert model.frozen_blocks == cfg.model.frozen_blocks
    tiny = _build(example.model)
    assert sum(p.numel() for p in tiny.parameters()) < 300_000
    assert tiny(torch.zeros(1, 1, example.image_size, example.image_size))["age_logits"].shape == (1, 77)


# -- learning ------------------------------------------------------------------------------------------------------
def _synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """64 px images: a bright vertical bar whose length grows with the age (6-228 months), a faint square in the
    top-left corner on males, noise. (A full-contrast square made the sex trivially separable in one epoch and
    the joint loss then held the age back: MAD 43.6 vs 11.8 without it, seed 0, 8 epochs.)"""
    g = torch.Generator().manual_seed(seed)
    ages = 6 + 222 * torch.rand(n, generator=g)
    males = (torch.rand(n, generator=g) < 0.5).float()
    x = 0.1 * torch.randn(n, 1, 64, 64, generator=g)
    length = (8 + 48 * (ages - 6) / 222).round().long()
    for i in range(n):
        col = int(torch.randint(20, 44, (1,), generator=g))
        x[i, 0, 60 - length[i] : 60, col - 3 : col + 3] += 1.0
        if males[i]:
            x[i, 0, 3:8, 3:8] += 0.3
    return x, ages, males


def test_tjnet_learns_age_and_sex_from_synthetic_images():
    torch.manual_seed(0)
    x, ages, males = _synthetic(256, seed=1)
    xv, ages_v, males_v = _synthetic(64, seed=2)
    model = TJNet(width=0.25, dropout=0.0)
    samples = _samples(males.tolist(), ages.tolist())
    val_samples = _samples([math.nan] * len(xv))  # sex unknown: block 6 uses block 5's prediction

    def evaluate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            preds = model(xv, val_samples, mode="predict")
        age = torch.stack([s.pred_age for s in preds])
        male = torch.stack([s.pred_male for s in preds])
        return float((age - ages_v).abs().mean()), float(((male > 0.5).float() == males_v).float().mean())

    untrained, _ = evaluate()
    epochs, batch = 12, 16
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * math.ceil(len(x) / batch))
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    for _epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=g)
        for start in range(0, len(x), batch):
            idx = order[start : start + batch].tolist()
            losses = model(x[idx], [samples[i] for i in idx], mode="loss")
            opt.zero_grad()
            sum(losses.values()).backward()
            opt.step()
            sched.step()
    trained, sex_accuracy = evaluate()
    mean_predictor = float((ages_v - ages.mean()).abs().mean())
    print(
        f"MAD months: trained {trained:.1f}, untrained {untrained:.1f}, mean-age {mean_predictor:.1f}; "
        f"sex accuracy {sex_accuracy:.2f}; {time.perf_counter() - t0:.1f} s"
    )
    assert trained < 0.4 * mean_predictor
    assert trained < 0.4 * untrained
    assert sex_accuracy >= 0.9
