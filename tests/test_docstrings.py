"""Every public function and class has a numpydoc docstring with an example.

The examples themselves run as doctests (pytest-doctestplus collects the package's
docstrings through ``testpaths`` in setup.cfg); this test checks that they exist.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

#: The public modules: the ones the API reference documents (docs/api.rst).
PUBLIC_MODULES = [
    "spectromer",
    "spectromer.io",
    "spectromer.datasets",
    "spectromer.simulation",
    "spectromer.simulation.instruments",
    "spectromer.simulation.objects",
    "spectromer.simulation.observe",
    "spectromer.simulation.library",
    "spectromer.imaging",
    "spectromer.imaging.layout",
    "spectromer.imaging.reference",
    "spectromer.models",
    "spectromer.models.weights",
    "spectromer.models.mae",
    "spectromer.models.specformer",
    "spectromer.models.specformer_learner",
    "spectromer.training",
    "spectromer.baselines",
    "spectromer.evaluation",
    "spectromer.evaluation.probes",
    "spectromer.evaluation.families",
    "spectromer.evaluation.report",
    "spectromer.testing",
]


def _public_objects():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{module_name}.{name}", obj


OBJECTS = dict(_public_objects())


def test_the_api_reference_documents_every_public_module():
    from pathlib import Path

    api = (Path(__file__).resolve().parents[1] / "docs" / "api.rst").read_text()
    for name in PUBLIC_MODULES[1:]:
        assert f".. automodapi:: {name}\n" in api, name


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_public_object_has_a_docstring_with_an_example(name):
    obj = OBJECTS[name]
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{name} has no docstring"
    if inspect.isclass(obj) and issubclass(obj, (Exception, Warning)):
        return  # exceptions: raised by the functions whose examples show them
    assert "Examples\n--------" in doc, f"{name}: the docstring has no Examples section"
    assert ">>> " in doc, f"{name}: the Examples section has no runnable example"


@pytest.mark.parametrize("name", sorted(n for n, o in OBJECTS.items() if inspect.isclass(o)))
def test_public_methods_have_docstrings(name):
    cls = OBJECTS[name]
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, property) or inspect.isfunction(value):
            doc = inspect.getdoc(getattr(cls, attr))
            assert doc, f"{name}.{attr} has no docstring"
