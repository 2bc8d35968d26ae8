"""Datasets on the command line: errors that name the file, empty datasets, the word ``sample``."""

from __future__ import annotations

import numpy as np
import pytest

from spectromer.cli import main
from spectromer.datasets import DatasetWriter, SpectraDataset, ingest, sample_path


def _small_dataset(path):
    with DatasetWriter(path) as w:
        for k in range(3):
            wave = np.linspace(4000.0, 5000.0, 50)
            w.add(wave, np.ones(50), np.ones(50), np.zeros(50, bool), {"type": "AFG"[k]})
    return path


def _truncated(tmp_path, n_bytes=None):
    path = _small_dataset(tmp_path / "cut.h5")
    data = path.read_bytes()
    path.write_bytes(data[: n_bytes or len(data) // 2])
    return path


def test_fits_file_is_not_a_dataset(data_dir, capsys):
    fits_file = sorted(data_dir.glob("spec-*.fits"))[0]
    with pytest.raises(OSError, match="is not an HDF5 file") as err:
        SpectraDataset(fits_file)
    assert str(fits_file) in str(err.value) and "FITS" in str(err.value)
    assert main(["info", str(fits_file)]) == 1
    text = capsys.readouterr().err
    assert str(fits_file) in text and "spectromer ingest" in text
    assert "signature" not in text and len(text.splitlines()) == 1


@pytest.mark.parametrize("n_bytes", [None, 96])
def test_truncated_dataset_names_the_file(tmp_path, capsys, n_bytes):
    path = _truncated(tmp_path, n_bytes)
    with pytest.raises(OSError, match="truncated or damaged") as err:
        SpectraDataset(path)
    assert str(path) in str(err.value)
    assert main(["info", str(path)]) == 1
    text = capsys.readouterr().err
    assert str(path) in text and "truncated or damaged" in text and len(text.splitlines()) == 1


def test_other_files_that_are_not_datasets(tmp_path):
    empty = tmp_path / "empty.h5"
    empty.touch()
    with pytest.raises(OSError, match=f"{empty}.*empty"):
        SpectraDataset(empty)
    with pytest.raises(OSError, match=f"{tmp_path}.*folder"):
        SpectraDataset(tmp_path)


def test_ingest_onto_a_file_that_is_not_a_dataset(data_dir, tmp_path, capsys):
    out = tmp_path / "out.h5"
    out.write_text("some notes, not a dataset")
    with pytest.raises(OSError, match="is not an HDF5 file") as err:
        ingest(data_dir, out, progress=False)
    assert str(out) in str(err.value)
    assert out.read_text() == "some notes, not a dataset"  # left as it was
    assert main(["ingest", str(data_dir), "--out", str(out), "--no-progress"]) == 1
    text = capsys.readouterr().err
    assert str(out) in text and "signature" not in text


def test_empty_dataset_says_it_holds_no_spectra(tmp_path, capsys):
    path = tmp_path / "none.h5"
    DatasetWriter(path).close()
    ds = SpectraDataset(path)
    with pytest.raises(KeyError, match="holds no spectra") as err:
        ds.labels("type")
    assert str(path) in str(err.value)
    out = str(tmp_path / "model")
    assert main(["train", str(path), "--label", "type", "--out", out]) == 1
    text = capsys.readouterr().err
    assert "holds no spectra" in text and str(path) in text and "available:" not in text


def test_open_dataset_argument(tmp_path):
    from spectromer.cli._common import SAMPLE_NAME, is_dataset_argument, open_dataset

    assert SAMPLE_NAME == "sample"
    ds = open_dataset("sample")
    assert ds.path == sample_path() and len(ds) == 600
    path = _small_dataset(tmp_path / "d.h5")
    assert len(open_dataset(str(path))) == 3
    assert is_dataset_argument("sample") and is_dataset_argument(str(path))
    assert not is_dataset_argument(str(tmp_path / "spec-1.fits"))
    assert not is_dataset_argument(str(tmp_path / "missing.h5"))


def test_info_and_render_accept_the_word_sample(tmp_path, capsys):
    assert main(["info", "sample", "--label", "type"]) == 0
    text = capsys.readouterr().out
    assert "600 spectra" in text and "LAMOST" in text
    out = tmp_path / "img"
    assert main(["render", "sample", "--out", str(out), "--limit", "2", "--size", "16",
                 "--no-progress"]) == 0  # fmt: skip
    assert len(list(out.iterdir())) == 2


class _Opened(Exception):
    pass


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "sample", "--label", "type", "--out", "m"],
        ["pretrain", "sample", "--out", "b.safetensors"],
        ["benchmark", "--train", "sample", "--models", "knn"],
        ["benchmark", "--test", "sample", "--models", "knn"],
        ["predict", "model", "sample"],
    ],
)
def test_every_command_resolves_sample_through_one_helper(argv, monkeypatch, tmp_path, capsys):
    """Each command that opens datasets opens them through ``cli._common.open_dataset``."""
    pytest.importorskip("torch")
    from spectromer import SpectromerModel
    from spectromer.cli import _common

    def opened(text):
        raise _Opened(text)

    monkeypatch.setattr(_common, "open_dataset", opened)
    monkeypatch.setattr(SpectromerModel, "load", classmethod(lambda cls, *a, **k: cls()))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(_Opened, match="sample"):
        main(argv)
