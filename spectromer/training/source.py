"""Where training spectra come from: one picklable interface over every input kind.

A :class:`SpectrumSource` holds ``n`` spectra and hands out padded batches of plain
arrays (the dict that :meth:`SpectraDataset.iter_batches
<spectromer.datasets.SpectraDataset.iter_batches>` yields), so the data loader, the
augmentations and the renderer never care whether the spectra live in an HDF5 file,
in ``specutils.Spectrum`` objects or in a flux array. Sources are picklable and cheap
to send to ``DataLoader`` worker processes (a dataset source reopens its file there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["SpectrumSource", "SubsetSource", "ConcatSource", "as_source", "pad_arrays"]


def pad_arrays(rows: Sequence[dict[str, np.ndarray]], index: np.ndarray) -> dict[str, np.ndarray]:
    """Pad per-spectrum arrays (``wave``, ``flux``, ``ivar``, ``mask``) into one batch dict.

    Padded pixels have ``mask=True``, ``ivar=0``, ``flux=0`` and ``wave=NaN``, as in
    :meth:`~spectromer.datasets.SpectraDataset.iter_batches`.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.training import pad_arrays
    >>> rows = [{"wave": np.arange(3.0) + 4000, "flux": np.ones(3)},
    ...         {"wave": np.arange(2.0) + 4000, "flux": np.ones(2)}]
    >>> b = pad_arrays(rows, np.array([0, 1]))
    >>> b["flux"].shape, b["mask"][1].tolist()
    ((2, 3), [False, False, True])
    """
    lengths = np.array([len(r["flux"]) for r in rows], dtype=np.int64)
    b, width = len(rows), int(lengths.max()) if len(rows) else 0
    out = {
        "index": np.asarray(index, dtype=np.int64),
        "length": lengths,
        "wave": np.full((b, width), np.nan),
        "flux": np.zeros((b, width), np.float32),
        "ivar": np.zeros((b, width), np.float32),
        "mask": np.ones((b, width), bool),
    }
    for i, r in enumerate(rows):
        n = lengths[i]
        out["wave"][i, :n] = r["wave"]
        out["flux"][i, :n] = r["flux"]
        ivar = r.get("ivar")
        out["ivar"][i, :n] = 1.0 if ivar is None else ivar
        mask = r.get("mask")
        out["mask"][i, :n] = False if mask is None else mask
    return out


class SpectrumSource:
    """``n`` spectra that give padded array batches by index.

    Build one with :func:`as_source`. ``source.batch(indices)`` returns a dict with
    ``wave`` (float64), ``flux``, ``ivar`` (float32) and ``mask`` (bool), each
    ``(len(indices), L)``, plus ``index`` and ``length``; dataset sources add the
    compact grid description (``grid_kind``, ``grid_start``, ``grid_step``) that lets
    the renderer skip searching the wavelength array.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.training import as_source
    >>> src = as_source(load_sample(), indices=[5, 2, 9])
    >>> len(src), src.batch([0, 2])["flux"].shape[0]
    (3, 2)
    >>> len(src[[0, 2]])  # indexable like an array (scikit-learn cross-validation)
    2
    """

    def __init__(self, n: int, describe: str) -> None:
        self.n = int(n)
        self.describe = describe

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.n} spectra from {self.describe}>"

    @property
    def shape(self) -> tuple[int]:
        """``(n,)``: lets scikit-learn's cross-validation index a source like an array."""
        return (self.n,)

    def __getitem__(self, key: Any) -> SpectrumSource:
        """A sub-source of the rows ``key`` (an int array, a boolean mask or a slice)."""
        if isinstance(key, tuple):  # scikit-learn indexes as array[key, ...]
            key = key[0]
        rows = np.arange(self.n)[key]
        return SubsetSource(self, np.atleast_1d(rows))

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Spectra ``indices`` as one padded batch: ``wave``, ``flux``, ``ivar``,
        ``mask`` (N, L), and ``index`` (N,)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _check(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise IndexError(f"indices out of range for {self.n} spectra")
        return idx


class SubsetSource(SpectrumSource):
    """Some rows of another source, re-indexed from 0 (``source[rows]``).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.training import as_source
    >>> src = as_source(np.arange(12.0).reshape(4, 3), wavelength=[4000, 5000, 6000])
    >>> part = src[[3, 1]]
    >>> len(part), part.batch([0])["flux"].tolist()
    (2, [[9.0, 10.0, 11.0]])
    """

    def __init__(self, parent: SpectrumSource, rows: np.ndarray) -> None:
        super().__init__(rows.size, parent.describe)
        self.parent, self.rows = parent, np.asarray(rows, dtype=np.int64)

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Spectra ``indices`` (of this subset) as one padded batch."""
        idx = self._check(indices)
        out = self.parent.batch(self.rows[idx])
        out["index"] = idx
        return out


class ConcatSource(SpectrumSource):
    """Several sources one after the other, as one (indices run across all of them).

    Spectra of different lengths and grids are padded together (:func:`pad_arrays`),
    so for example real LAMOST spectra and simulated SDSS spectra can feed one
    unlabelled pretraining run.

    Parameters
    ----------
    sources : sequence of SpectrumSource
        The parts, in order (see :func:`as_source`).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.training import ConcatSource, as_source
    >>> a = as_source(np.ones((2, 3)), wavelength=[4000, 5000, 6000])
    >>> b = as_source(np.zeros((3, 2)), wavelength=[4000, 4500])
    >>> both = ConcatSource([a, b])
    >>> len(both), both.batch([1, 4])["flux"].tolist()
    (5, [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    """

    def __init__(self, sources: Sequence[SpectrumSource]) -> None:
        sources = list(sources)
        if not sources:
            raise ValueError("ConcatSource needs at least one source")
        for i, src in enumerate(sources):
            if not isinstance(src, SpectrumSource):
                raise TypeError(
                    f"part {i} is a {type(src).__name__}, not a SpectrumSource (use as_source)"
                )
        self.sources = sources
        self.offsets = np.cumsum([0] + [len(s) for s in sources])
        super().__init__(int(self.offsets[-1]), " + ".join(s.describe for s in sources))

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Spectra ``indices`` (running across the parts) as one padded batch."""
        idx = self._check(indices)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        rows: list[dict[str, np.ndarray]] = [{} for _ in range(idx.size)]
        for k in np.unique(part):
            where = np.flatnonzero(part == k)
            b = self.sources[int(k)].batch(idx[where] - self.offsets[k])
            lengths = b.get("length", np.full(where.size, b["flux"].shape[1]))
            for j, i in enumerate(where):
                n = int(lengths[j])
                rows[i] = {key: b[key][j, :n] for key in ("wave", "flux", "ivar", "mask")}
        return pad_arrays(rows, idx)


class _DatasetSource(SpectrumSource):
    """Rows of a :class:`~spectromer.datasets.SpectraDataset` (read lazily)."""

    def __init__(self, dataset: Any, rows: np.ndarray) -> None:
        super().__init__(rows.size, f"{dataset.path.name}")
        self.dataset = dataset
        self.rows = rows

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        idx = self._check(indices)
        out = self.dataset.read_batch(self.rows[idx])
        out["index"] = idx
        return out


class _ArraySource(SpectrumSource):
    """Spectra held in memory as per-spectrum arrays (ragged lengths allowed)."""

    def __init__(self, rows: list[dict[str, np.ndarray]], describe: str) -> None:
        super().__init__(len(rows), describe)
        self.rows = rows

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        idx = self._check(indices)
        return pad_arrays([self.rows[i] for i in idx], idx)


class _GridSource(SpectrumSource):
    """A flux array (N, L) on a shared or per-row wavelength grid."""

    def __init__(
        self, flux: np.ndarray, wave: np.ndarray, ivar: np.ndarray | None, mask: np.ndarray | None
    ) -> None:
        super().__init__(flux.shape[0], f"a flux array of shape {flux.shape}")
        self.flux, self.wave, self.ivar, self.mask = flux, wave, ivar, mask

    def batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        idx = self._check(indices)
        b, width = idx.size, self.flux.shape[1]
        flux = self.flux[idx].astype(np.float32)
        finite = np.isfinite(flux)
        wave = self.wave[idx] if self.wave.ndim == 2 else np.broadcast_to(self.wave, (b, width))
        mask = ~finite if self.mask is None else (self.mask[idx] | ~finite)
        ivar = (
            np.ones((b, width), np.float32)
            if self.ivar is None
            else self.ivar[idx].astype(np.float32)
        )
        return {
            "index": idx,
            "length": np.full(b, width, np.int64),
            "wave": np.array(wave, dtype=np.float64),
            "flux": np.where(finite, flux, 0).astype(np.float32),
            "ivar": np.where(mask, 0, ivar).astype(np.float32),
            "mask": mask,
        }


def _is_dataset(x: Any) -> bool:
    return hasattr(x, "read_batch") and hasattr(x, "labels") and hasattr(x, "meta")


def as_source(
    X: Any,
    *,
    wavelength: Any = None,
    indices: Sequence[int] | np.ndarray | None = None,
    ivar: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> SpectrumSource:
    """Wrap any supported spectrum input in a :class:`SpectrumSource`.

    Parameters
    ----------
    X : SpectraDataset, sequence of Spectrum, Spectrum, dict or ndarray
        A :class:`~spectromer.datasets.SpectraDataset` (rows ``indices``, default all),
        ``specutils.Spectrum`` objects (1-D each; any lengths and grids), a dict with
        ``wave`` and ``flux`` arrays, or a flux array ``(N, L)`` with ``wavelength``.
    wavelength : array or Quantity, optional
        Wavelength grid of a flux array, ``(L,)`` shared or ``(N, L)``; Angstrom unless a
        Quantity.
    indices : array of int, optional
        Rows of a dataset.
    ivar, mask : ndarray, optional
        Inverse variance and bad-pixel mask (True = bad) of a flux array.

    Returns
    -------
    SpectrumSource

    Raises
    ------
    TypeError, ValueError
        For an input that is not spectra, names the argument and what is wrong.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.training import as_source
    >>> src = as_source(np.ones((4, 100)), wavelength=np.linspace(4000, 8000, 100))
    >>> src.batch([1, 3])["wave"].shape
    (2, 100)
    """
    from specutils import Spectrum

    from ..io import spectrum_arrays

    if _is_dataset(X):
        rows = np.arange(len(X)) if indices is None else np.asarray(indices, dtype=np.int64)
        if rows.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {rows.shape}")
        if rows.size and (rows.min() < 0 or rows.max() >= len(X)):
            raise IndexError(f"indices out of range for {X.path.name} ({len(X)} spectra)")
        return _DatasetSource(X, rows)
    if indices is not None:
        raise TypeError("indices= selects rows of a SpectraDataset; index the input instead")
    if isinstance(X, SpectrumSource):
        return X
    if isinstance(X, Spectrum):
        X = [X]
    if isinstance(X, dict):
        if "flux" not in X or "wave" not in X:
            raise ValueError("a dict of spectra needs 'wave' and 'flux' arrays")
        flux = np.atleast_2d(np.asarray(X["flux"]))
        return as_source(
            flux, wavelength=np.asarray(X["wave"]), ivar=X.get("ivar"), mask=X.get("mask")
        )
    if isinstance(X, np.ndarray) or (hasattr(X, "unit") and hasattr(X, "value")):
        return _grid_source(X, wavelength, ivar, mask)
    try:
        items = list(X)
    except TypeError:
        raise TypeError(
            "X must be a SpectraDataset, a sequence of specutils Spectrum objects, a dict of "
            f"arrays or a flux array with wavelength=...; got {type(X).__name__}"
        ) from None
    rows = []
    for i, spec in enumerate(items):
        if not isinstance(spec, Spectrum):
            raise TypeError(
                f"X[{i}] is a {type(spec).__name__}, not a specutils Spectrum; a flux array "
                "must be passed whole, as a 2-D ndarray with wavelength=..."
            )
        w, f, iv, m = spectrum_arrays(spec)
        rows.append({"wave": w, "flux": f, "ivar": iv, "mask": m})
    return _ArraySource(rows, f"{len(rows)} Spectrum objects")


def _grid_source(X: Any, wavelength: Any, ivar: Any, mask: Any) -> SpectrumSource:
    import astropy.units as u

    if wavelength is None:
        raise ValueError("a flux array needs its wavelength grid: pass wavelength=...")
    if isinstance(wavelength, u.Quantity):
        wavelength = wavelength.to_value(u.AA, equivalencies=u.spectral())
    flux = np.asarray(getattr(X, "value", X), dtype=np.float32)
    if flux.ndim == 1:
        flux = flux[None]
    if flux.ndim != 2:
        raise ValueError(f"X: a flux array must be 1-D or 2-D (N, L), got shape {flux.shape}")
    wave = np.asarray(wavelength, dtype=np.float64)
    if wave.shape not in ((flux.shape[1],), flux.shape):
        raise ValueError(
            f"wavelength has shape {wave.shape}; expected ({flux.shape[1]},) or {flux.shape} "
            "to match the flux array"
        )
    extra = []
    for name, arr in (("ivar", ivar), ("mask", mask)):
        if arr is not None:
            arr = np.asarray(arr)
            if arr.shape != flux.shape:
                raise ValueError(f"{name} has shape {arr.shape}; expected {flux.shape}")
        extra.append(arr)
    iv, mk = extra
    return _GridSource(flux, wave, iv, None if mk is None else mk.astype(bool))
