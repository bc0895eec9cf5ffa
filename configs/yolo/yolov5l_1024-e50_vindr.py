# YOLOv5l at 1024 px for 50 epochs (needs about 24 GB of GPU memory at batch 8 with AMP).
_base_ = ["./_base_/yolov5_vindr.py"]
model = "yolov5l"
ultralytics = dict(imgsz=1024, epochs=50, batch=8)
