"""
Fetching spectra from SDSS with astroquery
==========================================

This script is shown, not run, when the documentation is built: it needs network
access to the SDSS SkyServer and the SAS file server. It selects galaxies from the SDSS
``SpecObj`` table with :mod:`astroquery.sdss`, downloads their ``spec-*.fits`` files
into a cache (in parallel, with retries; files already in the cache are not downloaded
again, and failures are reported without stopping the others) and writes a
:class:`~spectromer.datasets.SpectraDataset` with the survey's labels (``class``,
``subclass``, ``z``) in its metadata. The same from the command line::

    spectromer fetch sdss --class GALAXY --z-min 0.05 --z-max 0.3 --limit 2000 --out gal.h5

Then compare the models on the real redshifts (see :ref:`benchmark`)::

    spectromer benchmark --train gal.h5 --label z --models vit,svm,rf,knn --out runs/z
"""

from spectromer.datasets import fetch_sdss
from spectromer.evaluation import results_table, run_benchmark

# Galaxies with a clean pipeline redshift (ZWARNING = 0) between 0.05 and 0.3, at least
# S/N 5, from DR18; the spectra are cached under the astropy cache directory (or
# $SPECTROMER_CACHE/sdss, or cache_dir=...).
ds = fetch_sdss(
    "sdss_galaxies.h5",
    spec_class="GALAXY",
    z_min=0.05,
    z_max=0.3,
    snr_min=5,
    limit=2000,
    data_release=18,
    n_jobs=4,
)
print(ds.summary("class"))
print(f"{len(ds.ingest_report)} files in the report; failures are listed with their reason")

# The SDSS pipeline's own redshifts are the labels: compare them with a benchmark run.
result = run_benchmark(ds, "z", models=["knn", "rf", "vit"], out="runs/sdss_z")
print(results_table(result))

# The headline redshift metrics of one model, as recorded in results.json.
rec = next(r for r in result["results"] if r["model"] == "knn")
print({k: rec[k] for k in ("r2", "sigma_nmad", "outlier_fraction", "success_rate")})
