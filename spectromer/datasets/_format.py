"""The on-disk format of a spectrum dataset: one HDF5 file per dataset.

Why HDF5 (h5py) rather than zarr: a dataset is one portable file that a user
can copy, share or attach to a paper; HDF5 is readable from every language
astronomers use (IDL, Julia, C, MATLAB), needs no directory tree with thousands
of chunk files on cluster file systems that dislike them, and h5py gives cheap
random access to slices of a ragged array, which is what a training loop does.

Layout (``format_version`` 2; a version 1 file is the same with one ``/meta`` table)::

    /                       attrs: format, format_version, spectromer_version, created,
                                   n_spectra, encoding
    /spectra/flux           1-D, every spectrum's flux concatenated (native grid)
    /spectra/ivar           1-D, inverse variance (or scaled sqrt(ivar), see encoding)
    /spectra/mask           1-D uint8, 1 = bad pixel
    /spectra/offsets        (N+1,) int64, spectrum i is [offsets[i], offsets[i+1])
    /spectra/scale          (N,) float32, flux scale (1 unless encoding is float16)
    /wave/kind              (N,) uint8: 0 explicit, 1 log-linear, 2 linear
    /wave/start, /wave/step (N,) float64: parametric grid (log10 Angstrom or Angstrom)
    /wave/values            1-D float64 wavelengths of explicit grids only
    /wave/offsets           (N+1,) int64 into /wave/values
    /meta                   astropy Table, one row per spectrum (labels, ids, units), or
    /meta_parts/NNNNNN      the same table in parts of rows, stacked in order on reading
    /ingest_report          astropy Table, one row per source file (status, reason)
    /splits/NAME/{train,validation,test}   int64 index arrays, attrs label/seed/fractions

Wavelengths are vacuum Angstrom. Flux units are per spectrum (``flux_unit``
column of the metadata table).
"""

from __future__ import annotations

FORMAT_NAME = "spectromer.SpectraDataset"
#: 2: the index arrays are written as the spectra are (resizable datasets) and the
#: metadata of a large dataset may be stored in parts (``meta_parts/``), so that
#: writing keeps memory independent of the number of spectra; version 1 files
#: (one ``meta`` table) are read as before.
FORMAT_VERSION = 2
#: Metadata rows the writer holds before it writes them to the file as a table part.
_META_PART_ROWS = 8192
_ENCODINGS = ("float32", "float16")
_REPORT_COLUMNS = ("path", "status", "reason", "n_spectra")
