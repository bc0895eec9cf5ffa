"""Training/inference engines: mmengine's Runner (mmdet) and Ultralytics, converted to cxrdet's contract at the edge."""
