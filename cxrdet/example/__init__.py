"""Built-in example data: synthetic chest radiographs as VinDr-style DICOM datasets, a DICOM writer, and the
synthetic bone age (RSNA layout), fracture (class folders), gastric (images + lesion masks) and imbalanced
(CheXpert-style CSVs) data sets of the custom models.

Public API (import from the submodules; this package imports nothing heavy):

- :func:`cxrdet.example.dicom_writer.write_dicom`: stored pixel values -> a CR/DX DICOM file.
- :func:`cxrdet.example.make.make_example`: the dataset behind ``cxrdet make-example`` (``--task vindr``).
- :func:`cxrdet.example.bone_age.make_bone_age_example`: hand phantoms + ``id,boneage,male`` CSV
  (``--task bone-age``).
- :func:`cxrdet.example.fracture.make_fracture_example`: normal/fractured bone CT slices in class folders +
  ``patients.csv`` (``--task fracture``).
- :func:`cxrdet.example.gastric.make_gastric_example`: endoscopy-like views, 0/1 lesion masks and
  ``labels.csv`` normal/egc (``--task gastric``: GAIN, CA-U-Net).
- :func:`cxrdet.example.imbalanced.make_imbalanced_example`: six chest classes at 10:1 in ``train.csv``, a
  balanced ``test.csv`` (``--task imbalanced``: the feature GAN).
"""

TASKS: tuple[str, ...] = ("vindr", "bone-age", "fracture", "gastric", "imbalanced")
"""Example data sets ``cxrdet make-example --task`` writes; ``vindr`` is the default."""

SUPPORTED_CLASSES: tuple[int, ...] = (0, 3, 4, 7, 8, 10, 11)
"""Finding classes the example can draw: 0 Aortic enlargement, 3 Cardiomegaly, 4 Consolidation,
7 Lung Opacity, 8 Nodule/Mass, 10 Pleural effusion, 11 Pleural thickening."""

DEFAULT_CLASSES: tuple[int, ...] = (0, 3, 8, 10)
"""Classes of the default example: four distinct, learnable shapes (VinDr's two most common
findings, 0 and 3, plus a focal lesion, 8, and a basal one, 10)."""
