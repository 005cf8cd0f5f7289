#!/usr/bin/env python3
"""Acceptance harness: secimport on real third-party programs (issue #7, point 6).

For every workload: trace it (`secimport trace`) one or more times on the same
input, build one policy from all the traces (`secimport build T1.json T2.json
-o policy.yaml`), then run it under that policy in kill mode (`secimport run
--kill-on-violation`) N times on the SAME input and M times on DIFFERENT inputs
of the same kind, and count the runs that were killed and the violations logged.

With --learn, the different inputs are then learned the way a deployment would
(learn in staging, then enforce): each different input is run once in log mode
with `secimport run --learn LEARNED.json` (which writes what the policy lacked
as a trace), the policy is rebuilt with `secimport build TRACES... LEARNED...`,
and the M different-input runs are done again in kill mode under the rebuilt
policy; the table then has a third group of columns, "after learning them".

    sudo python3 bench/acceptance.py                 # full: 2 traces, 20 same-input, 5 different-input runs
    sudo python3 bench/acceptance.py --quick         # 1 trace, 3 + 2 runs (for the test suite)
    sudo python3 bench/acceptance.py --only http-server,git-driver --runs 5
    sudo python3 bench/acceptance.py --keep /tmp/acc  # keep traces, policies, logs, inputs
    sudo python3 bench/acceptance.py --learn         # also: learn the different inputs, rerun them

Workloads (all offline; the sdists and pytest come from PyPI through pip once,
into a venv at --venv, default /tmp/accept-venv, created if missing):

  pytest-cold      pytest of six's own test suite from its sdist, __pycache__
                   and .pytest_cache deleted before every run;
                   different input: idna's and more-itertools' test suites
  pytest-warm      the same with the caches left warm (a plain warm-up run first)
  multiprocessing  tests/workloads/mp_pools.py: Pool and ProcessPoolExecutor with
                   fork, spawn and forkserver; different: other worker/task counts
  asyncio          tests/workloads/asyncio_io.py: create_subprocess_exec(echo) and a
                   loopback TCP echo server/clients; different: other sizes/args
  pip-wheel-git    pip wheel --no-deps --no-build-isolation git+file://<tiny repo>;
                   different: another tiny repo (package directory, other name)
  http-server      tests/workloads/http_server.py: ThreadingHTTPServer + 20
                   concurrent urllib requests; different: other paths, 404s, listings
  git-driver       tests/workloads/git_driver.py: git init/add/commit/log via
                   subprocess.run in a temp dir; different: more commits and
                   status/diff/branch/tag/show/log --stat

Prints a table and, for every distinct (right, denied_by, reasons) violated, the
count, the runs, the distinct argument values (exec programs, written paths,
addresses...) and the innermost frames of the first stack seen.

Exit status: 0 no same-input run was killed or reported a violation; 1 some
was (or failed otherwise: time-out, non-zero status); 2 set-up error
(a workload that cannot run plainly, a trace or build that failed).
Needs root (secimport loads BPF). Standard library only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
WORKLOADS_DIR = REPO / "tests" / "workloads"
DEFAULT_PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3.11"
SDISTS = {  # name -> (pip requirement, directory inside the sdist)
    "six": ("six==1.16.0", "six-1.16.0"),
    "idna": ("idna==3.6", "idna-3.6"),
    "more-itertools": ("more-itertools==10.2.0", "more-itertools-10.2.0"),
}


# Tests that fail without secimport on pyenv's 3.11.7 (no dbm.ndbm module built).
PYTEST_DESELECT = {"six": ["--deselect", "test_six.py::test_move_items[dbm_ndbm]"]}


def log(msg: str) -> None:
    print(f"[acceptance] {msg}", file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


# --------------------------------------------------------------------------
# Running commands


@dataclasses.dataclass
class Result:
    rc: int | None  # None: timed out
    seconds: float
    stderr_tail: str


def run_cmd(cmd: list[str], *, cwd: Path, env: dict, timeout: float, out: Path | None = None) -> Result:
    """Run cmd in its own session; on time-out kill the whole group."""
    t0 = time.monotonic()
    with open(out or os.devnull, "wb") as so, tempfile.TemporaryFile() as se:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=so, stderr=se,
                             start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            rc = None
        se.seek(0)
        err = se.read().decode(errors="replace")
    return Result(rc, time.monotonic() - t0, "\n".join(err.splitlines()[-25:]))


def must(cmd: list[str], cwd: Path, env: dict | None = None, timeout: float = 600) -> None:
    r = run_cmd(cmd, cwd=cwd, env=env or os.environ.copy(), timeout=timeout)
    if r.rc != 0:
        raise SetupError(f"`{' '.join(cmd)}` failed ({r.rc}):\n{r.stderr_tail}")


# --------------------------------------------------------------------------
# Workloads


@dataclasses.dataclass
class Input:
    argv: list[str]
    cwd: Path
    label: str


@dataclasses.dataclass
class Workload:
    name: str
    description: str
    setup: Callable[["Ctx"], None]
    same: Callable[["Ctx"], Input]
    different: Callable[["Ctx"], list[Input]]
    prepare: Callable[["Ctx", Input], None] = lambda ctx, inp: None  # before every run


@dataclasses.dataclass
class Ctx:
    work: Path
    python: str
    venv: Path
    env: dict

    @property
    def vpy(self) -> str:
        return str(self.venv / "bin" / "python")


def ensure_venv(ctx: Ctx) -> None:
    if not (ctx.venv / "bin" / "python").exists():
        log(f"creating venv {ctx.venv}")
        must([ctx.python, "-m", "venv", str(ctx.venv)], cwd=Path("/"))
    check = run_cmd([ctx.vpy, "-c", "import pytest, setuptools, wheel"], cwd=Path("/"), env=ctx.env, timeout=60)
    if check.rc != 0:
        log("installing pytest, setuptools, wheel into the venv (pip, PyPI)")
        must([ctx.vpy, "-m", "pip", "install", "-q", "pytest", "setuptools", "wheel"], cwd=Path("/"), env=ctx.env)


def sdist_dir(ctx: Ctx, name: str) -> Path:
    req, inner = SDISTS[name]
    dest = ctx.work / "src" / inner
    if dest.exists():
        return dest
    cache = ctx.venv / "sdists"
    cache.mkdir(exist_ok=True)
    tarballs = list(cache.glob(f"{inner}.tar.gz")) + list(cache.glob(f"{inner.replace('-', '_')}.tar.gz"))
    if not tarballs:
        log(f"downloading the sdist of {req}")
        must([ctx.vpy, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", "-d", str(cache), req],
             cwd=Path("/"), env=ctx.env)
        tarballs = list(cache.glob(f"{inner}.tar.gz")) + list(cache.glob(f"{inner.replace('-', '_')}.tar.gz"))
    if not tarballs:
        raise SetupError(f"no sdist for {req} in {cache}")
    (ctx.work / "src").mkdir(exist_ok=True)
    with tarfile.open(tarballs[0]) as tf:
        tf.extractall(ctx.work / "src", filter="data") if hasattr(tarfile, "data_filter") else tf.extractall(ctx.work / "src")
    return dest


def pytest_input(ctx: Ctx, name: str) -> Input:
    d = ctx.work / "src" / SDISTS[name][1]
    extra = PYTEST_DESELECT.get(name, [])
    return Input([ctx.vpy, "-m", "pytest", "-q", "-x", *extra], d, f"pytest {name}")


def clear_caches(ctx: Ctx, inp: Input) -> None:
    for p in list(inp.cwd.rglob("__pycache__")) + [inp.cwd / ".pytest_cache"]:
        shutil.rmtree(p, ignore_errors=True)


def pytest_setup(ctx: Ctx) -> None:
    ensure_venv(ctx)
    for n in SDISTS:
        sdist_dir(ctx, n)


def pytest_warm_setup(ctx: Ctx) -> None:
    pytest_setup(ctx)
    for n in SDISTS:  # warm-up: compile the tests and the package, create .pytest_cache
        inp = pytest_input(ctx, n)
        run_cmd(inp.argv, cwd=inp.cwd, env=ctx.env, timeout=600)


def script(ctx: Ctx, name: str, *args: str, label: str = "") -> Input:
    return Input([ctx.python, str(WORKLOADS_DIR / name), *args], ctx.work, label or " ".join(args) or "default")


GIT_PKG = {
    "repo-a": {
        "setup.py": "from setuptools import setup\nsetup(name='accept-a', version='0.1', py_modules=['accept_a'])\n",
        "pyproject.toml": "[build-system]\nrequires = ['setuptools', 'wheel']\nbuild-backend = 'setuptools.build_meta'\n",
        "accept_a.py": "def hello():\n    return 'a'\n",
    },
    "repo-b": {
        "setup.py": "from setuptools import setup, find_packages\n"
                    "setup(name='accept-b', version='2.3.4', packages=find_packages(), package_data={'accept_b': ['data/*.txt']})\n",
        "pyproject.toml": "[build-system]\nrequires = ['setuptools', 'wheel']\nbuild-backend = 'setuptools.build_meta'\n",
        "accept_b/__init__.py": "from .core import value\n",
        "accept_b/core.py": "def value():\n    return 42\n",
        "accept_b/data/x.txt": "data\n",
        "README.md": "# accept-b\n",
    },
}


def pip_setup(ctx: Ctx) -> None:
    ensure_venv(ctx)
    env = dict(ctx.env, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@example.invalid",
               GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@example.invalid")
    for repo, files in GIT_PKG.items():
        d = ctx.work / "git" / repo
        if (d / ".git").exists():
            continue
        for rel, text in files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text(text)
        must(["git", "init", "-q", "-b", "main"], cwd=d, env=env)
        must(["git", "add", "-A"], cwd=d, env=env)
        must(["git", "commit", "-q", "-m", "init"], cwd=d, env=env)


def pip_input(ctx: Ctx, repo: str) -> Input:
    out = ctx.work / "wheels"
    return Input([ctx.vpy, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                  f"git+file://{ctx.work / 'git' / repo}"], ctx.work, f"pip wheel {repo}")


def clear_wheels(ctx: Ctx, inp: Input) -> None:
    shutil.rmtree(ctx.work / "wheels", ignore_errors=True)
    (ctx.work / "wheels").mkdir()


def http_setup(ctx: Ctx) -> None:
    root = ctx.work / "www"
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("<html><body>hello</body></html>\n")
    (root / "data.txt").write_text("x" * 4096)
    (root / "sub" / "page.html").write_text("<p>sub</p>\n")
    (root / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 64)


def http_input(ctx: Ctx, *args: str) -> Input:
    return script(ctx, "http_server.py", "--root", str(ctx.work / "www"), *args)


def nothing(ctx: Ctx) -> None:
    pass


WORKLOADS = [
    Workload("pytest-cold", "pytest of six's tests, cold __pycache__ (diff: idna, more-itertools)",
             pytest_setup, lambda c: pytest_input(c, "six"),
             lambda c: [pytest_input(c, "idna"), pytest_input(c, "more-itertools")], clear_caches),
    Workload("pytest-warm", "pytest of six's tests, warm __pycache__ (diff: idna, more-itertools)",
             pytest_warm_setup, lambda c: pytest_input(c, "six"),
             lambda c: [pytest_input(c, "idna"), pytest_input(c, "more-itertools")]),
    Workload("multiprocessing", "Pool + ProcessPoolExecutor, fork/spawn/forkserver",
             nothing, lambda c: script(c, "mp_pools.py", "--workers", "2", "--tasks", "8"),
             lambda c: [script(c, "mp_pools.py", "--workers", "3", "--tasks", "20"),
                        script(c, "mp_pools.py", "--workers", "1", "--tasks", "5")]),
    Workload("asyncio", "create_subprocess_exec + loopback TCP echo",
             nothing, lambda c: script(c, "asyncio_io.py"),
             lambda c: [script(c, "asyncio_io.py", "--clients", "8", "--size", "1000", "--cmd", "/bin/echo", "other", "words"),
                        script(c, "asyncio_io.py", "--clients", "2", "--messages", "50", "--cmd", "/bin/echo", "x")]),
    Workload("pip-wheel-git", "pip wheel --no-build-isolation of a local git repo (diff: another repo)",
             pip_setup, lambda c: pip_input(c, "repo-a"), lambda c: [pip_input(c, "repo-b")], clear_wheels),
    Workload("http-server", "ThreadingHTTPServer + 20 concurrent urllib requests",
             http_setup, lambda c: http_input(c),
             lambda c: [http_input(c, "--requests", "40", "--paths", "/,/sub/,/nope!404,/data.txt"),
                        http_input(c, "--requests", "20", "--concurrency", "5", "--paths", "/sub/page.html,/sub/blob.bin")]),
    Workload("git-driver", "git init/add/commit/log via subprocess in a temp dir",
             nothing, lambda c: script(c, "git_driver.py"),
             lambda c: [script(c, "git_driver.py", "--commits", "5", "--extra"),
                        script(c, "git_driver.py", "--commits", "1")]),
]


# --------------------------------------------------------------------------
# Traces, policies, runs


@dataclasses.dataclass
class RunRecord:
    kind: str  # same | diff | learn (log mode, --learn) | learned (kill mode, rebuilt policy)
    label: str
    rc: int | None
    violations: list[dict]
    seconds: float
    stderr_tail: str

    @property
    def killed(self) -> bool:
        return any(v.get("action") == "kill" for v in self.violations)

    @property
    def failed(self) -> bool:  # not a violation, but not a success either
        return not self.violations and self.rc != 0


@dataclasses.dataclass
class WorkloadResult:
    name: str
    traces: int = 0
    runs: list[RunRecord] = dataclasses.field(default_factory=list)
    error: str = ""

    def of(self, kind: str) -> list[RunRecord]:
        return [r for r in self.runs if r.kind == kind]


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            if ev.get("event", "violation") == "violation":
                out.append(ev)
    return out


def build(sec: str, traces: list[str], policy: Path, d: Path, ctx: Ctx) -> None:
    r = run_cmd([sec, "build", *traces, "-o", str(policy)], cwd=d, env=ctx.env, timeout=120)
    if r.rc != 0:
        raise SetupError(f"build of {policy.name} failed ({r.rc}):\n{r.stderr_tail}")


def run_plan(w: Workload, ctx: Ctx, args, d: Path, policy: Path, plan: list[tuple[str, Input]],
             res: WorkloadResult, first: int) -> None:
    sec = args.secimport
    for i, (kind, inp) in enumerate(plan):
        w.prepare(ctx, inp)
        lp = d / f"run-{first + i:02d}-{kind}.jsonl"
        lp.unlink(missing_ok=True)
        r = run_cmd([sec, "run", "--policy", str(policy), "--kill-on-violation", "--log-file", str(lp),
                     "--", *inp.argv], cwd=inp.cwd, env=ctx.env, timeout=args.timeout * 2)
        rec = RunRecord(kind, inp.label, r.rc, read_log(lp), r.seconds, r.stderr_tail)
        res.runs.append(rec)
        state = ("KILLED" if rec.killed else f"{len(rec.violations)} violations" if rec.violations
                 else "timeout" if r.rc is None else f"rc={r.rc}")
        log(f"{w.name}: run {i + 1}/{len(plan)} ({kind}: {inp.label}) {state} in {r.seconds:.1f}s")
        if rec.failed and args.verbose:
            log(rec.stderr_tail)


def do_workload(w: Workload, ctx: Ctx, args, outdir: Path) -> WorkloadResult:
    res = WorkloadResult(w.name)
    d = outdir / w.name
    d.mkdir(parents=True, exist_ok=True)
    sec = args.secimport
    try:
        w.setup(ctx)
        same = w.same(ctx)
        diffs = w.different(ctx)
        # 1. the workload must work without secimport
        for inp in [same] + diffs:
            w.prepare(ctx, inp)
            r = run_cmd(inp.argv, cwd=inp.cwd, env=ctx.env, timeout=args.timeout)
            if r.rc != 0:
                raise SetupError(f"plain run of {inp.label} failed ({r.rc}):\n{r.stderr_tail}")
        # 2. trace the same input
        tpaths = []
        for i in range(args.traces):
            w.prepare(ctx, same)
            tp = d / f"trace-{i}.json"
            r = run_cmd([sec, "trace", "-o", str(tp), "--", *same.argv], cwd=same.cwd, env=ctx.env,
                        timeout=args.timeout * 3)
            if r.rc != 0 or not tp.exists():
                raise SetupError(f"trace {i} of {same.label} failed ({r.rc}):\n{r.stderr_tail}")
            tpaths.append(tp)
            res.traces += 1
        policy = d / "policy.yaml"
        build(sec, [str(t) for t in tpaths], policy, d, ctx)
        # 3. run in kill mode
        plan = [("same", same)] * args.runs + [("diff", diffs[i % len(diffs)]) for i in range(args.diff_runs)]
        run_plan(w, ctx, args, d, policy, plan, res, 0)
        if args.learn:
            # 4. learn the different inputs (log mode), rebuild, rerun them in kill mode
            learned = []
            for j, inp in enumerate(diffs):
                w.prepare(ctx, inp)
                lp = d / f"learn-{j}.jsonl"
                tp = d / f"learned-{j}.json"
                lp.unlink(missing_ok=True)
                tp.unlink(missing_ok=True)
                r = run_cmd([sec, "run", "--policy", str(policy), "--mode", "log", "--learn", str(tp),
                             "--log-file", str(lp), "--", *inp.argv], cwd=inp.cwd, env=ctx.env,
                            timeout=args.timeout * 2)
                rec = RunRecord("learn", inp.label, r.rc, read_log(lp), r.seconds, r.stderr_tail)
                res.runs.append(rec)
                note = " (violations were logged)" if r.rc == 1 and rec.violations else ""
                log(f"{w.name}: learn {j + 1}/{len(diffs)} ({inp.label}) {len(rec.violations)} violations logged, "
                    f"rc={r.rc}{note}, in {r.seconds:.1f}s" + ("" if tp.exists() else " (no learned trace)"))
                if tp.exists():
                    learned.append(str(tp))
            policy2 = d / "policy-learned.yaml"
            build(sec, [str(t) for t in tpaths] + learned, policy2, d, ctx)
            plan = [("learned", diffs[i % len(diffs)]) for i in range(args.diff_runs)]
            run_plan(w, ctx, args, d, policy2, plan, res, len(res.runs))
    except SetupError as e:
        res.error = str(e)
        log(f"{w.name}: SET-UP ERROR: {e}")
    return res


# --------------------------------------------------------------------------
# Report


def frame_str(f: dict) -> str:
    return f"{f.get('file')}:{f.get('line')} in {f.get('function')} [{f.get('module')}]"


def args_str(v: dict) -> str:
    """A violation's arguments ([{kind, value}]) as `kind=value, ...`."""
    return ", ".join(f"{a.get('kind')}={a.get('value')}" for a in (v.get("arguments") or [])) or "-"


KINDS = [("same", "same input"), ("diff", "different inputs, as traced"), ("learned", "after learning them")]


def report(results: list[WorkloadResult]) -> None:
    kinds = [(k, t) for k, t in KINDS if any(r.of(k) for r in results)]
    hdr = ["workload", "traces"]
    for k, _ in kinds:
        hdr += [f"{k} runs", "kills", "viol", "fail"]
    if any(r.of("learn") for r in results):
        hdr += ["learn viol"]
    hdr += ["rights violated (runs) by modules"]
    rows = []
    for r in results:
        if r.error:
            rows.append([r.name, str(r.traces), "ERROR"] + [""] * (len(hdr) - 4) + [r.error.splitlines()[0][:80]])
            continue
        denied: dict[tuple, list] = {}  # (right, kind) -> modules that denied it, in order
        for run in r.runs:
            for v in run.violations:
                ms = denied.setdefault((v.get("syscall"), run.kind), [])
                for m in v.get("denied_by") or ["<" + ",".join(v.get("reasons") or ["?"]) + ">"]:
                    if m not in ms:
                        ms.append(m)
        cells = [r.name, str(r.traces)]
        for kind, _ in kinds:
            runs = r.of(kind)
            cells += [str(len(runs)), str(sum(x.killed for x in runs)), str(sum(len(x.violations) for x in runs)),
                      str(sum(x.failed for x in runs))]
        if "learn viol" in hdr:
            cells.append(str(sum(len(x.violations) for x in r.of("learn"))))
        cells.append("; ".join(f"{sc} ({k}) by {', '.join(ms[:3])}" + (f" +{len(ms) - 3} more" if len(ms) > 3 else "")
                               for (sc, k), ms in sorted(denied.items())) or "-")
        rows.append(cells)
    print("Columns: " + "; ".join(f"{k} = {t}" for k, t in kinds)
          + ("; learn viol = violations logged by the log-mode --learn runs" if "learn viol" in hdr else ""))
    print()
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(hdr)]
    widths[-1] = len(hdr[-1])
    print("| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(hdr)) + " |")
    print("|" + "|".join("-" * (wd + 2) for wd in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(row)) + " |")
    print()
    # details: per (workload, right, denied_by, reasons) group, with the distinct argument values
    for r in results:
        groups: dict[tuple, list] = {}
        for idx, run in enumerate(r.runs):
            for v in run.violations:
                key = (v.get("syscall"), tuple(v.get("denied_by") or []), tuple(v.get("reasons") or []))
                groups.setdefault(key, []).append((idx, run, v))
        if not groups:
            continue
        print(f"### {r.name}")
        for (sc, denied, reasons), hits in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            # runs numbered from 1 within their kind
            nth = {id(run): 1 + [x for x in r.runs if x.kind == run.kind].index(run) for _, run, _ in hits}
            by_kind = {k: sorted({nth[id(run)] for _, run, _ in hits if run.kind == k})
                       for k in ("same", "diff", "learn", "learned")}
            v = hits[0][2]
            print(f"- {sc} denied by {', '.join(denied) or '-'} ({', '.join(reasons) or '-'}); {len(hits)}x; runs: "
                  + ", ".join(f"{k} " + ",".join(f"#{i}" for i in ix) for k, ix in by_kind.items() if ix)
                  + f"; first: pid {v.get('pid')} comm {v.get('comm')} action {v.get('action')}"
                  + (f", input: {hits[0][1].label}" if hits[0][1].kind != "same" else ""))
            argvals: dict[str, set] = {}
            for _, run, hv in hits:
                argvals.setdefault(args_str(hv), set()).add(run.kind)
            for a, ks in sorted(argvals.items())[:12]:
                print(f"    arguments: {a}  [{', '.join(sorted(ks))}]")
            if len(argvals) > 12:
                print(f"    ... {len(argvals) - 12} more distinct arguments")
            extra = {k: v[k] for k in v if k not in ("event", "time", "pid", "tid", "ppid", "comm", "syscall", "nr",
                                                     "action", "denied_by", "reasons", "stack", "depth", "truncated",
                                                     "arguments")}
            if extra:
                print(f"    other fields: {json.dumps(extra)[:300]}")
            for f in (v.get("stack") or [])[:6]:
                print(f"    {frame_str(f)}")
            if len(v.get("stack") or []) > 6:
                print(f"    ... {len(v['stack']) - 6} more frames (depth {v.get('depth')})")
        print()
    for r in results:
        fails = [x for x in r.runs if x.failed]
        for x in fails[:2]:
            print(f"### {r.name}: run failed without a violation ({x.kind}: {x.label}, rc={x.rc})")
            print(textwrap.indent(x.stderr_tail, "    "))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--secimport", default=str(REPO / "target" / "release" / "secimport"),
                    help="the secimport binary (default: target/release/secimport)")
    ap.add_argument("--python", default=DEFAULT_PYTHON, help=f"interpreter (default {DEFAULT_PYTHON})")
    ap.add_argument("--venv", default="/tmp/accept-venv", help="venv with pytest (created if missing)")
    ap.add_argument("--quick", action="store_true", help="1 trace, 3 same-input and 2 different-input runs")
    ap.add_argument("--traces", type=int, help="traces per workload, built into one policy (default 2; quick 1)")
    ap.add_argument("--runs", type=int, help="same-input runs in kill mode (default 20; quick 3)")
    ap.add_argument("--diff-runs", type=int, help="different-input runs in kill mode (default 5; quick 2)")
    ap.add_argument("--learn", action="store_true",
                    help="then run each different input once in log mode with `run --learn`, rebuild the policy "
                         "with the learned traces and redo the different-input runs in kill mode under it")
    ap.add_argument("--only", help="comma-separated workload names: " + ",".join(w.name for w in WORKLOADS))
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (traces, policies, logs, inputs)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per plain run (trace x3, run x2)")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results as JSON")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    args.traces = args.traces or (1 if args.quick else 2)
    args.runs = args.runs if args.runs is not None else (3 if args.quick else 20)
    args.diff_runs = args.diff_runs if args.diff_runs is not None else (2 if args.quick else 5)

    if os.geteuid() != 0:
        print("acceptance.py: needs root (secimport loads BPF programs)", file=sys.stderr)
        return 2
    if not os.access(args.secimport, os.X_OK):
        print(f"acceptance.py: no secimport binary at {args.secimport} (cargo build --release -p secimport)",
              file=sys.stderr)
        return 2
    args.secimport = os.path.abspath(args.secimport)
    selected = WORKLOADS
    if args.only:
        names = args.only.split(",")
        unknown = [n for n in names if n not in {w.name for w in WORKLOADS}]
        if unknown:
            print(f"acceptance.py: unknown workload(s) {unknown}", file=sys.stderr)
            return 2
        selected = [w for w in WORKLOADS if w.name in names]

    if args.keep:
        work = Path(args.keep).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="secimport-accept."))
    os.chmod(work, 0o700)  # secimport refuses logs in a directory others can write
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_CACHE_DIR=str(work / "pip-cache"),
               PYTHONUNBUFFERED="1")
    ctx = Ctx(work, args.python, Path(args.venv), env)
    log(f"secimport {args.secimport}; work dir {work}; {args.traces} trace(s), {args.runs} same-input and "
        f"{args.diff_runs} different-input runs per workload" + (", then learned and rerun" if args.learn else ""))

    results = []
    try:
        for w in selected:
            log(f"== {w.name}: {w.description}")
            results.append(do_workload(w, ctx, args, work / "results"))
    finally:
        if results:
            report(results)
            if args.json:
                Path(args.json).write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    if any(r.error for r in results):
        return 2
    bad = any(x.violations or x.rc != 0 for r in results for x in r.of("same"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
