# YOLOv5u (Ultralytics) on VinDr-CXR: the recipe shared by every configs/yolo/*_vindr.py.
#
# Run `cxrdet train configs/yolo/<config>.py --all-folds` on a `cxrdet convert` output:
#   cxrdet convert --dicom-dir train/ --labels train.csv --out data/vindr_1024 --size 1024 --folds 5
# Override anything with --cfg-options key=value (nested: ultralytics.epochs=5); unknown keys are rejected.
# Grey radiographs are fed as 3 identical channels (so COCO-pretrained YOLOv5 weights load unchanged).
engine = "ultralytics"
data_root = "data/vindr_1024"  # a cxrdet convert output folder (PNGs, meta.csv, yolo/foldK/data.yaml)
model = "yolov5s"  # yolov5{n,s,m,l,x}: built from Ultralytics' yolov5{n,s,m,l,x}u.yaml (random init)
load_from = None  # a LOCAL .pt to initialise from (e.g. COCO yolov5su.pt you copied here); never downloaded
resume = False  # 'auto': continue each split from its last.pt; a path: from that checkpoint (cxrdet train --resume)
work_dir = None  # default: work_dirs/<config file name> (mmengine's default)
randomness = dict(seed=0)  # Ultralytics' seed (mmengine's name); None: ultralytics.seed
best_metric = "vindr_map"  # best.pt by VinDr mAP@0.4 on the fold's validation images ('ultralytics': mAP50-95)
vindr_iou = 0.4
oof = True  # after each fold, predict its validation images -> work_dir/oof_foldK.csv (for tune-ensemble)
# predict: settings of the OOF pass (workers=None: cores - 1 decoding processes); cxrdet predict has the same flags
predict = dict(conf=0.001, iou=0.7, max_det=300, tta=True, tta_iou=0.4, batch=4, workers=None, no_finding=False)
ultralytics = dict(  # Ultralytics train arguments (https://docs.ultralytics.com/usage/cfg/)
    imgsz=1024,
    epochs=40,
    batch=16,
    optimizer="SGD",
    lr0=0.01,
    lrf=0.01,
    momentum=0.937,
    weight_decay=0.0005,
    warmup_epochs=3.0,
    close_mosaic=10,
    patience=20,
    mosaic=1.0,
    mixup=0.0,
    scale=0.5,
    translate=0.1,
    degrees=0.0,
    fliplr=0.5,
    flipud=0.0,
    hsv_h=0.0,  # grey images: no hue/saturation jitter
    hsv_s=0.0,
    hsv_v=0.4,
    amp=True,  # on CUDA; cxrdet's offline AMP check replaces Ultralytics' (which downloads a model)
    plots=False,  # plots need fonts and write many images; numbers are in results.csv
    workers=8,
)
