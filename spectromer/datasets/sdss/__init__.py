"""Fetch SDSS spectra with :mod:`astroquery` and store them as a `SpectraDataset`.

One concern per module:

* :mod:`.query` - the SQL of a SkyServer ``SpecObj`` selection
  (:func:`build_specobj_query`) and running it with ``astroquery.sdss.SDSS.query_sql``;
* :mod:`.urls` - the Science Archive Server address of each ``spec-*.fits`` file
  (:func:`sdss_spectrum_url`) and its place in the local cache, laid out like the
  archive (``{cache}/dr{N}/{run2d}/spec-....fits``);
* :mod:`.download` - fetching one file: retried, written atomically, checked to be a
  complete FITS file;
* :mod:`.fetch` - the thread pool, progress and report (:func:`download_sdss_spectra`)
  and the whole fetch into an HDF5 dataset (:func:`fetch_sdss`).

The server addresses come from astroquery's configuration
(``astroquery.sdss.conf.skyserver_baseurl`` for the query, ``conf.sas_baseurl`` for the
files). Reachability checks and retries are :mod:`spectromer.utils.network`'s.
"""

from .fetch import (
    DownloadResult,
    FetchFailure,
    SDSSFetchError,
    SDSSFetchWarning,
    download_sdss_spectra,
    fetch_sdss,
)
from .query import SPEC_CLASSES, SPECOBJ_COLUMNS, build_specobj_query
from .urls import sdss_spectrum_url

__all__ = [
    "SPEC_CLASSES",
    "SPECOBJ_COLUMNS",
    "DownloadResult",
    "FetchFailure",
    "SDSSFetchError",
    "SDSSFetchWarning",
    "build_specobj_query",
    "download_sdss_spectra",
    "fetch_sdss",
    "sdss_spectrum_url",
]
