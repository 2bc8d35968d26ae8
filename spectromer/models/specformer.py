"""SpecFormer: AstroCLIP's spectrum transformer, re-implemented and checkpoint-compatible.

Written from the AstroCLIP paper (Parker et al. 2024, MNRAS 531, 4990; arXiv:2310.03024)
and its published configuration. A spectrum of ``L`` raw flux values becomes tokens:

1. standardised by its own mean and unbiased standard deviation (the latter clipped
   below at 0.2);
2. cut into windows of 20 pixels every 10 pixels (windows start below ``L - 10``, the
   last one dropped: :meth:`SpecFormerConfig.n_tokens
   <spectromer.models.SpecFormerConfig.n_tokens>`), each left-padded with two zeros to
   22 values;
3. preceded by one token ``[(mean - 2) / 2, (std - 2) / 8, 0, ..., 0]``.

The tokens are embedded linearly, learned position embeddings added (800 positions),
passed through pre-norm transformer blocks (fused ``q, k, v`` projection, softmax
attention, an exact-GELU MLP of 4 x the width), a final LayerNorm and a linear head back
to 22 values. ``forward`` returns, as AstroCLIP's does, ``{"embedding": (B, T, width),
"reconstructions": (B, T, 22)}``; the embedding is taken *after* the final LayerNorm
(the head's input), which is what AstroCLIP's spectrum head and probes use.

The parameter names and shapes are those of AstroCLIP's checkpoints, so
:meth:`SpecFormer.from_astroclip_checkpoint` loads the released ``specformer.ckpt``
(https://huggingface.co/polymathic-ai/specformer) and the spectrum backbone
(``spectrum_encoder.backbone.*``) of the full ``astroclip.ckpt``
(https://huggingface.co/polymathic-ai/astroclip); :meth:`SpecFormer.from_pretrained`
downloads them. The published weights were trained on DESI's 7781-pixel grid (778
tokens).

This module needs PyTorch; ``import spectromer.models`` does not import it until
``SpecFormer`` is first used.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import types
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .factory import _key_list
from .specformer_config import SPECFORMER_CONFIGS, SpecFormerConfig
from .weights import PretrainedWeightsUnavailable, hub_offline, hub_reachable

# SpecFormerConfig and SPECFORMER_CONFIGS are importable from here too; they are
# documented once, in spectromer.models (their module is specformer_config).
__all__ = [
    "SpecFormer",
    "PUBLISHED_CHECKPOINTS",
    "tokenize",
]

log = logging.getLogger(__name__)

#: Where the published weights are: name -> (Hugging Face repository, file).
#: ``"specformer"`` is the masked-modelling pretrained spectrum encoder; ``"astroclip"``
#: the full CLIP-aligned model, of which only ``spectrum_encoder.backbone.*`` is read
#: (AstroCLIP keeps that backbone frozen during the alignment).
PUBLISHED_CHECKPOINTS: dict[str, tuple[str, str]] = {
    "specformer": ("polymathic-ai/specformer", "specformer.ckpt"),
    "astroclip": ("polymathic-ai/astroclip", "astroclip.ckpt"),
}

#: Prefix of the SpecFormer tensors in the state dict of the full AstroCLIP model.
ASTROCLIP_BACKBONE_PREFIX = "spectrum_encoder.backbone."


class _SelfAttention(nn.Module):
    """Multi-head self-attention with one fused ``q, k, v`` projection (``attention``)."""

    def __init__(self, config: SpecFormerConfig) -> None:
        super().__init__()
        width = config.embed_dim
        self.num_heads = config.num_heads
        self.dropout = config.dropout
        self.attention = nn.Linear(width, 3 * width)  # rows: q, then k, then v
        self.projection = nn.Linear(width, width)
        self.residual_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        batch, tokens, width = x.shape
        heads = self.num_heads
        q, k, v = (
            part.reshape(batch, tokens, heads, width // heads).transpose(1, 2)
            for part in self.attention(x).split(width, dim=-1)
        )
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=keys, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).reshape(batch, tokens, width)
        return self.residual_dropout(self.projection(y))


class _MLP(nn.Module):
    """``decoder(gelu(encoder(x)))``, then dropout."""

    def __init__(self, config: SpecFormerConfig) -> None:
        super().__init__()
        self.encoder = nn.Linear(config.embed_dim, config.mlp_dim)
        self.decoder = nn.Linear(config.mlp_dim, config.embed_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.decoder(F.gelu(self.encoder(x))))


class _Block(nn.Module):
    """A transformer block: LayerNorm, self-attention, LayerNorm, MLP."""

    def __init__(self, config: SpecFormerConfig) -> None:
        super().__init__()
        self.norm_first = config.norm_first
        self.layernorm1 = nn.LayerNorm(config.embed_dim)
        self.attention = _SelfAttention(config)
        self.layernorm2 = nn.LayerNorm(config.embed_dim)
        self.mlp = _MLP(config)

    def forward(self, x: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        if self.norm_first:
            x = x + self.attention(self.layernorm1(x), keys)
            return x + self.mlp(self.layernorm2(x))
        x = self.layernorm1(x + self.attention(x, keys))
        return self.layernorm2(x + self.mlp(x))


class SpecFormer(nn.Module):
    """AstroCLIP's spectrum transformer, with its checkpoints' parameter names.

    Parameters
    ----------
    config : SpecFormerConfig or str, optional
        The architecture, or the name of a preset of :data:`SPECFORMER_CONFIGS`
        (``"astroclip"``, the published one, by default; ``"small"``).
    **overrides
        Settings of :class:`SpecFormerConfig` that replace those of ``config``
        (``SpecFormer("small", num_layers=1)``).

    Attributes
    ----------
    config : SpecFormerConfig
        The architecture.
    data_embed, position_embed, blocks, final_layernorm, head : torch.nn.Module
        The token embedding (``Linear(22, width)``), the learned positions
        (``Embedding(max_len, width)``), the transformer blocks (each ``layernorm1``,
        ``attention.attention`` (fused q, k, v), ``attention.projection``,
        ``layernorm2``, ``mlp.encoder``, ``mlp.decoder``), the final LayerNorm and the
        head (``Linear(width, 22)``): the names and shapes of AstroCLIP's state dict.

    Raises
    ------
    KeyError
        For an unknown preset name.
    TypeError, ValueError
        For bad settings (see :class:`SpecFormerConfig`).

    Notes
    -----
    The weights are initialised as AstroCLIP initialises them: the token and position
    embeddings from a normal distribution of standard deviation ``1 / sqrt(width)``
    truncated at 3 sigma, the linear layers of the blocks with ``1 / sqrt(2 * fan_in *
    num_layers)`` and the head with ``1 / sqrt(fan_in)`` (biases zero), LayerNorms at
    one and zero. Seed with :func:`torch.manual_seed` for reproducible weights.

    Examples
    --------
    A tiny model on a batch of two 65-pixel spectra (6 tokens each):

    >>> import torch
    >>> from spectromer.models import SpecFormer, SpecFormerConfig
    >>> _ = torch.manual_seed(0)
    >>> model = SpecFormer(SpecFormerConfig(embed_dim=8, num_layers=1, num_heads=2))
    >>> out = model(torch.rand(2, 65))
    >>> out["embedding"].shape, out["reconstructions"].shape
    (torch.Size([2, 6, 8]), torch.Size([2, 6, 22]))

    The published architecture has about 43 million parameters:

    >>> big = SpecFormer("astroclip")
    >>> round(sum(p.numel() for p in big.parameters()) / 1e6, 1)
    43.2
    >>> big.config.n_tokens(7781)
    778
    """

    def __init__(self, config: SpecFormerConfig | str = "astroclip", **overrides: Any) -> None:
        super().__init__()
        config = _as_config(config)
        if overrides:
            config = replace(config, **overrides)
        self.config = config
        self.data_embed = nn.Linear(config.input_dim, config.embed_dim)
        self.position_embed = nn.Embedding(config.max_len, config.embed_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.num_layers))
        self.final_layernorm = nn.LayerNorm(config.embed_dim)
        self.head = nn.Linear(config.embed_dim, config.input_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the weights as AstroCLIP does (see the class notes).

        Examples
        --------
        >>> from spectromer.models import SpecFormer
        >>> model = SpecFormer("small", num_layers=1)
        >>> model.reset_parameters()
        >>> int(model.blocks[0].attention.attention.bias.count_nonzero())
        0
        """

        def truncated(weight: torch.Tensor, std: float) -> None:
            nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-3 * std, b=3 * std)

        for embedding in (self.data_embed, self.position_embed):
            truncated(embedding.weight, 1 / math.sqrt(self.config.embed_dim))
        for depth, modules in ((self.config.num_layers, self.blocks.modules()), (0.5, [self.head])):
            for module in modules:
                if isinstance(module, nn.Linear):
                    truncated(module.weight, 1 / math.sqrt(2 * module.in_features * depth))
                    nn.init.zeros_(module.bias)
                elif isinstance(module, nn.LayerNorm):
                    module.reset_parameters()
        self.final_layernorm.reset_parameters()

    # ------------------------------------------------------------------ forward pass

    def tokenize(self, flux: torch.Tensor) -> torch.Tensor:
        """The tokens of raw spectra: standardised, windowed, padded, statistics first.

        Parameters
        ----------
        flux : torch.Tensor
            Raw flux, ``(B, L)`` or ``(B, L, 1)``, finite. Cast to the model's dtype.

        Returns
        -------
        torch.Tensor
            ``(B, T, input_dim)`` with ``T = config.n_tokens(L)``: token 0 is
            ``[(mean - 2) / 2, (std - 2) / 8, 0, ...]``, token ``i`` is two zeros and the
            standardised pixels ``10 (i - 1) ... 10 (i - 1) + 19``.

        Raises
        ------
        ValueError
            For another shape, or a spectrum too short for one window.

        Examples
        --------
        >>> import torch
        >>> from spectromer.models import SpecFormer
        >>> model = SpecFormer("small", num_layers=1)
        >>> tokens = model.tokenize(torch.arange(65.0)[None])
        >>> tokens.shape
        torch.Size([1, 6, 22])
        >>> tokens[0, 0, :3]  # (mean - 2) / 2, (std - 2) / 8: mean 32, std 18.908
        tensor([15.0000,  2.1135,  0.0000])
        """
        return tokenize(self._as_flux(flux), self.config)

    def forward_tokens(
        self, tokens: torch.Tensor, valid: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The transformer on tokens already made by :meth:`tokenize` (masked, perhaps).

        Parameters
        ----------
        tokens : torch.Tensor
            ``(B, T, input_dim)``, ``T <= config.max_len``.
        valid : torch.Tensor, optional
            ``(B, T)`` bool, False on padding tokens appended to shorter spectra of a
            batch: no token attends to them (a key padding mask, which AstroCLIP's
            model, fed one length at a time, does not have), so the outputs of the real
            tokens are those of the spectrum alone. None (or all True): plain attention.

        Returns
        -------
        dict
            ``"embedding"``: ``(B, T, embed_dim)``, the tokens after the final LayerNorm;
            ``"reconstructions"``: ``(B, T, input_dim)``, the head's output.

        Raises
        ------
        ValueError
            For more tokens than positions, or tokens of another size.

        Examples
        --------
        >>> import torch
        >>> from spectromer.models import SpecFormer
        >>> model = SpecFormer("small", num_layers=1)
        >>> model.forward_tokens(torch.zeros(3, 10, 22))["reconstructions"].shape
        torch.Size([3, 10, 22])
        """
        config = self.config
        if tokens.ndim != 3 or tokens.shape[-1] != config.input_dim:
            raise ValueError(
                f"SpecFormer tokens must have shape (batch, tokens, {config.input_dim}), "
                f"not {tuple(tokens.shape)}"
            )
        n_tokens = tokens.shape[1]
        if n_tokens > config.max_len:
            raise ValueError(
                f"cannot forward {n_tokens} tokens: this SpecFormer has only "
                f"max_len={config.max_len} positions"
            )
        keys = None
        if valid is not None and not bool(valid.all()):
            keys = valid.to(device=tokens.device, dtype=torch.bool)[:, None, None, :]
        x = self.data_embed(tokens) + self.position_embed.weight[:n_tokens]
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x, keys)
        x = self.final_layernorm(x)
        return {"embedding": x, "reconstructions": self.head(x)}

    def forward(self, flux: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embed raw spectra: :meth:`forward_tokens` of :meth:`tokenize`.

        Parameters
        ----------
        flux : torch.Tensor
            Raw flux, ``(B, L)`` or ``(B, L, 1)``.

        Returns
        -------
        dict
            ``"embedding"`` ``(B, T, embed_dim)`` and ``"reconstructions"`` ``(B, T,
            input_dim)``, ``T = config.n_tokens(L)``.

        Examples
        --------
        >>> import torch
        >>> from spectromer.models import SpecFormer
        >>> model = SpecFormer("small", num_layers=1).eval()
        >>> flux = torch.rand(2, 100)
        >>> torch.allclose(model(flux)["embedding"], model(flux[..., None])["embedding"])
        True
        """
        return self.forward_tokens(self.tokenize(flux))

    def _as_flux(self, flux: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(flux)
        if x.ndim == 3 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 2:
            raise ValueError(
                f"SpecFormer takes flux of shape (batch, pixels) or (batch, pixels, 1), "
                f"not {tuple(x.shape)}"
            )
        return x.to(device=self.data_embed.weight.device, dtype=self.data_embed.weight.dtype)

    # ------------------------------------------------------------------ checkpoints

    @classmethod
    def from_astroclip_checkpoint(
        cls,
        path: str | os.PathLike,
        *,
        config: SpecFormerConfig | str | None = None,
        strict: bool = True,
    ) -> SpecFormer:
        """Load an AstroCLIP checkpoint: ``specformer.ckpt`` or the full ``astroclip.ckpt``.

        Both are PyTorch Lightning checkpoints (``torch.save`` of a dict with
        ``state_dict`` and ``hyper_parameters``). In ``specformer.ckpt`` the state dict
        is SpecFormer's own (no prefix) and ``hyper_parameters`` its architecture; in
        ``astroclip.ckpt`` the SpecFormer tensors are those under
        ``spectrum_encoder.backbone.``, and every other tensor (the image encoder, the
        projection heads) is ignored. A bare state dict (``torch.save(model.state_dict())``)
        loads too.

        The file is read with ``torch.load(weights_only=True)``. Where it pickles other
        Python objects (the full ``astroclip.ckpt`` pickles its encoder modules in
        ``hyper_parameters``), it is read again with an unpickler that restores tensors
        and the objects ``weights_only`` allows, and puts an inert placeholder in place of
        every other object: no class is imported and no code from the file runs.

        Parameters
        ----------
        path : str or os.PathLike
            The checkpoint.
        config : SpecFormerConfig or str, optional
            The architecture (or a preset name). By default the file's
            ``hyper_parameters`` where they are SpecFormer's (their ``norm_first`` is
            ignored: AstroCLIP's blocks are always pre-norm), else the tensor shapes
            (width, input size, positions, number of blocks) with the published
            ``num_heads`` (6), windows and dropout (0), which the shapes cannot tell.
        strict : bool
            A SpecFormer tensor missing from the file, or one in the file that SpecFormer
            does not have, is an error (the default); with False each is a warning and
            the missing ones keep their initial values. A tensor of the wrong shape is
            always an error.

        Returns
        -------
        SpecFormer
            In evaluation mode (call ``.train()`` to fine-tune).

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        ValueError
            When the file cannot be read, holds no SpecFormer, or its tensors do not fit
            the architecture; the message names the tensors (as the file names them).

        Examples
        --------
        >>> import os, tempfile, torch
        >>> from spectromer.models import SpecFormer
        >>> model = SpecFormer("small", num_layers=1)
        >>> path = os.path.join(tempfile.mkdtemp(), "specformer.ckpt")
        >>> torch.save({"state_dict": model.state_dict(),
        ...             "hyper_parameters": model.config.to_dict()}, path)
        >>> loaded = SpecFormer.from_astroclip_checkpoint(path)
        >>> loaded.config == model.config
        True
        >>> flux = torch.rand(1, 200)
        >>> torch.equal(loaded(flux)["embedding"], model.eval()(flux)["embedding"])
        True
        """
        path = Path(path).expanduser()
        state, hyper_parameters = _read_checkpoint(path)
        prefix = ""
        if any(k.startswith(ASTROCLIP_BACKBONE_PREFIX) for k in state):
            prefix = ASTROCLIP_BACKBONE_PREFIX
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if config is not None:
            config = _as_config(config)
        else:
            config = _config_from_hyper_parameters(hyper_parameters)
        if config is None:
            config = _config_from_tensors(state, path, prefix)
        model = cls(config)
        _load_state(model, state, path, prefix, strict)
        return model.eval()

    @classmethod
    def from_pretrained(
        cls,
        name: str = "specformer",
        *,
        revision: str | None = None,
        timeout: float = 3.0,
    ) -> SpecFormer:
        """The published weights, from the Hugging Face hub (or its local cache).

        A copy already in the Hugging Face cache (``HF_HUB_CACHE``) loads without the
        network. Otherwise the file is downloaded with :mod:`huggingface_hub`; when
        ``HF_HUB_OFFLINE`` is set this fails at once, and when the hub does not answer
        within ``timeout`` seconds it fails then, with the command that downloads the file
        on another machine and how to load it here.

        Parameters
        ----------
        name : str
            A key of :data:`PUBLISHED_CHECKPOINTS`: ``"specformer"`` (the
            masked-modelling pretrained encoder, ``polymathic-ai/specformer``, 0.2 GB) or
            ``"astroclip"`` (its backbone in the CLIP-aligned model,
            ``polymathic-ai/astroclip``, 1.7 GB).
        revision : str, optional
            A branch, tag or commit of the hub repository (default: ``main``).
        timeout : float
            Seconds to wait for the hub to answer before giving up.

        Returns
        -------
        SpecFormer
            The published architecture with its weights, in evaluation mode. It expects
            spectra on DESI's 7781-pixel grid (778 tokens).

        Raises
        ------
        ValueError
            For an unknown ``name``.
        PretrainedWeightsUnavailable
            When the file is not cached and cannot be downloaded.

        Examples
        --------
        >>> import os
        >>> from spectromer.models import SpecFormer
        >>> os.environ["HF_HUB_OFFLINE"] = "1"
        >>> SpecFormer.from_pretrained()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        spectromer.models.weights.PretrainedWeightsUnavailable: the published SpecFormer ...
        """
        if name not in PUBLISHED_CHECKPOINTS:
            raise ValueError(
                f"unknown published SpecFormer checkpoint {name!r}; choose one of "
                f"{', '.join(PUBLISHED_CHECKPOINTS)}"
            )
        repo_id, filename = PUBLISHED_CHECKPOINTS[name]
        from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache

        cached = try_to_load_from_cache(
            repo_id, filename, cache_dir=constants.HF_HUB_CACHE, revision=revision
        )
        if isinstance(cached, str) and os.path.isfile(cached):
            return cls.from_astroclip_checkpoint(cached)
        if hub_offline():
            reason = "HF_HUB_OFFLINE is set"
        elif not hub_reachable(timeout):
            reason = "the Hugging Face hub cannot be reached"
        else:
            try:
                path = hf_hub_download(repo_id, filename, revision=revision)
            except OSError as err:  # hub, connection and HTTP errors
                raise _unavailable(repo_id, filename, f"the download failed ({err})") from err
            return cls.from_astroclip_checkpoint(path)
        raise _unavailable(repo_id, filename, reason)


def tokenize(flux: torch.Tensor, config: SpecFormerConfig) -> torch.Tensor:
    """AstroCLIP's tokens of raw spectra of one length (see :meth:`SpecFormer.tokenize`).

    Parameters
    ----------
    flux : torch.Tensor
        ``(B, L)`` finite raw flux, floating point.
    config : SpecFormerConfig
        The windows (``slice_section_length``, ``slice_overlap``) and ``input_dim``.

    Returns
    -------
    torch.Tensor
        ``(B, config.n_tokens(L), config.input_dim)``, the dtype of ``flux``.

    Examples
    --------
    >>> import torch
    >>> from spectromer.models import SPECFORMER_CONFIGS
    >>> from spectromer.models.specformer import tokenize
    >>> tokenize(torch.rand(2, 65), SPECFORMER_CONFIGS["small"]).shape
    torch.Size([2, 6, 22])
    """
    n_windows = config.n_tokens(flux.shape[1]) - 1
    mean = flux.mean(dim=1, keepdim=True)
    std = flux.std(dim=1, keepdim=True).clamp(min=0.2)  # unbiased, clipped below at 0.2
    x = (flux - mean) / std
    windows = x.unfold(1, config.slice_section_length, config.stride)[:, :n_windows]
    windows = F.pad(windows, (config.input_dim - config.slice_section_length, 0))
    first = torch.zeros_like(windows[:, :1])
    first[:, 0, 0] = (mean[:, 0] - 2) / 2
    first[:, 0, 1] = (std[:, 0] - 2) / 8
    return torch.cat([first, windows], dim=1)


def _as_config(config: SpecFormerConfig | str) -> SpecFormerConfig:
    """``config``, or the preset of :data:`SPECFORMER_CONFIGS` that it names."""
    if isinstance(config, str):
        if config not in SPECFORMER_CONFIGS:
            raise KeyError(
                f"unknown SpecFormer configuration {config!r}; the presets are "
                f"{', '.join(SPECFORMER_CONFIGS)}"
            )
        return SPECFORMER_CONFIGS[config]
    if not isinstance(config, SpecFormerConfig):
        raise TypeError(f"config must be a SpecFormerConfig or a preset name, not {config!r}")
    return config


# ---------------------------------------------------------------------- the weights


def _unavailable(repo_id: str, filename: str, reason: str) -> PretrainedWeightsUnavailable:
    """The error for a published checkpoint that cannot be downloaded, with the way out."""
    command = (
        'python -c "from huggingface_hub import hf_hub_download; '
        f"print(hf_hub_download('{repo_id}', '{filename}', local_dir='.'))\""
    )
    message = (
        f"the published SpecFormer weights ({repo_id}, {filename}) cannot be downloaded "
        f"here: {reason}, and they are not in the local Hugging Face cache. Download them "
        f"once on a machine with network access:\n\n    {command}\n\n"
        f"(or https://huggingface.co/{repo_id}/resolve/main/{filename}), copy the file here "
        f"and load it with SpecFormer.from_astroclip_checkpoint('{filename}')."
    )
    return PretrainedWeightsUnavailable(message, reason=reason)


class _Inert(dict):
    """Stands in for an object of a class that a checkpoint pickled; nothing is imported.

    Whatever pickle hands it (constructor arguments, state, items) is kept as plain data.
    """

    _pickled_as = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> _Inert:
        return dict.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.pickled_args = (args, kwargs)

    def __setstate__(self, state: Any) -> None:
        self.pickled_state = state

    def append(self, item: Any) -> None:
        self.__dict__.setdefault("pickled_items", []).append(item)

    def extend(self, items: Any) -> None:
        self.__dict__.setdefault("pickled_items", []).extend(items)

    def __repr__(self) -> str:
        return f"<not unpickled: {self._pickled_as}>"


_INERT_TYPES: dict[str, type] = {}


class _InertUnpickler(pickle.Unpickler):
    """Restores what ``torch.load(weights_only=True)`` allows; anything else is inert."""

    def find_class(self, module: str, name: str) -> Any:
        qualified = f"{module}.{name}"
        allowed = _allowed_globals()
        if qualified in allowed:
            return allowed[qualified]
        if qualified not in _INERT_TYPES:
            _INERT_TYPES[qualified] = type(name, (_Inert,), {"_pickled_as": qualified})
        return _INERT_TYPES[qualified]


def _allowed_globals() -> dict[str, Any]:
    """The classes and functions that PyTorch's weights-only unpickler accepts."""
    from torch import _weights_only_unpickler

    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    for obj in torch.serialization.get_safe_globals():
        obj = obj[0] if isinstance(obj, tuple) else obj
        allowed[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return allowed


_INERT_PICKLE = types.SimpleNamespace(
    Unpickler=_InertUnpickler,
    load=lambda file, **kwargs: _InertUnpickler(file, **kwargs).load(),
    __name__="spectromer-inert-pickle",
)


def _torch_load(path: Path, **kwargs: Any) -> Any:
    try:
        return torch.load(path, map_location="cpu", mmap=True, **kwargs)
    except RuntimeError as err:  # the legacy (non-zip) torch.save format cannot be mapped
        if "mmap" not in str(err) and "zip" not in str(err):
            raise
        return torch.load(path, map_location="cpu", **kwargs)


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict and hyper-parameters of a Lightning checkpoint or a bare state dict."""
    if not path.exists():
        raise FileNotFoundError(f"SpecFormer checkpoint not found: {path}")
    if path.is_dir():
        raise ValueError(f"a SpecFormer checkpoint must be a file, {path} is a directory")
    try:
        try:
            checkpoint = _torch_load(path, weights_only=True)
        except pickle.UnpicklingError:  # other pickled objects (the full AstroCLIP model)
            log.info("%s pickles Python objects: reading it with inert placeholders", path)
            checkpoint = _torch_load(path, weights_only=False, pickle_module=_INERT_PICKLE)
    except Exception as err:  # zip, pickle and torch errors have no common base class
        raise ValueError(f"cannot read SpecFormer checkpoint {path}: {err}") from err
    hyper_parameters: Any = {}
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        hyper_parameters = checkpoint.get("hyper_parameters") or {}
        checkpoint = checkpoint["state_dict"]
    if (
        not isinstance(checkpoint, Mapping)
        or not checkpoint
        or not all(isinstance(v, torch.Tensor) for v in checkpoint.values())
    ):
        raise ValueError(
            f"{path} holds no SpecFormer checkpoint: expected a Lightning checkpoint "
            "(a dict with 'state_dict' and 'hyper_parameters') or a state dict of tensors"
        )
    if not isinstance(hyper_parameters, Mapping):
        hyper_parameters = {}
    return dict(checkpoint), dict(hyper_parameters)


def _config_from_hyper_parameters(hyper_parameters: Mapping[str, Any]) -> SpecFormerConfig | None:
    """The architecture recorded by AstroCLIP's ``save_hyperparameters``, if these are it."""
    if not {"embed_dim", "num_heads", "num_layers"} <= set(hyper_parameters):
        return None  # e.g. the full AstroCLIP model's hyper-parameters
    names = set(SpecFormerConfig.field_names()) - {"norm_first"}  # never read by AstroCLIP
    return SpecFormerConfig(**{k: hyper_parameters[k] for k in names if k in hyper_parameters})


def _config_from_tensors(
    state: Mapping[str, torch.Tensor], path: Path, prefix: str
) -> SpecFormerConfig:
    """The architecture that the tensor shapes tell, the rest as published."""
    needed = ("data_embed.weight", "position_embed.weight")
    missing = [prefix + k for k in needed if k not in state or state[k].ndim != 2]
    if missing:
        raise ValueError(
            f"the weights in {path} do not fit SpecFormer: missing from the file: "
            f"{_key_list(missing)}"
        )
    embed_dim, input_dim = state["data_embed.weight"].shape
    parts = [k.split(".") for k in state if k.startswith("blocks.")]
    blocks = {int(p[1]) for p in parts if len(p) > 2 and p[1].isdigit()}
    published = SPECFORMER_CONFIGS["astroclip"]
    try:
        return replace(
            published,
            input_dim=int(input_dim),
            embed_dim=int(embed_dim),
            max_len=int(state["position_embed.weight"].shape[0]),
            num_layers=max(blocks) + 1 if blocks else 0,
        )
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"cannot tell the SpecFormer architecture of {path} from its tensors ({err}); "
            "pass config=SpecFormerConfig(...)"
        ) from err


def _load_state(
    model: SpecFormer, state: Mapping[str, torch.Tensor], path: Path, prefix: str, strict: bool
) -> None:
    """Copy ``state`` into ``model``; refuse missing, unexpected and misshapen tensors."""
    expected = model.state_dict()
    missing = [prefix + k for k in expected if k not in state]
    unexpected = [prefix + k for k in state if k not in expected]
    wrong = [
        f"{prefix}{k} (file {tuple(v.shape)}, model {tuple(expected[k].shape)})"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing from the file: {_key_list(missing)}")
    if unexpected:
        problems.append(f"in the file but not in SpecFormer: {_key_list(unexpected)}")
    where = f"the weights in {path} do not fit SpecFormer({model.config})"
    if wrong:
        raise ValueError(f"{where}: " + "; ".join([f"wrong shape: {_key_list(wrong)}", *problems]))
    if problems and strict:
        raise ValueError(f"{where}: " + "; ".join(problems))
    if problems:
        warnings.warn(f"{where}: " + "; ".join(problems), stacklevel=3)
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
