"""Importing cxrdet (every module) writes no file, sets no environment variable and opens no connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # end-to-end runs: `pytest -m 'not slow'` leaves them out

SCRIPT = r"""
import json, os, pkgutil, importlib, socket, sys
def no_network(*args, **kwargs):
    raise AssertionError(f"network access at import: {args}")
socket.socket.connect = no_network
socket.create_connection = no_network
before = dict(os.environ)
import cxrdet
top_level_changed = sorted(k for k in os.environ if before.get(k) != os.environ[k])
names = sorted(m.name for m in pkgutil.walk_packages(cxrdet.__path__, "cxrdet."))
for name in names:
    importlib.import_module(name)
after = dict(os.environ)
changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
print(json.dumps({"modules": names, "top_level_changed": top_level_changed, "env_changed": changed}))
"""


def test_importing_every_module_has_no_side_effects(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO", "XDG_"))} | {"HOME": str(home)}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "cxrdet.io.dicom" in report["modules"] and "cxrdet.cli" in report["modules"]
    assert report["top_level_changed"] == []
    # Third-party bootstraps, not cxrdet: OpenCV's cv2/__init__ sets LD_LIBRARY_PATH and python-gdcm
    # (probed by pydicom's decoder plugins) sets GDCM_RESOURCES_PATH; scikit-learn's __init__ (imported by
    # mmdet.models, which cxrdet.models' detectors subclass) sets the two KMP_ (Intel OpenMP) switches.
    # cxrdet itself sets nothing.
    third_party = {"LD_LIBRARY_PATH", "GDCM_RESOURCES_PATH", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"}
    assert set(report["env_changed"]) <= third_party
    # mmengine (behind cxrdet.registry) imports yapf, whose grammar loader caches a pickle in ~/.cache/YAPF, and
    # mmdet's datasets (behind cxrdet.datasets) import matplotlib, which makes its empty ~/.config/matplotlib:
    # third-party effects of importing mmengine and mmdet themselves. Nothing else may appear.
    matplotlib_dir = home / ".config" / "matplotlib"
    assert not matplotlib_dir.exists() or not any(matplotlib_dir.iterdir())
    created = [
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob("*")
        if p not in (home, home / ".config", matplotlib_dir)
        and not str(p.relative_to(home if home in p.parents else tmp_path)).startswith(".cache")
    ]
    assert created == [], f"files created by importing cxrdet: {created}"
    cache = home / ".cache"
    assert not cache.exists() or {p.name for p in cache.iterdir()} <= {"YAPF", "matplotlib"}  # its font cache
