"""Where spectra come from: one protocol over every input kind.

A *spectrum collection* is anything with ``len()`` and ``batch(indices)`` returning a
:class:`~spectromer.spectra.SpectrumBatch`: a :class:`~spectromer.datasets.SpectraDataset`
is one, and so is every :class:`SpectrumSource`. :func:`as_source` is called once, at the
edge of the public API (``render``, ``fit``, ``transform``, ...), and turns whatever the
user holds (a dataset, ``specutils.Spectrum`` objects, flux arrays, several of these)
into a :class:`SpectrumSource`. Below that edge nothing asks what the input was.

Sources are picklable and cheap to send to ``DataLoader`` worker processes (a dataset
reopens its file there), and indexable like arrays (``source[rows]``), which is what
scikit-learn's cross-validation needs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .batch import SpectrumBatch

__all__ = [
    "SpectrumCollection",
    "SpectrumSource",
    "SubsetSource",
    "ConcatSource",
    "as_source",
]


@runtime_checkable
class SpectrumCollection(Protocol):
    """The protocol under every learner and renderer: ``len(c)`` spectra, read by index.

    Implement ``__len__`` and ``batch(indices) -> SpectrumBatch`` (rows in the order
    asked) to make any store of spectra usable everywhere in spectromer, through
    :func:`as_source`.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.spectra import SpectrumCollection
    >>> isinstance(load_sample(), SpectrumCollection)
    True
    """

    def __len__(self) -> int: ...

    def batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch: ...


class SpectrumSource:
    """``n`` spectra that give :class:`~spectromer.spectra.SpectrumBatch` es by index.

    Build one with :func:`as_source`. ``source.batch(indices)`` returns the spectra
    ``indices`` as one padded batch; :meth:`iter_batches` streams them in order.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.spectra import as_source
    >>> src = as_source(load_sample(), indices=[5, 2, 9])
    >>> len(src), src.batch([0, 2]).flux.shape[0]
    (3, 2)
    >>> len(src[[0, 2]])  # indexable like an array (scikit-learn cross-validation)
    2
    """

    #: False for flux arrays given without wavelengths (pixel index instead).
    has_wavelength: bool = True

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

    def batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch:
        """Spectra ``indices`` as one padded :class:`~spectromer.spectra.SpectrumBatch`."""
        raise NotImplementedError  # pragma: no cover - abstract

    def iter_batches(self, batch_size: int = 256) -> Iterator[SpectrumBatch]:
        """All spectra in order, ``batch_size`` at a time (memory O(batch)).

        Examples
        --------
        >>> import numpy as np
        >>> from spectromer.spectra import as_source
        >>> src = as_source(np.ones((5, 3)), wavelength=[4000.0, 4001.0, 4002.0])
        >>> [len(b) for b in src.iter_batches(2)]
        [2, 2, 1]
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for s in range(0, self.n, batch_size):
            yield self.batch(np.arange(s, min(s + batch_size, self.n)))

    def _check(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise IndexError(f"indices out of range for {self.n} spectra ({self.describe})")
        return idx


class SubsetSource(SpectrumSource):
    """Some rows of a collection, re-indexed from 0 (``source[rows]``, or a dataset's rows).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.spectra import as_source
    >>> src = as_source(np.arange(12.0).reshape(4, 3), wavelength=[4000, 5000, 6000])
    >>> part = src[[3, 1]]
    >>> len(part), part.batch([0]).flux.tolist()
    (2, [[9.0, 10.0, 11.0]])
    """

    def __init__(self, parent: SpectrumCollection, rows: np.ndarray) -> None:
        describe = getattr(parent, "describe", None) or type(parent).__name__
        super().__init__(np.size(rows), str(describe))
        self.parent, self.rows = parent, np.asarray(rows, dtype=np.int64).reshape(-1)
        self.has_wavelength = getattr(parent, "has_wavelength", True)

    def batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch:
        """Spectra ``indices`` (of this subset) as one padded batch."""
        idx = self._check(indices)
        out = self.parent.batch(self.rows[idx])
        out.index = idx
        return out


class ConcatSource(SpectrumSource):
    """Several sources one after the other, as one (indices run across all of them).

    Spectra of different lengths and grids are padded together, so for example real
    LAMOST spectra and simulated SDSS spectra can feed one unlabelled pretraining run.
    ``as_source([a, b])`` builds one.

    Parameters
    ----------
    sources : sequence of SpectrumSource
        The parts, in order (see :func:`as_source`).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.spectra import ConcatSource, as_source
    >>> a = as_source(np.ones((2, 3)), wavelength=[4000, 5000, 6000])
    >>> b = as_source(np.zeros((3, 2)), wavelength=[4000, 4500])
    >>> both = ConcatSource([a, b])
    >>> len(both), both.batch([1, 4]).flux.tolist()
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
        self.has_wavelength = all(s.has_wavelength for s in sources)

    def batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch:
        """Spectra ``indices`` (running across the parts) as one padded batch."""
        idx = self._check(indices)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        rows: list[dict[str, np.ndarray]] = [{} for _ in range(idx.size)]
        z = np.full(idx.size, np.nan)
        names = [""] * idx.size
        for k in np.unique(part):
            where = np.flatnonzero(part == k)
            b = self.sources[int(k)].batch(idx[where] - self.offsets[k])
            for j, i in enumerate(where):
                rows[i] = b.spectrum_arrays(j)
                names[i] = b.names[j]
            z[where] = b.z
        return SpectrumBatch.from_rows(
            rows, idx, z=z, names=names, has_wavelength=self.has_wavelength
        )


class _BatchSource(SpectrumSource):
    """The spectra of a batch already in memory."""

    def __init__(self, batch: SpectrumBatch) -> None:
        super().__init__(len(batch), f"a batch of {len(batch)} spectra")
        self.data = batch
        self.has_wavelength = batch.has_wavelength

    def batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch:
        idx = self._check(indices)
        out = self.data.take(idx)
        out.index = idx
        return out


class _SpectrumListSource(SpectrumSource):
    """``specutils.Spectrum`` objects, converted to arrays once (ragged lengths allowed)."""

    def __init__(self, spectra: Sequence[Any]) -> None:
        from ..io import spectrum_arrays

        super().__init__(len(spectra), f"{len(spectra)} Spectrum objects")
        self.rows, self.z, self.names = [], np.full(len(spectra), np.nan), []
        for i, spec in enumerate(spectra):
            w, f, iv, m = spectrum_arrays(spec)
            self.rows.append({"wave": w, "flux": f, "ivar": iv, "mask": m})
            meta = spec.meta if isinstance(spec.meta, dict) else {}
            try:
                self.z[i] = float(meta.get("z", np.nan))
            except (TypeError, ValueError):
                pass
            label = next((meta[k] for k in ("source", "object_id") if meta.get(k)), None)
            self.names.append(f"spectrum {i}" + (f" ({label})" if label else ""))

    def batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch:
        idx = self._check(indices)
        return SpectrumBatch.from_rows(
            [self.rows[i] for i in idx], idx, z=self.z[idx], names=[self.names[i] for i in idx]
        )


class _ArraySource(SpectrumSource):
    """A flux array (N, L) on a shared or per-row wavelength grid (or on pixel indices)."""

    def __init__(
        self,
        flux: np.ndarray,
        wave: np.ndarray | None,
        ivar: np.ndarray | None,
        mask: np.ndarray | None,
    ) -> None:
        super().__init__(flux.shape[0], f"a flux array of shape {flux.shape}")
        self.flux, self.ivar, self.mask = flux, ivar, mask
        self.has_wavelength = wave is not None
        self.wave = np.arange(flux.shape[1], dtype=np.float64) if wave is None else wave
        self._grid = None
        if wave is None:  # pixel index: a linear grid from 0 in steps of 1
            from ..utils.grid import LINEAR

            self._grid = (LINEAR, 0.0, 1.0)
        elif (self.wave.ndim == 1 and self.wave.size > 2 and np.all(np.diff(self.wave) > 0)
              and self.wave[0] > 0):
            from ..utils.grid import describe_grid

            self._grid = describe_grid(self.wave)

    def batch(self, indices: Sequence[int] | np.ndarray) -> SpectrumBatch:
        idx = self._check(indices)
        b, width = idx.size, self.flux.shape[1]
        shared = self.wave.ndim == 1
        wave = np.array(np.broadcast_to(self.wave, (b, width)) if shared else self.wave[idx],
                        dtype=np.float64)
        if shared:
            length = np.full(b, width, np.int64)
        else:  # per-row grids may end early (NaN)
            finite = np.isfinite(wave)
            length = np.where(
                finite.any(axis=1), width - np.argmax(finite[:, ::-1], axis=1), 0
            ).astype(np.int64)
        mask = np.zeros((b, width), bool) if self.mask is None else self.mask[idx].copy()
        ivar = (np.ones((b, width), np.float32) if self.ivar is None
                else self.ivar[idx].astype(np.float32))
        out = SpectrumBatch._clean(
            idx, length, wave, self.flux[idx].astype(np.float32), ivar, mask,
            has_wavelength=self.has_wavelength,
        )
        if self._grid is not None:
            kind, start, step = self._grid
            out.grid_kind = np.full(b, kind, np.uint8)
            out.grid_start = np.full(b, start)
            out.grid_step = np.full(b, step)
        else:
            out.describe_grids()
        return out


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
    X : SpectraDataset, SpectrumSource, Spectrum(s), SpectrumBatch, dict, ndarray or list
        A :class:`~spectromer.datasets.SpectraDataset` or any other
        :class:`SpectrumCollection` (rows ``indices``, default all); a
        :class:`~spectromer.spectra.SpectrumBatch`; ``specutils.Spectrum``
        objects (1-D each; any lengths and grids); a dict with ``wave`` and ``flux``
        arrays (and optionally ``ivar``, ``mask``); a flux array ``(N, L)`` (or ``(L,)``)
        with ``wavelength``; or a list of collections, joined into one
        (:class:`ConcatSource`).
    wavelength : array or Quantity, optional
        Wavelength grid of a flux array, ``(L,)`` shared or ``(N, L)``; Angstrom unless a
        Quantity. Without it the columns are taken as pixels in order (the source's
        ``has_wavelength`` is False), which only index-based renderings
        (``grid="index"`` or ``"stretch"``) can use.
    indices : array of int, optional
        Rows of a collection.
    ivar, mask : ndarray, optional
        Inverse variance and bad-pixel mask (True = bad) of a flux array.

    Returns
    -------
    SpectrumSource

    Raises
    ------
    TypeError, ValueError
        For an input that is not spectra, naming the argument and what is wrong.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.spectra import as_source
    >>> src = as_source(np.ones((4, 100)), wavelength=np.linspace(4000, 8000, 100))
    >>> src.batch([1, 3]).wave.shape
    (2, 100)
    """
    from specutils import Spectrum

    if isinstance(X, SpectrumSource) and indices is None:
        return X
    if isinstance(X, (SpectrumSource, SpectrumCollection)) and not isinstance(X, np.ndarray):
        n = len(X)
        rows = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
        if rows.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {rows.shape}")
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            name = getattr(getattr(X, "path", None), "name", None) or type(X).__name__
            raise IndexError(f"indices out of range for {name} ({n} spectra)")
        return SubsetSource(X, rows)
    if indices is not None:
        raise TypeError("indices= selects rows of a SpectraDataset; index the input instead")
    if isinstance(X, Spectrum):
        X = [X]
    if isinstance(X, SpectrumBatch):
        return _BatchSource(X)
    if _is_sparse(X):
        raise TypeError(
            f"X: a sparse matrix ({type(X).__name__}) is not supported: spectra need dense "
            "flux arrays (use X.toarray())"
        )
    if isinstance(X, dict):
        if "flux" not in X or "wave" not in X:
            raise ValueError("a dict of spectra needs 'wave' and 'flux' arrays")
        return as_source(
            np.asarray(X["flux"]), wavelength=np.asarray(X["wave"]), ivar=X.get("ivar"),
            mask=X.get("mask"),
        )
    if (isinstance(X, np.ndarray) or (hasattr(X, "unit") and hasattr(X, "value"))
            or hasattr(X, "__array__")):
        return _array_source(X, wavelength, ivar, mask)
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"X is a string ({X!r}); read files first with spectromer.io.read_spectra or "
            "spectromer.datasets.SpectraDataset"
        )
    try:
        items = list(X)
    except TypeError:
        raise TypeError(
            "X must be a SpectraDataset, a sequence of specutils Spectrum objects, a dict of "
            f"arrays or a flux array with wavelength=...; got {type(X).__name__}"
        ) from None
    if items and all(isinstance(x, (SpectrumSource, SpectrumCollection)) for x in items):
        return ConcatSource([as_source(x) for x in items])
    if items and all(_is_number_row(x) for x in items):  # nested lists of numbers
        return _array_source(np.asarray(items), wavelength, ivar, mask)
    for i, spec in enumerate(items):
        if not isinstance(spec, Spectrum):
            if isinstance(spec, (SpectrumSource, SpectrumCollection)):
                raise TypeError(
                    f"X[{i}] is a spectrum collection but other items are not: a list is "
                    "either Spectrum objects or collections to join"
                )
            raise TypeError(
                f"X[{i}] is a {type(spec).__name__}, not a specutils Spectrum; a flux array "
                "must be passed whole, as a 2-D ndarray with wavelength=..."
            )
    return _SpectrumListSource(items)


def _array_source(X: Any, wavelength: Any, ivar: Any, mask: Any) -> SpectrumSource:
    import astropy.units as u

    if isinstance(wavelength, u.Quantity):
        wavelength = wavelength.to_value(u.AA, equivalencies=u.spectral())
    raw = np.asarray(getattr(X, "value", X))
    if raw.dtype.kind == "c":
        raise ValueError("X: Complex data not supported; spectra have real (float) flux")
    if raw.dtype.kind == "O":
        try:
            raw = raw.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"X: a flux array must hold numbers ({err})") from None
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"X: a flux array must hold numbers, got dtype {raw.dtype}")
    flux = raw.astype(np.float32)
    if flux.ndim == 1:
        flux = flux[None]
    if flux.ndim != 2:
        raise ValueError(f"X: a flux array must be 1-D or 2-D (N, L), got shape {flux.shape}")
    if flux.shape[0] == 0 or flux.shape[1] == 0:
        raise ValueError(
            f"X: a flux array of shape {flux.shape} holds no pixels; need at least one "
            "spectrum of at least one pixel"
        )
    wave = None
    if wavelength is not None:
        wave = np.asarray(wavelength, dtype=np.float64)
        if wave.shape not in ((flux.shape[1],), flux.shape):
            raise ValueError(
                f"wavelength has shape {wave.shape}; expected ({flux.shape[1]},) or "
                f"{flux.shape} to match the flux array"
            )
    extra = []
    for name, arr in (("ivar", ivar), ("mask", mask)):
        if arr is not None:
            arr = np.asarray(arr)
            if arr.shape != flux.shape:
                if arr.shape == raw.shape:
                    arr = arr.reshape(flux.shape)
                else:
                    raise ValueError(f"{name} has shape {arr.shape}; expected {flux.shape}")
        extra.append(arr)
    iv, mk = extra
    return _ArraySource(flux, wave, iv, None if mk is None else mk.astype(bool))


def _is_sparse(X: Any) -> bool:
    try:
        import scipy.sparse
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return scipy.sparse.issparse(X)


def _is_number_row(x: Any) -> bool:
    """A number, or a list/tuple of numbers (a row of a nested-list flux array)."""
    if isinstance(x, (int, float, np.number)):
        return True
    return isinstance(x, (list, tuple)) and all(
        isinstance(v, (int, float, np.number)) for v in x
    )
