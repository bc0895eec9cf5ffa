"""VinBigData / VinDr-CXR constants: class ids and names, the "No finding" class, label CSV columns."""

CLASS_NAMES: tuple[str, ...] = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Consolidation",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Nodule/Mass",
    "Other lesion",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
    "No finding",
)
NO_FINDING: int = 14
"""Class id of "No finding"; scored as an ordinary class whose ground-truth box is [0, 0, 1, 1]."""
NUM_CLASSES: int = len(CLASS_NAMES)  # 15, the metric's classes
NUM_FINDING_CLASSES: int = NO_FINDING  # 14, what a detector is trained on
NO_FINDING_BOX: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)

LABEL_COLUMNS: tuple[str, ...] = (
    "image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max",
)
"""Columns of the competition's train.csv: one row per box per radiologist."""
BOX_COLUMNS: tuple[str, ...] = ("x_min", "y_min", "x_max", "y_max")
