"""Pseudonyms: HMAC-SHA256 with a secret salt (checked against hmac directly), stable through the map file."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from cxrdet.errors import InputError
from cxrdet.preprocess.pseudonyms import Pseudonymizer


def test_pseudonym_is_the_salted_hmac_and_the_map_reverses_it(tmp_path):
    pseudo = Pseudonymizer.load_or_create(tmp_path / "map.json", tmp_path / "out")
    name = pseudo("MRN12345678")
    assert name == hmac.new(pseudo.salt, b"MRN12345678", hashlib.sha256).hexdigest()[:32]
    assert pseudo("MRN12345679") != name and len(pseudo.salt) == 32
    pseudo.save(tmp_path / "map.json")
    again = Pseudonymizer.load_or_create(tmp_path / "map.json", tmp_path / "out")
    assert again("MRN12345678") == name and again.originals[name] == "MRN12345678"
    assert again.key_id == pseudo.key_id and pseudo.salt.hex() not in pseudo.key_id
    other = Pseudonymizer.load_or_create(tmp_path / "other.json", tmp_path / "out")
    assert other("MRN12345678") != name  # another salt, other pseudonyms


def test_identity_when_disabled():
    assert Pseudonymizer()("abc") == "abc" and not Pseudonymizer().enabled


@pytest.mark.parametrize("content", ["{not json", '{"format": "x"}', '{"format": "cxrdet-pseudonyms/1"}'])
def test_a_damaged_map_is_refused(tmp_path, content):
    (tmp_path / "map.json").write_text(content)
    with pytest.raises(InputError, match="not a cxrdet pseudonym map"):
        Pseudonymizer.load_or_create(tmp_path / "map.json", tmp_path / "out")


def test_the_map_may_not_live_in_the_output(tmp_path):
    with pytest.raises(InputError, match="outside the output folder"):
        Pseudonymizer.load_or_create(tmp_path / "out" / "keys" / "map.json", tmp_path / "out")


def test_a_pseudonymized_folder_resumes_with_its_map_and_refuses_another(example_dataset, tmp_path):
    from cxrdet.preprocess.convert import ConvertOptions, convert

    def opts(**kw):
        return ConvertOptions(dicom_dir=example_dataset / "test", out=tmp_path / "data", size=32, progress=False, **kw)

    first = convert(opts(pseudonymize=True))
    assert first.converted == 4 and (tmp_path / "data.pseudonyms.json").exists()  # beside the folder, not in it
    names = sorted(p.name for p in (tmp_path / "data" / "images").iterdir())
    again = convert(opts(pseudonymize=True))
    assert again.resumed == 4 and sorted(p.name for p in (tmp_path / "data" / "images").iterdir()) == names
    with pytest.raises(InputError, match="pseudonym map whose key_id"):
        convert(opts())
    with pytest.raises(InputError, match="pseudonym map whose key_id"):
        convert(opts(pseudonymize=True, pseudonym_map=tmp_path / "another.json"))
