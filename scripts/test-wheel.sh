#!/usr/bin/env bash
# Shows the portable wheel working on other distributions: installs it with
# pip into a virtualenv of each chroot's own python3 (Debian bullseye: 3.9,
# glibc 2.31; trixie: 3.13), and runs the demo's pickle example there with
# the installed `secimport`: trace a benign load, build the policy, run the
# benign load under it, then the exploit that runs `touch MARKER` in kill
# mode (eBPF backend, then seccomp backend): the marker must never appear.
# Also checks that `ldd` of the installed binary lists no libelf, libz,
# libseccomp or libbpf. Any failed check stops it with exit status 1.
#
#   sudo scripts/wheel.sh && sudo scripts/test-wheel.sh   # the wheel in dist/
#   sudo scripts/test-wheel.sh path/to/secimport-...whl
#
# Environment: SUITES (default "bullseye trixie"; each is made with
# scripts/chroot.sh if missing), KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
if [[ $# -gt 1 || ${1:-} == -* ]]; then
    usage >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "test-wheel.sh: the chroots and the eBPF sandbox need root: sudo $0" >&2
    exit 2
fi
if [[ $# -eq 1 ]]; then
    wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    [[ -f $wheel ]] || { echo "test-wheel.sh: no wheel at $1" >&2; exit 2; }
else
    shopt -s nullglob
    wheels=(dist/secimport-*-manylinux*.whl)
    shopt -u nullglob
    if [[ ${#wheels[@]} -ne 1 ]]; then
        echo "test-wheel.sh: expected one dist/secimport-*-manylinux*.whl, found ${#wheels[@]}: build it with sudo scripts/wheel.sh" >&2
        exit 2
    fi
    wheel=$repo/${wheels[0]}
fi
echo "==> $(basename "$wheel") ($(stat -c %s "$wheel") bytes)"

checks=0
ok() { checks=$((checks + 1)); echo "    ok: $*"; }
fail() { echo "    FAIL [$suite]: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/secimport-test-wheel.XXXXXX)
chmod 755 "$work"
if [[ ${KEEP:-0} == 1 ]]; then
    echo "test-wheel.sh: keeping $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi

for suite in ${SUITES:-bullseye trixie}; do
    echo "==> $suite"
    scripts/chroot.sh "$suite" >/dev/null
    d=$work/$suite
    venv=$d/venv
    mkdir -p "$d"
    cp -r examples/pickle "$d/"
    # Runs in the chroot, in the example's directory, with the venv first on PATH.
    inside() {
        (cd "$d/pickle" && "$repo/scripts/in-chroot.sh" "$suite" \
            env PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin" "$@")
    }

    inside /usr/bin/python3 -m venv "$venv" || fail "python3 -m venv"
    # No index: the wheel has no dependencies, and nothing else may come in.
    inside pip install --quiet --disable-pip-version-check --no-index "$wheel" ||
        fail "pip install $(basename "$wheel")"
    ok "pip install into a venv of $(inside python3 --version 2>&1), $(inside ldd --version | head -1)"
    bin=$venv/bin/secimport
    [[ -x $bin ]] || fail "pip put no secimport in $venv/bin"
    version=$(inside secimport --version) || fail "secimport --version"
    ok "$version"
    inside python3 -c 'import secimport' || fail "import secimport"
    ok "import secimport"

    libs=$(inside ldd "$bin") || fail "ldd $bin: $libs"
    if grep -q 'not found' <<<"$libs"; then fail "ldd: a library is missing: $libs"; fi
    if grep -Ei 'libelf|libz\.|libseccomp|libbpf' <<<"$libs"; then
        fail "the binary links one of libelf, libz, libseccomp, libbpf dynamically"
    fi
    ok "ldd: $(awk '{print $1}' <<<"$libs" | tr '\n' ' ')(no libelf, libz, libseccomp, libbpf)"

    marker=$d/PWNED
    inside python3 make_pickles.py --dir . --marker "$marker" >/dev/null || fail "make_pickles.py"
    # The control: outside the sandbox the exploit runs its shell.
    inside python3 app.py touch.pkl >/dev/null 2>&1 || true
    [[ -e $marker ]] || fail "the exploit did not create $marker even without secimport: the check below would prove nothing"
    rm -f "$marker"
    ok "without secimport, touch.pkl runs its shell (the marker appears)"

    inside secimport trace --entrypoint app.py -- benign.pkl >"$d/trace.out" 2>&1 ||
        fail "secimport trace: $(tail -5 "$d/trace.out")"
    [[ -s $d/pickle/trace.json ]] || fail "trace wrote no trace.json"
    ok "secimport trace --entrypoint app.py -- benign.pkl"
    inside secimport build >"$d/build.out" 2>&1 || fail "secimport build: $(tail -5 "$d/build.out")"
    [[ -s $d/pickle/policy.yaml ]] || fail "build wrote no policy.yaml"
    ok "secimport build ($(grep -c . "$d/pickle/policy.yaml") lines of policy.yaml)"

    out=$(inside secimport run --entrypoint app.py -- benign.pkl 2>&1) ||
        fail "the benign load under the policy failed: $out"
    grep -q 'loaded benign.pkl' <<<"$out" || fail "the benign load printed no 'loaded benign.pkl': $out"
    ok "secimport run: benign.pkl loads under the policy, exit 0"

    for backend in bpf seccomp; do
        status=0
        out=$(inside secimport run --backend "$backend" --entrypoint app.py --kill-on-violation -- touch.pkl 2>&1) ||
            status=$?
        [[ ! -e $marker ]] || fail "--backend $backend --kill-on-violation: the exploit's shell ran ($marker exists): $out"
        [[ $status -ne 0 ]] || fail "--backend $backend --kill-on-violation: exit 0 for the exploit: $out"
        grep -qi 'violation' <<<"$out" || fail "--backend $backend: no violation reported: $out"
        ok "secimport run --backend $backend --kill-on-violation: touch.pkl's shell prevented (exit $status, no marker)"
    done
done
echo "test-wheel: $checks passed, 0 failed"
