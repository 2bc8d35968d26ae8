"""``run_benchmark``: the ViT against the classical baselines, one split, honest numbers.

Every model sees exactly the same training and test spectra. The results are one record
per model in ``OUT/results.json`` (written atomically), a printed table and plots.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..models.presets import VIT_PRESETS
from .families import FAMILIES, SPECFORMER_PRESETS, FitRequest, Fitted, fit_family, vit_members
from .metrics import classification_metrics, metrics_by_snr, redshift_metrics
from .report import results_table, results_text, results_to_rst
from .targets import target_transform as get_target_transform

__all__ = [
    "run_benchmark",
    "VIT_PRESETS",
    "SPECFORMER_PRESETS",
    "MODELS",
    "DEFAULT_MODELS",
    "PRETRAINED_FAMILIES",
    "load_data",
    "results_table",
    "results_text",
    "results_to_rst",
]

#: Models the benchmark knows (the families of :mod:`spectromer.evaluation.families`):
#: the ViT, SpecFormer and the baselines of :mod:`spectromer.baselines`.
MODELS = tuple(FAMILIES)

#: Models run when none are named: the ViT and the baselines (SpecFormer on request).
DEFAULT_MODELS = ("vit", "svm", "rf", "knn")
#: Families that pretrain an encoder on unlabelled spectra (``pretrain_data`` reaches them).
PRETRAINED_FAMILIES = ("vit-mae", "specformer", "tokenizer")


def load_data(data: Any, workdir: Path, name: str, progress: bool = True) -> Any:
    """A SpectraDataset from a dataset, a dataset file, or spectrum files (ingested).

    Examples
    --------
    >>> from pathlib import Path
    >>> from spectromer.datasets import sample_path
    >>> from spectromer.evaluation import load_data
    >>> len(load_data(sample_path(), Path("."), "train"))
    600
    """
    from ..datasets import SpectraDataset, ingest

    if isinstance(data, SpectraDataset):
        return data
    path = Path(data) if isinstance(data, (str, os.PathLike)) else None
    if path is not None and path.suffix in (".h5", ".hdf5") and path.is_file():
        return SpectraDataset(path)
    workdir.mkdir(parents=True, exist_ok=True)
    return ingest(data, workdir / f"{name}.h5", n_jobs=1, progress=progress)


def _labels(ds: Any, label: str) -> tuple[np.ndarray, np.ndarray]:
    return ds.labels(label), ds.has_label(label)


def _task(values: np.ndarray, task: str) -> str:
    if task != "auto":
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
        return task
    return "regression" if values.dtype.kind == "f" else "classification"


def _column(ds: Any, name: str, rows: np.ndarray) -> np.ndarray | None:
    if name not in ds.meta.colnames:
        return None
    return np.asarray(ds.labels(name))[rows]


def _fit(name: str, task: str, train_x, y_train, quick, seed, options, progress,
         pretrain=None, pretrain_sources=(), out=Path("."), threads=1) -> list[Fitted]:  # fmt: skip
    """Fit one family of :data:`~spectromer.evaluation.families.FAMILIES` on a
    SpectrumSource: its records' fitted models, fit seconds and settings."""
    request = FitRequest(task, train_x, y_train, quick=quick, seed=seed, progress=progress,
                         out=out, threads=threads, options=options or {}, pretrain=pretrain,
                         pretrain_sources=tuple(pretrain_sources))  # fmt: skip
    return fit_family(name, request)


def _score(member: Fitted, records, predictions, by_snr, save_models, out, progress, kind,
           label, n_train, test_x, y_test, classes, snr, extra_sets,
           transform=None) -> None:  # fmt: skip
    """Predict the test set (and the extra ones) with one fitted record; append the records.

    With a target ``transform``, the model predicts transformed targets: they are turned
    back (its ``inverse``) before any metric."""
    name, model, fit_s, settings = member.name, member.model, member.fit_seconds, member.settings
    if save_models:
        _save_model(model, out / "models" / name)
    base = {"model": name, "label": label, "task": kind, "n_train": int(n_train)}
    sets = [("test", test_x, y_test, classes, snr), *extra_sets]
    for set_name, x, y, cls, snr_set in sets:
        pred, pred_s = _predict(model, x)
        if transform is not None:
            pred = transform.inverse(pred.astype(float))
        metrics, table = _evaluate(kind, label, y, pred, cls, snr_set)
        records.append({**base, "test_set": set_name, "n_test": int(len(y)), **metrics,
                        "fit_seconds": round(fit_s, 3), "predict_seconds": round(pred_s, 3),
                        "settings": settings, "truth": y.tolist(),
                        "prediction": pred.tolist()})  # fmt: skip
        if set_name != "test":
            continue
        if hasattr(model, "predict_members"):  # a seed vote: what each member says alone
            members = np.asarray(model.predict_members(x))
            if transform is not None:
                members = transform.inverse(members.astype(float))
            records[-1]["member_predictions"] = members.tolist()
        predictions[name] = pred
        if table is not None:
            by_snr[name] = table
        if progress:
            score = metrics.get("accuracy", metrics.get("r2"))
            print(f"[{name}] done in {fit_s:.1f} s (fit) + {pred_s:.1f} s (predict): "
                  f"{score:.4f}")  # fmt: skip


def _predict(model: Any, x: Any) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    pred = np.asarray(model.predict(x))
    return pred, time.perf_counter() - t0


def _save_model(model: Any, folder: Path) -> None:
    """Save a fitted model: its ``save`` (learners, probes), or joblib for a baseline."""
    from ..utils.atomic import atomic_path

    if hasattr(model, "save"):  # a learner, or a probe with its encoder (the probe alone)
        model.save(folder)
        return
    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.joblib", suffix=".joblib") as tmp:
        joblib.dump(model.best_estimator_, tmp)


def _evaluate(kind, label, y, pred, classes, snr) -> tuple[dict[str, Any], Any]:
    """Every metric of one prediction, and the by-S/N table (or None)."""
    if kind == "classification":
        metrics = classification_metrics(y, pred)
    else:
        metrics = redshift_metrics(y, pred, classes if label == "z" else None)
        if classes is not None:
            names = np.asarray([str(c).strip().upper() for c in classes])
            kinds, counts = np.unique(names, return_counts=True)
            if kinds.size > 1:
                metrics["by_class"] = {
                    str(c): redshift_metrics(y[names == c], pred[names == c], names[names == c])
                    for c, k in zip(kinds, counts, strict=True)
                    if k >= 2
                }
    table = None
    if snr is not None and np.isfinite(snr.astype(float)).sum() >= 8:
        metric_task = "classification" if kind == "classification" else "redshift"
        table = metrics_by_snr(snr.astype(float), y, pred, bins=4, task=metric_task,
                               classes=classes if kind == "regression" else None)  # fmt: skip
        metrics["by_snr"] = [
            {c: (int(r[c]) if table[c].dtype.kind in "iu" else float(r[c])) for c in table.colnames}
            for r in table
        ]
    return metrics, table


def run_benchmark(
    train: Any = None,
    label: str = "type",
    *,
    test: Any = None,
    models: Sequence[str] = DEFAULT_MODELS,
    out: str | os.PathLike = "benchmark",
    quick: bool = False,
    task: str = "auto",
    test_fraction: float = 0.2,
    seed: int = 0,
    vit_options: dict[str, Any] | None = None,
    specformer_options: dict[str, Any] | None = None,
    mae_options: dict[str, Any] | None = None,
    tokenizer_options: dict[str, Any] | None = None,
    extra_tests: Sequence[Any] = (),
    save_models: bool = False,
    plots: bool = True,
    progress: bool = True,
    pretrain: dict[str, Any] | bool | None = None,
    pretrain_data: Sequence[Any] = (),
    threads: int | None = None,
    target_transform: str | None = None,
) -> dict[str, Any]:
    """Train and test every model on the same split; write ``OUT/results.json`` and plots.

    Parameters
    ----------
    train : SpectraDataset, path or glob, optional
        Training data: a dataset, a dataset ``.h5`` file, or spectrum files/folders/globs
        (ingested into ``OUT`` first). Default: the bundled LAMOST sample.
    label : str
        Metadata column to predict (``type``, ``subtype``, ``subclass``, ``z``...).
    test : same kinds as ``train``, optional
        Test data. Without it, a stratified split of ``train`` (``test_fraction``, ``seed``)
        is made; its indices are saved in the results.
    models : sequence of str
        Any of :data:`MODELS` (default :data:`DEFAULT_MODELS`). Each gives one record
        or more (:data:`~spectromer.evaluation.families.FAMILIES`): ``vit`` gives
        ``vit`` and the probes of its embeddings ``vit-knn``, ``vit-mlp`` and
        ``vit-linear``; ``vit-mae`` the probes ``vit-mae-knn``, ``vit-mae-mlp`` and
        ``vit-mae-linear`` of the ViT's frozen masked-image pretrained encoder (settings:
        ``mae_options`` over ``MAE_PRESETS``); ``specformer`` pretrains a SpecFormer on
        the training split's spectra (and ``pretrain_data``) and gives the probes of its
        embeddings ``specformer-knn``, ``specformer-mlp``, ``specformer-linear`` and the
        fine-tuned ``specformer-ft``; ``tokenizer`` trains the universal spectral
        tokenizer on the training split's spectra (and ``pretrain_data``, each on its own
        grid) and gives ``tokenizer-knn``, ``tokenizer-mlp``, ``tokenizer-linear``.
    out : path
        Output folder.
    quick : bool
        The ``quick`` presets of the ViT and SpecFormer and small baseline grids (a
        smoke run in minutes).
    task : {"auto", "classification", "regression"}
        ``auto``: regression for a float column (such as ``z``), else classification.
    test_fraction : float
        Held-out fraction when ``test`` is not given.
    seed : int
        Seed of the split and of every model.
    vit_options : dict, optional
        SpectromerModel parameters that override the preset, and ``members``: how many
        ViTs (seeds ``seed, seed + 1, ...``) the ``vit`` record votes over
        (:data:`~spectromer.evaluation.families.VIT_MEMBERS`: 3 for the default preset,
        1 for ``quick``; the probes embed with the first).
    specformer_options : dict, optional
        SpecFormer settings over :data:`SPECFORMER_PRESETS`: ``KEY`` sets the parameter
        of the encoder and of the fine-tuner where each has it, ``encoder.KEY`` or
        ``finetune.KEY`` one of them
        (:func:`~spectromer.evaluation.families.specformer_settings`).
    mae_options : dict, optional
        :class:`~spectromer.models.MaskedImagePretrainer` parameters of the ``vit-mae``
        family over :data:`~spectromer.evaluation.families.MAE_PRESETS`.
    tokenizer_options : dict, optional
        :class:`~spectromer.models.SpectrumTokenizer` parameters of the ``tokenizer``
        family over :data:`~spectromer.evaluation.families.TOKENIZER_PRESETS`.
    extra_tests : sequence, optional
        More test sets (same kinds as ``train``), each scored with the same fitted
        models; their records carry ``test_set`` (the data's name), and their truth and
        predictions. For example real spectra next to a simulated training set.
    save_models : bool
        Save every fitted model under ``OUT/models/NAME`` (the ViT with
        :meth:`~spectromer.SpectromerModel.save`, baselines with joblib).
    plots : bool
        Write PNG plots (confusion matrices or redshift scatter, metric vs S/N).
    progress : bool
        Progress bars.
    pretrain : dict or bool, optional
        Before fine-tuning, pretrain the ViT by masked-image modelling
        (:class:`~spectromer.models.MaskedImagePretrainer`, with these parameters over
        the ViT's own images and architecture; True: its defaults) on the **training
        split's** spectra, labels unused, plus ``pretrain_data``. The test spectra are
        never seen. The ViT record's ``fit_seconds`` includes the pretraining, and its
        ``settings["pretraining"]`` says how long it took and with what.
    pretrain_data : sequence, optional
        More unlabelled spectra for the pretraining of the ViT (with ``pretrain``), of
        ``vit-mae``, SpecFormer and the tokenizer (same kinds as ``train``), for example
        simulated spectra or other surveys' files.
    threads : int, optional
        CPU threads for the whole run: PyTorch's thread count, the BLAS/OpenMP
        thread pools, and the parallel jobs of the baselines' cross-validated search.
        Default: the CPUs this process may use (its affinity mask, else
        ``os.cpu_count()``). Lower it when other jobs share the machine. Recorded as
        ``machine["threads"]``.
    target_transform : {None, "log1p"}
        Regression only: fit every model on the transformed targets (``"log1p"``:
        :math:`\\log(1+y)`, for redshift; the choices are
        :data:`~spectromer.evaluation.targets.TARGET_TRANSFORMS`) and turn their
        predictions back before scoring, so the metrics, plots and saved predictions are
        in the label's own units. Recorded as ``data["target_transform"]``; models saved
        with ``save_models`` predict the transformed targets.

    Notes
    -----
    Warnings raised while the models are fitted and scored (scikit-learn warns about
    small classes once per cross-validation fold, for example) are reported once per
    distinct message, with how often they were raised and by which models. Errors are
    never caught. If the run fails, the output folder is removed when the run created
    it and nothing was written into it.

    Returns
    -------
    dict
        The content of ``results.json``: ``label``, ``task``, ``data`` (what was used),
        ``data["pretrain_data"]`` names the unlabelled ``pretrain_data`` sets;
        ``results`` (one record per model and test set: ``model``, ``label``,
        ``test_set``, ``n_train``, ``n_test``, every metric, ``fit_seconds``,
        ``predict_seconds``, ``settings`` (a probe's: its encoder and probe, and the
        seconds to train the encoder, embed and fit; its ``fit_seconds`` is their sum,
        its ``predict_seconds`` embedding and probing), and the ``truth`` and
        ``prediction`` of every test spectrum, so that any plot can be redrawn from the
        file; ``by_snr``: the metrics in bins of S/N with their counts and Wilson
        intervals, the S/N column named in ``data["snr_column"]``).

    Examples
    --------
    >>> import tempfile
    >>> from spectromer.evaluation import run_benchmark
    >>> result = run_benchmark(label="type", models=["knn"], quick=True,
    ...                        out=tempfile.mkdtemp(), plots=False, progress=False)
    >>> r = result["results"][0]
    >>> r["model"], r["n_train"], r["n_test"], 0.0 <= r["accuracy"] <= 1.0
    ('knn', 480, 120, True)
    """
    from ..datasets import holdout_split, load_sample, stratified_split
    from ..spectra import as_source
    from ..utils.atomic import atomic_path

    if not 0 < float(test_fraction) < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ValueError(f"models: unknown {unknown or 'none given'}; choose from {MODELS}")
    transform = get_target_transform(target_transform)  # refused before any data is read
    vit_members(vit_options, quick)
    threads = _threads(threads)
    out = Path(out)
    digest = _WarningDigest()
    with _output_folder(out), digest.reported(stacklevel=2):
        train_ds = load_sample() if train is None else load_data(train, out, "train", progress)
        values, has = _labels(train_ds, label)
        kind = _task(values, task)
        split_info: dict[str, Any]
        if test is None:
            rows = np.flatnonzero(has)
            if kind == "classification":
                fractions = (1 - test_fraction, test_fraction)
                parts = stratified_split(values[rows], fractions, seed=seed)
            else:
                kept, held = holdout_split(rows.size, test_fraction, seed, name="test_fraction")
                parts = {"train": kept, "test": held}
            tr, te = rows[parts["train"]], rows[parts["test"]]
            test_ds, test_values = train_ds, values
            split_info = {"kind": "stratified" if kind == "classification" else "random",
                          "test_fraction": test_fraction, "seed": seed,
                          "train_rows": tr.tolist(), "test_rows": te.tolist()}  # fmt: skip
        else:
            test_ds = load_data(test, out, "test", progress)
            test_values, test_has = _labels(test_ds, label)
            tr, te = np.flatnonzero(has), np.flatnonzero(test_has)
            split_info = {"kind": "given"}
        if tr.size < 2 or te.size < 1:
            raise ValueError(f"not enough labelled spectra: {tr.size} to train, {te.size} to test")
        y_train, y_test = values[tr], test_values[te]
        if kind == "regression":
            y_train, y_test = y_train.astype(float), y_test.astype(float)
        elif transform is not None:
            raise ValueError(
                f"target_transform={target_transform!r} is for regression; label {label!r} "
                "is a classification task"
            )
        y_fit = y_train if transform is None else transform.apply(y_train, label)
        train_x, test_x = as_source(train_ds, indices=tr), as_source(test_ds, indices=te)
        classes = _column(test_ds, "class", te)
        snr_column = _snr_column(test_ds)
        snr = None if snr_column is None else _column(test_ds, snr_column, te)
        extra_sets = []
        for i, data in enumerate(extra_tests or ()):
            ds = load_data(data, out, f"extra_test_{i}", progress)
            ev, eh = _labels(ds, label)
            rows_e = np.flatnonzero(eh)
            if rows_e.size == 0:
                raise ValueError(f"extra test set {_name(ds)}: no spectrum has a {label!r} label")
            y_e = ev[rows_e].astype(float) if kind == "regression" else ev[rows_e]
            snr_e = _snr_column(ds)
            extra_sets.append((_name(ds), as_source(ds, indices=rows_e), y_e,
                               _column(ds, "class", rows_e),
                               None if snr_e is None else _column(ds, snr_e, rows_e)))  # fmt: skip
        if pretrain is None or pretrain is False:
            pretrain_params = None
        elif pretrain is True or isinstance(pretrain, dict):
            pretrain_params = {} if pretrain is True else dict(pretrain)
        else:
            raise TypeError(f"pretrain must be a dict of settings, True or None, got {pretrain!r}")
        pretrain_sets = [load_data(d, out, f"pretrain_{i}", progress)
                         for i, d in enumerate(pretrain_data or ())]  # fmt: skip
        pretrain_sources = [as_source(ds) for ds in pretrain_sets]
        if (pretrain_sources and pretrain_params is None
                and not set(PRETRAINED_FAMILIES) & set(models)):
            raise ValueError("pretrain_data is for pretraining: it needs pretrain= (the ViT) "
                             f"or one of {PRETRAINED_FAMILIES} in models")  # fmt: skip
        options = {"vit": vit_options or {}, "specformer": specformer_options or {},
                   "vit-mae": mae_options or {},
                   "tokenizer": tokenizer_options or {}}  # fmt: skip
        records, predictions, by_snr = [], {}, {}
        torch_too = any(FAMILIES[m].torch for m in models)
        with _thread_limits(threads, torch_too=torch_too):
            for family in models:
                digest.source = family
                if progress:
                    print(f"[{family}] fitting on {tr.size} spectra ...", flush=True)
                fitted = _fit(
                    family, kind, train_x, y_fit, quick, seed, options, progress,
                    pretrain=pretrain_params, pretrain_sources=pretrain_sources, out=out,
                    threads=threads,
                )  # fmt: skip
                for member in fitted:
                    _score(member, records, predictions, by_snr, save_models, out, progress,
                           kind, label, tr.size, test_x, y_test, classes, snr,
                           extra_sets, transform)  # fmt: skip
        digest.source = None
        result = {
            "label": label,
            "task": kind,
            "quick": bool(quick),
            "data": {
                "train": _name(train_ds),
                "test": _name(test_ds),
                "extra_tests": [e[0] for e in extra_sets],
                "pretrain_data": [_name(ds) for ds in pretrain_sets],
                "simulated": bool(
                    "simulated" in train_ds.meta.colnames and np.any(train_ds.labels("simulated"))
                ),
                "split": split_info,
                "snr_column": snr_column,
                "target_transform": target_transform,
            },
            "machine": {
                "platform": platform.platform(),
                "processor": _processor(),
                "cpus": os.cpu_count(),
                "threads": threads,
                "python": platform.python_version(),
                "spectromer": _version(),
            },  # fmt: skip
            "results": records,
        }
        with atomic_path(out / "results.json") as tmp:
            text = json.dumps(_finite(result), indent=1, default=_json_default, allow_nan=False)
            tmp.write_text(text + "\n")
        if plots:
            _plots(out, kind, label, y_test, predictions, classes, by_snr, snr_column)
        if progress:
            print(results_text(result))
        return result


#: S/N columns the by-S/N metrics use, in order of preference, and their axis labels.
_SNR_COLUMNS = {
    "snr_r": "S/N (r band)",
    "snr": "S/N (column snr)",
}


def _snr_column(ds: Any) -> str | None:
    """The S/N column of a dataset the by-S/N metrics use (None if it has none)."""
    return next((c for c in _SNR_COLUMNS if c in ds.meta.colnames), None)


def _threads(threads: int | None) -> int:
    """The benchmark's thread count: ``threads``, else the CPUs this process may use that
    other work is not already using (usable CPUs less the 1-minute load average, at least
    1): on a busy machine more threads than free cores make torch several times slower."""
    if threads is None:
        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:  # not on every platform (macOS, Windows)
            usable = os.cpu_count() or 1
        try:
            busy = int(os.getloadavg()[0])
        except (AttributeError, OSError):  # no load average (Windows)
            busy = 0
        return max(1, min(usable, usable - busy))
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    return int(threads)


@contextlib.contextmanager
def _thread_limits(threads: int, torch_too: bool):
    """Limit the BLAS/OpenMP pools (threadpoolctl) and, for the ViT, PyTorch to ``threads``."""
    from threadpoolctl import threadpool_limits

    previous = None
    if torch_too:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if previous is not None:
            torch.set_num_threads(previous)


@contextlib.contextmanager
def _output_folder(out: Path):
    """Create ``out`` (and missing parents); if the block fails, remove those still empty."""
    made = list(itertools.takewhile(lambda p: not p.exists(), (out, *out.parents)))
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield out
    except BaseException:
        for folder in made:  # deepest first; rmdir refuses a folder that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


class _WarningDigest:
    """Warnings of a block, reported once per distinct message when the block ends.

    ``source`` names what is running (a model) and is listed in the report. Filters in
    force (``error``, ``ignore``) still apply, both when a warning is raised and when
    the digest reports it, so errors are never hidden.
    """

    def __init__(self) -> None:
        self.source: str | None = None
        self.seen: dict[tuple[type, str], list[str | None]] = {}

    def _show(self, message, category, filename, lineno, file=None, line=None) -> None:
        self.seen.setdefault((category, str(message)), []).append(self.source)

    @contextlib.contextmanager
    def reported(self, stacklevel: int = 2):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", append=True)  # count repeats too
                warnings.showwarning = self._show
                yield self
        finally:
            for (category, message), sources in self.seen.items():
                names = list(dict.fromkeys(s for s in sources if s is not None))
                where = f" while fitting {', '.join(names)}" if names else ""
                times = f"{len(sources)} times" if len(sources) > 1 else "once"
                # + 2: this generator and contextlib's __exit__
                warnings.warn(f"{message} [{times}{where}]", category, stacklevel=stacklevel + 2)
            self.seen.clear()


def _processor() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version() -> str:
    from .. import __version__

    return __version__


def _name(ds: Any) -> str:
    return getattr(ds, "path", Path("?")).name


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _plots(out: Path, kind: str, label: str, y_test, predictions, classes, by_snr,
           snr_column: str | None = None) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .plots import plot_confusion_matrix, plot_metric_vs_snr, plot_redshift

    n = len(predictions)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.4), layout="constrained", squeeze=False)
    for ax, (name, pred) in zip(axes[0], predictions.items(), strict=True):
        if kind == "classification":
            plot_confusion_matrix(y_test, pred, ax=ax, title=f"{name}: {label}")
        else:
            plot_redshift(y_test, pred, classes=classes, ax=ax, title=f"{name}: {label}")
    name = "confusion_matrices.png" if kind == "classification" else "redshift.png"
    _save(fig, out / name)
    if by_snr:
        fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
        metric = "accuracy" if kind == "classification" else "sigma_nmad"
        plot_metric_vs_snr(by_snr, metric, snr_label=_SNR_COLUMNS.get(snr_column, "S/N"), ax=ax)
        _save(fig, out / f"{metric}_vs_snr.png")
    plt.close("all")


def _save(fig: Any, path: Path) -> None:
    from ..utils.atomic import atomic_path

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
