"""The metadata tables of a dataset: rows of labels to a masked astropy Table, and
the tables' HDF5 storage (one ``meta`` table, or ``meta_parts/`` stacked in order)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np
from astropy.table import MaskedColumn, Table


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bytes, bool, int, float, np.generic)) and not isinstance(
        value, np.ndarray
    )


def _column_kind(values: list[Any]) -> str:
    kinds = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)):
            kinds.add("b")
        elif isinstance(v, (int, np.integer)):
            kinds.add("i")
        elif isinstance(v, (float, np.floating)):
            kinds.add("f")
        else:
            kinds.add("U")
    if not kinds:
        return "U"
    if kinds == {"b"}:
        return "b"
    if kinds <= {"i", "b"}:
        return "i"
    if kinds <= {"i", "f", "b"}:
        return "f"
    return "U"


def rows_to_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Table:
    """Turn a list of flat dicts into a masked astropy Table (union of keys).

    Non-scalar values (arrays, headers, nested tables) are dropped: the table
    holds labels and identifiers only.
    """
    if columns is None:
        columns = []
        seen = set()
        for row in rows:
            for key, value in row.items():
                if key not in seen and _is_scalar(value):
                    seen.add(key)
                    columns.append(key)
    table = Table()
    for name in columns:
        values = [row.get(name) if _is_scalar(row.get(name)) else None for row in rows]
        kind = _column_kind(values)
        missing = np.array([v is None for v in values], dtype=bool)
        if kind == "U":
            text = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
            data = np.array(["" if v is None else t for v, t in zip(values, text, strict=True)])
            if data.dtype.itemsize == 0:
                data = data.astype("U1")
        elif kind == "f":
            data = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        elif kind == "i":
            data = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
        else:
            data = np.array([False if v is None else bool(v) for v in values], dtype=bool)
        table[name] = MaskedColumn(data, mask=missing) if missing.any() else data
    return table


_EMPTY = "_empty"  # the column of a table part whose rows carry no labels
_COLUMN_META = ".__table_column_meta__"  # astropy's companion dataset of a table


def _write_table(group: h5py.Group, name: str, table: Table) -> None:
    from astropy.io.misc.hdf5 import write_table_hdf5

    if len(table.colnames) == 0:
        table = Table({_EMPTY: np.zeros(len(table), dtype=bool)})
    write_table_hdf5(table, group, path=name, serialize_meta=True, overwrite=True)


def _read_table(group: h5py.Group, name: str, keep_empty: bool = False) -> Table:
    """A table written by :func:`_write_table` (its ``_empty`` column kept if asked)."""
    from astropy.io.misc.hdf5 import read_table_hdf5

    if name not in group:
        return Table()
    table = read_table_hdf5(group, path=name)
    table.convert_bytestring_to_unicode()
    if table.colnames == [_EMPTY] and not keep_empty:
        table.remove_column(_EMPTY)
    return table


def _read_meta(h5: h5py.File) -> Table:
    """The metadata table: ``meta``, or the parts in ``meta_parts/`` stacked in order."""
    if "meta_parts" not in h5:
        return _read_table(h5, "meta")
    group = h5["meta_parts"]
    names = sorted(n for n in group if not n.endswith(_COLUMN_META))
    # a part of rows without labels keeps its _empty column: it holds the row count
    table = stack_tables([_read_table(group, name, keep_empty=True) for name in names])
    if _EMPTY in table.colnames:
        table.remove_column(_EMPTY)
    return table


def stack_tables(parts: Sequence[Table]) -> Table:
    """Stack metadata tables in order (union of columns, missing values masked).

    Examples
    --------
    >>> from astropy.table import Table
    >>> from spectromer.datasets._tables import stack_tables
    >>> t = stack_tables([Table({"z": [0.1]}), Table({"z": [0.2], "class": ["QSO"]})])
    >>> len(t), t.colnames
    (2, ['z', 'class'])
    """
    if len(parts) == 1:
        return parts[0]
    from astropy.table import vstack

    try:  # the usual case: parts with the same columns of the same kinds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # metadata merge notes
            kinds = [{c: t[c].dtype.kind for c in t.colnames} for t in parts]
            if any(k != kinds[0] for k in kinds[1:]):
                raise TypeError("column kinds differ")
            return vstack(list(parts), join_type="exact", metadata_conflicts="silent")
    except (TypeError, ValueError):  # different columns or kinds: as if added row by row
        rows = []
        for t in parts:
            names = t.colnames
            for r in t:
                rows.append(
                    {
                        n: (r[n].item() if hasattr(r[n], "item") else r[n])
                        for n in names
                        if not np.ma.is_masked(r[n])
                    }
                )
        return rows_to_table(rows)
