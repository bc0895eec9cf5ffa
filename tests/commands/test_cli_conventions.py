"""One tool, one vocabulary: the conventions every ``cxrdet`` command follows, checked on the real parser.

- outputs are ``-o/--out`` (a file or a folder), never a positional argument;
- ``--overwrite`` allows replacing an existing output; without it an existing file (or a non-empty folder) is
  refused, and even with it a command never writes onto one of its own inputs;
- defaults are shown by :class:`argparse.ArgumentDefaultsHelpFormatter`, never typed into a help string;
- IoU flags keep each ecosystem's name: ``predict --iou`` (Ultralytics' NMS IoU), ``--iou-thr`` (ensemble-boxes'
  fusion IoU), ``--map-iou`` (the metric's threshold); ``convert --folds K`` makes folds, ``train --fold K`` /
  ``--all-folds`` trains them; ``--sizes FILE`` reads image sizes; ``--gt`` is the ground truth of a score,
  ``convert --labels`` the raw labels.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re

import pytest

from cxrdet.cli import COMMANDS, build_parser, main

# Commands whose product is a file or a folder: each names it with -o/--out.
WRITERS = {"make-example", "convert", "train", "predict", "explain", "ensemble", "submit", "benchmark", "demo"}
# Commands whose product is printed (a score, a table); an optional report file has its own flag (--json, --plots).
PRINTERS = {"test", "evaluate", "tune-ensemble", "validate-submission"}
# The positional arguments there are: inputs only.
POSITIONALS = {
    "train": {"config"},
    "test": {"config", "checkpoint"},
    "predict": {"model", "checkpoint"},
    "explain": {"config", "checkpoint", "images"},
    "ensemble": {"preds"},
    "tune-ensemble": {"preds"},
    "submit": {"pred"},
    "validate-submission": {"file"},
    "benchmark": {"configs"},
}
OVERWRITE = {"make-example", "predict", "explain", "ensemble", "evaluate", "tune-ensemble", "submit", "benchmark"}
# Help strings that still type their defaults, pending their owners' change (listed, so that it is visible).
TYPED_DEFAULTS_PENDING: set[str] = set()

PRED = "image_id,class_id,score,x_min,y_min,x_max,y_max,height,width\na,3,0.5,10,20,30,40,100,200\n"
GT = "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\na,Infiltration,3,R1,10,20,30,40\n"
SAMPLE = "image_id,PredictionString\na,14 1 0 0 1 1\n"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


PARSERS = _subparsers()


def _visible(name: str) -> dict[str, argparse.Action]:
    """Option string -> action, of the options a command's help shows (hidden old spellings left out)."""
    return {s: a for a in PARSERS[name]._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


def _hidden(name: str) -> set[str]:
    return {s for a in PARSERS[name]._actions if a.help == argparse.SUPPRESS for s in a.option_strings} - {"-h"}


def test_every_command_is_classified():
    assert set(PARSERS) == set(COMMANDS) == WRITERS | PRINTERS and not WRITERS & PRINTERS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_positional_output(name):
    positionals = {a.dest for a in PARSERS[name]._actions if not a.option_strings}
    assert positionals <= POSITIONALS.get(name, set()), positionals
    for a in PARSERS[name]._actions:
        if not a.option_strings:
            assert not re.match(r"(output|write)", a.help or "", re.I), (a.dest, a.help)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_writers_have_o_out_and_others_do_not(name):
    options = _visible(name)
    if name in WRITERS:
        assert "-o" in options and "--out" in options and options["-o"] is options["--out"]
    else:
        assert "-o" not in options and "--out" not in options


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_overwrite_where_expected_and_no_other_output_spellings(name):
    options = _visible(name)
    assert ("--overwrite" in options) == (name in OVERWRITE)
    assert "--output" not in options and "--output" not in _hidden(name)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_exits_0_and_shows_defaults_in_the_formatters_style(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    text = "".join(capsys.readouterr().out.split())  # line wrapping removed
    for action in PARSERS[name]._actions:
        if action.help in (None, argparse.SUPPRESS) or not action.option_strings or action.dest == "help":
            continue
        assert f"(default:{''.join(str(action.default).split())})" in text, (action.option_strings, text)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=pytest.mark.xfail(
                reason="cxrdet/commands/predict.py still types its defaults into help strings", strict=False
            ),
        )
        if n in TYPED_DEFAULTS_PENDING
        else n
        for n in sorted(COMMANDS)
    ],
)
def test_no_default_typed_into_a_help_string(name):
    for action in PARSERS[name]._actions:
        help_ = action.help or ""
        assert not re.search(r"\(default\b|default:|default \d|\(default\)", help_), (action.option_strings, help_)


def test_iou_flags_keep_each_ecosystems_name():
    assert "--iou" in _visible("predict")  # Ultralytics' NMS IoU
    for name in ("ensemble", "tune-ensemble"):
        assert "--iou-thr" in _visible(name)  # ensemble-boxes' fusion IoU
    for name in ("evaluate", "tune-ensemble"):
        assert "--map-iou" in _visible(name) and "--iou" not in _visible(name)
    for name in set(COMMANDS) - {"predict"}:
        assert "--iou" not in _visible(name) and "--iou-thrs" not in _visible(name)
    assert PARSERS["tune-ensemble"].parse_args(["p.csv", "--gt", "g.csv", "--iou-thr", "0.3", "0.5"]).iou_thr == [
        0.3,
        0.5,
    ]


def test_fold_flags():
    convert = _visible("convert")
    assert convert["--folds"].type is int
    train = _visible("train")
    assert isinstance(train["--fold"], argparse._AppendAction) and "--all-folds" in train
    assert "--folds" not in train
    assert PARSERS["train"].parse_args(["c.py", "--all-folds"]).all_folds is True


def test_sizes_and_gt_flags():
    for name in ("ensemble", "tune-ensemble", "validate-submission"):
        assert "--sizes" in _visible(name) and _visible(name)["--sizes"].metavar == "FILE"
    for name in COMMANDS:
        assert "--meta" not in _visible(name)
    for name in ("evaluate", "tune-ensemble"):
        assert "--gt" in _visible(name)
    assert "--labels" in _visible("convert") and "--gt" not in _visible("convert")
    for name in set(COMMANDS) - {"convert"}:
        assert "--labels" not in _visible(name)


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "pred.csv").write_text(PRED)
    (tmp_path / "gt.csv").write_text(GT)
    (tmp_path / "sample.csv").write_text(SAMPLE)
    return tmp_path


def _cheap_runs(d):
    """command -> (argv without --overwrite, the output it would write, one of its inputs)."""
    pred, gt, sample = d / "pred.csv", d / "gt.csv", d / "sample.csv"
    return {
        "ensemble": (lambda out: ["ensemble", pred, pred, "-o", out], pred),
        "evaluate": (lambda out: ["evaluate", "--gt", gt, "--pred", pred, "--json", out], gt),
        "submit": (lambda out: ["submit", pred, "--sample", sample, "-o", out], sample),
        "tune-ensemble": (
            lambda out: [
                "tune-ensemble",
                pred,
                pred,
                "--gt",
                gt,
                "--iou-thr",
                "0.5",
                "--skip-box-thr",
                "0",
                "--no-progress",
                "--json",
                out,
            ],
            gt,
        ),
        "predict": (lambda out: ["predict", d / "missing.pt", "--source", d, "-o", out], None),
    }


def _run(argv) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main([str(a) for a in argv])


@pytest.mark.parametrize("name", ["ensemble", "evaluate", "submit", "tune-ensemble", "predict"])
def test_existing_output_refused_without_overwrite_and_inputs_always(name, inputs, caplog):
    argv, an_input = _cheap_runs(inputs)[name]
    out = inputs / "existing.out"
    out.write_text("keep me")
    assert _run(argv(out)) == 1
    assert "exists already" in caplog.text and "--overwrite" in caplog.text
    assert out.read_text() == "keep me"
    if name == "predict":
        return  # a real prediction needs a checkpoint; the refusal above comes before the model is loaded
    caplog.clear()
    assert _run(argv(inputs / "new.out") + ["--overwrite"]) == 0, caplog.text
    assert _run(argv(out) + ["--overwrite"]) == 0, caplog.text
    assert out.read_text() != "keep me"
    before = an_input.read_text()
    caplog.clear()
    assert _run(argv(an_input) + ["--overwrite"]) == 1
    assert "is one of this command's inputs" in caplog.text and an_input.read_text() == before


def test_make_example_refuses_a_non_empty_folder_without_overwrite(tmp_path, caplog):
    out = tmp_path / "example"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    argv = ["make-example", "-o", out, "--n-train", "1", "--n-test", "0", "--image-sizes", "64", "--workers", "1"]
    assert _run(argv) == 1 and "not empty" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert _run(argv + ["--overwrite"]) == 0
    assert (out / "mine.txt").read_text() == "keep me" and (out / "train.csv").is_file()
    (tmp_path / "a-file").write_text("x")
    caplog.clear()
    assert _run(["make-example", "-o", tmp_path / "a-file"]) == 1 and "is a file" in caplog.text


def test_convert_never_writes_into_its_dicom_folder(tmp_path, caplog):
    dicoms = tmp_path / "dicoms"
    dicoms.mkdir()
    for out in (dicoms, dicoms / "png"):
        caplog.clear()
        assert _run(["convert", "--dicom-dir", dicoms, "-o", out, "--no-progress"]) == 1
        assert "input" in caplog.text and not (dicoms / "png").exists()
