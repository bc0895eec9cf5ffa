"""Every model test builds in cxrdet's scope, whatever scope an earlier test left current.

mmengine keeps one current ``DefaultScope`` per process: an mmdet test (or mmdet's own runner) leaves ``mmdet``
current, and a ``cxrdet.registry.MODELS.build`` would then look in mmdet's registry. Tests that need mmdet's
scope set it themselves; the test files of cxrdet's own models use this fixture (``pytestmark``).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def cxrdet_scope():
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("cxrdet"):
        yield
