"""Tests of SeedEnsemble: members by seed, the vote, the mean, save/load, checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from spectromer import SpectromerModel  # noqa: E402
from spectromer.datasets import load_sample  # noqa: E402
from spectromer.models import ModelFileError, SeedEnsemble  # noqa: E402
from spectromer.models.ensemble import majority_vote  # noqa: E402

TINY = dict(backbone="vit_tiny_patch16_224", pretrained=False, image_size=32,
            backbone_options=dict(patch_size=8, depth=2), standardize=None, epochs=2,
            batch_size=32, progress=False, device="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    order = rng.permutation(600)
    return {"train": np.sort(order[:120]), "test": np.sort(order[120:180])}


@pytest.fixture(scope="module")
def hard(sample, rows):
    return SeedEnsemble(SpectromerModel(**TINY), n_members=3, random_state=5).fit(
        sample, "type", indices=rows["train"]
    )


def test_members_are_the_estimator_with_consecutive_seeds(hard, sample, rows):
    assert hard.seeds_ == [5, 6, 7]
    assert [m.random_state for m in hard.estimators_] == [5, 6, 7]
    assert hard.classes_.tolist() == ["A", "F", "G"]
    assert hard.fit_seconds_ > 0
    assert is_classifier(hard) and not is_regressor(hard)
    # the members are independent fits: their weights differ
    w = [next(iter(m.model_.state_dict().values())) for m in hard.estimators_]
    assert not torch.equal(w[0], w[1])
    # member 0 is exactly the estimator trained alone with that seed (CPU, seeded)
    alone = SpectromerModel(**{**TINY, "random_state": 5}).fit(sample, "type",
                                                                indices=rows["train"])  # fmt: skip
    np.testing.assert_array_equal(
        alone.predict(sample, indices=rows["test"]),
        hard.estimators_[0].predict(sample, indices=rows["test"]),
    )


def test_hard_vote_is_the_members_majority(hard, sample, rows):
    labels = np.stack([m.predict(sample, indices=rows["test"]) for m in hard.estimators_])
    pred = hard.predict(sample, indices=rows["test"])
    np.testing.assert_array_equal(pred, majority_vote(labels))
    np.testing.assert_array_equal(hard.predict_members(sample, indices=rows["test"]), labels)
    agree = (labels[0] == labels[1]) | (labels[0] == labels[2])
    np.testing.assert_array_equal(pred[agree], labels[0][agree])
    assert not hasattr(hard, "predict_proba")  # as VotingClassifier(voting="hard")
    truth = sample.labels("type")[rows["test"]]
    assert hard.score(sample, "type", indices=rows["test"]) == pytest.approx(
        np.mean(pred == truth)
    )


def test_soft_vote_averages_probabilities(hard, sample, rows):
    soft = clone(hard).set_params(voting="soft")
    soft._set_members(hard.estimators_)  # the same members, voted softly
    proba = soft.predict_proba(sample, indices=rows["test"])
    mean = np.mean([m.predict_proba(sample, indices=rows["test"]) for m in hard.estimators_],
                   axis=0)  # fmt: skip
    np.testing.assert_allclose(proba, mean)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(soft.predict(sample, indices=rows["test"]),
                                  soft.classes_[mean.argmax(axis=1)])  # fmt: skip


def test_save_and_load_round_trip(hard, sample, rows, tmp_path):
    folder = hard.save(tmp_path / "ens")
    assert sorted(p.name for p in folder.iterdir()) == [
        "ensemble.json", "member_0", "member_1", "member_2"
    ]  # fmt: skip
    back = SeedEnsemble.load(folder, device="cpu")
    assert back.seeds_ == [5, 6, 7] and back.n_members == 3 and back.voting == "hard"
    assert back.estimator.get_params()["epochs"] == 2
    np.testing.assert_array_equal(back.predict(sample, indices=rows["test"]),
                                  hard.predict(sample, indices=rows["test"]))  # fmt: skip
    # a member that is not the one saved with the listing is refused, naming it
    config = folder / "member_1" / "config.json"
    data = json.loads(config.read_text())
    data["fitted"]["seed"] = 99
    config.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"member_1: .*checksum differs"):
        SeedEnsemble.load(folder)
    listing = json.loads((folder / "ensemble.json").read_text())
    listing["members"][0]["class"] = "os.path.join"
    (folder / "ensemble.json").write_text(json.dumps(listing))
    with pytest.raises(ModelFileError, match="not a Spectromer learner"):
        SeedEnsemble.load(folder)
    (folder / "ensemble.json").unlink()
    with pytest.raises(ModelFileError, match="no ensemble.json"):
        SeedEnsemble.load(folder)


def test_regression_is_the_members_mean(sample, rows):
    teff = np.nan_to_num(np.asarray(sample.labels("snr_r"), dtype=float))  # any number
    ens = SeedEnsemble(SpectromerModel(task="regression", **{**TINY, "epochs": 1}),
                       n_members=2, random_state=0)  # fmt: skip
    ens.fit(sample, teff[rows["train"]], indices=rows["train"])
    assert is_regressor(ens) and not hasattr(ens, "predict_proba")
    pred = ens.predict(sample, indices=rows["test"])
    mean = np.mean([m.predict(sample, indices=rows["test"]) for m in ens.estimators_], axis=0)
    np.testing.assert_allclose(pred, mean)
    np.testing.assert_allclose(ens.predict_members(sample, indices=rows["test"]).mean(axis=0),
                               pred)  # fmt: skip
    assert np.isfinite(ens.score(sample, teff[rows["test"]], indices=rows["test"]))


def test_params_seeds_and_checks():
    ens = SeedEnsemble(SpectromerModel(random_state=3, **TINY), n_members=2)
    assert ens.get_params()["estimator__epochs"] == 2
    ens.set_params(estimator__epochs=4, n_members=4)
    assert ens.estimator.epochs == 4 and clone(ens).n_members == 4
    assert ens._member_seeds() == [3, 4, 5, 6]  # the estimator's own seed, then the next
    assert SeedEnsemble(SpectromerModel(**TINY), n_members=2)._member_seeds() == [None, None]
    with pytest.raises(NotFittedError):
        ens.predict(np.zeros((2, 10)))
    with pytest.raises(InvalidParameterError, match="n_members"):
        SeedEnsemble(SpectromerModel(**TINY), n_members=0).fit(np.zeros((4, 10)), [0, 1, 0, 1])
    with pytest.raises(InvalidParameterError, match="voting"):
        SeedEnsemble(SpectromerModel(**TINY), voting="mean").fit(np.zeros((4, 10)), [0, 1, 0, 1])
    from sklearn.neighbors import KNeighborsClassifier

    with pytest.raises(ValueError, match="KNeighborsClassifier has no random_state"):
        SeedEnsemble(KNeighborsClassifier()).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_majority_vote_ties_go_to_the_earliest_member():
    labels = np.array([["A", "F", "G", "K"], ["F", "F", "K", "G"], ["G", "A", "A", "G"]])
    assert majority_vote(labels).tolist() == ["A", "F", "G", "G"]
    assert majority_vote(np.array([[1, 2, 3]])).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match=r"\(n_members, n\)"):
        majority_vote(np.array([1, 2, 3]))
