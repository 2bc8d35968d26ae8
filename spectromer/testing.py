"""Helpers for testing code that reads spectra: broken files of every kind.

Used by the test suite and by ``benchmarks/bench_ingest.py`` to check that a
batch job skips and reports bad files while keeping every good one.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["write_corrupt_spectra", "CORRUPTIONS"]

#: The defects :func:`write_corrupt_spectra` writes, by file name.
CORRUPTIONS = {
    "bad-truncated.fits.gz": "truncated gzip stream",
    "bad-html.fits": "HTML error page saved as .fits",
    "bad-nocoadd.fits": "FITS file without its data HDU",
    "bad-allnan.fits": "flux all NaN",
    "bad-nonmonotonic.fits.gz": "wavelength not increasing",
    "bad-empty.fits": "empty file",
}


def write_corrupt_spectra(
    folder: str | os.PathLike, good_file: str | os.PathLike
) -> dict[str, str]:
    """Write one broken copy of a LAMOST DR8+ spectrum file for each defect.

    Parameters
    ----------
    folder : path
        Where to write the files (created if needed).
    good_file : path
        A valid LAMOST DR8+ ``spec-*.fits[.gz]`` file (primary header and a
        one-row ``COADD`` table with FLUX, IVAR, WAVELENGTH, ANDMASK, ORMASK).

    Returns
    -------
    dict of str to str
        File name to the defect it has (see :data:`CORRUPTIONS`).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import spectromer
    >>> from spectromer.testing import write_corrupt_spectra
    >>> data = Path(spectromer.__file__).parents[1] / "tests" / "data"
    >>> good = sorted(data.glob("spec-*.fits.gz"))[0]  # doctest: +SKIP
    >>> sorted(write_corrupt_spectra(tempfile.mkdtemp(), good))[:2]  # doctest: +SKIP
    ['bad-allnan.fits', 'bad-empty.fits']
    """
    from astropy.io import fits

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good_file = Path(good_file)
    raw = good_file.read_bytes()
    if not raw.startswith(b"\x1f\x8b"):
        raw = gzip.compress(raw)
    (folder / "bad-truncated.fits.gz").write_bytes(raw[: len(raw) // 2])
    (folder / "bad-html.fits").write_text(
        "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
        "<body><h1>502 Bad Gateway</h1></body></html>\n"
    )
    (folder / "bad-empty.fits").write_bytes(b"")
    with fits.open(good_file) as hdul:
        primary = hdul[0].copy()
        # LAMOST primary headers carry NAXIS1/NAXIS2 with NAXIS = 0, which astropy
        # refuses to write back; they describe nothing, so drop them
        for key in ("NAXIS1", "NAXIS2"):
            primary.header.remove(key, ignore_missing=True)
        table = hdul[1].data.copy()
        header = hdul[1].header.copy()
    fits.HDUList([primary.copy()]).writeto(folder / "bad-nocoadd.fits", overwrite=True)
    nan = table.copy()
    nan["FLUX"][0][:] = np.nan
    fits.HDUList([primary.copy(), fits.BinTableHDU(nan, header)]).writeto(
        folder / "bad-allnan.fits", overwrite=True
    )
    rev = table.copy()
    rev["WAVELENGTH"][0][:] = rev["WAVELENGTH"][0][::-1].copy()
    plain = folder / "bad-nonmonotonic.fits"
    fits.HDUList([primary.copy(), fits.BinTableHDU(rev, header)]).writeto(plain, overwrite=True)
    (folder / "bad-nonmonotonic.fits.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return dict(CORRUPTIONS)
