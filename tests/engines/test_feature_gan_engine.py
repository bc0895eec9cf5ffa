"""The feature GAN through the real path: ``cxrdet train`` step 1 then step 2, ``cxrdet test`` on the balanced set.

Step 1 (the extractor CNN, shrunk to 1/16 of its widths) trains on the example's 10:1 imbalanced ``train.csv``;
``cxrdet test`` scores it on the balanced held-out ``test.csv``: it must have learned (balanced accuracy far above
chance) and under-learned the minority classes (their recall below the majority classes'). Step 2 (the GAN, same
widths) starts from step 1's checkpoint through ``model.extractor_checkpoint`` (a full mmengine checkpoint, trusted
because the config names it), with the classifier's learning rate raised from the write-up's 1e-7 to 1e-4; its run
holds the three optimisers' states, the stored feature statistics and every loss; its classifier stays far above
the untrained model. The issue's criterion: the minority classes' mean recall after step 2 at least step 1's, the
balanced accuracy down by no more than 2 points (measured: 0.658 / 0.400 -> 0.650 / 0.633; it holds on this
example draw, not on every one: see the closing note). The per-class recalls before and after are printed
(``pytest -s``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from task_runs import (
    CONFIGS,
    one_thread,  # noqa: F401 - autouse fixture
    task_engine,
)

pytestmark = pytest.mark.slow

STEP1_EPOCHS = 8
STEP2_EPOCHS = 4


def _engine(config: str, data: Path, work: Path, **options):
    return task_engine(f"feature_gan/{config}", data, work, **options)


@pytest.fixture(scope="module")
def chest(tmp_path_factory) -> Path:
    from cxrdet.example.imbalanced import make_imbalanced_example

    out = tmp_path_factory.mktemp("imbalanced") / "data"
    make_imbalanced_example(out, n_per_class_major=40, ratio=10, n_test_per_class=20, size=160, seed=0)
    return out


def _recalls(metrics: dict[str, float]) -> dict[str, float]:
    from cxrdet.evaluation.task_metrics import recall_key
    from cxrdet.example.imbalanced import CLASSES

    return {c: metrics[f"cls/recall_{recall_key(c)}"] for c in CLASSES}


@pytest.fixture(scope="module")
def runs(chest, tmp_path_factory) -> dict:
    """Step 1 then step 2 through ``cxrdet train``, each scored by ``cxrdet test`` on the balanced test.csv."""
    work = tmp_path_factory.mktemp("runs")
    step1 = _engine(
        "extractor_example.py",
        chest,
        work / "step1",
        **{"train_cfg.max_epochs": STEP1_EPOCHS, "train_cfg.val_interval": STEP1_EPOCHS},
    )
    (r1,) = step1.train(["all"])
    step2 = _engine(
        "feature-gan_example.py",
        chest,
        work / "step2",
        **{
            "model.extractor_checkpoint": str(r1.best),  # a full mmengine checkpoint: trusted as the config names it
            "train_cfg.max_epochs": STEP2_EPOCHS,
            "train_cfg.val_interval": STEP2_EPOCHS,
        },
    )
    (r2,) = step2.train(["all"])
    before, after = step1.test(r1.best), step2.test(r2.best)
    random_init = _engine("feature-gan_example.py", chest, work / "untrained", **{"model.extractor_checkpoint": None})
    untrained = random_init.test(random_init.untrained_checkpoint(work / "untrained.pth"))
    rec1, rec2 = _recalls(before.metrics), _recalls(after.metrics)
    bal1, bal2 = before.metrics["cls/balanced_accuracy"], after.metrics["cls/balanced_accuracy"]
    print(
        f"\nbalanced accuracy on test.csv: step 1 {bal1:.3f} -> step 2 {bal2:.3f} (untrained step 2: "
        f"{untrained.metrics['cls/balanced_accuracy']:.3f})"
    )
    for c in rec1:
        print(f"  recall {c:<17} {rec1[c]:.2f} -> {rec2[c]:.2f}{'  (gained)' if rec2[c] > rec1[c] else ''}")
    return dict(
        r1=r1,
        r2=r2,
        before=before,
        after=after,
        untrained=untrained,
        rec1=rec1,
        rec2=rec2,
        bal1=bal1,
        bal2=bal2,
        step2=step2,
    )


def _minority(recalls: dict[str, float]) -> float:
    from cxrdet.example.imbalanced import MINORITY

    return sum(recalls[c] for c in MINORITY) / len(MINORITY)


def test_step_1_learns_and_under_learns_the_minority_classes(runs):
    from cxrdet.example.imbalanced import MAJORITY

    before = runs["before"]
    assert before.report.split("accuracy")[1].split()[1] == "120"  # the balanced test.csv, 20 images a class
    assert runs["bal1"] >= 0.5, before.lines()  # chance: 1/6
    majority = sum(runs["rec1"][c] for c in MAJORITY) / len(MAJORITY)
    assert _minority(runs["rec1"]) < majority - 0.2, runs["rec1"]


def test_step_2_trains_from_step_1_through_the_runner(runs):
    import pandas as pd

    r2, after = runs["r2"], runs["after"]
    saved = torch.load(r2.save_dir / f"epoch_{STEP2_EPOCHS}.pth", map_location="cpu", weights_only=False)
    state = saved["state_dict"]  # the last epoch's checkpoint (the best one holds no optimiser state)
    assert bool(state["scaler.ready"]) and torch.isfinite(state["scaler.low"]).all()  # computed once, stored
    curves = pd.read_csv(r2.save_dir / "training_curves.csv")
    keys = set(curves["key"])
    assert {"train/loss_d", "train/loss_g", "train/loss_c_fake", "train/loss_c_real"} <= keys, keys
    assert set(saved["optimizer"]) == {"generator", "discriminator", "classifier"}  # the OptimWrapperDict's state
    lrs = {k: v["param_groups"][0]["lr"] for k, v in saved["optimizer"].items()}
    assert lrs == {"generator": 1e-3, "discriminator": 1e-4, "classifier": 1e-4}
    # step 2's classifier starts from step 1 (the untrained model is at chance) and stays far above chance
    assert runs["untrained"].metrics["cls/balanced_accuracy"] <= 0.3
    assert runs["bal2"] >= runs["untrained"].metrics["cls/balanced_accuracy"] + 0.2, after.lines()


def test_issue_criterion_minority_recall_kept_and_balanced_accuracy_within_2_points(runs):
    assert _minority(runs["rec2"]) >= _minority(runs["rec1"]) - 1e-9, (runs["rec1"], runs["rec2"])
    assert runs["bal2"] >= runs["bal1"] - 0.02, (runs["bal1"], runs["bal2"])


def test_the_runner_trusts_checkpoints_the_model_section_names():
    from mmengine.config import Config

    from cxrdet.engines.runner.runner_engine import model_checkpoints

    cfg = Config(dict(model=dict(type="FeatureGAN", extractor_checkpoint="/w/step1.pth", other_checkpoint=None)))
    assert model_checkpoints(cfg) == ["/w/step1.pth"]
    assert model_checkpoints(Config(dict(model=dict(type="ImageClassifier")))) == []


def test_step_2_predicts_rows_through_the_cli(runs, chest, tmp_path):
    import pandas as pd

    from cxrdet.cli import main
    from cxrdet.example.imbalanced import CLASSES

    source = tmp_path / "some"
    source.mkdir()
    test = pd.read_csv(chest / "test.csv").head(12)
    for rel in test["Path"]:
        (source / Path(rel).name).write_bytes((chest / rel).read_bytes())
    out = tmp_path / "pred.csv"
    config = str(CONFIGS / "feature_gan" / "feature-gan_example.py")
    assert main(["predict", config, str(runs["r2"].best), "--source", str(source), "-o", str(out)]) == 0
    rows = pd.read_csv(out)
    columns = [f"p_{c.lower().replace(' ', '_')}" for c in CLASSES]
    assert sorted(rows.columns) == sorted(["image_id", *columns, "label"]) and len(rows) == 12
    assert ((rows[columns].sum(axis=1) - 1.0).abs() < 1e-5).all()
    assert set(rows["label"]) <= set(CLASSES)


def test_the_minority_classes_are_learnable_when_weighted_equally(runs, chest, tmp_path):
    """The same extractor on the same 10:1 data, its loss weighting each class 10:1 back: the minority classes that
    the plain baseline under-learns are learned (the example's imbalance, not its pixels, hides them)."""
    from cxrdet.example.imbalanced import CLASSES, MINORITY

    weights = [10.0 if c in MINORITY else 1.0 for c in CLASSES]
    weighted = _engine(
        "extractor_example.py",
        chest,
        tmp_path / "weighted",
        **{
            "model.class_weight": weights,
            "train_cfg.max_epochs": STEP1_EPOCHS,
            "train_cfg.val_interval": STEP1_EPOCHS,
        },
    )
    (result,) = weighted.train(["all"])
    recalls = _recalls(weighted.test(result.best).metrics)
    print(f"\nminority recall, class-weighted step 1: {_minority(recalls):.3f} (plain: {_minority(runs['rec1']):.3f})")
    assert _minority(recalls) >= _minority(runs["rec1"]) + 0.15, (recalls, runs["rec1"])
