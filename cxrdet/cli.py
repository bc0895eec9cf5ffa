"""The ``cxrdet`` console script: one subcommand per module in :mod:`cxrdet.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``,
and imports its heavy dependencies inside ``run`` so that ``cxrdet --help`` stays fast.

Conventions every command follows (checked by ``tests/commands/test_cli_conventions.py``): outputs are
``-o/--out`` (a file or a folder), never positional; ``--overwrite`` allows replacing an existing output but
never writing onto one of the command's inputs (:mod:`cxrdet.io.outputs`); defaults are shown by
:class:`argparse.ArgumentDefaultsHelpFormatter`, not typed into help strings.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from cxrdet import __version__
from cxrdet.errors import CxrdetError

# subcommand name -> module under cxrdet.commands, in the order the pipeline runs.
COMMANDS: dict[str, str] = {
    "make-example": "make_example",
    "convert": "convert",
    "train": "train",
    "test": "test",
    "predict": "predict",
    "explain": "explain",
    "evaluate": "evaluate",
    "ensemble": "ensemble",
    "tune-ensemble": "tune_ensemble",
    "submit": "submit",
    "validate-submission": "validate_submission",
    "benchmark": "benchmark",
    "demo": "demo",
}

log = logging.getLogger("cxrdet")


def _command_modules() -> dict[str, object]:
    return {name: importlib.import_module(f"cxrdet.commands.{module}") for name, module in COMMANDS.items()}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="cxrdet",
        description="Chest X-ray detection toolkit: DICOM -> datasets -> models -> ensemble -> "
        "VinDr mAP@0.4 -> Kaggle submission.",
    )
    parser.add_argument("--version", action="version", version=f"cxrdet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules().items():
        p = sub.add_parser(
            name, help=module.HELP, description=module.HELP, formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cxrdet`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from cxrdet import log_privacy

    log_privacy.install(logging.DEBUG if args.verbose else logging.INFO)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except CxrdetError as err:
        log.error("%s", err)
        return 1
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
