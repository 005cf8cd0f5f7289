#!/usr/bin/env python3
"""Benchmark secimport against plain CPython: interleaved runs, medians, ratios.

Each benchmark is a script in bench/workloads/. It is run plainly and under each
secimport mode (`secimport trace` by default), alternating the order every
repetition so that slow drift on a shared machine cancels out. Two times are
taken for every run:

* wall      -- the whole command, measured here: interpreter start-up, and for
               secimport its own start-up (loading and verifying the BPF
               programs) and its shutdown (writing the trace);
* in-script -- the hot loop only, measured by the workload itself with
               time.perf_counter() (and time.process_time()) and written as JSON
               to a file whose path is the workload's first argument (a file, not
               stdout: secimport passes the script's stdout through).

The targets of P1-P3 are about the in-script ratio (steady-state overhead);
P4's target is the start-up time added to an empty script.

    python3 bench/bench.py                      # full run, 7 reps, pyenv 3.11.7
    python3 bench/bench.py --python /usr/bin/python3.11 --reps 15 --bpf-stats
    python3 bench/bench.py --quick              # smoke test: tiny sizes, no verdicts

Prints a markdown report on stdout (progress on stderr) and writes JSON
(--json, default bench/results.json; --quick writes JSON only if --json is
given). Exit status: 0 all runs succeeded; 1 some run failed (non-zero exit,
missing or bad timing output, missing trace); 2 usage or set-up error. Missed
targets do not change the exit status: timing on a shared machine is noisy.

Needs root for every mode but `plain`. Standard library only, Python >= 3.8.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
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
DEFAULT_PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3.11"
DEFAULT_SECIMPORT = REPO / "target" / "release" / "secimport"
DEFAULT_JSON = BENCH_DIR / "results.json"
SCHEMA = "secimport-bench/1"


# --------------------------------------------------------------------------- benchmarks


@dataclass(frozen=True)
class Target:
    metric: str  # "in_script" (the workload's own timing) or "wall" (whole command)
    kind: str  # "ratio": mode median / plain median; "added_ms": mode median - plain median
    limit: float

    def describe(self) -> str:
        return f"≤ {self.limit:.2f}×" if self.kind == "ratio" else f"≤ +{self.limit:g} ms"


@dataclass(frozen=True)
class Bench:
    key: str
    title: str
    script: str  # file in bench/workloads/
    args: Tuple[str, ...]  # sizes for a full run (after the result-file argument)
    quick_args: Tuple[str, ...]  # sizes for --quick
    target: Target
    timed: bool = True  # the workload writes its in-script timing to argv[1]

    def describe_sizes(self, args) -> str:
        if self.key == "P1":
            return f"{int(args[0]):,} calls + fib({args[1]})"
        if self.key in ("P2", "P3"):
            return f"{int(args[0]):,} os.stat"
        return ""


BENCHES = (
    Bench("P1", "pure-Python calls", "p1_calls.py", ("5000000", "30"), ("50000", "15"),
          Target("in_script", "ratio", 1.02)),
    Bench("P2", "os.stat, shallow stack", "p2_stat_shallow.py", ("200000",), ("2000",),
          Target("in_script", "ratio", 1.20)),
    Bench("P3", "os.stat, 30 frames deep", "p3_stat_deep.py", ("200000", "30"), ("2000", "30"),
          Target("in_script", "ratio", 1.50)),
    Bench("P4", "start-up, empty script", "p4_empty.py", (), (),
          Target("wall", "added_ms", 100.0), timed=False),
)


# --------------------------------------------------------------------------- modes
#
# A mode turns (workload, its argv) into a command. Adding a mode is one entry in
# MODES: a command builder, optionally a check of its side outputs (which may also
# return facts worth keeping, e.g. the trace's counters) and a one-off `prepare`
# per benchmark (e.g. learn a policy) whose result is passed to every command.


@dataclass
class Ctx:
    python: str  # resolved interpreter (no shims)
    secimport: str
    timeout: float
    tmp: Path


# command(ctx, script, args, scratch, prepared) -> argv; scratch is a fresh dir per run
CommandFn = Callable[[Ctx, Path, List[str], Path, dict], List[str]]
# check(scratch) -> (error or None, facts)
CheckFn = Callable[[Path], Tuple[Optional[str], dict]]
# prepare(ctx, bench, script, args, dir) -> dict handed to every command of that benchmark
PrepareFn = Callable[[Ctx, Bench, Path, List[str], Path], dict]


@dataclass(frozen=True)
class Mode:
    name: str
    about: str
    command: CommandFn
    check: Optional[CheckFn] = None
    prepare: Optional[PrepareFn] = None
    uses_secimport: bool = True


def _tail(args: List[str]) -> List[str]:
    return ["--", *args] if args else []


def _plain_cmd(ctx, script, args, scratch, prepared):
    return [ctx.python, str(script), *args]


def _trace_cmd(ctx, script, args, scratch, prepared):
    return [ctx.secimport, "trace", "--python", ctx.python, "--entrypoint", str(script),
            "-o", str(scratch / "trace.json"), *_tail(args)]


def _check_trace(scratch: Path):
    path = scratch / "trace.json"
    try:
        trace = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return f"no usable trace at {path}: {e}", {}
    return None, {"counters": trace.get("counters", {})}


def _run_prepare(ctx, bench, script, args, dir_):
    """Learn a policy from one traced run of the same workload, for `secimport run`."""
    policy = dir_ / "policy.yaml"
    for argv in (_trace_cmd(ctx, script, args, dir_, {}),  # writes dir_/trace.json
                 [ctx.secimport, "build", "--trace", str(dir_ / "trace.json"), "-o", str(policy)]):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=ctx.timeout)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return {"policy": policy}


def _run_cmd(ctx, script, args, scratch, prepared):
    return [ctx.secimport, "run", "--policy", str(prepared["policy"]), "--python", ctx.python,
            "--entrypoint", str(script), "--log-file", str(scratch / "violations.jsonl"),
            *_tail(args)]


def _check_run(scratch: Path):
    log = scratch / "violations.jsonl"
    n = len(log.read_text().splitlines()) if log.exists() else 0
    return None, {"violations": n}


MODES: Dict[str, Mode] = {m.name: m for m in (
    Mode("plain", "the interpreter alone (the baseline)", _plain_cmd, uses_secimport=False),
    Mode("trace", "secimport trace -o TMP/trace.json", _trace_cmd, _check_trace),
    # Opt-in (--modes plain,trace,run): policy learned per benchmark by `trace` + `build`.
    Mode("run", "secimport run --policy (learned from one trace of the same workload)",
         _run_cmd, _check_run, _run_prepare),
)}
DEFAULT_MODES = ("plain", "trace")


# --------------------------------------------------------------------------- running


@dataclass
class Record:
    bench: str
    mode: str
    rep: int  # -1 for warm-up runs
    wall_s: Optional[float] = None
    rc: Optional[int] = None
    in_script: Optional[dict] = None
    child_cpu_s: Optional[Dict[str, float]] = None
    facts: dict = field(default_factory=dict)
    error: Optional[str] = None
    argv: Optional[List[str]] = None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the session we started for this command
    except ProcessLookupError:
        pass


def run_one(ctx: Ctx, bench: Bench, mode: Mode, rep: int, sizes: Tuple[str, ...],
            prepared: dict, keep: bool, on_start: Optional[Callable[[int], None]] = None) -> Record:
    rec = Record(bench.key, mode.name, rep)
    scratch = Path(tempfile.mkdtemp(prefix=f"{bench.key}-{mode.name}-", dir=ctx.tmp))
    result_file = scratch / "result.json"
    args = [str(result_file), *sizes] if bench.timed else []
    rec.argv = mode.command(ctx, WORKLOADS / bench.script, args, scratch, prepared)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
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
        out, err = proc.communicate(timeout=ctx.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        rec.error = f"timed out after {ctx.timeout:g} s"
    rec.wall_s = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
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
    if rec.error is None and mode.check:
        rec.error, rec.facts = mode.check(scratch)
    if rec.error:
        text = (err or b"").decode(errors="replace").strip()
        rec.error += f"\n    command: {' '.join(rec.argv)}"
        if text:
            rec.error += "\n    stderr (tail):\n      " + "\n      ".join(text.splitlines()[-15:])
        stdout = (out or b"").decode(errors="replace").strip()
        if stdout:
            rec.error += "\n    stdout (tail):\n      " + "\n      ".join(stdout.splitlines()[-5:])
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

    def __init__(self, pid: int, interval: float = 0.05):
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


def bpf_stats_pass(ctx: Ctx, benches, modes, sizes_of, prepared, keep) -> dict:
    out = {"how": None, "runs": []}
    with BpfStats() as st:
        out["how"] = st.how
        for bench in benches:
            for mode in modes:
                if not mode.uses_secimport:
                    continue
                pollers: List[FdinfoPoller] = []

                def start(pid, pollers=pollers):
                    p = FdinfoPoller(pid)
                    p.start()
                    pollers.append(p)

                rec = run_one(ctx, bench, mode, -2, sizes_of(bench), prepared[(bench.key, mode.name)],
                              keep, on_start=start)
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


# --------------------------------------------------------------------------- statistics


def _stats(values: List[float]) -> dict:
    return {"n": len(values), "median": statistics.median(values), "min": min(values),
            "max": max(values), "values": values}


METRICS = (  # key, label in the table, extractor from a Record
    ("in_script", "in-script", lambda r: r.in_script and r.in_script["elapsed_s"]),
    ("in_script_cpu", "in-script CPU", lambda r: r.in_script and r.in_script["cpu_s"]),
    ("wall", "whole command", lambda r: r.wall_s),
)


def summarize(bench: Bench, modes: List[Mode], recs: List[Record], judge: bool) -> dict:
    ok = [r for r in recs if r.bench == bench.key and r.rep >= 0 and r.error is None]
    summary: dict = {}
    for key, _label, get in METRICS:
        if key != "wall" and not bench.timed:
            continue
        per_mode = {m.name: [get(r) for r in ok if r.mode == m.name] for m in modes}
        per_mode = {k: [x for x in v if x is not None] for k, v in per_mode.items()}
        if not per_mode.get("plain"):
            continue
        entry: dict = {"modes": {k: _stats(v) for k, v in per_mode.items() if v}, "vs_plain": {}}
        base = entry["modes"]["plain"]["median"]
        pairs = {}  # per-rep ratios, robust to drift between reps
        for r in ok:
            pairs.setdefault(r.rep, {})[r.mode] = get(r)
        for m in modes[1:]:
            if m.name not in entry["modes"]:
                continue
            med = entry["modes"][m.name]["median"]
            paired = [p[m.name] / p["plain"] for p in pairs.values()
                      if p.get("plain") and p.get(m.name) is not None]
            cmp_ = {"ratio": med / base if base else None, "added_ms": (med - base) * 1e3,
                    "paired_ratio_median": statistics.median(paired) if paired else None}
            if key == bench.target.metric:
                value = cmp_[bench.target.kind]
                cmp_["target"] = {"kind": bench.target.kind, "limit": bench.target.limit,
                                  "value": value,
                                  "verdict": ("pass" if value <= bench.target.limit else "MISS")
                                  if judge else "not judged"}
            entry["vs_plain"][m.name] = cmp_
        summary[key] = entry
    # Parts of the in-script time (e.g. P1's calls and fib), JSON only.
    parts: dict = {}
    for r in ok:
        for part, v in ((r.in_script or {}).get("parts") or {}).items():
            parts.setdefault(part, {}).setdefault(r.mode, []).append(v)
    if parts:
        summary["in_script_parts"] = {
            part: {m: _stats(v) for m, v in by_mode.items()} for part, by_mode in parts.items()}
    return summary


def derived_costs(results: dict, modes: List[Mode]) -> dict:
    """Added in-script µs per os.stat (P2, P3) and per extra frame (from both)."""
    out: dict = {}
    for m in modes[1:]:
        per = {}
        for key in ("P2", "P3"):
            b = results.get(key)
            if not b or "in_script" not in b["summary"]:
                continue
            s = b["summary"]["in_script"]["modes"]
            if m.name not in s:
                continue
            stats = b["workload"].get("stats")
            depth = b["workload"].get("depth")
            if stats:
                per[key] = {"added_us_per_syscall":
                            (s[m.name]["median"] - s["plain"]["median"]) / stats * 1e6,
                            "depth": depth}
        if "P2" in per and "P3" in per and per["P3"]["depth"] and per["P2"]["depth"] \
                and per["P3"]["depth"] != per["P2"]["depth"]:
            per["per_extra_frame_us"] = (
                (per["P3"]["added_us_per_syscall"] - per["P2"]["added_us_per_syscall"])
                / (per["P3"]["depth"] - per["P2"]["depth"]))
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


def markdown(report: dict, modes: List[Mode]) -> str:
    mi, cfg, py = report["machine"], report["config"], report["python"]
    others = [m.name for m in modes[1:]]
    lines = [
        f"### {py['implementation']} {py['version']} "
        f"({'shared libpython' if py['shared_libpython'] else 'static'}) — {mi['date']}",
        "",
        f"- Machine: {mi['cpu_model']}, {mi['cpus']} CPUs ({mi['cpus_usable']} usable), "
        f"{mi['mem_gib']} GiB, {mi['kernel']} ({mi['arch']}); load average at start "
        + " ".join(f"{x:.2f}" for x in mi["loadavg_start"])
        + (", at end " + " ".join(f"{x:.2f}" for x in mi["loadavg_end"]) if mi.get("loadavg_end") else ""),
        f"- Interpreter under test: `{py['executable']}` ({py['compiler']}); harness Python "
        f"{mi['harness_python']}",
        f"- secimport: `{cfg['secimport']}` ({cfg.get('secimport_version') or '?'}, sha256 "
        f"{(cfg.get('secimport_sha256') or '?')[:12]}), "
        + (f"built from this repo at git {cfg['git']}" if cfg.get("git")
           else "(outside this repo: git revision unknown)"),
        f"- {cfg['reps']} interleaved repetitions (order alternates every repetition), "
        f"{cfg['warmup']} warm-up run(s) each"
        + ("; **quick smoke run: tiny sizes, targets not judged**" if cfg["quick"] else ""),
        "- Times in ms: median (min–max). *in-script*: the workload's hot loop "
        "(perf_counter; *CPU* = process_time); *whole command*: wall time of the command, "
        "start-up and shutdown included.",
        "",
    ]
    head = ["Bench", "Metric", "plain"]
    for o in others:
        head += [o, f"{o} / plain"]
    head += ["Target", "Result"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, b in report["benchmarks"].items():
        first = True
        for mkey, label, _get in METRICS:
            entry = b["summary"].get(mkey)
            if entry is None:
                continue
            title = f"**{key}** {b['title']}" + (f"<br>{b['sizes']}" if b["sizes"] else "")
            row = [title if first else "", label,
                   _cell(entry["modes"].get("plain"))]
            verdicts = []
            for o in others:
                cmp_ = entry["vs_plain"].get(o)
                row.append(_cell(entry["modes"].get(o)))
                if cmp_ is None:
                    row.append("—")
                    continue
                ratio = f"{cmp_['ratio']:.3f}×" if cmp_["ratio"] is not None else "—"
                if mkey == "wall":
                    row.append(f"+{cmp_['added_ms']:,.0f} ms ({ratio})")
                else:
                    row.append(ratio)
                if "target" in cmp_:
                    v = cmp_["target"]["verdict"]
                    verdicts.append(f"{o}: {v}" if len(others) > 1 else v)
            is_target = mkey == b["target"]["metric"]
            row += [b["target"]["text"] if is_target else "",
                    ("**" + ", ".join(verdicts) + "**" if "MISS" in " ".join(verdicts)
                     else ", ".join(verdicts)) if is_target else ""]
            lines.append("| " + " | ".join(row) + " |")
            first = False
    lines.append("")
    notes = []
    for key, b in report["benchmarks"].items():
        w = b["workload"]
        if w.get("depth"):
            notes.append(f"{key}: {w['depth']} Python frames on the stack at each os.stat.")
        for o in others:
            c = b.get("counters", {}).get(o)
            if c:
                notes.append(f"{key} under {o}: {c.get('syscalls', 0):,} syscalls traced, "
                             f"{c.get('stacks_walked', 0):,} stacks walked, "
                             f"{c.get('stacks_truncated', 0):,} truncated, "
                             f"{c.get('events_lost', 0):,} events lost (last run).")
        for o in others:
            v = b.get("violations", {}).get(o)
            if v is not None:
                notes.append(f"{key} under {o}: {v:,} violations logged (last run).")
    for o, per in report.get("derived", {}).items():
        for key in ("P2", "P3"):
            if key in per:
                notes.append(f"{o}: {per[key]['added_us_per_syscall']:+.2f} µs per os.stat in-script "
                             f"at {per[key]['depth']} frames ({key}).")
        if "per_extra_frame_us" in per:
            notes.append(f"{o}: {per['per_extra_frame_us'] * 1e3:+.0f} ns per extra frame "
                         "((P3 − P2) / depth difference).")
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
    if report["failures"]:
        lines += [f"**{len(report['failures'])} run(s) failed** — see stderr / JSON.", ""]
    return "\n".join(lines)


def dump_json(report: dict) -> str:
    """Indented, except one line per run (there are hundreds)."""
    head = json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2)
    runs = ",\n    ".join(json.dumps(r, separators=(",", ":")) for r in report["runs"])
    return head[:-2] + ',\n  "runs": [\n    ' + runs + "\n  ]\n}\n"


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Benchmarks: " + "; ".join(
                                     f"{b.key} {b.title} (target {b.target.describe()})"
                                     for b in BENCHES)
                                 + ". Modes: " + "; ".join(f"{m.name}: {m.about}"
                                                           for m in MODES.values()) + ".")
    ap.add_argument("--python", default=DEFAULT_PYTHON,
                    help="interpreter to benchmark (shims are resolved) [%(default)s]")
    ap.add_argument("--secimport", default=None,
                    help=f"secimport binary [{DEFAULT_SECIMPORT.relative_to(REPO)} in the repo]")
    ap.add_argument("--reps", type=int, default=None, help="repetitions [7; --quick: 2]")
    ap.add_argument("--warmup", type=int, default=None,
                    help="untimed runs of every benchmark and mode first [1; --quick: 0]")
    ap.add_argument("--only", default=None, help="comma-separated benchmarks, e.g. P1,P3")
    ap.add_argument("--modes", default=",".join(DEFAULT_MODES),
                    help="comma-separated modes compared with plain [%(default)s]")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: tiny sizes, 2 reps, targets not judged, < 30 s; "
                         "exits non-zero if any run fails")
    ap.add_argument("--json", default=None,
                    help="write results here (default bench/results.json; --quick: none); "
                         "'-' for none")
    ap.add_argument("--bpf-stats", action="store_true",
                    help="afterwards, one extra run per benchmark with kernel BPF run-time "
                         "accounting on, reporting ns per program run")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per command [600; --quick: 60]")
    ap.add_argument("--keep-temp", action="store_true", help="keep traces and results")
    ap.add_argument("--from-json", metavar="FILE",
                    help="run nothing: print the markdown report of an earlier --json file")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.from_json:
        report = json.loads(Path(a.from_json).read_text())
        if report.get("schema") != SCHEMA:
            print(f"bench.py: {a.from_json} is not a {SCHEMA} file", file=sys.stderr)
            return 2
        print(markdown(report, [MODES[n] for n in report["config"]["modes"]]))
        return 0
    reps = a.reps if a.reps is not None else (2 if a.quick else 7)
    warmup = a.warmup if a.warmup is not None else (0 if a.quick else 1)
    timeout = a.timeout if a.timeout is not None else (60.0 if a.quick else 600.0)
    if reps < 1 or warmup < 0:
        print("bench.py: --reps must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2

    benches = list(BENCHES)
    if a.only:
        want = [k.strip().upper() for k in a.only.split(",") if k.strip()]
        unknown = sorted(set(want) - {b.key for b in BENCHES})
        if unknown:
            print(f"bench.py: unknown benchmark(s) {', '.join(unknown)}; "
                  f"known: {', '.join(b.key for b in BENCHES)}", file=sys.stderr)
            return 2
        benches = [b for b in BENCHES if b.key in want]
    names = ["plain"] + [n.strip() for n in a.modes.split(",") if n.strip() and n.strip() != "plain"]
    bad = [n for n in names if n not in MODES]
    if bad or len(names) < 2:
        print(f"bench.py: --modes needs at least one of {', '.join(k for k in MODES if k != 'plain')}"
              + (f"; unknown: {', '.join(bad)}" if bad else ""), file=sys.stderr)
        return 2
    modes = [MODES[n] for n in dict.fromkeys(names)]

    secimport = Path(a.secimport).resolve() if a.secimport else DEFAULT_SECIMPORT
    if any(m.uses_secimport for m in modes):
        if not os.access(secimport, os.X_OK):
            print(f"bench.py: no secimport binary at {secimport} "
                  "(cargo build --release -p secimport, or --secimport PATH)", file=sys.stderr)
            return 2
        if os.geteuid() != 0:
            print("bench.py: secimport needs root (BPF); run as root", file=sys.stderr)
            return 2
    if a.bpf_stats and os.geteuid() != 0:
        print("bench.py: --bpf-stats needs root", file=sys.stderr)
        return 2

    try:
        py = probe_python(a.python)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    machine = machine_info()
    json_path = None if a.json == "-" else Path(a.json) if a.json else (None if a.quick else DEFAULT_JSON)
    sizes_of = (lambda b: b.quick_args) if a.quick else (lambda b: b.args)

    with tempfile.TemporaryDirectory(prefix="secimport-bench-") as tmp_s:
        tmp = Path(tmp_s)
        if a.keep_temp:
            tmp = Path(tempfile.mkdtemp(prefix="secimport-bench-kept-"))
            print(f"bench.py: keeping temporary files in {tmp}", file=sys.stderr)
        ctx = Ctx(py["executable"], str(secimport), timeout, tmp)
        print(f"bench.py: {py['implementation']} {py['version']} at {ctx.python}; "
              f"benchmarks {','.join(b.key for b in benches)}; modes {','.join(m.name for m in modes)}; "
              f"{reps} reps{' (quick)' if a.quick else ''}", file=sys.stderr)

        failures: List[Record] = []
        recs: List[Record] = []
        prepared: Dict[Tuple[str, str], dict] = {}
        for b in benches:
            for m in modes:
                state: dict = {}
                if m.prepare:
                    d = Path(tempfile.mkdtemp(prefix=f"prep-{b.key}-{m.name}-", dir=tmp))
                    try:
                        state = m.prepare(ctx, b, WORKLOADS / b.script,
                                          [str(d / "result.json"), *sizes_of(b)] if b.timed else [], d)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                        r = Record(b.key, m.name, -3, error=f"prepare failed: {e}")
                        failures.append(r)
                        print(f"  {b.key} {m.name}: prepare FAILED\n    {r.error}", file=sys.stderr)
                prepared[(b.key, m.name)] = state
        broken = {(r.bench, r.mode) for r in failures}

        def do(b: Bench, m: Mode, rep: int) -> None:
            if (b.key, m.name) in broken:
                return
            r = run_one(ctx, b, m, rep, sizes_of(b), prepared[(b.key, m.name)], a.keep_temp)
            recs.append(r)
            tag = "warm-up" if rep < 0 else f"rep {rep + 1}/{reps}"
            if r.error:
                failures.append(r)
                print(f"  {tag} {b.key} {m.name}: FAILED: {r.error}", file=sys.stderr)
            else:
                ins = f", in-script {_ms(r.in_script['elapsed_s'])} ms" if r.in_script else ""
                print(f"  {tag} {b.key} {m.name}: wall {_ms(r.wall_s)} ms{ins}", file=sys.stderr)

        for _ in range(warmup):
            for b in benches:
                for m in modes:
                    do(b, m, -1)
        for rep in range(reps):
            order = modes if rep % 2 == 0 else modes[::-1]
            for b in benches:
                for m in order:
                    do(b, m, rep)

        bpf = None
        if a.bpf_stats:
            print("bench.py: BPF run-time statistics pass", file=sys.stderr)
            try:
                bpf = bpf_stats_pass(ctx, benches, modes, sizes_of, prepared,
                                     a.keep_temp)
            except OSError as e:
                print(f"bench.py: cannot enable BPF statistics: {e}", file=sys.stderr)
            if bpf:
                for r in bpf["runs"]:
                    if r["error"]:
                        failures.append(Record(r["bench"], r["mode"], -2, error=r["error"]))

    machine["loadavg_end"] = list(os.getloadavg())
    results: dict = {}
    for b in benches:
        sizes = sizes_of(b)
        last_ok = {}
        for r in recs:
            if r.bench == b.key and r.error is None:
                last_ok[r.mode] = r
        workload = {}
        if "plain" in last_ok and last_ok["plain"].in_script:
            workload = {k: v for k, v in last_ok["plain"].in_script.items()
                        if k not in ("elapsed_s", "cpu_s", "parts")}
        results[b.key] = {
            "title": b.title, "script": f"bench/workloads/{b.script}", "args": list(sizes),
            "sizes": b.describe_sizes(sizes), "workload": workload,
            "target": {"metric": b.target.metric, "kind": b.target.kind,
                       "limit": b.target.limit, "text": b.target.describe()},
            "summary": summarize(b, modes, recs, judge=not a.quick),
            "counters": {m: r.facts["counters"] for m, r in last_ok.items()
                         if r.facts.get("counters")},
            "violations": {m: r.facts["violations"] for m, r in last_ok.items()
                           if "violations" in r.facts},
        }
    report = {
        "schema": SCHEMA,
        "machine": machine,
        "python": py,
        "config": {"reps": reps, "warmup": warmup, "quick": a.quick,
                   "modes": [m.name for m in modes], "benchmarks": [b.key for b in benches],
                   "secimport": str(secimport),
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
    }
    print(markdown(report, modes))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(dump_json(report))
        print(f"bench.py: results written to {json_path}", file=sys.stderr)
    if failures:
        print(f"bench.py: {len(failures)} run(s) failed", file=sys.stderr)
        for r in failures:
            print(f"  {r.bench} {r.mode} rep {r.rep}: {r.error.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
