"""Shared pytest configuration and fixtures for the Spectromer test suite.

* ``HF_HUB_OFFLINE=1`` is set before anything imports ``huggingface_hub`` (through timm),
  so no test can reach the network for model weights.
* ``data_dir`` points at the small fixtures committed in ``tests/data``.
* ``shared_data`` points at the real survey data in ``<repo>/../shared/data`` and skips
  the test where that folder is absent (a fresh clone, a user's machine, a wheel install).
* ``interrupt_after`` makes a trainer callback that interrupts training after an epoch
  (for the resume tests), optionally in every ``Trainer`` an estimator builds.
* A ``ci`` Hypothesis profile (no deadline, 25 examples) is registered and loaded by
  default; set ``HYPOTHESIS_PROFILE`` to load another registered profile instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hypothesis import settings  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent
"""Folder holding this file: ``<repo>/tests``."""

DATA_DIR = TESTS_DIR / "data"
"""Small committed fixtures: ``<repo>/tests/data``."""

SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
"""Real survey data kept beside the repository, never committed: ``<repo>/../shared/data``."""

settings.register_profile("ci", deadline=None, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Path of the committed test fixtures (``tests/data``)."""
    return DATA_DIR


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real survey data in ``<repo>/../shared/data``.

    Skips the requesting test when that folder does not exist, so the suite passes on a
    machine without the data.
    """
    if not SHARED_DATA_DIR.is_dir():
        pytest.skip(f"real survey data not available: {SHARED_DATA_DIR} does not exist")
    return SHARED_DATA_DIR


class TrainingInterrupted(Exception):
    """Raised by the callback of the ``interrupt_after`` fixture: a stand-in for Ctrl-C."""


@pytest.fixture
def interrupt_after(monkeypatch):
    """``interrupt_after(n)``: a trainer callback that raises ``interrupt_after.error`` once,
    at the end of epoch ``n`` (from 1), after that epoch's checkpoint is written.

    With ``every_trainer=True`` the callback is also added to every
    :class:`~spectromer.training.Trainer` made during the test (through its ``callbacks``
    parameter), to interrupt the trainers that the estimators build.
    """
    from spectromer.training import Callback, Trainer

    class Interrupt(Callback):
        def __init__(self, epoch: int) -> None:
            self.epoch, self.fired = epoch, False

        def on_epoch_end(self, trainer, epoch, logs):
            if epoch + 1 == self.epoch and not self.fired:
                self.fired = True
                raise TrainingInterrupted(f"interrupted after epoch {self.epoch}")

    def arm(epoch: int, *, every_trainer: bool = False) -> Callback:
        callback = Interrupt(epoch)
        if every_trainer:
            init = Trainer.__init__

            def with_interrupt(self, *args, callbacks=None, **kwargs):
                init(self, *args, callbacks=[*(callbacks or ()), callback], **kwargs)

            monkeypatch.setattr(Trainer, "__init__", with_interrupt)
        return callback

    arm.error = TrainingInterrupted
    return arm
