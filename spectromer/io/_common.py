"""Helpers shared by the survey readers: opening, validation, registration.

Each survey module (:mod:`~spectromer.io.lamost`, :mod:`~spectromer.io.sdss`,
:mod:`~spectromer.io.desi`) provides two plain functions per format,
``identify(hdulist) -> bool`` and ``read(hdulist, source, **options) ->
Spectrum``, and hands them to :func:`register_format`, which registers them
with specutils' I/O registry (for `~specutils.Spectrum`,
`~specutils.SpectrumList` and the deprecated ``Spectrum1D``) and records them
in :data:`FORMATS` so that :func:`spectromer.io.read_spectra` can identify a
file with one open.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.io import registry as io_registry
from astropy.nddata import InverseVariance
from specutils import Spectrum, SpectrumList
from specutils.io.registers import data_loader

from ._errors import SpectrumReadError, reading

__all__ = [
    "PRIORITY",
    "WAVELENGTH_UNIT",
    "FORMATS",
    "FormatSpec",
    "open_hdulist",
    "check_spectrum_arrays",
    "make_spectrum",
    "split_spectrum",
    "register_format",
    "column_names",
    "table_columns",
    "source_name",
    "file_label",
    "hdu_or_none",
    "first_hdu_named",
    "pixel_mask",
    "as_native",
    "header_mapping",
]

#: Priority of spectromer's loaders in the astropy/specutils I/O registry.
#: specutils' own loaders use at most 10 (``SDSS-III/IV spec``, ``DESI coadd``),
#: ``tabular-fits`` 6 and ``wcs1d-fits`` 5; when several identify the same file
#: the highest priority wins, so ours are chosen.
PRIORITY = 20

#: Angstrom, the unit of every spectral axis returned.
WAVELENGTH_UNIT = u.AA

_GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = b"BZh"
_FITS_MAGIC = b"SIMPLE  ="
_SNIFF_BYTES = 2880  # one FITS block


# ---------------------------------------------------------------------------
# Opening files


def source_name(file_obj: Any) -> str:
    """Best name for ``file_obj`` in error messages and ``meta["source"]``.

    Parameters
    ----------
    file_obj : str, os.PathLike, file-like or HDUList
        What a loader was given.

    Returns
    -------
    str
        The path for paths, the ``name`` attribute for file objects, the file
        name for an `~astropy.io.fits.HDUList` opened from a file, else a
        placeholder such as ``'<HDUList>'``.

    Examples
    --------
    >>> source_name("data/spec-1.fits")
    'data/spec-1.fits'
    >>> import io
    >>> source_name(io.BytesIO(b""))
    '<BytesIO>'
    """
    if isinstance(file_obj, str | os.PathLike):
        return os.fspath(file_obj)
    if isinstance(file_obj, fits.HDUList):
        name = file_obj.filename()
        return str(name) if name else "<HDUList>"
    name = getattr(file_obj, "name", None)
    if isinstance(name, str | os.PathLike) and os.fspath(name):
        return os.fspath(name)
    return f"<{type(file_obj).__name__}>"


def file_label(source: str) -> str:
    """The file name part of ``source`` (the value of ``meta["source"]``).

    Examples
    --------
    >>> file_label("/data/lamost/spec-1.fits.gz")
    'spec-1.fits.gz'
    >>> file_label("<BytesIO>")
    '<BytesIO>'
    """
    return os.path.basename(source) or source


def _preview(raw: bytes) -> str:
    """The first characters of a non-FITS file, for the error message."""
    text = raw[:40].decode("latin-1")
    text = text.splitlines()[0] if text.strip() else text
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text[:15]


def _decompress(raw: bytes, source: str) -> bytes:
    """Undo gzip/bz2 compression (detected from magic bytes) of a whole file."""
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except EOFError as exc:
            raise SpectrumReadError(source, "truncated gzip stream") from exc
        except (gzip.BadGzipFile, OSError, ValueError) as exc:
            raise SpectrumReadError(source, f"corrupt gzip stream ({exc})") from exc
    if raw[:3] == _BZ2_MAGIC:
        try:
            return bz2.decompress(raw)
        except EOFError as exc:
            raise SpectrumReadError(source, "truncated bz2 stream") from exc
        except (OSError, ValueError) as exc:
            raise SpectrumReadError(source, f"corrupt bz2 stream ({exc})") from exc
    return raw


def _fits_bytes(raw: bytes, source: str) -> bytes:
    """Check that ``raw`` (possibly compressed) is a FITS file; return it unpacked."""
    if not raw:
        raise SpectrumReadError(source, "empty file (0 bytes)")
    raw = _decompress(raw, source)
    if not raw:
        raise SpectrumReadError(source, "empty file (0 bytes after decompression)")
    if not raw.startswith(_FITS_MAGIC):
        raise SpectrumReadError(source, f"not a FITS file (starts with {_preview(raw)!r})")
    return raw


@contextmanager
def open_hdulist(
    file_obj: Any, source: str | None = None, **fits_kwargs: Any
) -> Iterator[tuple[fits.HDUList, str]]:
    """Open ``file_obj`` as an `~astropy.io.fits.HDUList`, converting failures.

    The first bytes are checked to be FITS (gzip and bz2 compression are
    recognised from their magic bytes, whatever the file name, and undone in
    memory, which also catches truncated streams).  The file is opened with
    ``memmap=False`` and lazily loaded HDUs, so a reader touches only the
    HDUs it needs; file objects are read into memory first.  An `~astropy.io.fits.HDUList` is
    used as is and left open.  Inside the block, low-level exceptions become
    `SpectrumReadError` naming the file (see `spectromer.io._errors.reading`).

    Parameters
    ----------
    file_obj : str, os.PathLike, file-like or HDUList
        The file to open.
    source : str, optional
        Name for messages; default from `source_name`.
    **fits_kwargs
        Passed to `astropy.io.fits.open`.

    Yields
    ------
    (HDUList, str)
        The open file and its name.

    Raises
    ------
    SpectrumReadError
        Missing or empty file, not FITS (e.g. an HTML error page), truncated
        or corrupt compressed stream, or any read error in the block.

    Examples
    --------
    >>> import io
    >>> from spectromer.io import SpectrumReadError
    >>> try:
    ...     with open_hdulist(io.BytesIO(b"<!DOCTYPE html><html>"), source="x.fits"):
    ...         pass
    ... except SpectrumReadError as err:
    ...     print(err)
    x.fits: not a FITS file (starts with '<!DOCTYPE html>')
    """
    name = source if source is not None else source_name(file_obj)
    if isinstance(file_obj, fits.HDUList):
        with reading(name):
            yield file_obj, name
        return
    fits_kwargs.setdefault("memmap", False)
    fits_kwargs.setdefault("lazy_load_hdus", True)
    with reading(name):
        if isinstance(file_obj, str | os.PathLike):
            if os.path.isdir(file_obj):
                raise SpectrumReadError(name, "is a directory, not a file")
            with open(file_obj, "rb") as fh:
                head = fh.read(_SNIFF_BYTES)
                compressed = head[:2] == _GZIP_MAGIC or head[:3] == _BZ2_MAGIC
                raw = head + fh.read() if compressed else head
        elif hasattr(file_obj, "read"):
            raw = file_obj.read()
            if isinstance(raw, str):
                raise SpectrumReadError(name, "file object is open in text mode, not binary")
            compressed = True  # whatever it holds, it is in memory now
        else:
            raise SpectrumReadError(
                name, f"expected a path, binary file object or HDUList, not {type(file_obj)}"
            )
        raw = _fits_bytes(raw, name)
        if compressed:
            hdulist = fits.open(io.BytesIO(raw), **fits_kwargs)
        else:
            # A plain file on disk: let astropy read just the HDUs a reader touches.
            hdulist = fits.open(file_obj, **fits_kwargs)
        try:
            yield hdulist, name
        finally:
            hdulist.close()


def column_names(hdu: Any) -> dict[str, str]:
    """Map upper-cased column names of a binary-table HDU to their spelling.

    Reads only the header (``TTYPEn`` cards), which is cheaper than building
    the column definitions.

    Parameters
    ----------
    hdu : astropy.io.fits HDU
        Any HDU; non-table HDUs give an empty mapping.

    Returns
    -------
    dict
        ``{"FLUX": "flux", ...}``.

    Examples
    --------
    >>> from astropy.io import fits
    >>> import numpy as np
    >>> hdu = fits.BinTableHDU.from_columns([fits.Column("loglam", "E", array=np.ones(2))])
    >>> column_names(hdu)
    {'LOGLAM': 'loglam'}
    """
    if not isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
        return {}
    header = hdu.header
    names = {}
    for i in range(1, int(header.get("TFIELDS", 0)) + 1):
        name = str(header.get(f"TTYPE{i}", "")).strip()
        if name:
            names[name.upper()] = name
    return names


def table_columns(hdu: Any, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Columns of a binary-table HDU as arrays keyed by upper-case name.

    Decoded by astropy (``hdu.data``): logical columns are `bool` arrays,
    string columns `str` arrays without trailing blanks, scaled and unsigned
    (TZERO) columns are converted; numeric arrays may be big-endian (convert
    with `numpy.asarray` and a dtype before use).

    Parameters
    ----------
    hdu : astropy.io.fits.BinTableHDU
        The table.
    names : sequence of str, optional
        Columns wanted (any case); default all.  Missing names are skipped.

    Returns
    -------
    dict
        ``{"FLUX": array of shape (n_rows, repeat), ...}``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> hdu = fits.BinTableHDU.from_columns([fits.Column("flux", "3E", array=np.ones((1, 3)))])
    >>> table_columns(hdu)["FLUX"].shape
    (1, 3)
    """
    available = column_names(hdu)
    wanted = list(available) if names is None else [n.upper() for n in names]
    wanted = [n for n in wanted if n in available]
    out: dict[str, np.ndarray] = {}
    data = hdu.data
    for key in wanted:
        out[key] = np.asarray(data[available[key]])
    return out


def hdu_or_none(hdulist: fits.HDUList, index: int) -> Any:
    """``hdulist[index]``, or `None` if the file has fewer HDUs (lazy-load safe)."""
    try:
        return hdulist[index]
    except IndexError:
        return None


# ---------------------------------------------------------------------------
# Validation and construction


def check_spectrum_arrays(
    source: str,
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray | None = None,
    *,
    require_data: bool = True,
    **others: np.ndarray | None,
) -> None:
    """Validate the arrays of a spectrum before building it; every reader uses this.

    Parameters
    ----------
    source : str
        File name for error messages.
    wavelength : ndarray
        1-D spectral axis.
    flux : ndarray
        1-D flux, or 2-D ``(n_object, n_pixel)``.
    ivar : ndarray, optional
        Inverse variance, same shape as ``flux``.
    require_data : bool, optional
        Also require some finite flux with positive ``ivar`` (default);
        `False` checks only shapes and the wavelength axis.
    **others : ndarray
        More per-pixel arrays (masks) that must have the shape of ``flux``;
        `None` values are skipped.

    Raises
    ------
    SpectrumReadError
        Shape/length mismatches, no pixels, non-finite or not strictly
        increasing wavelengths, flux that is NaN/inf everywhere, or inverse
        variance that is zero everywhere.  For 2-D input only the all-rows
        case is an error: a single unusable object among many is returned
        fully masked.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.io import SpectrumReadError
    >>> w = np.array([4000.0, 4001.0, 4002.0])
    >>> check_spectrum_arrays("a.fits", w, np.ones(3), np.ones(3))
    >>> try:
    ...     check_spectrum_arrays("a.fits", w[::-1], np.ones(3))
    ... except SpectrumReadError as err:
    ...     print(err)
    a.fits: wavelength is not strictly increasing (pixel 1: 4002 -> 4001)
    """
    if wavelength.ndim != 1:
        raise SpectrumReadError(source, f"wavelength has {wavelength.ndim} dimensions, expected 1")
    if flux.ndim not in (1, 2):
        raise SpectrumReadError(source, f"flux has {flux.ndim} dimensions, expected 1 or 2")
    npix = wavelength.shape[0]
    if npix == 0:
        raise SpectrumReadError(source, "spectrum has no pixels")
    if flux.shape[-1] != npix:
        raise SpectrumReadError(
            source,
            f"length mismatch: flux has {flux.shape[-1]} pixels, wavelength has {npix}",
        )
    arrays = {"ivar": ivar, **others}
    for name, array in arrays.items():
        if array is not None and array.shape != flux.shape:
            raise SpectrumReadError(
                source, f"length mismatch: {name} has shape {array.shape}, flux {flux.shape}"
            )
    finite_w = np.isfinite(wavelength)
    if not finite_w.all():
        bad = int(np.argmin(finite_w))
        raise SpectrumReadError(source, f"wavelength is not finite at pixel {bad}")
    steps = np.diff(wavelength)
    if npix > 1 and not (steps > 0).all():
        bad = int(np.argmin(steps > 0))
        raise SpectrumReadError(
            source,
            "wavelength is not strictly increasing "
            f"(pixel {bad + 1}: {wavelength[bad]:.6g} -> {wavelength[bad + 1]:.6g})",
        )
    if not require_data:
        return
    finite = np.isfinite(flux)
    if not finite.any():
        raise SpectrumReadError(
            source, "flux is all NaN" + (" for every object" if flux.ndim == 2 else "")
        )
    if ivar is not None:
        usable = finite & (ivar > 0)
        if not usable.any():
            raise SpectrumReadError(
                source,
                "inverse variance is zero (or flux NaN) at every pixel: no usable data",
            )


def pixel_mask(
    flux: np.ndarray, ivar: np.ndarray, and_mask: np.ndarray | None = None
) -> np.ndarray:
    """Bad-pixel mask: ``(and_mask != 0) | (ivar <= 0) | ~isfinite(flux)``.

    Non-finite ``ivar`` counts as bad too.  `True` marks a bad pixel
    (specutils convention).

    Examples
    --------
    >>> import numpy as np
    >>> pixel_mask(np.array([1.0, np.nan, 1.0, 1.0]), np.array([1.0, 1.0, 0.0, 1.0]),
    ...            np.array([0, 0, 0, 4]))
    array([False,  True,  True,  True])
    """
    mask = ~np.isfinite(flux) | ~(ivar > 0)
    if and_mask is not None:
        mask |= and_mask != 0
    return mask


def make_spectrum(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    mask: np.ndarray,
    flux_unit: u.UnitBase,
    meta: dict[str, Any],
) -> Spectrum:
    """Build the `~specutils.Spectrum` (the only place Quantities are made).

    ``ivar`` entries that are negative or not finite are set to 0 (no
    information); the mask already flags those pixels.

    Parameters
    ----------
    wavelength : ndarray
        Vacuum wavelength in Angstrom.
    flux, ivar : ndarray
        Flux and inverse variance (1-D, or 2-D with objects along axis 0).
    mask : ndarray of bool
        `True` for bad pixels.
    flux_unit : astropy.units.UnitBase
        Unit of ``flux``; ``ivar`` is in ``flux_unit**-2``.
    meta : dict
        Metadata.

    Returns
    -------
    specutils.Spectrum

    Examples
    --------
    >>> import numpy as np, astropy.units as u
    >>> spec = make_spectrum(np.array([4000.0, 4001.0]), np.array([1.0, 2.0]),
    ...                      np.array([4.0, -1.0]), np.array([False, True]),
    ...                      u.dimensionless_unscaled, {"survey": "LAMOST"})
    >>> spec.spectral_axis
    <SpectralAxis [4000., 4001.] Angstrom>
    >>> spec.uncertainty.array
    array([4., 0.])
    """
    ivar = np.where(np.isfinite(ivar) & (ivar > 0), ivar, 0.0)
    flux = np.asarray(flux, dtype=np.float64)
    return Spectrum(
        flux=flux << flux_unit,
        spectral_axis=np.asarray(wavelength, dtype=np.float64) << WAVELENGTH_UNIT,
        # explicit: specutils cannot tell the axes apart when n_object == n_pixel (+1)
        spectral_axis_index=flux.ndim - 1,
        uncertainty=InverseVariance(ivar, unit=flux_unit**-2),
        mask=np.asarray(mask, dtype=bool),
        meta=meta,
    )


def _row_meta(row: Any) -> dict[str, Any]:
    """Plain-scalar dict from an `astropy.table.Row`, dropping masked cells."""
    out: dict[str, Any] = {}
    for name in row.colnames:
        value = row[name]
        if value is np.ma.masked or (np.ma.isMaskedArray(value) and value.mask.all()):
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace")
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        out[name] = value
    return out


def split_spectrum(spectrum: Spectrum) -> list[Spectrum]:
    """Split a spectrum with 2-D flux into 1-D spectra, one per object.

    Each part gets the file-level ``meta`` (without ``"targets"``) updated with
    its row of ``meta["targets"]`` (masked cells left out).  A 1-D spectrum is
    returned as a one-element list.

    Parameters
    ----------
    spectrum : specutils.Spectrum
        As returned by a spectromer loader.

    Returns
    -------
    list of specutils.Spectrum

    Examples
    --------
    >>> import numpy as np, astropy.units as u
    >>> from astropy.table import Table
    >>> from specutils import Spectrum
    >>> two = Spectrum(flux=np.ones((2, 3)) * u.Jy, spectral_axis=[1, 2, 3] * u.AA,
    ...                spectral_axis_index=1,
    ...                meta={"survey": "DESI", "targets": Table({"targetid": [7, 8]})})
    >>> [s.meta["targetid"] for s in split_spectrum(two)]
    [7, 8]
    """
    if spectrum.flux.ndim == 1:
        return [spectrum]
    meta = dict(spectrum.meta)
    targets = meta.pop("targets", None)
    flux = spectrum.flux
    unc = spectrum.uncertainty
    mask = spectrum.mask
    out = []
    for i in range(flux.shape[0]):
        part_meta = dict(meta)
        if targets is not None:
            part_meta.update(_row_meta(targets[i]))
        out.append(
            Spectrum(
                flux=flux[i],
                spectral_axis=spectrum.spectral_axis,
                uncertainty=None if unc is None else type(unc)(unc.array[i], unit=unc.unit),
                mask=None if mask is None else mask[i],
                meta=part_meta,
            )
        )
    return out


# ---------------------------------------------------------------------------
# Registration


@dataclass(frozen=True)
class FormatSpec:
    """A file format read by spectromer.

    Attributes
    ----------
    label : str
        Registry format name.
    identify : callable
        ``identify(hdulist) -> bool``; must only look at headers.
    read : callable
        ``read(hdulist, source, **options) -> Spectrum``.
    description : str
        One line for documentation.
    options : tuple of str
        Keyword arguments of ``read`` (other keywords go to `astropy.io.fits.open`).
    """

    label: str
    identify: Callable[[fits.HDUList], bool]
    read: Callable[..., Spectrum]
    description: str
    options: tuple[str, ...] = field(default=())


#: Formats registered by spectromer, in identification order.
FORMATS: dict[str, FormatSpec] = {}


def _identifier(spec: FormatSpec) -> Callable[..., bool]:
    """Wrap ``spec.identify`` into an astropy registry identifier."""

    def identify(origin: str, path: Any, fileobj: Any, *args: Any, **kwargs: Any) -> bool:
        if origin != "read":
            return False
        target = args[0] if args else (fileobj if fileobj is not None else path)
        if isinstance(target, fits.HDUList):
            return bool(spec.identify(target))
        if isinstance(target, str | os.PathLike):
            if not os.path.isfile(target):
                return False
            with fits.open(target, memmap=False, lazy_load_hdus=True) as hdulist:
                return bool(spec.identify(hdulist))
        if hasattr(target, "read") and hasattr(target, "seek"):
            position = target.tell()
            try:
                # Not closed: closing an HDUList closes the caller's file object.
                hdulist = fits.open(target, memmap=False, lazy_load_hdus=True)
                return bool(spec.identify(hdulist))
            finally:
                target.seek(position)
        return False

    return identify


def _split_options(spec: FormatSpec, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in spec.options}
    return options, kwargs


def register_format(
    label: str,
    identify: Callable[[fits.HDUList], bool],
    read: Callable[..., Spectrum],
    *,
    description: str,
    options: Sequence[str] = (),
    extensions: Sequence[str] = ("fits", "fits.gz", "fit"),
) -> FormatSpec:
    """Register a reader with specutils' I/O registry and with :data:`FORMATS`.

    Registers, under ``label`` and with priority :data:`PRIORITY`:

    * a `~specutils.Spectrum` loader returning what ``read`` returns (2-D flux
      for multi-object files);
    * a `~specutils.SpectrumList` loader returning the 1-D spectra, one per
      object (`split_spectrum`);
    * a reader for the deprecated ``Spectrum1D`` alias with the same priority.
      astropy looks priorities up by exact class, so without it a file that
      several formats identify is "ambiguous" for ``Spectrum1D.read``.

    Both loaders take the file (path, file object or HDUList), an optional
    ``source=`` name for messages and ``meta["source"]``, the format's
    ``options``, and pass any other keyword to `astropy.io.fits.open`.

    Parameters
    ----------
    label : str
        Format name.
    identify : callable
        ``identify(hdulist) -> bool`` (headers only).
    read : callable
        ``read(hdulist, source, **options) -> Spectrum``.
    description : str
        One-line description.
    options : sequence of str
        Keywords of ``read``.
    extensions : sequence of str
        File extensions (informational; identification is by content).

    Returns
    -------
    FormatSpec

    Examples
    --------
    >>> from spectromer.io._common import FORMATS
    >>> FORMATS["LAMOST-LRS"].label
    'LAMOST-LRS'
    """
    spec = FormatSpec(label, identify, read, description, tuple(options))
    identifier = _identifier(spec)

    def load_spectrum(file_obj: Any, *, source: str | None = None, **kwargs: Any) -> Spectrum:
        options, fits_kwargs = _split_options(spec, dict(kwargs))
        with open_hdulist(file_obj, source, **fits_kwargs) as (hdulist, name):
            return spec.read(hdulist, name, **options)

    def load_spectrum_list(
        file_obj: Any, *, source: str | None = None, **kwargs: Any
    ) -> SpectrumList:
        return SpectrumList(split_spectrum(load_spectrum(file_obj, source=source, **kwargs)))

    load_spectrum.__doc__ = f"Read a {description} file as a Spectrum (spectromer)."
    load_spectrum_list.__doc__ = f"Read a {description} file as a SpectrumList (spectromer)."

    data_loader(
        label,
        identifier=identifier,
        dtype=Spectrum,
        extensions=list(extensions),
        priority=PRIORITY,
        force=True,
        autogenerate_spectrumlist=False,
    )(load_spectrum)
    data_loader(
        label,
        identifier=identifier,
        dtype=SpectrumList,
        extensions=list(extensions),
        priority=PRIORITY,
        force=True,
    )(load_spectrum_list)
    spectrum1d = _spectrum1d_class()
    if spectrum1d is not None:
        io_registry.register_reader(label, spectrum1d, load_spectrum, force=True, priority=PRIORITY)
    FORMATS[label] = spec
    return spec


def _spectrum1d_class() -> type | None:
    import specutils

    return getattr(specutils, "Spectrum1D", None)


def first_hdu_named(hdulist: fits.HDUList, name: str, preferred: int | None = None) -> Any:
    """The HDU called ``name`` (checking index ``preferred`` first), or `None`.

    Checking the usual position first avoids reading every header of a
    lazily loaded file.

    Examples
    --------
    >>> from astropy.io import fits
    >>> hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(name="COADD")])
    >>> first_hdu_named(hdul, "COADD", preferred=1).name
    'COADD'
    >>> first_hdu_named(hdul, "SPECOBJ") is None
    True
    """
    if preferred is not None:
        hdu = hdu_or_none(hdulist, preferred)
        if hdu is not None and hdu.name == name:
            return hdu
    try:
        return hdulist[name]
    except KeyError:
        return None


def as_native(array: Any, dtype: Any = np.float64) -> np.ndarray:
    """``array`` as a native-endian numpy array of ``dtype`` (a copy if needed)."""
    return np.asarray(array, dtype=dtype)


def header_mapping(header: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """First value among ``keys`` present in ``header`` (or `None`).

    Examples
    --------
    >>> header_mapping({"SN_R": 12.0}, ["SNRR", "SN_R"])
    12.0
    """
    for key in keys:
        if key in header:
            return header[key]
    return None


def spectrum_arrays(spec: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plain arrays of a 1-D Spectrum: wavelength (Angstrom), flux, ivar, bad-pixel mask.

    The one conversion from ``specutils.Spectrum`` to numpy used by ingest and
    by the renderers. Any uncertainty type becomes inverse variance (0 where
    unknown or invalid); the mask is True where the spectrum's mask is set,
    the flux is not finite or ``ivar <= 0``; non-finite flux becomes 0. A
    decreasing spectral axis (e.g. frequency) is reversed so wavelength
    increases.

    Returns
    -------
    wave : ndarray float64
    flux, ivar : ndarray float32
    mask : ndarray bool

    Examples
    --------
    >>> import numpy as np, astropy.units as u
    >>> from specutils import Spectrum
    >>> from spectromer.io import spectrum_arrays
    >>> s = Spectrum(flux=[1.0, np.nan, 3.0] * u.Jy, spectral_axis=[1.0, 2.0, 3.0] * u.um)
    >>> wave, flux, ivar, mask = spectrum_arrays(s)
    >>> np.round(wave).tolist(), mask.tolist()
    ([10000.0, 20000.0, 30000.0], [False, True, False])
    """
    import astropy.units as u
    from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

    flux = np.asarray(spec.flux.value, dtype=np.float32)
    if flux.ndim != 1:
        raise ValueError(
            f"expected a 1-D spectrum, got flux of shape {flux.shape}; split multi-object "
            "spectra first (spectromer.io.read_spectra does)"
        )
    axis = spec.spectral_axis
    wave = axis.value if axis.unit == u.AA else axis.to_value(u.AA, equivalencies=u.spectral())
    wave = np.asarray(wave, dtype=np.float64)
    unc = spec.uncertainty
    finite = np.isfinite(flux)
    if unc is None:
        ivar = finite.astype(np.float32)
    else:
        arr = np.asarray(unc.array, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if isinstance(unc, InverseVariance):
                ivar = arr
            elif isinstance(unc, VarianceUncertainty):
                ivar = 1.0 / arr
            elif isinstance(unc, StdDevUncertainty):
                ivar = 1.0 / arr**2
            else:
                ivar = 1.0 / np.asarray(unc.represent_as(StdDevUncertainty).array) ** 2
        ivar = np.where(np.isfinite(ivar) & (ivar > 0), ivar, 0.0).astype(np.float32)
    mask = np.zeros(flux.shape, bool) if spec.mask is None else np.asarray(spec.mask, bool).copy()
    mask |= ~finite | (ivar <= 0)
    flux = np.where(finite, flux, 0.0).astype(np.float32)
    if wave.size > 1 and wave[0] > wave[-1]:
        wave, flux, ivar, mask = wave[::-1], flux[::-1], ivar[::-1], mask[::-1]
    return wave, flux, ivar, mask
