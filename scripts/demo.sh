#!/usr/bin/env bash
# The main demo: the seed's two attacks, traced, turned into a policy, caught
# in log mode and prevented in kill mode. Builds what it needs; installs
# missing apt packages when run as root.  Usage: sudo ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
source scripts/ensure-deps.sh
if [ "$(id -u)" -ne 0 ]; then
    echo "secimport: the demo loads eBPF programs and needs root: sudo $0" >&2
    exit 2
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "building secimport (release)"
cargo build --release -q -p secimport
S="$repo/target/release/secimport"
work=$(mktemp -d /tmp/secimport-demo.XXXXXX)
cp -r examples/pickle examples/model "$work/"
echo "working in $work"

# --- 1. pickle ---------------------------------------------------------------
cd "$work/pickle"
python3 make_pickles.py --dir . --marker "$work/PWNED"
step "pickle: trace a loader of a benign checkpoint"
"$S" trace --entrypoint app.py -- benign.pkl
step "pickle: build the policy (first lines of policy.yaml)"
"$S" build
sed -n '1,22p' policy.yaml; echo "    ..."
step "pickle: the benign checkpoint under the policy: no violations"
"$S" run --entrypoint app.py -- benign.pkl
step "pickle: the seed's exploit (eval -> os.system('echo Exploited!')) in log mode: reported, runs"
"$S" run --entrypoint app.py -- exploit.pkl || echo "(secimport exited $?: violations)"
step "pickle: an exploit running \`touch $work/PWNED\` with --kill-on-violation"
"$S" run --entrypoint app.py --kill-on-violation -- touch.pkl || echo "(secimport exited $?: violations)"
if [ -e "$work/PWNED" ]; then echo "!! $work/PWNED exists: the shell ran"; exit 1; fi
echo "PREVENTED: $work/PWNED was never created"

# --- 2. model ----------------------------------------------------------------
cd "$work/model"
step "model: trace the Polynomial3 training loop"
"$S" trace --entrypoint train.py -- --steps 300
"$S" build
step "model: forward() gains \`import os; os.system('ps')\` (--evil), log mode: ps runs, reported"
"$S" run --entrypoint train.py -- --evil || echo "(secimport exited $?: violations)"
step "model: the same with --kill-on-violation: ps never runs"
out=$("$S" run --entrypoint train.py --kill-on-violation -- --evil) || echo "(secimport exited $?: violations)"
if grep -q "PID TTY" <<<"$out"; then echo "!! ps ran"; exit 1; fi
echo "PREVENTED: ps produced no output"
step "done; files are in $work (logs of violations: /tmp/.secimport/)"
