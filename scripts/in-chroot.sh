#!/usr/bin/env bash
# Runs a command inside a chroot made by scripts/chroot.sh, in a private
# mount namespace where /proc, /sys, /dev, /tmp and this repository are bound
# at their own paths (nothing stays mounted afterwards). The working
# directory is kept. secimport itself runs inside: it finds the chroot's
# interpreter and its sys.path as it would on that distribution, and its
# BPF side is the host kernel's.
#
#   sudo scripts/in-chroot.sh sid target/release/secimport trace -- python3.14 app.py
#   sudo scripts/in-chroot.sh sid python3.14 -c 'print(1)'
#   sudo scripts/in-chroot.sh --bind /srv/data sid ...   # more directories, at their own paths
set -euo pipefail
binds=()
while [[ ${1:-} == --bind ]]; do
    [[ $# -ge 2 && -d $2 ]] || { echo "in-chroot.sh: --bind needs an existing directory" >&2; exit 2; }
    binds+=("$(cd "$2" && pwd)")
    shift 2
done
if [[ $# -lt 2 ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
suite=$1
shift
root=$("$here/chroot.sh" --path "$suite")
if [[ ! -e $root/.secimport-ready ]]; then
    echo "in-chroot.sh: no $suite chroot at $root: make it with sudo scripts/chroot.sh $suite" >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "in-chroot.sh: entering a chroot needs root" >&2
    exit 2
fi
# A relative command (target/release/secimport) is the caller's file.
if [[ $1 == */* && $1 != /* ]]; then
    set -- "$PWD/$1" "${@:2}"
fi
# The directories bound at their own paths, separated by newlines.
dirs=$(printf '%s\n' "$repo" "${binds[@]}")
exec unshare --mount --propagation private -- /bin/sh -c '
    set -e
    root=$1 dirs=$2 cwd=$3
    shift 3
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount --bind /tmp "$root/tmp"
    echo "$dirs" | while IFS= read -r d; do
        [ -n "$d" ] || continue
        mkdir -p "$root$d"
        mount --bind "$d" "$root$d"
    done
    exec chroot "$root" /bin/sh -c "cd \"\$0\" 2>/dev/null || cd /; exec \"\$@\"" "$cwd" "$@"
' in-chroot "$root" "$dirs" "$PWD" "$@"
