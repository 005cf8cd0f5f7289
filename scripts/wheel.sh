#!/usr/bin/env bash
# Builds the portable wheel into dist/: the `secimport` binary with libbpf,
# libelf, zlib and libseccomp linked in statically, against glibc 2.31, so
# that it installs with pip on Debian bullseye and anything newer
# (tagged manylinux_2_31_x86_64, checked by maturin and auditwheel).
#
#   sudo scripts/wheel.sh            # -> dist/secimport-VERSION-py3-none-manylinux_2_31_x86_64.whl
#
# How: cargo and maturin run inside a Debian bullseye chroot
# (scripts/chroot.sh bullseye-build: gcc, clang-16 for the BPF object, the
# static libelf.a/libz.a/libseccomp.a), with this machine's rustup toolchain
# bound into it. Its target directory is target/wheel-bullseye (build
# scripts compiled there run on bullseye's glibc; ./target's do not), so a
# second run rebuilds only what changed. maturin and auditwheel come from
# PyPI into throwaway virtualenvs. Needs root (debootstrap, chroot) and
# the Debian archive and PyPI; the first run takes a few minutes (the
# chroot, then a full release build on bullseye).
#
# Environment: RUSTUP_HOME, CARGO_HOME (default ~/.rustup, ~/.cargo),
# KEEP=1 keeps the throwaway directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
if [[ $# -gt 0 ]]; then
    usage >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "wheel.sh: building in a chroot needs root: sudo $0" >&2
    exit 2
fi
step() { printf '==> %s\n' "$*" >&2; }

rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
[[ -x $cargo_home/bin/cargo && -d $rustup_home/toolchains ]] || {
    echo "wheel.sh: no rustup toolchain at $cargo_home/bin/cargo and $rustup_home (set CARGO_HOME/RUSTUP_HOME; https://rustup.rs)" >&2
    exit 2
}
# The toolchain the host builds with is the chroot's (rustup's proxies
# honour the same settings and overrides).
toolchain=$("$cargo_home/bin/rustup" show active-toolchain 2>/dev/null | cut -d' ' -f1)

step "the bullseye build chroot (scripts/chroot.sh bullseye-build)"
scripts/chroot.sh bullseye-build

work=$(mktemp -d /tmp/secimport-wheel.XXXXXX)
if [[ ${KEEP:-0} == 1 ]]; then
    echo "wheel.sh: keeping $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi
in_build() {
    scripts/in-chroot.sh --bind "$rustup_home" --bind "$cargo_home" bullseye-build "$@"
}

step "maturin from PyPI into a throwaway virtualenv (bullseye's python3)"
in_build python3 -m venv "$work/build-env"
in_build "$work/build-env/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2"

step "cargo + maturin on bullseye (glibc 2.31, static libbpf/libelf/zlib/libseccomp; toolchain ${toolchain:-default})"
start=$(date +%s)
mkdir -p "$work/out"
in_build env \
    PATH="$cargo_home/bin:/usr/local/bin:/usr/bin:/bin" \
    RUSTUP_HOME="$rustup_home" CARGO_HOME="$cargo_home" \
    ${toolchain:+RUSTUP_TOOLCHAIN="$toolchain"} \
    CARGO_TARGET_DIR="$repo/target/wheel-bullseye" \
    CLANG=clang-16 \
    LIBBPF_SYS_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu \
    LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
    "$work/build-env/bin/maturin" build --release --locked \
        --features secimport-engine/static \
        --compatibility manylinux_2_31 \
        --out "$work/out"
wheel=$(ls "$work"/out/secimport-*.whl)
step "built in $(( $(date +%s) - start )) s: $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"

step "auditwheel show (auditwheel from PyPI into a throwaway virtualenv)"
python=/root/.pyenv/versions/3.11.7/bin/python3.11
[[ -x $python ]] || python=python3
"$python" -m venv "$work/audit-env"
"$work/audit-env/bin/pip" install --quiet --disable-pip-version-check auditwheel
"$work/audit-env/bin/auditwheel" show "$wheel" | tee "$work/show.txt" >&2
tag=$(basename "$wheel" .whl)
tag=${tag##*-}
# auditwheel must find the wheel's own tag consistent and no external
# shared library beyond glibc's and libgcc_s (it lists those it would
# have to graft in).
if ! tr '\n' ' ' <"$work/show.txt" | grep -q "consistent with the following platform tag: \"$tag\""; then
    echo "wheel.sh: auditwheel does not find $(basename "$wheel") consistent with its tag $tag" >&2
    exit 1
fi
if tr '\n' ' ' <"$work/show.txt" | grep -q 'following external shared libraries'; then
    echo "wheel.sh: auditwheel says the binary needs external shared libraries (see above)" >&2
    exit 1
fi

mkdir -p dist
rm -f dist/secimport-*.whl
cp "$wheel" dist/
step "dist/$(basename "$wheel") ($(stat -c %s "dist/$(basename "$wheel")") bytes)"
