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

echo "==> cargo test (workspace)" >&2
cargo test --workspace --release

echo "==> Python package: wheel built, installed in a fresh venv, pytest there" >&2
./scripts/test-python.sh

echo "==> benchmark smoke run (sizes tiny, targets not judged)" >&2
cargo build --release -p secimport
python3 bench/bench.py --quick --secimport ./target/release/secimport --json "$(mktemp -d)/bench.json"
