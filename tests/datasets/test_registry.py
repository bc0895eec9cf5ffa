"""cxrdet's registries: every ``locations`` package exists, so lookups never raise."""

from __future__ import annotations

import importlib

import pytest

from cxrdet import registry


@pytest.mark.parametrize("name", ["MODELS", "DATASETS", "TRANSFORMS", "METRICS", "HOOKS"])
def test_lookups_do_not_raise(name):
    reg = getattr(registry, name)
    assert reg.scope == "cxrdet"
    for location in reg._locations:
        importlib.import_module(location)
    assert reg.get("NoSuchComponent") is None  # imports the locations, finds nothing, no error


def test_registered_components_are_found():
    assert registry.TRANSFORMS.get("LoadGreyImageFromFile").__name__ == "LoadGreyImageFromFile"
