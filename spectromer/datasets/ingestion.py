"""Turn folders of survey spectrum files into one :class:`SpectraDataset`.

Ingest reads files in parallel worker processes (joblib), writes them in
shards, and finally merges the shards into the dataset file. Every write goes
to a temporary file that is renamed when complete, so an interrupted run
never leaves a corrupt file, and re-running the same command resumes: files
already in the dataset or in a finished shard are not read again. One ingest
writes a dataset at a time (a lock file ``.NAME.h5.lock`` says who); the next run
removes what a killed one left behind, and worker processes end with their parent.
"""

from __future__ import annotations

import glob
import os
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.atomic import atomic_path, stale_temporaries
from ..utils.locking import exclusive_lock
from ._shards import merge_datasets, report_rows
from .dataset import DatasetWriter, SpectraDataset
from .labels import derive_labels

__all__ = [
    "ingest",
    "find_spectrum_files",
    "IngestResult",
    "SPECTRUM_PATTERNS",
    "COMPANION_PATTERNS",
]

#: File name patterns searched for when ingest is given a directory.
SPECTRUM_PATTERNS = ("*.fits", "*.fits.gz", "*.fit", "*.fit.gz", "*.fts", "*.fits.bz2")

#: Catalogue files that sit beside spectra but hold none (DESI redshift
#: catalogues, read by the DESI reader as companions); directory searches skip them.
COMPANION_PATTERNS = ("redrock-*", "zbest-*", "spZbest-*", "spZline-*")


def find_spectrum_files(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    recursive: bool = True,
) -> list[Path]:
    """Resolve a directory, glob pattern, file or list of them to spectrum files.

    Parameters
    ----------
    source : path, glob pattern, or iterable of those
        A directory is searched for :data:`SPECTRUM_PATTERNS` (skipping
        companion catalogues such as DESI ``redrock-*`` files); a pattern such
        as ``"data/spec-*.fits.gz"`` is expanded; a file is taken as it is.
    recursive : bool
        Search directories recursively.

    Returns
    -------
    list of Path
        Absolute paths, sorted and without duplicates.

    Examples
    --------
    >>> from spectromer.datasets import find_spectrum_files
    >>> find_spectrum_files([])
    []
    """
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    found: set[Path] = set()
    for item in source:
        p = Path(item).expanduser()
        if p.is_dir():
            for pattern in SPECTRUM_PATTERNS:
                it = p.rglob(pattern) if recursive else p.glob(pattern)
                found.update(
                    q.resolve()
                    for q in it
                    if q.is_file() and not any(q.match(c) for c in COMPANION_PATTERNS)
                )
        elif p.is_file():
            found.add(p.resolve())
        else:
            matches = [Path(m) for m in glob.glob(str(p), recursive=recursive)]
            files = [m.resolve() for m in matches if m.is_file()]
            if not files:
                raise FileNotFoundError(
                    f"{item}: no such file or directory, and no file matches it"
                )
            found.update(files)
    return sorted(found)


def _spectrum_to_record(spec: Any) -> tuple[np.ndarray, ...]:
    """Plain arrays (wave, flux, ivar, mask) and a flat meta dict of one Spectrum."""
    from spectromer.io import spectrum_arrays

    wave, flux, ivar, mask = spectrum_arrays(spec)
    meta = {
        k: (v.item() if isinstance(v, np.generic) else v)
        for k, v in spec.meta.items()
        if isinstance(v, (str, int, float, bool, np.generic))
    }
    meta["flux_unit"] = spec.flux.unit.to_string()
    derive_labels(meta)
    return wave, flux, ivar, mask, meta


def _read_one(path: str) -> tuple[str, list | None, str]:
    """Worker: read one file into records, or return the reason it failed."""
    from spectromer.io import read_spectra

    try:
        spectra = read_spectra(path)
        records = [_spectrum_to_record(s) for s in spectra]
        if not records:
            return path, None, "no spectra in file"
        return path, records, ""
    except Exception as exc:  # a bad file must never stop the batch
        reason = str(exc) or type(exc).__name__
        if reason.startswith(f"{path}: "):  # the report already names the file
            reason = reason[len(path) + 2 :]
        if type(exc).__name__ != "SpectrumReadError":
            reason = f"{type(exc).__name__}: {reason}"
        return path, None, reason


@dataclass
class IngestResult:
    """What an ingest run did (returned by :func:`ingest` as ``dataset.ingest_result``).

    Examples
    --------
    >>> from spectromer.datasets import IngestResult
    >>> r = IngestResult(n_files=3, n_ok=2, n_spectra=2, failed=[("bad.fits", "empty file")])
    >>> print(r.report())
    ingested 2 file(s) (2 spectra) in 0.0 s; 0 already in the dataset; 1 failed
      FAILED bad.fits: empty file
    """

    n_files: int = 0
    n_skipped: int = 0
    n_ok: int = 0
    n_spectra: int = 0
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def report(self) -> str:
        """The summary printed at the end of an ingest."""
        lines = [
            f"ingested {self.n_ok} file(s) ({self.n_spectra} spectra) in {self.seconds:.1f} s; "
            f"{self.n_skipped} already in the dataset; {len(self.failed)} failed"
        ]
        for path, reason in self.failed:
            lines.append(f"  FAILED {path}: {reason}")
        return "\n".join(lines)


def _exit_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Worker initializer: end this worker soon after its parent process dies.

    A killed ingest (``kill -9``) cannot shut its workers down; without this they
    would sit idle, holding memory, for as long as the pool's idle timeout. A
    daemon thread polls :func:`os.getppid`, which changes when the parent dies.
    (On Windows the parent id never changes; there joblib's own timeout applies.)
    """
    if os.name != "posix" or os.getpid() == parent_pid:
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="spectromer-parent-watch", daemon=True).start()


def _describe_source(source: str | os.PathLike | Iterable[str | os.PathLike]) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return ", ".join(str(s) for s in source) or "(no input given)"


def _n_spectra(path: Path) -> int:
    with SpectraDataset(path) as ds:
        return len(ds)


def _failures(parts: Sequence[Path]) -> list[tuple[str, str]]:
    out = []
    for part in parts:
        for r in report_rows(SpectraDataset(part).ingest_report):
            if r["status"] != "ok":
                out.append((r["path"], r["reason"]))
    return out


def _done_paths(path: Path, retry_failed: bool) -> set[str]:
    report = SpectraDataset(path).ingest_report
    if len(report) == 0:
        return set()
    status = np.asarray(report["status"]).astype(str)
    paths = np.asarray(report["path"]).astype(str)
    keep = np.ones(len(paths), bool) if not retry_failed else status == "ok"
    return set(paths[keep])


def _write_shard(shard: Path, results: list, encoding: str, compression: str | None) -> None:
    with atomic_path(shard) as tmp:
        with DatasetWriter(tmp, encoding=encoding, compression=compression) as writer:
            for path, records, reason in results:
                if records is None:
                    writer.add_report(path, "failed", reason, 0)
                    continue
                for wave, flux, ivar, mask, meta in records:
                    writer.add(wave, flux, ivar, mask, meta)
                writer.add_report(path, "ok", "", len(records))


def ingest(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    n_jobs: int = 1,
    resume: bool = True,
    retry_failed: bool = True,
    recursive: bool = True,
    shard_size: int = 500,
    encoding: str = "float32",
    compression: str | None = "lzf",
    progress: bool = True,
) -> SpectraDataset:
    """Read spectrum files into one HDF5 :class:`SpectraDataset`.

    Files are read with :func:`spectromer.io.read_spectra` (so every format
    registered with specutils by Spectromer works: LAMOST, SDSS/BOSS, DESI)
    in ``n_jobs`` worker processes. A file that cannot be read is skipped and
    its reason recorded in the dataset's ``ingest_report`` table and printed;
    every good file still lands. Stellar ``type`` and ``subtype`` labels are
    derived from the survey subclass (see :func:`~spectromer.datasets.labels.stellar_type`).

    Parameters
    ----------
    source : path, glob, or iterable of paths
        Directory (searched for FITS files), glob pattern, file, or a list of them.
    out : path
        Dataset file to write. If it exists and ``resume`` is true, files it
        already holds are skipped and the new ones are added.
    n_jobs : int
        Worker processes (``-1``: all cores).
    resume : bool
        Keep what an earlier, possibly interrupted, run finished. With
        ``resume=False`` an existing ``out`` is replaced.
    retry_failed : bool
        On resume, read files that failed last time again.
    recursive : bool
        Search directories recursively.
    shard_size : int
        Files per shard: the unit of work saved before an interruption.
    encoding : {"float32", "float16"}
        Storage encoding (see :class:`~spectromer.datasets.DatasetWriter`).
    compression : str or None
        h5py compression filter.
    progress : bool
        Show a tqdm progress bar and print the report at the end.

    Returns
    -------
    SpectraDataset
        The dataset, with ``ingest_result`` (an :class:`IngestResult`) attached.

    Raises
    ------
    ValueError
        ``source`` holds no spectrum files, or none of them could be read (the
        message names the input and the first reasons); nothing is written.
    spectromer.utils.locking.FileLockedError
        Another ingest is writing ``out`` (an :class:`OSError` naming its pid, host
        and start time). One ingest writes a dataset at a time; a lock left by a
        killed run is taken over with a notice, and the temporary files it left
        next to ``out`` are removed.
    OSError
        ``out`` exists but is not a dataset (the message says what it is).

    Examples
    --------
    >>> import tempfile, os
    >>> from pathlib import Path
    >>> from spectromer.datasets import ingest
    >>> import spectromer
    >>> data = Path(spectromer.__file__).parents[1] / "tests" / "data"
    >>> out = os.path.join(tempfile.mkdtemp(), "fixtures.h5")
    >>> ds = ingest(data, out, progress=False)  # doctest: +SKIP
    >>> len(ds) > 0  # doctest: +SKIP
    True
    """
    t0 = time.perf_counter()
    out = Path(out).expanduser().resolve()
    if out.suffix not in (".h5", ".hdf5"):
        raise ValueError(f"out={str(out)!r}: a dataset file must end in .h5 or .hdf5")
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    files = [str(p) for p in find_spectrum_files(source, recursive=recursive) if p != out]
    if not files:
        raise ValueError(
            f"{_describe_source(source)}: no spectrum files found (looked for "
            f"{', '.join(SPECTRUM_PATTERNS)}); nothing was written to {out}"
        )
    with exclusive_lock(out, purpose="ingest"):
        return _ingest_locked(
            source, files, out, t0, n_jobs=n_jobs, resume=resume, retry_failed=retry_failed,
            shard_size=shard_size, encoding=encoding, compression=compression, progress=progress,
        )  # fmt: skip


def _ingest_locked(
    source: Any,
    files: list[str],
    out: Path,
    t0: float,
    *,
    n_jobs: int,
    resume: bool,
    retry_failed: bool,
    shard_size: int,
    encoding: str,
    compression: str | None,
    progress: bool,
) -> SpectraDataset:
    """The body of :func:`ingest`, run while this process holds the lock of ``out``."""
    for tmp in stale_temporaries(out):  # left by a run that was killed while merging
        tmp.unlink(missing_ok=True)
    parts_dir = out.with_name(out.name + ".parts")
    if out.exists():
        SpectraDataset(out).close()  # a clear error for a file that is not a dataset
    if not resume:
        shutil.rmtree(parts_dir, ignore_errors=True)
    existing = out.exists() and resume
    if out.exists() and not resume:
        out.unlink()

    done: set[str] = set()
    if existing:
        done |= _done_paths(out, retry_failed)
    shards = sorted(parts_dir.glob("shard-*.h5")) if parts_dir.exists() else []
    for shard in shards:
        done |= _done_paths(shard, retry_failed)
    todo = [f for f in files if f not in done]
    result = IngestResult(n_files=len(files), n_skipped=len(files) - len(todo))

    if todo:
        from joblib import Parallel, delayed, parallel_config
        from tqdm.auto import tqdm

        parts_dir.mkdir(parents=True, exist_ok=True)
        next_id = 1 + max((int(s.stem.split("-")[1]) for s in shards), default=-1)
        bar = tqdm(total=len(todo), desc=f"ingest {out.name}", unit="file", disable=not progress)
        with (
            parallel_config(
                backend="loky", initializer=_exit_with_parent, initargs=(os.getpid(),)
            ),
            Parallel(n_jobs=n_jobs, return_as="generator", batch_size="auto") as parallel,
        ):
            for start in range(0, len(todo), shard_size):
                chunk = todo[start : start + shard_size]
                results = []
                for res in parallel(delayed(_read_one)(f) for f in chunk):
                    results.append(res)
                    bar.update(1)
                shard = parts_dir / f"shard-{next_id:06d}.h5"
                _write_shard(shard, results, encoding, compression)
                shards.append(shard)
                next_id += 1
        bar.close()

    parts = ([out] if existing else []) + shards
    if sum(_n_spectra(p) for p in parts) == 0:
        failed = _failures(shards)
        shutil.rmtree(parts_dir, ignore_errors=True)
        shown = "; ".join(f"{Path(p).name}: {r}" for p, r in failed[:3])
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        raise ValueError(
            f"{_describe_source(source)}: no spectra: none of the {len(files)} file(s) could be "
            f"read ({shown}{more}); nothing was written to {out}"
        )
    if shards:
        merge_datasets(parts, out, encoding, compression)
    shutil.rmtree(parts_dir, ignore_errors=True)

    ds = SpectraDataset(out)
    rep = ds.ingest_report
    if len(rep):
        paths = np.asarray(rep["path"]).astype(str)
        status = np.asarray(rep["status"]).astype(str)
        todo_set = set(todo)
        for p, s, r, n in zip(paths, status, rep["reason"], rep["n_spectra"], strict=True):
            if p in todo_set:
                if s == "ok":
                    result.n_ok += 1
                    result.n_spectra += int(n)
                else:
                    result.failed.append((p, str(r)))
    result.seconds = time.perf_counter() - t0
    ds.ingest_result = result
    if progress:
        print(result.report())
    return ds
