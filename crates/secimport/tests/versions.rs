//! Every supported CPython (#8) the way users start it: from a virtual
//! environment, with `-m` and with `-c`; then the policy learned from both
//! kills a shell in kill mode, with the Python stack at the right lines, both
//! when secimport starts the program and when it attaches with `--pid`.

#[macro_use]
mod common;

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Case, Interp};
use secimport_policy::trace::Trace;

/// `pkgx.work.go()`: one `getppid`; with a file `attack` in the working
/// directory, also a shell. Its line numbers are asserted below.
const WORK: &str = r#"import os


def go():
    os.getppid()
    if os.path.exists("attack"):
        os.system("true")
"#;
const SYSTEM_LINE: u32 = 7;

/// `-c` code: waits for a file `go` (so secimport can attach first), then
/// runs the package's work.
const WAIT_THEN_GO: &str = r#"import os, time
deadline = time.time() + 30
while not os.path.exists("go") and time.time() < deadline:
    time.sleep(0.01)
import pkgx.work
pkgx.work.go()
"#;

/// A venv of the case's interpreter (made inside its chroot if it has one)
/// and the package `pkgx` in the case directory (secimport's working
/// directory, so `-m` and `-c` find it through `sys.path[0]`).
fn setup(case: &Case) -> PathBuf {
    let venv = case.path("venv");
    let out = case
        .interp()
        .command(case.python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .expect("run python -m venv");
    assert!(
        out.status.success(),
        "[{}] python -m venv failed: {}",
        case.interp().label(),
        String::from_utf8_lossy(&out.stderr)
    );
    let pkg = case.path("pkgx");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    std::fs::write(pkg.join("work.py"), WORK).unwrap();
    std::fs::write(
        pkg.join("__main__.py"),
        "from pkgx import work\n\nwork.go()\n",
    )
    .unwrap();
    venv.join("bin/python")
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    list.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// The stack line of `pkgx/work.py` at `line` in `go`, as reports print it.
fn work_frame(case: &Case, line: u32) -> String {
    format!(
        "{}:{line} in go  [pkgx.work]",
        case.path("pkgx/work.py").display()
    )
}

fn venv_m_and_c(interp: Interp) {
    let case = Case::new(interp);
    let label = interp.label();
    let python = setup(&case);
    let trace = case.trace_path();

    // Learn from `-m pkgx` and `-c ...` (appended to one trace).
    let m = case.secimport(&args(&[
        &"trace", &"-o", &trace, &"--", &python, &"-m", &"pkgx",
    ]));
    assert_eq!(
        m.status.code(),
        Some(0),
        "[{label}] trace -m\n{}",
        m.describe()
    );
    let c = case.secimport(&args(&[
        &"trace",
        &"--append",
        &"-o",
        &trace,
        &"--",
        &python,
        &"-c",
        &"import pkgx.work as w; w.go()",
    ]));
    assert_eq!(
        c.status.code(),
        Some(0),
        "[{label}] trace -c\n{}",
        c.describe()
    );
    let t = Trace::load(&trace).unwrap();
    assert_eq!(
        Path::new(&t.interpreter.executable),
        python,
        "[{label}] the venv's python is the interpreter"
    );
    let (major, minor) = interp.version();
    assert!(
        t.interpreter
            .version
            .starts_with(&format!("{major}.{minor}")),
        "[{label}] version {}",
        t.interpreter.version
    );
    let work = t.modules.get("pkgx.work").unwrap_or_else(|| {
        panic!(
            "[{label}] pkgx.work is not in the trace: {:?}",
            t.modules.keys()
        )
    });
    assert!(
        work.syscalls.contains_key("getppid"),
        "[{label}] getppid is charged to pkgx.work: {:?}",
        work.syscalls
    );
    let policy = case.build_policy(&[]);

    // The same program with the shell: killed before it runs, in both forms.
    std::fs::write(case.path("attack"), "").unwrap();
    for how in [
        vec!["-m", "pkgx"],
        vec!["-c", "import pkgx.work as w; w.go()"],
    ] {
        let mut argv = args(&[
            &"run",
            &"--policy",
            &policy,
            &"--mode",
            &"kill",
            &"--",
            &python,
        ]);
        argv.extend(how.iter().map(OsString::from));
        let out = case.secimport(&argv);
        // `run` exits 1 when there were violations; the program was killed.
        assert_eq!(
            out.status.code(),
            Some(1),
            "[{label}] {how:?} must be killed\n{}",
            out.describe()
        );
        out.assert_stderr_mentions("VIOLATION (KILLED)");
        out.assert_stderr_mentions("program exited with status 137");
        out.assert_stderr_mentions(&work_frame(&case, SYSTEM_LINE));
        if how[0] == "-c" {
            out.assert_stderr_mentions("<string>:1 in <module>");
        } else {
            out.assert_stderr_mentions(&format!(
                "{}:3 in <module>  [pkgx.__main__]",
                case.path("pkgx/__main__.py").display()
            ));
        }
    }
}

/// A program already running (from the venv, `-c`) is attached with
/// `run --pid` and killed at its shell.
fn attach_pid(interp: Interp) {
    let case = Case::new(interp);
    let label = interp.label();
    let python = setup(&case);
    let trace = case.trace_path();
    // Learned from the same program, its `go` there from the start.
    std::fs::write(case.path("go"), "").unwrap();
    let learn = case.secimport(&args(&[
        &"trace",
        &"-o",
        &trace,
        &"--",
        &python,
        &"-c",
        &WAIT_THEN_GO,
    ]));
    assert_eq!(
        learn.status.code(),
        Some(0),
        "[{label}] trace\n{}",
        learn.describe()
    );
    let policy = case.build_policy(&[]);
    std::fs::remove_file(case.path("go")).unwrap();
    std::fs::write(case.path("attack"), "").unwrap();

    let mut target = case
        .interp()
        .command(&python)
        .args(["-c", WAIT_THEN_GO])
        .current_dir(case.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = target.id();
    // Wait until it is the interpreter (not yet the wrapper that execs it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|e| e.to_string_lossy().contains("python"))
        .unwrap_or(false)
    {
        assert!(
            Instant::now() < deadline,
            "[{label}] the target never ran python"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // In a chroot, secimport joins the target's mount namespace and root
    // (as one attaches to a process in a container): paths are the ones it
    // sees.
    let mut sup = match interp.chroot() {
        Some(_) => {
            let mut c = std::process::Command::new("nsenter");
            c.args([
                "--target",
                &pid.to_string(),
                "--mount",
                "--root",
                "--wd",
                "--",
            ])
            .arg(common::secimport_bin());
            c
        }
        None => std::process::Command::new(common::secimport_bin()),
    };
    let mut sup = sup
        .args(["run", "--mode", "kill", "--policy"])
        .arg(&policy)
        .arg("--pid")
        .arg(pid.to_string())
        .current_dir(case.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&stderr);
    let pipe = BufReader::new(sup.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        for line in pipe.lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stderr.lock().unwrap().contains("running (") {
        if sup.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = target.kill();
            let _ = reader.join();
            panic!(
                "[{label}] run --pid {pid} did not attach:\n{}",
                stderr.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(case.path("go"), "").unwrap();
    let status = wait(&mut target, Duration::from_secs(30));
    let _ = wait(&mut sup, Duration::from_secs(30));
    let _ = reader.join();
    let text = stderr.lock().unwrap().clone();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "[{label}] the target is killed ({status}):\n{text}"
    );
    assert!(text.contains("VIOLATION (KILLED)"), "[{label}]\n{text}");
    assert!(
        text.contains(&work_frame(&case, SYSTEM_LINE)),
        "[{label}]\n{text}"
    );
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

on_every_version!(venv_m_and_c, attach_pid);
