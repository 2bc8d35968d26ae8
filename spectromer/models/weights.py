"""Pretrained weights: local files, the Hugging Face hub cache, and the offline error.

Nothing here downloads anything by itself. :func:`hub_weights_file` finds ImageNet
weights that timm already downloaded (the Hugging Face hub cache), so they load without
touching the network; when they are not there and the hub cannot be reached (no network,
or ``HF_HUB_OFFLINE`` set), :func:`check_hub_available` raises
:class:`PretrainedWeightsUnavailable` within seconds, with instructions to download the
weights once on a networked machine and pass the file to
:func:`~spectromer.models.create_model` as ``pretrained="file.safetensors"``.

torch, timm and safetensors are imported inside the functions, so importing this module
is cheap and needs none of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = [
    "PretrainedWeightsUnavailable",
    "hub_offline",
    "hub_reachable",
    "hub_weights_file",
    "check_hub_available",
    "read_checkpoint_shapes",
    "save_snippet",
    "read_backbone_metadata",
    "write_backbone",
    "BACKBONE_FORMAT",
]

#: ``format`` of the metadata in a backbone file written by
#: :meth:`~spectromer.models.MaskedImagePretrainer.save_backbone`.
BACKBONE_FORMAT = "spectromer-backbone"

__doctest_requires__ = {
    ("hub_weights_file", "read_checkpoint_shapes", "save_snippet", "check_hub_available",
     "write_backbone"): [
        "torch",
        "timm",
        "safetensors",
    ],
}

_TRUE = {"1", "ON", "YES", "TRUE"}
_HUB_FILENAMES = ("model.safetensors", "pytorch_model.bin")
# Keys under which training scripts (timm's among them) wrap a state dict.
_WRAPPER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model")


class PretrainedWeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but cannot be downloaded here.

    Raised by :func:`~spectromer.models.create_model` with ``pretrained=True`` when the
    weights are not in the local Hugging Face cache and the hub cannot be reached (no
    network, or ``HF_HUB_OFFLINE`` is set). The message says how to download them once
    elsewhere and load them from a local file, in the words of the caller:
    ``create_model(backbone, pretrained=FILE)`` from :func:`create_model`, and
    :meth:`naming` gives the same error for another caller (the estimators name their
    own parameter, the command line its option). ``backbone`` and ``reason`` are kept.

    Examples
    --------
    >>> from spectromer.models.weights import PretrainedWeightsUnavailable
    >>> err = PretrainedWeightsUnavailable.for_backbone("vit_tiny_patch16_224", "no network")
    >>> "create_model('vit_tiny_patch16_224', pretrained='" in str(err)
    True
    >>> "SpectromerModel(backbone='vit_tiny_patch16_224', pretrained='" in str(
    ...     err.naming("SpectromerModel(backbone={backbone!r}, pretrained={file!r})"))
    True
    """

    #: How :func:`create_model` users load a file (``{backbone}`` and ``{file}`` filled in).
    CREATE_MODEL_USE = "create_model({backbone!r}, pretrained={file!r})"

    def __init__(self, message: str, *, backbone: str | None = None,
                 reason: str | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.backbone, self.reason = backbone, reason

    @classmethod
    def for_backbone(cls, backbone: str, reason: str,
                     use: str = CREATE_MODEL_USE) -> PretrainedWeightsUnavailable:  # fmt: skip
        """The error for ``backbone`` and ``reason``, its hint saying ``use`` (a template)."""
        return cls(_unavailable_message(backbone, reason, use), backbone=backbone,
                   reason=reason)  # fmt: skip

    def naming(self, use: str) -> PretrainedWeightsUnavailable:
        """The same error, its hint naming ``use`` (``{backbone}``, ``{file}`` filled in).

        Returns ``self`` when the backbone or reason is unknown.
        """
        if self.backbone is None or self.reason is None:
            return self
        return self.for_backbone(self.backbone, self.reason, use)


def hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off (``HF_HUB_OFFLINE`` is set).

    Returns
    -------
    bool
        True when the environment variable ``HF_HUB_OFFLINE`` is ``1``/``on``/``yes``/
        ``true`` (any case), or when :mod:`huggingface_hub`, already imported, was
        configured offline.

    Examples
    --------
    >>> import os
    >>> from spectromer.models.weights import hub_offline
    >>> old = os.environ.get("HF_HUB_OFFLINE")
    >>> os.environ["HF_HUB_OFFLINE"] = "1"
    >>> hub_offline()
    True
    >>> if old is not None:
    ...     os.environ["HF_HUB_OFFLINE"] = old
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE:
        return True
    import sys

    constants = sys.modules.get("huggingface_hub.constants")
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def hub_reachable(timeout: float = 3.0, url: str | None = None) -> bool:
    """Whether the Hugging Face hub answers within ``timeout`` seconds.

    One ``HEAD`` request to the hub endpoint (``HF_ENDPOINT``, by default
    ``https://huggingface.co``), through the proxies of the environment, with
    :func:`spectromer.utils.network.probe`. Any HTTP answer, even an error status,
    counts as reachable; a failed name lookup, a refused or timed out connection does
    not. No retries, and a name lookup that hangs is not waited for, so an offline
    machine is told within ``timeout`` seconds (huggingface_hub itself retries for
    about 45 s).

    Parameters
    ----------
    timeout : float
        Seconds to wait for the answer.
    url : str, optional
        Ask this address instead (timm weights hosted outside the hub).

    Returns
    -------
    bool

    Examples
    --------
    >>> from spectromer.models.weights import hub_reachable
    >>> hub_reachable(timeout=2.0)  # doctest: +REMOTE_DATA
    True
    """
    from spectromer.utils import network

    if url is None:
        url = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/") + "/api/models"
    try:
        return network.probe(url, timeout) is None
    except ValueError:  # not an http(s) address
        return False


def _weights_name(backbone: str) -> tuple[str, Any]:
    """Full ``architecture.tag`` name of the default weights of ``backbone`` and their cfg."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(backbone)
    if cfg is None:
        raise ValueError(f"timm has no pretrained weights registered for {backbone!r}")
    name = cfg.architecture or backbone.split(".")[0]
    if cfg.tag:
        name = f"{name}.{cfg.tag}"
    return name, cfg


def save_snippet(backbone: str, path: str | None = None) -> str:
    """The Python one-liner that downloads the weights of ``backbone`` and saves them.

    Run it once on a machine with network access, copy the file over, and pass it as
    ``create_model(backbone, pretrained=path)``.

    Parameters
    ----------
    backbone : str
        timm model name, optionally with a pretrained tag
        (``"vit_base_patch16_224.augreg_in21k"``).
    path : str, optional
        File to write; by default ``"<architecture>.<tag>.safetensors"``.

    Returns
    -------
    str
        A ``python -c "..."`` command line.

    Examples
    --------
    >>> from spectromer.models.weights import save_snippet
    >>> print(save_snippet("vit_tiny_patch16_224"))  # doctest: +NORMALIZE_WHITESPACE
    python -c "import timm, safetensors.torch as st;
    m = timm.create_model('vit_tiny_patch16_224.augreg_in21k_ft_in1k', pretrained=True);
    st.save_file({k: v.contiguous() for k, v in m.state_dict().items()},
    'vit_tiny_patch16_224.augreg_in21k_ft_in1k.safetensors')"
    """
    name, _ = _weights_name(backbone)
    path = path if path is not None else f"{name}.safetensors"
    return (
        'python -c "import timm, safetensors.torch as st; '
        f"m = timm.create_model('{name}', pretrained=True); "
        "st.save_file({k: v.contiguous() for k, v in m.state_dict().items()}, "
        f"'{path}')\""
    )


def hub_weights_file(backbone: str) -> Path | None:
    """Local copy of the hub weights of ``backbone`` in the Hugging Face cache, if any.

    Looks in the hub cache (``HF_HUB_CACHE``, by default ``~/.cache/huggingface/hub``)
    for the files timm downloads (``model.safetensors``, else ``pytorch_model.bin``)
    of the weights' hub repository. Never touches the network.

    Parameters
    ----------
    backbone : str
        timm model name, optionally with a pretrained tag.

    Returns
    -------
    pathlib.Path or None
        The cached file, or None when the weights were never downloaded here or are not
        hosted on the hub (timm's ``url`` sources).

    Raises
    ------
    ValueError
        When timm has no pretrained weights for ``backbone``.

    Examples
    --------
    >>> from spectromer.models.weights import hub_weights_file
    >>> path = hub_weights_file("vit_tiny_patch16_224")  # None unless downloaded before
    >>> path is None or path.is_file()
    True
    """
    from huggingface_hub import constants, try_to_load_from_cache

    _, cfg = _weights_name(backbone)
    if not cfg.hf_hub_id:
        return None
    repo_id, _, revision = cfg.hf_hub_id.partition("@")
    names = list(_HUB_FILENAMES)
    if cfg.hf_hub_filename:  # timm prefers a .safetensors twin of a named .bin file
        names = [cfg.hf_hub_filename]
        if not cfg.hf_hub_filename.endswith(".safetensors"):
            stem = cfg.hf_hub_filename.rsplit(".", 1)[0].replace("pytorch_model", "model")
            names.insert(0, stem + ".safetensors")
    for filename in names:
        found = try_to_load_from_cache(
            repo_id, filename, cache_dir=constants.HF_HUB_CACHE, revision=revision or None
        )
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def check_hub_available(backbone: str, timeout: float = 3.0) -> None:
    """Raise :class:`PretrainedWeightsUnavailable` unless the hub weights can be downloaded.

    Call it only when :func:`hub_weights_file` found no local copy. Fails at once when
    ``HF_HUB_OFFLINE`` is set, and within ``timeout`` seconds when the hub does not answer.

    Parameters
    ----------
    backbone : str
        timm model name, optionally with a pretrained tag.
    timeout : float
        Seconds to wait for the hub.

    Raises
    ------
    PretrainedWeightsUnavailable
        With the one-liner that saves the weights on a networked machine.

    Examples
    --------
    >>> import os
    >>> from spectromer.models.weights import check_hub_available
    >>> os.environ["HF_HUB_OFFLINE"] = "1"
    >>> check_hub_available("vit_tiny_patch16_224")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spectromer.models.weights.PretrainedWeightsUnavailable: pretrained weights for ...
    """
    _, cfg = _weights_name(backbone)
    if hub_offline():
        reason = "HF_HUB_OFFLINE is set"
    elif not hub_reachable(timeout, url=None if cfg.hf_hub_id else cfg.url):
        where = cfg.url if not cfg.hf_hub_id and cfg.url else "the Hugging Face hub"
        reason = f"{where} cannot be reached"
    else:
        return
    raise PretrainedWeightsUnavailable.for_backbone(backbone, reason)


def _unavailable_message(
    backbone: str, reason: str, use: str = PretrainedWeightsUnavailable.CREATE_MODEL_USE
) -> str:
    """Text of :class:`PretrainedWeightsUnavailable` for ``backbone``; ``use`` loads a file."""
    name, _ = _weights_name(backbone)
    return (
        f"pretrained weights for {backbone!r} ({name}) cannot be downloaded here: {reason}, "
        "and they are not in the local Hugging Face cache. Download them once on a machine "
        f"with network access:\n\n    {save_snippet(backbone)}\n\n"
        "copy the file here and pass it as "
        f"{use.format(backbone=backbone, file=name + '.safetensors')} "
        "(a .pth or .bin state dict works too)."
    )


def read_checkpoint_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors of a weight file, without loading the weights.

    ``.safetensors`` files are read through their header only; other files (``.pth``,
    ``.pt``, ``.bin``: ``torch.save`` output) are memory-mapped. A state dict wrapped in
    a training checkpoint (``{"state_dict": ...}``, ``{"model": ...}``, EMA weights) is
    unwrapped, and a ``module.`` prefix removed, as timm does when it loads the file.

    Parameters
    ----------
    path : str or os.PathLike
        The weight file.

    Returns
    -------
    dict
        ``{name: shape}``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When ``path`` is a directory or not a readable weight file.

    Examples
    --------
    >>> import tempfile, os, torch
    >>> from safetensors.torch import save_file
    >>> from spectromer.models.weights import read_checkpoint_shapes
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "w.safetensors")
    ...     save_file({"proj.weight": torch.zeros(4, 3)}, path)
    ...     read_checkpoint_shapes(path)
    {'proj.weight': (4, 3)}
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"pretrained weight file not found: {path}")
    if path.is_dir():
        raise ValueError(f"pretrained weights must be a file, {path} is a directory")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        import torch
        from timm.models import clean_state_dict

        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) torch.save format cannot be memory-mapped
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # safetensors, pickle and zip errors have no common base class
        raise ValueError(f"cannot read pretrained weight file {path}: {err}") from err
    if isinstance(checkpoint, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict) or not all(
        hasattr(v, "shape") for v in checkpoint.values()
    ):
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return {k: tuple(v.shape) for k, v in clean_state_dict(checkpoint).items()}


def write_backbone(
    path: str | os.PathLike,
    state: dict[str, Any],
    *,
    backbone: str,
    backbone_options: dict[str, Any] | None,
    render_config: dict[str, Any],
    pretraining: dict[str, Any],
) -> Path:
    """Write a backbone's tensors and what made them to a ``.safetensors`` file, atomically.

    The one writer behind :meth:`MaskedImagePretrainer.save_backbone` and
    :meth:`SpectromerModel.save_backbone`; :func:`read_backbone_metadata` reads the
    metadata back, and ``SpectromerModel(pretrained=path)`` fine-tunes from the file.

    Parameters
    ----------
    path : path
        Output file; must end in ``.safetensors``.
    state : dict
        Name -> tensor (moved to the CPU and made contiguous here).
    backbone, backbone_options : str, dict
        The timm architecture and its options.
    render_config : dict
        :meth:`RenderConfig.to_dict` of the images it was trained on.
    pretraining : dict
        How it was trained (method, settings, spectra, epochs); JSON-serialisable.

    Returns
    -------
    Path
        The file.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from spectromer.imaging import RenderConfig
    >>> from spectromer.models import read_backbone_metadata, write_backbone
    >>> path = write_backbone(os.path.join(tempfile.mkdtemp(), "b.safetensors"),
    ...                       {"w": torch.zeros(2)}, backbone="vit_tiny_patch16_224",
    ...                       backbone_options={}, render_config=RenderConfig().to_dict(),
    ...                       pretraining={"method": "example"})
    >>> read_backbone_metadata(path)["pretraining"]
    {'method': 'example'}
    """
    import json

    from safetensors.torch import save_file

    from ..utils.atomic import atomic_path
    from .persistence import jsonable

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: the backbone file must end in .safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    meta = {
        "format": BACKBONE_FORMAT,
        "backbone": json.dumps(backbone),
        "backbone_options": json.dumps(jsonable(backbone_options or {})),
        "render_config": json.dumps(render_config),
        "pretraining": json.dumps(jsonable(pretraining)),
    }
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_backbone_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """What a backbone file written by :meth:`MaskedImagePretrainer.save_backbone` records.

    Parameters
    ----------
    path : path
        A weight file.

    Returns
    -------
    dict
        ``backbone``, ``backbone_options``, ``render_config`` (a
        :class:`~spectromer.imaging.RenderConfig` dict) and ``pretraining`` (the
        settings, epochs and spectra); empty for any other file (a timm checkpoint, a
        ``.pth`` file).

    Examples
    --------
    >>> from spectromer.models import read_backbone_metadata
    >>> read_backbone_metadata("no_such_file.safetensors")
    {}
    """
    import json

    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return {}
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception:  # noqa: BLE001 - not a readable safetensors file: no metadata
        return {}
    if meta.get("format") != BACKBONE_FORMAT:
        return {}
    return {k: json.loads(v) for k, v in meta.items() if k != "format"}
