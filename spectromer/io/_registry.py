"""Registering spectromer's formats with specutils' I/O registry, as a good citizen.

Each survey module hands two plain functions per format to
:func:`register_format`: ``identify(hdulist) -> bool`` (headers only) and
``read(hdulist, source, **options) -> Spectrum``.  They are recorded in
:data:`FORMATS` (what :func:`spectromer.io.read_spectra` identifies among,
opening each file once) and registered with specutils for
`~specutils.Spectrum` and `~specutils.SpectrumList`, under three rules:

* **One format per file.**  In the registry a spectromer format *claims* a file
  its ``identify`` accepts unless one of the specutils formats it ``defers_to``
  identifies it too (SDSS-V spec files stay specutils').  specutils' formats
  that would also identify a claimed file step aside for it: the formats it
  ``extends`` and the generic fallback ``tabular-fits`` (which cannot read
  LAMOST, SDSS or DESI files anyway).
* **A superset of specutils.**  A claimed file that a format in ``extends``
  identifies (SDSS-III/IV spec files) is read by that specutils loader, with
  every argument as given (so ``hdu=`` behaves as in specutils), and
  spectromer's labels are added to ``meta``: same spectra, shapes and
  behaviour, more labels.
* **Explicit where specutils has its own view.**  With ``list_identify=False``
  the `~specutils.SpectrumList` identifier never claims a file (specutils wants
  every SpectrumList format to have an identifier, so it is kept), so
  ``SpectrumList.read`` of a DESI file keeps specutils' per-arm loaders and
  spectromer's merged per-object view needs ``format=``.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from astropy.io import fits
from astropy.io import registry as io_registry
from astropy.units import UnitsWarning
from specutils import Spectrum, SpectrumList
from specutils.io.registers import data_loader

from ._build import split_spectrum
from ._opening import open_hdulist

__all__ = ["PRIORITY", "FORMATS", "FormatSpec", "register_format", "claiming_format"]

#: Priority of spectromer's loaders in the astropy/specutils I/O registry (specutils'
#: own use at most 10).  Only one format identifies a claimed file, so the priority
#: matters only to readers that bypass identification.
PRIORITY = 20

#: Where specutils defines the identifiers spectromer composes with (public functions
#: of its loader modules), by format label.  A format missing from the installed
#: specutils is skipped.
_SPECUTILS_IDENTIFIERS = {
    "SDSS-III/IV spec": ("specutils.io.default_loaders.sdss", "spec_identify"),
    "SDSS-V spec": ("specutils.io.default_loaders.sdss_v", "spec_sdss5_identify"),
    "tabular-fits": ("specutils.io.default_loaders.tabular_fits", "identify_tabular_fits"),
}
#: specutils' generic loaders, which step aside for every file spectromer claims.
_FALLBACKS = ("tabular-fits",)


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
    labels : callable or None
        ``labels(hdulist, source) -> dict``: the meta labels added to the
        spectra of the specutils formats in ``extends``.
    extends : tuple of str
        specutils formats whose files this format claims in the registry,
        reading them with specutils' loader and adding ``labels``.
    defers_to : tuple of str
        specutils formats whose files this format leaves to specutils in the
        registry (`spectromer.io.read_spectra` still reads them).
    list_identify : bool
        Whether ``SpectrumList.read`` identifies this format; `False` means
        ``format=`` only.

    Examples
    --------
    >>> from spectromer.io._registry import FORMATS
    >>> FORMATS["SDSS-spec (spectromer)"].extends, FORMATS["SDSS-spec (spectromer)"].defers_to
    (('SDSS-III/IV spec',), ('SDSS-V spec',))
    >>> FORMATS["DESI merged"].list_identify
    False
    """

    label: str
    identify: Callable[[fits.HDUList], bool]
    read: Callable[..., Spectrum]
    description: str
    options: tuple[str, ...] = field(default=())
    labels: Callable[[fits.HDUList, str], dict[str, Any]] | None = None
    extends: tuple[str, ...] = field(default=())
    defers_to: tuple[str, ...] = field(default=())
    list_identify: bool = True


#: Formats registered by spectromer, in identification order.
FORMATS: dict[str, FormatSpec] = {}


def _specutils_identifier(label: str) -> Callable[..., bool] | None:
    """specutils' own identifier function of format ``label`` (None if not installed)."""
    where = _SPECUTILS_IDENTIFIERS.get(label)
    if where is None:
        raise ValueError(f"no known specutils identifier for format {label!r}")
    try:
        return getattr(importlib.import_module(where[0]), where[1])
    except (ImportError, AttributeError):
        return None


def _quiet(identifier: Callable[..., bool], *args: Any, **kwargs: Any) -> bool:
    """Call an identifier as specutils does: any exception means "not this format"."""
    try:
        return bool(identifier(*args, **kwargs))
    except Exception:  # noqa: BLE001  (specutils' own wrapper does the same)
        return False


def _target(path: Any, fileobj: Any, args: tuple) -> Any:
    return args[0] if args else (fileobj if fileobj is not None else path)


def _with_hdulist(target: Any, check: Callable[[fits.HDUList], bool]) -> bool:
    """``check(hdulist)`` for a path, seekable file object or HDUList (headers only)."""
    if isinstance(target, fits.HDUList):
        return bool(check(target))
    if isinstance(target, str | os.PathLike):
        if not os.path.isfile(target):
            return False
        with fits.open(target, memmap=False, lazy_load_hdus=True) as hdulist:
            return bool(check(hdulist))
    if hasattr(target, "read") and hasattr(target, "seek"):
        position = target.tell()
        try:
            # Not closed: closing an HDUList closes the caller's file object.
            return bool(check(fits.open(target, memmap=False, lazy_load_hdus=True)))
        finally:
            target.seek(position)
    return False


def _accepts(labels: Sequence[str], call: tuple) -> str | None:
    """The first specutils format among ``labels`` whose identifier accepts the call."""
    for label in labels:
        identifier = _specutils_identifier(label)
        if identifier is not None and _quiet(identifier, *call[0], **call[1]):
            return label
    return None


def claiming_format(
    dtype: type, origin: str, path: Any, fileobj: Any, *args: Any, **kwargs: Any
) -> FormatSpec | None:
    """The spectromer format that claims a file in the registry, if any.

    Takes the arguments astropy gives an identifier.  At most one format claims
    a file: the first of :data:`FORMATS` whose ``identify`` accepts it and that
    does not defer it to specutils (for `~specutils.SpectrumList`, only formats
    with ``list_identify``).

    Examples
    --------
    >>> from pathlib import Path
    >>> import spectromer
    >>> from specutils import Spectrum, SpectrumList
    >>> data = Path(spectromer.__file__).resolve().parents[1] / "tests" / "data"
    >>> desi = str(data / "coadd-4-80613-thru20210324.fits")
    >>> claiming_format(Spectrum, "read", desi, None, desi).label
    'DESI merged'
    >>> claiming_format(SpectrumList, "read", desi, None, desi) is None
    True
    """
    if origin != "read":
        return None
    candidates = [
        spec for spec in FORMATS.values() if dtype is not SpectrumList or spec.list_identify
    ]
    target = _target(path, fileobj, args)
    for spec in candidates:
        if not _quiet(_with_hdulist, target, spec.identify):
            continue
        if _accepts(spec.defers_to, ((origin, path, fileobj, *args), kwargs)) is None:
            return spec
    return None


def _identifier(spec: FormatSpec, dtype: type) -> Callable[..., bool]:
    """The registry identifier of ``spec`` for ``dtype``."""

    def identify(origin: str, path: Any, fileobj: Any, *args: Any, **kwargs: Any) -> bool:
        claimed = claiming_format(dtype, origin, path, fileobj, *args, **kwargs)
        return claimed is not None and claimed.label == spec.label

    return identify


def _stepping_aside(label: str, dtype: type) -> Callable[..., bool] | None:
    """specutils' identifier of ``label``, returning False for files spectromer claims."""
    original = _specutils_identifier(label)
    if original is None:
        return None

    def identify(origin: str, *args: Any, **kwargs: Any) -> bool:
        if not _quiet(original, origin, *args, **kwargs):
            return False
        return claiming_format(dtype, origin, *args, **kwargs) is None

    identify.__doc__ = f"specutils' {label!r} identifier, leaving spectromer's files to it."
    return identify


def _split_options(spec: FormatSpec, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    options = {k: kwargs.pop(k) for k in list(kwargs) if k in spec.options}
    return options, kwargs


def _extended(spec: FormatSpec, file_obj: Any, kwargs: dict[str, Any]) -> str | None:
    """The specutils format of ``spec.extends`` that reads ``file_obj``, if any."""
    if not spec.extends:
        return None
    path = os.fspath(file_obj) if isinstance(file_obj, str | os.PathLike) else None
    fileobj = None if path is not None else file_obj
    return _accepts(spec.extends, (("read", path, fileobj, file_obj), kwargs))


def _read_specutils(label: str, dtype: type, file_obj: Any, kwargs: dict[str, Any]) -> Any:
    """Read with specutils' own ``label`` loader, every argument as given.

    SDSS files write BUNIT as ``1E-17 erg/cm^2/s/Angstrom``; astropy's warning
    about its several slashes (which specutils' own test configuration ignores)
    is not repeated for every file read.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*multiple slashes", category=UnitsWarning)
        return io_registry.get_reader(label, dtype)(file_obj, **kwargs)


def _with_labels(spec: FormatSpec, spectrum: Any, file_obj: Any, source: str | None) -> Any:
    """Add ``spec.labels`` to ``spectrum.meta``, keeping every key specutils set."""
    with open_hdulist(file_obj, source) as (hdulist, name):
        labels = spec.labels(hdulist, name)
    spectrum.meta = {**labels, **spectrum.meta}
    return spectrum


def register_format(
    label: str,
    identify: Callable[[fits.HDUList], bool],
    read: Callable[..., Spectrum],
    *,
    description: str,
    options: Sequence[str] = (),
    labels: Callable[[fits.HDUList, str], dict[str, Any]] | None = None,
    extends: Sequence[str] = (),
    defers_to: Sequence[str] = (),
    list_identify: bool = True,
    extensions: Sequence[str] = ("fits", "fits.gz", "fit"),
) -> FormatSpec:
    """Register a reader with specutils' I/O registry and with :data:`FORMATS`.

    Registers, under ``label`` and with priority :data:`PRIORITY`:

    * a `~specutils.Spectrum` loader returning what ``read`` returns (2-D flux
      for multi-object files);
    * a `~specutils.SpectrumList` loader returning the 1-D spectra, one per
      object (`~spectromer.io._build.split_spectrum`);

    with identifiers following the rules of this module, and makes the
    identifiers of the specutils formats in ``extends`` (and of
    ``tabular-fits``) step aside for the files the format claims.

    Both loaders take the file (path, file object or HDUList), an optional
    ``source=`` name for messages and ``meta["source"]``, the format's
    ``options``, and pass any other keyword to `astropy.io.fits.open` (or,
    for a file of an extended specutils format, to specutils' loader).

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
    labels, extends, defers_to, list_identify
        See `FormatSpec`.
    extensions : sequence of str
        File extensions (informational; identification is by content).

    Returns
    -------
    FormatSpec

    Examples
    --------
    >>> from spectromer.io._registry import FORMATS
    >>> FORMATS["LAMOST-LRS"].label
    'LAMOST-LRS'
    """
    if extends and labels is None:
        raise ValueError(f"format {label!r} extends {list(extends)} but gives no labels")
    spec = FormatSpec(
        label,
        identify,
        read,
        description,
        tuple(options),
        labels,
        tuple(extends),
        tuple(defers_to),
        list_identify,
    )

    def load_spectrum(file_obj: Any, *, source: str | None = None, **kwargs: Any) -> Spectrum:
        base = _extended(spec, file_obj, kwargs)
        if base is not None:
            spectrum = _read_specutils(base, Spectrum, file_obj, kwargs)
            return _with_labels(spec, spectrum, file_obj, source)
        options, fits_kwargs = _split_options(spec, dict(kwargs))
        with open_hdulist(file_obj, source, **fits_kwargs) as (hdulist, name):
            return spec.read(hdulist, name, **options)

    def load_spectrum_list(
        file_obj: Any, *, source: str | None = None, **kwargs: Any
    ) -> SpectrumList:
        base = _extended(spec, file_obj, kwargs)
        if base is not None:
            spectra = _read_specutils(base, SpectrumList, file_obj, kwargs)
            return SpectrumList(_with_labels(spec, s, file_obj, source) for s in spectra)
        return SpectrumList(split_spectrum(load_spectrum(file_obj, source=source, **kwargs)))

    load_spectrum.__doc__ = f"Read a {description} file as a Spectrum (spectromer)."
    load_spectrum_list.__doc__ = f"Read a {description} file as a SpectrumList (spectromer)."

    for dtype, loader, auto in (
        (Spectrum, load_spectrum, {"autogenerate_spectrumlist": False}),
        (SpectrumList, load_spectrum_list, {}),
    ):
        data_loader(
            label,
            identifier=_identifier(spec, dtype),
            dtype=dtype,
            extensions=list(extensions),
            priority=PRIORITY,
            force=True,
            **auto,
        )(loader)
        for other in (*spec.extends, *_FALLBACKS):
            stepping = _stepping_aside(other, dtype)
            if stepping is not None and other in io_registry.get_formats(dtype)["Format"]:
                io_registry.register_identifier(other, dtype, stepping, force=True)
    FORMATS[label] = spec
    return spec
