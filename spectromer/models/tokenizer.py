"""The universal spectral tokenizer's network (arXiv:2510.17959), on native wavelength grids.

"Universal Spectral Tokenization via Self-Supervised Panchromatic Representation
Learning" (NeurIPS 2025 ML4PS; no public code) encodes a spectrum of any instrument on its
own pixels, with no resampling, no redshift and no continuum step, and decodes it on any
wavelength grid. Re-implemented here from the paper's description:

* **Inputs** (:func:`pixel_inputs`): the flux and its error, both divided by the
  spectrum's median flux; the pixels' vacuum wavelengths in Angstrom. Bad pixels
  (flagged, zero inverse variance, non-finite) carry flux 0 and error 0.
* **Patches**: runs of ``patch_size`` contiguous native pixels (paper: 32). The
  ``[flux, error]`` of a patch goes through one linear layer; each pixel's wavelength is
  encoded by sines and cosines of log-spaced frequencies (:func:`wavelength_encoding`),
  the patch's encodings are concatenated and go through another linear layer, and the two
  are added: one token per patch. A patch with more than half its pixels bad is
  *invalid*: it is excluded from attention (a key padding mask). Spectra of different
  lengths are padded to a whole number of patches of the longest and the padding is
  masked the same way.
* **Encoder**: a pre-norm transformer (paper: 6 layers, width 512, 8 heads) giving one
  continuous token per patch; :meth:`SpectrumTokenizerNet.encode`.
* **Decoder**: queried by wavelength. The requested output grid is patched the same way,
  its wavelength encodings are embedded by a third linear layer into query tokens, and a
  transformer decoder (self-attention among the queries, cross-attention to the valid
  encoder tokens) maps each query to the flux of its ``patch_size`` pixels. The output
  grid can be the input's own (training, reconstruction) or any other
  (:meth:`SpectrumTokenizerNet.decode`).
* **Loss**: chi-square over the valid pixels of the spectrum's own grid, each squared
  residual weighted by the pixel's inverse variance (both in the median-normalised units,
  so chi-square is that of the original flux); ``forward`` returns its sum and the pixel
  count per spectrum, and the batch loss is ``sum(chi2) / sum(count)``, the pooled reduced
  chi-square.

What the paper leaves open and is chosen here (said again in ``docs/tokenizer.rst``):
16 frequencies with periods log-spaced from 2 to 20,000 Angstrom; the wavelength
encodings of padding pixels are zero; a GELU MLP of 4x width; the output bias starts at 1
(the median-normalised continuum); no masking of the input (the paper's reconstruction
objective; masking variants are not implemented).

This module imports PyTorch.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..spectra import SpectrumBatch

__all__ = [
    "TokenizerConfig",
    "SpectrumTokenizerNet",
    "wavelength_encoding",
    "pixel_inputs",
    "patch_validity",
    "N_CHANNELS",
]

#: Channels of the per-pixel input: normalised flux, normalised error, wavelength
#: (Angstrom, 0 on padding), good-pixel flag.
N_CHANNELS = 4


@dataclass(frozen=True)
class TokenizerConfig:
    """The tokenizer's architecture, as data.

    Parameters
    ----------
    patch_size : int
        Native pixels per token (paper: 32).
    width : int
        Token width (paper: 512).
    depth, decoder_depth : int
        Encoder and decoder layers (paper: 6 and 6).
    heads : int
        Attention heads; must divide ``width`` (paper: 8).
    n_frequencies : int
        Frequencies of the wavelength encoding (each gives a sine and a cosine).
    period_range : (float, float)
        Shortest and longest period of the encoding, Angstrom; log-spaced between.
    mlp_ratio : float
        Width of the transformer MLPs relative to ``width``.
    dropout : float
        Dropout in the transformer layers.

    Examples
    --------
    >>> from spectromer.models.tokenizer import TokenizerConfig
    >>> TokenizerConfig().width, TokenizerConfig(width=64, heads=4).heads
    (512, 4)
    >>> TokenizerConfig(width=30, heads=4)
    Traceback (most recent call last):
    ...
    ValueError: heads=4 must divide width=30
    """

    patch_size: int = 32
    width: int = 512
    depth: int = 6
    decoder_depth: int = 6
    heads: int = 8
    n_frequencies: int = 16
    period_range: tuple[float, float] = (2.0, 20000.0)
    mlp_ratio: float = 4.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("patch_size", "width", "depth", "decoder_depth", "heads", "n_frequencies"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.width % self.heads:
            raise ValueError(f"heads={self.heads} must divide width={self.width}")
        low, high = (float(v) for v in self.period_range)
        if not 0 < low < high:
            raise ValueError(f"period_range must be (low, high) with 0 < low < high, "
                             f"got {self.period_range!r}")  # fmt: skip
        object.__setattr__(self, "period_range", (low, high))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        d = asdict(self)
        d["period_range"] = list(self.period_range)
        return d


def wavelength_encoding(wave: torch.Tensor, n_frequencies: int,
                        period_range: tuple[float, float]) -> torch.Tensor:  # fmt: skip
    """Sine/cosine encoding of wavelengths in Angstrom, periods log-spaced.

    Parameters
    ----------
    wave : torch.Tensor
        Wavelengths, Angstrom, any shape.
    n_frequencies : int
        Number of periods ``P_k``, log-spaced over ``period_range``.
    period_range : (float, float)
        Shortest and longest period, Angstrom.

    Returns
    -------
    torch.Tensor
        ``wave.shape + (2 n_frequencies,)``: ``sin(2 pi wave / P_k)`` then
        ``cos(2 pi wave / P_k)``.

    Examples
    --------
    >>> import torch
    >>> from spectromer.models.tokenizer import wavelength_encoding
    >>> e = wavelength_encoding(torch.tensor([5000.0, 5001.0]), 4, (2.0, 2000.0))
    >>> tuple(e.shape), abs(round(float(e[0, 0]), 4)), round(float(e[0, 4]), 4)  # period 2 A
    ((2, 8), 0.0, 1.0)
    """
    low, high = (math.log10(float(p)) for p in period_range)
    periods = torch.logspace(low, high, int(n_frequencies), dtype=torch.float64,
                             device=wave.device)  # fmt: skip
    phase = (2 * math.pi) * wave.to(torch.float64)[..., None] / periods
    return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1).to(torch.float32)


def _median_scale(flux: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Each row's median flux over its good pixels (absolute; 1 where there is none)."""
    values = np.where(good, flux, np.nan).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no good pixel
        scale = np.abs(np.nanmedian(values, axis=1))
        fallback = np.nanmedian(np.abs(values), axis=1)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, fallback)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def pixel_inputs(batch: SpectrumBatch, patch_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """The tokenizer's per-pixel inputs of a batch, padded to whole patches.

    Parameters
    ----------
    batch : SpectrumBatch
        The spectra, on their own grids (padded to the longest by the batch).
    patch_size : int
        The inputs are padded to a multiple of it.

    Returns
    -------
    x : torch.Tensor (B, L, 4) float32
        Per pixel: flux / scale, error / scale (0 at bad pixels), wavelength in Angstrom
        (0 on padding), 1 at good pixels (else 0). ``L`` is the batch's length rounded
        up to a multiple of ``patch_size``.
    scale : ndarray (B,) float64
        Each spectrum's median flux over its good pixels (its absolute value; the median
        absolute flux where that is 0, 1 where there is no good pixel): flux units.

    Raises
    ------
    ValueError
        For spectra given without wavelengths (a flux array without ``wavelength=``).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models.tokenizer import pixel_inputs
    >>> from spectromer.spectra import SpectrumBatch
    >>> rows = [{"wave": np.arange(4000.0, 4000 + n), "flux": np.full(n, 5.0),
    ...          "ivar": np.full(n, 4.0)} for n in (40, 70)]
    >>> x, scale = pixel_inputs(SpectrumBatch.from_rows(rows), 32)
    >>> tuple(x.shape), scale.tolist(), [float(v) for v in x[0, 0]]
    ((2, 96, 4), [5.0, 5.0], [1.0, 0.10000000149011612, 4000.0, 1.0])
    """
    if not batch.has_wavelength:
        raise ValueError(
            "the tokenizer reads spectra on their own wavelength grids: give the "
            "wavelengths (wavelength= for a flux array, or Spectrum objects or a dataset)"
        )
    good = batch.good
    flux = np.asarray(batch.flux, np.float64)
    scale = _median_scale(flux, good)
    ivar = np.asarray(batch.ivar, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(good, 1.0 / np.sqrt(np.where(good, ivar, 1.0)), 0.0)
    n, length = flux.shape
    padded = -(-max(length, 1) // int(patch_size)) * int(patch_size)
    x = np.zeros((n, padded, N_CHANNELS), np.float32)
    x[:, :length, 0] = np.where(good, flux / scale[:, None], 0.0)
    x[:, :length, 1] = err / scale[:, None]
    wave = np.asarray(batch.wave, np.float64)
    x[:, :length, 2] = np.where(np.isfinite(wave), wave, 0.0)
    x[:, :length, 3] = good
    return torch.from_numpy(x), scale


def patch_validity(good: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Which patches are valid: at most half of their pixels bad.

    Parameters
    ----------
    good : torch.Tensor (B, L) bool
        Good pixels; ``L`` a multiple of ``patch_size``. Padding counts as bad.
    patch_size : int
        Pixels per patch.

    Returns
    -------
    torch.Tensor (B, L // patch_size) bool

    Examples
    --------
    >>> import torch
    >>> from spectromer.models.tokenizer import patch_validity
    >>> good = torch.tensor([[1, 1, 1, 0, 1, 0, 0, 0]], dtype=torch.bool)
    >>> patch_validity(good, 4).tolist()  # 1 of 4 bad; 3 of 4 bad
    [[True, False]]
    """
    counts = good.reshape(good.shape[0], -1, int(patch_size)).sum(dim=-1)
    return counts * 2 >= int(patch_size)


def _patches(values: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, L, C) -> (B, L // P, P * C): each patch's pixels side by side."""
    b, length, c = values.shape
    return values.reshape(b, length // patch_size, patch_size * c)


def _ensure_one(valid: torch.Tensor) -> torch.Tensor:
    """``valid`` with the first position of rows that have none set (attention needs a key)."""
    empty = ~valid.any(dim=1)
    if not bool(empty.any()):
        return valid
    valid = valid.clone()
    valid[empty, 0] = True
    return valid


class SpectrumTokenizerNet(nn.Module):
    """The tokenizer: patch embedding, encoder, wavelength-queried decoder, chi-square.

    Parameters
    ----------
    config : TokenizerConfig
        The architecture.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from spectromer.models.tokenizer import SpectrumTokenizerNet, TokenizerConfig, pixel_inputs
    >>> from spectromer.spectra import SpectrumBatch
    >>> net = SpectrumTokenizerNet(TokenizerConfig(patch_size=8, width=16, depth=1,
    ...                                            decoder_depth=1, heads=2)).eval()
    >>> rows = [{"wave": np.linspace(4000, 5000, n), "flux": np.ones(n)} for n in (20, 33)]
    >>> x, _ = pixel_inputs(SpectrumBatch.from_rows(rows), 8)
    >>> tokens, valid = net.encode(x)
    >>> tuple(tokens.shape), valid.sum(1).tolist()
    ((2, 5, 16), [3, 4])
    >>> net.decode(tokens, valid, torch.full((2, 10), 4500.0)).shape  # any grid
    torch.Size([2, 10])
    >>> net(x).shape  # per spectrum: chi-square, valid pixels
    torch.Size([2, 2])
    """

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        p, w = config.patch_size, config.width
        enc_dim = 2 * config.n_frequencies
        self.flux_embed = nn.Linear(2 * p, w)
        self.wave_embed = nn.Linear(enc_dim * p, w)
        self.query_embed = nn.Linear(enc_dim * p, w)
        ff = int(round(w * config.mlp_ratio))
        layer = nn.TransformerEncoderLayer(w, config.heads, ff, config.dropout,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, config.depth, norm=nn.LayerNorm(w),
                                             enable_nested_tensor=False)  # fmt: skip
        dec_layer = nn.TransformerDecoderLayer(w, config.heads, ff, config.dropout,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)  # fmt: skip
        self.decoder = nn.TransformerDecoder(dec_layer, config.decoder_depth,
                                             norm=nn.LayerNorm(w))  # fmt: skip
        self.head = nn.Linear(w, p)
        with torch.no_grad():
            self.head.bias.fill_(1.0)  # the median-normalised continuum

    def _wave_features(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, L) wavelengths -> (B, T, P * 2F) patched encodings, zero on padding."""
        c = self.config
        enc = wavelength_encoding(wave, c.n_frequencies, c.period_range)
        enc = enc * (wave > 0)[..., None].to(enc.dtype)
        return _patches(enc, c.patch_size)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens of per-pixel inputs :func:`pixel_inputs` ``(B, L, 4)``.

        Returns
        -------
        tokens : torch.Tensor (B, L // patch_size, width)
            After the encoder's final LayerNorm.
        valid : torch.Tensor (B, L // patch_size) bool
            :func:`patch_validity` of the good pixels.
        """
        p = self.config.patch_size
        valid = patch_validity(x[..., 3] > 0.5, p)
        feats = self.flux_embed(_patches(x[..., :2], p)) + self.wave_embed(
            self._wave_features(x[..., 2])
        )
        tokens = self.encoder(feats, src_key_padding_mask=~_ensure_one(valid))
        return tokens, valid

    def decode(self, tokens: torch.Tensor, valid: torch.Tensor,
               wave: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """Median-normalised flux at wavelengths ``wave`` from the tokens of :meth:`encode`.

        Parameters
        ----------
        tokens, valid : torch.Tensor
            From :meth:`encode`; invalid tokens are not attended to.
        wave : torch.Tensor (B, Lq)
            The output grid of each spectrum, Angstrom; 0 marks padding. Need not be the
            input's grid.

        Returns
        -------
        torch.Tensor (B, Lq)
        """
        p = self.config.patch_size
        b, lq = wave.shape
        padded = -(-lq // p) * p
        if padded != lq:
            wave = torch.cat([wave, wave.new_zeros(b, padded - lq)], dim=1)
        queries = self.query_embed(self._wave_features(wave))
        real = (wave > 0).reshape(b, -1, p).any(dim=-1)
        out = self.decoder(queries, tokens, tgt_key_padding_mask=~_ensure_one(real),
                           memory_key_padding_mask=~_ensure_one(valid))  # fmt: skip
        return self.head(out).reshape(b, padded)[:, :lq]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per spectrum ``[chi-square, valid pixels]`` of its reconstruction on its own grid."""
        tokens, valid = self.encode(x)
        pred = self.decode(tokens, valid, x[..., 2]).float()
        good = x[..., 3] > 0.5
        err = torch.where(good, x[..., 1], torch.ones_like(x[..., 1]))
        resid = torch.where(good, (pred - x[..., 0]) / err, torch.zeros_like(pred))
        return torch.stack([(resid**2).sum(dim=1), good.sum(dim=1).to(resid.dtype)], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the valid tokens, ``(B, width)`` (NaN for a spectrum with none)."""
        tokens, valid = self.encode(x)
        weight = valid[..., None].to(tokens.dtype)
        count = weight.sum(dim=1)
        pooled = (tokens * weight).sum(dim=1) / count.clamp_min(1.0)
        return torch.where(count > 0, pooled, torch.full_like(pooled, float("nan")))
