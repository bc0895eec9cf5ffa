"""The YOLO engine: YOLOv5u through Ultralytics, the only part of cxrdet that imports Ultralytics.

Ultralytics is imported inside functions, under :func:`~cxrdet.engines.yolo.sandbox.ultralytics_sandbox`
(offline, settings in the run folder). Models are built from Ultralytics' own ``yolov5{n,s,m,l,x}u.yaml``
(random weights) or initialised from a local ``load_from`` file; nothing is downloaded. Grey radiographs
are fed as 3 identical channels (Ultralytics reads the grey PNGs with OpenCV's colour flag, ``predict``
replicates the grey array the same way), so COCO-pretrained YOLOv5 weights load unchanged.

Modules: ``config`` (keys, defaults, checks), ``dataset`` (a convert folder, splits), ``validation`` (VinDr
ground truth + score), ``validator`` / ``trainer`` (Ultralytics subclasses), ``fit`` (training runs),
``oof`` (out-of-fold files), ``letterbox`` / ``frames`` (the model's input frame), ``predict``,
``checkpoints``, ``sandbox`` and ``engine`` (:class:`~cxrdet.engines.yolo.engine.YoloEngine`, the seam).
"""
