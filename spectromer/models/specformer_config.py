"""Configurations of :class:`~spectromer.models.SpecFormer` as data (no PyTorch needed).

:class:`SpecFormerConfig` holds the architecture (the arguments AstroCLIP's ``SpecFormer``
records in its checkpoints' ``hyper_parameters``), and :data:`SPECFORMER_CONFIGS` the
named presets: ``"astroclip"``, the published configuration of AstroCLIP's spectrum
encoder (``configs/specformer.yaml`` of https://github.com/PolymathicAI/AstroCLIP: 6
blocks of width 768 with 6 heads, 800 positions, no dropout), and ``"small"``, a model
that trains on two CPU cores. This module imports nothing heavy, so estimators can
check these settings before PyTorch is imported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from typing import Any

__all__ = ["SpecFormerConfig", "SPECFORMER_CONFIGS"]


def _int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"SpecFormerConfig.{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"SpecFormerConfig.{name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class SpecFormerConfig:
    """The architecture of a :class:`~spectromer.models.SpecFormer`.

    The defaults are AstroCLIP's published architecture (arXiv:2310.03024) with the
    dropout of its class signature; the ``"astroclip"`` preset of
    :data:`SPECFORMER_CONFIGS` is the published training configuration (dropout 0).

    Parameters
    ----------
    input_dim : int
        Values per token: a window of ``slice_section_length`` pixels left-padded with
        two zeros (the two slots that the first token uses for the spectrum's mean and
        standard deviation), so it must be ``slice_section_length + 2``.
    embed_dim : int
        Width of the transformer.
    num_layers : int
        Number of transformer blocks.
    num_heads : int
        Attention heads; ``embed_dim`` must be a multiple of it.
    max_len : int
        Number of learned positions: the most tokens a spectrum may give.
    dropout : float
        Dropout after the embedding, on the attention weights, and on the attention and
        MLP outputs (training only), in [0, 1).
    norm_first : bool
        Pre-norm blocks (``x + f(norm(x))``), as AstroCLIP's blocks always are; False
        gives post-norm blocks (``norm(x + f(x))``) with the same parameters. AstroCLIP's
        checkpoints record ``norm_first=False``, a setting its blocks never read, so
        :meth:`SpecFormer.from_astroclip_checkpoint
        <spectromer.models.SpecFormer.from_astroclip_checkpoint>` ignores it.
    slice_section_length : int
        Pixels per window.
    slice_overlap : int
        Pixels shared by neighbouring windows (the stride is
        ``slice_section_length - slice_overlap``).

    Raises
    ------
    TypeError, ValueError
        For a setting of the wrong type or out of range, naming it.

    Examples
    --------
    >>> from spectromer.models import SpecFormerConfig
    >>> config = SpecFormerConfig(embed_dim=8, num_layers=1, num_heads=2)
    >>> config.stride, config.mlp_dim
    (10, 32)
    >>> SpecFormerConfig(embed_dim=10, num_heads=4)
    Traceback (most recent call last):
    ...
    ValueError: SpecFormerConfig.embed_dim (10) must be a multiple of num_heads (4)
    """

    input_dim: int = 22
    embed_dim: int = 768
    num_layers: int = 6
    num_heads: int = 6
    max_len: int = 800
    dropout: float = 0.1
    norm_first: bool = True
    slice_section_length: int = 20
    slice_overlap: int = 10

    def __post_init__(self) -> None:
        for name in ("embed_dim", "num_layers", "num_heads", "max_len", "slice_section_length"):
            _int(name, getattr(self, name), 1)
        _int("input_dim", self.input_dim, 3)
        _int("slice_overlap", self.slice_overlap, 0)
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"SpecFormerConfig.embed_dim ({self.embed_dim}) must be a multiple of "
                f"num_heads ({self.num_heads})"
            )
        if self.slice_overlap >= self.slice_section_length:
            raise ValueError(
                f"SpecFormerConfig.slice_overlap ({self.slice_overlap}) must be smaller than "
                f"slice_section_length ({self.slice_section_length})"
            )
        if self.input_dim != self.slice_section_length + 2:
            raise ValueError(
                f"SpecFormerConfig.input_dim ({self.input_dim}) must be slice_section_length + 2 "
                f"({self.slice_section_length + 2}): each window is left-padded with two zeros"
            )
        dropout = self.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
            raise ValueError(f"SpecFormerConfig.dropout must be in [0, 1), got {dropout!r}")
        if not isinstance(self.norm_first, bool):
            raise TypeError(f"SpecFormerConfig.norm_first must be a bool, not {self.norm_first!r}")

    @property
    def stride(self) -> int:
        """Pixels between the starts of neighbouring windows."""
        return self.slice_section_length - self.slice_overlap

    @property
    def mlp_dim(self) -> int:
        """Hidden width of each block's MLP (4 x ``embed_dim``)."""
        return 4 * self.embed_dim

    def n_tokens(self, n_pixels: int) -> int:
        """Tokens of a spectrum of ``n_pixels`` pixels: the statistics token and the windows.

        AstroCLIP's windows start every ``stride`` pixels below ``n_pixels -
        slice_overlap``, and the last of them is always dropped (its test for a short
        window looks at the channel axis, so it drops a full last window too when
        ``n_pixels - slice_overlap`` is a multiple of the stride). For the published 20/10
        windows that is ``1 + floor((n_pixels - 20) / 10) + 1`` tokens, one fewer when
        ``n_pixels`` is a multiple of 10; DESI's 7781 pixels give 778.

        Parameters
        ----------
        n_pixels : int
            Pixels of the spectrum.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            When the spectrum is too short for one window (``n_pixels <=
            slice_section_length``).

        Examples
        --------
        >>> from spectromer.models import SpecFormerConfig
        >>> SpecFormerConfig().n_tokens(7781), SpecFormerConfig().n_tokens(65)
        (778, 6)
        """
        n_pixels = int(n_pixels)
        windows = math.ceil((n_pixels - self.slice_overlap) / self.stride) - 1
        if windows < 1:
            raise ValueError(
                f"a spectrum of {n_pixels} pixels is too short for SpecFormer: it needs more "
                f"than slice_section_length={self.slice_section_length} pixels"
            )
        return 1 + windows

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (``SpecFormerConfig(**d)`` rebuilds it).

        Returns
        -------
        dict

        Examples
        --------
        >>> from spectromer.models import SPECFORMER_CONFIGS, SpecFormerConfig
        >>> d = SPECFORMER_CONFIGS["small"].to_dict()
        >>> d["embed_dim"], SpecFormerConfig(**d) == SPECFORMER_CONFIGS["small"]
        (128, True)
        """
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of the settings, in order.

        Returns
        -------
        tuple of str

        Examples
        --------
        >>> from spectromer.models import SpecFormerConfig
        >>> SpecFormerConfig.field_names()[:3]
        ('input_dim', 'embed_dim', 'num_layers')
        """
        return tuple(f.name for f in fields(cls))


#: Named configurations: ``"astroclip"`` is the published one (the architecture of the
#: released ``specformer.ckpt``, trained without dropout); ``"small"`` (width 128, 2
#: blocks, 4 heads) trains on two CPU cores.
SPECFORMER_CONFIGS: dict[str, SpecFormerConfig] = {
    "astroclip": SpecFormerConfig(dropout=0.0),
    "small": SpecFormerConfig(embed_dim=128, num_layers=2, num_heads=4),
}
