#!/usr/bin/env python3
"""Benchmark secimport side by side with a plain run and the original secimport 0.11.

Each benchmark is run plainly, under this secimport (`secimport run` with a
policy learned from one trace of the same workload, and `secimport trace`) and
under the original secimport 0.11 from the package index (its own `trace`,
`build` and `run`, which drive Debian's `bpftrace` with CPython's USDT
probes). Runs are interleaved -- every repetition runs every mode, in an order
that flips each repetition -- so that slow drift on a shared machine cancels.
Times taken for every run:

* in-script -- the hot loop only, timed by the workload itself with
               time.perf_counter() (and time.process_time()) and written as JSON
               to a file named by its first argument (not stdout: the tools pass
               the script's stdout through); P6 prints its own timing;
* start-up  -- from the harness starting the command to the first line of the
               script (time.monotonic() on both sides): interpreter start-up plus
               the tool's own (loading the BPF programs, the policy);
* wall      -- the whole command: start-up, the program, the tool's shutdown.

    sudo python3 bench/bench.py --all      # everything, as published in docs/benchmarks.md
    sudo python3 bench/bench.py            # P1-P8 plain vs ours (run, trace), 7 reps
    sudo python3 bench/bench.py --only P1,P7 --reps 5 --python /usr/bin/python3.11
    sudo python3 bench/bench.py --quick    # smoke test: tiny sizes, no verdicts, < 60 s

`--all` builds secimport, sets up the original (a venv on /usr/bin/python3.11
with secimport==0.11.0 under bench/.cache/, Debian's bpftrace, tracefs mounted
if it is not) and runs every benchmark with modes plain, run, orig-run, trace,
orig-trace, 5 repetitions, plus one run per benchmark with kernel BPF run-time
accounting on; it writes bench/results/<date>-all.json and .md.

Prints a markdown report on stdout (progress on stderr) and writes JSON (--json).
Exit status: 0 every run of plain and of this secimport succeeded; 1 some did
not (non-zero exit, e.g. `secimport run` reporting violations; missing timing
output or trace; time-out); 2 usage or set-up error. What the original does
(fails, times out, reports violations) is reported, never an error of ours.
Missed targets do not change the exit status: timing on a shared machine is
noisy.

Needs root for every mode but `plain`. Standard library only, Python >= 3.8.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORKLOADS = BENCH_DIR / "workloads"
RESULTS = BENCH_DIR / "results"
DEFAULT_PYTHON = "python3"  # on PATH; probe_python resolves shims to the real interpreter
DEFAULT_SECIMPORT = REPO / "target" / "release" / "secimport"
DEFAULT_JSON = BENCH_DIR / "results.json"
SCHEMA = "secimport-bench/2"

# The original, secimport 0.11 from the package index. Its USDT probes exist only
# in Debian's interpreter here, and its trace keeps only processes whose name
# (comm) is `python`: it is run through a symlink named `python`.
ORIG_VERSION = "0.11.0"
CACHE = BENCH_DIR / ".cache"
ORIG_VENV = CACHE / f"secimport-{ORIG_VERSION}"
DEBIAN_PYTHON = "/usr/bin/python3.11"
PYTHON_LINK = CACHE / "bin" / "python"  # -> /usr/bin/python3.11, outside any venv
TORCH_PYTHON = REPO / ".venv-torch" / "bin" / "python"


# --------------------------------------------------------------------------- benchmarks


@dataclass(frozen=True)
class Target:
    metric: str  # "in_script", "startup" or "wall"
    kind: str  # "ratio": mode median / plain median; "added_ms": mode median - plain median
    limit: float

    def describe(self) -> str:
        return f"≤ {self.limit:.2f}×" if self.kind == "ratio" else f"≤ +{self.limit:,g} ms"


def _p6_timing(stdout: str) -> Optional[float]:
    m = re.search(r"^--- ([0-9.eE+-]+) seconds ---$", stdout, re.M)
    return float(m.group(1)) if m else None


@dataclass(frozen=True)
class Bench:
    key: str
    title: str
    script: str  # a file in bench/workloads/, or (P6) a path relative to the repo
    args: Tuple[str, ...]  # sizes for a full run (after the result-file argument)
    quick_args: Optional[Tuple[str, ...]]  # sizes for --quick; None: not in --quick
    target: Optional[Target]  # None: measured, not judged
    timed: bool = True  # the workload writes its timing JSON to argv[1]
    modes: Optional[Tuple[str, ...]] = None  # the modes that apply (None: all)
    not_applicable: str = ""  # why the other modes do not apply
    generate: Optional[Callable[[Path, Tuple[str, ...]], Path]] = None  # makes the script
    python: Optional[str] = None  # its own interpreter (P6: the torch venv)
    stdout_timing: Optional[Callable[[str], Optional[float]]] = None  # in-script from stdout
    # The workload's loop syscall must be one secimport walks the stack for (not in its fixed
    # harmless set): after the preparing trace, its `stacks_walked` counter must be at least
    # the loop count, sizes[walked] (else the benchmark would not measure what it says).
    walked: Optional[int] = None

    def describe_sizes(self, args) -> str:
        if self.key == "P1":
            return f"{int(args[0]):,} calls + fib({args[1]})"
        if self.key in ("P2", "P3"):
            return f"{int(args[0]):,} os.stat"
        if self.key in ("P7", "P8"):
            return f"{int(args[0]):,} os.getppid"
        if self.key == "P9":
            return f"{int(args[0]):,} os.open for writing"
        if self.key.startswith("P5"):
            return f"{int(args[0]):,} modules; {int(args[1]):,} os.getppid"
        if self.key == "P6":
            return "2,000 SGD steps"
        return ""

    def applies(self, mode: "Mode") -> bool:
        return self.modes is None or mode.name in self.modes

    def script_path(self) -> Path:
        return REPO / self.script if "/" in self.script else WORKLOADS / self.script


P5_MODULE = '''"""Generated by bench/bench.py for P5: one of many small modules."""
import os


def f():
    return os.getppid()


def getppid_loop(n):
    g = os.getppid
    for _ in range(n):
        g()


def stat_loop(n, path):
    s = os.stat
    for _ in range(n):
        s(path)
'''


def p5_generate(dir_: Path, args: Tuple[str, ...]) -> Path:
    """A package p5mods/ of N module files and the driver beside it."""
    pkg = dir_ / "p5mods"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for i in range(int(args[0])):
        (pkg / f"m{i:05d}.py").write_text(P5_MODULE)
    shutil.copy(WORKLOADS / "p5_driver.py", dir_ / "p5_driver.py")
    return dir_ / "p5_driver.py"


_P5 = dict(modes=("plain", "run", "orig-run"), generate=p5_generate,
           not_applicable="P5 is about policies: `trace` is not measured",
           target=Target("startup", "added_ms", 1000.0))
BENCHES = (
    Bench("P1", "pure-Python calls", "p1_calls.py", ("5000000", "30"), ("50000", "15"),
          Target("in_script", "ratio", 1.02)),
    Bench("P2", "os.stat, shallow stack", "p2_stat_shallow.py", ("200000",), ("2000",),
          Target("in_script", "ratio", 1.20), walked=0),
    Bench("P3", "os.stat, 30 frames deep", "p3_stat_deep.py", ("200000", "30"), ("2000", "30"),
          Target("in_script", "ratio", 1.50), walked=0),
    Bench("P4", "start-up, empty script", "p4_empty.py", (), (),
          Target("wall", "added_ms", 100.0), timed=False),
    Bench("P5/10", "policy of 10 modules", "p5_driver.py", ("10", "100000"), ("10", "2000"), **_P5),
    Bench("P5/1000", "policy of 1,000 modules", "p5_driver.py", ("1000", "100000"), None, **_P5),
    Bench("P5/10000", "policy of 10,000 modules", "p5_driver.py", ("10000", "100000"), None,
          **_P5),
    Bench("P6", "PyTorch Polynomial3 example", "examples/torch/pytorch_example.py", (), None,
          Target("wall", "ratio", 1.03), timed=False, modes=("plain", "run", "trace"),
          not_applicable="the original needs Debian's /usr/bin/python3.11 (the only local "
                         "interpreter with USDT probes); torch is installed only in .venv-torch "
                         "(pyenv 3.11.7, built without them)",
          python=str(TORCH_PYTHON), stdout_timing=_p6_timing),
    # P7/P8: a loop of a syscall only the script's own modules make (getppid: walked and
    # judged at every call, also under `run`) at 1,000 and 4 frames, in two modules
    # (+ p7_relay.py); no target was set for them: measured, not judged.
    Bench("P7", "os.getppid, 1,000 frames deep", "p7_stat_deep1000.py",
          ("20000", "1000", "getppid"), ("200", "1000", "getppid"), None, walked=0),
    Bench("P8", "os.getppid, 4 frames (walked and judged)", "p7_stat_deep1000.py",
          ("200000", "4", "getppid"), ("2000", "4", "getppid"), None, walked=0),
    # P9: a value-carrying syscall (openat:write): walked, its path resolved and matched
    # against the module's `write` patterns at every call.
    Bench("P9", "os.open for writing, 4 frames (path checked)", "p7_stat_deep1000.py",
          ("100000", "4", "openw"), ("2000", "4", "openw"), None, walked=0),
    # P10: a loopback request/response loop (send and recv on a connected TCP socket, two
    # threads): what a network service pays per request. Measured, not judged.
    Bench("P10", "loopback request/response", "p10_loopback.py", ("20000",), ("500",), None),
)


# --------------------------------------------------------------------------- modes
#
# A mode turns (workload, its argv) into a command. Adding a mode is one entry in
# MODES: a command builder, optionally a check of its outputs (which may also
# return facts worth keeping, e.g. the trace's counters) and a one-off `prepare`
# per benchmark (e.g. learn a policy) whose result is passed to every command.


@dataclass
class OrigEnv:
    cli: str  # the venv's `secimport` script
    python: str  # the interpreter, through a path whose last component is `python`
    info: dict = field(default_factory=dict)


@dataclass
class Ctx:
    python: str  # resolved interpreter (no shims)
    secimport: str
    timeout: float
    tmp: Path
    orig: Optional[OrigEnv] = None
    orig_timeout: float = 300.0
    walk_limit: Optional[int] = None  # secimport's --walk-limit (None: its default)
    backend: Optional[str] = None  # secimport's --backend for trace and run (None: auto)
    run_mode: Optional[str] = None  # secimport run's --mode (None: the policy's, log)


# command(ctx, bench, script, args, scratch, prepared) -> argv; scratch is a fresh dir per run
CommandFn = Callable[[Ctx, Bench, Path, List[str], Path, dict], List[str]]
# check(scratch, stdout, stderr) -> (error or None, facts)
CheckFn = Callable[[Path, str, str], Tuple[Optional[str], dict]]
# prepare(ctx, bench, script, args, dir) -> dict handed to every command of that benchmark
PrepareFn = Callable[[Ctx, Bench, Path, List[str], Path], dict]


@dataclass(frozen=True)
class Mode:
    name: str
    label: str  # column header
    about: str
    command: CommandFn
    check: Optional[CheckFn] = None
    prepare: Optional[PrepareFn] = None
    family: str = "ours"  # "plain", "ours" (judged against the targets) or "orig"

    @property
    def uses_secimport(self) -> bool:
        return self.family == "ours"


def _tail(args: List[str]) -> List[str]:
    return ["--", *args] if args else []


def _walk(ctx: Ctx) -> List[str]:
    """Options every `secimport trace` and `run` gets: --walk-limit, --backend."""
    return ((["--walk-limit", str(ctx.walk_limit)] if ctx.walk_limit is not None else [])
            + (["--backend", ctx.backend] if ctx.backend else []))


def _sub(argv, cwd, timeout) -> Tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, start_new_session=True)
    return p, time.perf_counter() - t0


def _plain_cmd(ctx, bench, script, args, scratch, prepared):
    return [ctx.python, str(script), *args]


def _trace_cmd(ctx, bench, script, args, scratch, prepared):
    return [ctx.secimport, "trace", "--python", ctx.python, *_walk(ctx),
            "--entrypoint", str(script), "-o", str(scratch / "trace.json"), *_tail(args)]


def _check_trace(scratch: Path, out: str, err: str):
    path = scratch / "trace.json"
    try:
        trace = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return f"no usable trace at {path}: {e}", {}
    return None, {"counters": trace.get("counters", {})}


def _run_prepare(ctx, bench, script, args, dir_):
    """Learn a policy from one traced run of the same workload, for `secimport run`."""
    policy = dir_ / "policy.yaml"
    build = [ctx.secimport, "build", "--trace", str(dir_ / "trace.json"), "-o", str(policy)]
    if bench.generate:  # P5: one policy entry per module, not one `p5mods.*` glob
        build.append("--no-group")
    facts = {}
    for what, argv in (("trace", _trace_cmd(ctx, bench, script, args, dir_, {})), ("build", build)):
        p, secs = _sub(argv, dir_, ctx.timeout)
        facts[f"{what}_s"] = secs
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    try:
        facts["policy_modules"] = len(json.loads(policy.with_suffix(".json").read_text())
                                      ["spec"]["modules"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if bench.walked is not None:
        loop = int(args[1 + bench.walked] if bench.timed else args[bench.walked])
        try:
            walked = json.loads((dir_ / "trace.json").read_text())["counters"]["stacks_walked"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RuntimeError(f"no stacks_walked counter in the trace: {e!r}")
        facts["stacks_walked"] = walked
        if walked < loop:
            raise RuntimeError(f"the trace walked {walked:,} stacks for a loop of {loop:,} "
                               "syscalls: secimport does not walk the stack for the loop's "
                               f"syscall, so {bench.key} would not measure what it says")
    return {"policy": policy, "facts": facts}


def _run_cmd(ctx, bench, script, args, scratch, prepared):
    return [ctx.secimport, "run", "--policy", str(prepared["policy"]), "--python", ctx.python,
            *_walk(ctx), *(["--mode", ctx.run_mode] if ctx.run_mode else []),
            "--entrypoint", str(script),
            "--log-file", str(scratch / "violations.jsonl"), *_tail(args)]


def _check_run(scratch: Path, out: str, err: str):
    log = scratch / "violations.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    # One JSON object per line; only "event": "violation" lines are violations (the log may end
    # with a summary line, and stop mode writes "resumed" lines).
    n = sum(1 for line in lines if json.loads(line).get("event", "violation") == "violation")
    return None, {"violations": n}


# The original's CLI runs bpftrace through os.system(), as
#   bpftrace ... -c 'bash -c "PYTHON ENTRYPOINT"'
# so the entry point (script and arguments) must be plain words.
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_./+,=:@%-]+$")


def _orig_entry(script: Path, args: List[str]) -> str:
    words = [str(script), *args]
    bad = [w for w in words if not _PLAIN_WORD.match(w)]
    if bad:
        raise RuntimeError(f"secimport 0.11 cannot pass these through its shell command: {bad}")
    return " ".join(words)


def _orig_errors(err: str) -> List[str]:
    # bpftrace warns that it cannot raise RLIMIT_MEMLOCK (this sandbox withholds
    # CAP_SYS_RESOURCE); BPF memory has been charged to cgroups since Linux 5.11,
    # so that is harmless. Every other ERROR is not.
    return [l for l in err.splitlines() if "ERROR" in l and "RLIMIT_MEMLOCK" not in l]


def _orig_trace_cmd(ctx, bench, script, args, scratch, prepared):
    return [ctx.orig.cli, "trace", "--entrypoint", _orig_entry(script, args),
            "--python-interpreter", ctx.python, "--trace-log-file", str(scratch / "trace.log")]


def _check_orig_trace(scratch: Path, out: str, err: str):
    if _orig_errors(err):
        return "bpftrace: " + " / ".join(_orig_errors(err)[:3]), {}
    try:
        text = (scratch / "trace.log").read_text(errors="replace")
    except OSError as e:
        return f"no trace.log: {e}", {}
    n = text.count("@modules_syscalls[")
    if not n:
        return "trace.log has no @modules_syscalls entries", {}
    return None, {"trace_entries": n}


def _orig_run_prepare(ctx, bench, script, args, dir_):
    """The original's own `trace` then `build` (writes dir_/sandbox.bt)."""
    facts = {}
    trace_args = list(args)
    if bench.generate:
        # P5: its trace attributes syscalls to a module only when CPython's rarely
        # firing function__entry probe names it, so no trace yields a policy naming
        # N modules. Trace the same program importing 10 modules, then add one
        # entry per module file to the trace log, in its own format, and let its
        # own `build` compile the policy (N + a few dozen modules).
        trace_args = [args[0], "10", "1000"]
    p, secs = _sub(_orig_trace_cmd(ctx, bench, script, trace_args, dir_, {}), dir_,
                   ctx.orig_timeout)
    facts["trace_s"] = secs
    error, tf = _check_orig_trace(dir_, p.stdout, p.stderr)
    if error:
        raise RuntimeError(f"secimport 0.11 trace: {error}\n{p.stderr[-1500:]}")
    if bench.generate:
        mods = [script, *sorted((script.parent / "p5mods").glob("m*.py"))]
        if max(len(str(m).encode()) for m in mods) > 63:
            raise RuntimeError(f"module paths such as {mods[-1]} are longer than 63 bytes: "
                               "the original's bpftrace strings hold 64 (use a shorter TMPDIR)")
        with open(dir_ / "trace.log", "a") as fh:
            for mod in mods:
                fh.write(f"@modules_syscalls[{mod}, getppid]: 1\n")
    p, secs = _sub([ctx.orig.cli, "build"], dir_, ctx.orig_timeout)
    facts["build_s"] = secs
    sandbox = dir_ / "sandbox.bt"
    if p.returncode != 0 or not sandbox.exists():
        raise RuntimeError(f"secimport 0.11 build: exit {p.returncode}, no sandbox.bt\n"
                           f"{p.stderr[-1500:]}")
    try:
        facts["policy_modules"] = len(json.loads((dir_ / "policy.json").read_text()))
    except (OSError, ValueError):
        pass
    text = sandbox.read_text(errors="replace")
    facts["sandbox_bytes"] = len(text)
    facts["sandbox_filter_entries"] = text.count("@syscalls_filters[") - text.count("clear(@syscalls_filters")
    return {"sandbox": sandbox, "facts": facts}


def _orig_run_cmd(ctx, bench, script, args, scratch, prepared):
    return [ctx.orig.cli, "run", "--entrypoint", _orig_entry(script, args),
            "--sandbox-executable", str(prepared["sandbox"]), "--python-interpreter", ctx.python]


def _check_orig_run(scratch: Path, out: str, err: str):
    if _orig_errors(err):
        return "bpftrace: " + " / ".join(_orig_errors(err)[:3]), {}
    if "Attaching" not in out:
        return "bpftrace never attached its probes", {}
    return None, {"violations": out.count("SECURITY PROFILE VIOLATED")}


MODES: Dict[str, Mode] = {m.name: m for m in (
    Mode("plain", "plain", "the interpreter alone (the baseline)", _plain_cmd, family="plain"),
    Mode("run", "secimport run", "secimport run --policy P, P learned by one `secimport trace` + "
         "`secimport build` of the same workload", _run_cmd, _check_run, _run_prepare),
    Mode("orig-run", "0.11 run", f"secimport {ORIG_VERSION}'s own `run` with the sandbox.bt its "
         "own `trace` + `build` made from the same workload", _orig_run_cmd, _check_orig_run,
         _orig_run_prepare, family="orig"),
    Mode("trace", "secimport trace", "secimport trace -o TMP/trace.json", _trace_cmd,
         _check_trace),
    Mode("orig-trace", "0.11 trace", f"secimport {ORIG_VERSION}'s own `trace`", _orig_trace_cmd,
         _check_orig_trace, family="orig"),
)}
DEFAULT_MODES = ("plain", "run", "trace")
ALL_MODES = ("plain", "run", "orig-run", "trace", "orig-trace")
TABLE_GROUPS = (("run", "orig-run"), ("trace", "orig-trace"))


# --------------------------------------------------------------------------- running


@dataclass
class Record:
    bench: str
    mode: str
    rep: int  # -1 for warm-up runs, -2 for the BPF statistics pass
    wall_s: Optional[float] = None
    startup_s: Optional[float] = None
    rc: Optional[int] = None
    in_script: Optional[dict] = None
    child_cpu_s: Optional[Dict[str, float]] = None
    facts: dict = field(default_factory=dict)
    error: Optional[str] = None
    timed_out: bool = False
    argv: Optional[List[str]] = None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the session we started for this command
    except ProcessLookupError:
        pass


def run_one(ctx: Ctx, bench: Bench, mode: Mode, rep: int, sizes: Tuple[str, ...],
            prepared: dict, keep: bool, on_start: Optional[Callable[[int], None]] = None) -> Record:
    rec = Record(bench.key, mode.name, rep)
    scratch = Path(tempfile.mkdtemp(prefix=f"{bench.key.replace('/', '-')}-{mode.name}-",
                                    dir=ctx.tmp))
    result_file = scratch / "result.json"
    args = [str(result_file), *sizes] if bench.timed else list(sizes)
    timeout = ctx.orig_timeout if mode.family == "orig" else ctx.timeout
    try:
        rec.argv = mode.command(ctx, bench, prepared["script"], args, scratch, prepared)
    except RuntimeError as e:
        rec.error = str(e)
        return rec
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawned = time.monotonic()  # the workloads' STARTED uses the same clock
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(rec.argv, cwd=scratch, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as e:
        rec.error = f"cannot start {rec.argv[0]}: {e}"
        return rec
    if on_start:
        on_start(proc.pid)
    try:
        out_b, err_b = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out_b, err_b = proc.communicate()
        rec.error, rec.timed_out = f"did not finish within {timeout:g} s (killed)", True
    rec.wall_s = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = (out_b or b"").decode(errors="replace")
    err = (err_b or b"").decode(errors="replace")
    rec.rc = proc.returncode
    rec.child_cpu_s = {"user": ru1.ru_utime - ru0.ru_utime, "sys": ru1.ru_stime - ru0.ru_stime}
    if rec.error is None and proc.returncode != 0:
        rec.error = f"exit status {proc.returncode}"
    if rec.error is None and bench.timed:
        try:
            rec.in_script = json.loads(result_file.read_text())
            float(rec.in_script["elapsed_s"]), float(rec.in_script["cpu_s"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            rec.error = f"no usable timing in {result_file}: {e!r}"
    if rec.error is None and bench.stdout_timing:
        secs = bench.stdout_timing(out)
        if secs is None:
            rec.error = "the program did not print its timing"
        else:
            rec.in_script = {"elapsed_s": secs, "cpu_s": None}
    if rec.in_script and rec.in_script.get("started_monotonic") is not None:
        rec.startup_s = rec.in_script["started_monotonic"] - spawned
    if rec.error is None and mode.check:
        rec.error, rec.facts = mode.check(scratch, out, err)
    if rec.error:
        rec.error += f"\n    command: {' '.join(rec.argv)}"
        if err.strip():
            rec.error += "\n    stderr (tail):\n      " + "\n      ".join(
                err.strip().splitlines()[-15:])
        if out.strip():
            rec.error += "\n    stdout (tail):\n      " + "\n      ".join(
                out.strip().splitlines()[-5:])
    if not keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return rec


# --------------------------------------------------------------------------- BPF run-time stats

_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_BPF_ENABLE_STATS, _BPF_STATS_RUN_TIME = 32, 0


class BpfStats:
    """Kernel BPF run-time accounting, on only while this object is entered.

    Prefers BPF_ENABLE_STATS (the kernel turns accounting off again when the fd
    closes, even if we crash); falls back to the kernel.bpf_stats_enabled sysctl,
    restored on exit.
    """

    SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")

    def __init__(self):
        self.fd = -1
        self.saved: Optional[str] = None
        self.how = ""

    def __enter__(self):
        nr = _SYS_BPF.get(platform.machine())
        if nr is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            attr = ctypes.create_string_buffer(16)  # union bpf_attr: enable_stats.type = 0
            attr[0:4] = _BPF_STATS_RUN_TIME.to_bytes(4, sys.byteorder)
            fd = libc.syscall(ctypes.c_long(nr), ctypes.c_long(_BPF_ENABLE_STATS), attr,
                              ctypes.c_uint(len(attr)))
            if fd >= 0:
                self.fd, self.how = fd, "BPF_ENABLE_STATS fd"
                return self
        self.saved = self.SYSCTL.read_text().strip()
        self.SYSCTL.write_text("1\n")
        self.how = "sysctl kernel.bpf_stats_enabled=1 (restored afterwards)"
        return self

    def __exit__(self, *exc):
        if self.fd >= 0:
            os.close(self.fd)
        if self.saved is not None:
            self.SYSCTL.write_text(self.saved + "\n")
        return False


def _prog_names(ids) -> Dict[int, str]:
    names: Dict[int, str] = {}
    bpftool = shutil.which("bpftool")
    for pid in ids:
        if bpftool:
            p = subprocess.run([bpftool, "prog", "show", "id", str(pid), "--json"],
                               capture_output=True, text=True)
            try:
                info = json.loads(p.stdout)
                names[pid] = f"{info.get('name', '?')} ({info.get('type', '?')})"
                continue
            except ValueError:
                pass
        names[pid] = f"prog {pid}"
    return names


class FdinfoPoller(threading.Thread):
    """Samples /proc/PID/fdinfo of the BPF program fds held by the secimport process."""

    def __init__(self, pid: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.progs: Dict[int, dict] = {}
        self.names: Dict[int, str] = {}
        self.stop = threading.Event()

    def sample(self) -> None:
        base = f"/proc/{self.pid}"
        try:
            fds = os.listdir(f"{base}/fd")
        except OSError:
            return
        new = []
        for fd in fds:
            try:
                if "bpf-prog" not in os.readlink(f"{base}/fd/{fd}"):
                    continue
                kv = dict(line.split(":", 1) for line in open(f"{base}/fdinfo/{fd}")
                          if ":" in line)
                pid_ = int(kv["prog_id"])
                cnt, ns = int(kv.get("run_cnt", 0)), int(kv.get("run_time_ns", 0))
            except (OSError, ValueError, KeyError):
                continue
            if pid_ not in self.progs:
                new.append(pid_)
            if cnt >= self.progs.get(pid_, {}).get("run_cnt", -1):
                self.progs[pid_] = {"run_cnt": cnt, "run_time_ns": ns}
        if new:
            self.names.update(_prog_names(new))

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)


def bpf_stats_pass(jobs, sizes_of, keep) -> dict:
    """jobs: (ctx, bench, mode, prepared) for every benchmark and mode of ours."""
    out = {"how": None, "runs": []}
    with BpfStats() as st:
        out["how"] = st.how
        for ctx, bench, mode, prepared in jobs:
            pollers: List[FdinfoPoller] = []

            def start(pid, pollers=pollers):
                p = FdinfoPoller(pid)
                p.start()
                pollers.append(p)

            rec = run_one(ctx, bench, mode, -2, sizes_of(bench), prepared, keep, on_start=start)
            for p in pollers:
                p.stop.set()
                p.join()
            progs = []
            traced = (rec.facts.get("counters") or {}).get("syscalls")
            if pollers:
                p = pollers[0]
                for pid_, v in sorted(p.progs.items()):
                    progs.append({"id": pid_, "name": p.names.get(pid_, f"prog {pid_}"),
                                  **v, "ns_per_run": (v["run_time_ns"] / v["run_cnt"])
                                  if v["run_cnt"] else None,
                                  # The syscall hook runs for every process on the machine;
                                  # charging all its time to the traced syscalls gives an
                                  # upper bound of the cost of one traced syscall.
                                  "ns_per_traced_syscall": v["run_time_ns"] / traced
                                  if traced and "sys_enter" in p.names.get(pid_, "") else None})
            out["runs"].append({"bench": bench.key, "mode": mode.name, "error": rec.error,
                                "in_script": rec.in_script, "facts": rec.facts,
                                "progs": progs})
            print(f"  bpf-stats {bench.key} {mode.name}: "
                  + ("FAILED" if rec.error else ", ".join(
                      f"{x['name'].split()[0]} {x['ns_per_run']:.0f} ns×{x['run_cnt']:,}"
                      for x in progs if x["run_cnt"])), file=sys.stderr)
    return out


# --------------------------------------------------------------------------- machine info


def _cmd_out(argv, **kw) -> Optional[str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


PY_PROBE = (
    "import json, platform, sys, sysconfig; print(json.dumps({"
    "'executable': sys.executable, 'version': platform.python_version(),"
    "'implementation': platform.python_implementation(),"
    "'shared_libpython': any('/libpython' in l for l in open('/proc/self/maps')),"
    "'compiler': platform.python_compiler()}))"
)


def probe_python(python: str) -> dict:
    out = _cmd_out([python, "-c", PY_PROBE])
    if out is None:
        raise SystemExit(f"bench.py: cannot run the interpreter {python!r}")
    info = json.loads(out.splitlines()[-1])
    info["requested"] = python
    return info


def machine_info() -> dict:
    cpu = None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    uname = platform.uname()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_gib": round(mem_kb / 2**20, 1) if mem_kb else None,
        "kernel": f"{uname.system} {uname.release}",
        "kernel_version": uname.version,
        "arch": uname.machine,
        "loadavg_start": list(os.getloadavg()),
        "harness_python": platform.python_version(),
    }


def _sha256(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_info() -> Optional[str]:
    head = _cmd_out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    if head is None:
        return None
    dirty = _cmd_out(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    return head + (" + uncommitted changes" if dirty else "")




# --------------------------------------------------------------------------- set-up


class SetupError(Exception):
    pass


def _log(msg: str) -> None:
    print(f"bench.py: {msg}", file=sys.stderr)


def build_ours() -> None:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    _log("cargo build --release -p secimport")
    try:
        p = subprocess.run([cargo, "build", "--release", "-p", "secimport"], cwd=REPO,
                           stdout=sys.stderr, stdin=subprocess.DEVNULL, timeout=3600)
    except (OSError, subprocess.SubprocessError) as e:
        raise SetupError(f"cargo build failed: {e}")
    if p.returncode != 0:
        raise SetupError(f"cargo build --release -p secimport: exit {p.returncode}")


def python_link() -> Optional[str]:
    """bench/.cache/bin/python -> /usr/bin/python3.11: Debian's interpreter, named `python`."""
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        return None
    PYTHON_LINK.parent.mkdir(parents=True, exist_ok=True)
    if not (PYTHON_LINK.is_symlink() and os.readlink(PYTHON_LINK) == DEBIAN_PYTHON):
        if PYTHON_LINK.is_symlink() or PYTHON_LINK.exists():
            PYTHON_LINK.unlink()
        PYTHON_LINK.symlink_to(DEBIAN_PYTHON)
    return str(PYTHON_LINK)


def _usdt_probes(binary: str) -> List[str]:
    out = _cmd_out(["readelf", "-n", binary]) or ""
    return re.findall(r"Provider: python\s+Name: (\S+)", out)


def setup_orig() -> OrigEnv:
    """Everything secimport 0.11 needs, installed or fixed where it is missing."""
    info: dict = {"version": ORIG_VERSION, "setup": []}
    link = python_link()
    if link is None:
        raise SetupError(f"{DEBIAN_PYTHON} not found: secimport 0.11 needs an interpreter "
                         "built with USDT probes (Debian's python3.11 here)")
    probes = _usdt_probes(DEBIAN_PYTHON)
    info["usdt_probes"] = probes
    if "function__entry" not in probes:
        raise SetupError(f"{DEBIAN_PYTHON} has no python:function__entry USDT probe "
                         f"(readelf -n lists: {', '.join(probes) or 'none'})")

    if not shutil.which("bpftrace"):
        for argv in (["apt-get", "install", "-y", "bpftrace"], ["apt-get", "update"],
                     ["apt-get", "install", "-y", "bpftrace"]):
            _log(" ".join(argv))
            subprocess.run(argv, stdout=sys.stderr, stdin=subprocess.DEVNULL, timeout=900)
            if shutil.which("bpftrace"):
                info["setup"].append("installed Debian's bpftrace with apt-get")
                break
    if not shutil.which("bpftrace"):
        raise SetupError("no bpftrace on PATH and `apt-get install -y bpftrace` did not provide one")
    info["bpftrace"] = _cmd_out(["bpftrace", "--version"])

    # bpftrace finds tracepoints (raw_syscalls:sys_enter) through tracefs; this
    # machine boots without it mounted ("ERROR: tracepoint not found").
    tp = "events/raw_syscalls/sys_enter"
    if not any(Path(d, tp).exists() for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")):
        _log("mount -t tracefs tracefs /sys/kernel/tracing (bpftrace needs it for tracepoints)")
        subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"],
                       stdout=sys.stderr, stderr=sys.stderr)
        if not Path("/sys/kernel/tracing", tp).exists():
            raise SetupError("tracefs is not mounted and `mount -t tracefs tracefs "
                             "/sys/kernel/tracing` failed: bpftrace cannot find "
                             "tracepoint:raw_syscalls:sys_enter")
        info["setup"].append("mounted tracefs on /sys/kernel/tracing")

    cli, vpy = ORIG_VENV / "bin" / "secimport", ORIG_VENV / "bin" / "python"
    have = _cmd_out([str(vpy), "-c", "import importlib.metadata as m; print(m.version('secimport'))"]) \
        if vpy.exists() else None
    if have != ORIG_VERSION or not cli.exists():
        _log(f"creating {ORIG_VENV.relative_to(REPO)}: {DEBIAN_PYTHON} -m venv, "
             f"pip install secimport=={ORIG_VERSION}")
        for argv in ([DEBIAN_PYTHON, "-m", "venv", "--clear", str(ORIG_VENV)],
                     [str(vpy), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                      f"secimport=={ORIG_VERSION}"]):
            try:
                p = subprocess.run(argv, stdout=sys.stderr, stdin=subprocess.DEVNULL, timeout=900)
            except (OSError, subprocess.SubprocessError) as e:
                raise SetupError(f"{' '.join(argv)}: {e}")
            if p.returncode != 0:
                raise SetupError(f"{' '.join(argv)}: exit {p.returncode}")
        info["setup"].append(f"created the venv and installed secimport=={ORIG_VERSION}")
        have = _cmd_out([str(vpy), "-c",
                         "import importlib.metadata as m; print(m.version('secimport'))"])
    if have != ORIG_VERSION:
        raise SetupError(f"secimport {ORIG_VERSION} is not importable from {ORIG_VENV}")
    info["venv"] = str(ORIG_VENV)
    info["interpreter"] = f"{link} -> {DEBIAN_PYTHON}"
    return OrigEnv(str(cli), link, info)


def torch_problem() -> Optional[str]:
    """None if P6 can run, else why not."""
    if not os.access(TORCH_PYTHON, os.X_OK):
        return (f"{TORCH_PYTHON.relative_to(REPO)} not found (scripts/demo-torch.sh installs "
                "torch there, a large download)")
    try:
        p = subprocess.run([str(TORCH_PYTHON), "-c", "import torch"], capture_output=True,
                           text=True, timeout=300, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot run {TORCH_PYTHON}: {e}"
    if p.returncode != 0:
        return f"torch does not import in .venv-torch: {p.stderr.strip().splitlines()[-1:]}"
    return None


# --------------------------------------------------------------------------- statistics


def _stats(values: List[float]) -> dict:
    return {"n": len(values), "median": statistics.median(values), "min": min(values),
            "max": max(values), "values": values}


METRICS = (  # key, label in the table, extractor from a Record
    ("in_script", "in-script", lambda r: r.in_script and r.in_script.get("elapsed_s")),
    ("in_script_cpu", "in-script CPU", lambda r: r.in_script and r.in_script.get("cpu_s")),
    ("startup", "start-up", lambda r: r.startup_s),
    ("wall", "whole command", lambda r: r.wall_s),
)
ADDED_MS_METRICS = ("startup", "wall")  # compared as added milliseconds


def summarize(bench: Bench, modes: List[Mode], recs: List[Record], judge: bool) -> dict:
    ok = [r for r in recs if r.bench == bench.key and r.rep >= 0 and r.error is None]
    summary: dict = {}
    for key, _label, get in METRICS:
        per_mode = {m.name: [get(r) for r in ok if r.mode == m.name] for m in modes}
        per_mode = {k: [x for x in v if x is not None] for k, v in per_mode.items()}
        if not per_mode.get("plain"):
            continue
        entry: dict = {"modes": {k: _stats(v) for k, v in per_mode.items() if v}, "vs_plain": {}}
        base = entry["modes"]["plain"]["median"]
        pairs: Dict[int, dict] = {}  # per-rep ratios, robust to drift between reps
        for r in ok:
            v = get(r)
            if v is not None:
                pairs.setdefault(r.rep, {})[r.mode] = v
        for m in modes:
            if m.family == "plain" or m.name not in entry["modes"]:
                continue
            med = entry["modes"][m.name]["median"]
            paired = [p[m.name] / p["plain"] for p in pairs.values()
                      if p.get("plain") and p.get(m.name) is not None]
            cmp_ = {"ratio": med / base if base else None, "added_ms": (med - base) * 1e3,
                    "paired_ratio_median": statistics.median(paired) if paired else None}
            if bench.target and key == bench.target.metric and m.family == "ours":
                value = cmp_[bench.target.kind]
                cmp_["target"] = {"kind": bench.target.kind, "limit": bench.target.limit,
                                  "value": value,
                                  "verdict": ("pass" if value <= bench.target.limit else "MISS")
                                  if judge else "not judged"}
            entry["vs_plain"][m.name] = cmp_
        summary[key] = entry
    # Parts of the in-script time (P1's calls and fib, P5's imports and loops), JSON only.
    parts: dict = {}
    for r in ok:
        for part, v in ((r.in_script or {}).get("parts") or {}).items():
            parts.setdefault(part, {}).setdefault(r.mode, []).append(v)
    if parts:
        summary["in_script_parts"] = {
            part: {m: _stats(v) for m, v in by_mode.items()} for part, by_mode in parts.items()}
    return summary


# Loops at several depths, each compared with its series' shallowest for the cost per extra
# frame: os.stat at 3 (P2) and 30 (P3) frames; os.getppid at 4 (P8) and 1,000 (P7). P3's
# result keeps its old JSON name.
DEPTH_SERIES = (("P2", "P3"), ("P8", "P7"))


def _per_frame_name(deep: str) -> str:
    return "per_extra_frame_us" if deep == "P3" else f"{deep}_per_extra_frame_us"


def derived_costs(results: dict, modes: List[Mode]) -> dict:
    """Added in-script µs per loop syscall (P2, P3: os.stat at 3 and 30 frames; P8, P7:
    os.getppid at 4 and 1,000) and per extra frame (P3 against P2, P7 against P8); P5 per
    os.getppid."""
    out: dict = {}
    for m in modes:
        if m.family == "plain":
            continue
        per: dict = {}
        for key in [k for series in DEPTH_SERIES for k in series]:
            b = results.get(key)
            if not b or "in_script" not in b.get("summary", {}):
                continue
            s = b["summary"]["in_script"]["modes"]
            stats, depth = b["workload"].get("stats"), b["workload"].get("depth")
            if m.name in s and stats:
                per[key] = {"added_us_per_syscall":
                            (s[m.name]["median"] - s["plain"]["median"]) / stats * 1e6,
                            "plain_us_per_syscall": s["plain"]["median"] / stats * 1e6,
                            "depth": depth}
        for shallow, deep in DEPTH_SERIES:
            lo, hi = per.get(shallow), per.get(deep)
            if lo and hi and lo["depth"] and hi["depth"] and hi["depth"] != lo["depth"]:
                per[_per_frame_name(deep)] = (
                    (hi["added_us_per_syscall"] - lo["added_us_per_syscall"])
                    / (hi["depth"] - lo["depth"]))
        p5 = {}
        for key, b in results.items():
            if not key.startswith("P5") or "in_script" not in b.get("summary", {}):
                continue
            s = b["summary"]["in_script"]["modes"]
            loop, n = b["workload"].get("loop"), b["workload"].get("modules")
            if m.name not in s or not loop:
                continue
            row = {"modules": n,
                   "plain_us_per_getppid": s["plain"]["median"] / loop * 1e6,
                   "added_us_per_getppid": (s[m.name]["median"] - s["plain"]["median"]) / loop * 1e6}
            parts = b["summary"].get("in_script_parts", {})
            for part in ("import_s", "stat_loop_s"):
                pm = parts.get(part, {})
                if m.name in pm and "plain" in pm:
                    row[f"added_ms_{part[:-2]}"] = (pm[m.name]["median"] - pm["plain"]["median"]) * 1e3
            if "stat_loop_s" in parts and m.name in parts["stat_loop_s"]:
                row["added_us_per_stat"] = row.pop("added_ms_stat_loop") * 1e3 / loop
            su = b["summary"].get("startup", {}).get("vs_plain", {}).get(m.name)
            if su:
                row["added_ms_startup"] = su["added_ms"]
            p5[key] = row
        if len(p5) >= 2:
            rows = sorted(p5.values(), key=lambda r: r["modules"] or 0)
            lo, hi = rows[0]["added_us_per_getppid"], rows[-1]["added_us_per_getppid"]
            # "Flat": the largest policy adds at most 0.25 µs or 25 % more per syscall.
            p5["flat"] = {"smallest_us": lo, "largest_us": hi,
                          "verdict": "flat" if hi - lo <= max(0.25, 0.25 * abs(lo)) else "NOT flat"}
        if p5:
            per["P5"] = p5
        if per:
            out[m.name] = per
    return out


# --------------------------------------------------------------------------- report


def _ms(x: float) -> str:
    return f"{x * 1e3:,.1f}"


def _cell(st: Optional[dict]) -> str:
    if not st:
        return "—"
    return f"{_ms(st['median'])} ({_ms(st['min'])}–{_ms(st['max'])})"


def _ratio(x: Optional[float]) -> str:
    if x is None:
        return "—"
    return f"{x:.3f}×" if x < 10 else f"{x:.1f}×"


def _table(report: dict, group: List[Mode]) -> List[str]:
    head = ["Bench", "Metric", "plain"]
    for m in group:
        head += [m.label, "× plain"]
    ours = [m for m in group if m.family == "ours"]
    if ours:
        head += ["Target", "Result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, b in report["benchmarks"].items():
        title = f"**{key}** {b['title']}" + (f"<br>{b['sizes']}" if b.get("sizes") else "")
        if b.get("skipped"):
            lines.append("| " + " | ".join([title, "", f"skipped: {b['skipped']}"]
                                           + [""] * (len(head) - 3)) + " |")
            continue
        applicable = b.get("modes", [])
        if not any(m.name in applicable for m in group):
            continue
        first = True
        for mkey, label, _get in METRICS:
            entry = b["summary"].get(mkey)
            if entry is None:
                continue
            row = [title if first else "", label, _cell(entry["modes"].get("plain"))]
            verdicts = []
            for m in group:
                if m.name not in applicable:
                    row += ["n/a" if first else "", ""]
                    continue
                st = entry["modes"].get(m.name)
                if st is None:
                    status = b.get("status", {}).get(m.name) or "no data"
                    status = status if len(status) <= 70 else status[:67] + "…"
                    row += [status if first else "—", "—"]
                    continue
                cmp_ = entry["vs_plain"].get(m.name, {})
                row.append(_cell(st))
                if mkey in ADDED_MS_METRICS:
                    row.append(f"+{cmp_.get('added_ms', 0):,.0f} ms ({_ratio(cmp_.get('ratio'))})")
                else:
                    row.append(_ratio(cmp_.get("ratio")))
                if "target" in cmp_:
                    v = cmp_["target"]["verdict"]
                    verdicts.append(f"{m.name}: {v}" if len(ours) > 1 else v)
            if ours:
                is_target = bool(b.get("target")) and mkey == b["target"]["metric"]
                text = ", ".join(verdicts)
                row += [b["target"]["text"] if is_target else "",
                        (f"**{text}**" if "MISS" in text else text) if is_target else ""]
            lines.append("| " + " | ".join(row) + " |")
            first = False
    return lines


def markdown(report: dict) -> str:
    mi, cfg, py = report["machine"], report["config"], report["python"]
    modes = [MODES[n] for n in cfg["modes"]]
    orig = report.get("orig") or {}
    lines = [
        f"### {py['implementation']} {py['version']} "
        f"({'shared libpython' if py['shared_libpython'] else 'static'}) — {mi['date']}",
        "",
        f"- Machine: {mi['cpu_model']}, {mi['cpus']} CPUs ({mi['cpus_usable']} usable), "
        f"{mi['mem_gib']} GiB, {mi['kernel']} ({mi['arch']}); load average at start "
        + " ".join(f"{x:.2f}" for x in mi["loadavg_start"])
        + (", at end " + " ".join(f"{x:.2f}" for x in mi["loadavg_end"])
           if mi.get("loadavg_end") else ""),
        f"- Interpreter under test: `{py['executable']}` ({py['compiler']}); harness Python "
        f"{mi['harness_python']}",
        f"- secimport: `{cfg['secimport']}` ({cfg.get('secimport_version') or '?'}, sha256 "
        f"{(cfg.get('secimport_sha256') or '?')[:12]}), "
        + (f"built from this repo at git {cfg['git']}" if cfg.get("git")
           else "(outside this repo: git revision unknown)")
        + (f"; `--walk-limit {cfg['walk_limit']}` on every `trace` and `run`"
           if cfg.get("walk_limit") is not None else ""),
    ]
    if orig.get("unavailable"):
        lines.append(f"- secimport {ORIG_VERSION} (the original): **not run: {orig['unavailable']}**")
    elif orig:
        lines.append(f"- secimport {orig.get('version')} (the original): venv `{orig.get('venv')}`, "
                     f"{orig.get('bpftrace')}, interpreter `{orig.get('interpreter')}`"
                     + (f"; set-up: {'; '.join(orig['setup'])}" if orig.get("setup") else ""))
    lines += [
        f"- {cfg['reps']} interleaved repetitions (order alternates every repetition), "
        f"{cfg['warmup']} warm-up run(s) each; time-outs: {cfg['timeout']:g} s per command, "
        f"{cfg['orig_timeout']:g} s for the original's"
        + ("; **quick smoke run: tiny sizes, targets not judged**" if cfg["quick"] else ""),
        "- Times in ms: median (min–max). *in-script*: the workload's hot loop "
        "(perf_counter; *CPU* = process_time); *start-up*: command start → first line of the "
        "script; *whole command*: wall time of the command, start-up and shutdown included. "
        "Targets are judged for this secimport only.",
        "",
    ]
    present = {m.name for m in modes}
    groups = [[MODES[n] for n in g if n in present] for g in TABLE_GROUPS]
    rest = [m for m in modes if m.family != "plain" and not any(m.name in g for g in TABLE_GROUPS)]
    for group in [g for g in groups if g] + ([rest] if rest else []):
        lines += _table(report, group) + [""]

    notes = []
    for key, b in report["benchmarks"].items():
        if b.get("skipped"):
            continue
        w = b["workload"]
        if w.get("depth"):
            call = {"getppid": "os.getppid", "openw": "os.open for writing"}.get(
                w.get("syscall", "stat"), "os.stat")
            notes.append(f"{key}: {w['depth']:,} Python frames on the stack at each {call}.")
        if b.get("python"):
            notes.append(f"{key} runs on its own interpreter `{b['python']['executable']}` "
                         f"(CPython {b['python']['version']}).")
        if b.get("not_applicable"):
            notes.append(f"{key}: n/a — {b['not_applicable']}.")
        for m in modes:
            c = b.get("counters", {}).get(m.name)
            if c:
                notes.append(f"{key} under {m.name}: {c.get('syscalls', 0):,} syscalls traced, "
                             f"{c.get('stacks_walked', 0):,} stacks walked, "
                             f"{c.get('stacks_truncated', 0):,} truncated, "
                             f"{c.get('events_lost', 0):,} events lost (last run).")
            v = b.get("violations", {}).get(m.name)
            if v is not None:
                notes.append(f"{key} under {m.name}: {v:,} violations reported (last run).")
            pf = b.get("prepare", {}).get(m.name)
            if pf:
                notes.append(f"{key} {m.name} preparation: " + ", ".join(
                    f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v:,}"
                    for k, v in pf.items()) + ".")
    for mname, per in report.get("derived", {}).items():
        for key in [k for series in DEPTH_SERIES for k in series]:
            if key in per:
                row = per[key]
                call = "os.getppid" if key in ("P7", "P8") else "os.stat"
                notes.append(f"{mname}: {row['added_us_per_syscall']:+.2f} µs per {call} "
                             f"in-script at {row['depth']:,} frames ({key})"
                             + (f"; plain {row['plain_us_per_syscall']:.2f} µs"
                                if "plain_us_per_syscall" in row else "") + ".")
        for shallow, deep in DEPTH_SERIES:
            name = _per_frame_name(deep)
            if name not in per:
                continue
            # Frames beyond secimport's walk limit (--walk-limit) are not walked; only `trace`
            # reports how many walks stopped there.
            trunc = [(m, c) for m, c in report["benchmarks"].get(deep, {})
                     .get("counters", {}).items() if c.get("stacks_truncated")]
            notes.append(f"{mname}: {per[name] * 1e3:+.0f} ns per extra frame "
                         f"(({deep} − {shallow}) / depth difference)"
                         + "".join(f"; under {m} {c['stacks_truncated']:,} of "
                                   f"{c.get('stacks_walked', 0):,} walks stopped at the walk "
                                   "limit, so not every frame was walked" for m, c in trunc[:1])
                         + ".")
        for key, row in per.get("P5", {}).items():
            if key == "flat":
                notes.append(f"{mname}: P5 per-syscall cost from the smallest to the largest "
                             f"policy {row['smallest_us']:+.2f} → {row['largest_us']:+.2f} µs per "
                             f"os.getppid: **{row['verdict']}** (flat: ≤ +0.25 µs or +25 %).")
                continue
            notes.append(f"{mname} {key}: {row['added_us_per_getppid']:+.2f} µs per os.getppid "
                         f"(plain {row['plain_us_per_getppid']:.2f} µs)"
                         + (f", {row['added_us_per_stat']:+.2f} µs per os.stat"
                            if "added_us_per_stat" in row else "")
                         + (f", imports {row['added_ms_import']:+,.0f} ms"
                            if "added_ms_import" in row else "")
                         + (f", start-up {row['added_ms_startup']:+,.0f} ms"
                            if "added_ms_startup" in row else "") + ".")
    if notes:
        lines += ["- " + n for n in notes] + [""]
    bs = report.get("bpf_stats")
    if bs:
        lines += [f"BPF program run time (one extra run per benchmark, accounting on via "
                  f"{bs['how']}; the syscall hook runs for every syscall of every process on the "
                  f"machine, so *ns / run* mixes traced syscalls with cheap early exits, and "
                  f"*ns / traced syscall* charges all of its time to the syscalls in the trace, "
                  f"an upper bound):", "",
                  "| Bench | Mode | Program | runs | total ms | ns / run | ns / traced syscall |",
                  "|---|---|---|---|---|---|---|"]
        for r in bs["runs"]:
            if r["error"]:
                lines.append(f"| {r['bench']} | {r['mode']} | run failed | | | | |")
                continue
            for p in r["progs"]:
                if not p["run_cnt"]:
                    continue
                per = p.get("ns_per_traced_syscall")
                lines.append(f"| {r['bench']} | {r['mode']} | {p['name']} | {p['run_cnt']:,} | "
                             f"{p['run_time_ns'] / 1e6:,.1f} | {p['ns_per_run']:,.0f} | "
                             + (f"{per:,.0f} |" if per else "|"))
        lines.append("")
    if report.get("orig_problems"):
        lines += [f"The original ({ORIG_VERSION}):", ""]
        for p in report["orig_problems"]:
            lines.append(f"- {p['bench']} {p['mode']} (rep {p['rep']}): "
                         + p["error"].splitlines()[0])
        lines.append("")
    if report["failures"]:
        lines += [f"**{len(report['failures'])} run(s) of plain or this secimport failed** — "
                  "see stderr / JSON.", ""]
    return "\n".join(lines)


def dump_json(report: dict) -> str:
    """Indented, except one line per run (there are hundreds)."""
    head = json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2, default=str)
    runs = ",\n    ".join(json.dumps(r, separators=(",", ":"), default=str)
                          for r in report["runs"])
    return head[:-2] + ',\n  "runs": [\n    ' + runs + "\n  ]\n}\n"


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Benchmarks: " + "; ".join(
            f"{b.key} {b.title} (" + (f"target {b.target.describe()})" if b.target else
                                      "no target)") for b in BENCHES)
        + ". Modes: " + "; ".join(f"{m.name}: {m.about}" for m in MODES.values()) + ".")
    ap.add_argument("--all", action="store_true",
                    help="the published run: build secimport, set up the original, every "
                         "benchmark with modes " + ",".join(ALL_MODES) + ", 5 reps, BPF "
                         "statistics, results in bench/results/<date>-all.{json,md}")
    ap.add_argument("--python", default=None, metavar="PATH",
                    help=f"interpreter to run the workloads with, in every mode (shims are "
                         f"resolved) [{DEFAULT_PYTHON} on PATH; with "
                         f"the original's modes: {PYTHON_LINK.relative_to(REPO)} -> {DEBIAN_PYTHON}]")
    ap.add_argument("--secimport", default=None,
                    help=f"secimport binary [{DEFAULT_SECIMPORT.relative_to(REPO)} in the repo]")
    ap.add_argument("--walk-limit", type=int, default=None, metavar="FRAMES",
                    help="passed to every `secimport trace` and `run` (frames walked per "
                         "syscall; deeper stacks count as truncated) [secimport's own default]; "
                         "P7's stack is 1,000 frames deep")
    ap.add_argument("--backend", default=None, choices=("auto", "bpf", "seccomp"),
                    help="passed to every `secimport trace` and `run` [secimport's own: auto]")
    ap.add_argument("--run-mode", default=None, choices=("log", "kill", "deny"),
                    help="`secimport run --mode` [the learned policy's: log]")
    ap.add_argument("--reps", type=int, default=None, help="repetitions [7; --all: 5; --quick: 2]")
    ap.add_argument("--warmup", type=int, default=None,
                    help="untimed runs of every benchmark and mode first [1; --quick: 0]")
    ap.add_argument("--only", default=None,
                    help="comma-separated benchmarks, e.g. P1,P3 (P5 selects P5/10, P5/1000, "
                         "P5/10000)")
    ap.add_argument("--modes", default=None,
                    help="comma-separated modes compared with plain [" + ",".join(DEFAULT_MODES)
                         + "; --all: " + ",".join(ALL_MODES) + "]")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: tiny sizes, P1-P4, P5/10, P7 and P8, 2 reps, targets not "
                         "judged, < 60 s; exits non-zero if any run fails")
    ap.add_argument("--json", default=None,
                    help="write results here (default bench/results.json; --all: "
                         "bench/results/<date>-all.json; --quick: none); '-' for none")
    ap.add_argument("--bpf-stats", action="store_true",
                    help="afterwards, one extra run per benchmark with kernel BPF run-time "
                         "accounting on, reporting ns per program run (on with --all)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per command [600; --quick: 60]")
    ap.add_argument("--orig-timeout", type=float, default=300.0,
                    help="seconds per command of the original (its trace, build, run); a "
                         "benchmark that times out once is not run again [%(default)g]")
    ap.add_argument("--keep-temp", action="store_true", help="keep traces and results")
    ap.add_argument("--from-json", metavar="FILE",
                    help="run nothing: print the markdown report of an earlier --json file")
    return ap.parse_args(argv)


def _select_benches(a) -> List[Bench]:
    benches = [b for b in BENCHES if not a.quick or b.quick_args is not None]
    if a.only:
        want = [k.strip().upper() for k in a.only.split(",") if k.strip()]
        known = {b.key for b in BENCHES} | {b.key.split("/")[0] for b in BENCHES}
        unknown = sorted(set(want) - known)
        if unknown:
            raise SystemExit(f"bench.py: unknown benchmark(s) {', '.join(unknown)}; "
                             f"known: {', '.join(b.key for b in BENCHES)}")
        benches = [b for b in benches if b.key in want or b.key.split("/")[0] in want]
    return benches


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.from_json:
        report = json.loads(Path(a.from_json).read_text())
        if report.get("schema") != SCHEMA:
            print(f"bench.py: {a.from_json} is not a {SCHEMA} file", file=sys.stderr)
            return 2
        print(markdown(report))
        return 0
    if a.all and a.quick:
        print("bench.py: --all and --quick exclude each other", file=sys.stderr)
        return 2
    reps = a.reps if a.reps is not None else (2 if a.quick else 5 if a.all else 7)
    warmup = a.warmup if a.warmup is not None else (0 if a.quick else 1)
    timeout = a.timeout if a.timeout is not None else (60.0 if a.quick else 600.0)
    if reps < 1 or warmup < 0 or (a.walk_limit is not None and a.walk_limit < 1):
        print("bench.py: --reps and --walk-limit must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    try:
        benches = _select_benches(a)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    names = ["plain"] + [n.strip() for n in (a.modes or ",".join(
        ALL_MODES if a.all else DEFAULT_MODES)).split(",") if n.strip() and n.strip() != "plain"]
    bad = [n for n in names if n not in MODES]
    if bad or len(names) < 2:
        print(f"bench.py: --modes needs at least one of {', '.join(k for k in MODES if k != 'plain')}"
              + (f"; unknown: {', '.join(bad)}" if bad else ""), file=sys.stderr)
        return 2
    modes = [MODES[n] for n in dict.fromkeys(names)]
    bpf_stats = a.bpf_stats or a.all

    if os.geteuid() != 0 and (any(m.family != "plain" for m in modes) or bpf_stats):
        print("bench.py: secimport (and the original, and --bpf-stats) need root (BPF); "
              "run as root", file=sys.stderr)
        return 2
    secimport = Path(a.secimport).resolve() if a.secimport else DEFAULT_SECIMPORT
    if any(m.uses_secimport for m in modes):
        if a.all and not a.secimport:
            try:
                build_ours()
            except SetupError as e:
                print(f"bench.py: {e}", file=sys.stderr)
                return 2
        if not os.access(secimport, os.X_OK):
            print(f"bench.py: no secimport binary at {secimport} "
                  "(cargo build --release -p secimport, or --secimport PATH)", file=sys.stderr)
            return 2

    # The original: set it up, or say why it cannot run and go on without it.
    orig_env, orig_info = None, None
    if any(m.family == "orig" for m in modes):
        try:
            orig_env = setup_orig()
            orig_info = orig_env.info
        except (SetupError, OSError, subprocess.SubprocessError) as e:
            orig_info = {"version": ORIG_VERSION, "unavailable": str(e)}
            _log(f"secimport {ORIG_VERSION} cannot run here: {e}")
            modes = [m for m in modes if m.family != "orig"]
            if len(modes) < 2:
                return 2
    python = a.python or (python_link() if orig_env else None) or DEFAULT_PYTHON
    if orig_env and Path(python).name != "python":
        print(f"bench.py: secimport {ORIG_VERSION}'s trace keeps only processes named `python`: "
              f"use --python {PYTHON_LINK} (or another path named python)", file=sys.stderr)
        return 2
    try:
        py = probe_python(python)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    skipped: Dict[str, str] = {}
    bench_py: Dict[str, dict] = {}
    for b in benches:
        if b.key == "P6":
            problem = torch_problem()
            if problem:
                skipped[b.key] = problem
                _log(f"P6 skipped: {problem}")
                continue
        if b.python:
            try:
                bench_py[b.key] = probe_python(b.python)
            except SystemExit as e:
                skipped[b.key] = str(e)
    machine = machine_info()
    date = machine["date"][:10]
    if a.json == "-":
        json_path = None
    elif a.json:
        json_path = Path(a.json)
    elif a.all:
        json_path = RESULTS / f"{date}-all.json"
    else:
        json_path = None if a.quick else DEFAULT_JSON
    sizes_of = (lambda b: b.quick_args) if a.quick else (lambda b: b.args)
    run_benches = [b for b in benches if b.key not in skipped]

    with tempfile.TemporaryDirectory(prefix="secimport-bench-") as tmp_s:
        tmp = Path(tmp_s)
        if a.keep_temp:
            tmp = Path(tempfile.mkdtemp(prefix="secimport-bench-kept-"))
            _log(f"keeping temporary files in {tmp}")
        ctx = Ctx(py["executable"], str(secimport), timeout, tmp, orig_env, a.orig_timeout,
                  a.walk_limit, a.backend, a.run_mode)
        _log(f"{py['implementation']} {py['version']} at {ctx.python}; "
             f"benchmarks {','.join(b.key for b in run_benches)}; "
             f"modes {','.join(m.name for m in modes)}; {reps} reps{' (quick)' if a.quick else ''}")

        failures: List[Record] = []  # plain and ours: these make the exit status 1
        orig_problems: List[Record] = []
        recs: List[Record] = []
        prepared: Dict[Tuple[str, str], dict] = {}
        ctx_of: Dict[str, Ctx] = {}
        dead: Dict[Tuple[str, str], str] = {}  # (bench, mode) -> why it is not run again

        def problem(r: Record, mode: Mode) -> None:
            (orig_problems if mode.family == "orig" else failures).append(r)

        for b in run_benches:
            bctx = dataclasses.replace(ctx, python=bench_py[b.key]["executable"]) \
                if b.key in bench_py else ctx
            ctx_of[b.key] = bctx
            script = b.script_path()
            if b.generate:
                # A short path: the original's bpftrace strings hold at most 64 bytes, and
                # its policy names modules by file path.
                gdir = tmp / f"g{b.key.split('/')[-1]}"
                gdir.mkdir()
                t0 = time.perf_counter()
                script = b.generate(gdir, sizes_of(b))
                _log(f"{b.key}: generated {script.parent} in {time.perf_counter() - t0:.1f} s")
            for m in modes:
                if not b.applies(m):
                    continue
                state: dict = {"script": script}
                if m.prepare:
                    d = Path(tempfile.mkdtemp(prefix=f"prep-{b.key.replace('/', '-')}-{m.name}-",
                                              dir=tmp))
                    args = [str(d / "result.json"), *sizes_of(b)] if b.timed else list(sizes_of(b))
                    t0 = time.perf_counter()
                    try:
                        state.update(m.prepare(bctx, b, script, args, d))
                        _log(f"  {b.key} {m.name}: prepared in {time.perf_counter() - t0:.1f} s "
                             f"{state.get('facts', '')}")
                    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                        msg = (f"did not finish within {e.timeout:g} s (preparing: {e.cmd[:2]})"
                               if isinstance(e, subprocess.TimeoutExpired) else
                               f"prepare failed: {e}")
                        r = Record(b.key, m.name, -3, error=msg)
                        problem(r, m)
                        dead[(b.key, m.name)] = msg.splitlines()[0]
                        _log(f"  {b.key} {m.name}: prepare FAILED\n    {msg}")
                prepared[(b.key, m.name)] = state

        def do(b: Bench, m: Mode, rep: int) -> None:
            if (b.key, m.name) in dead or not b.applies(m):
                return
            r = run_one(ctx_of[b.key], b, m, rep, sizes_of(b), prepared[(b.key, m.name)],
                        a.keep_temp)
            recs.append(r)
            tag = "warm-up" if rep < 0 else f"rep {rep + 1}/{reps}"
            if r.error:
                problem(r, m)
                if r.timed_out:
                    dead[(b.key, m.name)] = r.error.splitlines()[0]
                _log(f"  {tag} {b.key} {m.name}: FAILED: {r.error}")
            else:
                ins = f", in-script {_ms(r.in_script['elapsed_s'])} ms" if r.in_script else ""
                su = f", start-up {_ms(r.startup_s)} ms" if r.startup_s is not None else ""
                _log(f"  {tag} {b.key} {m.name}: wall {_ms(r.wall_s)} ms{ins}{su}")

        for _ in range(warmup):
            for b in run_benches:
                for m in modes:
                    do(b, m, -1)
        for rep in range(reps):
            order = modes if rep % 2 == 0 else modes[::-1]
            for b in run_benches:
                for m in order:
                    do(b, m, rep)

        bpf = None
        if bpf_stats:
            _log("BPF run-time statistics pass")
            jobs = [(ctx_of[b.key], b, m, prepared[(b.key, m.name)]) for b in run_benches
                    for m in modes if m.uses_secimport and b.applies(m)
                    and (b.key, m.name) not in dead]
            try:
                bpf = bpf_stats_pass(jobs, sizes_of, a.keep_temp)
            except OSError as e:
                _log(f"cannot enable BPF statistics: {e}")
            if bpf:
                for r in bpf["runs"]:
                    if r["error"]:
                        failures.append(Record(r["bench"], r["mode"], -2, error=r["error"]))

    machine["loadavg_end"] = list(os.getloadavg())
    results: dict = {}
    for b in benches:
        sizes = sizes_of(b)
        entry: dict = {"title": b.title, "script": str(b.script_path().relative_to(REPO)),
                       "args": list(sizes), "sizes": b.describe_sizes(sizes),
                       "target": {"metric": b.target.metric, "kind": b.target.kind,
                                  "limit": b.target.limit, "text": b.target.describe()}
                       if b.target else None,
                       "modes": [m.name for m in modes if b.applies(m)]}
        if b.not_applicable and any(not b.applies(m) for m in modes):
            entry["not_applicable"] = b.not_applicable
        if b.key in skipped:
            entry["skipped"] = skipped[b.key]
            results[b.key] = entry
            continue
        if b.key in bench_py:
            entry["python"] = bench_py[b.key]
        last_ok = {}
        for r in recs:
            if r.bench == b.key and r.error is None:
                last_ok[r.mode] = r
        workload = {}
        if "plain" in last_ok and last_ok["plain"].in_script:
            workload = {k: v for k, v in last_ok["plain"].in_script.items()
                        if k not in ("elapsed_s", "cpu_s", "parts", "started_monotonic")}
        status = {}
        for m in modes:
            if not b.applies(m):
                continue
            if (b.key, m.name) in dead:
                status[m.name] = dead[(b.key, m.name)]
            elif m.name not in last_ok:
                errs = [r.error for r in recs if r.bench == b.key and r.mode == m.name and r.error]
                status[m.name] = ("failed: " + errs[0].splitlines()[0]) if errs else "not run"
        entry.update({
            "workload": workload,
            "summary": summarize(b, [m for m in modes if b.applies(m)], recs, judge=not a.quick),
            "status": status,
            "counters": {m: r.facts["counters"] for m, r in last_ok.items()
                         if r.facts.get("counters")},
            "violations": {m: r.facts["violations"] for m, r in last_ok.items()
                           if "violations" in r.facts},
            "prepare": {m.name: prepared.get((b.key, m.name), {}).get("facts")
                        for m in modes if prepared.get((b.key, m.name), {}).get("facts")},
        })
        results[b.key] = entry
    report = {
        "schema": SCHEMA,
        "machine": machine,
        "python": py,
        "orig": orig_info,
        "config": {"reps": reps, "warmup": warmup, "quick": a.quick, "all": a.all,
                   "timeout": timeout, "orig_timeout": a.orig_timeout,
                   "modes": [m.name for m in modes], "benchmarks": [b.key for b in benches],
                   "secimport": str(secimport), "walk_limit": a.walk_limit,
                   "secimport_version": _cmd_out([str(secimport), "--version"])
                   if os.access(secimport, os.X_OK) else None,
                   "secimport_sha256": _sha256(secimport) if secimport.is_file() else None,
                   "git": git_info() if REPO in secimport.parents else None,
                   "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None
                                                                  else sys.argv[1:])])},
        "benchmarks": results,
        "derived": derived_costs(results, modes),
        "bpf_stats": bpf,
        "runs": [{k: v for k, v in r.__dict__.items() if k != "argv" or r.error}
                 for r in recs],
        "failures": [{"bench": r.bench, "mode": r.mode, "rep": r.rep, "error": r.error}
                     for r in failures],
        "orig_problems": [{"bench": r.bench, "mode": r.mode, "rep": r.rep, "error": r.error}
                          for r in orig_problems],
    }
    text = markdown(report)
    print(text)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(dump_json(report))
        _log(f"results written to {json_path}")
        if a.all:
            json_path.with_suffix(".md").write_text(text + "\n")
            _log(f"report written to {json_path.with_suffix('.md')}")
    if orig_problems:
        _log(f"{len(orig_problems)} run(s) of the original did not succeed (reported, not an error)")
    if failures:
        _log(f"{len(failures)} run(s) failed")
        for r in failures:
            _log(f"  {r.bench} {r.mode} rep {r.rep}: {r.error.splitlines()[0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
