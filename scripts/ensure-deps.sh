#!/usr/bin/env bash
# Installs what building and testing secimport needs on Debian/Ubuntu, when it
# is missing: clang (BPF programs), libelf/zlib/pkg-config (libbpf), libseccomp
# (the seccomp backend's filters), Debian's python3.11 (the static interpreter
# the tests run on). Sourced by demo.sh, test.sh and .ci/run. Needs root only
# when something must be installed.
set -euo pipefail

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v make >/dev/null 2>&1 || need+=(make)
[ -e /usr/include/libelf.h ] || need+=(libelf-dev)
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
[ -x /usr/bin/python3.11 ] || need+=(python3.11)
[ -e /usr/include/python3.11/internal/pycore_frame.h ] || need+=(python3.11-dev)
command -v git >/dev/null 2>&1 || need+=(git)

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "secimport: missing packages: ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
        exit 2
    fi
    echo "secimport: installing ${need[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    for c in "$HOME/.cargo/bin/cargo" /root/.cargo/bin/cargo; do
        if [ -x "$c" ]; then export PATH="$(dirname "$c"):$PATH"; break; fi
    done
fi
command -v cargo >/dev/null 2>&1 || { echo "secimport: cargo (Rust) is needed: https://rustup.rs" >&2; exit 2; }
