# YOLOv5s at 1024 px for 40 epochs: the seed team's small model (YOLOv5 s/m/l at 640-1024 px, best public 0.137).
_base_ = ["./_base_/yolov5_vindr.py"]
model = "yolov5s"
ultralytics = dict(imgsz=1024, epochs=40, batch=16)
