"""The mmengine Runner engine: mmdet configs trained, tested and predicted through mmengine's own Runner.

Modules: ``config`` (loaded config -> one split's Runner config: fold ann_files, work_dir, resume, launcher),
``hooks`` (weights-only ``*_weights.pth`` beside each checkpoint), ``distributed`` (gloo DDP on CPU),
``model`` (detector + checkpoint + test pipeline for inference), ``predict`` (DICOMs/PNGs -> ORIGINAL
pixels, flip TTA), ``oof`` (out-of-fold files) and ``engine`` (:class:`~cxrdet.engines.runner.engine.MMDetEngine`).
The mmdet-specific parts are ``engine``, ``model`` and ``predict``; ``config``, ``hooks`` and ``distributed``
serve any mmengine model.
"""
