"""Writing a dataset: :class:`DatasetWriter` appends spectra chunk by chunk (see
:mod:`spectromer.datasets._format` for the layout)."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from astropy.table import Table

from ..utils import grid as _grid
from ._format import _ENCODINGS, _META_PART_ROWS, _REPORT_COLUMNS, FORMAT_NAME, FORMAT_VERSION
from ._tables import _EMPTY, _write_table, rows_to_table

if TYPE_CHECKING:
    from .dataset import SpectraDataset

__all__ = ["DatasetWriter"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _version() -> str:
    from spectromer import __version__

    return __version__


def _round_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """Half floats rounded to ``bits`` mantissa bits (zeros compress well)."""
    half = np.asarray(values, dtype=np.float32).astype(np.float16)
    drop = 10 - bits
    raw = half.view(np.uint16).astype(np.uint32)
    finite = np.isfinite(half)
    rounded = ((raw + (1 << (drop - 1))) >> drop) << drop
    out = np.where(finite & (rounded < 0x7C00), rounded, raw).astype(np.uint16)
    return out.view(np.float16)


class DatasetWriter:
    """Append spectra to a new dataset file, chunk by chunk (memory O(chunk)).

    Most users call :func:`spectromer.datasets.ingest` instead; the writer is
    the building block it uses. Write to a temporary path and rename it when
    :meth:`close` returns (see :func:`spectromer.datasets.ingest`), so that a
    reader never sees a half-written file.

    Parameters
    ----------
    path : str or path-like
        File to create (overwritten if it exists).
    encoding : {"float32", "float16"}
        ``float32`` stores flux and inverse variance as they are.
        ``float16`` stores ``flux / scale`` as a half float (relative
        precision 5e-4) and ``sqrt(ivar) * scale`` (the per-pixel noise relative
        to the spectrum's median flux) as a half float rounded to 6 mantissa
        bits (inverse variance to within 1.6%, well inside how well any
        pipeline knows its noise), ``scale`` being each spectrum's median
        absolute flux. It needs under a third of the space once compressed and
        is what the bundled sample uses.
    compression : str or None
        h5py filter for the ragged arrays (``"lzf"``, ``"gzip"`` or None).
    buffer_pixels : int
        Pixels buffered in memory before they are written.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from spectromer.datasets import DatasetWriter, SpectraDataset
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.h5")
    >>> wave = 10 ** (3.6 + 1e-4 * np.arange(100))
    >>> with DatasetWriter(path) as w:
    ...     w.add(wave, np.ones(100), np.ones(100), np.zeros(100, bool), {"class": "STAR"})
    >>> len(SpectraDataset(path))
    1
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        encoding: str = "float32",
        compression: str | None = "lzf",
        buffer_pixels: int = 2_000_000,
    ) -> None:
        if encoding not in _ENCODINGS:
            raise ValueError(f"encoding must be one of {_ENCODINGS}, got {encoding!r}")
        self.path = Path(path)
        self.encoding = encoding
        self.compression = compression
        self.buffer_pixels = int(buffer_pixels)
        self._h5 = h5py.File(self.path, "w")
        self._h5.attrs.update(
            format=FORMAT_NAME,
            format_version=FORMAT_VERSION,
            spectromer_version=_version(),
            created=_now(),
            encoding=encoding,
        )
        fdt = np.float16 if encoding == "float16" else np.float32
        spec = self._h5.create_group("spectra")
        wave = self._h5.create_group("wave")
        self._ragged = {
            "flux": self._make(spec, "flux", fdt),
            "ivar": self._make(spec, "ivar", fdt),
            "mask": self._make(spec, "mask", np.uint8),
            "wave_values": self._make(wave, "values", np.float64),
        }
        # per-spectrum index arrays, appended to the file at each flush like the pixels
        self._index = {
            "offsets": self._make(spec, "offsets", np.int64),
            "scale": self._make(spec, "scale", np.float32),
            "kind": self._make(wave, "kind", np.uint8),
            "start": self._make(wave, "start", np.float64),
            "step": self._make(wave, "step", np.float64),
            "wave_offsets": self._make(wave, "offsets", np.int64),
        }
        self._n_pix = 0
        self._n_wave = 0
        self._ibuf: dict[str, list[Any]] = {k: [] for k in self._index}
        self._ibuf["offsets"].append(0)
        self._ibuf["wave_offsets"].append(0)
        self._rows: list[dict[str, Any]] = []  # rows added since the last table part
        self._meta_group = self._h5.create_group("meta_parts")  # metadata, in parts
        self._n_meta_parts = 0
        self._n_rows = 0
        self._report: list[dict[str, Any]] = []
        self._buf: dict[str, list[np.ndarray]] = {k: [] for k in self._ragged}
        self._buffered = 0
        self._closed = False

    def _make(self, group: h5py.Group, name: str, dtype: Any) -> h5py.Dataset:
        return group.create_dataset(
            name,
            shape=(0,),
            maxshape=(None,),
            dtype=dtype,
            chunks=(65536,),
            compression=self.compression,
            shuffle=self.compression is not None,
        )

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._h5.close()
            self._closed = True

    def __len__(self) -> int:
        return self._n_rows

    def add(
        self,
        wave: np.ndarray,
        flux: np.ndarray,
        ivar: np.ndarray,
        mask: np.ndarray,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one spectrum on its native grid.

        Parameters
        ----------
        wave : ndarray
            Strictly increasing vacuum wavelengths in Angstrom.
        flux, ivar : ndarray
            Flux and inverse variance, same length as ``wave``.
        mask : ndarray of bool
            True where a pixel is bad.
        meta : mapping, optional
            Scalar labels and identifiers; they become a row of the metadata table.
        """
        wave = np.asarray(wave, dtype=np.float64)
        flux = np.asarray(flux, dtype=np.float32)
        ivar = np.asarray(ivar, dtype=np.float32)
        mask = np.asarray(mask, dtype=bool)
        n = wave.size
        if wave.ndim != 1 or not (flux.shape == ivar.shape == mask.shape == (n,)):
            raise ValueError(
                f"wave, flux, ivar and mask must be 1-D of equal length, got shapes "
                f"{wave.shape}, {flux.shape}, {ivar.shape}, {mask.shape}"
            )
        kind, start, step = _grid.describe_grid(wave)
        self._ibuf["kind"].append(kind)
        self._ibuf["start"].append(start)
        self._ibuf["step"].append(step)
        if kind == _grid.EXPLICIT:
            self._buf["wave_values"].append(wave)
            self._n_wave += n
        self._ibuf["wave_offsets"].append(self._n_wave)
        if self.encoding == "float16":
            good = np.isfinite(flux) & ~mask
            scale = float(np.median(np.abs(flux[good]))) if good.any() else 1.0
            if not np.isfinite(scale) or scale <= 0:
                scale = 1.0
            flux_store = flux / scale
            ivar_store = _round_mantissa(np.sqrt(np.clip(ivar, 0, None)) * scale, 6)
        else:
            scale = 1.0
            flux_store, ivar_store = flux, ivar
        self._ibuf["scale"].append(scale)
        self._buf["flux"].append(flux_store)
        self._buf["ivar"].append(ivar_store)
        self._buf["mask"].append(mask.astype(np.uint8))
        self._n_pix += n
        self._ibuf["offsets"].append(self._n_pix)
        self._rows.append(dict(meta or {}))
        self._n_rows += 1
        self._buffered += n
        if self._buffered >= self.buffer_pixels:
            self._flush()
        if len(self._rows) >= _META_PART_ROWS:
            self._write_rows()

    def append_dataset(self, ds: SpectraDataset) -> None:
        """Append every spectrum, metadata row and report entry of another dataset.

        When both use the same encoding the stored arrays are copied in
        blocks without decoding, so merging is fast and lossless.
        """
        if ds.encoding != self.encoding:
            for i in range(len(ds)):
                a = ds.arrays(i)
                self.add(a["wave"], a["flux"], a["ivar"], a["mask"], ds.meta_row(i))
        else:
            self._flush()
            h5 = ds._file()
            block = max(self.buffer_pixels, 1)
            for key, name in (
                ("flux", "spectra/flux"),
                ("ivar", "spectra/ivar"),
                ("mask", "spectra/mask"),
                ("wave_values", "wave/values"),
            ):
                src = h5[name]
                for a in range(0, src.shape[0], block):
                    self._buf[key].append(src[a : a + block])
                    self._flush()
            self._ibuf["offsets"].append(ds._offsets[1:] + self._n_pix)
            self._n_pix += ds.n_pixels
            self._ibuf["wave_offsets"].append(ds._wave_offsets[1:] + self._n_wave)
            self._n_wave += int(ds._wave_offsets[-1])
            for key in ("scale", "kind", "start", "step"):
                self._ibuf[key].append(getattr(ds, "_" + key))
            # the other dataset's metadata goes to the file as a table part at once,
            # so merging many parts holds one part's metadata at a time
            self._write_rows()
            self._write_meta_part(ds.meta, len(ds))
            self._n_rows += len(ds)
            self._flush()
        for row in ds.ingest_report:
            self.add_report(row["path"], row["status"], row["reason"], row["n_spectra"])

    def add_report(self, path: str, status: str, reason: str = "", n_spectra: int = 0) -> None:
        """Record what happened to one source file (``status`` is ``"ok"`` or ``"failed"``)."""
        self._report.append(
            {"path": str(path), "status": status, "reason": reason, "n_spectra": int(n_spectra)}
        )

    def _flush(self) -> None:
        for key, ds in self._ragged.items():
            parts = self._buf[key]
            if not parts:
                continue
            data = np.concatenate(parts)
            old = ds.shape[0]
            ds.resize((old + data.size,))
            ds[old:] = data
            self._buf[key] = []
        self._buffered = 0
        for key, ds in self._index.items():
            parts = self._ibuf[key]
            if not parts:
                continue
            data = np.concatenate([np.atleast_1d(np.asarray(v)) for v in parts]).astype(ds.dtype)
            old = ds.shape[0]
            ds.resize((old + data.size,))
            ds[old:] = data
            self._ibuf[key] = []

    def _write_rows(self) -> None:
        """Write the rows added since the last part as a table part."""
        if self._rows:
            self._write_meta_part(rows_to_table(self._rows), len(self._rows))
            self._rows = []

    def _write_meta_part(self, table: Table, n_rows: int) -> None:
        if n_rows == 0:
            return
        if not table.colnames:  # rows without labels still count
            table = Table({_EMPTY: np.zeros(n_rows, dtype=bool)})
        _write_table(self._meta_group, f"{self._n_meta_parts:06d}", table)
        self._n_meta_parts += 1

    def close(self, attrs: Mapping[str, Any] | None = None) -> None:
        """Write the index arrays and tables and close the file."""
        if self._closed:
            return
        self._flush()
        self._write_rows()
        h5 = self._h5
        if self._n_meta_parts <= 1:  # one table, as version 1 wrote it
            if self._n_meta_parts == 1:
                for name in list(h5["meta_parts"]):  # the table and its column metadata
                    h5.move(f"meta_parts/{name}", name.replace("000000", "meta", 1))
            else:
                _write_table(h5, "meta", Table())
            del h5["meta_parts"]
        report = rows_to_table(self._report, columns=_REPORT_COLUMNS if self._report else None)
        if not self._report:
            report = Table(
                {
                    "path": np.array([], dtype="U1"),
                    "status": np.array([], dtype="U1"),
                    "reason": np.array([], dtype="U1"),
                    "n_spectra": np.array([], dtype=np.int64),
                }
            )
        _write_table(h5, "ingest_report", report)
        h5.attrs["n_spectra"] = self._n_rows
        for key, value in (attrs or {}).items():
            h5.attrs[key] = value
        h5.close()
        self._closed = True


# --------------------------------------------------------------------------- reader
