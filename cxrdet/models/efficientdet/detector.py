"""EfficientDet detector (registered ``cxrdet.EfficientDet``): mmdet's single-stage detector, named.

Backbone (mmdet's ``EfficientNet`` with ``cxrdet.Conv2dSamePadding``) -> ``cxrdet.BiFPN`` ->
``cxrdet.EfficientDetHead``; training, inference and the data preprocessor are mmdet's
``SingleStageDetector``'s. The configs in ``configs/mmdet/efficientdet-*`` build it.
"""

from __future__ import annotations

from mmdet.models.detectors.single_stage import SingleStageDetector

from cxrdet.registry import MODELS


@MODELS.register_module()
class EfficientDet(SingleStageDetector):
    """EfficientDet = EfficientNet + BiFPN + EfficientDet head (Tan, Pang and Le, CVPR 2020).

    Args:
        backbone: backbone config.
        neck: neck config.
        bbox_head: head config.
        train_cfg: assigner/sampler config.
        test_cfg: NMS config.
        data_preprocessor: mmdet data preprocessor config.
        init_cfg: mmengine init config.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        bbox_head: dict,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        data_preprocessor: dict | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=bbox_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
