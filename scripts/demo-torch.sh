#!/usr/bin/env bash
# Opt-in end-to-end demo with real PyTorch (the seed's Polynomial3 example).
# Installs torch into .venv-torch (about 2.5 GB of wheels with their CUDA
# dependencies, ~5 GB installed; not part of the default tests).
# Usage: sudo ./scripts/demo-torch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
source scripts/ensure-deps.sh
[ "$(id -u)" -eq 0 ] || { echo "secimport: needs root: sudo $0" >&2; exit 2; }

py=/root/.pyenv/versions/3.11.7/bin/python3.11
[ -x "$py" ] || py=$(command -v python3.11)
venv="$repo/.venv-torch"
if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv and installing torch (large download)" >&2
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q torch
fi
cargo build --release -q -p secimport
S="$repo/target/release/secimport"
work=$(mktemp -d /tmp/secimport-torch.XXXXXX)
cp examples/torch/pytorch_example.py "$work/"
cd "$work"

echo "==> trace" >&2
"$S" trace --python "$venv/bin/python" --entrypoint pytorch_example.py
"$S" build
echo "==> run unchanged (expect no violations)" >&2
"$S" run --python "$venv/bin/python" --entrypoint pytorch_example.py
echo "==> forward() runs os.system('ps'), log mode" >&2
SECIMPORT_EVIL=1 "$S" run --python "$venv/bin/python" --entrypoint pytorch_example.py || true
echo "==> the same, --kill-on-violation" >&2
out=$(SECIMPORT_EVIL=1 "$S" run --python "$venv/bin/python" --entrypoint pytorch_example.py --kill-on-violation) || true
if grep -q "PID TTY" <<<"$out"; then echo "!! ps ran" >&2; exit 1; fi
echo "PREVENTED: ps produced no output (files in $work)" >&2
