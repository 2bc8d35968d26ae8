"""The domain a learner was trained on, and the warning when it is asked about another.

At ``fit`` the learner base records, in ``domain_``, what its training spectra were:
their surveys (where the input says: a dataset's ``survey`` column, or the ``survey``
of each ``Spectrum.meta``), their wavelength coverage (the 5th percentile of the first
and the 95th percentile of the last good wavelength of each spectrum) and the classes.
At prediction, :func:`domain_warning` says in one ``UserWarning`` how many spectra
come from another survey or reach beyond the trained wavelength range by more than
:data:`WAVELENGTH_MARGIN` of its width: a model trained on LAMOST stars labels a DESI
galaxy as confidently as a star, and nothing else would say so.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..spectra import ConcatSource, SpectrumSource, SubsetSource

__all__ = ["WAVELENGTH_MARGIN", "survey_labels", "wavelength_coverage", "training_domain",
           "domain_warning"]  # fmt: skip

#: How far (a fraction of the trained range's width) a spectrum may reach beyond it.
WAVELENGTH_MARGIN = 0.05
#: Spectra whose coverage is measured at ``fit`` (evenly spaced among the training ones).
_MAX_MEASURED = 2000


def survey_labels(X: Any, indices: Any = None) -> list[str | None] | None:
    """The survey of every spectrum of the input ``X`` (rows ``indices``), where known.

    A dataset's ``survey`` metadata column, the ``"survey"`` of each
    ``specutils.Spectrum``'s ``meta``, the parts of a list of datasets or sources;
    None where the input does not say (flux arrays, batches).

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.models.domain import survey_labels
    >>> survey_labels(load_sample(), [0, 1])
    ['LAMOST', 'LAMOST']
    >>> import numpy as np
    >>> survey_labels(np.ones((2, 3))) is None
    True
    """
    if isinstance(X, SubsetSource):
        rows = X.rows if indices is None else X.rows[np.asarray(indices, np.int64)]
        return survey_labels(X.parent, rows)
    if isinstance(X, ConcatSource) and indices is None:
        parts = [survey_labels(part) for part in X.sources]
        if any(p is None for p in parts):
            return None
        return [s for p in parts for s in p]
    meta = getattr(X, "meta", None)
    if meta is not None and hasattr(meta, "colnames") and not isinstance(X, SpectrumSource):
        if "survey" not in meta.colnames:
            return None
        column = np.asarray(meta["survey"])
        rows = np.arange(len(column)) if indices is None else np.asarray(indices, np.int64)
        return [_clean(v) for v in column[rows]]
    if indices is None and isinstance(X, (list, tuple)) and X:
        if all(hasattr(x, "spectral_axis") for x in X):  # Spectrum objects
            return [_clean(x.meta.get("survey")) if isinstance(x.meta, dict) else None
                    for x in X]  # fmt: skip
        parts = [survey_labels(x) for x in X]
        if any(p is None for p in parts):
            return None
        return [s for p in parts for s in p]
    if hasattr(X, "spectral_axis") and indices is None:  # one Spectrum
        return survey_labels([X])
    return None


def _clean(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    text = "" if value is None else str(value).strip()
    return text or None


def wavelength_coverage(source: SpectrumSource, rows: Any = None,
                        batch_size: int = 256) -> np.ndarray | None:  # fmt: skip
    """First and last good wavelength (Angstrom) of spectra ``rows`` of ``source``, ``(n, 2)``.

    NaN for a spectrum without good pixels; None when the source has no wavelengths
    (flux arrays given without a grid).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.spectra import as_source
    >>> from spectromer.models.domain import wavelength_coverage
    >>> flux = np.array([[np.nan, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, np.nan]])
    >>> wavelength_coverage(as_source(flux, wavelength=[4000, 5000, 6000, 7000])).tolist()
    [[5000.0, 7000.0], [4000.0, 6000.0]]
    """
    if not getattr(source, "has_wavelength", True):
        return None
    rows = np.arange(len(source)) if rows is None else np.asarray(rows, np.int64)
    out = np.full((rows.size, 2), np.nan)
    for start in range(0, rows.size, batch_size):
        b = source.batch(rows[start : start + batch_size])
        if not b.has_wavelength:
            return None
        good = b.good
        has = good.any(axis=1)
        first = good.argmax(axis=1)
        last = good.shape[1] - 1 - good[:, ::-1].argmax(axis=1)
        i = np.arange(len(b))
        chunk = np.stack([b.wave[i, first], b.wave[i, last]], axis=1)
        chunk[~has] = np.nan
        out[start : start + len(b)] = chunk
    return out


def training_domain(X: Any, source: SpectrumSource, indices: Any,
                    classes: Any = None) -> dict[str, Any]:  # fmt: skip
    """What a learner is trained on: surveys, wavelength range, classes (JSON-ready).

    Parameters
    ----------
    X, indices
        The training input as given to ``fit`` (for the surveys).
    source : SpectrumSource
        The training spectra (for the wavelengths; at most 2000 of them, evenly
        spaced, are measured).
    classes : array, optional
        The class labels.

    Returns
    -------
    dict
        ``surveys`` (sorted list, or None when the input does not say), ``wavelength``
        (``[low, high]`` in Angstrom: the 5th percentile of the first and the 95th of
        the last good wavelength, or None), ``n_spectra`` and, with ``classes``,
        ``classes``.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.models.domain import training_domain
    >>> from spectromer.spectra import as_source
    >>> ds = load_sample()
    >>> d = training_domain(ds, as_source(ds, indices=range(50)), range(50))
    >>> d["surveys"], [round(w) for w in d["wavelength"]]
    (['LAMOST'], [3700, 9099])
    """
    surveys = survey_labels(X, indices)
    n = len(source)
    measured = np.unique(np.linspace(0, n - 1, min(n, _MAX_MEASURED)).astype(np.int64))
    coverage = wavelength_coverage(source, measured) if n else None
    wavelength = None
    if coverage is not None and np.isfinite(coverage).all(axis=1).any():
        ok = coverage[np.isfinite(coverage).all(axis=1)]
        wavelength = [float(np.percentile(ok[:, 0], 5)), float(np.percentile(ok[:, 1], 95))]
    domain: dict[str, Any] = {
        "surveys": None if surveys is None or None in surveys else sorted(set(surveys)),
        "wavelength": wavelength,
        "n_spectra": int(n),
    }
    if classes is not None:
        domain["classes"] = np.asarray(classes).tolist()
    return domain


def domain_warning(domain: dict[str, Any] | None, X: Any, source: SpectrumSource,
                   indices: Any, who: str) -> str | None:  # fmt: skip
    """Warn (one ``UserWarning``) about the spectra of ``X`` outside the trained ``domain``.

    Counts the spectra of another survey than those of ``domain["surveys"]`` and those
    whose first or last good wavelength lies beyond ``domain["wavelength"]`` by more
    than :data:`WAVELENGTH_MARGIN` of its width. Returns the message (None: all inside,
    or nothing to compare).

    Examples
    --------
    >>> import warnings
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.models.domain import domain_warning
    >>> from spectromer.spectra import as_source
    >>> ds = load_sample()
    >>> domain = {"surveys": ["SDSS"], "wavelength": [3800.0, 9200.0]}
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     text = domain_warning(domain, ds, as_source(ds, indices=[0, 1]), [0, 1], "model")
    >>> len(seen), text.split(":")[0]
    (1, '2 of 2 spectra are unlike those model was trained on (SDSS, 3800-9200 Angstrom)')
    """
    if not domain:
        return None
    n = len(source)
    odd = np.zeros(n, bool)
    reasons = []
    trained = domain.get("surveys")
    if trained:
        surveys = survey_labels(X, indices)
        if surveys is not None:
            other = np.array([s is not None and s not in trained for s in surveys])
            if other.any():
                counts: dict[str, int] = {}
                for s in np.asarray(surveys, dtype=object)[other]:
                    counts[s] = counts.get(s, 0) + 1
                listed = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
                reasons.append(f"{int(other.sum())} from another survey ({listed})")
                odd |= other
    wave = domain.get("wavelength")
    if wave:
        coverage = wavelength_coverage(source)
        if coverage is not None:
            lo, hi = wave
            margin = WAVELENGTH_MARGIN * (hi - lo)
            with np.errstate(invalid="ignore"):
                beyond = (coverage[:, 0] < lo - margin) | (coverage[:, 1] > hi + margin)
            if beyond.any():
                reasons.append(
                    f"{int(beyond.sum())} reach beyond the trained wavelength range by more "
                    f"than {margin:.0f} Angstrom"
                )
                odd |= beyond
    if not odd.any():
        return None
    where = ", ".join(trained or []) or "unknown surveys"
    if wave:
        where += f", {wave[0]:.0f}-{wave[1]:.0f} Angstrom"
    message = (
        f"{int(odd.sum())} of {n} spectra are unlike those {who} was trained on ({where}): "
        f"{'; '.join(reasons)}. Its predictions for them are extrapolations, not to be trusted"
    )
    warnings.warn(message, UserWarning, stacklevel=_caller_level())
    return message


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside the spectromer package (the user's)."""
    import sys

    package = str(Path(__file__).resolve().parents[1])
    frame, level = sys._getframe(1), 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(package):
        frame, level = frame.f_back, level + 1
    return level
