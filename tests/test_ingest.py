"""Tests of ingest: real fixture files to a dataset, bad files, resume, atomicity, CLI."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
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


# -- one writer at a time, empty inputs, stale temporaries, workers (issue 13) -------------


def _hold_ingest(folder, out, started, release):
    """Child process: ingest ``folder``, pausing while its first shard is written."""
    real = ingest_module._write_shard

    def slow(*args, **kwargs):
        started.set()
        release.wait(60)
        return real(*args, **kwargs)

    ingest_module._write_shard = slow
    ingest(folder, out, progress=False)


@pytest.mark.skipif(sys.platform == "win32", reason="needs the fork start method")
def test_second_writer_fails_at_once_naming_the_holder(lamost_dir, lamost_files, tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    out = tmp_path / "out.h5"
    started, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_ingest, args=(lamost_dir, out, started, release))
    child.start()
    try:
        assert started.wait(60), "the first ingest did not start"
        with pytest.raises(OSError, match="is being written by another ingest") as err:
            ingest(lamost_dir, out, progress=False)
        message = str(err.value)
        assert str(out) in message and f"pid {child.pid}" in message
        assert socket.gethostname() in message and "since" in message
    finally:
        release.set()
        child.join(60)
    assert child.exitcode == 0
    ds = SpectraDataset(out)  # the first run landed completely
    assert len(ds) == len(lamost_files)
    assert not (tmp_path / ".out.h5.lock").exists()


def test_stale_lock_of_a_dead_process_is_taken_over(lamost_dir, lamost_files, tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out.h5"
    lock = tmp_path / ".out.h5.lock"
    lock.write_text(f"pid {dead.pid}\nhost {socket.gethostname()}\nsince 2024-01-01T00:00:00\n")
    ds = ingest(lamost_dir, out, progress=False)
    assert len(ds) == len(lamost_files)
    err = capsys.readouterr().err
    assert f"pid {dead.pid}" in err and "taking over" in err
    assert not lock.exists()


def test_lock_is_released_after_a_failed_run(lamost_dir, lamost_files, tmp_path):
    out = tmp_path / "out.h5"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no spectrum files"):
        ingest(tmp_path / "empty", out, progress=False)
    assert not (tmp_path / ".out.h5.lock").exists()
    assert len(ingest(lamost_dir, out, progress=False)) == len(lamost_files)


@pytest.mark.parametrize("contents", [[], ["notes.txt", "catalogue.csv"]])
def test_no_input_spectra_is_an_error(tmp_path, contents, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in contents:
        (folder / name).write_text("not a spectrum")
    out = tmp_path / "out.h5"
    with pytest.raises(ValueError, match="no spectrum files") as err:
        ingest(folder, out, progress=False)
    assert str(folder) in str(err.value)
    assert not out.exists() and not out.with_name("out.h5.parts").exists()
    assert main(["ingest", str(folder), "--out", str(out), "--no-progress"]) == 1
    text = capsys.readouterr().err
    assert "no spectrum files" in text and str(folder) in text and len(text.splitlines()) == 1
    assert not out.exists()


def test_only_unreadable_files_is_an_error(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bad-html.fits").write_text("<!DOCTYPE html><html></html>")
    out = tmp_path / "out.h5"
    with pytest.raises(ValueError, match="no spectra") as err:
        ingest(folder, out, progress=False)
    assert str(folder) in str(err.value) and "bad-html.fits" in str(err.value)
    assert not out.exists() and not out.with_name("out.h5.parts").exists()


def test_stale_temporaries_of_the_target_are_removed(lamost_dir, lamost_files, tmp_path):
    import tempfile

    out = tmp_path / "out.h5"
    # what kill -9 during the final merge leaves: atomic_path's temporary, partly written
    fd, stale = tempfile.mkstemp(prefix=".out.h5.", suffix=".tmp", dir=tmp_path)
    os.write(fd, b"\x89HDF\r\n\x1a\n" + b"\0" * 88)
    os.close(fd)
    keep = [tmp_path / ".out.h5.notes", tmp_path / ".other.h5.abcdefgh.tmp", tmp_path / "x.tmp"]
    for p in keep:
        p.write_text("not ours")
    ds = ingest(lamost_dir, out, progress=False)
    assert len(ds) == len(lamost_files)
    assert not Path(stale).exists()
    assert all(p.exists() for p in keep)


_PARENT = """
import sys, time
from spectromer.datasets import ingest
ingest(sys.argv[1], sys.argv[2], n_jobs=2, shard_size=1, progress=False)
print("ready", flush=True)
time.sleep(120)
"""


def _children(pid: int) -> set[int]:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_workers_die_with_a_killed_parent(lamost_dir, tmp_path):
    import signal
    import time

    workers: set[int] = set()
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(lamost_dir), str(tmp_path / "out.h5")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert parent.stdout.readline().strip() == "ready"
        workers = _children(parent.pid)
        assert workers, "ingest with n_jobs=2 started no worker processes"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        left = [p for p in workers if _alive(p)]
        assert not left, f"worker processes {left} outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in workers:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
