"""The embedding probes of spectromer.evaluation (AstroCLIP's evaluation protocol).

Synthetic embeddings with a known relation: both probes must learn it, standardise on
the training split only, be reproducible, refuse bad parameters by name, and pass
scikit-learn's estimator checks. Tiny sizes, one thread.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")

from sklearn.base import BaseEstimator, clone, is_classifier, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from spectromer.evaluation import (  # noqa: E402
    PROBES,
    KNNProbe,
    LinearProbe,
    MLPProbe,
    probe_embeddings,
    probe_encoder,
)
from spectromer.evaluation.probes import resolve_task  # noqa: E402

W = np.array([1.0, -2.0, 0.5])


def _linear(n=2000, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ W + noise * rng.normal(size=n)


def _classes(n=2000, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, np.where(X @ W > 0.3, "GALAXY", "QSO")


def _split(X, y, n_train=1600):
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


# -- the relation is learnt ---------------------------------------------------------------
@pytest.mark.parametrize("cls", [KNNProbe, MLPProbe])
def test_regression_learns_a_linear_relation(cls):
    Xtr, ytr, Xte, yte = _split(*_linear())
    probe = cls(task="regression", **({"random_state": 0} if cls is MLPProbe else {}))
    assert probe.fit(Xtr, ytr) is probe
    assert probe.score(Xte, yte) > 0.95
    pred = probe.predict(Xte)
    assert pred.shape == yte.shape and pred.dtype == np.float64


@pytest.mark.parametrize("cls", [KNNProbe, MLPProbe])
def test_classification_learns_a_linear_boundary(cls):
    Xtr, ytr, Xte, yte = _split(*_classes())
    probe = cls(task="classification", **({"random_state": 0} if cls is MLPProbe else {}))
    probe.fit(Xtr, ytr)
    assert probe.classes_.tolist() == ["GALAXY", "QSO"]
    assert probe.score(Xte, yte) > 0.95
    proba = probe.predict_proba(Xte)
    assert proba.shape == (len(Xte), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (probe.classes_[proba.argmax(axis=1)] == probe.predict(Xte)).all()


def test_multi_output_regression():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 3))
    Y = np.column_stack([X @ W, 10 + 100 * X[:, 0]])  # very different scales
    for probe in (KNNProbe(task="regression"), MLPProbe(task="regression", random_state=0)):
        probe.fit(X[:1200], Y[:1200])
        assert probe.predict(X[1200:]).shape == (300, 2)
        assert probe.score(X[1200:], Y[1200:]) > 0.9


def test_published_defaults():
    knn, mlp = KNNProbe(), MLPProbe()
    assert (knn.n_neighbors, knn.weights) == (64, "distance")
    assert (mlp.hidden, mlp.dropout, mlp.lr, mlp.epochs, mlp.batch_size) == (
        (64, 64), 0.1, 1e-3, 10, 64,
    )  # fmt: skip
    assert mlp.device == "cpu"
    net = MLPProbe(task="regression", random_state=0).fit(*_linear(200)).model_.regressor_[-1]
    kinds = [type(m).__name__ for m in net.net_]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [m.out_features for m in net.net_ if type(m).__name__ == "Linear"] == [64, 64, 1]


def test_auto_task():
    X, y = _linear(300)
    _, labels = _classes(300)
    assert KNNProbe().fit(X, y).task_ == "regression"
    assert KNNProbe().fit(X, labels).task_ == "classification"
    assert resolve_task("auto", [0, 1, 2, 1]) == "classification"
    assert resolve_task("regression", [0, 1, 2, 1]) == "regression"
    with pytest.raises(ValueError, match="Unknown label type"):
        resolve_task("auto", np.array([object(), object()]))
    with pytest.raises(ValueError, match="task must be one of"):
        resolve_task("redshift", [0.1])
    assert not is_classifier(KNNProbe()) and not is_regressor(KNNProbe())
    assert is_classifier(MLPProbe(task="classification"))
    assert is_regressor(KNNProbe(task="regression"))


def test_predict_proba_only_for_classification():
    assert not hasattr(KNNProbe(task="regression"), "predict_proba")
    assert hasattr(KNNProbe(task="classification"), "predict_proba")
    probe = KNNProbe().fit(*_linear(300))
    assert not hasattr(probe, "predict_proba")  # auto, fitted as a regression


# -- standardisation on the training split only --------------------------------------------
@pytest.mark.parametrize("cls", [KNNProbe, MLPProbe])
def test_scaling_is_fitted_on_the_training_split(cls):
    X, y = _linear(1000)
    shift = np.array([5.0, -3.0, 100.0])
    Xtr, ytr, Xte, yte = X[:800] + shift, y[:800], X[800:] + shift, y[800:]
    probe = cls(task="regression", **({"random_state": 0} if cls is MLPProbe else {}))
    probe.fit(Xtr, ytr)
    scaler = probe.model_.regressor_.named_steps["scale"]
    np.testing.assert_allclose(scaler.mean_, Xtr.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, Xtr.std(axis=0))
    np.testing.assert_allclose(probe.model_.transformer_.mean_, [ytr.mean()])
    assert probe.score(Xte, yte) > 0.9
    # a test row is predicted the same whatever the other test rows: nothing is
    # re-standardised on the test data ...
    crowd = np.vstack([Xte[:10], Xte[10:] + 50.0])
    np.testing.assert_allclose(probe.predict(crowd)[:10], probe.predict(Xte[:10]), rtol=1e-5)
    # ... and a shifted test split is seen as shifted (re-standardising would undo it)
    moved = probe.predict(Xte + np.array([2.0, 0.0, 0.0]))
    assert np.mean(moved - probe.predict(Xte)) > 1.0  # w_0 = 1


def test_target_scaling_is_inverted():
    X, y = _linear(1500)
    y = 1e4 + 1e3 * y  # far from zero mean and unit variance
    probe = MLPProbe(task="regression", random_state=0).fit(X[:1200], y[:1200])
    pred = probe.predict(X[1200:])
    assert abs(pred.mean() - y[1200:].mean()) < 0.1 * y.std()
    assert probe.score(X[1200:], y[1200:]) > 0.9
    assert probe.loss_curve_[-1] < 0.2  # the loss is on standardised targets


# -- determinism --------------------------------------------------------------------------
def test_mlp_is_deterministic_by_random_state():
    Xtr, ytr, Xte, _ = _split(*_linear(600), n_train=500)
    a = MLPProbe(task="regression", random_state=7).fit(Xtr, ytr).predict(Xte)
    b = MLPProbe(task="regression", random_state=7).fit(Xtr, ytr).predict(Xte)
    c = MLPProbe(task="regression", random_state=8).fit(Xtr, ytr).predict(Xte)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_mlp_leaves_the_global_torch_rng_alone():
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MLPProbe(task="regression", random_state=0, epochs=1).fit(*_linear(100))
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


# -- k larger than the training set -------------------------------------------------------
def test_knn_clamps_n_neighbors_with_a_warning():
    X, y = _linear(30)
    with pytest.warns(UserWarning, match="n_neighbors=64 is more than the 20 training"):
        probe = KNNProbe(task="regression").fit(X[:20], y[:20])
    assert probe.n_neighbors_ == 20 and probe.n_neighbors == 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert KNNProbe(task="regression", n_neighbors=20).fit(X[:20], y[:20]).n_neighbors_ == 20
    # every training point votes: uniform weights give the training mean everywhere
    uniform = KNNProbe(task="regression", weights="uniform", n_neighbors=20).fit(X[:20], y[:20])
    np.testing.assert_allclose(uniform.predict(X[20:]), y[:20].mean())


# -- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("estimator", "name"),
    [
        (KNNProbe(n_neighbors=0), "n_neighbors"),
        (KNNProbe(n_neighbors=2.5), "n_neighbors"),
        (KNNProbe(weights="gaussian"), "weights"),
        (KNNProbe(task="redshift"), "task"),
        (MLPProbe(hidden=(64, 0)), "hidden"),
        (MLPProbe(hidden=64), "hidden"),
        (MLPProbe(hidden=("64",)), "hidden"),
        (MLPProbe(dropout=1.0), "dropout"),
        (MLPProbe(dropout=-0.1), "dropout"),
        (MLPProbe(lr=0), "lr"),
        (MLPProbe(epochs=0), "epochs"),
        (MLPProbe(batch_size=0), "batch_size"),
        (MLPProbe(random_state="seed"), "random_state"),
    ],
)
def test_bad_parameters_are_named(estimator, name):
    with pytest.raises((ValueError, TypeError), match=f"'{name}' parameter"):
        estimator.fit(*_linear(20))


def test_bad_device_is_named():
    with pytest.raises(ValueError, match="device"):
        MLPProbe(device="no-such-device").fit(*_linear(20))


def test_unfitted_and_wrong_width():
    X, y = _linear(100)
    with pytest.raises(NotFittedError, match="KNNProbe is not fitted"):
        KNNProbe().predict(X)
    probe = MLPProbe(task="regression", random_state=0, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features"):
        probe.predict(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        probe.predict(np.where(X > 1, np.nan, X))


def test_clone_and_params():
    probe = MLPProbe(task="classification", hidden=(8,), epochs=2, random_state=1)
    assert clone(probe).get_params() == probe.get_params()
    probe.set_params(hidden=(4, 4), lr=0.01)
    assert probe.get_params()["hidden"] == (4, 4)
    with pytest.raises(ValueError, match="Invalid parameter"):
        KNNProbe().set_params(k=3)


# -- probe_embeddings / probe_encoder ----------------------------------------------------
def test_probe_embeddings_regression_and_classification():
    Xtr, ytr, Xte, yte = _split(*_linear(1000), n_train=800)
    ytr, yte = ytr / 20 + 0.5, yte / 20 + 0.5  # redshift-like, z > 0
    out = probe_embeddings(Xtr, ytr, Xte, yte, probe_options={"mlp": {"epochs": 20}})
    assert set(out) == {"knn", "mlp"}
    for name, entry in out.items():
        assert entry["task"] == "regression"
        assert entry["metrics"]["r2"] > 0.9, name
        assert {"sigma_nmad", "outlier_fraction", "success_rate"} <= set(entry["metrics"])
        assert entry["fit_seconds"] >= 0 and entry["predict_seconds"] >= 0
        assert (entry["n_train"], entry["n_test"], entry["embedding_dim"]) == (800, 200, 3)
    assert out["mlp"]["params"]["epochs"] == 20 and out["mlp"]["params"]["random_state"] == 0
    assert out["knn"]["params"]["n_neighbors_used"] == 64
    json.dumps(out)  # JSON-ready
    again = probe_embeddings(
        Xtr, ytr, Xte, yte, probes=["mlp"], probe_options={"mlp": {"epochs": 20}}
    )
    assert again["mlp"]["metrics"] == out["mlp"]["metrics"]  # random_state=0 by default

    Xtr, ytr, Xte, yte = _split(*_classes(1000), n_train=800)
    out = probe_embeddings(Xtr, ytr, Xte, yte, probes="knn")
    assert list(out) == ["knn"] and out["knn"]["task"] == "classification"
    assert out["knn"]["metrics"]["accuracy"] > 0.9
    assert out["knn"]["metrics"]["labels"] == ["GALAXY", "QSO"]


def test_probe_embeddings_errors():
    Xtr, ytr, Xte, yte = _split(*_linear(100), n_train=80)
    with pytest.raises(ValueError, match="probes must name"):
        probe_embeddings(Xtr, ytr, Xte, yte, probes=["svm"])
    with pytest.raises(ValueError, match="probe_options"):
        probe_embeddings(Xtr, ytr, Xte, yte, probes=["knn"], probe_options={"mlp": {}})
    with pytest.raises(ValueError, match="y_test has 19 targets"):
        probe_embeddings(Xtr, ytr, Xte, yte[:-1])
    with pytest.raises(ValueError, match="'n_neighbors' parameter"):
        probe_embeddings(Xtr, ytr, Xte, yte, probes=["knn"],
                         probe_options={"knn": {"n_neighbors": -1}})  # fmt: skip
    assert set(PROBES) == {"knn", "mlp", "linear"}


class _FakeEncoder:
    """An encoder that is no scikit-learn estimator: a fixed projection, counted calls."""

    def __init__(self, matrix):
        self.matrix = matrix
        self.calls = 0

    def transform(self, X):
        self.calls += 1
        return np.asarray(X) @ self.matrix


class _Unfitted(BaseEstimator):
    def fit(self, X, y=None):
        self.components_ = 1
        return self

    def transform(self, X):  # pragma: no cover - never reached
        raise AssertionError("transform of an unfitted encoder must not be called")


def test_probe_encoder_embeds_both_splits():
    rng = np.random.default_rng(5)
    latent, y = _linear(2000)
    mixing = rng.normal(size=(3, 40))
    flux = latent @ mixing  # 40 "pixels" from 3 factors
    encoder = _FakeEncoder(np.linalg.pinv(mixing))  # recovers the factors
    out = probe_encoder(encoder, flux[:1600], y[:1600], flux[1600:], y[1600:], probes=["knn"],
                        task="regression")  # fmt: skip
    assert encoder.calls == 2
    assert out["knn"]["embedding_dim"] == 3 and out["knn"]["metrics"]["r2"] > 0.9
    assert out["knn"]["embed_seconds"] >= 0


def test_probe_encoder_refuses_unfitted_or_non_encoders():
    X, y = _linear(50)
    with pytest.raises(NotFittedError, match="encoder: this _Unfitted is not fitted"):
        probe_encoder(_Unfitted(), X, y, X, y)
    with pytest.raises(TypeError, match="must have a transform method"):
        probe_encoder(object(), X, y, X, y)
    duck = _FakeEncoder(np.eye(3))
    duck.__sklearn_is_fitted__ = lambda: False
    with pytest.raises(NotFittedError, match="encoder: this _FakeEncoder is not fitted"):
        probe_encoder(duck, X, y, X, y)
    assert duck.calls == 0
    flat = _FakeEncoder(np.ones(3))  # gives (n,), not (n, d)
    with pytest.raises(ValueError, match=r"transform\(X_train\) gave shape"):
        probe_encoder(flat, X, y, X, y)


def test_probe_encoder_refuses_an_unfitted_package_encoder():
    from spectromer.models import MaskedImagePretrainer

    X, y = _linear(20)
    with pytest.raises(NotFittedError, match="MaskedImagePretrainer is not fitted"):
        probe_encoder(MaskedImagePretrainer(), X, y, X, y)


@pytest.mark.filterwarnings("ignore:KNNProbe. n_neighbors=64 is more than")
def test_probe_encoder_with_a_fitted_vit():
    pytest.importorskip("timm")
    from spectromer import SpectromerModel

    tiny = dict(
        backbone="vit_tiny_patch16_224",
        pretrained=False,
        image_size=16,
        backbone_options=dict(patch_size=8, depth=1, embed_dim=32, num_heads=2),
        render_options={"grid": "index"},
        epochs=1,
        batch_size=16,
        augment=False,
        validation_fraction=0.0,
        num_workers=0,
        progress=False,
        random_state=0,
        device="cpu",
    )
    rng = np.random.default_rng(0)
    flux = rng.normal(size=(50, 64)) + np.linspace(0, 1, 64)
    labels = np.where(flux[:, :8].mean(axis=1) > 0.1, "A", "B")
    model = SpectromerModel(**tiny).fit(flux[:40], labels[:40])
    out = probe_encoder(model, flux[:40], labels[:40], flux[40:], labels[40:],
                        probe_options={"mlp": {"epochs": 1}})  # fmt: skip
    for entry in out.values():
        assert entry["embedding_dim"] == 32 and entry["task"] == "classification"
        assert entry["metrics"]["n"] == 10
        assert 0.0 <= entry["metrics"]["accuracy"] <= 1.0


def test_linear_probe_is_logistic_or_ridge_on_standardised_embeddings():
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4)) * [1.0, 10.0, 0.1, 1.0] + 5.0
    y = X @ [1.0, 0.1, 10.0, 0.0] + rng.normal(0, 0.1, 300)
    probe = LinearProbe(task="regression", alpha=2.0).fit(X[:200], y[:200])
    Xs = StandardScaler().fit(X[:200])
    ys = StandardScaler().fit(y[:200, None])
    ridge = Ridge(alpha=2.0).fit(Xs.transform(X[:200]), ys.transform(y[:200, None]).ravel())
    expected = ys.inverse_transform(ridge.predict(Xs.transform(X[200:]))[:, None]).ravel()
    np.testing.assert_allclose(probe.predict(X[200:]), expected, rtol=1e-6)
    labels = np.where(y > np.median(y), "hi", "lo")
    clf = LinearProbe(alpha=0.5).fit(X[:200], labels[:200])
    ref = LogisticRegression(C=2.0, max_iter=2000).fit(Xs.transform(X[:200]), labels[:200])
    np.testing.assert_array_equal(clf.predict(X[200:]), ref.predict(Xs.transform(X[200:])))
    assert clf.predict_proba(X[200:]).shape == (100, 2) and clf.task_ == "classification"
    with pytest.raises(ValueError, match="alpha"):
        LinearProbe(alpha=0).fit(X, y)


# -- scikit-learn's estimator checks -------------------------------------------------------

CHECKED = [
    KNNProbe(task="regression"),
    KNNProbe(task="classification"),
    KNNProbe(),
    MLPProbe(task="regression", random_state=0),
    MLPProbe(task="classification", random_state=0),
    MLPProbe(random_state=0),
    LinearProbe(task="regression"),
    LinearProbe(task="classification"),
    LinearProbe(),
]


@pytest.mark.filterwarnings("ignore:KNNProbe. n_neighbors=64 is more than")
@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    check(estimator)
