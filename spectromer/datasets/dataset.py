"""The on-disk spectrum dataset, :class:`SpectraDataset`: one HDF5 file per dataset,
opened lazily (the layout: :mod:`spectromer.datasets._format`; writing:
:class:`~spectromer.datasets.DatasetWriter`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from astropy.table import Table

from ..spectra import SpectrumBatch
from ..utils import grid as _grid
from ..utils.atomic import atomic_path
from ._format import FORMAT_NAME, FORMAT_VERSION
from ._tables import _read_meta, _read_table
from .writer import DatasetWriter

__all__ = ["SpectraDataset", "DatasetWriter", "FORMAT_NAME", "FORMAT_VERSION"]

#: Text values that mean "no label".
_MISSING_TEXT = frozenset({"", "None", "nan", "NaN", "--", "N/A"})



# ------------------------------------------------------------------- opening files
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_WRITTEN_BY = "a dataset is an .h5 file written by `spectromer ingest`"


def _has_hdf5_signature(path: Path) -> bool:
    """Whether ``path`` starts like an HDF5 file (at offset 0, 512, 1024, ... as HDF5 allows)."""
    size = path.stat().st_size
    offset = 0
    with open(path, "rb") as f:
        while offset + len(_HDF5_SIGNATURE) <= size:
            f.seek(offset)
            if f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else 2 * offset
    return False


def _unreadable(path: Path) -> str:
    """Why the existing file ``path`` cannot be opened as HDF5, naming it (one line)."""
    if path.stat().st_size == 0:
        return f"{path}: is an empty file, not a dataset ({_WRITTEN_BY})"
    if _has_hdf5_signature(path):
        return (
            f"{path}: the HDF5 file is truncated or damaged (an interrupted copy or download?); "
            "write it again with `spectromer ingest`"
        )
    with open(path, "rb") as f:
        head = f.read(80)
    if head.startswith(b"SIMPLE  ="):
        what = "it is a FITS file: ingest spectrum files with `spectromer ingest` first"
    elif head.startswith(b"\x1f\x8b"):
        what = "it is gzip-compressed, a .fits.gz spectrum? ingest it with `spectromer ingest`"
    else:
        what = f"a FITS file? {_WRITTEN_BY}"
    return (
        f"{path}: is not an HDF5 file ({what}; `spectromer info`, `train` and the other "
        "commands take datasets written by `spectromer ingest`)"
    )


def _open_h5(path: Path) -> h5py.File:
    """Open ``path`` read-only with errors that name the file and say what was expected."""
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a dataset file ({_WRITTEN_BY})")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such dataset file")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{path}: the dataset file cannot be read (permission denied)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise OSError(_unreadable(path)) from exc



class SpectraDataset:
    """A lazily opened HDF5 file of spectra on their native wavelength grids.

    Indexing gives :class:`specutils.Spectrum` objects; :meth:`arrays` gives
    plain numpy arrays; :meth:`iter_batches` streams padded batches for
    training. The metadata table (labels, identifiers) is read once, the
    spectra only when asked for. The object can be pickled (e.g. into PyTorch
    DataLoader workers): each process reopens the file itself.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`spectromer.datasets.ingest` or
        :class:`DatasetWriter`.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> ds = load_sample()
    >>> len(ds) > 500
    True
    >>> spec = ds[0]
    >>> spec.spectral_axis.unit
    Unit("Angstrom")
    >>> sorted(set(ds.labels("type").tolist()))
    ['A', 'F', 'G']
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._labels_cache: tuple[np.ndarray, list[str]] | None = None
        h5 = self._file()
        if h5.attrs.get("format") != FORMAT_NAME:
            raise ValueError(
                f"{self.path}: not a Spectromer dataset (no format={FORMAT_NAME!r} attribute)"
            )
        version = int(h5.attrs.get("format_version", -1))
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{self.path}: dataset format version {version} is newer than this Spectromer "
                f"understands ({FORMAT_VERSION}); upgrade spectromer"
            )
        self.encoding = str(h5.attrs.get("encoding", "float32"))
        self._offsets = h5["spectra/offsets"][...]
        self._scale = h5["spectra/scale"][...]
        self._kind = h5["wave/kind"][...]
        self._start = h5["wave/start"][...]
        self._step = h5["wave/step"][...]
        self._wave_offsets = h5["wave/offsets"][...]
        self._meta: Table | None = None  # read when first asked for (:attr:`meta`)
        self.ingest_report: Table = _read_table(h5, "ingest_report")
        self.attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in h5.attrs.items()}

    @property
    def meta(self) -> Table:
        """The metadata table, one row per spectrum (read from the file when first used)."""
        if self._meta is None:
            self._meta = _read_meta(self._file())
        return self._meta

    @meta.setter
    def meta(self, table: Table) -> None:
        self._meta = table

    # -- file handling ------------------------------------------------------
    def _file(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = _open_h5(self.path)
            self._pid = os.getpid()
        return self._h5

    def close(self) -> None:
        """Close the underlying file handle (it reopens on next access)."""
        if self._h5 is not None:
            try:
                self._h5.close()
            finally:
                self._h5 = None

    def __enter__(self) -> SpectraDataset:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None
        state["_pid"] = None
        state["_labels_cache"] = None  # rebuilt on demand in the other process
        return state

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order
        try:
            self.close()
        except Exception:
            pass

    # -- size ----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._offsets.size - 1)

    @property
    def n_pixels(self) -> int:
        """Total number of stored pixels over all spectra."""
        return int(self._offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """Number of pixels of each spectrum."""
        return np.diff(self._offsets)

    @property
    def nbytes(self) -> int:
        """Size of the dataset file in bytes."""
        return self.path.stat().st_size

    def __repr__(self) -> str:
        cols = ", ".join(self.meta.colnames[:8]) + (", ..." if len(self.meta.colnames) > 8 else "")
        return (
            f"<SpectraDataset {self.path.name}: {len(self)} spectra, {self.n_pixels:,} pixels, "
            f"{self.nbytes / 1e6:.1f} MB, columns: {cols}>"
        )

    def summary(self, label: str | None = None) -> str:
        """A human-readable description: size, wavelength coverage, label counts.

        Parameters
        ----------
        label : str, optional
            Metadata column whose value counts are listed (default: ``subclass``
            then ``class`` if present).

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> print(load_sample().summary("type"))  # doctest: +ELLIPSIS
        SpectraDataset ...
        """
        lines = [repr(self)[1:-1]]
        if len(self):
            probe = range(0, len(self), max(1, len(self) // 200))
            lo = np.array([self.wavelength(i)[0] for i in probe])
            hi = np.array([self.wavelength(i)[-1] for i in probe])
            lines.append(
                f"  pixels per spectrum: {int(self.lengths.min())}-{int(self.lengths.max())}; "
                f"wavelength ~{np.median(lo):.0f}-{np.median(hi):.0f} Angstrom (median edges)"
            )
        if label is None:
            label = next((c for c in ("subclass", "class") if c in self.meta.colnames), None)
        if label is not None and label in self.meta.colnames:
            col = self.meta[label]
            mask = np.ma.getmaskarray(col)
            text = np.asarray(col).astype(str)
            text = np.where(mask | (text == ""), "(none)", text)
            values, counts = np.unique(text, return_counts=True)
            order = np.argsort(values)
            pairs = ", ".join(f"{values[i]}: {counts[i]}" for i in order[:40])
            more = " ..." if len(values) > 40 else ""
            lines.append(f"  {label}: {pairs}{more}")
        if len(self.ingest_report):
            failed = int(np.sum(np.asarray(self.ingest_report["status"]) == "failed"))
            lines.append(f"  ingest report: {len(self.ingest_report)} files, {failed} failed")
        if self.split_names:
            lines.append(f"  saved splits: {', '.join(self.split_names)}")
        return "\n".join(lines)

    # -- access --------------------------------------------------------------
    def _check_index(self, i: int) -> int:
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} spectra")
        return i

    def wavelength(self, i: int) -> np.ndarray:
        """Wavelengths (vacuum Angstrom, float64) of spectrum ``i``."""
        i = self._check_index(i)
        n = int(self._offsets[i + 1] - self._offsets[i])
        kind = int(self._kind[i])
        if kind == _grid.EXPLICIT:
            a, b = self._wave_offsets[i], self._wave_offsets[i + 1]
            return self._file()["wave/values"][a:b]
        return _grid.expand_grid(kind, self._start[i], self._step[i], n)

    def arrays(self, i: int) -> dict[str, np.ndarray]:
        """Plain arrays of spectrum ``i``: ``wave``, ``flux``, ``ivar``, ``mask``.

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> a = load_sample().arrays(0)
        >>> a["flux"].shape == a["wave"].shape == a["mask"].shape
        True
        """
        i = self._check_index(i)
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        h5 = self._file()
        out = {
            "wave": self.wavelength(i),
            "flux": h5["spectra/flux"][a:b],
            "ivar": h5["spectra/ivar"][a:b],
            "mask": h5["spectra/mask"][a:b].astype(bool),
        }
        return self._decode(out, self._scale[i])

    def _decode(self, out: dict[str, np.ndarray], scale: Any) -> dict[str, np.ndarray]:
        if self.encoding == "float16":
            scale = np.asarray(scale, dtype=np.float32)
            out["flux"] = out["flux"].astype(np.float32) * scale
            with np.errstate(divide="ignore", invalid="ignore"):
                s = out["ivar"].astype(np.float32) / scale
            out["ivar"] = np.where(np.isfinite(s), s * s, 0).astype(np.float32)
        else:
            out["flux"] = out["flux"].astype(np.float32, copy=False)
            out["ivar"] = out["ivar"].astype(np.float32, copy=False)
        return out

    def __getitem__(self, i: int):
        if isinstance(i, (slice, list, np.ndarray)):
            idx = np.arange(len(self))[i]
            return [self[int(j)] for j in idx]
        return self.spectrum(i)

    def __iter__(self) -> Iterator:
        for i in range(len(self)):
            yield self.spectrum(i)

    def spectrum(self, i: int):
        """Spectrum ``i`` as a :class:`specutils.Spectrum` with its metadata row in ``meta``.

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> s = load_sample().spectrum(3)
        >>> s.meta["survey"]
        'LAMOST'
        """
        import astropy.units as u
        from astropy.nddata import InverseVariance
        from specutils import Spectrum

        i = self._check_index(i)
        arr = self.arrays(i)
        row = self.meta_row(i)
        unit = u.Unit(row.get("flux_unit", "") or "")
        return Spectrum(
            flux=arr["flux"] * unit,
            spectral_axis=arr["wave"] * u.AA,
            uncertainty=InverseVariance(arr["ivar"] / unit**2),
            mask=arr["mask"],
            meta=row,
        )

    def meta_row(self, i: int) -> dict[str, Any]:
        """The metadata of spectrum ``i`` as a dict (missing values left out)."""
        i = self._check_index(i)
        row = {}
        if not self.meta.colnames:
            return row
        r = self.meta[i]
        for name in self.meta.colnames:
            value = r[name]
            if np.ma.is_masked(value):
                continue
            row[name] = value.item() if hasattr(value, "item") else value
        return row

    def labels(self, column: str) -> np.ndarray:
        """One metadata column as a numpy array, with a helpful error if absent.

        Missing values (masked entries) come out as NaN in a float column and as ``""``
        in a text column (``-1`` in an integer one, ``False`` in a boolean one), never as
        a filler that looks like a label.

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> load_sample().labels("type")[:3].dtype.kind
        'U'
        """
        if column not in self.meta.colnames and len(self) == 0:
            raise KeyError(
                f"{self.path}: the dataset holds no spectra (so no metadata column {column!r}); "
                "ingest spectrum files into it with `spectromer ingest`"
            )
        if column not in self.meta.colnames:
            raise KeyError(
                f"{self.path.name}: no metadata column {column!r}; available: "
                f"{', '.join(self.meta.colnames)}"
            )
        col = self.meta[column]
        if not hasattr(col, "filled"):
            return np.asarray(col)
        kind = col.dtype.kind
        if kind == "f":
            fill: Any = np.nan
        elif kind in "US":
            fill = ""
        elif kind in "iu":
            fill = -1 if kind == "i" else 0
        elif kind == "b":
            fill = False
        else:
            fill = None
        return np.asarray(col.filled(fill) if fill is not None else col.filled())

    def has_label(self, column: str) -> np.ndarray:
        """Which spectra have a value in metadata column ``column`` (bool array).

        Missing means masked, NaN, or an empty or placeholder text (``""``, ``"None"``,
        ``"nan"``, ``"--"``): what training and evaluation leave out.

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> bool(load_sample().has_label("type").all())
        True
        """
        values = self.labels(column)
        if values.dtype.kind in "fc":
            return np.isfinite(values)
        if values.dtype.kind in "iub":
            return np.ones(values.shape, bool)
        return np.array([str(v).strip() not in _MISSING_TEXT for v in values], dtype=bool)

    def iter_batches(
        self,
        batch_size: int = 256,
        indices: Sequence[int] | np.ndarray | None = None,
        *,
        shuffle: bool = False,
        seed: int | None = None,
        progress: bool = False,
    ) -> Iterator[SpectrumBatch]:
        """Stream padded batches of spectra (:class:`~spectromer.spectra.SpectrumBatch`).

        Each batch holds ``index`` (B,), ``length`` (B,), the grid parameters
        ``grid_kind``, ``grid_start``, ``grid_step`` (B,), ``wave``, ``flux``, ``ivar``,
        ``mask`` of shape (B, L) where L is the longest spectrum in the batch, and ``z``
        and ``names`` from the metadata; padded pixels have ``mask=True``, ``ivar=0``,
        ``flux=0`` and ``wave=NaN``. Memory is O(batch); contiguous index runs are read
        with one slice.

        Parameters
        ----------
        batch_size : int
            Spectra per batch.
        indices : array of int, optional
            Which spectra (default all), e.g. a split's ``train`` indices.
        shuffle : bool
            Shuffle the order (reproducibly with ``seed``).
        seed : int, optional
            Seed for the shuffle.
        progress : bool
            Show a tqdm progress bar.

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> batch = next(load_sample().iter_batches(batch_size=8))
        >>> batch.flux.shape[0]
        8
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        idx = self._rows(np.arange(len(self)) if indices is None else indices)
        if shuffle:
            idx = np.random.default_rng(seed).permutation(idx)
        starts = range(0, idx.size, batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, total=-(-idx.size // batch_size), desc="batches", unit="batch")
        for s in starts:
            yield self.batch(idx[s : s + batch_size])

    def _rows(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"{self.path.name}: indices out of range for {len(self)} spectra")
        return idx % max(len(self), 1)

    def batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch:
        """Read the spectra ``indices`` as one padded :class:`~spectromer.spectra.SpectrumBatch`.

        This is the :class:`~spectromer.spectra.SpectrumCollection` protocol: a dataset
        can be given wherever spectra are expected. ``z`` comes from the ``z`` column
        (NaN where missing) and ``names`` from ``source``.

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> b = load_sample().batch([4, 1])
        >>> b.index.tolist(), b.flux.ndim
        ([4, 1], 2)
        """
        idx = self._rows(indices)
        h5 = self._file()
        lengths = (self._offsets[idx + 1] - self._offsets[idx]).astype(np.int64)
        b, width = idx.size, int(lengths.max()) if idx.size else 0
        wave = np.full((b, width), np.nan)
        flux = np.zeros((b, width), np.float32)
        ivar = np.zeros((b, width), np.float32)
        mask = np.ones((b, width), bool)
        if b:
            # read the covering range once when the indices are sorted and dense
            order = np.argsort(idx, kind="stable")
            lo, hi = int(self._offsets[idx[order[0]]]), int(self._offsets[idx[order[-1]] + 1])
            dense = (hi - lo) <= 2 * int(lengths.sum())
            if dense:
                block = {k: h5[f"spectra/{k}"][lo:hi] for k in ("flux", "ivar", "mask")}
        for row, i in enumerate(idx):
            a, n = int(self._offsets[i]), int(lengths[row])
            if dense:
                piece = {k: v[a - lo : a - lo + n] for k, v in block.items()}
            else:
                piece = {k: h5[f"spectra/{k}"][a : a + n] for k in ("flux", "ivar", "mask")}
            dec = self._decode({"flux": piece["flux"], "ivar": piece["ivar"]}, self._scale[i])
            flux[row, :n] = dec["flux"]
            ivar[row, :n] = dec["ivar"]
            mask[row, :n] = piece["mask"].astype(bool)
            wave[row, :n] = self.wavelength(int(i))
        z, names = self._row_labels()
        return SpectrumBatch._clean(
            idx.copy(),
            lengths,
            wave,
            flux,
            ivar,
            mask,
            z[idx],
            [names[i] for i in idx],
            grid_kind=self._kind[idx],
            grid_start=self._start[idx],
            grid_step=self._step[idx],
        )

    def read_batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch:
        """The same as :meth:`batch` (its earlier name), refusing an empty selection.

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> load_sample().read_batch([4, 1]).index.tolist()
        [4, 1]
        """
        if not np.size(indices):
            raise ValueError(f"{self.path.name}: read_batch() needs at least one index")
        return self.batch(indices)

    def _row_labels(self) -> tuple[np.ndarray, list[str]]:
        """Each spectrum's redshift (NaN if unknown) and name for messages (cached)."""
        if self._labels_cache is None:
            z = np.full(len(self), np.nan)
            if "z" in self.meta.colnames:
                col = self.meta["z"]
                col = col.filled(np.nan) if hasattr(col, "filled") else col
                if np.asarray(col).dtype.kind in "biuf":
                    z = np.asarray(col, dtype=np.float64)
            src = self.meta["source"] if "source" in self.meta.colnames else None
            names = [
                f"spectrum {i}" + (f" ({src[i]})" if src is not None and src[i] else "")
                for i in range(len(self))
            ]
            self._labels_cache = (z, names)
        return self._labels_cache

    # -- splits --------------------------------------------------------------
    @property
    def split_names(self) -> list[str]:
        """Names of the splits saved in the file."""
        h5 = self._file()
        return sorted(h5["splits"].keys()) if "splits" in h5 else []

    def split(
        self,
        label: str,
        fractions: Sequence[float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        *,
        save: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Stratified train/validation/test split by a label column.

        Parameters
        ----------
        label : str
            Metadata column to stratify on (e.g. ``"subclass"``).
        fractions : sequence of float
            Train, validation and test fractions (summing to 1). Two numbers
            give train and test only.
        seed : int
            Random seed; the same seed gives the same split.
        save : str, optional
            Also store the split in the dataset file under this name (the
            file is rewritten atomically).

        Returns
        -------
        dict of str to ndarray
            Index arrays ``train``, ``validation`` (if three fractions) and ``test``.

        Examples
        --------
        >>> from spectromer.datasets import load_sample
        >>> parts = load_sample().split("type", seed=1)
        >>> sorted(parts)
        ['test', 'train', 'validation']
        """
        from .splits import stratified_split

        parts = stratified_split(self.labels(label), fractions=fractions, seed=seed)
        if save:
            self.save_split(save, parts, label=label, seed=seed, fractions=fractions)
        return parts

    def save_split(
        self,
        name: str,
        parts: Mapping[str, np.ndarray],
        **attrs: Any,
    ) -> None:
        """Store index arrays as a named split (atomic rewrite of the file, holding the
        dataset's writer lock, so it never races an ingest into the same file)."""
        if not name or "/" in name:
            raise ValueError(f"split name must be a non-empty string without '/', got {name!r}")
        for key, value in parts.items():
            value = np.asarray(value)
            if value.size and (value.min() < 0 or value.max() >= len(self)):
                raise IndexError(f"split {name!r} part {key!r} has indices out of range")
        import shutil

        from ..utils.locking import exclusive_lock

        self.close()
        with exclusive_lock(self.path, purpose="save_split"), atomic_path(self.path) as tmp:
            shutil.copyfile(self.path, tmp)
            with h5py.File(tmp, "r+") as h5:
                grp = h5.require_group("splits")
                if name in grp:
                    del grp[name]
                g = grp.create_group(name)
                for key, value in parts.items():
                    g.create_dataset(key, data=np.asarray(value, dtype=np.int64))
                for key, value in attrs.items():
                    g.attrs[key] = np.asarray(value) if isinstance(value, (list, tuple)) else value

    def load_split(self, name: str) -> dict[str, np.ndarray]:
        """Read a split saved with :meth:`split` (``save=``) or :meth:`save_split`."""
        h5 = self._file()
        if "splits" not in h5 or name not in h5["splits"]:
            raise KeyError(
                f"{self.path.name}: no saved split {name!r}; saved: {self.split_names or 'none'}"
            )
        return {k: v[...] for k, v in h5["splits"][name].items()}

    # -- derived datasets ------------------------------------------------------
    def subset(
        self,
        indices: Iterable[int],
        out: str | os.PathLike,
        *,
        encoding: str | None = None,
        compression: str | None = "lzf",
        extra_meta: Mapping[str, Sequence[Any]] | None = None,
    ) -> SpectraDataset:
        """Write the chosen spectra to a new dataset file (atomically) and open it.

        Parameters
        ----------
        indices : iterable of int
            Spectra to copy, in the order given.
        out : path
            New dataset file.
        encoding : {"float32", "float16"}, optional
            Storage encoding of the new file (default: this dataset's).
        compression : str or None
            h5py compression filter.
        extra_meta : mapping, optional
            Extra metadata columns, one value per selected spectrum.
        """
        idx = [self._check_index(i) for i in indices]
        with atomic_path(out) as tmp:
            with DatasetWriter(
                tmp, encoding=encoding or self.encoding, compression=compression
            ) as writer:
                for k, i in enumerate(idx):
                    a = self.arrays(i)
                    row = self.meta_row(i)
                    for key, values in (extra_meta or {}).items():
                        row[key] = values[k]
                    writer.add(a["wave"], a["flux"], a["ivar"], a["mask"], row)
        return SpectraDataset(out)
