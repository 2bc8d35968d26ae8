"""The universal spectral tokenizer as a learner: fit, transform, encode, reconstruct.

:class:`SpectrumTokenizer` trains a :class:`~spectromer.models.tokenizer.SpectrumTokenizerNet`
(arXiv:2510.17959, see :mod:`spectromer.models.tokenizer`) on spectra of any surveys at
once, each on its own wavelength grid, by chi-square reconstruction; it is a
:class:`~spectromer.models.base.SpectrumLearner` (one fit skeleton, parameter checks,
save/load, GPU/AMP/DDP through the engine) that adds only its pixel inputs, its loss and
its outputs.

This module imports PyTorch; ``import spectromer.models`` imports it on first use of
``SpectrumTokenizer``.
"""

from __future__ import annotations

import json
import os
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from ..spectra import SpectrumSource
from .base import SpectrumLearner, ratio_loss
from .persistence import CONFIG_NAME, ModelFileError
from .tokenizer import SpectrumTokenizerNet, TokenizerConfig, pixel_inputs

__all__ = ["SpectrumTokenizer", "TokenizerPixels", "PatchTokens"]


class PatchTokens(NamedTuple):
    """One spectrum's tokens from :meth:`SpectrumTokenizer.encode`.

    Attributes
    ----------
    tokens : ndarray (T, width) float32
        One per patch of ``patch_size`` native pixels (the last may be partial).
    wavelength : ndarray (T,) float64
        Mean wavelength of each patch's pixels, Angstrom.
    valid : ndarray (T,) bool
        False for a patch with more than half its pixels bad (not attended to).
    """

    tokens: np.ndarray
    wavelength: np.ndarray
    valid: np.ndarray


class TokenizerPixels:
    """What the Trainer iterates for :class:`SpectrumTokenizer`: pixel inputs of a source.

    An item, for a list of rows, is ``(x, targets[rows])`` (``(x, rows)`` while
    ``targets`` is None), ``x`` the ``(B, L, 4)`` inputs of
    :func:`~spectromer.models.tokenizer.pixel_inputs` padded to the longest spectrum of
    the rows.

    Parameters
    ----------
    source : SpectrumSource
        The spectra.
    targets : ndarray, optional
        One target per spectrum.
    patch_size : int
        Inputs are padded to whole patches.
    augment : callable, optional
        ``augment(batch, rng)``, e.g. an :class:`~spectromer.training.Augmentation`.
    seed : int
        Seed of the augmentations (drawn from ``(seed, epoch, rows)``).

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models.tokenizer_learner import TokenizerPixels
    >>> from spectromer.spectra import as_source
    >>> src = as_source(np.ones((3, 50)), wavelength=np.linspace(4000, 5000, 50))
    >>> x, rows = TokenizerPixels(src, None, 32)[[0, 2]]
    >>> tuple(x.shape), rows.tolist()
    ((2, 64, 4), [0, 2])
    """

    def __init__(self, source: SpectrumSource, targets: np.ndarray | None, patch_size: int,
                 augment: Any = None, seed: int = 0) -> None:  # fmt: skip
        self.source, self.targets, self.patch_size = source, targets, int(patch_size)
        self.augment, self.seed, self.epoch = augment, int(seed), 0

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of epoch ``epoch`` from now on."""
        self.epoch = int(epoch)

    def batch(self, rows: Any) -> tuple[torch.Tensor, np.ndarray, Any]:
        """Inputs, median scales and the :class:`~spectromer.spectra.SpectrumBatch` of rows."""
        idx = np.asarray(rows, np.int64).reshape(-1)
        batch = self.source.batch(idx)
        if self.augment is not None:
            batch = self.augment(batch, np.random.default_rng([self.seed, self.epoch,
                                                               *idx.tolist()]))  # fmt: skip
        x, scale = pixel_inputs(batch, self.patch_size)
        return x, scale, batch

    def __getitem__(self, rows: Any) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.asarray(rows, np.int64).reshape(-1)
        x, _, _ = self.batch(idx)
        if self.targets is None:
            return x, torch.from_numpy(idx)
        return x, torch.from_numpy(np.asarray(self.targets[idx]))


def _grid_angstrom(wavelength: Any, name: str) -> np.ndarray:
    """A wavelength grid (array or Quantity) as a 1-D float64 array in Angstrom."""
    from astropy import units as u

    if isinstance(wavelength, u.Quantity):
        try:
            wavelength = wavelength.to_value(u.AA, equivalencies=u.spectral())
        except u.UnitConversionError as err:
            raise ValueError(f"{name}: {err}") from None
    grid = np.asarray(wavelength, np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"{name}: a 1-D wavelength grid is needed, got shape {grid.shape}")
    if not (np.all(np.isfinite(grid)) and np.all(grid > 0)):
        raise ValueError(f"{name}: wavelengths must be finite and positive (Angstrom)")
    return grid


class SpectrumTokenizer(SpectrumLearner):
    """The universal spectral tokenizer (arXiv:2510.17959): one model for every survey.

    ``fit(X)`` needs no labels: spectra of any instruments (LAMOST, SDSS, BOSS, DESI,
    simulated; a list mixes them) are encoded on their own native pixels and decoded on
    the same wavelengths, and the network learns to minimise the chi-square of the
    reconstruction (see :mod:`spectromer.models.tokenizer`). ``transform(X)`` gives the
    mean-pooled frozen embedding, ``encode(X)`` the per-patch tokens with their
    wavelengths and validity, ``reconstruct(X)`` the flux rebuilt on each spectrum's own
    grid or on any requested grid, ``reduced_chi2(X)`` how well. The defaults are the
    paper's architecture (patches of 32 pixels, 6 encoder and 6 decoder layers of width
    512, 8 heads); a configuration that trains on 2 CPU cores is ``width=128, depth=4,
    decoder_depth=2, heads=4`` (the benchmark's ``default`` preset,
    :data:`~spectromer.evaluation.families.TOKENIZER_PRESETS`).

    Parameters
    ----------
    patch_size : int
        Native pixels per token (paper: 32).
    width, depth, decoder_depth, heads : int
        Token width, encoder layers, decoder layers, attention heads (paper: 512, 6, 6, 8).
    n_frequencies : int
        Frequencies of the wavelength encoding (periods log-spaced over 2 - 20,000
        Angstrom).
    mlp_ratio, dropout : float
        Transformer MLP width (relative) and dropout.
    pretrained : path, optional
        The folder of a saved :class:`SpectrumTokenizer` whose weights ``fit`` starts
        from (to continue training, or to adapt a tokenizer to another survey's
        spectra). Its architecture must be this one's (``patch_size``, ``width``,
        ``depth``, ``decoder_depth``, ``heads``, ``n_frequencies``, ``mlp_ratio``);
        checked, like its existence, before any spectrum is read.
    epochs, batch_size : int
        Passes over the spectra; spectra per step.
    lr, weight_decay, warmup : float
        AdamW peak learning rate, weight decay (not on biases and norms), warm-up epochs
        before the cosine decay. Gradients are clipped at norm 1.
    augment : bool, dict or Augmentation
        Physical augmentations of the training spectra
        (:class:`~spectromer.training.Augmentation`).
    validation_fraction : float
        Spectra held out to pick the epoch of lowest validation chi-square; 0 keeps the
        last.
    device, precision, num_workers, checkpoint_dir, random_state, progress
        As for :class:`~spectromer.SpectromerModel` (``device="auto"``: a GPU where there
        is one; ``precision="auto"``: bf16 autocast on a GPU that has it; DDP under
        ``torchrun``).

    Attributes
    ----------
    model_ : SpectrumTokenizerNet
        The network.
    tokenizer_config_ : TokenizerConfig
        Its architecture.
    n_spectra_ : int
        Spectra trained on.
    history_ : list of dict
        Per epoch: ``train_loss`` and ``val_loss`` (the pooled reduced chi-square of the
        reconstruction), ``lr``, ...

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.models import SpectrumTokenizer
    >>> rng = np.random.default_rng(0)
    >>> wave = np.linspace(4000, 6000, 100)
    >>> flux = 1 + 0.05 * rng.standard_normal((12, 100))
    >>> tok = SpectrumTokenizer(patch_size=16, width=16, depth=1, decoder_depth=1, heads=2,
    ...                         epochs=2, batch_size=4, validation_fraction=0,
    ...                         random_state=0, progress=False, device="cpu")
    >>> tok.fit(flux, wavelength=wave) is tok, len(tok.history_)
    (True, 2)
    >>> tok.transform(flux[:3], wavelength=wave).shape
    (3, 16)
    >>> [t.tokens.shape for t in tok.encode(flux[:1], wavelength=wave)]
    [(7, 16)]
    >>> rec = tok.reconstruct(flux[:2], np.linspace(4500, 5500, 10), input_wavelength=wave)
    >>> [r.shape for r in rec]
    [(10,), (10,)]
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **SpectrumLearner._parameter_constraints,
        "patch_size": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "decoder_depth": [Interval(Integral, 1, None, closed="left")],
        "heads": [Interval(Integral, 1, None, closed="left")],
        "n_frequencies": [Interval(Integral, 1, None, closed="left")],
        "mlp_ratio": [Interval(Real, 0, None, closed="neither")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "pretrained": [None, str, os.PathLike],
    }
    _file_format: ClassVar[str] = "spectromer-spectrum-tokenizer"
    _file_format_version: ClassVar[int] = 1

    def __init__(
        self,
        patch_size: int = 32,
        width: int = 512,
        depth: int = 6,
        decoder_depth: int = 6,
        heads: int = 8,
        n_frequencies: int = 16,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        pretrained: str | os.PathLike | None = None,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 3e-4,
        weight_decay: float = 0.05,
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
        self.patch_size = patch_size
        self.width = width
        self.depth = depth
        self.decoder_depth = decoder_depth
        self.heads = heads
        self.n_frequencies = n_frequencies
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout
        self.pretrained = pretrained
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

    # -- parameters and the base's hooks ---------------------------------------------------
    def _config(self) -> TokenizerConfig:
        return TokenizerConfig(
            patch_size=int(self.patch_size), width=int(self.width), depth=int(self.depth),
            decoder_depth=int(self.decoder_depth), heads=int(self.heads),
            n_frequencies=int(self.n_frequencies), mlp_ratio=float(self.mlp_ratio),
            dropout=float(self.dropout),
        )  # fmt: skip

    def _check_param_combinations(self) -> None:
        try:
            config = self._config()
        except ValueError as err:
            raise ValueError(f"{type(self).__name__}: {err}") from None
        if self.pretrained is not None:
            self._check_pretrained(config)

    def _check_pretrained(self, config: TokenizerConfig) -> Path:
        """The ``pretrained`` folder, checked: a saved tokenizer of this architecture."""
        path = Path(self.pretrained).expanduser()
        if not (path / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"pretrained: {path} is not a saved SpectrumTokenizer "
                                    f"folder (no {CONFIG_NAME})")  # fmt: skip
        try:
            saved = json.loads((path / CONFIG_NAME).read_text())["fitted"]["tokenizer_config"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelFileError(f"pretrained: {path / CONFIG_NAME} holds no tokenizer "
                                 f"architecture ({err})") from None  # fmt: skip
        mine = config.to_dict()
        differ = {k: (saved.get(k), v) for k, v in mine.items()
                  if k != "dropout" and saved.get(k) != v}  # fmt: skip
        if differ:
            text = ", ".join(f"{k}={b!r} (saved: {a!r})" for k, (a, b) in differ.items())
            raise ValueError(f"pretrained: {path} has another architecture: {text}")
        return path

    def _prepare(self, source: SpectrumSource) -> None:
        self.tokenizer_config_ = self._config()

    def _build_module(self, initial: bool) -> SpectrumTokenizerNet:
        module = SpectrumTokenizerNet(self.tokenizer_config_)
        if initial and self.pretrained is not None:
            path = self._check_pretrained(self.tokenizer_config_)
            saved = type(self).load(path, device="cpu")
            module.load_state_dict(saved.model_.state_dict())
        return module

    def _training_data(self, source: SpectrumSource, targets: np.ndarray | None, seed: int,
                       train: bool) -> TokenizerPixels:  # fmt: skip
        from ..training import as_augmentation

        augment = as_augmentation(self.augment) if train else None
        return TokenizerPixels(source, targets, self.tokenizer_config_.patch_size, augment, seed)

    def _loss(self, targets: np.ndarray) -> Any:
        return ratio_loss

    def _fingerprint(self, targets: np.ndarray, source: SpectrumSource) -> dict[str, Any]:
        return {**super()._fingerprint(targets, source), "kind": "spectrum-tokenizer"}

    def _fitted_config(self) -> dict[str, Any]:
        return {**super()._fitted_config(), "n_spectra": int(self.n_spectra_),
                "tokenizer_config": self.tokenizer_config_.to_dict()}  # fmt: skip

    def _restore_fitted(self, fitted: dict[str, Any], state: dict[str, Any], where: Any) -> None:
        super()._restore_fitted(fitted, state, where)
        try:
            config = dict(fitted["tokenizer_config"])
            config["period_range"] = tuple(config["period_range"])
            self.tokenizer_config_ = TokenizerConfig(**config)
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(
                f"{where}/{CONFIG_NAME}: no valid tokenizer architecture ({err})"
            ) from None
        self.n_spectra_ = int(fitted.get("n_spectra", 0))

    def fit(self, X: Any, y: Any = None, *, wavelength: Any = None, indices: Any = None,
            validation: Any = None, resume: bool = False,
            overwrite: bool = False) -> SpectrumTokenizer:  # fmt: skip
        """Train on spectra ``X`` by chi-square reconstruction on their own grids (``y`` ignored).

        Every parameter is checked first, before any spectrum is read.

        Parameters
        ----------
        X : SpectraDataset, SpectrumSource, SpectrumBatch, sequence of Spectrum, ndarray, or list
            The spectra; a list of datasets or sources mixes surveys of different
            lengths and grids. They need wavelengths (``wavelength=`` for a flux array).
        y : ignored
            Present for scikit-learn compatibility.
        wavelength, indices, validation, resume, overwrite
            As for :meth:`SpectrumLearner.fit <spectromer.models.base.SpectrumLearner.fit>`.

        Returns
        -------
        SpectrumTokenizer
            ``self``, fitted.

        Examples
        --------
        >>> import numpy as np
        >>> from spectromer.models import SpectrumTokenizer
        >>> from spectromer.spectra import as_source
        >>> a = as_source(np.ones((4, 80)), wavelength=np.linspace(3700, 9000, 80))
        >>> b = as_source(np.ones((4, 50)), wavelength=np.linspace(3600, 9800, 50))
        >>> tok = SpectrumTokenizer(patch_size=16, width=16, depth=1, decoder_depth=1, heads=2,
        ...                         epochs=1, validation_fraction=0, progress=False,
        ...                         device="cpu", random_state=0).fit([a, b])
        >>> tok.n_spectra_
        8
        """
        super().fit(X, None, wavelength=wavelength, indices=indices, validation=validation,
                    resume=resume, overwrite=overwrite)  # fmt: skip
        self.n_spectra_ = self.n_train_
        return self

    # -- use ----------------------------------------------------------------------------------
    def _inference_data(self, X: Any, wavelength: Any, indices: Any) -> TokenizerPixels:
        source = self._inference_source(X, wavelength, indices)
        return TokenizerPixels(source, None, self.tokenizer_config_.patch_size)

    def _batches(self, data: TokenizerPixels):
        """(inputs on the device, scales, batch) for consecutive rows, in inference mode."""
        from ..training import autocast_dtype
        from ..training.engine import _autocast

        device = self._device()
        dtype = autocast_dtype(self.precision, device)
        model = self.model_.to(device).eval()
        size = int(self.batch_size)
        with torch.inference_mode():
            for start in range(0, len(data), size):
                x, scale, batch = data.batch(np.arange(start, min(start + size, len(data))))
                with _autocast(device, dtype):
                    yield model, x.to(device), scale, batch

    def transform(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """The mean of each spectrum's valid tokens: its frozen embedding.

        Parameters
        ----------
        X : SpectraDataset, SpectrumSource, sequence of Spectrum, or ndarray
            The spectra, any survey.
        wavelength : array, optional
            Wavelength grid when ``X`` is a flux array.
        indices : array of int, optional
            Rows of a dataset.

        Returns
        -------
        ndarray
            ``(n, width)`` float32; a spectrum with no valid patch gets a row of NaN (and
            a warning names how many).

        Examples
        --------
        >>> import numpy as np
        >>> from spectromer.models import SpectrumTokenizer
        >>> wave = np.linspace(4000, 6000, 64)
        >>> tok = SpectrumTokenizer(patch_size=16, width=8, depth=1, decoder_depth=1, heads=2,
        ...                         epochs=1, validation_fraction=0, progress=False,
        ...                         device="cpu", random_state=0).fit(np.ones((4, 64)),
        ...                                                           wavelength=wave)
        >>> tok.transform(np.ones((2, 64)), wavelength=wave).dtype
        dtype('float32')
        """
        data = self._inference_data(X, wavelength, indices)
        out = self._run(self.model_, data, forward=lambda m, x: m.embed(x),
                        progress=bool(self.progress)).astype(np.float32)  # fmt: skip
        empty = ~np.isfinite(out).all(axis=1)
        if empty.any():
            warnings.warn(f"{int(empty.sum())} of {len(out)} spectra have no valid patch (more "
                          "than half the pixels of every patch are bad); their embeddings "
                          "are NaN", UserWarning, stacklevel=2)  # fmt: skip
        return out

    def encode(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> list[PatchTokens]:
        """Each spectrum's per-patch tokens, with the patches' wavelengths and validity.

        Parameters
        ----------
        X, wavelength, indices
            As in :meth:`transform`.

        Returns
        -------
        list of PatchTokens
            One per spectrum: ``tokens`` ``(T, width)``, ``wavelength`` ``(T,)`` (mean of
            the patch's pixels, Angstrom), ``valid`` ``(T,)``; ``T`` is the spectrum's
            pixels divided by ``patch_size``, rounded up.

        Examples
        --------
        >>> import numpy as np
        >>> from spectromer.models import SpectrumTokenizer
        >>> wave = np.linspace(4000, 6000, 40)
        >>> flux = np.ones((3, 40))
        >>> tok = SpectrumTokenizer(patch_size=16, width=8, depth=1, decoder_depth=1, heads=2,
        ...                         epochs=1, validation_fraction=0, progress=False,
        ...                         device="cpu", random_state=0).fit(flux, wavelength=wave)
        >>> t = tok.encode(flux[:1], wavelength=wave)[0]
        >>> t.tokens.shape, t.valid.tolist()  # the last patch: 8 pixels of 16
        ((3, 8), [True, True, True])
        """
        p = self.tokenizer_config_.patch_size
        out: list[PatchTokens] = []
        for model, x, _, batch in self._batches(self._inference_data(X, wavelength, indices)):
            tokens, valid = model.encode(x)
            tokens, valid = tokens.float().cpu().numpy(), valid.cpu().numpy()
            wave = x[..., 2].double().cpu().numpy().reshape(len(x), -1, p)
            real = (wave > 0).sum(axis=2)  # padding has wavelength 0
            centre = wave.sum(axis=2) / np.maximum(real, 1)
            for row, n in enumerate(np.asarray(batch.length).tolist()):
                t = -(-int(n) // p)
                out.append(PatchTokens(tokens[row, :t], centre[row, :t], valid[row, :t]))
        return out

    def reconstruct(self, X: Any, wavelength: Any = None, *, input_wavelength: Any = None,
                    indices: Any = None) -> list[np.ndarray]:  # fmt: skip
        """The flux rebuilt from the tokens, on each spectrum's own grid or on ``wavelength``.

        Parameters
        ----------
        X : SpectraDataset, SpectrumSource, sequence of Spectrum, or ndarray
            The spectra.
        wavelength : array, Quantity, or sequence of them, optional
            The output grid (vacuum, Angstrom unless a Quantity): one grid for every
            spectrum, or one per spectrum. None: each spectrum's own pixels.
        input_wavelength : array, optional
            The input grid when ``X`` is a flux array (``wavelength=`` of :meth:`fit`).
        indices : array of int, optional
            Rows of a dataset.

        Returns
        -------
        list of ndarray
            One float64 array per spectrum, in the units of its flux (the normalised
            reconstruction times the spectrum's median flux).

        Raises
        ------
        ValueError
            For a grid that is not 1-D, finite and positive, or a list of grids of
            another length than ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from spectromer.models import SpectrumTokenizer
        >>> wave = np.linspace(4000, 6000, 48)
        >>> flux = 3.0 * np.ones((4, 48))
        >>> tok = SpectrumTokenizer(patch_size=16, width=8, depth=1, decoder_depth=1, heads=2,
        ...                         epochs=1, validation_fraction=0, progress=False,
        ...                         device="cpu", random_state=0).fit(flux, wavelength=wave)
        >>> [r.shape for r in tok.reconstruct(flux[:2], input_wavelength=wave)]
        [(48,), (48,)]
        """
        data = self._inference_data(X, input_wavelength, indices)
        grids: list[np.ndarray] | None = None
        if wavelength is not None:
            from astropy import units as u

            if isinstance(wavelength, (u.Quantity, np.ndarray)):
                one = wavelength.ndim == 1
            else:
                items = list(wavelength)
                one = not items or np.ndim(items[0]) == 0
            if one:
                grid = _grid_angstrom(wavelength, "wavelength")
                grids = [grid] * len(data)
            else:
                grids = [_grid_angstrom(g, f"wavelength[{i}]") for i, g in enumerate(wavelength)]
                if len(grids) != len(data):
                    raise ValueError(f"wavelength: {len(grids)} grids for {len(data)} spectra")
        out: list[np.ndarray] = []
        start = 0
        for model, x, scale, batch in self._batches(data):
            tokens, valid = model.encode(x)
            lengths = np.asarray(batch.length).tolist()
            if grids is None:
                query, sizes = x[..., 2], lengths
            else:
                mine = grids[start : start + len(x)]
                sizes = [g.size for g in mine]
                q = np.zeros((len(x), max(sizes)), np.float32)
                for row, g in enumerate(mine):
                    q[row, : g.size] = g
                query = torch.from_numpy(q).to(x.device)
            flux = model.decode(tokens, valid, query).float().cpu().numpy().astype(np.float64)
            out.extend(flux[row, :n] * scale[row] for row, n in enumerate(sizes))
            start += len(x)
        return out

    def reduced_chi2(self, X: Any, *, wavelength: Any = None, indices: Any = None) -> np.ndarray:
        """Reduced chi-square of each spectrum's reconstruction on its own grid.

        The chi-square over the good pixels (inverse-variance weighted, the training
        loss) divided by their number; NaN for a spectrum with no good pixel.

        Parameters
        ----------
        X, wavelength, indices
            As in :meth:`transform`.

        Returns
        -------
        ndarray (n,) float64

        Examples
        --------
        >>> import numpy as np
        >>> from spectromer.models import SpectrumTokenizer
        >>> wave = np.linspace(4000, 6000, 48)
        >>> flux = np.ones((4, 48))
        >>> tok = SpectrumTokenizer(patch_size=16, width=8, depth=1, decoder_depth=1, heads=2,
        ...                         epochs=1, validation_fraction=0, progress=False,
        ...                         device="cpu", random_state=0).fit(flux, wavelength=wave)
        >>> tok.reduced_chi2(flux, wavelength=wave).shape
        (4,)
        """
        out = self._outputs(X, wavelength, indices).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(out[:, 1] > 0, out[:, 0] / out[:, 1], np.nan)
