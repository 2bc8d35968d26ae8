"""Reader for DESI coadd files (``coadd-*.fits``).

Format ``DESI merged`` (:data:`DESI_MERGED`): spectromer's merged
per-object view of a DESI coadd (or spectra) file, identified by content (HDUs
``FIBERMAP``, ``B_FLUX``, ``R_FLUX`` and ``Z_FLUX``).  ``Spectrum.read``
identifies it (specutils has no `~specutils.Spectrum` reader for these files);
``SpectrumList.read`` keeps specutils' own ``DESI coadd``/``DESI spectra``
loaders (one spectrum per arm), and gives the merged per-object list only with
``format="DESI merged"``, as :func:`spectromer.io.read_spectra` does.

The spectrograph arms (every ``<ARM>_FLUX`` with its ``<ARM>_WAVELENGTH``,
``<ARM>_IVAR`` and optional ``<ARM>_MASK``) are merged onto one wavelength
grid (:func:`merge_arms`): DESI arms share a 0.8 Angstrom linear grid, so the
merged grid is the union of the arm wavelengths (values within
:data:`WAVELENGTH_TOLERANCE` are the same pixel), and where arms overlap the
flux is the inverse-variance weighted mean with ``ivar`` the sum.  Masked
pixels (``MASK != 0``, ``ivar <= 0`` or non-finite flux) get zero weight; a
pixel masked in every arm stays masked.

Labels: every key of :data:`~spectromer.io._labels.DESI_LABELS`, from the
``FIBERMAP`` row of each target and, if a sibling ``redrock-<same
suffix>.fits`` exists next to the coadd file (or is given with ``redrock=``),
its ``REDSHIFTS`` row matched by TARGETID (without one, the redshift and
class keys are ``nan``/``""``).

One target gives a 1-D spectrum with the labels at the top level of ``meta``;
several give a 2-D flux ``(n_target, n_pixel)`` with one row of labels per
target in ``meta["targets"]`` (an `~astropy.table.Table`), which
:func:`spectromer.io.read_spectra` and ``SpectrumList.read(...,
format="DESI merged")`` split into 1-D spectra.  Flux unit ``1e-17 erg / (s cm2
Angstrom)``, vacuum wavelength in Angstrom.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from specutils import Spectrum

from ._build import check_spectrum_arrays, make_spectrum
from ._errors import SpectrumReadError
from ._fits import as_native, table_columns
from ._labels import DESI_LABELS, clean_int
from ._opening import file_label, open_hdulist
from ._registry import register_format
from .sdss import SDSS_FLUX_UNIT

__all__ = [
    "DESI_MERGED",
    "DESI_COADD",
    "DESI_FLUX_UNIT",
    "WAVELENGTH_TOLERANCE",
    "identify_desi_coadd",
    "merge_arms",
    "read_desi_coadd",
    "redrock_path",
]

#: Format label of spectromer's merged per-object view of DESI coadd (and spectra) files.
DESI_MERGED = "DESI merged"
#: The same label, under the name spectromer has always exported.
DESI_COADD = DESI_MERGED
#: Flux unit of DESI spectra.
DESI_FLUX_UNIT = SDSS_FLUX_UNIT
#: Arm wavelengths closer than this (Angstrom) are the same merged pixel.
WAVELENGTH_TOLERANCE = 1e-3

_ARMS = ("B", "R", "Z")
#: Labels that come from the primary header: file-level, the same for every target.
_FILE_KEYS = tuple(
    label.key
    for label in DESI_LABELS.labels
    if all(place.startswith("PRIMARY.") for place in label.sources)
)
#: Labels that differ between targets (the columns of ``meta["targets"]``).
_TARGET_KEYS = tuple(label.key for label in DESI_LABELS.labels if label.key not in _FILE_KEYS)


def _hdu_names(hdulist: fits.HDUList) -> list[str]:
    return [hdu.name for hdu in hdulist]


def identify_desi_coadd(hdulist: fits.HDUList) -> bool:
    """Whether ``hdulist`` is a DESI coadd (or spectra) file.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.

    Returns
    -------
    bool
        True if it has HDUs ``FIBERMAP``, ``B_FLUX``, ``R_FLUX`` and ``Z_FLUX``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> import spectromer
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> with fits.open(data / "coadd-4-80613-thru20210324.fits") as hdul:
    ...     identify_desi_coadd(hdul)
    True
    """
    if int(hdulist[0].header.get("NAXIS", 0)) != 0:
        return False
    names = set(_hdu_names(hdulist))
    return "FIBERMAP" in names and all(f"{arm}_FLUX" in names for arm in _ARMS)


def merge_arms(
    wavelengths: list[np.ndarray],
    fluxes: list[np.ndarray],
    ivars: list[np.ndarray],
    masks: list[np.ndarray | None],
    tolerance: float = WAVELENGTH_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge spectrograph arms onto the union of their wavelength grids.

    Parameters
    ----------
    wavelengths : list of ndarray
        Each arm's strictly increasing wavelengths, shape ``(n_pix_arm,)``.
    fluxes, ivars : list of ndarray
        Each arm's flux and inverse variance, shape ``(n_target, n_pix_arm)``.
    masks : list of ndarray or None
        Each arm's bit mask (non-zero = bad), or `None`.
    tolerance : float
        Wavelengths closer than this are merged into one pixel.

    Returns
    -------
    wavelength : ndarray, shape (n_pix,)
        Strictly increasing union grid (mean of the merged arm wavelengths).
    flux : ndarray, shape (n_target, n_pix)
        Inverse-variance weighted mean over the arms with usable data; where
        no arm is usable, the plain mean of the finite arm values (NaN if
        none), flagged in ``mask``.
    ivar : ndarray, shape (n_target, n_pix)
        Sum of the usable arms' inverse variances (0 where none).
    mask : ndarray of bool, shape (n_target, n_pix)
        True where no arm has a usable value.

    Examples
    --------
    >>> import numpy as np
    >>> w, f, iv, m = merge_arms(
    ...     [np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0])],
    ...     [np.array([[1.0, 1.0, 2.0]]), np.array([[4.0, 5.0]])],
    ...     [np.array([[1.0, 1.0, 1.0]]), np.array([[3.0, 1.0]])],
    ...     [None, None])
    >>> w
    array([1., 2., 3., 4.])
    >>> f
    array([[1. , 1. , 3.5, 5. ]])
    >>> iv, m
    (array([[1., 1., 4., 1.]]), array([[False, False, False, False]]))
    """
    lengths = [len(w) for w in wavelengths]
    all_w = np.concatenate(wavelengths)
    order = np.argsort(all_w, kind="stable")
    sorted_w = all_w[order]
    starts = np.r_[True, np.diff(sorted_w) > tolerance]
    group_of_sorted = np.cumsum(starts) - 1
    n_pix = int(group_of_sorted[-1]) + 1
    group = np.empty_like(group_of_sorted)
    group[order] = group_of_sorted
    counts = np.bincount(group, minlength=n_pix)
    grid = np.bincount(group, weights=all_w, minlength=n_pix) / counts

    n_target = fluxes[0].shape[0]
    num = np.zeros((n_target, n_pix))
    den = np.zeros((n_target, n_pix))
    raw_sum = np.zeros((n_target, n_pix))
    raw_cnt = np.zeros((n_target, n_pix))
    offsets = np.r_[0, np.cumsum(lengths)]
    for k, (flux, ivar, bits) in enumerate(zip(fluxes, ivars, masks)):
        idx = group[offsets[k] : offsets[k + 1]]
        finite = np.isfinite(flux)
        good = finite & np.isfinite(ivar) & (ivar > 0)
        if bits is not None:
            good &= bits == 0
        weight = np.where(good, ivar, 0.0)
        contrib = np.where(good, weight * np.where(finite, flux, 0.0), 0.0)
        finite_flux = np.where(finite, flux, 0.0)
        if np.unique(idx).size == idx.size:
            num[:, idx] += contrib
            den[:, idx] += weight
            raw_sum[:, idx] += finite_flux
            raw_cnt[:, idx] += finite
        else:  # an arm's own pixels closer than the tolerance: accumulate
            for target in range(n_target):
                np.add.at(num[target], idx, contrib[target])
                np.add.at(den[target], idx, weight[target])
                np.add.at(raw_sum[target], idx, finite_flux[target])
                np.add.at(raw_cnt[target], idx, finite[target])
    usable = den > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        fallback = np.where(raw_cnt > 0, raw_sum / raw_cnt, np.nan)
        flux_out = np.where(usable, num / np.where(usable, den, 1.0), fallback)
    return grid, flux_out, den, ~usable


def redrock_path(coadd_path: str) -> str | None:
    """The ``redrock-<suffix>`` file next to ``coadd-<suffix>``, if it exists.

    ``.fits`` and ``.fits.gz`` variants are both tried.

    Parameters
    ----------
    coadd_path : str
        Path of the coadd file.

    Returns
    -------
    str or None

    Examples
    --------
    >>> from pathlib import Path
    >>> import spectromer
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> Path(redrock_path(str(data / "coadd-4-80613-thru20210324.fits"))).name
    'redrock-4-80613-thru20210324.fits'
    """
    directory, name = os.path.split(coadd_path)
    if not name.startswith("coadd-"):
        return None
    stem = "redrock-" + name[len("coadd-") :]
    base = stem[:-3] if stem.endswith(".gz") else stem
    for candidate in (stem, base, base + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _read_redrock(path: str) -> dict[int, dict[str, Any]]:
    """Raw REDSHIFTS columns the label table reads, per TARGETID, from a redrock file."""
    with open_hdulist(path) as (hdulist, name):
        hdu = None
        for candidate in hdulist:
            if candidate.name == "REDSHIFTS":
                hdu = candidate
                break
        if hdu is None:
            raise SpectrumReadError(name, "no REDSHIFTS HDU in the redrock file")
        get = table_columns(hdu, ("TARGETID", *DESI_LABELS.columns("REDSHIFTS")))
        if "TARGETID" not in get:
            raise SpectrumReadError(name, "REDSHIFTS table lacks a TARGETID column")
    return {
        int(targetid): {column: values[i] for column, values in get.items()}
        for i, targetid in enumerate(get["TARGETID"])
    }


def _target_labels(
    hdulist: fits.HDUList, source: str, n_target: int, redrock: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every label of `DESI_LABELS` for each target, FIBERMAP row by row."""
    columns = table_columns(hdulist["FIBERMAP"], DESI_LABELS.columns("FIBERMAP"))
    if "TARGETID" not in columns:
        raise SpectrumReadError(source, "FIBERMAP lacks a TARGETID column")
    if len(columns["TARGETID"]) != n_target:
        raise SpectrumReadError(
            source,
            f"length mismatch: FIBERMAP has {len(columns['TARGETID'])} rows, "
            f"flux {n_target} targets",
        )
    header = hdulist[0].header
    name = file_label(source)
    rows = []
    for i in range(n_target):
        fibermap = {column: values[i] for column, values in columns.items()}
        targetid = clean_int(fibermap["TARGETID"])
        records = {
            "FIBERMAP": fibermap,
            "REDSHIFTS": redrock.get(targetid, {}) if targetid is not None else {},
            "PRIMARY": header,
        }
        rows.append(DESI_LABELS.extract(records, name))
    return rows


def _targets_table(rows: list[dict[str, Any]]) -> Table:
    """Per-target labels as a Table, one column per target key (missing: ``""``/NaN)."""
    return Table(rows=[[row[key] for key in _TARGET_KEYS] for row in rows], names=_TARGET_KEYS)


def read_desi_coadd(
    hdulist: fits.HDUList, source: str, redrock: str | os.PathLike | bool | None = None
) -> Spectrum:
    """Read a DESI coadd file from an open file, merging the arms.

    Parameters
    ----------
    hdulist : astropy.io.fits.HDUList
        The open file.
    source : str
        Path of the file (used for ``meta["source"]``, error messages and to
        find the sibling redrock file).
    redrock : str, os.PathLike, bool or None
        Redrock file to take redshifts and classes from; `None` (default) or
        `True` looks for ``redrock-<suffix>`` next to the coadd, `False`
        reads no labels beyond FIBERMAP.

    Returns
    -------
    specutils.Spectrum
        1-D for one target; 2-D ``(n_target, n_pixel)`` with
        ``meta["targets"]`` for several.

    Raises
    ------
    SpectrumReadError
        Missing HDUs or columns, inconsistent shapes, invalid arrays, or an
        unreadable redrock file (named in the message).

    Examples
    --------
    >>> from pathlib import Path
    >>> import spectromer
    >>> from specutils import Spectrum
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> spec = Spectrum.read(data / "coadd-4-80613-thru20210324.fits")
    >>> spec.meta["class"], round(spec.meta["z"], 4), spec.meta["redrock_file"]
    ('GALAXY', 0.3687, 'redrock-4-80613-thru20210324.fits')
    >>> spec.spectral_axis.min(), spec.spectral_axis.max()
    (<SpectralAxis 3600. Angstrom>, <SpectralAxis 9824. Angstrom>)
    """
    names = _hdu_names(hdulist)
    arms = [n[: -len("_FLUX")] for n in names if n.endswith("_FLUX")]
    arms = [a for a in arms if f"{a}_WAVELENGTH" in names and f"{a}_IVAR" in names]
    if not arms:
        raise SpectrumReadError(source, "no <ARM>_FLUX/_WAVELENGTH/_IVAR HDUs")
    if "FIBERMAP" not in names:
        raise SpectrumReadError(source, "no FIBERMAP HDU")

    wavelengths, fluxes, ivars, masks = [], [], [], []
    for arm in arms:
        wavelength = as_native(hdulist[f"{arm}_WAVELENGTH"].data)
        flux = np.atleast_2d(as_native(hdulist[f"{arm}_FLUX"].data))
        ivar = np.atleast_2d(as_native(hdulist[f"{arm}_IVAR"].data))
        bits = None
        if f"{arm}_MASK" in names:
            bits = np.atleast_2d(as_native(hdulist[f"{arm}_MASK"].data, np.int64))
        check_spectrum_arrays(
            f"{source} [{arm} arm]", wavelength, flux, ivar, mask=bits, require_data=False
        )
        if fluxes and flux.shape[0] != fluxes[0].shape[0]:
            raise SpectrumReadError(
                source,
                f"length mismatch: {arm} arm has {flux.shape[0]} targets, "
                f"{arms[0]} arm {fluxes[0].shape[0]}",
            )
        wavelengths.append(wavelength)
        fluxes.append(flux)
        ivars.append(ivar)
        masks.append(bits)
    starts = np.argsort([w[0] for w in wavelengths], kind="stable")
    wavelength, flux, ivar, mask = merge_arms(
        [wavelengths[i] for i in starts],
        [fluxes[i] for i in starts],
        [ivars[i] for i in starts],
        [masks[i] for i in starts],
    )
    check_spectrum_arrays(source, wavelength, flux, ivar)

    redrock_file: str | None
    if redrock is None or redrock is True:
        redrock_file = redrock_path(source)
    elif redrock is False:
        redrock_file = None
    else:
        redrock_file = os.fspath(redrock)
    labels = _read_redrock(redrock_file) if redrock_file else {}

    rows = _target_labels(hdulist, source, flux.shape[0], labels)
    single = flux.shape[0] == 1
    shared = rows[0] if single else {k: v for k, v in rows[0].items() if k not in _TARGET_KEYS}
    meta: dict[str, Any] = {**shared, "header": hdulist[0].header}
    if redrock_file:
        meta["redrock_file"] = file_label(redrock_file)
    if single:
        return make_spectrum(wavelength, flux[0], ivar[0], mask[0], DESI_FLUX_UNIT, meta)
    meta["targets"] = _targets_table(rows)
    return make_spectrum(wavelength, flux, ivar, mask, DESI_FLUX_UNIT, meta)


register_format(
    DESI_MERGED,
    identify_desi_coadd,
    read_desi_coadd,
    description="DESI coadd file (b/r/z arms merged, redrock labels)",
    options=("redrock",),
    list_identify=False,
)
