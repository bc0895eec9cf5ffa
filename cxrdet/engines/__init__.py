"""Training/inference engines: the mmengine/mmdet Runner and Ultralytics, converted to cxrdet's contract at their edge."""
