"""Survey labels as data: one table per survey drives the meta keys and their docs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st
from specutils import Spectrum

import spectromer  # noqa: F401  (registers the readers)
from spectromer.io import META_KEYS, _labels, read_spectra
from spectromer.io._labels import KEYS, LABEL_TABLES, LAMOST_LABELS, Label, LabelTable

SURVEY_OF = {
    "spec-59517-EG025613N082253M02_sp08-200.fits.gz": "LAMOST",
    "spec-59522-EG224840N075042B03_sp01-119.fits.gz": "LAMOST",
    "spec-55862-B6212_sp06-003.fits": "LAMOST",
    "spec-55862-B6212_sp06-005.fits": "LAMOST",
    "spec-0385-51783-0396.fits": "SDSS",
    "spec-3655-55240-0002.fits": "SDSS",
    "coadd-4-80613-thru20210324.fits": "DESI",
}


def _check_types(meta: dict) -> None:
    for key in LABEL_TABLES[meta["survey"]].keys():
        value, kind = meta[key], KEYS[key].type
        if kind is str:
            assert isinstance(value, str), (key, value)
        else:  # a number of the key's type, or NaN when missing
            assert isinstance(value, kind) or (isinstance(value, float) and math.isnan(value))


@pytest.mark.parametrize("name", sorted(SURVEY_OF))
def test_every_key_of_the_survey_table_is_present(data_dir, name):
    survey = SURVEY_OF[name]
    for spec in (*read_spectra(data_dir / name), Spectrum.read(data_dir / name)):
        assert spec.meta["survey"] == survey
        assert set(LABEL_TABLES[survey].keys()) <= set(spec.meta), name
        _check_types(spec.meta)


def test_blank_subclass_is_an_empty_string(data_dir):
    """spec-0385 has a blank SUBCLASS: the key is there, as '' (it used to be absent)."""
    with fits.open(data_dir / "spec-0385-51783-0396.fits") as hdul:
        assert hdul[2].data["SUBCLASS"][0].strip() == ""
    for spec in (*read_spectra(data_dir / "spec-0385-51783-0396.fits"),):
        assert spec.meta["subclass"] == ""


@pytest.mark.parametrize("folder", ["boss-sample", "sdss-spec"])
def test_real_boss_and_sdss_files_have_stable_keys(shared_data, folder):
    files = sorted((shared_data / folder).glob("*.fits*"))
    if not files:
        pytest.skip(f"no {folder} files")
    for path in files:
        [spec] = read_spectra(path)
        assert set(LABEL_TABLES["SDSS"].keys()) <= set(spec.meta), path.name
        _check_types(spec.meta)


def test_meta_keys_are_the_vocabulary_of_the_tables():
    used = {key for table in LABEL_TABLES.values() for key in table.keys()}
    assert set(META_KEYS) == used | {"header"}
    assert list(META_KEYS)[:2] == ["survey", "source"]


def test_a_label_must_use_a_known_key_and_source():
    with pytest.raises(ValueError, match="not a stable meta key"):
        Label("colour", ("PRIMARY.COLOUR",))
    with pytest.raises(ValueError, match="HDU.NAME"):
        Label("z", ("Z",))


_VALUE = st.one_of(
    st.none(),  # card absent
    st.just("   "),  # blank
    st.sampled_from([-9999.0, -999.0, -999]),  # LAMOST's "unknown"
    st.floats(-1e3, 1e3, allow_nan=False),
    st.sampled_from([0.0, 12.0, -9999, "0123", "+7", "1.5"]),
    st.integers(0, 10**9),
    st.text("ABFGK0123 ", min_size=1, max_size=6),
)


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(LAMOST_LABELS.columns("PRIMARY")), _VALUE))
def test_lamost_extraction_is_total(cards):
    header = fits.Header()
    for name, value in cards.items():
        if value is not None:
            header[name] = value
    meta = LAMOST_LABELS.extract({"PRIMARY": header}, "x.fits")
    assert list(meta) == LAMOST_LABELS.keys()
    _check_types(meta)
    for label in LAMOST_LABELS.labels:
        key = label.meta_key
        raw = [cards.get(place.split(".")[1]) for place in label.sources]
        present = [v for v in raw if _readable(v, key.type, key.integer_text)]
        value = meta[label.key]
        if not present:
            assert value == "" or (isinstance(value, float) and math.isnan(value)), label.key
        elif key.type is str and not key.integer_text:
            expected = str(present[0]).strip()
            assert value == (expected.upper() if key.upper else expected), label.key
        else:
            assert float(value) == float(str(present[0]).strip()), label.key


def _readable(value, kind, integer_text) -> bool:
    """Independent oracle: does a raw card value count as given for a key of this type?"""
    if value is None or not str(value).strip():
        return False
    if kind is str and not integer_text:
        return True
    try:
        number = float(str(value).strip())
    except ValueError:
        return False
    if number in (-9999.0, -999.0):  # LAMOST's two "unknown" values
        return False
    if kind is int or integer_text:
        if isinstance(value, str):
            return value.strip().lstrip("+-").isdigit()
        return number.is_integer()
    return True


def test_missing_values_by_type():
    table = LabelTable("X", (Label("z", ("PRIMARY.Z",)), Label("class", ("PRIMARY.CLASS",))))
    assert table.missing()["class"] == "" and np.isnan(table.missing()["z"])
    assert table.extract({}, "f")["class"] == ""


def test_docs_render_the_tables_from_the_data():
    """docs/io.rst shows the module's generated tables; no hand-copied list of keys."""
    doc = _labels.__doc__
    for table in LABEL_TABLES.values():
        assert table.rst() in doc
    for key in META_KEYS:
        assert f"``{key}``" in doc
    rst = (Path(__file__).resolve().parents[1] / "docs" / "io.rst").read_text()
    assert ".. automodule:: spectromer.io._labels" in rst
    assert "``planid``" not in rst  # the key list lives in the data, not in the page
    from docutils.core import publish_doctree

    publish_doctree(doc, settings_overrides={"report_level": 2, "halt_level": 2})
