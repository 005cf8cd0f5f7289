#!/usr/bin/env bash
# Makes a Debian chroot with another distribution's CPython, for testing
# secimport on interpreters this machine's image lacks (3.14 from sid) and
# for installing the wheel on other distributions (bullseye, trixie).
#
#   sudo scripts/chroot.sh sid       # CPython 3.14 (+ headers, venv, debug build): ~1 min, 560 MB
#   sudo scripts/chroot.sh bullseye  # CPython 3.9 (static): ~40 s, 230 MB
#   sudo scripts/chroot.sh trixie    # CPython 3.13 (static)
#   sudo scripts/chroot.sh bullseye-build  # bullseye + clang-16, gcc, static libs: builds the portable wheel
#   scripts/chroot.sh --path sid     # where it is (made or not)
#
# (Times measured on the development VM with deb.debian.org reachable.)
# The chroot goes to $SECIMPORT_CHROOTS/SUITE (default
# /var/lib/secimport-chroots/SUITE). A finished chroot has a `.secimport-ready`
# stamp; running again with one present (and the same packages) does
# nothing. Needs root and the Debian archive (deb.debian.org); installs
# debootstrap with apt if missing. The BPF side runs in the host kernel, so
# an interpreter in the chroot is a real target: scripts/in-chroot.sh runs
# secimport itself inside it.
set -euo pipefail

root_dir="${SECIMPORT_CHROOTS:-/var/lib/secimport-chroots}"

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

[[ $# -ge 1 ]] || usage
if [[ $1 == --path ]]; then
    [[ $# -eq 2 ]] || usage
    echo "$root_dir/$2"
    exit 0
fi
suite=$1
dist=$suite
case "$suite" in
    # The interpreter under test, its headers (tests/offsets.rs compiles
    # offsetof against them), and what a dynamically linked secimport needs.
    # python3.14-dbg: a build whose layout differs (Py_DEBUG), which must be
    # refused by the _Py_DebugOffsets check.
    sid) packages="python3.14 python3.14-dev python3.14-venv python3.14-dbg libelf1t64 zlib1g ca-certificates" ;;
    trixie) packages="python3 python3-venv python3-pip libelf1t64 zlib1g" ;;
    bullseye) packages="python3 python3-venv python3-pip libelf1 zlib1g" ;;
    # The oldest glibc the wheel supports (2.31), with what scripts/wheel.sh
    # builds it with: gcc as the linker, clang-16 for the BPF object, and the
    # static libelf.a, libz.a and libseccomp.a linked into the binary.
    bullseye-build)
        dist=bullseye
        packages="gcc libc6-dev make pkg-config clang-16 libelf-dev zlib1g-dev libseccomp-dev python3 python3-venv python3-pip ca-certificates" ;;
    *) echo "chroot.sh: unknown suite '$suite' (sid, trixie, bullseye or bullseye-build)" >&2; exit 2 ;;
esac
dir="$root_dir/$suite"

# The host's own certificate authorities (a TLS proxy's, say) are the
# chroot's too, so pip inside reaches what pip outside does.
sync_certs() {
    local changed=0 crt
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [[ -f $crt ]] || continue
        if ! cmp -s "$crt" "$dir/usr/local/share/ca-certificates/$(basename "$crt")"; then
            mkdir -p "$dir/usr/local/share/ca-certificates"
            cp "$crt" "$dir/usr/local/share/ca-certificates/"
            changed=1
        fi
    done
    if [[ $changed == 1 ]]; then
        chroot "$dir" update-ca-certificates >/dev/null 2>&1 ||
            echo "chroot.sh: update-ca-certificates failed in $dir" >&2
    fi
    return 0
}

# The stamp holds the package list: a chroot made with another list is made again.
if [[ -e $dir/.secimport-ready && $(cat "$dir/.secimport-ready") == "$packages" ]]; then
    sync_certs
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
# Never delete through a mount (a /proc or /sys bound into an old chroot).
if grep -q " $dir/" /proc/self/mounts; then
    echo "chroot.sh: something is mounted under $dir; unmount it first:" >&2
    grep " $dir/" /proc/self/mounts | cut -d' ' -f2 >&2
    exit 1
fi
rm -rf "$dir"
mkdir -p "$dir"
echo "chroot.sh: debootstrap $dist into $dir (packages: $packages)" >&2
include=$(echo "$packages" | tr ' ' ',')
if ! debootstrap --variant=minbase --include="$include" "$dist" "$dir" \
        http://deb.debian.org/debian >"$dir.log" 2>&1; then
    echo "chroot.sh: debootstrap failed; the last lines of $dir.log:" >&2
    tail -20 "$dir.log" >&2
    exit 1
fi
rm -rf "$dir/var/cache/apt/archives/"*.deb
sync_certs
echo "$packages" > "$dir/.secimport-ready"
echo "chroot.sh: $suite ready in $(( $(date +%s) - start )) s ($(du -sh "$dir" | cut -f1))" >&2
