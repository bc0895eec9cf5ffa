"""train.csv checks: each bad row is reported with its file line, boxes outside the image are clipped."""

import numpy as np

from cxrdet.preprocess.labels import check_images, read_labels, validate_rows

CSV = """image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max
a,Nodule/Mass,8,R1,10,10,50,50
a,Nodule/Mass,8,R2,60,10,50,50
a,Bogus,15,R1,10,10,20,20
a,Nodule/Mass,8,R3,10,,20,20
b,No finding,14,R1,,,,
c,Cardiomegaly,3,R1,90,90,120,130
d,ILD,5,R1,1,1,5,5
a,ILD,5,R2,5,5,5,9
c,ILD,5,R2,200,200,300,300
"""


def test_rows_are_checked_with_line_numbers(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(CSV)
    good, problems = validate_rows(read_labels(path))
    found = {(p.line, p.action, p.problem.split(" ")[0]) for p in problems}
    assert found == {
        (3, "rejected", "x_max"),
        (4, "rejected", "unknown"),
        (5, "rejected", "missing"),
        (9, "rejected", "zero-area"),
    }
    assert good["line"].tolist() == [2, 6, 7, 8, 10]
    sizes = {"a": (100, 100), "b": (100, 100), "c": (100, 100)}
    kept, more = check_images(good, sizes, failed=set())
    found = {(p.line, p.action, p.problem) for p in more}
    assert found == {
        (7, "clipped", "box outside the image"),
        (8, "rejected", "image not found in the DICOM folder"),
        (10, "rejected", "box entirely outside the image"),
    }
    clipped = kept.loc[kept["line"] == 7, ["x_min", "y_min", "x_max", "y_max"]].to_numpy()
    np.testing.assert_array_equal(clipped, [[90, 90, 100, 100]])  # clipped to the 100x100 image
    assert np.isnan(kept.loc[kept["line"] == 6, "x_min"]).all()  # "No finding" keeps empty boxes


def test_failed_image_rows_are_reported_as_such(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(CSV)
    good, _ = validate_rows(read_labels(path))
    _, more = check_images(good, {"a": (100, 100), "c": (100, 100)}, failed={"b"})
    assert any(p.line == 6 and "failed to convert" in p.problem for p in more)


def test_missing_columns_is_an_error_naming_the_file(tmp_path):
    import pytest

    from cxrdet.errors import InputError

    path = tmp_path / "bad.csv"
    path.write_text("image_id,foo\nx,1\n")
    with pytest.raises(InputError, match=r"bad\.csv.*missing column"):
        read_labels(path)


NAMED = """image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max
a,Nodule/Mass,8,R1,10,10,50,50
a,Nodule/Mas,8,R2,10,10,50,50

a,Cardiomegaly,8,R3,10,10,50,50
a,Nodule/Mass,8,R1,10,10,50,50
b,No finding,14,R1,,,,
b,No finding,14,R1,,,,
b,No finding,14,R2,,,,
"""


def test_unknown_or_contradicting_class_names_and_exact_duplicates_are_reported(tmp_path):
    from cxrdet.preprocess.labels import derive_meta
    from cxrdet.structures import VINDR

    path = tmp_path / "train.csv"
    path.write_text(NAMED)
    frame = read_labels(path)
    meta = derive_meta(frame, path)
    assert meta is VINDR  # every id carries VinDr's name by majority
    good, problems = validate_rows(frame, meta)
    found = [(p.line, p.action, p.problem) for p in sorted(problems, key=lambda p: p.line)]
    assert found == [
        (3, "rejected", "unknown class_name (not one of the 15 class names of this data set, see classes.json)"),
        (5, "rejected", "class_name is the name of class 3, not of class_id 8"),
        (6, "rejected", "exact duplicate of line 2"),
        (8, "rejected", "exact duplicate of line 7"),
    ]
    assert good["line"].tolist() == [2, 7, 9]


def test_the_class_list_comes_from_the_labels(tmp_path):
    import pandas as pd

    from cxrdet.preprocess.labels import derive_meta
    from cxrdet.structures import VINDR

    def frame(rows, columns=("image_id", "class_name", "class_id")):
        return pd.DataFrame(rows, columns=list(columns))

    two = derive_meta(frame([("a", "cat", 0), ("b", "dog", 1), ("c", "dgo", 1), ("d", "dog", 1)]))
    assert two.classes == ("cat", "dog") and two.no_finding is None  # the majority names class 1
    normal = derive_meta(frame([("a", "lesion", 0), ("b", "No Finding", 2)]))
    assert normal.classes == ("lesion", "class 1", "No Finding") and normal.no_finding == 2
    assert derive_meta(frame([("a", 3), ("b", 14)], ("image_id", "class_id"))) is VINDR
    assert derive_meta(frame([("a", 20)], ("image_id", "class_id"))).num_classes == 21
    assert derive_meta(frame([("a", "Aortic enlargement", 0), ("b", "No finding", 14)])) is VINDR
    import pytest

    from cxrdet.errors import InputError

    with pytest.raises(InputError, match="the same class"):
        derive_meta(frame([("a", "cat", 0), ("b", "cat", 1)]), "labels.csv")
    with pytest.raises(InputError, match=r"labels\.csv: no row has a class_id"):
        derive_meta(frame([("a", "cat", "x")]), "labels.csv")
