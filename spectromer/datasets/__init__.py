"""Spectrum datasets: HDF5 storage, ingest, splits, the bundled sample and SDSS fetching.

* :class:`SpectraDataset` - one HDF5 file holding many spectra on their native
  wavelength grids, with a metadata table of labels; opens lazily and streams batches.
* :func:`ingest` - parallel, resumable conversion of spectrum files into a dataset.
* :func:`stratified_split` - reproducible train/validation/test index arrays;
  :func:`holdout_split` - one random held-out fraction (stratified when asked).
* :func:`load_sample` - a small real LAMOST DR10 A/F/G sample shipped with the package.
* :func:`fetch_sdss` - query SDSS SpecObj with astroquery and download spectra.
* :func:`simulate_survey` - **simulated** LAMOST, SDSS, BOSS or DESI spectra of
  stars, galaxies and quasars (:mod:`spectromer.simulation`; labelled simulated
  in every row); :func:`simulate_sdss` is its SDSS/BOSS alias.
"""

from ..utils.locking import FileLockedError
from .dataset import DatasetWriter, SpectraDataset
from .ingestion import IngestResult, find_spectrum_files, ingest
from .labels import derive_labels, stellar_type
from .sample import SAMPLE_PROVENANCE, load_sample, sample_path
from .simulate import SIMULATION_PROVENANCE, simulate_sdss, simulate_survey
from .splits import holdout_split, stratified_split

__all__ = [
    "SpectraDataset",
    "DatasetWriter",
    "ingest",
    "IngestResult",
    "find_spectrum_files",
    "stratified_split",
    "holdout_split",
    "stellar_type",
    "derive_labels",
    "load_sample",
    "sample_path",
    "SAMPLE_PROVENANCE",
    "simulate_survey",
    "simulate_sdss",
    "SIMULATION_PROVENANCE",
    "fetch_sdss",
    "build_specobj_query",
    "download_sdss_spectra",
    "sdss_spectrum_url",
    "DownloadResult",
    "FetchFailure",
    "SDSSFetchWarning",
    "SDSSFetchError",
    "FileLockedError",
]

from .sdss import (
    DownloadResult,
    FetchFailure,
    SDSSFetchError,
    SDSSFetchWarning,
    build_specobj_query,
    download_sdss_spectra,
    fetch_sdss,
    sdss_spectrum_url,
)
