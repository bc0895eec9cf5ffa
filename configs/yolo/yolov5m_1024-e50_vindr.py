# YOLOv5m at 1024 px for 50 epochs (the winners fused several YOLOv5 sizes and folds with WBF).
_base_ = ["./_base_/yolov5_vindr.py"]
model = "yolov5m"
ultralytics = dict(imgsz=1024, epochs=50, batch=12)
