# Licensed under a 3-clause BSD style license - see LICENSE
"""Sphinx configuration for the Spectromer documentation.

Build it (offline, warnings as errors) from the repository root with::

    sphinx-build -W --keep-going -b html docs docs/_build/html

The build never touches the network: intersphinx links to other projects' documentation
are off unless ``SPECTROMER_DOCS_INTERSPHINX=1`` is set in the environment (they need
their inventories downloaded).
"""

import datetime
import os
import sys
from pathlib import Path

try:
    from sphinx_astropy.conf.v2 import *  # noqa: F403  (astropy's shared settings)
    from sphinx_astropy.conf.v2 import exclude_patterns, extensions, intersphinx_mapping
except ImportError as exc:  # pragma: no cover - only without the docs extra
    raise ImportError(
        "building the Spectromer docs needs sphinx-astropy with its v2 configuration: "
        'pip install -e ".[docs]"'
    ) from exc

# Document the source tree being built, even if another spectromer is installed.
DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

import spectromer  # noqa: E402

# -- Project information -------------------------------------------------------

project = "Spectromer"
author = "Spectromer developers"
copyright = f"2026-{max(2026, datetime.date.today().year)}, {author}"

release = spectromer.__version__
# short X.Y version, as shown in the page titles
version = ".".join(release.split(".")[:2])

# -- General configuration -----------------------------------------------------

exclude_patterns = [
    *exclude_patterns,
    "_templates",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.pickle",
    "auto_examples/*.codeobj.json",
]

rst_epilog = """
.. _Astropy: https://www.astropy.org
.. _specutils: https://specutils.readthedocs.io
"""

extensions = [*extensions, "sphinx_gallery.gen_gallery"]

# Offline by default: intersphinx needs to download each project's objects.inv.
if os.environ.get("SPECTROMER_DOCS_INTERSPHINX", "0") == "1":
    intersphinx_mapping = {
        **intersphinx_mapping,
        "specutils": ("https://specutils.readthedocs.io/en/stable/", None),
        "astroquery": ("https://astroquery.readthedocs.io/en/latest/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
    }
else:
    intersphinx_mapping = {}

# automodapi: one page per public object, under docs/api/ (generated, git-ignored)
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
numpydoc_show_class_members = False

# -- sphinx-gallery --------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # only files named plot_*.py are run; everything in examples/ is shown
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    # an example that fails to run fails the build
    "abort_on_example_error": True,
    "remove_config_comments": True,
    # keep the execution-time summary out of the source tree root
    "write_computation_times": False,
}

# -- HTML output -----------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"{project} v{release}"
html_theme_options = {
    **html_theme_options,  # noqa: F405  (from sphinx_astropy.conf.v2)
    "icon_links": [
        {
            "name": "GitHub",
            "url": "https://github.com/spectromer/spectromer",
            "icon": "fa-brands fa-github",
        },
    ],
}
html_last_updated_fmt = None
htmlhelp_basename = "spectromerdoc"

# -- Other builders ----------------------------------------------------------------

latex_documents = [("index", "spectromer.tex", "Spectromer documentation", author, "manual")]
man_pages = [("index", "spectromer", "Spectromer documentation", [author], 1)]


def _sklearn_routing_docstring(app, what, name, obj, options, lines):
    """Replace scikit-learn's generated metadata-routing docstrings (not numpydoc-clean)."""
    if name.rsplit(".", 1)[-1].startswith("set_") and name.endswith("_request"):
        lines[:] = ["scikit-learn metadata routing (see scikit-learn's documentation)."]


def setup(app):
    app.connect("autodoc-process-docstring", _sklearn_routing_docstring)
