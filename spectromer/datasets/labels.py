"""Labels derived at ingest time from the surveys' own classifications."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["stellar_type", "derive_labels"]

# MK spectral letters, with the numeric subtype that follows them; the
# luminosity class (V, IV, III, ...) and any catalogue number after it are dropped.
_MK = re.compile(r"^\s*([OBAFGKML])\s*(\d(?:\.\d+)?)?")


def stellar_type(subclass: str | None) -> tuple[str | None, str | None]:
    """Spectral letter and subtype of a stellar subclass string.

    Parameters
    ----------
    subclass : str or None
        A survey subclass such as ``"G3"``, ``"A1V"``, ``"K1 (108123)"`` or
        ``"F9IV"``.

    Returns
    -------
    type, subtype : str or None
        ``("G", "G3")`` for ``"G3"``; the subtype keeps only the integer part
        (``"F5.5"`` gives ``"F5"``). ``(None, None)`` where the string is not an
        MK type (``"Carbon"``, ``"WD"``, ``"STARFORMING"``); ``("K", None)`` where
        there is a letter but no digit.

    Examples
    --------
    >>> from spectromer.datasets.labels import stellar_type
    >>> stellar_type("A1IV")
    ('A', 'A1')
    >>> stellar_type("K1 (108123)")
    ('K', 'K1')
    >>> stellar_type("Carbon")
    (None, None)
    """
    if not subclass:
        return None, None
    m = _MK.match(str(subclass).upper())
    if m is None:
        return None, None
    # a following letter means a word such as "CARBON" or "GALAXY", not an MK type
    rest = str(subclass).upper()[m.end() :]
    if m.group(2) is None and rest[:1].isalpha() and not rest.startswith(("I", "V")):
        return None, None
    letter = m.group(1)
    if m.group(2) is None:
        return letter, None
    return letter, f"{letter}{int(float(m.group(2)))}"


def derive_labels(meta: dict[str, Any]) -> dict[str, Any]:
    """Add ``type`` and ``subtype`` to the metadata of a star (in place, and return it).

    Only spectra whose ``class`` is ``STAR`` (or that have no class) get stellar
    labels; galaxies and quasars keep the survey's labels only.

    Examples
    --------
    >>> from spectromer.datasets.labels import derive_labels
    >>> derive_labels({"class": "STAR", "subclass": "F5"})
    {'class': 'STAR', 'subclass': 'F5', 'type': 'F', 'subtype': 'F5'}
    """
    cls = str(meta.get("class") or "STAR").strip().upper()
    if cls == "STAR":
        letter, sub = stellar_type(meta.get("subclass"))
        if letter is not None:
            meta["type"] = letter
        if sub is not None:
            meta["subtype"] = sub
    return meta
