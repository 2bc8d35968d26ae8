"""Merging dataset shards: what ingest and the simulator both write in parts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.atomic import atomic_path
from .dataset import DatasetWriter, SpectraDataset

__all__ = ["merge_datasets", "report_rows"]


def merge_datasets(
    parts: Sequence[Path],
    out: Path,
    encoding: str,
    compression: str | None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Merge dataset files into ``out`` (atomically); the last report entry per file wins.

    ``attrs`` are written as file attributes of ``out``.
    """
    last_status: dict[str, tuple[int, int]] = {}
    reports = []
    for k, part in enumerate(parts):
        rep = SpectraDataset(part).ingest_report
        reports.append(rep)
        for j, p in enumerate(np.asarray(rep["path"]).astype(str) if len(rep) else []):
            last_status[p] = (k, j)
    with atomic_path(out) as tmp:
        with DatasetWriter(tmp, encoding=encoding, compression=compression) as writer:
            for part in parts:
                with SpectraDataset(part) as ds:
                    writer.append_dataset(ds)
            # keep only the newest report entry of each file (a retried failure)
            writer._report = [
                entry
                for k, rep in enumerate(reports)
                for j, entry in enumerate(report_rows(rep))
                if last_status.get(entry["path"]) == (k, j)
            ]
            writer.close(attrs=attrs)


def report_rows(rep: Any) -> list[dict[str, Any]]:
    """The rows of an ``ingest_report`` table as plain dicts."""
    return [
        {
            "path": str(r["path"]),
            "status": str(r["status"]),
            "reason": str(r["reason"]),
            "n_spectra": int(r["n_spectra"]),
        }
        for r in rep
    ]
