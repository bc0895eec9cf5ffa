"""cxrdet: deep learning on chest X-rays and other medical images, detection first.

Importing the package has no side effects: no downloads, no settings files, no environment changes.
Heavy frameworks (torch, mmdet, ultralytics) are imported only by the modules that need them.
"""

__version__ = "0.1.0"
