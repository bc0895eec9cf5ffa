"""cxrdet's OpenMMLab registries: children of mmengine's root registries under the scope ``cxrdet``.

Configs with ``default_scope='cxrdet'`` find cxrdet's components (and mmengine's through the parent);
configs in mmdet's scope reach them as ``type='cxrdet.Name'`` (mmengine imports ``cxrdet.registry`` for an
unknown scope). Components register lazily: a lookup imports the ``locations`` packages first. The other
registries mmengine's Runner builds from (optimizers, schedulers, loops, visualizers, samplers, ...) have a
child here too (only OPTIM_WRAPPERS has a component of its own, LateZeroGradOptimWrapper), so that a
``cxrdet``-scope run finds mmengine's through it (as mmdet's own registry module does) instead of warning for
each one. Not TASK_UTILS: mmdet's anchor generators
and assigners live in mmdet's, and a ``cxrdet`` child there would hide them whenever a ``cxrdet``-scope run
left its scope current (mmengine then falls back to the registry it was asked).
"""

from mmengine import registry as root
from mmengine.registry import Registry

MODELS = Registry("model", parent=root.MODELS, scope="cxrdet", locations=["cxrdet.models"])
DATASETS = Registry("dataset", parent=root.DATASETS, scope="cxrdet", locations=["cxrdet.datasets"])
TRANSFORMS = Registry("transform", parent=root.TRANSFORMS, scope="cxrdet", locations=["cxrdet.datasets"])
METRICS = Registry(
    "metric",
    parent=root.METRICS,
    scope="cxrdet",
    locations=["cxrdet.evaluation.metric", "cxrdet.evaluation.task_metrics", "cxrdet.evaluation.segmentation_metric"],
)
HOOKS = Registry(
    "hook",
    parent=root.HOOKS,
    scope="cxrdet",
    locations=[
        "cxrdet.engines.runner.hooks",
        "cxrdet.engines.runner.curves",
        "cxrdet.models.scratch_warning",
    ],
)

RUNNERS = Registry("runner", parent=root.RUNNERS, scope="cxrdet")
RUNNER_CONSTRUCTORS = Registry("runner constructor", parent=root.RUNNER_CONSTRUCTORS, scope="cxrdet")
LOOPS = Registry("loop", parent=root.LOOPS, scope="cxrdet")
DATA_SAMPLERS = Registry("data sampler", parent=root.DATA_SAMPLERS, scope="cxrdet")
MODEL_WRAPPERS = Registry("model_wrapper", parent=root.MODEL_WRAPPERS, scope="cxrdet")
WEIGHT_INITIALIZERS = Registry("weight initializer", parent=root.WEIGHT_INITIALIZERS, scope="cxrdet")
OPTIMIZERS = Registry("optimizer", parent=root.OPTIMIZERS, scope="cxrdet")
OPTIM_WRAPPERS = Registry(
    "optim_wrapper", parent=root.OPTIM_WRAPPERS, scope="cxrdet", locations=["cxrdet.engines.runner.late_zero_grad"]
)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    "optimizer wrapper constructor", parent=root.OPTIM_WRAPPER_CONSTRUCTORS, scope="cxrdet"
)
PARAM_SCHEDULERS = Registry("parameter scheduler", parent=root.PARAM_SCHEDULERS, scope="cxrdet")
EVALUATOR = Registry("evaluator", parent=root.EVALUATOR, scope="cxrdet")
VISUALIZERS = Registry("visualizer", parent=root.VISUALIZERS, scope="cxrdet")
VISBACKENDS = Registry("vis_backend", parent=root.VISBACKENDS, scope="cxrdet")
LOG_PROCESSORS = Registry("log_processor", parent=root.LOG_PROCESSORS, scope="cxrdet")
FUNCTIONS = Registry("function", parent=root.FUNCTIONS, scope="cxrdet")
