"""Saved learners: a folder with ``model.safetensors`` (the tensors) and ``config.json``.

Every torch learner of Spectromer (:class:`~spectromer.models.base.SpectrumLearner`)
is saved the same way: the network's state dict (plus any extra fitted tensors) in
safetensors, and a JSON config with the format name and version, the package versions,
the estimator's parameters, its fitted attributes and the SHA-256 of the weights file.
Both files are written atomically, so a folder left half-written by an interrupted save
is detected on load (:class:`ModelFileError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.atomic import atomic_path

__all__ = [
    "ModelFileError",
    "WEIGHTS_NAME",
    "CONFIG_NAME",
    "jsonable",
    "sha256_file",
    "read_format_json",
    "write_model_folder",
    "read_model_folder",
    "check_state_matches",
]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class ModelFileError(ValueError):
    """A saved model folder is missing, damaged, or does not match its configuration."""


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars, paths, tuples and ``to_dict`` objects made JSON-ready.

    Examples
    --------
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from spectromer.models.persistence import jsonable
    >>> jsonable({"a": np.float32(0.5), "b": (1, Path("x"))})
    {'a': 0.5, 'b': [1, 'x']}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB chunks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from spectromer.models.persistence import sha256_file
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> sha256_file(p)[:12]
    'e3b0c44298fc'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import torch

    from .. import __version__

    versions = {"spectromer_version": __version__, "torch_version": torch.__version__}
    try:
        import timm

        versions["timm_version"] = timm.__version__
    except ImportError:  # a learner without timm
        pass
    return versions


def write_model_folder(
    path: str | os.PathLike,
    tensors: dict[str, Any],
    *,
    file_format: str,
    format_version: int,
    params: dict[str, Any],
    fitted: dict[str, Any],
) -> Path:
    """Write ``tensors`` and their config to folder ``path``, each file atomically.

    Parameters
    ----------
    path : path
        The folder (created if needed).
    tensors : dict of str to torch.Tensor
        Saved to ``model.safetensors`` (moved to the CPU, made contiguous).
    file_format, format_version : str, int
        Recorded in the config and in the safetensors metadata; checked on load.
    params, fitted : dict
        The estimator's ``get_params()`` and its fitted attributes (JSON-ready).

    Returns
    -------
    Path
        The folder.

    Examples
    --------
    >>> import tempfile, torch
    >>> from spectromer.models.persistence import write_model_folder, read_model_folder
    >>> folder = write_model_folder(tempfile.mkdtemp(), {"w": torch.ones(2)},
    ...                             file_format="demo", format_version=1,
    ...                             params={"a": 1}, fitted={"b": 2})
    >>> config, state = read_model_folder(folder, file_format="demo", format_version=1)
    >>> config["params"], state["w"].tolist()
    ({'a': 1}, [1.0, 1.0])
    """
    from safetensors.torch import save_file

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    weights = folder / WEIGHTS_NAME
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": file_format})
    config = {
        "format": file_format,
        "format_version": int(format_version),
        **_versions(),
        "params": jsonable(params),
        "fitted": jsonable(fitted),
        "weights_sha256": sha256_file(weights),
    }
    with atomic_path(folder / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder


def read_format_json(
    path: Path, *, file_format: str, format_version: int, what: str = "model"
) -> dict[str, Any]:
    """Read a JSON file that names its ``format`` and ``format_version``; check both.

    Parameters
    ----------
    path : Path
        The file (a model's ``config.json``, an ensemble's ``ensemble.json``).
    file_format : str
        The format name expected.
    format_version : int
        The newest version understood; a newer one is refused.
    what : str
        What the file belongs to, for the errors.

    Returns
    -------
    dict

    Raises
    ------
    ModelFileError
        When the file is not valid JSON, of another format, or newer.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from spectromer.models.persistence import read_format_json
    >>> path = Path(tempfile.mkdtemp()) / "x.json"
    >>> _ = path.write_text(json.dumps({"format": "demo", "format_version": 2}))
    >>> read_format_json(path, file_format="demo", format_version=2)["format_version"]
    2
    >>> try:
    ...     read_format_json(path, file_format="demo", format_version=1)
    ... except ModelFileError as err:
    ...     print(str(err).split(": ", 1)[1])
    format version 2 is newer than this Spectromer understands (1); upgrade spectromer
    """
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(config, dict) or config.get("format") != file_format:
        raise ModelFileError(f"{path}: not a {what} config (format is not {file_format!r})")
    if int(config.get("format_version", -1)) > format_version:
        raise ModelFileError(
            f"{path}: format version {config['format_version']} is newer than this "
            f"Spectromer understands ({format_version}); upgrade spectromer"
        )
    return config


def read_model_folder(
    path: str | os.PathLike, *, file_format: str, format_version: int, what: str = "model"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read and check a folder written by :func:`write_model_folder`.

    Parameters
    ----------
    path : path
        The folder.
    file_format : str
        The format name expected in the config.
    format_version : int
        The newest format version understood; a newer one is refused.
    what : str
        The estimator's name, for the error messages.

    Returns
    -------
    config : dict
        The parsed ``config.json``.
    state : dict of str to torch.Tensor
        The tensors of ``model.safetensors``.

    Raises
    ------
    ModelFileError
        When a file is missing, is not valid JSON, the format is another or newer, a key
        of the config is missing, or the weights' checksum differs from the config's.
    """
    from safetensors.torch import load_file

    folder = Path(path)
    cfg_path, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for p in (cfg_path, weights):
        if not p.is_file():
            raise ModelFileError(f"{folder}: no {p.name}; not a saved {what} folder")
    config = read_format_json(cfg_path, file_format=file_format,
                              format_version=format_version, what=what)  # fmt: skip
    for key in ("params", "fitted", "weights_sha256"):
        if key not in config:
            raise ModelFileError(f"{cfg_path}: the config lacks {key!r}")
    if sha256_file(weights) != config["weights_sha256"]:
        raise ModelFileError(
            f"{weights}: its checksum differs from the one in {CONFIG_NAME}; the files do not "
            "belong together (an interrupted save, or a file replaced by hand)"
        )
    from .. import __version__

    saved = str(config.get("spectromer_version", "?"))
    if saved.split(".")[0] != __version__.split(".")[0]:
        warnings.warn(
            f"{folder} was saved by spectromer {saved}; this is {__version__}",
            UserWarning,
            stacklevel=3,
        )
    return config, load_file(str(weights))


def check_state_matches(module: Any, state: dict[str, Any], path: str | os.PathLike,
                        architecture: str) -> None:  # fmt: skip
    """Raise :class:`ModelFileError` unless ``state`` has ``module``'s tensor names and shapes.

    Parameters
    ----------
    module : torch.nn.Module
        The network rebuilt from the config.
    state : dict of str to torch.Tensor
        The saved tensors.
    path : path
        The weights file, for the message.
    architecture : str
        What the config says the network is, for the message.

    Examples
    --------
    >>> import torch
    >>> from spectromer.models.persistence import check_state_matches
    >>> net = torch.nn.Linear(2, 1)
    >>> check_state_matches(net, net.state_dict(), "w.safetensors", "linear")
    """
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected == got:
        return
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    shape = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    raise ModelFileError(
        f"{path} does not fit the architecture in {CONFIG_NAME} ({architecture}): missing "
        f"{missing[:5]}, unexpected {extra[:5]}, shape differs for "
        f"{[(k, got[k], expected[k]) for k in shape[:5]]}"
    )
