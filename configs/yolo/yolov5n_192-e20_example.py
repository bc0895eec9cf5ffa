# YOLOv5n at 192 px for 20 epochs on the built-in synthetic example: the CPU demo (`cxrdet demo`) and tests.
# Made for `cxrdet make-example` + `cxrdet convert --size 192 --folds 2`; about 2 minutes a fold on 2 CPU cores.
_base_ = ["./_base_/yolov5_vindr.py"]
data_root = "runs/demo/data/train"
model = "yolov5n"
predict = dict(tta=True, batch=8)
ultralytics = dict(
    imgsz=192,
    epochs=20,
    batch=16,
    nbs=16,  # one optimiser step per batch: few images, few steps otherwise
    lr0=0.02,
    warmup_epochs=1.0,
    close_mosaic=5,
    patience=100,
    workers=0,
    device="cpu",
    amp=False,
)
