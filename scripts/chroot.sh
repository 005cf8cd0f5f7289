#!/usr/bin/env bash
# Makes a Debian chroot with another distribution's CPython, for testing
# secimport on interpreters this machine's image lacks (3.14 from sid) and
# for installing the wheel on other distributions (bullseye, trixie).
#
#   sudo scripts/chroot.sh sid             # CPython 3.14 (+ headers), ~3-6 min
#   sudo scripts/chroot.sh trixie|bullseye
#   scripts/chroot.sh --path sid           # where it is (made or not)
#
# The chroot goes to $SECIMPORT_CHROOTS/SUITE (default
# /var/lib/secimport-chroots/SUITE). A finished chroot has a `.secimport-ready`
# stamp; running again with one present does nothing. Needs root and the
# Debian archive (deb.debian.org); installs debootstrap with apt if missing.
# The BPF side runs in the host kernel, so an interpreter in the chroot is a
# real target: tests run secimport itself inside it (see `enter` below).
set -euo pipefail

root_dir="${SECIMPORT_CHROOTS:-/var/lib/secimport-chroots}"

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

[[ $# -ge 1 ]] || usage
if [[ $1 == --path ]]; then
    [[ $# -eq 2 ]] || usage
    echo "$root_dir/$2"
    exit 0
fi
suite=$1
case "$suite" in
    # The interpreter under test, its headers (tests/offsets.rs compiles
    # offsetof against them), and what a dynamically linked secimport needs.
    sid) packages="python3.14 python3.14-dev libelf1t64 zlib1g ca-certificates" ;;
    trixie) packages="python3 python3-venv python3-pip libelf1t64 zlib1g" ;;
    bullseye) packages="python3 python3-venv python3-pip libelf1 zlib1g" ;;
    *) echo "chroot.sh: unknown suite '$suite' (sid, trixie or bullseye)" >&2; exit 2 ;;
esac
dir="$root_dir/$suite"

if [[ -e $dir/.secimport-ready ]]; then
    echo "chroot.sh: $dir is ready"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "chroot.sh: making a chroot needs root (debootstrap); run with sudo" >&2
    exit 2
fi
if ! command -v debootstrap >/dev/null; then
    echo "chroot.sh: installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

start=$(date +%s)
rm -rf "$dir"
mkdir -p "$dir"
echo "chroot.sh: debootstrap $suite into $dir (packages: $packages)" >&2
include=$(echo "$packages" | tr ' ' ',')
if ! debootstrap --variant=minbase --include="$include" "$suite" "$dir" \
        http://deb.debian.org/debian >"$dir.log" 2>&1; then
    echo "chroot.sh: debootstrap failed; the last lines of $dir.log:" >&2
    tail -20 "$dir.log" >&2
    exit 1
fi
rm -rf "$dir/var/cache/apt/archives/"*.deb
touch "$dir/.secimport-ready"
echo "chroot.sh: $suite ready in $(( $(date +%s) - start )) s ($(du -sh "$dir" | cut -f1))" >&2
