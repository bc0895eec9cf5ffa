# Runtime shared by cxrdet's custom models (configs/bone_age, configs/fracture, configs/classifier): the engine
# and scope, mmengine's default hooks (a checkpoint every epoch, the best kept by the task base's `save_best`),
# TensorBoard scalars beside mmengine's local logs, a fixed seed. A task base sets its data, model, schedule and
# `default_hooks.checkpoint.save_best` / `rule`; mmengine merges these dicts key by key.
engine = "mmengine"  # cxrdet train | test | predict | explain pick cxrdet's custom-model engine from this key
default_scope = "cxrdet"
data_root = None  # set by --data-root

val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=10),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", interval=1, max_keep_ckpts=1),
    sampler_seed=dict(type="DistSamplerSeedHook"),
)
env_cfg = dict(
    cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0), dist_cfg=dict(backend="nccl")
)
visualizer = dict(type="Visualizer", vis_backends=[dict(type="LocalVisBackend"), dict(type="TensorboardVisBackend")])
log_processor = dict(by_epoch=True)
log_level = "INFO"
load_from = None
resume = False
randomness = dict(seed=0)
