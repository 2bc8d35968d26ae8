"""What every sub-command that opens datasets shares: one reading of a DATASET argument.

A DATASET argument is a ``.h5``/``.hdf5`` file written by ``spectromer ingest`` or
the word :data:`SAMPLE_NAME` (``sample``), the LAMOST sample bundled with the package.
This module imports nothing heavy, so ``spectromer --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from spectromer.datasets import SpectraDataset

#: The word that names the bundled LAMOST sample wherever a command takes a dataset.
SAMPLE_NAME = "sample"

#: File name endings of dataset files.
DATASET_SUFFIXES = (".h5", ".hdf5")


def is_dataset_argument(text: str) -> bool:
    """Whether a command-line argument names a dataset (an existing ``.h5`` file or ``sample``).

    Commands that take either spectrum files or a dataset (``predict``, ``render``) use
    this to tell them apart.

    Examples
    --------
    >>> from spectromer.cli._common import is_dataset_argument
    >>> is_dataset_argument("sample"), is_dataset_argument("spec-1.fits")
    (True, False)
    """
    path = Path(text)
    return text == SAMPLE_NAME or (path.suffix in DATASET_SUFFIXES and path.is_file())


def open_dataset(text: str) -> SpectraDataset:
    """Open the dataset a command-line argument names: a dataset file or ``sample``.

    Parameters
    ----------
    text : str
        A path to a dataset file, or :data:`SAMPLE_NAME` for the bundled sample (to
        open a file that is really called ``sample``, write ``./sample``).

    Returns
    -------
    SpectraDataset
        The opened dataset; errors name the file and say what was expected.

    Examples
    --------
    >>> from spectromer.cli._common import open_dataset
    >>> len(open_dataset("sample"))
    600
    """
    if text == SAMPLE_NAME:
        from spectromer.datasets import load_sample

        return load_sample()
    from spectromer.datasets import SpectraDataset

    return SpectraDataset(text)
