"""The image kinds as data: one :class:`ImageKind` entry per kind, with all its facts.

An entry says whether the kind lays values out in blocks or draws lines, how many
channels its images have (and whether a colour map changes that), its default
normalisation, its renderer, and the published per-spectrum renderer of
:mod:`spectromer.imaging.reference` if there is one. Everything else is derived
from the entries: :data:`KINDS`, :data:`BLOCK_KINDS`,
:data:`~spectromer.imaging.reference.REFERENCE_KINDS`, and the kind-dependent
properties of :class:`~spectromer.imaging.RenderConfig` (``is_block``, ``norm``,
``channels``).

Adding a kind is one registration, :func:`register_kind`, which gives the facts and
the renderer at once (the built-in kinds are registered so in
:mod:`spectromer.imaging.kinds`). This module imports nothing else of
:mod:`spectromer.imaging`, so that both the configuration and the renderers can
use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ImageKind",
    "register_kind",
    "unregister_kind",
    "register_reference",
    "get_kind",
    "image_kinds",
    "KINDS",
    "BLOCK_KINDS",
]


@dataclass(frozen=True)
class ImageKind:
    """One image kind: its facts and its renderer.

    Calling the entry renders: ``kind(values, config)`` is ``kind.render(values,
    config)``.

    Parameters
    ----------
    name : str
        The ``kind=`` of :class:`~spectromer.imaging.RenderConfig`.
    render : callable
        ``render(values, config)`` with the batch's
        :class:`~spectromer.imaging.kinds.Values`: a block kind returns a list of
        per-value channels, each (N, M) in [0, 1] or None (all 0); a line kind returns
        a :class:`~spectromer.imaging.kinds.Palette`.
    is_block : bool
        Whether the kind lays values out in blocks (otherwise it draws lines).
    channels : int
        Image channels, without the optional mask channel.
    colormap : bool
        Whether the kind colours values with ``RenderConfig.cmap``; ``cmap=None`` then
        gives one grey channel.
    normalization : str
        The normalisation used when ``RenderConfig.normalization`` is None.
    reference : callable, optional
        The published per-spectrum renderer
        ``reference(wave, flux, size, block_size, fill_order, interpolate)`` (see
        :func:`~spectromer.imaging.reference.render_reference`).

    Examples
    --------
    >>> from spectromer.imaging.registry import get_kind
    >>> kind = get_kind("map2d")
    >>> kind.is_block, kind.normalization, kind.n_channels(), kind.n_channels(True, cmap=None)
    (True, 'fixed', 3, 2)
    """

    name: str
    render: Callable[[Any, Any], Any]
    is_block: bool = True
    channels: int = 3
    colormap: bool = False
    normalization: str = "minmax"
    reference: Callable[..., Any] | None = None

    def n_channels(self, mask_channel: bool = False, cmap: str | None = "viridis") -> int:
        """Channels of the images for these options (the mask channel included).

        Examples
        --------
        >>> from spectromer.imaging.registry import get_kind
        >>> get_kind("map2dnormaldev").n_channels(mask_channel=True)
        4
        """
        base = 1 if (self.colormap and cmap is None) else self.channels
        return base + int(bool(mask_channel))

    def __call__(self, values: Any, config: Any) -> Any:
        return self.render(values, config)


_KINDS: dict[str, ImageKind] = {}


def register_kind(
    name: str,
    block: bool = True,
    *,
    channels: int = 3,
    colormap: bool = False,
    normalization: str = "minmax",
    replace: bool = False,
) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    """Register a kind: its facts, and the renderer it decorates.

    Parameters
    ----------
    name : str
        The new ``kind=``.
    block : bool
        Whether it lays values out in blocks (the renderer returns per-value channels)
        or draws lines (it returns a :class:`~spectromer.imaging.kinds.Palette`).
    channels : int
        Image channels without the mask channel.
    colormap : bool
        Whether ``RenderConfig.cmap`` colours it (``cmap=None``: one grey channel).
    normalization : str
        Its default normalisation, one of :data:`~spectromer.imaging.NORMALIZATIONS`.
    replace : bool
        Allow replacing a registered kind of that name.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import KINDS, RenderConfig, render
    >>> from spectromer.imaging.registry import register_kind, unregister_kind
    >>> @register_kind("fluxgrey", channels=1)
    ... def fluxgrey(values, config):  # flux over its maximum, one grey channel
    ...     x = np.where(values.inside, values.values, 0.0)
    ...     return [x / np.maximum(x.max(axis=1, keepdims=True), 1e-30)]
    >>> "fluxgrey" in KINDS, RenderConfig(kind="fluxgrey").channels
    (True, 1)
    >>> render(load_sample(), indices=[0, 1], kind="fluxgrey", size=16).shape
    (2, 16, 16, 1)
    >>> unregister_kind("fluxgrey")
    >>> "fluxgrey" in KINDS
    False
    """
    from .config import NORMALIZATIONS  # config imports this module: import when used

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {NORMALIZATIONS}, got {normalization!r} (kind {name!r})"
        )
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive int, got {channels!r} (kind {name!r})")
    if name in _KINDS and not replace:
        raise ValueError(f"kind {name!r} is already registered; pass replace=True to replace it")

    def deco(func: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        _KINDS[name] = ImageKind(
            name, func, bool(block), int(channels), bool(colormap), normalization
        )
        return func

    return deco


def unregister_kind(name: str) -> None:
    """Remove a registered kind (see the example of :func:`register_kind`).

    Examples
    --------
    >>> from spectromer.imaging.registry import unregister_kind
    >>> unregister_kind("no such kind")
    Traceback (most recent call last):
    ...
    ValueError: unknown kind 'no such kind'; available: plot, overlapsplit, ...
    """
    get_kind(name)
    del _KINDS[name]


def register_reference(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach the published per-spectrum renderer of kind ``name`` (decorator).

    Used by :mod:`spectromer.imaging.reference`; the function is called as
    ``func(wave, flux, size, block_size, fill_order, interpolate)`` and returns the
    (H, W, 3) uint8 image.

    Examples
    --------
    >>> from spectromer.imaging.registry import get_kind
    >>> get_kind("roi").reference is not None  # attached by spectromer.imaging.reference
    True
    """

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        _KINDS[name] = dataclasses.replace(get_kind(name), reference=func)
        return func

    return deco


def get_kind(name: str) -> ImageKind:
    """The registered entry of kind ``name``.

    Raises
    ------
    ValueError
        No kind of that name is registered (the message lists those that are).

    Examples
    --------
    >>> from spectromer.imaging.registry import get_kind
    >>> get_kind("plot").is_block
    False
    """
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown kind {name!r}; available: {', '.join(_KINDS)}") from None


def image_kinds() -> tuple[ImageKind, ...]:
    """Every registered kind, in registration order.

    Examples
    --------
    >>> from spectromer.imaging.registry import image_kinds
    >>> [k.name for k in image_kinds() if k.colormap]
    ['map2d']
    """
    return tuple(_KINDS.values())


class KindNames(Sequence):
    """The names of the registered kinds that pass a test: a live, read-only sequence.

    It behaves as a tuple of names (``in``, iteration, indexing, ``len``, equality with
    tuples) and follows the registry: a kind registered later is in it.

    Examples
    --------
    >>> from spectromer.imaging.registry import BLOCK_KINDS
    >>> BLOCK_KINDS
    ('map2d', 'map2dnormal', 'map2dnormaldev', 'roi')
    >>> "plot" in BLOCK_KINDS, BLOCK_KINDS == tuple(BLOCK_KINDS)
    (False, True)
    """

    def __init__(self, where: Callable[[ImageKind], bool]) -> None:
        self._where = where

    def _names(self) -> tuple[str, ...]:
        return tuple(k.name for k in _KINDS.values() if self._where(k))

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in _KINDS and self._where(_KINDS[name])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, KindNames)):
            return self._names() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment] - it changes with the registry

    def __repr__(self) -> str:
        return repr(self._names())


#: Image representations (see :func:`spectromer.imaging.render`), in registration order.
KINDS = KindNames(lambda kind: True)
#: Block kinds lay values out in blocks; the others draw lines.
BLOCK_KINDS = KindNames(lambda kind: kind.is_block)
