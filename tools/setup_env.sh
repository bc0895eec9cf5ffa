#!/usr/bin/env bash
# Set up (or refresh) the cxrdet virtual environment: torch + torchvision that work together, mmcv 2.1.0
# compiled with ops, mmdet 3.3.0, ultralytics, pydicom with decoders, and cxrdet itself (editable).
#
# Idempotent: a second run with nothing changed finishes in seconds (stamp + import check).
# The first run compiles mmcv's C++/CUDA ops (tens of minutes on 2 cores); the built wheel is cached
# under $CXRDET_CACHE/wheels keyed by Python, torch and CUDA, so later venvs reuse it.
#
# Environment knobs:
#   PYTHON=python3.11        interpreter for the venv (3.10-3.12)
#   CXRDET_VENV=.venv        where the venv lives (relative to the repo root)
#   CXRDET_CACHE=~/.cache/cxrdet   where the built mmcv wheel is kept
#   CXRDET_EXTRAS=test       pip extras of cxrdet to install ("" for none)
#   MAX_JOBS=<nproc>         parallel compile jobs for mmcv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TORCH_VERSION="2.13.0"
TORCHVISION_VERSION="0.28.0"
MMCV_VERSION="2.1.0"

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV="${CXRDET_VENV:-.venv}"
CACHE="${CXRDET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cxrdet}"
EXTRAS="${CXRDET_EXTRAS-test}"
VPY="$VENV/bin/python"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- fast path: nothing changed since the last successful run -------------------------------------
stamp_of() {
    cat pyproject.toml tools/setup_env.sh | sha256sum | cut -c1-16
    printf '%s|%s\n' "$EXTRAS" "$("$PYTHON" -c 'import sys; print(sys.version)')"
}
STAMP_FILE="$VENV/.cxrdet-setup-stamp"
WANT_STAMP="$(stamp_of)"
if [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$WANT_STAMP" ]] &&
    YOLO_CONFIG_DIR="$ROOT/$VENV/ultralytics-config" YOLO_OFFLINE=1 \
        "$VPY" -c 'import cxrdet, mmcv.ops, mmdet, ultralytics, torchvision' >/dev/null 2>&1; then
    log "environment up to date ($VENV)"
    exit 0
fi

# ---- venv + uv ------------------------------------------------------------------------------------
if [[ ! -x "$VPY" ]]; then
    log "creating virtual environment $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
if [[ ! -x "$VENV/bin/uv" ]]; then
    log "installing uv into the venv"
    "$VPY" -m pip install -q --disable-pip-version-check "uv>=0.5"
fi
UV=("$VENV/bin/uv" pip)
export VIRTUAL_ENV="$ROOT/$VENV"
# One set of overrides for every install step:
# - torch declares setuptools>=77, but mmcv 2.1.0's build (and parts of OpenMMLab at run time) import
#   pkg_resources, so setuptools stays below 70;
# - ultralytics asks for opencv-python, which needs libGL; the headless build provides the same cv2.
OVERRIDES="$(mktemp)"
trap 'rm -f "$OVERRIDES"' EXIT
printf '%s\n' "setuptools<70" "opencv-python ; sys_platform == 'never'" "torch==$TORCH_VERSION" \
    "torchvision==$TORCHVISION_VERSION" "mmcv==$MMCV_VERSION" >"$OVERRIDES"
# uv resolves torch from the package registry (it does not look at pip's find-links, so a local
# CPU-only torch wheel that torchvision cannot load its ops against is never picked up).

# ---- torch + torchvision + build tools ------------------------------------------------------------
log "installing torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION (first run downloads several GB)"
"${UV[@]}" install -q --override "$OVERRIDES" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
    "setuptools<70" wheel ninja "numpy>=1.24" pip
"$VPY" - <<'PY'
import torch, torchvision
from torchvision.ops import nms, roi_align
b = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
keep = nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep
out = roi_align(torch.rand(1, 1, 8, 8), [torch.tensor([[0., 0., 4., 4.]])], output_size=2)
assert out.shape == (1, 1, 2, 2)
print(f"torch {torch.__version__} + torchvision {torchvision.__version__}: nms and roi_align run "
      f"(cuda available: {torch.cuda.is_available()})")
PY

# ---- mmcv with compiled ops (cached wheel) --------------------------------------------------------
KEY="$("$VPY" -c 'import sys, torch
cuda = torch.version.cuda if torch.cuda.is_available() else "none"
print(f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}-cuda{cuda}")')"
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-$KEY"
if ! "$VPY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" >/dev/null 2>&1; then
    if ! ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        log "building mmcv $MMCV_VERSION with ops for $KEY (tens of minutes on 2 cores; cached afterwards)"
        mkdir -p "$WHEEL_DIR.tmp"
        MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" PATH="$ROOT/$VENV/bin:$PATH" \
            "$VPY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
            --no-binary mmcv -w "$WHEEL_DIR.tmp" "mmcv==$MMCV_VERSION"
        rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
    else
        log "reusing cached mmcv wheel from $WHEEL_DIR"
    fi
    "${UV[@]}" install -q --no-deps "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl
fi

# ---- everything else, cxrdet editable -------------------------------------------------------------
SPEC="."
[[ -n "$EXTRAS" ]] && SPEC=".[$EXTRAS]"
log "installing cxrdet and its dependencies"
"${UV[@]}" install -q --override "$OVERRIDES" -e "$SPEC"

log "checking the stack"
# importing ultralytics writes a settings file: keep it inside the venv, and never go online
YOLO_CONFIG_DIR="$ROOT/$VENV/ultralytics-config" YOLO_OFFLINE=1 "$VPY" - <<'PY'
import cv2, mmcv, mmcv.ops, mmdet, mmengine, pydicom, torch, ultralytics
import cxrdet
print(f"cxrdet {cxrdet.__version__}: torch {torch.__version__}, mmcv {mmcv.__version__} (ops ok), "
      f"mmdet {mmdet.__version__}, mmengine {mmengine.__version__}, ultralytics {ultralytics.__version__}, "
      f"pydicom {pydicom.__version__}, opencv {cv2.__version__}")
PY
printf '%s' "$WANT_STAMP" >"$STAMP_FILE"
log "done: activate with 'source $VENV/bin/activate' or call $VENV/bin/cxrdet"
