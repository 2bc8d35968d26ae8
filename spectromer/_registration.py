"""Registering spectromer with specutils when, and only when, specutils is imported.

``import spectromer`` must give ``Spectrum.read`` spectromer's readers and
every ``Spectrum`` a ``to_image()`` method, but importing specutils costs
seconds (astropy, scipy, gwcs, ndcube and matplotlib), which the command
line's ``--help`` must not pay.  :func:`register_with_specutils` therefore
registers at once if specutils is already imported, and otherwise installs a
one-shot import hook that registers right after ``import specutils`` (by
anyone) completes: before ``Spectrum.read`` can be called, as ``Spectrum``
comes from specutils.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

__all__ = ["register_with_specutils"]

#: The modules whose import registers spectromer with specutils: the readers
#: (:mod:`spectromer.io`) and ``Spectrum.to_image`` (:mod:`spectromer.imaging`).
_REGISTERING = ("spectromer.io", "spectromer.imaging")


def _register() -> None:
    """Import the registering modules (each registers itself on import).

    A module already in ``sys.modules`` is imported, or being imported, and
    registers when its import completes; importing it again here would see it
    half-initialised. :mod:`spectromer.imaging` installs ``Spectrum.to_image``
    on import only if specutils is already imported, so it is installed here
    (idempotently) for an imaging package imported before specutils.
    """
    for name in _REGISTERING:
        if name not in sys.modules:
            importlib.import_module(name)
    imaging = sys.modules["spectromer.imaging"]  # imported before specutils: install now
    if hasattr(imaging, "install_spectrum_method"):
        imaging.install_spectrum_method()


class _AfterSpecutils(importlib.abc.MetaPathFinder):
    """Finds nothing itself; makes the loader of ``specutils`` call `_register` after it."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "specutils":
            return None
        _uninstall()
        spec = importlib.util.find_spec(fullname)  # by the other finders
        loader = getattr(spec, "loader", None) if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_register(module: ModuleType) -> None:
            try:
                exec_module(module)
            finally:
                loader.__dict__.pop("exec_module", None)  # the loader is as it was
            _register()

        loader.exec_module = exec_then_register
        return spec


_HOOK = _AfterSpecutils()


def _uninstall() -> None:
    while _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def register_with_specutils() -> bool:
    """Register spectromer's readers and ``Spectrum.to_image`` with specutils.

    At once if specutils is imported, else as soon as it is.

    Returns
    -------
    bool
        True if registered now, False if deferred to the import of specutils.

    Examples
    --------
    >>> import specutils
    >>> from spectromer._registration import register_with_specutils
    >>> register_with_specutils()
    True
    >>> hasattr(specutils.Spectrum, "to_image")
    True
    """
    if "specutils" in sys.modules:
        _uninstall()
        _register()
        return True
    if _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
    return False
