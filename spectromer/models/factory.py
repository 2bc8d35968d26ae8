"""Build timm backbones by name, with pretrained weights loaded offline from local files.

torch and timm are imported inside the functions: importing :mod:`spectromer` or
:mod:`spectromer.models` does not import them.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .weights import (
    PretrainedWeightsUnavailable,
    check_hub_available,
    hub_weights_file,
    read_checkpoint_shapes,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["create_model", "model_info", "list_backbones"]

__doctest_requires__ = {("create_model", "model_info", "list_backbones"): ["torch", "timm"]}

# Keyword arguments that create_model sets itself.
_RESERVED = ("num_classes", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay")
_TIMM_BUILDER_LOGGER = "timm.models._builder"


def _import_timm() -> Any:
    try:
        import timm
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "spectromer.models needs PyTorch and timm: pip install torch timm safetensors"
        ) from err
    return timm


def _as_size(img_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(img_size, bool):
        raise TypeError(f"img_size must be an int or an (height, width) pair, not {img_size!r}")
    if isinstance(img_size, int):
        size = (img_size, img_size)
    else:
        try:
            size = tuple(img_size)
        except TypeError:
            raise TypeError(
                f"img_size must be an int or an (height, width) pair, not {img_size!r}"
            ) from None
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in size):
        raise TypeError(f"img_size must be an int or an (height, width) pair, not {img_size!r}")
    if min(size) < 1:
        raise ValueError(f"img_size must be positive, got {img_size!r}")
    return size  # type: ignore[return-value]


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_backbone(timm: Any, backbone: str) -> None:
    if not isinstance(backbone, str) or not backbone:
        raise TypeError(f"backbone must be a timm model name, not {backbone!r}")
    if timm.is_model(backbone.split(".")[0]) or backbone.startswith(("hf-hub:", "local-dir:")):
        return
    close = difflib.get_close_matches(backbone, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(
        f"unknown backbone {backbone!r}: not a timm model name "
        f"(spectromer.models.list_backbones() lists them){hint}"
    )


def _names(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _build(timm: Any, backbone: str, size: tuple[int, int], kwargs: dict[str, Any]) -> Any:
    """``timm.create_model``, passing ``img_size`` only to models whose constructor takes it."""
    try:
        return timm.create_model(backbone, img_size=size, **kwargs)
    except TypeError as err:
        if "img_size" not in str(err):
            raise
    # The constructor has no img_size: the model is convolutional (any input size works at
    # run time), unless its pretrained config says its input size is fixed.
    cfg = timm.models.get_pretrained_cfg(backbone)
    if cfg is not None and cfg.fixed_input_size and tuple(cfg.input_size[1:]) != size:
        raise ValueError(
            f"{backbone} has a fixed input size {tuple(cfg.input_size[1:])} and its constructor "
            f"takes no img_size, so img_size={size} is impossible"
        )
    return timm.create_model(backbone, **kwargs)


class _LoadReport(logging.Filter):
    """Collect what timm reports after ``load_state_dict``, without changing its log output.

    timm loads a checkpoint non-strictly when it drops the classifier (a fresh head) and
    only *logs* the missing and unexpected keys; this filter records them so that a
    checkpoint that does not fit the architecture is an error, not a half-random model.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level
        self.missing: list[str] = []
        self.unexpected: list[str] = []
        self.unconverted: list[str] = []

    @staticmethod
    def _keys(message: str, start: str, end: str) -> list[str]:
        body = message[len(start) : message.find(end)]
        return [k for k in body.split(", ") if k]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Missing keys (") and ") discovered" in message:
            self.missing += self._keys(message, "Missing keys (", ") discovered")
        elif message.startswith("Unexpected keys (") and ") found" in message:
            self.unexpected += self._keys(message, "Unexpected keys (", ") found")
        elif message.startswith("Unable to convert pretrained"):
            self.unconverted.append(message)
        return record.levelno >= self.level  # pass on only what would have been logged


@contextmanager
def _timm_load_report() -> Iterator[_LoadReport]:
    logger = logging.getLogger(_TIMM_BUILDER_LOGGER)
    report = _LoadReport(logger.getEffectiveLevel())
    old_level = logger.level
    logger.addFilter(report)
    logger.setLevel(min(logging.INFO, report.level))
    try:
        yield report
    finally:
        logger.setLevel(old_level)
        logger.removeFilter(report)


def _load_from_file(
    timm: Any,
    backbone: str,
    path: Path,
    size: tuple[int, int],
    kwargs: dict[str, Any],
) -> Any:
    """Build ``backbone`` and load ``path`` through timm's pretrained machinery."""
    shapes = read_checkpoint_shapes(path)
    cfg = timm.models.get_pretrained_cfg(backbone)
    cfg_input = tuple(cfg.input_size) if cfg is not None else (3, 224, 224)
    classifiers = _names(cfg.classifier if cfg is not None else None)
    in_chans = kwargs["in_chans"]
    num_outputs = kwargs["num_classes"]

    # Tell timm what the file holds, so that it adapts what differs and nothing else.
    file_in_chans = cfg_input[0]
    for conv in _names(cfg.first_conv if cfg is not None else None):
        shape = shapes.get(conv + ".weight")
        if shape is not None and len(shape) == 4 and shape[1] != cfg_input[0]:
            file_in_chans = shape[1]  # e.g. a 4-channel fine-tuned model saved by us
            break
    file_head = 0
    for name in classifiers:
        shape = shapes.get(name + ".weight")
        if shape is not None:
            file_head = shape[0]
            break
    overlay = {
        "file": str(path),
        "num_classes": file_head,  # a different num_outputs makes timm drop the file's head
        "input_size": (file_in_chans, *cfg_input[1:]),
    }
    fresh_head = file_head != num_outputs
    with _timm_load_report() as report:
        try:
            model = _build(
                timm, backbone, size, dict(kwargs, pretrained=True, pretrained_cfg_overlay=overlay)
            )
        except RuntimeError as err:  # size mismatches, or missing keys in a strict load
            raise ValueError(
                f"the weights in {path} do not fit {backbone} (img_size={size}, "
                f"in_chans={in_chans}, num_outputs={num_outputs}): {err}"
            ) from err
    head_keys = {f"{c}.{p}" for c in classifiers for p in ("weight", "bias")}
    missing = [k for k in report.missing if not (fresh_head and k in head_keys)]
    problems = []
    if missing:
        problems.append(f"missing from the file: {_key_list(missing)}")
    if report.unexpected:
        problems.append(f"in the file but not in the model: {_key_list(report.unexpected)}")
    problems += report.unconverted
    if problems:
        raise ValueError(
            f"the weights in {path} do not fit {backbone} (img_size={size}, "
            f"in_chans={in_chans}, num_outputs={num_outputs}): " + "; ".join(problems)
        )
    return model


def _key_list(keys: list[str], limit: int = 12) -> str:
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def create_model(
    backbone: str = "vit_base_patch16_224",
    *,
    num_outputs: int = 0,
    pretrained: bool | str | os.PathLike = False,
    img_size: int | tuple[int, int] = 224,
    in_chans: int = 3,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    **model_kwargs: Any,
) -> torch.nn.Module:
    """Build a timm model by name, optionally with pretrained weights.

    Any model of ``timm.list_models()`` works (see :func:`list_backbones`). Vision
    transformers take any ``img_size`` and ``in_chans``; their pretrained weights are
    adapted to both when loaded.

    Parameters
    ----------
    backbone : str
        timm model name, optionally with a pretrained tag
        (``"vit_base_patch16_224.augreg_in21k"``).
    num_outputs : int
        Size of the output layer (classes, or regression targets). 0: no head, the model
        returns its pooled features, ``(batch, embed_dim)``, for embeddings and probes.
    pretrained : bool or str or os.PathLike
        False: random initialisation. True: ImageNet weights through timm (the Hugging
        Face hub; a copy already in the local cache loads offline); where they cannot be
        downloaded :class:`~spectromer.models.PretrainedWeightsUnavailable` is raised
        within seconds. A path: a local ``.safetensors``, ``.pth`` or ``.bin`` state dict
        of this architecture, loaded offline; its position embeddings are resized to
        ``img_size``, its input convolution adapted to ``in_chans``, and its classifier
        used only when it has ``num_outputs`` outputs (otherwise the head is fresh).
    img_size : int or (int, int)
        Input image size, ``size`` or ``(height, width)``. Passed to models whose
        constructor takes it (ViTs and other fixed-size models); convolutional models take
        any size at run time.
    in_chans : int
        Number of input channels (image planes).
    drop_rate : float
        Dropout rate before the head.
    drop_path_rate : float
        Stochastic depth rate.
    **model_kwargs
        Passed on to the timm model's constructor, for example
        ``patch_size=8, depth=2, embed_dim=64, num_heads=2`` for a tiny ViT. ViT patches
        may be rectangular: ``patch_size=(4, 16)``; each side of ``img_size`` must then be
        a multiple of the patch side.

    Returns
    -------
    torch.nn.Module
        The timm model, in training mode. It maps ``(batch, in_chans, height, width)``
        float tensors to ``(batch, num_outputs)``, or to ``(batch, embed_dim)`` features
        when ``num_outputs`` is 0.

    Raises
    ------
    ValueError
        For an unknown backbone, an impossible ``img_size``, or a weight file whose
        tensors do not fit the architecture (the message names the keys).
    FileNotFoundError
        When ``pretrained`` is a path that does not exist.
    PretrainedWeightsUnavailable
        When ``pretrained=True`` and the weights can be neither found locally nor
        downloaded; the message gives the one-liner that saves them elsewhere.

    Examples
    --------
    A tiny vision transformer on 32x32 four-channel images, with 3 outputs:

    >>> import torch
    >>> from spectromer.models import create_model
    >>> model = create_model("vit_tiny_patch16_224", num_outputs=3, img_size=32, in_chans=4,
    ...                      patch_size=8, depth=2, embed_dim=64, num_heads=2)
    >>> model(torch.zeros(2, 4, 32, 32)).shape
    torch.Size([2, 3])

    Without a head it returns features:

    >>> features = create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2,
    ...                         embed_dim=64, num_heads=2)
    >>> features(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 64])
    """
    _check_count("num_outputs", num_outputs, 0)
    _check_count("in_chans", in_chans, 1)
    size = _as_size(img_size)
    clash = [k for k in _RESERVED + ("img_size", "in_chans") if k in model_kwargs]
    if clash:
        raise TypeError(f"create_model() sets {', '.join(clash)} itself; do not pass them")
    timm = _import_timm()
    _check_backbone(timm, backbone)
    kwargs: dict[str, Any] = dict(
        num_classes=num_outputs,
        in_chans=in_chans,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
        **model_kwargs,
    )
    if pretrained is False or pretrained is None:
        return _build(timm, backbone, size, kwargs)
    if pretrained is True:
        cached = hub_weights_file(backbone)
        if cached is not None:  # downloaded before: load the cached file, no network
            return _load_from_file(timm, backbone, cached, size, kwargs)
        check_hub_available(backbone)  # fails fast offline
        try:
            return _build(timm, backbone, size, dict(kwargs, pretrained=True))
        except OSError as err:  # hub errors, connection errors, urllib errors
            raise PretrainedWeightsUnavailable.for_backbone(
                backbone, f"the download failed ({err})"
            ) from err
    if isinstance(pretrained, (str, os.PathLike)):
        path = Path(pretrained).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"pretrained weight file not found: {path}")
        return _load_from_file(timm, backbone, path, size, kwargs)
    raise TypeError(f"pretrained must be a bool or a file path, not {pretrained!r}")


def _pair(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return [value, value]
    return [int(v) for v in value]


def model_info(model: torch.nn.Module) -> dict[str, Any]:
    """Architecture facts of a model built by :func:`create_model`, as JSON-ready data.

    Parameters
    ----------
    model : torch.nn.Module
        A timm model.

    Returns
    -------
    dict
        ``name`` (timm architecture), ``pretrained_tag`` (tag of its default weights, or
        None), ``n_params`` (all parameters), ``n_trainable`` (those that require
        gradients), ``num_outputs`` (0 without a head), ``img_size`` (``[height, width]``,
        or None for models that take any size), ``in_chans``, ``patch_size``
        (``[height, width]``, or None for models without patches), ``embed_dim`` (size of
        the features; ``num_features`` for models without an ``embed_dim``), ``depth``
        (number of transformer blocks, or None) and ``num_heads`` (or None). Only ints,
        strings, lists and None: ``json.dumps`` stores it as it is.

    Examples
    --------
    >>> import json
    >>> from spectromer.models import create_model, model_info
    >>> model = create_model("vit_tiny_patch16_224", num_outputs=2, img_size=(32, 64),
    ...                      patch_size=(8, 16), depth=2, embed_dim=64, num_heads=2)
    >>> info = model_info(model)
    >>> info["name"], info["img_size"], info["patch_size"], info["embed_dim"], info["depth"]
    ('vit_tiny_patch16_224', [32, 64], [8, 16], 64, 2)
    >>> json.loads(json.dumps(info)) == info
    True
    """
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    patch_embed = getattr(model, "patch_embed", None)
    in_chans = None
    convs = [getattr(patch_embed, "proj", None)]
    for name in _names(cfg.get("first_conv")):
        try:
            convs.append(model.get_submodule(name))
        except AttributeError:
            pass
    for conv in convs:
        if conv is not None and hasattr(conv, "in_channels"):
            in_chans = int(conv.in_channels)
            break
    if in_chans is None and cfg.get("input_size"):
        in_chans = int(cfg["input_size"][0])
    img_size = getattr(patch_embed, "img_size", None)
    if img_size is None and cfg.get("fixed_input_size") and cfg.get("input_size"):
        img_size = cfg["input_size"][1:]
    embed_dim = getattr(model, "embed_dim", None) or getattr(model, "num_features", None)
    blocks = getattr(model, "blocks", None)
    num_heads = None
    if blocks is not None and len(blocks):
        num_heads = getattr(getattr(blocks[0], "attn", None), "num_heads", None)
    return {
        "name": cfg.get("architecture") or type(model).__name__,
        "pretrained_tag": cfg.get("tag") or None,
        "n_params": int(sum(p.numel() for p in model.parameters())),
        "n_trainable": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "num_outputs": int(getattr(model, "num_classes", 0) or 0),
        "img_size": _pair(img_size),
        "in_chans": in_chans,
        "patch_size": _pair(getattr(patch_embed, "patch_size", None)),
        "embed_dim": int(embed_dim) if embed_dim is not None else None,
        "depth": len(blocks) if blocks is not None else None,
        "num_heads": int(num_heads) if num_heads is not None else None,
    }


def list_backbones(filter: str = "vit_*", *, pretrained: bool = False) -> list[str]:
    """Names of the timm models that :func:`create_model` can build.

    Parameters
    ----------
    filter : str
        Shell-style wildcard on the names (``"*"`` for all).
    pretrained : bool
        List only models with pretrained weights, one entry per weight tag
        (``"vit_base_patch16_224.augreg2_in21k_ft_in1k"``).

    Returns
    -------
    list of str
        Sorted names.

    Examples
    --------
    >>> from spectromer.models import list_backbones
    >>> "vit_base_patch16_224" in list_backbones()
    True
    >>> list_backbones("deit_tiny_patch16_*")
    ['deit_tiny_patch16_224']
    """
    timm = _import_timm()
    return list(timm.list_models(filter, pretrained=pretrained))
