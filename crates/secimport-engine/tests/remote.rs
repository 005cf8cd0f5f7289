//! The remote stack reader against real interpreters: pyenv's 3.8-3.13
//! (shared libpython) and Debian's static 3.11 run
//! `tests/programs/remote_target.py`, whose threads block in known stacks
//! (nested calls, a `threading` thread, `_thread` recursions 3, 30 and 1000
//! deep, a subinterpreter running on a thread) and print them as CPython
//! sees them; every stack read from outside must be exactly that, innermost
//! first. Runs as root (reading another process's memory).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secimport_engine::python;
use secimport_engine::remote::{filename_from_key, RemoteError, RemoteProcess};

const PYENV: &str = "/root/.pyenv/versions";
const DEBIAN_311: &str = "/usr/bin/python3.11";

fn pyenv(version: &str) -> PathBuf {
    let minor: Vec<&str> = version.split('.').take(2).collect();
    let p = PathBuf::from(format!("{PYENV}/{version}/bin/python{}", minor.join(".")));
    assert!(
        p.is_file(),
        "{} is missing: install it with `PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {version}`",
        p.display()
    );
    p
}

fn debian_311() -> PathBuf {
    let p = PathBuf::from(DEBIAN_311);
    assert!(
        p.is_file(),
        "{DEBIAN_311} is missing: apt-get install python3.11"
    );
    p
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/programs/remote_target.py")
        .canonicalize()
        .unwrap()
}

/// (file, function, line)
type Frame = (String, String, u32);

struct Thread {
    tid: u32,
    frames: Vec<Frame>,
}

/// A running remote_target.py, killed when dropped.
struct Target {
    child: Child,
    pid: u32,
    threads: BTreeMap<String, Thread>,
    /// Its other lines: those printed before READY, then the rest.
    early: Vec<String>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Syscalls the target's threads block in: read, poll, select, nanosleep,
/// clock_nanosleep, pselect6.
const BLOCKING: &[u32] = &[0, 7, 23, 35, 230, 270];

fn start(python: &Path, script: &Path, args: &[&str]) -> Target {
    start_env(python, script, args, &[])
}

fn start_env(python: &Path, script: &Path, args: &[&str], env: &[(&str, &Path)]) -> Target {
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Killed when dropped, should anything below fail.
    let mut target = Target {
        child,
        pid,
        threads: BTreeMap::new(),
        early: Vec::new(),
        lines: rx,
    };
    let ready = loop {
        let line = target
            .lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{}: no READY line: {e}", python.display()));
        if let Some(json) = line.strip_prefix("READY ") {
            break serde_json::from_str::<serde_json::Value>(json).unwrap();
        }
        target.early.push(line);
    };
    assert_eq!(ready["pid"].as_u64(), Some(u64::from(pid)));
    for (name, t) in ready["threads"].as_object().unwrap() {
        target.threads.insert(name.clone(), thread_of(t));
    }
    // Each thread printed its stack just before blocking: wait until it has.
    for (name, t) in &target.threads {
        wait_blocked(pid, t.tid, name);
    }
    target
}

fn thread_of(t: &serde_json::Value) -> Thread {
    let frames = t["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f[0].as_str().unwrap().to_string(),
                f[1].as_str().unwrap().to_string(),
                f[2].as_u64().unwrap() as u32,
            )
        })
        .collect();
    let tid = t["tid"].as_u64().unwrap() as u32;
    Thread { tid, frames }
}

fn wait_blocked(pid: u32, tid: u32, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let path = format!("/proc/{pid}/task/{tid}/syscall");
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let nr = text.split(' ').next().and_then(|n| n.parse::<u32>().ok());
        if nr.is_some_and(|n| BLOCKING.contains(&n)) {
            return;
        }
        assert!(Instant::now() < deadline, "{name}: not blocked ({text})");
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Target {
    /// The stepper's next stack (after sending it `n`, if any).
    fn step(&mut self, n: Option<usize>) -> Thread {
        use std::io::Write;
        if let Some(n) = n {
            let stdin = self.child.stdin.as_mut().unwrap();
            writeln!(stdin, "{n}").unwrap();
            stdin.flush().unwrap();
        }
        loop {
            let line = if self.early.is_empty() {
                self.lines.recv_timeout(Duration::from_secs(30)).unwrap()
            } else {
                self.early.remove(0)
            };
            if let Some(json) = line.strip_prefix("STEP ") {
                let t = thread_of(&serde_json::from_str(json).unwrap());
                wait_blocked(self.pid, t.tid, "stepper");
                return t;
            }
        }
    }
}

/// A file name as the kernel keys it: ASCII as is, otherwise CPython's
/// code-unit width and the code units.
fn kernel_key(name: &str) -> Vec<u8> {
    if name.is_ascii() {
        return name.as_bytes()[..name.len().min(255)].to_vec();
    }
    let widest = name.chars().map(|c| c as u32).max().unwrap_or(0);
    let kind: usize = match widest {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        _ => 4,
    };
    let mut out = vec![kind as u8];
    for c in name.chars() {
        out.extend_from_slice(&(c as u32).to_le_bytes()[..kind]);
    }
    out.truncate(255);
    out
}

fn frames_of(s: &secimport_engine::remote::RemoteStack) -> Vec<Frame> {
    s.frames
        .iter()
        .map(|f| (f.file.clone(), f.function.clone(), f.line.unwrap_or(0)))
        .collect()
}

/// The whole stack of one thread, twice (the second from the caches), and
/// cut one frame short.
fn check_thread(label: &str, p: &RemoteProcess, target: &Target, name: &str) {
    let t = &target.threads[name];
    let first = p
        .stack(t.tid, 4096)
        .unwrap_or_else(|e| panic!("{label} {name}: {e}"));
    assert_eq!(frames_of(&first), t.frames, "{label} {name}");
    assert!(!first.truncated, "{label} {name}");
    for f in &first.frames {
        assert_eq!(f.filename, kernel_key(&f.file), "{label} {name}");
        assert_eq!(filename_from_key(&f.filename), f.file, "{label} {name}");
        assert_ne!(f.code, 0);
    }
    let again = p.stack(t.tid, 4096).unwrap();
    assert_eq!(
        again.frames, first.frames,
        "{label} {name}: from the caches"
    );
    assert!(
        again.reads <= first.reads,
        "{label} {name}: {} reads, then {}",
        first.reads,
        again.reads
    );
    let n = t.frames.len();
    let exact = p.stack(t.tid, n).unwrap();
    assert!(!exact.truncated, "{label} {name}: {n} frames fit in {n}");
    let short = p.stack(t.tid, n - 1).unwrap();
    assert!(short.truncated, "{label} {name}");
    assert_eq!(short.frames[..], first.frames[..n - 1], "{label} {name}");
    eprintln!(
        "{label} {name}: {n} frames, {} reads cold, {} warm",
        first.reads, again.reads
    );
}

fn check_interpreter(python: &Path) {
    let label = python.display().to_string();
    let interp = python::discover(&label).unwrap();
    let target = start(python, &script(), &["1000", "sub"]);
    let p = RemoteProcess::attach(target.pid, &interp).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(p.pid(), target.pid);
    for name in ["main", "thread", "sub"] {
        if target.threads.contains_key(name) {
            check_thread(&label, &p, &target, name);
        }
    }
    assert!(
        target.threads.contains_key("sub"),
        "{label}: no subinterpreter"
    );
    let script = script().display().to_string();
    let main = &target.threads["main"].frames;
    let names: Vec<&str> = main.iter().take(3).map(|f| f.1.as_str()).collect();
    assert_eq!(names, ["inner", "middle", "outer"], "{label}");
    assert!(main.iter().take(3).all(|f| f.0 == script));

    // 1000 frames: the innermost 64, then all of them.
    let deep = &target.threads["deep1000"];
    assert_eq!(deep.frames.len(), 1001);
    let s = p.stack(deep.tid, 64).unwrap();
    assert!(s.truncated, "{label}");
    assert_eq!(frames_of(&s), deep.frames[..64], "{label}");
    assert!(s.frames.iter().all(|f| f.function == "deep"));
    let all = p.stack(deep.tid, 100_000).unwrap();
    assert!(!all.truncated, "{label}");
    assert_eq!(frames_of(&all), deep.frames, "{label}");
    eprintln!(
        "{label}: 64 of 1001 frames in {} reads, all in {}",
        s.reads, all.reads
    );

    // A thread that is not the target's, and one that does not exist.
    for tid in [std::process::id(), 0x3fff_fff0] {
        assert_eq!(
            p.stack(tid, 64),
            Err(RemoteError::NoThreadState(tid)),
            "{label}"
        );
    }
}

#[test]
fn pyenv_38() {
    check_interpreter(&pyenv("3.8.18"));
}

#[test]
fn pyenv_39() {
    check_interpreter(&pyenv("3.9.18"));
}

#[test]
fn pyenv_310() {
    check_interpreter(&pyenv("3.10.13"));
}

#[test]
fn pyenv_311() {
    check_interpreter(&pyenv("3.11.7"));
}

#[test]
fn pyenv_312() {
    check_interpreter(&pyenv("3.12.1"));
}

#[test]
fn pyenv_313() {
    check_interpreter(&pyenv("3.13.0"));
}

#[test]
fn debian_static_311() {
    check_interpreter(&debian_311());
}

/// A thread whose stack changes between reads (other depths, other code
/// objects in the same frame slots, a new thread each time changing the
/// thread list): every read is the current stack, whatever was cached.
#[test]
fn changing_stacks() {
    let mut pythons: Vec<PathBuf> = ["3.8.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0"]
        .iter()
        .map(|v| pyenv(v))
        .collect();
    pythons.push(debian_311());
    for python in pythons {
        let label = python.display().to_string();
        let interp = python::discover(&label).unwrap();
        let mut target = start(&python, &script(), &["stepper"]);
        let p = RemoteProcess::attach(target.pid, &interp).unwrap();
        let mut t = target.step(None);
        let mut reads = Vec::new();
        for n in [5, 2, 40, 1, 1, 17, 0, 300, 3, 3] {
            let before = p.stack(t.tid, 4096).unwrap();
            assert_eq!(frames_of(&before), t.frames, "{label}");
            let short = p.stack(t.tid, 8).unwrap();
            assert_eq!(
                frames_of(&short),
                t.frames[..8.min(t.frames.len())],
                "{label}"
            );
            t = target.step(Some(n));
            let s = p.stack(t.tid, 4096).unwrap();
            assert_eq!(frames_of(&s), t.frames, "{label} after {n}");
            assert!(!s.truncated);
            reads.push(s.reads);
        }
        eprintln!("{label}: reads of each new stack: {reads:?}");
    }
}

/// File names in every code-unit width are keyed as the kernel keys them.
#[test]
fn non_ascii_file_names() {
    let dir = std::env::temp_dir().join(format!("secimport-remote-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (version, name) in [
        ("3.8.18", "caf\u{e9}_target.py"),
        ("3.12.1", "\u{444}\u{430}\u{439}\u{43b}.py"),
        ("3.13.0", "\u{1f40d}.py"),
    ] {
        let sub = dir.join(version);
        std::fs::create_dir_all(&sub).unwrap();
        let copy = sub.join(name);
        std::fs::copy(script(), &copy).unwrap();
        let python = pyenv(version);
        let interp = python::discover(&python.display().to_string()).unwrap();
        let target = start(&python, &copy, &[]);
        let p = RemoteProcess::attach(target.pid, &interp).unwrap();
        let t = &target.threads["main"];
        let s = p.stack(t.tid, 64).unwrap();
        assert_eq!(frames_of(&s), t.frames, "{version}");
        let f = &s.frames[0];
        assert_eq!(f.file, copy.display().to_string());
        assert_eq!(f.filename, kernel_key(&f.file), "{version}");
        assert!(matches!(f.filename[0], 1 | 2 | 4), "{version}");
        assert_eq!(filename_from_key(&f.filename), f.file);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The runtime is found by the mapped file's identity, not its path: here
/// libpython is mapped under another name (a hard link), as a chroot would.
#[test]
fn runtime_found_by_inode_not_path() {
    let dir = std::env::temp_dir().join(format!("secimport-remote-lib-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let python = pyenv("3.12.1");
    let interp = python::discover(&python.display().to_string()).unwrap();
    let link = dir.join("libpython3.12.so.1.0");
    std::fs::hard_link(&interp.runtime_elf, &link).unwrap();
    // The link first on the library path (before the binary's RUNPATH).
    let mut target = start_env(&python, &script(), &[], &[("LD_LIBRARY_PATH", &dir)]);
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", target.pid)).unwrap();
    assert!(maps.contains(&link.display().to_string()), "{maps}");
    assert!(!maps.contains(&interp.runtime_elf.display().to_string()));
    let p = RemoteProcess::attach(target.pid, &interp).unwrap();
    let t = &target.threads["main"];
    assert_eq!(frames_of(&p.stack(t.tid, 64).unwrap()), t.frames);
    let _ = target.child.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Not Python, another Python, no process: said so.
#[test]
fn attach_refuses() {
    let interp = python::discover(&pyenv("3.12.1").display().to_string()).unwrap();
    let mut sleep = Command::new("sleep").arg("60").spawn().unwrap();
    let e = RemoteProcess::attach(sleep.id(), &interp).unwrap_err();
    assert!(matches!(e, RemoteError::NotPython { .. }), "{e}");
    let _ = sleep.kill();
    let _ = sleep.wait();
    let e = RemoteProcess::attach(sleep.id(), &interp).unwrap_err();
    assert_eq!(e, RemoteError::NoProcess(sleep.id()), "{e}");

    let other = python::discover(DEBIAN_311).unwrap();
    let target = start(&pyenv("3.12.1"), &script(), &[]);
    let e = RemoteProcess::attach(target.pid, &other).unwrap_err();
    assert!(matches!(e, RemoteError::NotPython { .. }), "{e}");
    assert!(e.to_string().contains("python3.11"), "{e}");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// What one stack costs, at 3 and 30 frames (printed, not asserted).
#[test]
fn cost_per_stack() {
    for version in ["3.8.18", "3.12.1"] {
        let python = pyenv(version);
        let interp = python::discover(&python.display().to_string()).unwrap();
        let target = start(&python, &script(), &["2", "29"]);
        for (name, depth) in [("deep2", 3), ("deep29", 30)] {
            let t = &target.threads[name];
            assert_eq!(t.frames.len(), depth);
            // Cold: a fresh attach, nothing cached.
            let p = RemoteProcess::attach(target.pid, &interp).unwrap();
            let at = Instant::now();
            let cold = p.stack(t.tid, 64).unwrap();
            let cold_time = at.elapsed();
            assert_eq!(frames_of(&cold), t.frames);
            let mut times = Vec::with_capacity(1000);
            let mut reads = 0;
            for _ in 0..1000 {
                let at = Instant::now();
                let s = p.stack(t.tid, 64).unwrap();
                times.push(at.elapsed());
                reads = s.reads;
                assert_eq!(s.frames.len(), depth);
            }
            println!(
                "CPython {version}, {depth} frames: median {:?} per stack ({reads} process_vm_readv), \
                 cold {cold_time:?} ({} process_vm_readv)",
                median(times),
                cold.reads
            );
        }
    }
}
