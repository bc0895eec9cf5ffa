"""The feature GAN's networks against the write-up's tables, and step 2's training step.

The reference tables are the seed's (``feature_gan_cxr.txt``) output sizes transcribed by hand (H x W x C, as the
write-up prints them); the models are the shipped full-size configs, built on the meta device. Parameter counts
are recomputed from the tables' channel counts by hand (3x3 convolutions without bias + BatchNorm's 2 per
channel). The training step is counted from the optimisers' own step counters (Adam's per-parameter ``step``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import BaseDataElement

from cxrdet.errors import ConfigError, InputError
from cxrdet.models.classifiers import ImageClassifier
from cxrdet.models.feature_gan import (
    FeatureDiscriminator,
    FeatureGAN,
    FeatureGanHead,
    FeatureGanOptimWrapperConstructor,
    FeatureGenerator,
    GanFeatureExtractor,
)
from cxrdet.models.feature_gan.scaler import FeatureScaler
from cxrdet.models.layer_table import layer_table
from cxrdet.registry import MODELS

pytestmark = pytest.mark.usefixtures("cxrdet_scope")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks run fastest on one thread (and leave the other core to the other tests)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "feature_gan"

# The write-up's extractor table, rows 2-23: (row, output H x W x C as printed).
SEED_EXTRACTOR = [
    (2, (160, 160, 64)),
    (3, (160, 160, 64)),
    (4, (80, 80, 64)),
    (5, (80, 80, 128)),
    (6, (80, 80, 128)),
    (7, (40, 40, 128)),
    (8, (40, 40, 128)),
    (9, (40, 40, 128)),
    (10, (40, 40, 256)),
    (11, (20, 20, 256)),
    (12, (20, 20, 256)),
    (13, (20, 20, 256)),
    (14, (20, 20, 512)),
    (15, (10, 10, 512)),
    (16, (10, 10, 512)),
    (17, (10, 10, 512)),
    (18, (10, 10, 512)),
    (19, (5, 5, 512)),
    (20, (12800,)),
    (21, (4096,)),
    (22, (512,)),
    (23, (6,)),
]
SEED_GENERATOR = [(3, (1, 1, 2048)), (4, (5, 5, 1024)), (5, (10, 10, 512)), (6, (10, 10, 512))]
SEED_DISCRIMINATOR = [(2, (10, 10, 512)), (3, (5, 5, 1024)), (4, (2, 2, 2048)), (5, (8192,)), (6, (1024,)), (7, (64,))]


def _torch_shape(hwc: tuple[int, ...]) -> tuple[int, ...]:
    return hwc if len(hwc) == 1 else (hwc[2], hwc[0], hwc[1])


def _extractor_blocks(model) -> list[str]:
    names = {n for n, _ in model.named_modules()}
    out = []
    for row, _ in SEED_EXTRACTOR:
        for candidate in (
            f"backbone.trunk.conv{row}",
            f"backbone.trunk.pool{row}",
            f"backbone.top.conv{row}",
            f"backbone.top.pool{row}",
            f"backbone.flatten{row}",
            f"head.layers.fc{row}",
        ):
            if candidate in names:
                out.append(candidate)
    return out


def test_extractor_reproduces_the_write_ups_table_and_its_parameter_count():
    cfg = Config.fromfile(CONFIGS / "extractor_160-e50_chexpert.py")
    with torch.device("meta"):
        model = MODELS.build(cfg.model)
    assert isinstance(model, ImageClassifier)
    blocks = _extractor_blocks(model)
    assert len(blocks) == len(SEED_EXTRACTOR)  # every row is one named block
    rows = layer_table(model, (3, 160, 160), blocks)
    assert [r.output_shape for r in rows[:-1]] == [_torch_shape(s) for _, s in SEED_EXTRACTOR]
    # by hand: 3x3 convs without bias + BN (2 per channel); FC with BN (no bias) of rows 21-23
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 128), (128, 128), (128, 256), (256, 256)]
    convs += [(256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    fcs = [(12800, 4096), (4096, 512), (512, 6)]
    expected = sum(9 * a * b + 2 * b for a, b in convs) + sum(a * b + 2 * b for a, b in fcs)
    assert rows[-1].params == expected == 64_831_948


def test_generator_and_discriminator_reproduce_their_tables():
    cfg = Config.fromfile(CONFIGS / "feature-gan_160_chexpert.py")
    with torch.device("meta"):
        gan = MODELS.build(cfg.model)
    g_rows = layer_table(gan.generator.deconvs, (2048, 1, 1))
    assert [r.output_shape for r in g_rows[:-1]] == [_torch_shape(s) for _, s in SEED_GENERATOR]
    assert gan.generator.dense2.in_features == 100 and gan.generator.dense2.out_features == 2048
    d_blocks = ["convs.conv2", "convs.conv3", "convs.conv4", "convs.flatten5", "fcs.fc6", "fcs.fc7"]
    with torch.device("meta"):  # the same rows without the class projection (layer_table feeds no labels)
        plain = FeatureDiscriminator(**{k: v for k, v in cfg.model.discriminator.items() if k != "type"}, num_classes=0)
    d_rows = layer_table(plain, (512, 10, 10), d_blocks)
    assert [r.output_shape for r in d_rows[:-1]] == [_torch_shape(s) for _, s in SEED_DISCRIMINATOR]
    assert gan.discriminator.fc8.out_features == 1
    # the classifier: rows 16-18 as the extractor, an AVERAGE pool at row 19, the same FC rows
    assert isinstance(gan.classifier.top.pool19, torch.nn.AvgPool2d)
    c_rows = layer_table(gan.classifier, (512, 10, 10), ["top.conv18", "top.pool19", "head.layers.fc23"])
    assert [r.output_shape for r in c_rows[:-1]] == [(512, 10, 10), (512, 5, 5), (6,)]


def _tiny_gan(**options) -> FeatureGAN:
    w = 1 / 16
    return FeatureGAN(
        extractor=dict(in_channels=1, width=w),
        head=dict(in_features=800, num_classes=3, hidden_dims=[16, 8]),
        generator=dict(width=w),
        discriminator=dict(width=w),
        data_preprocessor=dict(type="ImgDataPreprocessor", mean=[0.5], std=[0.25]),
        **options,
    )


def test_generator_output_depends_on_the_class_and_learns_class_targets():
    torch.manual_seed(0)
    gen = FeatureGenerator(num_classes=3, feature_channels=4, hidden_channels=[32, 16])
    gen.eval()
    noise = torch.randn(5, 100)
    outs = [gen(noise, torch.full((5,), k)) for k in range(3)]
    assert outs[0].shape == (5, 4, 10, 10) and outs[0].abs().max() <= 1.0
    assert torch.equal(outs[1], gen(noise, torch.full((5,), 1)))  # deterministic in eval mode
    scale = outs[0].abs().mean()  # untrained in eval mode the outputs are small: compare relative to them
    assert (outs[0] - outs[1]).abs().mean() > 0.1 * scale and (outs[1] - outs[2]).abs().mean() > 0.1 * scale
    # trained to reach a different constant map per class, it produces each class's own target
    targets = torch.tensor([-0.6, 0.0, 0.6])[:, None, None, None].expand(3, 4, 10, 10)
    gen.train()
    torch.manual_seed(1)
    opt = torch.optim.Adam(gen.parameters(), lr=3e-3)
    for _ in range(300):
        labels = torch.arange(24) % 3
        loss = ((gen(torch.randn(24, 100), labels) - targets[labels]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    gen.eval()
    with torch.no_grad():
        for k in range(3):
            out = gen(torch.randn(64, 100), torch.full((64,), k)).mean(0)
            distances = [(out - targets[j]).abs().mean().item() for j in range(3)]
            assert min(range(3), key=distances.__getitem__) == k, (k, distances)
            assert distances[k] < 0.3, (k, distances)


def test_discriminator_projection_uses_the_class():
    torch.manual_seed(0)
    dis = FeatureDiscriminator(in_channels=4, num_classes=3, width=1 / 16).eval()
    with torch.no_grad():
        dis.embed.weight.normal_(std=1.0)
        x = torch.randn(2, 4, 10, 10)
        assert not torch.allclose(dis(x, torch.tensor([0, 0])), dis(x, torch.tensor([1, 1])))
    with pytest.raises(ValueError, match="labels"):
        dis(x)
    plain = FeatureDiscriminator(in_channels=4, num_classes=0, width=1 / 16).eval()
    assert plain(x).shape == (2,) and 0 < float(plain.probability(x)[0]) < 1


def test_scaler_maps_the_training_range_to_minus_one_one_and_back():
    scaler = FeatureScaler(3)
    torch.manual_seed(0)
    batches = [torch.randn(4, 3, 5, 5) * torch.tensor([1.0, 5.0, 0.1])[None, :, None, None] + 2 for _ in range(3)]
    for b in batches:
        scaler.observe(b)
    scaler.finish()
    every = torch.cat(batches)
    scaled = scaler.scale(every)
    per_channel = scaled.transpose(0, 1).reshape(3, -1)
    assert torch.allclose(per_channel.min(1).values, torch.full((3,), -1.0), atol=1e-6)
    assert torch.allclose(per_channel.max(1).values, torch.full((3,), 1.0), atol=1e-6)
    low = every.transpose(0, 1).reshape(3, -1).min(1).values
    high = every.transpose(0, 1).reshape(3, -1).max(1).values
    x = every[0, 1, 2, 3]
    assert float(scaled[0, 1, 2, 3]) == pytest.approx(float(2 * (x - low[1]) / (high[1] - low[1]) - 1), abs=1e-5)
    assert torch.allclose(scaler.unscale(scaled), every, atol=1e-5)
    with pytest.raises(RuntimeError, match="not computed"):
        FeatureScaler(3).scale(every)


def _step1_checkpoint(path: Path, width: float = 1 / 16) -> ImageClassifier:
    torch.manual_seed(1)
    model = ImageClassifier(
        GanFeatureExtractor(in_channels=1, width=width),
        FeatureGanHead(
            in_features=GanFeatureExtractor(in_channels=1, width=width).out_features, num_classes=3, hidden_dims=[16, 8]
        ),
    )
    for m in model.modules():  # BatchNorm statistics that differ from the defaults
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
    torch.save({"state_dict": model.state_dict(), "meta": {}}, path)
    return model


def test_step1_weights_fill_the_extractor_and_the_classifier(tmp_path):
    step1 = _step1_checkpoint(tmp_path / "step1_weights.pth")
    gan = _tiny_gan(extractor_checkpoint=str(tmp_path / "step1_weights.pth"))
    gan.init_weights()
    for key, value in step1.backbone.trunk.state_dict().items():
        assert torch.equal(gan.extractor.state_dict()[key], value), key
    for key, value in step1.backbone.top.state_dict().items():
        assert torch.equal(gan.classifier.top.state_dict()[key], value), key
    for key, value in step1.head.state_dict().items():
        assert torch.equal(gan.classifier.head.state_dict()[key], value), key
    _step1_checkpoint(tmp_path / "wide.pth", width=1 / 8)
    with pytest.raises(InputError, match="does not fit"):
        _tiny_gan(extractor_checkpoint=str(tmp_path / "wide.pth")).init_weights()
    torch.save({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="not a step-1 checkpoint"):
        _tiny_gan(extractor_checkpoint=str(tmp_path / "other.pth")).init_weights()
    with pytest.raises(InputError, match="not found"):
        _tiny_gan(extractor_checkpoint=str(tmp_path / "missing.pth")).init_weights()


def _batch(n: int = 4) -> dict:
    torch.manual_seed(2)
    images = [torch.rand(1, 160, 160) for _ in range(n)]
    return {"inputs": images, "data_samples": [BaseDataElement(gt_label=k % 3) for k in range(n)]}


def _optim(gan: FeatureGAN):
    cfg = dict(
        generator=dict(optimizer=dict(type="Adam", lr=1e-3, betas=(0.5, 0.999))),
        discriminator=dict(optimizer=dict(type="Adam", lr=1e-4, betas=(0.5, 0.999))),
        classifier=dict(optimizer=dict(type="Adam", lr=1e-7)),
    )
    return FeatureGanOptimWrapperConstructor(cfg)(gan)


def _adam_steps(wrapper) -> int:
    states = [s for s in wrapper.optimizer.state.values() if "step" in s]
    counts = {int(s["step"]) for s in states}
    return counts.pop() if len(counts) == 1 else (0 if not counts else -1)


def test_train_step_schedule_fake_every_2_real_every_5_and_frozen_parts():
    gan = _tiny_gan()
    gan.fit_feature_stats([_batch()])
    optim = _optim(gan)
    assert set(optim.keys()) == {"generator", "discriminator", "classifier"}
    assert optim["generator"].get_lr()["lr"] == [1e-3] and optim["classifier"].get_lr()["lr"] == [1e-7]
    extractor_before = {k: v.clone() for k, v in gan.extractor.state_dict().items()}
    classifier_before = {k: v.clone() for k, v in gan.classifier.state_dict().items()}
    gan.train()
    logs = [gan.train_step(_batch(), optim) for _ in range(10)]
    # step 1 does not touch the classifier: the generator's update sends it no gradient, BN stats kept
    assert _adam_steps(optim["discriminator"]) == 10 and _adam_steps(optim["generator"]) == 10
    assert _adam_steps(optim["classifier"]) == 10 // 2 + 10 // 5  # fake on 2,4,6,8,10; real on 5,10
    assert [("loss_c_fake" in x) for x in logs] == [k % 2 == 0 for k in range(1, 11)]
    assert [("loss_c_real" in x) for x in logs] == [k % 5 == 0 for k in range(1, 11)]
    assert int(gan.steps) == 10
    for key, value in gan.extractor.state_dict().items():
        assert torch.equal(value, extractor_before[key]), key  # frozen: weights and BN statistics
    changed = [k for k, v in gan.classifier.state_dict().items() if not torch.equal(v, classifier_before[k])]
    assert any(k.endswith("weight") for k in changed)  # learned
    # a classifier that never steps keeps every weight: no gradient leaks from the generator's loss
    frozen = _tiny_gan(fake_every=100, real_every=100)
    frozen.fit_feature_stats([_batch()])
    before = {k: v.clone() for k, v in frozen.classifier.state_dict().items()}
    optim2 = _optim(frozen)
    frozen.train()
    for _ in range(3):
        frozen.train_step(_batch(), optim2)
    assert all(torch.equal(v, before[k]) for k, v in frozen.classifier.state_dict().items())
    assert _adam_steps(optim2["classifier"]) == 0


def _running_stats_after(classifier_bn: str, **schedule) -> tuple[bool, bool]:
    """(whether the classifier's BatchNorm running statistics changed, whether its weights did) over 4 steps."""
    torch.manual_seed(0)
    gan = _tiny_gan(classifier_bn=classifier_bn, **schedule)
    gan.fit_feature_stats([_batch()])
    before = {k: v.clone() for k, v in gan.classifier.state_dict().items()}
    optim = _optim(gan)
    gan.train()
    for _ in range(4):
        gan.train_step(_batch(), optim)
    after = gan.classifier.state_dict()
    changed = [k for k, v in after.items() if k != "num_batches_tracked" and not torch.equal(v, before[k])]
    return any("running" in k for k in changed), any(k.endswith("weight") for k in changed)


@pytest.mark.parametrize(
    ("mode", "fake_moves", "real_moves"),
    [("real", False, True), ("frozen", False, False), ("train", True, True)],
)
def test_classifier_batchnorm_statistics_follow_real_features_only_by_default(mode, fake_moves, real_moves):
    fakes_only, reals_only = dict(fake_every=1, real_every=100), dict(fake_every=100, real_every=1)
    assert _running_stats_after(mode, **fakes_only) == (fake_moves, True)
    assert _running_stats_after(mode, **reals_only) == (real_moves, True)


def test_predict_sets_scores_and_labels_like_the_classifiers():
    gan = _tiny_gan()
    gan.fit_feature_stats([_batch()])
    gan.eval()
    data = gan.data_preprocessor(_batch(3), False)
    samples = gan(data["inputs"], data["data_samples"], mode="predict")
    assert len(samples) == 3
    for s in samples:
        assert s.pred_score.shape == (3,) and float(s.pred_score.sum()) == pytest.approx(1.0, abs=1e-5)
        assert int(s.pred_label) == int(s.pred_score.argmax())


def test_optim_constructor_and_model_options_are_checked():
    gan = _tiny_gan()
    with pytest.raises(ConfigError, match="no sub-network 'critic'"):
        FeatureGanOptimWrapperConstructor(dict(critic=dict(optimizer=dict(type="Adam", lr=1e-3))))(gan)
    with pytest.raises(ConfigError, match="optimizer"):
        FeatureGanOptimWrapperConstructor(dict(generator=dict(lr=1e-3)))
    with pytest.raises(ConfigError, match="optim_wrapper has no"):
        gan.train_step(_batch(), {"generator": None})
    with pytest.raises(ConfigError, match="10 x 10"):
        FeatureGAN(extractor=dict(in_channels=1, width=1 / 16, input_size=64), head=dict(in_features=32))
    with pytest.raises(ConfigError, match="fake_class_weights"):
        _tiny_gan(fake_class_weights=[1, 2])
    with pytest.raises(ConfigError, match="classifier_bn='eval'"):
        _tiny_gan(classifier_bn="eval")


def test_classifier_start_delays_the_classifier_and_the_stats_hook_computes_once():
    from types import SimpleNamespace

    from cxrdet.models.feature_gan import FeatureStatsHook

    gan = _tiny_gan(classifier_start=3)
    hook = FeatureStatsHook()
    runner = SimpleNamespace(model=gan, train_dataloader=[_batch(), _batch(2)])
    hook.before_train(runner)
    assert bool(gan.scaler.ready)
    low = gan.scaler.low.clone()

    class Refuses:
        def __iter__(self):
            raise AssertionError("statistics recomputed")

    hook.before_train(SimpleNamespace(model=gan, train_dataloader=Refuses()))  # resumed: kept
    assert torch.equal(gan.scaler.low, low)
    optim = _optim(gan)
    gan.train()
    logs = [gan.train_step(_batch(), optim) for _ in range(10)]
    assert _adam_steps(optim["classifier"]) == 4 + 2  # fake on 4, 6, 8, 10; real on 5, 10
    assert not any("loss_c_fake" in x or "loss_c_real" in x for x in logs[:3])
    with pytest.raises(TypeError, match="not a FeatureGAN"):
        hook.before_train(SimpleNamespace(model=torch.nn.Linear(1, 1), train_dataloader=[]))
