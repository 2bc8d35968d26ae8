"""The one batch type: padded spectra as plain numpy arrays.

Every layer above this one (renderers, augmentations, baselines, learners) receives
spectra as a :class:`SpectrumBatch`, whatever they were read from. The invariants hold
for every batch, so no consumer re-derives them:

* ``wave`` is float64 Angstrom (vacuum), NaN in the padding;
* ``flux`` and ``ivar`` are float32; ``flux`` is 0 in the padding and where it was not
  finite, ``ivar`` is 0 in the padding and wherever a pixel is bad;
* ``mask`` is True where a pixel is bad: flagged, non-finite flux, ``ivar <= 0``,
  or padding;
* ``z`` is NaN where the redshift is unknown; ``names`` label rows in messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from ..utils.grid import EXPLICIT, GRID_TOLERANCE, LINEAR, LOGLINEAR

__all__ = ["SpectrumBatch", "pad_arrays"]

#: The array fields a batch has one row of per spectrum, in the order of the dataclass.
_ROW_FIELDS = ("index", "length", "wave", "flux", "ivar", "mask", "z")
_GRID_FIELDS = ("grid_kind", "grid_start", "grid_step")


@dataclasses.dataclass(eq=False)
class SpectrumBatch:
    """``N`` spectra padded to a common length ``L``.

    Build one with :meth:`from_rows` (per-spectrum arrays of any lengths) or get one
    from a source (:meth:`SpectrumSource.batch
    <spectromer.spectra.SpectrumSource.batch>`, :meth:`SpectraDataset.batch
    <spectromer.datasets.SpectraDataset.batch>`). Fields are plain arrays; derived
    ones (:attr:`good`) are computed once.

    Attributes
    ----------
    index : ndarray of int64, (N,)
        Row of each spectrum in the source it came from.
    length : ndarray of int64, (N,)
        Number of real (unpadded) pixels of each spectrum.
    wave : ndarray of float64, (N, L)
        Vacuum wavelength in Angstrom (pixel index where :attr:`has_wavelength` is
        False); NaN in the padding.
    flux, ivar : ndarray of float32, (N, L)
        Flux (0 in the padding and where not finite) and inverse variance (0 in the
        padding and at bad pixels).
    mask : ndarray of bool, (N, L)
        True where a pixel is bad or padding.
    z : ndarray of float64, (N,)
        Redshift, NaN where unknown.
    names : list of str
        How to name each spectrum in a message (``"spectrum 3 (spec-...fits)"``).
    grid_kind, grid_start, grid_step : ndarray, optional
        Each row's wavelength grid as parameters (see :mod:`spectromer.utils.grid`),
        which lets resampling place pixels by arithmetic; None until known.
    has_wavelength : bool
        False for flux arrays given without a wavelength grid: ``wave`` then holds the
        pixel index, usable only by index-based image grids.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.spectra import SpectrumBatch
    >>> b = SpectrumBatch.from_rows([
    ...     {"wave": [4000.0, 4001.0, 4002.0], "flux": [1.0, np.nan, 3.0]},
    ...     {"wave": [5000.0, 5001.0], "flux": [2.0, 2.0]}])
    >>> b.flux.shape, b.length.tolist()
    ((2, 3), [3, 2])
    >>> b.mask.tolist()  # the NaN pixel and the padding are bad
    [[False, True, False], [False, False, True]]
    >>> len(b.take([1])), b.take([1]).index.tolist()
    (1, [1])
    """

    index: np.ndarray
    length: np.ndarray
    wave: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    z: np.ndarray
    names: list[str]
    grid_kind: np.ndarray | None = None
    grid_start: np.ndarray | None = None
    grid_step: np.ndarray | None = None
    has_wavelength: bool = True

    # -- construction ------------------------------------------------------------
    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Mapping[str, Any]],
        index: Sequence[int] | np.ndarray | None = None,
        *,
        z: Sequence[float] | np.ndarray | None = None,
        names: Sequence[str] | None = None,
        has_wavelength: bool = True,
    ) -> SpectrumBatch:
        """Pad per-spectrum arrays into one batch.

        Parameters
        ----------
        rows : sequence of mappings
            Each with ``wave`` and ``flux`` and optionally ``ivar`` (default 1) and
            ``mask`` (True = bad; default none), all of one spectrum's length.
        index : array of int, optional
            Row numbers to record (default ``0..N-1``).
        z : array of float, optional
            Redshifts (default unknown, NaN).
        names : sequence of str, optional
            Row names for messages (default ``"spectrum <index>"``).
        has_wavelength : bool
            False if ``wave`` holds pixel indices rather than wavelengths.

        Returns
        -------
        SpectrumBatch
            With the invariants of the module applied (non-finite flux and
            ``ivar <= 0`` are bad pixels) and each row's grid recognised.
        """
        n = len(rows)
        idx = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, np.int64)
        lengths = np.array([np.size(r["flux"]) for r in rows], dtype=np.int64)
        width = int(lengths.max()) if n else 0
        wave = np.full((n, width), np.nan)
        flux = np.zeros((n, width), np.float32)
        ivar = np.zeros((n, width), np.float32)
        mask = np.ones((n, width), bool)
        for i, r in enumerate(rows):
            k = lengths[i]
            wave[i, :k] = r["wave"]
            flux[i, :k] = r["flux"]
            iv = r.get("ivar")
            ivar[i, :k] = 1.0 if iv is None else iv
            m = r.get("mask")
            mask[i, :k] = False if m is None else m
        batch = cls._clean(idx, lengths, wave, flux, ivar, mask, z, names, has_wavelength)
        batch.describe_grids()
        return batch

    @classmethod
    def _clean(
        cls,
        index: np.ndarray,
        length: np.ndarray,
        wave: np.ndarray,
        flux: np.ndarray,
        ivar: np.ndarray,
        mask: np.ndarray,
        z: Any = None,
        names: Sequence[str] | None = None,
        has_wavelength: bool = True,
        **grid: Any,
    ) -> SpectrumBatch:
        """A batch from padded arrays, applying the invariants (used by the sources)."""
        n = flux.shape[0]
        finite = np.isfinite(flux)
        bad = mask | ~finite | ~(ivar > 0)
        if not finite.all():
            flux = np.where(finite, flux, 0).astype(np.float32)
        if bad.any():
            ivar = np.where(bad, 0, ivar).astype(np.float32)
        zz = np.full(n, np.nan) if z is None else np.asarray(z, np.float64).reshape(n)
        if names is None:
            names = [f"spectrum {int(i)}" for i in index]
        return cls(index, length, wave, flux, ivar, bad, zz, list(names),
                   has_wavelength=has_wavelength, **grid)

    # -- derived -----------------------------------------------------------------
    @cached_property
    def good(self) -> np.ndarray:
        """(N, L) bool: pixels that hold a measurement (not masked, finite wavelength)."""
        return ~self.mask & np.isfinite(self.wave)

    def __len__(self) -> int:
        return int(self.flux.shape[0])

    def __repr__(self) -> str:
        return f"<SpectrumBatch: {len(self)} spectra, {self.flux.shape[1]} pixels>"

    # -- selection -----------------------------------------------------------------
    def take(self, positions: Sequence[int] | np.ndarray | slice) -> SpectrumBatch:
        """The rows at ``positions`` (within this batch) as a new batch.

        Examples
        --------
        >>> import numpy as np
        >>> from spectromer.spectra import as_source
        >>> b = as_source(np.ones((4, 5)), wavelength=np.arange(5.0) + 4000).batch(range(4))
        >>> b.take(slice(1, 3)).index.tolist()
        [1, 2]
        """
        sel = positions if isinstance(positions, slice) else np.asarray(positions, np.int64)
        names = self.names[sel] if isinstance(sel, slice) else [self.names[i] for i in sel]
        fields = {f: getattr(self, f)[sel] for f in _ROW_FIELDS}
        grid = {f: (None if getattr(self, f) is None else getattr(self, f)[sel])
                for f in _GRID_FIELDS}
        return SpectrumBatch(**fields, names=names, has_wavelength=self.has_wavelength, **grid)

    def rows(self, start: int, stop: int) -> SpectrumBatch:
        """Rows ``start:stop`` (views of the arrays)."""
        return self.take(slice(start, stop))

    def replace(self, **changes: Any) -> SpectrumBatch:
        """A copy with some fields replaced (``dataclasses.replace``); derived values
        are recomputed.

        Examples
        --------
        >>> import numpy as np
        >>> from spectromer.spectra import as_source
        >>> b = as_source(np.ones((2, 5)), wavelength=np.arange(5.0) + 4000).batch([0, 1])
        >>> b.replace(z=np.array([0.1, 0.2])).z.tolist()
        [0.1, 0.2]
        """
        return dataclasses.replace(self, **changes)

    def spectrum_arrays(self, i: int) -> dict[str, np.ndarray]:
        """Row ``i`` without its padding: ``wave``, ``flux``, ``ivar``, ``mask``."""
        n = int(self.length[i])
        return {k: getattr(self, k)[i, :n] for k in ("wave", "flux", "ivar", "mask")}

    # -- mapping view ------------------------------------------------------------
    def keys(self) -> list[str]:
        """Field names, so that ``batch["flux"]`` and ``dict(batch)`` keep working in
        scripts written when batches were dicts."""
        out = list(_ROW_FIELDS)
        if self.grid_kind is not None:
            out += list(_GRID_FIELDS)
        return out

    def __getitem__(self, key: str) -> np.ndarray:
        if not isinstance(key, str) or key not in self.keys():
            raise KeyError(f"{key!r}: a SpectrumBatch has the fields {', '.join(self.keys())}")
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    # -- grids -------------------------------------------------------------------
    def describe_grids(self) -> None:
        """Recognise each row's log-linear or linear wavelength grid, all rows at once.

        Sets ``grid_kind/start/step`` so that resampling can use arithmetic; rows that
        are neither stay explicit. Same tolerance as
        :func:`~spectromer.utils.grid.describe_grid` (every wavelength within 1% of a
        pixel of the parametric grid); rows with the very same wavelengths as another
        row are described once.
        """
        n, width = self.wave.shape
        kind = np.full(n, EXPLICIT, np.uint8)
        start = np.full(n, np.nan)
        step = np.full(n, np.nan)
        length = self.length
        ok = length >= 3
        if ok.any() and width >= 3:
            rep = _same_rows(self.wave, length)
            rows = np.flatnonzero(ok & (rep == np.arange(n)))
            w = self.wave[rows]
            last = (length[rows] - 1)[:, None]
            idx = np.arange(width, dtype=np.float64)[None, :]
            valid = idx <= last
            w0 = w[:, :1]
            wl = np.take_along_axis(w, last, axis=1)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                pix = np.nanmin(np.where(valid[:, 1:], np.diff(w, axis=1), np.inf), axis=1)
                tol = GRID_TOLERANCE * pix
                for k, fwd, inv in (
                    (LOGLINEAR, np.log10, lambda v: 10.0**v),
                    (LINEAR, lambda v: v, lambda v: v),
                ):
                    a, b = fwd(w0), fwd(wl)
                    st = (b - a) / last
                    model = inv(a + st * idx)
                    dev = np.where(valid, np.abs(model - w), 0.0).max(axis=1)
                    hit = np.isfinite(dev) & (dev <= tol) & (kind[rows] == EXPLICIT)
                    kind[rows[hit]] = k
                    start[rows[hit]] = a[hit, 0]
                    step[rows[hit]] = st[hit, 0]
            kind, start, step = kind[rep], start[rep], step[rep]
        self.grid_kind, self.grid_start, self.grid_step = kind, start, step


def _same_rows(wave: np.ndarray, length: np.ndarray, tries: int = 8) -> np.ndarray:
    """For each row, the index of an earlier-or-equal row with the very same grid.

    Survey spectra of one batch mostly share a handful of wavelength grids, so a few
    comparisons against a representative row (one pass over the batch each) replace
    describing every row. Rows left after ``tries`` groups are their own representative.
    """
    n = wave.shape[0]
    rep = np.arange(n)
    todo = np.arange(n)
    for _ in range(tries):
        if todo.size < 2:
            break
        r = int(todo[0])
        k = int(length[r])
        block = wave[:, :k] if todo.size == n else wave[todo, :k]
        same = (block == wave[r, :k]).all(axis=1) & (length[todo] == k)
        rep[todo[same]] = r
        todo = todo[~same]
    return rep


def pad_arrays(
    rows: Sequence[Mapping[str, Any]], index: Sequence[int] | np.ndarray
) -> SpectrumBatch:
    """Pad per-spectrum arrays (``wave``, ``flux``, ``ivar``, ``mask``) into one batch.

    The same as :meth:`SpectrumBatch.from_rows`. Padded pixels have ``mask=True``,
    ``ivar=0``, ``flux=0`` and ``wave=NaN``.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.spectra import pad_arrays
    >>> rows = [{"wave": np.arange(3.0) + 4000, "flux": np.ones(3)},
    ...         {"wave": np.arange(2.0) + 4000, "flux": np.ones(2)}]
    >>> b = pad_arrays(rows, np.array([0, 1]))
    >>> b.flux.shape, b.mask[1].tolist()
    ((2, 3), [False, False, True])
    """
    return SpectrumBatch.from_rows(rows, index)
