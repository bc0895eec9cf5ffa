# YOLOv5x at 1024 px for 40 epochs (2nd place trained YOLOv5x in two stages; about 40 GB at batch 8 with AMP).
_base_ = ["./_base_/yolov5_vindr.py"]
model = "yolov5x"
ultralytics = dict(imgsz=1024, epochs=40, batch=8)
