#!/usr/bin/env bash
# Style and type checks, run by .ci/run before the tests (the tools come with the `test` extra of tools/setup_env.sh):
#   ruff check            lint: the rule set in pyproject.toml ([tool.ruff.lint]) over cxrdet/, tests/, benchmarks/,
#                         configs/ and tools/
#   ruff format --check   the formatter's layout (line length 120); `ruff format .` applies it
#   mypy                  types of the framework-free core ([tool.mypy] files: structures, io, ensemble,
#                         evaluation, submission)
# Zero findings is the bar: any finding fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${CXRDET_VENV:-.venv}"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
