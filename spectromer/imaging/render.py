"""Render spectra to images: one spectrum, a batch, a dataset, PNG files, a transform."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..spectra import SpectrumBatch, SpectrumSource, as_source
from .config import RenderConfig, check_images_fit, make_config
from .kinds import Values, _levels, _place_blocks, _place_rgb_levels, get_kind
from .prepare import _resample_runs, grid_wavelengths

__all__ = ["render", "render_batches", "to_image", "save_images", "SpectrumToImage", "OUTPUTS"]

#: ``uint8`` gives (N, H, W, C) 0-255 images (channels last, as PIL and
#: matplotlib expect); ``float32`` gives (N, C, H, W) in [0, 1] (channels
#: first, as PyTorch expects).
OUTPUTS = ("uint8", "float32")


#: Spectra rendered at once within a batch: small enough for the working
#: arrays to stay in cache and be reused by the allocator, large enough for
#: numpy's per-call overhead not to matter. Every spectrum is rendered on its
#: own, so this changes no pixel.
CHUNK = 64


def _values(batch: SpectrumBatch, config: RenderConfig, longest: int | None = None) -> Values:
    r = _resample_runs(batch, config, longest)
    grid = z = None
    if config.grid in ("log", "linear"):
        grid = grid_wavelengths(config, r.values.shape[1])
        if config.frame == "rest":
            z = np.where(np.isfinite(batch.z), batch.z, 0.0)
    return Values(r.values, r.start, r.stop, grid, z, r.touched, config.mask_policy)


def _render_batch(
    batch: SpectrumBatch,
    config: RenderConfig,
    output: str,
    errors: str,
    out: np.ndarray | None = None,
) -> np.ndarray:
    n = len(batch)
    empty = ~batch.good.any(axis=1) if n else np.zeros(0, bool)
    if empty.any():
        which = ", ".join(batch.names[i] for i in np.flatnonzero(empty)[:5])
        more = "" if empty.sum() <= 5 else f" and {int(empty.sum()) - 5} more"
        msg = f"{which}{more}: no valid (finite, unmasked) pixel"
        if errors == "raise":
            raise ValueError(msg)
        if errors == "warn":
            warnings.warn(msg + "; rendered as a blank image", RuntimeWarning, stacklevel=3)
    kind = get_kind(config.kind)
    if n > CHUNK:
        h, w = config.shape
        c = config.channels
        if out is None:
            shape = (n, h, w, c) if output == "uint8" else (n, c, h, w)
            out = np.empty(shape, np.uint8 if output == "uint8" else np.float32)
        longest = int(batch.length.max())
        for s in range(0, n, CHUNK):
            e = min(s + CHUNK, n)
            _render_rows(batch.rows(s, e), kind, config, output, out[s:e], longest)
        return out
    return _render_rows(batch, kind, config, output, out)


def _render_rows(
    batch: SpectrumBatch,
    kind: Any,
    config: RenderConfig,
    output: str,
    out: np.ndarray | None,
    longest: int | None = None,
) -> np.ndarray:
    n = len(batch)
    result = kind(_values(batch, config, longest), config)
    first = output == "float32"
    if kind.is_block:
        # channels (None = all zero) in [0, 1]; uint8 levels truncate (= floor
        # for x >= 0), as published
        if output == "uint8" and len(result) == 3:
            return _place_rgb_levels(result, config, n, out=out)
        if output == "uint8":
            chans = [None if c is None else _levels(c).astype(np.uint8) for c in result]
            return _place_blocks(chans, config, np.uint8, n, out=out)
        chans = [None if c is None else c.astype(np.float32, copy=False) for c in result]
        return _place_blocks(chans, config, np.float32, n, out=out, channels_first=first)
    # line kinds: a palette image; look the colours up in the output dtype
    if output == "uint8":
        colors = np.floor(np.clip(result.colors, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        extra = None if result.mask is None else (result.mask * 255).astype(np.uint8)
    else:
        colors = result.colors.astype(np.float32)
        extra = result.mask
    c = colors.shape[1] + (extra is not None)
    h, w = config.shape
    if out is None:
        shape = (n, h, w, c) if output == "uint8" else (n, c, h, w)
        out = np.empty(shape, colors.dtype)
    if output == "uint8":
        out[..., :3] = colors[result.codes]
        if extra is not None:
            out[..., 3] = extra[:, None, :]
    else:
        for j in range(colors.shape[1]):
            out[:, j] = colors[:, j][result.codes]
        if extra is not None:
            out[:, 3] = extra[:, None, :]
    return out


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")


def _chunks(source: SpectrumSource, z: Any, batch_size: int):
    """Yield (start, stop, SpectrumBatch) over a source, batch_size spectra at a time."""
    n = len(source)
    zz = None if z is None else np.broadcast_to(np.asarray(z, float), (n,))
    for s in range(0, n, batch_size):
        e = min(s + batch_size, n)
        batch = source.batch(np.arange(s, e))
        if zz is not None:
            batch.z = zz[s:e].copy()
        yield s, e, batch


def render_batches(
    spectra: Any,
    *,
    config: RenderConfig | None = None,
    wavelength: Any = None,
    mask: np.ndarray | None = None,
    z: Any = None,
    indices: Sequence[int] | np.ndarray | None = None,
    output: str = "uint8",
    batch_size: int = 256,
    progress: bool = False,
    errors: str = "warn",
    **options: Any,
) -> Iterator[np.ndarray]:
    """Like :func:`render`, but yield one image batch at a time (memory O(batch)).

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import render_batches
    >>> shapes = [b.shape for b in render_batches(load_sample(), indices=range(10),
    ...                                           batch_size=4, size=32)]
    >>> shapes
    [(4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3)]
    """
    cfg = make_config(config, **options)
    source = as_source(spectra, wavelength=wavelength, mask=mask, indices=indices)
    yield from _run(source, cfg, z, output, batch_size, progress, errors)


def _run(
    source: SpectrumSource,
    cfg: RenderConfig,
    z: Any,
    output: str,
    batch_size: int,
    progress: bool,
    errors: str,
    out: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Render batch after batch (into slices of ``out`` if given), yielding each."""
    _check_output(output)
    if errors not in ("warn", "raise", "ignore"):
        raise ValueError(f"errors must be 'warn', 'raise' or 'ignore', got {errors!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(source), desc=f"render {cfg.kind}", unit="spectrum")
    try:
        for s, e, batch in _chunks(source, z, batch_size):
            target = None if out is None else out[s:e]
            yield _render_batch(batch, cfg, output, errors, out=target)
            if bar is not None:
                bar.update(e - s)
    finally:
        if bar is not None:
            bar.close()


def render(
    spectra: Any,
    *,
    config: RenderConfig | None = None,
    wavelength: Any = None,
    mask: np.ndarray | None = None,
    z: Any = None,
    indices: Sequence[int] | np.ndarray | None = None,
    output: str = "uint8",
    batch_size: int = 256,
    progress: bool = False,
    errors: str = "warn",
    **options: Any,
) -> np.ndarray:
    """Render many spectra to images, vectorised over batches.

    Parameters
    ----------
    spectra : sequence of Spectrum, SpectraDataset, or ndarray
        ``specutils.Spectrum`` objects (1-D), a
        :class:`~spectromer.datasets.SpectraDataset` (all rows, or ``indices``),
        or a flux array (N, L) with ``wavelength`` (L,) or (N, L).
    config : RenderConfig, optional
        Render options as one object; keyword ``options`` override its fields.
    wavelength : array or Quantity, optional
        Wavelength grid of a flux array (Angstrom unless a Quantity).
    mask : ndarray of bool, optional
        Bad pixels of a flux array (True = bad).
    z : float or array, optional
        Redshifts for ``frame="rest"`` (default: each spectrum's ``meta["z"]``).
    indices : array of int, optional
        Rows of a dataset to render.
    output : {"uint8", "float32"}
        ``uint8``: (N, H, W, C) 0-255; ``float32``: (N, C, H, W) in [0, 1].
    batch_size : int
        Spectra processed at once (working memory is O(batch_size)).
    progress : bool
        Show a tqdm progress bar.
    errors : {"warn", "raise", "ignore"}
        What to do about a spectrum without a single valid pixel (it is
        rendered blank unless ``"raise"``).
    **options
        Any :class:`RenderConfig` field: ``kind``, ``size``, ``block_size``,
        ``fill_order``, ``grid``, ``wave_range``, ``frame``, ``normalization``,
        ``mask_policy``, ``mask_channel``, ``cmap``, ...

    Returns
    -------
    ndarray
        The images, in input order.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import render
    >>> ds = load_sample()
    >>> imgs = render(ds, indices=range(8), kind="map2dnormaldev", size=64)
    >>> imgs.shape, imgs.dtype.name
    ((8, 64, 64, 3), 'uint8')
    >>> render(ds, indices=[0], size=32, output="float32").shape
    (1, 3, 32, 32)
    """
    cfg = make_config(config, **options)
    _check_output(output)
    source = as_source(spectra, wavelength=wavelength, mask=mask, indices=indices)
    n = len(source)
    h, w = cfg.shape
    c = cfg.channels
    shape = (n, h, w, c) if output == "uint8" else (n, c, h, w)
    check_images_fit(cfg, n, output)  # MemoryError naming the bytes, not numpy's
    out = np.empty(shape, np.uint8 if output == "uint8" else np.float32)
    for _ in _run(source, cfg, z, output, batch_size, progress, errors, out):
        pass
    return out


def to_image(
    spectrum: Any,
    kind: str | None = None,
    size: int | tuple[int, int] | None = None,
    *,
    config: RenderConfig | None = None,
    output: str = "uint8",
    z: float | None = None,
    **options: Any,
) -> np.ndarray:
    """Render one spectrum to an image.

    Also available as ``Spectrum.to_image(...)`` on every
    :class:`specutils.Spectrum` once :mod:`spectromer` is imported.

    Parameters
    ----------
    spectrum : specutils.Spectrum
        A 1-D spectrum.
    kind : str, optional
        ``map2dnormaldev`` (default), ``map2dnormal``, ``map2d``, ``roi``,
        ``plot`` or ``overlapsplit`` (see :class:`RenderConfig`).
    size : int or (int, int), optional
        Image size in pixels (default 224).
    config : RenderConfig, optional
        All options at once; ``kind``, ``size`` and ``options`` given here win.
    output : {"uint8", "float32"}
        ``uint8``: (H, W, C) 0-255; ``float32``: (C, H, W) in [0, 1].
    z : float, optional
        Redshift for ``frame="rest"`` (default ``spectrum.meta["z"]``).
    **options
        Any other :class:`RenderConfig` field.

    Returns
    -------
    ndarray
        The image.

    Raises
    ------
    ValueError
        If the spectrum has no valid pixel, or an option is invalid.

    Examples
    --------
    >>> from specutils import Spectrum
    >>> import spectromer
    >>> from spectromer.datasets import load_sample
    >>> spec = load_sample()[0]
    >>> img = spec.to_image("map2dnormaldev", size=224, fill_order="hilbert")
    >>> img.shape, img.dtype.name
    ((224, 224, 3), 'uint8')
    """
    if kind is not None:
        options["kind"] = kind
    if size is not None:
        options["size"] = size
    img = render([spectrum], config=config, output=output, z=z, errors="raise", **options)
    return img[0]


class SpectrumToImage:
    """A picklable transform for data loaders: spectrum in, image tensor out.

    Rendering on the fly in ``DataLoader`` workers means training never needs
    image files on disk. The transform accepts a ``specutils.Spectrum`` or a
    dict of arrays (``wave``, ``flux`` and optionally ``mask``/``ivar``, as
    returned by ``SpectraDataset.arrays``) and returns a ``torch.Tensor``
    (C, H, W) float32 in [0, 1] when PyTorch is installed, else a numpy array.

    Parameters
    ----------
    config : RenderConfig, optional
        Render options; keyword ``options`` override its fields.
    as_tensor : bool, optional
        Return torch tensors (default: if torch can be imported).
    **options
        Any :class:`RenderConfig` field.

    Examples
    --------
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import SpectrumToImage
    >>> ds = load_sample()
    >>> t = SpectrumToImage(kind="map2dnormaldev", size=32, as_tensor=False)
    >>> t(ds.arrays(0)).shape
    (3, 32, 32)
    >>> t.batch([ds.arrays(0), ds.arrays(1)]).shape
    (2, 3, 32, 32)
    """

    def __init__(
        self, config: RenderConfig | None = None, *, as_tensor: bool | None = None, **options: Any
    ) -> None:
        self.config = make_config(config, **options)
        self.as_tensor = as_tensor

    def __repr__(self) -> str:
        return f"SpectrumToImage({self.config!r})"

    def _convert(self, arr: np.ndarray):
        use_torch = self.as_tensor
        if use_torch is None:
            try:
                import torch  # noqa: F401

                use_torch = True
            except ImportError:
                use_torch = False
        if use_torch:
            import torch

            return torch.from_numpy(arr)
        return arr

    def batch(self, items: Sequence[Any]):
        """Render a list of spectra or array dicts to (N, C, H, W)."""
        from specutils import Spectrum

        if all(isinstance(it, Spectrum) for it in items):
            arr = render(list(items), config=self.config, output="float32", errors="ignore")
        else:
            arr = (
                np.concatenate(
                    [
                        render(_as_dict(it), config=self.config, output="float32", errors="ignore")
                        for it in items
                    ]
                )
                if items
                else np.zeros((0, self.config.channels, *self.config.shape), np.float32)
            )
        return self._convert(arr)

    def __call__(self, item: Any):
        from specutils import Spectrum

        if isinstance(item, Spectrum):
            arr = render([item], config=self.config, output="float32", errors="ignore")[0]
        else:
            arr = render(_as_dict(item), config=self.config, output="float32", errors="ignore")[0]
        return self._convert(arr)


def _as_dict(item: Any) -> dict[str, np.ndarray]:
    if not isinstance(item, dict) or "flux" not in item or "wave" not in item:
        raise TypeError(
            "expected a specutils Spectrum or a dict with 'wave' and 'flux' arrays "
            f"(as SpectraDataset.arrays returns), got {type(item).__name__}"
        )
    return item


def save_images(
    spectra: Any,
    directory: str | os.PathLike,
    *,
    names: Sequence[str] | None = None,
    config: RenderConfig | None = None,
    indices: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 256,
    progress: bool = True,
    **options: Any,
) -> list[Path]:
    """Render spectra and write one PNG file each (atomically).

    Training does not need image files (render on the fly with
    :class:`SpectrumToImage`); this is for looking at images or for other tools.

    Parameters
    ----------
    spectra : sequence of Spectrum, SpectraDataset, or ndarray
        As for :func:`render`.
    directory : path
        Output folder (created if needed).
    names : sequence of str, optional
        File names without extension; default: each spectrum's ``source``
        (file stem) or ``object_id``, else its index.
    config, indices, batch_size, progress, **options
        As for :func:`render`.

    Returns
    -------
    list of Path
        The files written, in input order.

    Examples
    --------
    >>> import tempfile
    >>> from spectromer.datasets import load_sample
    >>> from spectromer.imaging import save_images
    >>> paths = save_images(load_sample(), tempfile.mkdtemp(), indices=[0, 1], size=64,
    ...                     progress=False)
    >>> [p.suffix for p in paths]
    ['.png', '.png']
    """
    from PIL import Image

    from spectromer.utils.atomic import atomic_path

    cfg = make_config(config, **options)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if names is None:
        names = _default_names(spectra, indices)
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError("names must be unique (two spectra would write the same file)")
    paths = []
    k = 0
    for imgs in render_batches(
        spectra, config=cfg, indices=indices, batch_size=batch_size, progress=progress
    ):
        for img in imgs:
            path = directory / f"{names[k]}.png"
            arr = img[..., 0] if img.shape[-1] == 1 else img
            with atomic_path(path, suffix=".png") as tmp:
                Image.fromarray(arr).save(tmp, format="PNG")
            paths.append(path)
            k += 1
    return paths


def _default_names(spectra: Any, indices: Any) -> list[str]:
    from specutils import Spectrum

    def stem(meta: dict, i: int) -> str:
        src = meta.get("source")
        if src:
            name = Path(str(src)).name
            for ext in (".gz", ".bz2", ".fits", ".fit", ".fts"):
                name = name.removesuffix(ext)
            return name
        if meta.get("object_id"):
            return str(meta["object_id"])
        return f"spectrum-{i:06d}"

    from ..datasets import SpectraDataset

    if isinstance(spectra, Spectrum):
        spectra = [spectra]
    if isinstance(spectra, SpectraDataset):
        idx = range(len(spectra)) if indices is None else indices
        names = [stem(spectra.meta_row(int(i)), int(i)) for i in idx]
    elif isinstance(spectra, (list, tuple)) and all(isinstance(s, Spectrum) for s in spectra):
        names = [stem(s.meta if isinstance(s.meta, dict) else {}, i)
                 for i, s in enumerate(spectra)]
    else:
        n = len(as_source(spectra, indices=indices))
        names = [f"spectrum-{i:06d}" for i in range(n)]
    if len(set(names)) != len(names):  # e.g. DESI targets from one file
        names = [f"{n}-{i:06d}" for i, n in enumerate(names)]
    return names
