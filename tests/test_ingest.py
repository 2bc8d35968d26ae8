"""Tests of ingest: real fixture files to a dataset, bad files, resume, atomicity, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from spectromer.cli import main
from spectromer.datasets import SpectraDataset, find_spectrum_files, ingest
from spectromer.datasets import ingestion as ingest_module
from spectromer.testing import CORRUPTIONS, write_corrupt_spectra


@pytest.fixture
def lamost_files(data_dir) -> list[Path]:
    files = sorted(
        p
        for p in data_dir.glob("spec-*.fits.gz")
        if fits.getheader(p).get("TELESCOP", "").strip() == "LAMOST"
    )
    assert len(files) >= 2, "tests/data should hold at least two LAMOST DR8+ spectra"
    return files


@pytest.fixture
def lamost_dir(tmp_path, lamost_files) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for f in lamost_files:
        shutil.copy(f, folder / f.name)
    return folder


def test_ingest_lamost_labels(lamost_dir, lamost_files, tmp_path):
    ds = ingest(lamost_dir, tmp_path / "out.h5", progress=False)
    assert len(ds) == len(lamost_files)
    assert ds.ingest_result.n_ok == len(lamost_files) and not ds.ingest_result.failed
    for i, f in enumerate(lamost_files):
        hdr = fits.getheader(f)
        row = ds.meta_row(i)
        assert row["source"].startswith(f.name.split(".fits")[0])
        assert row["subclass"] == hdr["SUBCLASS"].strip()
        assert row["z"] == pytest.approx(hdr["Z"])
        assert row["type"] == hdr["SUBCLASS"].strip()[0]
        assert row["subtype"] == hdr["SUBCLASS"].strip()[:2]
        data = fits.getdata(f, 1)
        a = ds.arrays(i)
        np.testing.assert_allclose(a["wave"], data["WAVELENGTH"][0], rtol=1e-6)
        good = np.isfinite(data["FLUX"][0])
        np.testing.assert_array_equal(a["flux"][good], data["FLUX"][0][good])
        assert a["mask"][data["ANDMASK"][0] != 0].all()


def test_ingest_every_fixture_kind(data_dir, tmp_path):
    files = find_spectrum_files(data_dir)
    ds = ingest(data_dir, tmp_path / "all.h5", progress=False)
    assert not ds.ingest_result.failed, ds.ingest_result.report()
    assert ds.ingest_result.n_ok == len(files)
    surveys = set(ds.labels("survey"))
    assert {"LAMOST", "SDSS"} <= surveys
    assert np.isfinite(ds.labels("z").astype(float)).all()


def test_bad_files_are_reported_and_good_ones_kept(lamost_dir, lamost_files, tmp_path, capsys):
    bad = write_corrupt_spectra(lamost_dir, lamost_files[0])
    ds = ingest(lamost_dir, tmp_path / "out.h5", n_jobs=2, progress=True)
    assert len(ds) == len(lamost_files)
    failed = {Path(p).name: reason for p, reason in ds.ingest_result.failed}
    assert set(failed) == set(bad) == set(CORRUPTIONS)
    expected = {
        "bad-truncated.fits.gz": "truncated gzip",
        "bad-html.fits": "not a FITS file",
        "bad-nocoadd.fits": "no COADD HDU",
        "bad-allnan.fits": "all NaN",
        "bad-nonmonotonic.fits.gz": "not strictly increasing",
        "bad-empty.fits": "empty file",
    }
    for name, reason in failed.items():
        assert expected[name] in reason, f"{name}: {reason!r}"
    report = ds.ingest_report
    assert sorted(np.asarray(report["status"]).astype(str).tolist()).count("failed") == len(bad)
    printed = capsys.readouterr().out
    for name in bad:
        assert f"FAILED {lamost_dir / name}" in printed


def test_resume_adds_only_new_files(lamost_dir, lamost_files, tmp_path):
    rest = lamost_files[1:]
    for f in rest:
        (lamost_dir / f.name).unlink()
    out = tmp_path / "out.h5"
    ds1 = ingest(lamost_dir, out, progress=False)
    assert len(ds1) == 1
    for f in rest:
        shutil.copy(f, lamost_dir / f.name)
    ds2 = ingest(lamost_dir, out, progress=False)
    assert ds2.ingest_result.n_skipped == 1
    assert ds2.ingest_result.n_ok == len(rest)
    assert len(ds2) == len(lamost_files)
    assert len(set(ds2.labels("obsid"))) == len(lamost_files)
    ds3 = ingest(lamost_dir, out, progress=False)
    assert ds3.ingest_result.n_ok == 0 and len(ds3) == len(lamost_files)


def test_interrupted_ingest_resumes_without_loss(lamost_dir, lamost_files, tmp_path, monkeypatch):
    out = tmp_path / "out.h5"
    real = ingest_module._write_shard
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while the 2nd shard was written
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "_write_shard", flaky)
    with pytest.raises(KeyboardInterrupt):
        ingest(lamost_dir, out, shard_size=1, progress=False)
    assert not out.exists()  # never a half-written dataset
    parts = out.with_name(out.name + ".parts")
    assert len(list(parts.glob("shard-*.h5"))) == 1
    assert not list(parts.glob(".*tmp"))  # the interrupted shard left no temp file
    monkeypatch.setattr(ingest_module, "_write_shard", real)
    ds = ingest(lamost_dir, out, shard_size=1, progress=False)
    assert ds.ingest_result.n_skipped == 1
    assert len(ds) == len(lamost_files)
    assert len(set(ds.labels("obsid"))) == len(lamost_files)
    assert not parts.exists()


def test_failed_files_retried_on_resume(lamost_dir, lamost_files, tmp_path):
    out = tmp_path / "out.h5"
    (lamost_dir / "bad-html.fits").write_text("<!DOCTYPE html><html></html>")
    ds = ingest(lamost_dir, out, progress=False)
    assert [Path(p).name for p, _ in ds.ingest_result.failed] == ["bad-html.fits"]
    # the user replaces the broken download with a good file of the same name
    (lamost_dir / "bad-html.fits").write_bytes(_ungzipped(lamost_files[0]))
    ds = ingest(lamost_dir, out, progress=False)
    assert ds.ingest_result.failed == [] and ds.ingest_result.n_ok == 1
    assert len(ds) == len(lamost_files) + 1
    report = ds.ingest_report
    paths = np.asarray(report["path"]).astype(str)
    status = dict(zip(paths, np.asarray(report["status"]).astype(str), strict=True))
    assert status[str(lamost_dir / "bad-html.fits")] == "ok"
    assert len(ds.ingest_report) == len(lamost_files) + 1


def _ungzipped(path: Path) -> bytes:
    import gzip

    return gzip.decompress(path.read_bytes())


def test_parallel_equals_serial(lamost_dir, tmp_path):
    a = ingest(lamost_dir, tmp_path / "a.h5", n_jobs=1, progress=False)
    b = ingest(lamost_dir, tmp_path / "b.h5", n_jobs=2, progress=False)
    assert list(a.labels("obsid")) == list(b.labels("obsid"))
    for i in range(len(a)):
        np.testing.assert_array_equal(a.arrays(i)["flux"], b.arrays(i)["flux"])


def test_no_resume_replaces(lamost_dir, tmp_path):
    out = tmp_path / "out.h5"
    ingest(lamost_dir, out, progress=False)
    ds = ingest(lamost_dir, out, resume=False, progress=False)
    assert ds.ingest_result.n_skipped == 0


def test_bad_arguments(lamost_dir, tmp_path):
    with pytest.raises(ValueError, match=r"\.h5"):
        ingest(lamost_dir, tmp_path / "out.fits", progress=False)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        ingest(tmp_path / "nothing-*.fits", tmp_path / "o.h5", progress=False)


def test_cli_ingest_and_info(lamost_dir, lamost_files, tmp_path, capsys):
    out = tmp_path / "cli.h5"
    rc = main(["ingest", str(lamost_dir), "--out", str(out), "--no-progress", "--split", "type"])
    assert rc == 0
    text = capsys.readouterr().out
    assert f"ingested {len(lamost_files)} file(s)" in text
    assert "saved split 'type'" in text
    assert SpectraDataset(out).split_names == ["type"]
    assert main(["info", str(out), "--label", "type"]) == 0
    assert f"{len(lamost_files)} spectra" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "missing.h5")]) == 1
    assert "no such dataset file" in capsys.readouterr().err


def test_shared_lamost_folder_with_corrupt_files(shared_data, tmp_path):
    """Done criterion: the real LAMOST folder plus broken files ingests and keeps all 2269."""
    src = shared_data / "lamost-dr10-afg" / "spectra"
    files = sorted(src.glob("spec-*.fits.gz"))
    if len(files) < 2000:
        pytest.skip("full LAMOST DR10 folder not available")
    folder = tmp_path / "in"
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f)
    bad = write_corrupt_spectra(folder, files[0])
    ds = ingest(folder, tmp_path / "lamost.h5", n_jobs=2, progress=False)
    assert len(ds) == len(files)
    assert {Path(p).name for p, _ in ds.ingest_result.failed} == set(bad)
    assert set(ds.labels("type")) >= {"A", "F", "G"}
