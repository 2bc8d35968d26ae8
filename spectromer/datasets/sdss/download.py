"""Fetching one SDSS spectrum file: retried, written atomically, checked to be complete FITS.

The request, its retries and the atomic write are :class:`spectromer.utils.network.Downloader`'s;
what is SDSS-specific here is the check that a body is a complete FITS file before it
takes its final name (an archive under load can answer ``200 OK`` with an HTML error
page, or close the connection early).
"""

from __future__ import annotations

import contextlib
import glob
import math
from pathlib import Path

from astropy.io import fits

from spectromer.utils.network import Downloader, InvalidContent

from .urls import Target

_BLOCK = 2880


def _card_int(card: bytes) -> int | None:
    try:
        return int(card[10:80].split(b"/")[0].strip())
    except ValueError:
        return None


def fits_layout_problem(path: Path) -> str | None:
    """Check that ``path`` is a sequence of complete FITS HDUs; describe the problem if not.

    Only the header keywords that fix the data size are read (BITPIX, NAXISn,
    PCOUNT, GCOUNT), so a truncated download is found without astropy's
    "file may have been truncated" warnings (which cannot be silenced per thread).
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        n_hdu = 0
        while pos < size or n_hdu == 0:
            keys: dict[str, int | None] = {}
            first = True
            while True:
                block = f.read(_BLOCK)
                if n_hdu == 0 and first and not block.startswith(b"SIMPLE  ="):
                    return "it does not start with a SIMPLE card"
                if len(block) < _BLOCK:
                    return f"the header of HDU {n_hdu} is cut short at byte {size}"
                first = False
                pos += _BLOCK
                cards = [block[i : i + 80] for i in range(0, _BLOCK, 80)]
                names = [c[:8].decode("ascii", "replace").strip() for c in cards]
                for name, card in zip(names, cards):
                    if name == "END":
                        break
                    if card[8:10] == b"= " and (
                        name in ("BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "GROUPS")
                        or name.startswith("NAXIS")
                    ):
                        keys[name] = _card_int(card)
                if "END" in names:
                    break
            naxis = keys.get("NAXIS") or 0
            bitpix = keys.get("BITPIX")
            if bitpix is None:
                return f"HDU {n_hdu} has no valid BITPIX"
            dims = [keys.get(f"NAXIS{i}") for i in range(1, naxis + 1)]
            if any(d is None for d in dims):
                return f"HDU {n_hdu} has no valid NAXISn"
            if dims and dims[0] == 0 and naxis > 1:  # random groups
                dims = dims[1:]
            count = math.prod(dims) if dims else 0
            nbytes = (
                abs(bitpix) // 8 * (keys.get("GCOUNT") or 1) * ((keys.get("PCOUNT") or 0) + count)
            )
            padded = -(-nbytes // _BLOCK) * _BLOCK
            if pos + padded > size:
                return (
                    f"the data of HDU {n_hdu} is cut short: the file has {size} bytes, "
                    f"its headers need at least {pos + padded}"
                )
            pos += padded
            f.seek(pos)
            n_hdu += 1
    return None


def verify_fits(path: Path) -> None:
    """Raise :class:`~spectromer.utils.network.InvalidContent` unless ``path`` is complete FITS.

    The file must hold only complete HDUs (:func:`fits_layout_problem`) and open with
    astropy.
    """
    try:
        problem = fits_layout_problem(path)
        if problem is None:
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                if len(hdul) == 0:
                    problem = "it holds no HDU"
    except Exception as exc:  # noqa: BLE001 - any failure means a bad download
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        raise InvalidContent(f"the downloaded file is not a valid FITS file ({problem})")


def download_spectrum(downloader: Downloader, target: Target) -> int:
    """Download ``target.url`` to ``target.path``; return how many requests it took.

    The body is written to a temporary ``.part`` file beside the target, checked with
    :func:`verify_fits`, and only then renamed onto ``target.path``. Temporary files
    of this spectrum left by a killed run are removed first.

    Raises :class:`~spectromer.utils.network.DownloadError` when the file cannot be
    downloaded.
    """
    name = target.path.name
    parent = target.path.parent
    stale = [parent / f"{name}.part", *parent.glob(f".{glob.escape(name)}.*.part")]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return downloader.download(target.url, target.path, check=verify_fits)
