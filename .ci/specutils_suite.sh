#!/usr/bin/env bash
# specutils' own test suite, run with spectromer imported first: `bash .ci/specutils_suite.sh`.
#
# Importing spectromer registers its readers with specutils' I/O registry; this step checks
# that doing so changes nothing specutils itself relies on. It downloads the sdist of the
# *installed* specutils version (its tests and test data are not all in the wheel), runs the
# suite from it with `-p spectromer` (pytest imports spectromer as a plugin, before any
# test module or conftest), and fails unless the suite has no failures and no errors.
# Remote-data tests skip (pytest-remotedata's default).
#
# The suite needs pytest-asdf-plugin (specutils' setup.cfg sets `asdf_schema_root`); it is
# installed into a throw-away overlay environment that sees the active environment's
# packages, so the active environment itself is not changed.
#
# Environment: PYTHON (default: python, i.e. the active virtual environment);
# SPECUTILS_SUITE_DIR to keep the download and overlay between runs (default: a temporary
# folder, removed at the end). About 1.5 minutes on 2 cores (download ~20 s, suite ~70 s).
set -euo pipefail

PYTHON="${PYTHON:-python}"
start=$SECONDS

version="$("$PYTHON" -c 'import specutils; print(specutils.__version__)')"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$PYTHON" -c 'import spectromer' # fail early if spectromer is not importable

if [ -n "${SPECUTILS_SUITE_DIR:-}" ]; then
    work="$SPECUTILS_SUITE_DIR/specutils-$version"
    mkdir -p "$work"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi
echo "specutils $version: suite in $work"

src="$work/specutils-$version"
if [ ! -d "$src" ]; then
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
        "specutils==$version" -d "$work/sdist"
    tar -xzf "$work/sdist/specutils-$version.tar.gz" -C "$work"
fi

overlay="$work/overlay"
if [ ! -x "$overlay/bin/python" ]; then
    "$PYTHON" -m venv --without-pip "$overlay"
    parent="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    child="$("$overlay/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    # addsitedir (not a plain path line) so the parent's .pth files, e.g. the editable
    # install of spectromer, are processed too.
    echo "import site; site.addsitedir('$parent')" > "$child/_parent_environment.pth"
    "$overlay/bin/python" -m pip install --quiet --disable-pip-version-check pytest-asdf-plugin
fi

# The suite must test the installed specutils: the sdist's package is the same release.
"$overlay/bin/python" - "$src" "$version" <<'PY'
import sys, pathlib
src, version = pathlib.Path(sys.argv[1]), sys.argv[2]
text = (src / "PKG-INFO").read_text()
assert f"\nVersion: {version}\n" in text, f"{src} is not specutils {version}"
PY

report="$work/junit.xml"
status=0
(
    cd "$src"
    # Running from the sdist root imports its specutils package (the installed release's
    # source), which the tests' relative imports need; spectromer registers with it.
    OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MPLBACKEND=agg \
        "$overlay/bin/python" -m pytest -q -p no:cacheprovider --color=no -p spectromer \
        -rfE --junitxml="$report" specutils docs
) || status=$?

"$overlay/bin/python" - "$report" "$status" "$((SECONDS - start))" <<'PY'
import sys
import xml.etree.ElementTree as ET

report, status, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
suite = ET.parse(report).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
print(
    f"specutils suite with spectromer imported first: {passed} passed, "
    f"{counts['skipped']} skipped/xfailed, {counts['failures']} failed, "
    f"{counts['errors']} errors ({seconds} s in all)"
)
if counts["failures"] or counts["errors"] or status not in (0,):
    sys.exit(f"specutils' own test suite fails with spectromer imported (pytest exit {status})")
if passed == 0:
    sys.exit("specutils' test suite ran no tests")
PY
