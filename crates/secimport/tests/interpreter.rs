//! secimport never executes anything to identify an interpreter (issue #12,
//! item 1): a script given as `--python` is refused with exit 2 and never
//! run; unsupported versions are refused from their ELF before anything runs;
//! `run --pid` identifies the process by /proc/PID/exe and its maps, and never
//! runs the `argv[0]` the process chose (`exec -a ./fakepy python3.11`).

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Case, Interp};

/// A minimal policy that allows everything (these tests are about what runs
/// before the sandbox, not about enforcement).
const POLICY: &str =
    "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata:\n  name: discovery\n\
                      spec:\n  mode: log\n  unknown: allow\n  base: []\n";

/// A shell script that leaves `marker` when run, whatever its arguments.
fn marker_script(path: &Path, marker: &Path) {
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\n: > '{}'\necho 'Python 3.11.7'\nexec /bin/sleep 30\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn assert_not_run(marker: &Path, what: &str) {
    // Give anything that was started (it should not have been) time to run.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !marker.exists(),
        "{} exists: {what} was executed",
        marker.display()
    );
}

#[test]
fn a_script_given_as_the_interpreter_is_refused_and_never_run() {
    let case = Case::without_interpreter();
    let marker = case.path("script-ran");
    let fake = case.path("x");
    marker_script(&fake, &marker);
    std::fs::write(case.path("p.yaml"), POLICY).unwrap();
    let program = common::program("exit_status.py");
    let forms: [Vec<&OsStr>; 3] = [
        vec![
            "trace".as_ref(),
            "--python".as_ref(),
            fake.as_os_str(),
            "--entrypoint".as_ref(),
            program.as_os_str(),
        ],
        vec![
            "trace".as_ref(),
            "--".as_ref(),
            fake.as_os_str(),
            program.as_os_str(),
        ],
        vec![
            "run".as_ref(),
            "--policy".as_ref(),
            "p.yaml".as_ref(),
            "--python".as_ref(),
            fake.as_os_str(),
            "--entrypoint".as_ref(),
            program.as_os_str(),
        ],
    ];
    for args in forms {
        let out = case.secimport(&args);
        out.assert_code(2);
        out.assert_stderr_mentions(&fake.display().to_string());
        out.assert_stderr_mentions("script");
        out.assert_stderr_mentions("--python");
        assert_not_run(&marker, "the script given as the interpreter");
        assert!(
            !case.path("trace.json").exists(),
            "a trace was written\n{}",
            out.describe()
        );
    }
}

#[test]
fn unsupported_versions_exit_2_before_anything_runs() {
    let case = Case::without_interpreter();
    let program = common::program("exit_status.py");
    let versions = Path::new("/root/.pyenv/versions");
    let mut tried = 0;
    for (dir, exe, version) in [
        ("2.7.18", "python2.7", "2.7"),
        ("3.6.15", "python3.6", "3.6"),
        ("3.7.16", "python3.7", "3.7"),
    ] {
        let python = versions.join(dir).join("bin").join(exe);
        if !python.is_file() {
            continue;
        }
        tried += 1;
        let out = case.secimport(&[
            "trace".as_ref(),
            "--python".as_ref(),
            python.as_os_str(),
            "--entrypoint".as_ref(),
            program.as_os_str(),
        ]);
        out.assert_code(2);
        out.assert_stderr_mentions(&format!("CPython {version}"));
        out.assert_stderr_mentions("not supported");
        out.assert_stderr_mentions(&python.display().to_string());
        assert!(
            !case.path("trace.json").exists(),
            "the program ran\n{}",
            out.describe()
        );
    }
    assert!(
        tried == 3,
        "pyenv's 2.7.18, 3.6.15 and 3.7.16 are expected under {}",
        versions.display()
    );
}

/// A running process and the `secimport run --pid` attached to it.
struct Attached {
    target: Child,
    secimport: Option<Child>,
    /// secimport's stderr so far (a thread reads it).
    stderr: Arc<Mutex<String>>,
}

impl Attached {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.target.kill();
        let _ = self.target.wait();
        if let Some(s) = &mut self.secimport {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

/// Starts `shell` (which execs the interpreter under a false name) in the
/// case directory with `path` as its PATH, waits until it runs `python`,
/// then attaches `secimport run --pid` and waits until it runs.
fn attach(case: &Case, shell: &str, path: &str, python: &Path) -> Attached {
    let target = Command::new("/bin/bash")
        .args(["-c", shell])
        .current_dir(case.dir())
        .env_clear()
        .env("PATH", path)
        .env("HOME", case.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = target.id();
    let want = python.canonicalize().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(format!("/proc/{pid}/exe")).ok().as_ref() != Some(&want) {
        assert!(
            Instant::now() < deadline,
            "{shell} did not exec {}",
            want.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut attached = Attached {
        target,
        secimport: None,
        stderr: Arc::default(),
    };
    std::fs::write(case.path("p.yaml"), POLICY).unwrap();
    let mut sup = Command::new(common::secimport_bin())
        .current_dir(case.dir())
        .args([
            "run",
            "--policy",
            "p.yaml",
            "--log-file",
            "v.jsonl",
            "--pid",
        ])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(sup.stderr.take().unwrap());
    attached.secimport = Some(sup);
    let sink = Arc::clone(&attached.stderr);
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !attached.stderr().contains("running (") {
        if let Some(status) = attached.secimport.as_mut().unwrap().try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "secimport run --pid {pid} ended ({status}) before attaching:\n{}",
                attached.stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "secimport run --pid {pid} did not attach:\n{}",
            attached.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    attached
}

fn check_disguised(interp: Interp, argv0: &str, runtime: &str) {
    let case = Case::new(interp);
    let python = case.python().to_path_buf();
    let marker = case.path("fake-ran");
    // The name the process gives itself, in its working directory and first
    // on its PATH: a script that leaves a marker.
    let fakes = case.path("bin");
    std::fs::create_dir(&fakes).unwrap();
    marker_script(&case.path("fakepy"), &marker);
    marker_script(&fakes.join("python3"), &marker);
    let path = format!("{}:/usr/bin:/bin", fakes.display());
    let shell = format!(
        "exec -a {argv0} {} -c 'import time; time.sleep(30)'",
        python.display()
    );
    let mut attached = attach(&case, &shell, &path, &python);
    let stderr = attached.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("running ("))
        .unwrap()
        .to_string();
    assert!(
        line.contains("CPython 3.11") && line.contains(runtime),
        "secimport did not identify {} by /proc/PID/exe: {line}",
        python.display()
    );
    // The program runs on under secimport; then it ends.
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = attached.secimport.as_mut().unwrap().try_wait().unwrap() {
        std::thread::sleep(Duration::from_millis(100));
        panic!("secimport stopped ({status}):\n{}", attached.stderr());
    }
    drop(attached);
    assert_not_run(&marker, &format!("the target's argv[0] ({argv0})"));
}

#[test]
fn run_pid_of_a_disguised_debian_interpreter_never_runs_its_argv0() {
    check_disguised(
        Interp::DebianStatic,
        "./fakepy",
        "runtime in /usr/bin/python3.11",
    );
}

#[test]
fn run_pid_of_a_disguised_pyenv_interpreter_never_runs_its_argv0() {
    check_disguised(Interp::PyenvShared, "./fakepy", "libpython3.11.so");
}

#[test]
fn run_pid_never_runs_a_bare_argv0_found_on_the_targets_path() {
    check_disguised(
        Interp::DebianStatic,
        "python3",
        "runtime in /usr/bin/python3.11",
    );
}
