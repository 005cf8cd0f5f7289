#!/usr/bin/env bash
# The Python package's tests, against the wheel as users get it: builds the
# wheel (the Rust binary inside) with `pip wheel .`, installs it into a fresh
# virtualenv of pyenv's 3.11.7, and runs python/tests there with pytest.
# The end-to-end tests attach the eBPF sandbox: run as root.
#
# Usage: sudo ./scripts/test-python.sh [pytest args]
# Environment: PYTHON (default pyenv 3.11.7), KEEP=1 keeps the work directory,
# CHROOT=SUITE runs the venv and pytest inside a chroot of scripts/chroot.sh
# (PYTHON is then the interpreter's path inside it, e.g. /usr/bin/python3.14;
# /tmp and the repository are bound at their own paths).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

PYTHON=${PYTHON:-/root/.pyenv/versions/3.11.7/bin/python3.11}
# The wheel is built with pyenv's 3.11 (it holds only the binary: any version installs it).
BUILD_PYTHON=/root/.pyenv/versions/3.11.7/bin/python3.11
[ -x "$BUILD_PYTHON" ] || BUILD_PYTHON=python3
CHROOT=${CHROOT:-}
if [ -n "$CHROOT" ]; then
    root=$(scripts/chroot.sh --path "$CHROOT")
    [ -x "$root$PYTHON" ] || { echo "secimport: no interpreter at $PYTHON in the $CHROOT chroot ($root): sudo scripts/chroot.sh $CHROOT" >&2; exit 2; }
    scripts=$(pwd)/scripts
    inside() { "$scripts/in-chroot.sh" "$CHROOT" "$@"; }
else
    [ -x "$PYTHON" ] || { echo "secimport: no interpreter at $PYTHON (set PYTHON=...)" >&2; exit 2; }
    inside() { "$@"; }
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "secimport: the Python tests attach the eBPF sandbox and need root: sudo $0" >&2
    exit 2
fi

repo=$(pwd)
work=$(mktemp -d /tmp/secimport-python-tests.XXXXXX)
# World-readable: one test drops to `nobody` and must still run the venv's python.
chmod 755 "$work"
if [ "${KEEP:-0}" = 1 ]; then
    echo "secimport: keeping $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi

echo "==> building the wheel (maturin; cargo reuses ./target)" >&2
"$BUILD_PYTHON" -m venv "$work/build-env"
"$work/build-env/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2"
# No build isolation: maturin comes from build-env (its PEP 517 hook runs
# `maturin` from PATH). The release build lands in
# ./target (shared with `cargo build --release`), so a built tree is reused.
PATH="$work/build-env/bin:$PATH" "$work/build-env/bin/pip" wheel --quiet --disable-pip-version-check --no-build-isolation --no-deps \
    -w "$work/wheels" .
wheel=$(ls "$work"/wheels/secimport-*.whl)
echo "    $(basename "$wheel") ($(du -h "$wheel" | cut -f1))" >&2

echo "==> installing it into a fresh virtualenv of $PYTHON${CHROOT:+ (in the $CHROOT chroot)}" >&2
inside "$PYTHON" -m venv "$work/venv"
# pytest-xdist: the pytest plugin's tests run a suite with `-n 2`.
inside "$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" "pytest>=7" pytest-xdist

echo "==> pytest (python/tests, against the installed wheel)" >&2
# Run from outside the repository so that `import secimport` can only find the
# installed package; SECIMPORT_BIN must not point the tests elsewhere.
cd "$work"
# SECIMPORT_TEST_PYPI=1: PyPI is reachable here (pip just installed pytest), so
# the pytest plugin's third-party suite test fails, never skips, without it.
inside env -u SECIMPORT_BIN -u PYTHONPATH SECIMPORT_TEST_INSTALLED=1 SECIMPORT_TEST_PYPI=1 \
    PATH="$work/venv/bin:$PATH" \
    "$work/venv/bin/python" -m pytest -p no:cacheprovider -q "$repo/python/tests" "$@"
