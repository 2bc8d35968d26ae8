"""SpecFormer estimators on the learner base: AstroCLIP's pretraining, embeddings, fine-tuning.

* :class:`SpecFormerEncoder` - self-supervised: ``fit(X)`` is AstroCLIP's masked-token
  pretraining of a :class:`~spectromer.models.SpecFormer`, ``transform(X)`` its
  mean-pooled embedding (as AstroCLIP's evaluation pools it), ``embed(X)`` the
  per-token embeddings.
* :class:`SpecFormerClassifier`, :class:`SpecFormerRegressor` - the pooled embedding
  and a linear head, fine-tuned end to end (or the head alone, ``freeze_encoder=True``)
  on labels, from scratch, from a saved :class:`SpecFormerEncoder` or from an AstroCLIP
  checkpoint.

How spectra become tokens
-------------------------
``grid="native"`` takes each spectrum's own pixels (models trained here, on any
survey); ``grid="desi"`` first resamples every spectrum onto DESI's merged grid, the
7781 pixels of 0.8 Angstrom from 3600 to 9824 Angstrom that the published weights were
trained on (:func:`to_desi_grid`). Either way masked and non-finite pixels are bridged
by linear interpolation between their good neighbours, and pixels beyond the first and
last good one (on the DESI grid: beyond the spectrum's coverage) repeat that edge value
(:func:`~spectromer.imaging.prepare.extend_edges`). The edge value, not zero: SpecFormer
standardises each spectrum by its mean and standard deviation over *all* its pixels, and
a block of zeros next to a continuum at flux 50 would move the mean, inflate the spread
and put a step into the tokens, where a constant continuation changes neither much.
(DESI's own masked pixels hold flux 0 with zero inverse variance; real DESI spectra
cover the whole grid, so the published model has rarely seen long runs of them.)

Spectra of different lengths in one batch
-----------------------------------------
Each spectrum is tokenised alone (its own mean and spread, its own windows), and the
token sequences of a batch are padded with zero tokens to the longest. AstroCLIP's
model has no padding mask (it only ever sees 778 tokens), so here the attention gets a
key padding mask (``SpecFormer.forward_tokens(tokens, valid)``): no token attends to
padding, and the embedding of a spectrum does not depend on the batch it is in (to
float rounding). Padding tokens are left out of the masked-token loss and of the mean
pooling. A batch of one length has no mask: exactly AstroCLIP's forward pass.

This module imports PyTorch; ``import spectromer.models`` imports it on first use of
these names.
"""

from __future__ import annotations

import json
import os
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ..simulation.instruments import INSTRUMENTS
from ..spectra import SpectrumBatch, SpectrumSource, as_source
from ..training import as_augmentation
from .base import SpectrumLearner, ratio_loss
from .persistence import CONFIG_NAME, ModelFileError
from .specformer import SpecFormer, tokenize
from .specformer_config import SPECFORMER_CONFIGS, SpecFormerConfig

__all__ = [
    "SpecFormerEncoder",
    "SpecFormerClassifier",
    "SpecFormerRegressor",
    "to_desi_grid",
    "mask_spans",
    "DESI_WAVE_RANGE",
    "DESI_N_PIXELS",
]

#: DESI's merged wavelength grid (vacuum Angstrom): 3600 to 9824 in steps of 0.8, the
#: grid of the published SpecFormer weights; from the DESI instrument's arms
#: (:data:`spectromer.simulation.INSTRUMENTS`), the one place the grid is defined.
DESI_WAVE_RANGE: tuple[float, float] = INSTRUMENTS["desi"].wavelength_range
DESI_N_PIXELS: int = (
    int(round((DESI_WAVE_RANGE[1] - DESI_WAVE_RANGE[0]) / INSTRUMENTS["desi"].arms[0].step)) + 1
)

#: Values of the ``grid`` parameter.
GRIDS = ("auto", "native", "desi")


# ---------------------------------------------------------------------- pixels and tokens


def _desi_config() -> Any:
    from ..imaging import RenderConfig

    return RenderConfig(grid="linear", wave_range=DESI_WAVE_RANGE)


def to_desi_grid(X: Any, *, wavelength: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Spectra resampled onto DESI's 7781-pixel merged grid, as the published weights expect.

    The flux is interpolated linearly in wavelength (averaged over the pixels of a grid
    step where the spectrum is more than 1.5 times finer: the resampling of
    :func:`spectromer.imaging.prepare.resample`), masked and non-finite pixels bridged
    from their good neighbours, and grid points outside the spectrum's coverage take the
    flux at the nearest covered one (see the module notes for why not zero).

    Parameters
    ----------
    X : SpectrumBatch, SpectraDataset, SpectrumSource, sequence of Spectrum, or ndarray
        The spectra; they need wavelengths.
    wavelength : array, optional
        The wavelength grid when ``X`` is a flux array.

    Returns
    -------
    flux : ndarray (n, 7781) float32
        Observed-frame flux on ``numpy.linspace(3600, 9824, 7781)`` Angstrom.
    covered : ndarray (n, 7781) bool
        True where the spectrum covers the grid point (False where the value is a
        continuation of its edge).

    Raises
    ------
    ValueError
        For a flux array given without wavelengths.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models.specformer_learner import to_desi_grid
    >>> wave = np.arange(4000.0, 9000.0, 2.0)
    >>> flux, covered = to_desi_grid(np.ones((2, wave.size)) * [[1.0], [3.0]], wavelength=wave)
    >>> flux.shape, float(flux[1, 0]), round(float(covered.mean()), 2)
    ((2, 7781), 3.0, 0.8)
    """
    from ..imaging.prepare import extend_edges, resample

    batch = X if isinstance(X, SpectrumBatch) else _all_of(as_source(X, wavelength=wavelength))
    values, _, _, inside = resample(batch, _desi_config(), n_values=DESI_N_PIXELS)
    return extend_edges(values, inside).astype(np.float32), inside


def _all_of(source: SpectrumSource) -> SpectrumBatch:
    return source.batch(np.arange(len(source)))


def _native_pixels(batch: SpectrumBatch) -> tuple[np.ndarray, np.ndarray]:
    """Each spectrum's own pixels, bad ones bridged, edges extended; and the lengths."""
    from ..imaging import RenderConfig
    from ..imaging.prepare import extend_edges, resample

    width = int(batch.flux.shape[1])
    values, _, _, inside = resample(batch, RenderConfig(grid="index"), n_values=width)
    return extend_edges(values, inside & (np.arange(width) < batch.length[:, None])), np.asarray(
        batch.length, np.int64
    )


def batch_tokens(
    batch: SpectrumBatch, grid: str, config: SpecFormerConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """SpecFormer tokens of a batch of spectra, padded to the longest, and which are real.

    Parameters
    ----------
    batch : SpectrumBatch
        The spectra.
    grid : {"native", "desi"}
        Each spectrum's own pixels, or DESI's grid (:func:`to_desi_grid`).
    config : SpecFormerConfig
        The windows and the number of positions.

    Returns
    -------
    tokens : torch.Tensor (B, T, input_dim) float32
        Each spectrum tokenised alone (:func:`spectromer.models.specformer.tokenize`),
        then zero tokens up to ``T``, the most tokens of the batch.
    valid : torch.Tensor (B, T) bool
        False on the padding.

    Raises
    ------
    ValueError
        For a spectrum too short for one window, or giving more tokens than
        ``config.max_len``, naming it.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models import SPECFORMER_CONFIGS
    >>> from spectromer.models.specformer_learner import batch_tokens
    >>> from spectromer.spectra import SpectrumBatch
    >>> batch = SpectrumBatch.from_rows([{"wave": np.arange(4000.0, 4000 + n), "flux": np.ones(n)}
    ...                                  for n in (65, 105)])
    >>> tokens, valid = batch_tokens(batch, "native", SPECFORMER_CONFIGS["small"])
    >>> tuple(tokens.shape), valid.sum(1).tolist()
    ((2, 10, 22), [6, 10])
    """
    if grid == "desi":
        values, _ = to_desi_grid(batch)
        lengths = np.full(len(batch), DESI_N_PIXELS, np.int64)
    else:
        values, lengths = _native_pixels(batch)
    per_row: list[torch.Tensor | None] = [None] * len(batch)
    for n_pixels in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == n_pixels)
        try:
            config.n_tokens(n_pixels)
        except ValueError as err:
            raise ValueError(f"{batch.names[int(rows[0])]}: {err}") from None
        flux = torch.from_numpy(np.ascontiguousarray(values[rows, :n_pixels], np.float32))
        for row, t in zip(rows.tolist(), tokenize(flux, config)):
            per_row[row] = t
    longest = max(int(t.shape[0]) for t in per_row)  # type: ignore[union-attr]
    if longest > config.max_len:
        row = next(i for i, t in enumerate(per_row) if t.shape[0] == longest)  # type: ignore[union-attr]
        raise ValueError(
            f"{batch.names[row]}: {int(lengths[row])} pixels give {longest} tokens, more than "
            f"the max_len={config.max_len} positions of this SpecFormer; use grid='desi' or a "
            "config with a larger max_len"
        )
    tokens = torch.zeros(len(batch), longest, config.input_dim)
    valid = torch.zeros(len(batch), longest, dtype=torch.bool)
    for row, t in enumerate(per_row):
        tokens[row, : t.shape[0]] = t  # type: ignore[union-attr]
        valid[row, : t.shape[0]] = True  # type: ignore[union-attr]
    return tokens, valid


def mask_spans(
    n_tokens: int, num_chunks: int, chunk_width: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Where AstroCLIP's pretraining zeroes the tokens of one spectrum.

    The ``n_tokens`` tokens (the statistics token included) are split into
    ``num_chunks`` segments, segment ``i`` starting at ``i * n_tokens // num_chunks``;
    in each, a block of ``width`` whole tokens starting at a uniformly drawn offset in
    ``[0, n_tokens // num_chunks - width)`` is zeroed. AstroCLIP refuses sequences of
    fewer than ``(2 num_chunks - 1) chunk_width`` tokens (550 for its 6 x 50; DESI's
    grid gives 778); here the width is clamped instead, to the largest that keeps that
    rule (and leaves one offset to draw): ``width = min(chunk_width, n_tokens // (2
    num_chunks - 1), n_tokens // num_chunks - 1)``. Short spectra (a native SDSS
    spectrum of 3800 pixels gives 379 tokens, so width 34) thus have about
    ``num_chunks / (2 num_chunks - 1)`` of their tokens masked (55% for 6 chunks, where
    DESI spectra have 300 / 778 = 39%).

    Parameters
    ----------
    n_tokens : int
        Tokens of the spectrum.
    num_chunks, chunk_width : int
        AstroCLIP's ``mask_num_chunks`` and ``mask_chunk_width``.
    rng : numpy.random.Generator
        Draws the offsets.

    Returns
    -------
    starts : ndarray of int, (num_chunks,)
        First token of each masked block.
    width : int
        Tokens per block.

    Raises
    ------
    ValueError
        When fewer than ``2 * num_chunks`` tokens leave no block to mask.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models.specformer_learner import mask_spans
    >>> starts, width = mask_spans(778, 6, 50, np.random.default_rng(0))
    >>> width, starts.size, bool(np.all(np.diff(starts) >= 0))
    (50, 6, True)
    >>> mask_spans(30, 6, 50, np.random.default_rng(0))[1]  # clamped for 30 tokens
    2
    """
    n_tokens, num_chunks = int(n_tokens), int(num_chunks)
    width = min(int(chunk_width), n_tokens // (2 * num_chunks - 1), n_tokens // num_chunks - 1)
    if width < 1:
        raise ValueError(
            f"{n_tokens} tokens are too few to mask mask_num_chunks={num_chunks} blocks: at "
            f"least {2 * num_chunks} are needed (lower mask_num_chunks, or use longer spectra)"
        )
    segment = n_tokens // num_chunks
    offsets = rng.integers(0, segment - width, num_chunks)
    return (np.arange(num_chunks) * n_tokens) // num_chunks + offsets, width


class SpecFormerTokens:
    """What the Trainer iterates for the SpecFormer learners: token batches of a source.

    An item, for a list of rows, is ``(inputs, targets[rows])`` (``(inputs, rows)``
    while ``targets`` is None). ``inputs`` is ``(B, T, input_dim + 1)`` float32: the
    tokens (:func:`batch_tokens`) and a last channel that is 1 on real tokens; with
    ``masking`` it is ``(B, T, 2 input_dim + 1)``: the masked tokens (blocks of
    :func:`mask_spans` zeroed), the clean ones, the flag. Masks and augmentations are
    drawn from ``(seed, epoch, rows)``: the training data get new ones every epoch,
    validation data (whose epoch stays 0) the same ones every time.

    Parameters
    ----------
    source : SpectrumSource
        The spectra.
    targets : ndarray, optional
        One target per spectrum.
    grid : {"native", "desi"}
        See :func:`batch_tokens`.
    config : SpecFormerConfig
        The architecture.
    masking : (int, int), optional
        ``(mask_num_chunks, mask_chunk_width)``; None: no masking.
    augment : callable, optional
        ``augment(batch, rng)``, e.g. an :class:`~spectromer.training.Augmentation`.
    seed : int
        Seed of the masks and augmentations.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models import SPECFORMER_CONFIGS
    >>> from spectromer.models.specformer_learner import SpecFormerTokens
    >>> from spectromer.spectra import as_source
    >>> source = as_source(np.random.default_rng(0).normal(1, 0.1, (4, 300)))
    >>> data = SpecFormerTokens(source, None, "native", SPECFORMER_CONFIGS["small"], (6, 50))
    >>> x, rows = data[[0, 1]]
    >>> tuple(x.shape), rows.tolist()
    ((2, 29, 45), [0, 1])
    """

    def __init__(
        self,
        source: SpectrumSource,
        targets: np.ndarray | None,
        grid: str,
        config: SpecFormerConfig,
        masking: tuple[int, int] | None = None,
        augment: Any = None,
        seed: int = 0,
    ) -> None:
        self.source, self.targets, self.grid, self.config = source, targets, grid, config
        self.masking, self.augment, self.seed = masking, augment, int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        """Draw the masks and augmentations of epoch ``epoch`` from now on."""
        self.epoch = int(epoch)

    def __getitem__(self, rows: Any) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.asarray(rows, np.int64).reshape(-1)
        rng = np.random.default_rng([self.seed, self.epoch, *idx.tolist()])
        batch = self.source.batch(idx)
        if self.augment is not None:
            batch = self.augment(batch, rng)
        tokens, valid = batch_tokens(batch, self.grid, self.config)
        flag = valid[..., None].to(tokens.dtype)
        if self.masking is None:
            x = torch.cat([tokens, flag], dim=-1)
        else:
            masked = tokens.clone()
            chunks, width = self.masking
            for row, n in enumerate(valid.sum(dim=1).tolist()):
                try:
                    starts, w = mask_spans(n, chunks, width, rng)
                except ValueError as err:
                    raise ValueError(f"{batch.names[row]}: {err}") from None
                for start in starts.tolist():
                    masked[row, start : start + w] = 0.0
            x = torch.cat([masked, tokens, flag], dim=-1)
        if self.targets is None:
            return x, torch.from_numpy(idx)
        return x, torch.from_numpy(np.asarray(self.targets[idx]))


# ---------------------------------------------------------------------- the modules


def _embedding(specformer: SpecFormer, x: torch.Tensor, pooled: bool = True) -> torch.Tensor:
    """The embedding of inputs of :class:`SpecFormerTokens` (the unmasked tokens).

    Pooled: the mean over the real tokens, ``(B, width)``; else ``(B, T, width)`` with
    zeros on padding.
    """
    d = specformer.config.input_dim
    tokens = x[..., :d] if x.shape[-1] == d + 1 else x[..., d : 2 * d]
    valid = x[..., -1] > 0.5
    emb = specformer.forward_tokens(tokens, valid)["embedding"]
    weight = valid[..., None].to(emb.dtype)
    if not pooled:
        return emb * weight
    return (emb * weight).sum(dim=1) / weight.sum(dim=1).clamp_min(1.0)


class MaskedTokenModel(nn.Module):
    """A SpecFormer and AstroCLIP's masked-token objective, for :class:`SpecFormerEncoder`.

    ``forward`` takes masked inputs of :class:`SpecFormerTokens` and returns, per
    spectrum, ``[sum of squared errors, count]`` over the *masked non-zero elements*:
    exactly AstroCLIP's ``locs = input != target``, the elements that masking changed,
    i.e. those of the zeroed tokens whose clean value is not zero (the two pad slots of
    each window and the zeros of the statistics token never count), padding excluded.
    The batch loss ``sum(errors) / sum(counts)`` is AstroCLIP's
    ``mse(out * locs, target * locs) / locs.mean()``.

    Parameters
    ----------
    specformer : SpecFormer
        The encoder (``self.specformer``).

    Examples
    --------
    >>> import torch
    >>> from spectromer.models import SpecFormer
    >>> from spectromer.models.specformer_learner import MaskedTokenModel
    >>> model = MaskedTokenModel(SpecFormer("small", num_layers=1))
    >>> x = torch.cat([torch.zeros(2, 5, 22), torch.ones(2, 5, 22), torch.ones(2, 5, 1)], -1)
    >>> model(x).shape, model(x)[:, 1].tolist()  # every element masked
    (torch.Size([2, 2]), [110.0, 110.0])
    """

    def __init__(self, specformer: SpecFormer) -> None:
        super().__init__()
        self.specformer = specformer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.specformer.config.input_dim
        masked, target, valid = x[..., :d], x[..., d : 2 * d], x[..., -1] > 0.5
        out = self.specformer.forward_tokens(masked, valid)["reconstructions"].float()
        locs = ((masked != target) & valid[..., None]).to(out.dtype)
        errors = ((out - target.float()) ** 2 * locs).sum(dim=(1, 2))
        return torch.stack([errors, locs.sum(dim=(1, 2))], dim=1)

    def embed(self, x: torch.Tensor, pooled: bool = True) -> torch.Tensor:
        """The embedding of the spectra (see :func:`_embedding`)."""
        return _embedding(self.specformer, x, pooled)


class SpecFormerPredictor(nn.Module):
    """A SpecFormer, its mean-pooled embedding and a linear head (the fine-tuners' module).

    Parameters
    ----------
    specformer : SpecFormer
        The encoder (``self.specformer``).
    n_outputs : int
        Outputs of the head (``self.head``): logits, or standardised targets.
    freeze_encoder : bool
        Train the head alone: the encoder's parameters get ``requires_grad=False``.

    Examples
    --------
    >>> import torch
    >>> from spectromer.models import SpecFormer
    >>> from spectromer.models.specformer_learner import SpecFormerPredictor
    >>> model = SpecFormerPredictor(SpecFormer("small", num_layers=1), 3)
    >>> model(torch.cat([torch.rand(4, 7, 22), torch.ones(4, 7, 1)], -1)).shape
    torch.Size([4, 3])
    """

    def __init__(self, specformer: SpecFormer, n_outputs: int, freeze_encoder: bool = False):
        super().__init__()
        self.specformer = specformer
        self.head = nn.Linear(specformer.config.embed_dim, int(n_outputs))
        if freeze_encoder:
            self.specformer.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(_embedding(self.specformer, x))

    def embed(self, x: torch.Tensor, pooled: bool = True) -> torch.Tensor:
        """The encoder's embedding of the spectra (see :func:`_embedding`)."""
        return _embedding(self.specformer, x, pooled)


# ---------------------------------------------------------------------- the learners


class _SpecFormerLearner(SpectrumLearner):
    """What the SpecFormer learners share: architecture, grid, pretrained weights, tokens."""

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **SpectrumLearner._parameter_constraints,
        "config": [None, StrOptions(set(SPECFORMER_CONFIGS)), SpecFormerConfig, dict],
        "grid": [StrOptions(set(GRIDS))],
        "pretrained": [None, "boolean", str, os.PathLike],
    }

    # -- parameters -----------------------------------------------------------------------
    def _config_param(self) -> SpecFormerConfig | None:
        """``config`` as a SpecFormerConfig (None stays None); bad settings raise."""
        config = self.config
        if config is None or isinstance(config, SpecFormerConfig):
            return config
        if isinstance(config, str):
            return SPECFORMER_CONFIGS[config]
        try:
            return SpecFormerConfig(**config)
        except TypeError as err:
            raise TypeError(f"config: {err}") from None
        except ValueError as err:
            raise ValueError(f"config: {err}") from None

    def _check_param_combinations(self) -> None:
        self._config_param()
        if self.pretrained is True and self.grid == "native":
            raise ValueError(
                "grid='native' cannot be used with pretrained=True: the published SpecFormer "
                "weights were trained on DESI's 7781-pixel grid; use grid='desi' (or 'auto')"
            )

    def _pretrained_path(self) -> Path | None:
        if self.pretrained is None or isinstance(self.pretrained, bool):
            return None
        return Path(self.pretrained).expanduser()

    def _pretrained_grid(self) -> str | None:
        """The grid the ``pretrained`` weights were trained on (None: no weights)."""
        path = self._pretrained_path()
        if self.pretrained is True:
            return "desi"
        if path is None:
            return None
        if not path.exists():
            raise FileNotFoundError(f"pretrained: {path} does not exist")
        if not path.is_dir():
            return "desi"  # an AstroCLIP checkpoint: trained on DESI spectra
        try:
            saved = json.loads((path / CONFIG_NAME).read_text())
            return str(saved["fitted"]["grid"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelFileError(
                f"pretrained: {path} is a folder but not a saved SpecFormerEncoder ({err})"
            ) from None

    def _resolve_grid(self) -> str:
        trained_on = self._pretrained_grid()
        if self.grid == "auto":
            return trained_on or "native"
        if trained_on is not None and self.grid != trained_on:
            raise ValueError(
                f"grid={self.grid!r}, but pretrained={str(self.pretrained)!r} was trained on "
                f"grid {trained_on!r}; use grid={trained_on!r} (or 'auto')"
            )
        return str(self.grid)

    def _load_pretrained(self) -> SpecFormer | None:
        """The SpecFormer of ``pretrained`` (re-shaped to ``config`` if given), or None."""
        path = self._pretrained_path()
        if self.pretrained is True:
            model = SpecFormer.from_pretrained()
        elif path is None:
            return None
        elif path.is_dir():
            model = SpecFormerEncoder.load(path, device="cpu").model_.specformer
        else:
            model = SpecFormer.from_astroclip_checkpoint(path)
        config = self._config_param()
        if config is None or config == model.config:
            return model
        other = SpecFormer(config)
        try:
            other.load_state_dict(model.state_dict())
        except RuntimeError as err:
            raise ValueError(
                f"config={config} does not fit the weights of pretrained="
                f"{str(self.pretrained)!r} ({model.config}): {err}"
            ) from None
        return other

    # -- the base's hooks -----------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, **kwargs: Any) -> Any:
        """Train on spectra ``X`` (see :meth:`SpectrumLearner.fit
        <spectromer.models.base.SpectrumLearner.fit>`); ``pretrained`` is checked first."""
        self._check_params()
        self._resolve_grid()  # a missing or mismatched pretrained= fails before any work
        return super().fit(X, y, **kwargs)

    def _prepare(self, source: SpectrumSource) -> None:
        self.grid_ = self._resolve_grid()
        self._initial = self._load_pretrained()
        if self._initial is not None:
            self.specformer_config_ = self._initial.config
        else:
            self.specformer_config_ = self._config_param() or SPECFORMER_CONFIGS["astroclip"]

    def _specformer(self, initial: bool) -> SpecFormer:
        if initial and getattr(self, "_initial", None) is not None:
            model, self._initial = self._initial, None
            return model.train()
        return SpecFormer(self.specformer_config_)

    def _masking(self) -> tuple[int, int] | None:
        return None

    def _training_data(self, source: SpectrumSource, targets: np.ndarray | None, seed: int,
                       train: bool) -> SpecFormerTokens:  # fmt: skip
        return SpecFormerTokens(
            source,
            targets,
            self.grid_,
            self.specformer_config_,
            masking=self._masking(),  # the encoder's validation too: fixed masks
            augment=as_augmentation(self.augment) if train else None,
            seed=seed,
        )

    def _fingerprint(self, targets: np.ndarray, source: SpectrumSource) -> dict[str, Any]:
        return {**super()._fingerprint(targets, source), "kind": "specformer",
                "grid": self.grid_}  # fmt: skip

    def _fitted_config(self) -> dict[str, Any]:
        return {
            **super()._fitted_config(),
            "grid": self.grid_,
            "specformer_config": self.specformer_config_.to_dict(),
        }

    def _restore_fitted(self, fitted: dict[str, Any], state: dict[str, Any], where: Any) -> None:
        super()._restore_fitted(fitted, state, where)
        try:
            self.grid_ = str(fitted["grid"])
            self.specformer_config_ = SpecFormerConfig(**fitted["specformer_config"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(
                f"{where}/{CONFIG_NAME}: no valid SpecFormer grid and architecture ({err})"
            ) from None

    # -- use ------------------------------------------------------------------------------
    def _inference_data(self, X: Any, wavelength: Any, indices: Any) -> SpecFormerTokens:
        source = self._inference_source(X, wavelength, indices)
        return SpecFormerTokens(source, None, self.grid_, self.specformer_config_)

    def transform(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """The mean-pooled embedding of each spectrum, computed in evaluation mode.

        The mean over all the spectrum's tokens (the statistics token included) of the
        encoder's output after its final LayerNorm: what AstroCLIP's evaluation uses
        for SpecFormer (``specformer(x)["embedding"].mean(1)``).

        Parameters
        ----------
        X : SpectraDataset, SpectrumSource, sequence of Spectrum, or ndarray
            The spectra.
        wavelength : array, optional
            Wavelength grid when ``X`` is a flux array.
        indices : array of int, optional
            Rows of a dataset.

        Returns
        -------
        ndarray
            ``(n, width)`` float32.
        """
        data = self._inference_data(X, wavelength, indices)
        return self._run(self.model_, data, forward=lambda m, x: m.embed(x),
                         progress=bool(self.progress))  # fmt: skip

    def embed(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> list[np.ndarray]:
        """The per-token embeddings of each spectrum (evaluation mode).

        Parameters
        ----------
        X, wavelength, indices
            As in :meth:`transform`.

        Returns
        -------
        list of ndarray
            One ``(T_i, width)`` float32 array per spectrum, ``T_i`` its tokens.
        """
        from ..training import autocast_dtype
        from ..training.engine import _autocast

        data = self._inference_data(X, wavelength, indices)
        device = self._device()
        dtype = autocast_dtype(self.precision, device)
        model = self.model_.to(device).eval()
        out: list[np.ndarray] = []
        size = int(self.batch_size)
        with torch.inference_mode():
            for start in range(0, len(data), size):
                x, _ = data[np.arange(start, min(start + size, len(data)))]
                x = x.to(device)
                with _autocast(device, dtype):
                    emb = model.embed(x, pooled=False).float().cpu().numpy()
                counts = (x[..., -1] > 0.5).sum(dim=1).tolist()
                out.extend(e[:n] for e, n in zip(emb, counts))
        return out


_COMMON_DOC = """
    config : str, SpecFormerConfig, dict or None
        The architecture: a preset of :data:`~spectromer.models.SPECFORMER_CONFIGS`
        (``"astroclip"``, the published one; ``"small"``), a
        :class:`~spectromer.models.SpecFormerConfig` or its fields as a dict. None: the
        architecture of ``pretrained``, or ``"astroclip"`` without it. Given together
        with ``pretrained`` it must fit the weights (it may change the dropout).
    grid : {"auto", "native", "desi"}
        ``"native"``: each spectrum's own pixels; ``"desi"``: every spectrum resampled
        onto DESI's 7781-pixel grid (:func:`to_desi_grid`), which the published weights
        need. ``"auto"``: ``"desi"`` with AstroCLIP weights (``pretrained=True`` or a
        checkpoint file), the grid of a saved encoder, ``"native"`` without
        ``pretrained``. ``"native"`` with ``pretrained=True`` is refused; a grid other
        than a saved encoder's too.
    pretrained : None, True, or path
        Initial weights: None (AstroCLIP's initialisation, seeded), True (the published
        ``specformer.ckpt`` from the model hub, :meth:`SpecFormer.from_pretrained
        <spectromer.models.SpecFormer.from_pretrained>`), the path of an AstroCLIP
        checkpoint file (``specformer.ckpt``, or the spectrum backbone of
        ``astroclip.ckpt``: :meth:`SpecFormer.from_astroclip_checkpoint
        <spectromer.models.SpecFormer.from_astroclip_checkpoint>`), or the folder of a
        saved :class:`SpecFormerEncoder`. Checked (it exists, its grid) before any
        spectrum is read.
    epochs, batch_size : int
        Passes over the spectra; spectra per step.
    lr, weight_decay, warmup : float
        AdamW peak learning rate, weight decay (not on biases and norms), and warm-up
        epochs before the cosine decay. Gradients are clipped at norm 1 (as published).
    augment : bool, dict or Augmentation
        Physical augmentations of the training spectra (see
        :class:`~spectromer.training.Augmentation`).
    validation_fraction : float
        Spectra held out to pick the best epoch; 0 keeps the last.
    device, precision, num_workers, checkpoint_dir, random_state, progress
        As for :class:`~spectromer.SpectromerModel`."""


class SpecFormerEncoder(_SpecFormerLearner):
    """AstroCLIP's spectrum encoder, pretrained here by masked-token modelling.

    ``fit(X)`` needs no labels: every spectrum's tokens are split into
    ``mask_num_chunks`` segments, a block of up to ``mask_chunk_width`` whole tokens is
    zeroed in each (:func:`mask_spans`; the block is narrower for spectra of fewer than
    ``(2 mask_num_chunks - 1) mask_chunk_width`` tokens, i.e. 550 tokens, about 5500
    pixels, for the published 6 x 50: the test spectra of a few hundred pixels get
    blocks of 1 to 3 tokens), and the SpecFormer learns to rebuild them: the mean
    squared error over the masked non-zero elements (:class:`MaskedTokenModel`), new
    masks every epoch. ``transform(X)`` is the mean-pooled embedding, ``embed(X)`` the
    per-token one. The encoder is fine-tuned on labels by :class:`SpecFormerClassifier`
    and :class:`SpecFormerRegressor` with ``pretrained=`` its saved folder.

    Parameters
    ----------
    {common}
    mask_num_chunks, mask_chunk_width : int
        AstroCLIP's masking: blocks per spectrum and tokens per block (6 and 50, as
        published).

    Attributes
    ----------
    model_ : MaskedTokenModel
        ``model_.specformer`` is the encoder.
    grid_ : str
        The grid used, ``"native"`` or ``"desi"``.
    specformer_config_ : SpecFormerConfig
        The architecture.
    history_ : list of dict
        Per epoch: ``train_loss`` (the masked-token MSE), ``val_loss``, ``lr``, ...
    n_spectra_ : int
        Spectra pretrained on.

    Notes
    -----
    Published training (``configs/specformer.yaml``): AdamW with lr 1e-5, weight decay
    0.1, betas (0.9, 0.95), 2000 warm-up steps, 500 000 steps of 64 DESI spectra. Here
    the Trainer's AdamW keeps the default betas (0.9, 0.999), and warm-up and the
    cosine decay are counted in epochs.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models import SpecFormerEncoder
    >>> rng = np.random.default_rng(0)
    >>> flux = 1 + 0.1 * rng.standard_normal((16, 300))
    >>> tiny = dict(embed_dim=16, num_layers=1, num_heads=2, max_len=64)
    >>> enc = SpecFormerEncoder(config=tiny, epochs=2, batch_size=8, random_state=0,
    ...                         validation_fraction=0, progress=False, device="cpu")
    >>> enc.fit(flux) is enc, len(enc.history_)
    (True, 2)
    >>> enc.transform(flux[:3]).shape
    (3, 16)
    >>> [e.shape for e in enc.embed(flux[:2])]
    [(29, 16), (29, 16)]
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **_SpecFormerLearner._parameter_constraints,
        "mask_num_chunks": [Interval(Integral, 1, None, closed="left")],
        "mask_chunk_width": [Interval(Integral, 1, None, closed="left")],
    }
    _file_format: ClassVar[str] = "spectromer-specformer-encoder"
    _file_format_version: ClassVar[int] = 1

    def __init__(
        self,
        config: str | SpecFormerConfig | dict[str, Any] | None = None,
        grid: str = "auto",
        pretrained: bool | str | os.PathLike | None = None,
        mask_num_chunks: int = 6,
        mask_chunk_width: int = 50,
        epochs: int = 10,
        batch_size: int = 64,
        lr: float = 1e-4,
        weight_decay: float = 0.1,
        warmup: float = 1.0,
        augment: Any = False,
        validation_fraction: float = 0.05,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.grid = grid
        self.pretrained = pretrained
        self.mask_num_chunks = mask_num_chunks
        self.mask_chunk_width = mask_chunk_width
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress

    def _masking(self) -> tuple[int, int]:
        return int(self.mask_num_chunks), int(self.mask_chunk_width)

    def _build_module(self, initial: bool) -> MaskedTokenModel:
        return MaskedTokenModel(self._specformer(initial))

    def _loss(self, targets: np.ndarray) -> Any:
        return ratio_loss  # AstroCLIP's loss from MaskedTokenModel's [errors, count]

    def _fitted_config(self) -> dict[str, Any]:
        return {**super()._fitted_config(), "n_spectra": int(self.n_spectra_)}

    def _restore_fitted(self, fitted: dict[str, Any], state: dict[str, Any], where: Any) -> None:
        super()._restore_fitted(fitted, state, where)
        self.n_spectra_ = int(fitted.get("n_spectra", 0))

    def fit(self, X: Any, y: Any = None, *, wavelength: Any = None, indices: Any = None,
            validation: Any = None, resume: bool = False,
            overwrite: bool = False) -> SpecFormerEncoder:  # fmt: skip
        """Pretrain on spectra ``X`` by masked-token modelling (``y`` is ignored).

        Every parameter (and ``pretrained``) is checked first, before any spectrum is
        read.

        Parameters
        ----------
        X : SpectraDataset, SpectrumSource, SpectrumBatch, sequence of Spectrum, or ndarray
            The spectra.
        y : ignored
            Present for scikit-learn compatibility.
        wavelength, indices, validation, resume, overwrite
            As for :meth:`SpectrumLearner.fit <spectromer.models.base.SpectrumLearner.fit>`.

        Returns
        -------
        SpecFormerEncoder
            ``self``, fitted.
        """
        super().fit(X, None, wavelength=wavelength, indices=indices, validation=validation,
                    resume=resume, overwrite=overwrite)  # fmt: skip
        self.n_spectra_ = self.n_train_
        return self


class _SpecFormerFineTuner(_SpecFormerLearner):
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **_SpecFormerLearner._parameter_constraints,
        "freeze_encoder": ["boolean"],
    }

    def __init__(
        self,
        config: str | SpecFormerConfig | dict[str, Any] | None = None,
        grid: str = "auto",
        pretrained: bool | str | os.PathLike | None = None,
        freeze_encoder: bool = False,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        warmup: float = 1.0,
        augment: Any = False,
        validation_fraction: float = 0.1,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.grid = grid
        self.pretrained = pretrained
        self.freeze_encoder = freeze_encoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress

    def _build_module(self, initial: bool) -> SpecFormerPredictor:
        return SpecFormerPredictor(self._specformer(initial), self._n_outputs(),
                                   bool(self.freeze_encoder))  # fmt: skip


_TUNER_DOC = """{what}

    The mean-pooled embedding of a SpecFormer (as :meth:`SpecFormerEncoder.transform`)
    and a linear head, trained on {targets}; the encoder is fine-tuned with the head, or
    kept as it is with ``freeze_encoder=True``. ``predict``, {proba}``score`` and the
    target handling are those of the learner base; ``transform`` gives the (fine-tuned)
    encoder's pooled embedding.

    Parameters
    ----------
    {common}
    freeze_encoder : bool
        Train the head alone on the ``pretrained`` encoder.

    Attributes
    ----------
    model_ : SpecFormerPredictor
        ``model_.specformer`` the encoder, ``model_.head`` the head.
    grid_, specformer_config_
        As for :class:`SpecFormerEncoder`.
    {fitted}

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models import {name}
    >>> rng = np.random.default_rng(0)
    >>> flux = 1 + 0.1 * rng.standard_normal((16, 300))
    >>> y = {y}
    >>> tiny = dict(embed_dim=16, num_layers=1, num_heads=2, max_len=64)
    >>> model = {name}(config=tiny, epochs=1, batch_size=8, random_state=0,
    ...                 validation_fraction=0, progress=False, device="cpu").fit(flux, y)
    >>> model.predict(flux[:3]).shape
    (3,)
    """


class SpecFormerClassifier(_SpecFormerFineTuner):
    task = "classification"
    _file_format: ClassVar[str] = "spectromer-specformer-classifier"
    _file_format_version: ClassVar[int] = 1

    def _loss(self, targets: np.ndarray) -> Any:
        return torch.nn.functional.cross_entropy


class SpecFormerRegressor(_SpecFormerFineTuner):
    task = "regression"
    _file_format: ClassVar[str] = "spectromer-specformer-regressor"
    _file_format_version: ClassVar[int] = 1

    def _loss(self, targets: np.ndarray) -> Any:
        return torch.nn.functional.mse_loss


_COMMON = _COMMON_DOC.strip("\n").lstrip()
SpecFormerEncoder.__doc__ = SpecFormerEncoder.__doc__.replace("{common}", _COMMON)
SpecFormerClassifier.__doc__ = _TUNER_DOC.format(
    what="Fine-tune a SpecFormer to classify spectra.",
    targets="class labels (cross-entropy)",
    proba="``predict_proba``, ",
    fitted="classes_ : ndarray\n        The class labels, sorted.",
    name="SpecFormerClassifier",
    y='np.array(["a", "b"] * 8)',
    common=_COMMON,
)
SpecFormerRegressor.__doc__ = _TUNER_DOC.format(
    what="Fine-tune a SpecFormer to predict numbers (e.g. redshift) from spectra.",
    targets="standardised targets (mean squared error)",
    proba="",
    fitted="target_mean_, target_scale_ : ndarray\n        The targets' standardisation.",
    name="SpecFormerRegressor",
    y="rng.uniform(0, 1, 16)",
    common=_COMMON,
)
