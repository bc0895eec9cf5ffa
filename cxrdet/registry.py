"""cxrdet's OpenMMLab registries: children of mmengine's root registries under the scope ``cxrdet``.

Configs with ``default_scope='cxrdet'`` find cxrdet's components (and mmengine's through the parent);
configs in mmdet's scope reach them as ``type='cxrdet.Name'`` (mmengine imports ``cxrdet.registry`` for an
unknown scope). Components register lazily: a lookup imports the ``locations`` packages first.
"""

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry("model", parent=MMENGINE_MODELS, scope="cxrdet", locations=["cxrdet.models"])
DATASETS = Registry("dataset", parent=MMENGINE_DATASETS, scope="cxrdet", locations=["cxrdet.datasets"])
TRANSFORMS = Registry("transform", parent=MMENGINE_TRANSFORMS, scope="cxrdet", locations=["cxrdet.datasets"])
METRICS = Registry(
    "metric",
    parent=MMENGINE_METRICS,
    scope="cxrdet",
    locations=["cxrdet.evaluation.metric", "cxrdet.evaluation.task_metrics"],
)
HOOKS = Registry(
    "hook",
    parent=MMENGINE_HOOKS,
    scope="cxrdet",
    locations=[
        "cxrdet.engines.runner.hooks",
        "cxrdet.engines.runner.curves",
        "cxrdet.models.scratch_warning",
    ],
)
