"""Shared pytest configuration and fixtures for the Spectromer test suite.

* ``HF_HUB_OFFLINE=1`` is set before anything imports ``huggingface_hub`` (through timm),
  so no test can reach the network for model weights.
* ``data_dir`` points at the small fixtures committed in ``tests/data``.
* ``shared_data`` points at the real survey data in ``<repo>/../shared/data`` and skips
  the test where that folder is absent (a fresh clone, a user's machine, a wheel install).
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
