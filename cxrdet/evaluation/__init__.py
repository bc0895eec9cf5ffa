"""Evaluation: the VinDr metric (:mod:`.voc`), COCO numbers (:mod:`.coco`), PR plots and the MMEngine metric.

``VinDrMetric`` (:mod:`.metric`) registers itself in ``cxrdet.registry.METRICS``, whose ``locations`` name this
package. Its import pulls in torch through mmengine's ``BaseMetric``, so it is imported here only when
mmengine's registry is already loaded (true whenever a config is being built); plain metric use
(``cxrdet evaluate``) stays light. ``import cxrdet.evaluation.metric`` registers it explicitly.
"""

import sys

if "mmengine.registry" in sys.modules:
    from cxrdet.evaluation import metric  # noqa: F401  (registers VinDrMetric)
