"""Reproducible splits: stratified train/validation/test parts, and one held-out fraction."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["stratified_split", "holdout_split"]


def stratified_split(
    labels: Sequence | np.ndarray,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Split indices into train/validation/test, keeping label proportions.

    Every class is shuffled (with ``seed``) and cut in the requested
    proportions, rounding by largest remainder, so each part holds every
    class in the same proportion to within one spectrum. A class with fewer
    members than there are parts goes to ``train`` whole; any other class
    gets at least one member in every part.

    Parameters
    ----------
    labels : array-like
        One label per item (strings or numbers).
    fractions : sequence of float
        ``(train, validation, test)`` or ``(train, test)``; positive, summing to 1.
    seed : int
        Random seed; the same labels and seed always give the same split.

    Returns
    -------
    dict of str to ndarray
        Sorted int64 index arrays ``train``, ``validation`` (three fractions only)
        and ``test``; together they cover every index exactly once.

    Examples
    --------
    >>> from spectromer.datasets import stratified_split
    >>> parts = stratified_split(["A"] * 10 + ["F"] * 10, fractions=(0.8, 0.2), seed=0)
    >>> len(parts["train"]), len(parts["test"])
    (16, 4)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    fr = [float(f) for f in fractions]
    if len(fr) not in (2, 3) or any(f <= 0 for f in fr) or not np.isclose(sum(fr), 1.0):
        raise ValueError(
            f"fractions must be 2 or 3 positive numbers summing to 1, got {tuple(fractions)}"
        )
    names = ["train", "test"] if len(fr) == 2 else ["train", "validation", "test"]
    k = len(fr)
    rng = np.random.default_rng(seed)
    values, inverse = np.unique(labels.astype(str), return_inverse=True)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for c in range(values.size):
        members = rng.permutation(np.flatnonzero(inverse == c))
        n = members.size
        if n < k:  # too rare to appear in every part: keep it for training
            parts["train"].append(members)
            continue
        exact = np.asarray(fr) * n
        counts = np.floor(exact).astype(int)
        # largest remainders get the leftover items (ties: earlier part first)
        for j in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
            counts[j] += 1
        while (counts == 0).any():  # every part gets at least one member
            counts[np.argmax(counts)] -= 1
            counts[np.argmin(counts)] += 1
        bounds = np.concatenate([[0], np.cumsum(counts)])
        for j, name in enumerate(names):
            parts[name].append(members[bounds[j] : bounds[j + 1]])
    return {
        name: np.sort(np.concatenate(p)).astype(np.int64) if p else np.array([], np.int64)
        for name, p in parts.items()
    }


def holdout_split(
    n_or_labels: int | Sequence | np.ndarray,
    fraction: float,
    seed: int = 0,
    *,
    stratify: bool = False,
    name: str = "fraction",
    what: str = "spectra",
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of the items at random: the one split of every learner.

    ``round(fraction * n)`` items are held out. With ``stratify`` (``n_or_labels`` are
    labels), scikit-learn's stratified shuffle keeps the class proportions, when every
    class has two members and there are at least as many held-out items as classes;
    otherwise (and without ``stratify``) the held-out items are the first of a
    permutation by ``numpy.random.default_rng(seed)``. The learners' validation sets and
    the benchmark's random test split use this function.

    Parameters
    ----------
    n_or_labels : int or array-like
        The number of items, or one label per item.
    fraction : float
        Fraction held out, in (0, 1).
    seed : int
        Random seed; the same input and seed always give the same split.
    stratify : bool
        Keep the label proportions (needs labels).
    name, what : str
        The argument and the items, for the error message.

    Returns
    -------
    kept, held_out : ndarray
        Sorted int64 index arrays covering every index exactly once.

    Raises
    ------
    ValueError
        When the fraction leaves no item on one side.

    Examples
    --------
    >>> from spectromer.datasets import holdout_split
    >>> kept, held = holdout_split(10, 0.2, seed=0)
    >>> len(kept), len(held)
    (8, 2)
    >>> kept, held = holdout_split([0] * 6 + [1] * 6, 0.5, seed=0, stratify=True)
    >>> sorted(int(i) // 6 for i in held)
    [0, 0, 0, 1, 1, 1]
    """
    labels = None if np.ndim(n_or_labels) == 0 else np.asarray(n_or_labels)
    n = int(n_or_labels) if labels is None else len(labels)
    n_out = int(round(float(fraction) * n))
    if n_out < 1 or n - n_out < 1:
        raise ValueError(
            f"{name}={fraction} leaves no held-out or no remaining {what} out of {n}; "
            f"use {'0 or ' if name == 'validation_fraction' else ''}more {what}"
        )
    if stratify:
        if labels is None:
            raise ValueError("stratify=True needs one label per item, not a count")
        _, codes = np.unique(labels, return_inverse=True)
        counts = np.bincount(codes.ravel())
        if counts.min() >= 2 and n_out >= len(counts):
            from sklearn.model_selection import train_test_split

            kept, held = train_test_split(
                np.arange(n), test_size=n_out, random_state=seed, stratify=codes.ravel()
            )
            return np.sort(kept).astype(np.int64), np.sort(held).astype(np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_out:]).astype(np.int64), np.sort(perm[:n_out]).astype(np.int64)
