"""Transforms of regression targets that a benchmark trains every model on.

A redshift regressor is often better trained on :math:`\\log(1+z)` than on :math:`z`: the
distribution of a survey's redshifts is skewed (many galaxies below 0.7, a tail of
quasars to 4 and beyond), and the errors that matter grow like :math:`1+z` (the
``sigma_nmad`` and outlier metrics divide by it). :func:`run_benchmark
<spectromer.evaluation.run_benchmark>` with ``target_transform="log1p"`` fits every
model on the transformed targets and turns their predictions back before any metric,
so all models see the same targets and are scored in the targets' own units.

The transforms are data: :data:`TARGET_TRANSFORMS` maps a name to a
:class:`TargetTransform`; a new one is one more entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["TARGET_TRANSFORMS", "TargetTransform", "target_transform"]


@dataclass(frozen=True)
class TargetTransform:
    """A transform of regression targets, its inverse and the values it accepts.

    Parameters
    ----------
    name : str
        Its name in :data:`TARGET_TRANSFORMS`.
    forward, inverse : callable
        Element-wise functions of arrays: targets to training targets, and back.
    description : str
        What it computes, for the results (``"log(1 + y)"``).
    lower : float, optional
        Targets must be above this (exclusive); None: any finite number.

    Examples
    --------
    >>> import numpy as np
    >>> t = TARGET_TRANSFORMS["log1p"]
    >>> z = np.array([0.0, 0.5, 3.0])
    >>> bool(np.allclose(t.inverse(t.apply(z, "z")), z))
    True
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    description: str
    lower: float | None = None

    def apply(self, values: np.ndarray, name: str = "targets") -> np.ndarray:
        """The transformed ``values``; refuse values outside its domain, naming ``name``.

        Parameters
        ----------
        values : array-like
            Finite targets.
        name : str
            What they are, for the error (a label column, ``"y_train"``).

        Returns
        -------
        ndarray of float

        Examples
        --------
        >>> import numpy as np
        >>> TARGET_TRANSFORMS["log1p"].apply(np.array([0.0, np.e - 1]), "z").round(6).tolist()
        [0.0, 1.0]
        >>> TARGET_TRANSFORMS["log1p"].apply(np.array([-1.0, 0.2]), "z")
        Traceback (most recent call last):
        ...
        ValueError: z: target_transform='log1p' needs values above -1; 1 of 2 are not (smallest -1)
        """
        y = np.asarray(values, dtype=np.float64)
        if self.lower is not None:
            bad = ~(y > self.lower)
            if bad.any():
                raise ValueError(
                    f"{name}: target_transform={self.name!r} needs values above "
                    f"{self.lower:g}; {int(bad.sum())} of {y.size} are not "
                    f"(smallest {np.nanmin(y):g})"
                )
        return self.forward(y)


#: The transforms by name.
TARGET_TRANSFORMS: dict[str, TargetTransform] = {
    "log1p": TargetTransform("log1p", np.log1p, np.expm1, "log(1 + y)", lower=-1.0),
}


def target_transform(name: str | None) -> TargetTransform | None:
    """The :class:`TargetTransform` called ``name`` (None: no transform).

    Parameters
    ----------
    name : str or None
        A key of :data:`TARGET_TRANSFORMS`.

    Returns
    -------
    TargetTransform or None

    Examples
    --------
    >>> target_transform("log1p").description
    'log(1 + y)'
    >>> target_transform(None) is None
    True
    >>> target_transform("sqrt")
    Traceback (most recent call last):
    ...
    ValueError: target_transform must be None or one of ['log1p'], got 'sqrt'
    """
    if name is None:
        return None
    if name not in TARGET_TRANSFORMS:
        raise ValueError(
            f"target_transform must be None or one of {sorted(TARGET_TRANSFORMS)}, got {name!r}"
        )
    return TARGET_TRANSFORMS[name]
