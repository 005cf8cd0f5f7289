#!/usr/bin/env bash
# The whole test suite: pure tests, kernel tests (root + BPF), end-to-end
# programs on both local interpreters, the Python package (from its wheel),
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

echo "==> cargo test (workspace)" >&2
cargo test --workspace --release 2>&1 | tee "$log/cargo.txt"

# The workspace run fuzzes each parser for 2 s; a longer pass here (the two
# targets run in parallel: about 20 s in all). Any panic fails the suite.
echo "==> fuzzing the policy and trace parsers (20 s per target)" >&2
SECIMPORT_FUZZ_SECONDS=20 cargo test --release -p secimport-policy --test fuzz 2>&1 | tee "$log/fuzz.txt"

echo "==> Python package: wheel built, installed in a fresh venv, pytest there" >&2
./scripts/test-python.sh 2>&1 | tee "$log/pytest.txt"
echo "==> Python package on CPython 3.12 (pyenv 3.12.1)" >&2
PYTHON=/root/.pyenv/versions/3.12.1/bin/python3.12 ./scripts/test-python.sh 2>&1 | tee "$log/pytest312.txt"
echo "==> Python package on CPython 3.13 (pyenv 3.13.0)" >&2
PYTHON=/root/.pyenv/versions/3.13.0/bin/python3.13 ./scripts/test-python.sh 2>&1 | tee "$log/pytest313.txt"

echo "==> benchmark smoke run (sizes tiny, targets not judged)" >&2
cargo build --release -p secimport
python3 bench/bench.py --quick --secimport ./target/release/secimport --json "$log/bench.json"

echo "==> acceptance: workloads traced once, then run 3 times in kill mode on the same inputs (0 kills)" >&2
python3 bench/acceptance.py --quick --only multiprocessing,asyncio,http-server,git-driver \
    --secimport ./target/release/secimport 2>&1 | tee "$log/acceptance.txt"

# One closing line for the whole suite (any failure above already stopped it).
rust=$(grep -E '^test result: ok\.' "$log/cargo.txt" | awk '{s += $4} END {print s + 0}')
py=$(cat "$log/pytest.txt" "$log/pytest312.txt" "$log/pytest313.txt" | grep -E '^[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
echo "secimport: Rust $rust passed, Python ${py:-0} passed, benchmark smoke run ok, acceptance (quick) ok"
echo "tests: $((rust + ${py:-0})) passed, 0 failed"
