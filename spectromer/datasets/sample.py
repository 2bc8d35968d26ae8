"""The real LAMOST sample bundled with the package."""

from __future__ import annotations

from pathlib import Path

from .dataset import SpectraDataset

__all__ = ["load_sample", "sample_path", "SAMPLE_PROVENANCE"]

_SAMPLE_FILE = "lamost_dr10_afg_sample.h5"

SAMPLE_PROVENANCE = """\
600 real LAMOST DR10 low-resolution (R~1800) stellar spectra, 200 each of
coarse type A, F and G (subclasses A0-A9, F0-F9, G0-G9 as assigned by the
LAMOST pipeline), drawn with a fixed seed from the 2269 public DR10 spectra
collected in the GitHub repository gcbellys/lamost-manifold-dr-cluster. Each
spectrum keeps its native log-linear wavelength grid (3700-9100 Angstrom,
vacuum, about 3900 pixels), flux, inverse variance and and-mask. To keep the
file under 5 MB, flux is stored as a scaled half float (relative precision
5e-4, far below the photon noise) and inverse variance to within 1.6%. Labels come from the
FITS headers: class, subclass, z, z_err, snr_u..snr_z, obsid, ra, dec, plus
the derived type (A/F/G) and subtype (e.g. G3). The sample is rebuilt with
``python benchmarks/make_sample.py DATA_DIR``. Acknowledge LAMOST when you use
it (Guoshoujing Telescope, funded by the National Development and Reform
Commission, operated by NAOC).
"""


def sample_path() -> Path:
    """Path of the bundled sample dataset file inside the installed package.

    Examples
    --------
    >>> from spectromer.datasets import sample_path
    >>> sample_path().name
    'lamost_dr10_afg_sample.h5'
    """
    return Path(__file__).with_name("data") / _SAMPLE_FILE


def load_sample() -> SpectraDataset:
    """Open the bundled sample of 600 real LAMOST DR10 A/F/G star spectra.

    Provenance: see :data:`SAMPLE_PROVENANCE` (printed below).

    Returns
    -------
    SpectraDataset
        The sample, opened read-only. Labels ``type`` (A/F/G), ``subtype``
        (e.g. ``G3``), ``subclass``, ``z``, ``snr_r`` and more are in ``meta``;
        a stratified split by ``subtype`` (seed 0) is saved as ``"default"``.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> ds = load_sample()
    >>> len(ds)
    600
    >>> from collections import Counter
    >>> sorted(Counter(ds.labels("type").tolist()).items())
    [('A', 200), ('F', 200), ('G', 200)]
    """
    path = sample_path()
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: the bundled sample is missing from this installation; reinstall "
            "spectromer or rebuild it with benchmarks/make_sample.py"
        )
    return SpectraDataset(path)
