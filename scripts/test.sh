#!/usr/bin/env bash
# The whole test suite: pure tests, kernel tests (root + BPF), end-to-end
# programs on every supported CPython, the Python package (from its wheel),
# and the benchmark's smoke mode.
# Usage: sudo ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

if [ "$(id -u)" -ne 0 ]; then
    echo "secimport: the kernel tests load eBPF programs and need root: sudo $0" >&2
    echo "secimport: (without root you can still run the pure tests: cargo test -p secimport-policy)" >&2
    exit 2
fi

log=$(mktemp -d /tmp/secimport-test.XXXXXX)
trap 'rm -rf "$log"' EXIT

# Interpreters the machine image lacks: CPython 3.14 from Debian sid and the
# static 3.9 of bullseye, in chroots (about a minute each the first time).
echo "==> chroots: Debian sid (CPython 3.14), bullseye (static 3.9), trixie (3.13)" >&2
scripts/chroot.sh sid
scripts/chroot.sh bullseye
scripts/chroot.sh trixie   # the OCI export test runs runc with it as the rootfs; the wheel is installed there

echo "==> cargo test (workspace)" >&2
cargo test --workspace --release 2>&1 | tee "$log/cargo.txt"

# The workspace run fuzzes each parser for 2 s; a longer pass here (the two
# targets run in parallel: about 20 s in all). Any panic fails the suite.
echo "==> fuzzing the policy and trace parsers (20 s per target)" >&2
SECIMPORT_FUZZ_SECONDS=20 cargo test --release -p secimport-policy --test fuzz 2>&1 | tee "$log/fuzz.txt"

echo "==> Python package: wheel built, installed in a fresh venv, pytest there (every version)" >&2
for v in 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
    echo "==> Python package on CPython $v (pyenv)" >&2
    PYTHON=/root/.pyenv/versions/$v/bin/python${v%.*} ./scripts/test-python.sh 2>&1 | tee "$log/pytest-$v.txt"
done
echo "==> Python package on CPython 3.14 (Debian sid, in its chroot)" >&2
CHROOT=sid PYTHON=/usr/bin/python3.14 ./scripts/test-python.sh 2>&1 | tee "$log/pytest-3.14.txt"

echo "==> benchmark smoke run (sizes tiny, targets not judged)" >&2
cargo build --release -p secimport
python3 bench/bench.py --quick --secimport ./target/release/secimport --json "$log/bench.json"

echo "==> acceptance: workloads traced once, then run 3 times in kill mode on the same inputs (0 kills)" >&2
python3 bench/acceptance.py --quick --only multiprocessing,asyncio,http-server,git-driver \
    --secimport ./target/release/secimport 2>&1 | tee "$log/acceptance.txt"

echo "==> portable wheel: built on bullseye (manylinux_2_31), installed and run on bullseye and trixie" >&2
scripts/wheel.sh 2>&1 | tee "$log/wheel.txt"
scripts/test-wheel.sh 2>&1 | tee "$log/test-wheel.txt"
wheel=$(grep -E '^test-wheel: [0-9]+ passed' "$log/test-wheel.txt" | awk '{print $2}')

# One closing line for the whole suite (any failure above already stopped it).
rust=$(grep -E '^test result: ok\.' "$log/cargo.txt" | awk '{s += $4} END {print s + 0}')
py=$(cat "$log"/pytest-*.txt | grep -E '^[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
echo "secimport: Rust $rust passed, Python ${py:-0} passed, portable wheel ${wheel:-0} checks passed, benchmark smoke run ok, acceptance (quick) ok"
echo "tests: $((rust + ${py:-0} + ${wheel:-0})) passed, 0 failed"
