//! The tree never runs unsupervised: leftovers are killed when the program
//! exits, and the whole tree dies when the supervisor dies. Root + BPF.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Case, Interp};

fn alive(pid: i32) -> bool {
    secimport_engine::launcher::is_running(pid as u32)
}

fn wait_for_file(path: &Path, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.is_empty() {
                return s;
            }
        }
        assert!(
            start.elapsed() < timeout,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_dead(pid: i32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn leftover_children_are_killed_when_the_program_exits() {
    let case = Case::new(Interp::PyenvShared);
    let pidfile = case.path("child.pid");
    let traced = case.trace("orphan_child.py", &[pidfile.to_str().unwrap(), "0"], &[]);
    traced.assert_sane(0);
    let child: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_dead(child, Duration::from_secs(5)),
        "the orphaned child {child} is still running after secimport returned"
    );
}

#[test]
fn the_whole_tree_dies_with_the_supervisor() {
    let case = Case::new(Interp::PyenvShared);
    let pidfile = case.path("child.pid");
    let mut sup = Command::new(common::secimport_bin())
        .current_dir(case.dir())
        .args(["trace", "-o"])
        .arg(case.path("t.json"))
        .arg("--python")
        .arg(case.python())
        .arg("--entrypoint")
        .arg(common::program("orphan_child.py"))
        .arg("--")
        .arg(&pidfile)
        .arg("60")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child: i32 = wait_for_file(&pidfile, Duration::from_secs(20))
        .trim()
        .parse()
        .unwrap();
    // Wait until the grandchild sleeps: it will make no syscall the kernel
    // side could catch, so only an explicit kill of the tree stops it.
    wait_for_file(&case.path("child.pid.ready"), Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        alive(child),
        "the grandchild should be running while supervised"
    );
    sup.kill().unwrap(); // SIGKILL: no chance to clean up in user space
    sup.wait().unwrap();
    assert!(
        wait_dead(child, Duration::from_secs(5)),
        "grandchild {child} survived its supervisor: it would now run unsandboxed"
    );
}

#[test]
fn run_attached_to_a_running_process_stops_its_shell() {
    use std::io::{BufRead, BufReader};

    let case = Case::new(Interp::PyenvShared);
    let trigger = case.path("go");
    let trigger_arg = trigger.to_str().unwrap();
    // Learn the program's behaviour while it is not told to start a shell.
    let traced = case.trace("waits_then_shells.py", &[trigger_arg, "0.3"], &[]);
    traced.assert_sane(0);
    case.secimport(&[
        "build",
        "--trace",
        case.trace_path().to_str().unwrap(),
        "-o",
        "policy.yaml",
    ])
    .assert_code(0);

    let mut program = Command::new(case.python())
        .arg(common::program("waits_then_shells.py"))
        .arg(&trigger)
        .arg("30")
        .spawn()
        .unwrap();
    let mut sup = Command::new(common::secimport_bin())
        .current_dir(case.dir())
        .args([
            "run",
            "--kill-on-violation",
            "--policy",
            "policy.yaml",
            "--log-file",
            "v.jsonl",
            "--pid",
        ])
        .arg(program.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once it says it is running, the process is followed.
    let mut stderr = BufReader::new(sup.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("secimport run --pid ended before attaching:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("running (kill mode)") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&trigger, "").unwrap();
    let status = program.wait().unwrap();
    let sup_status = sup.wait().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    assert_eq!(
        status.code(),
        None,
        "the program should have been killed:\n{seen}"
    );
    assert_eq!(sup_status.code(), Some(1), "violations exit 1:\n{seen}");
    assert!(seen.contains("VIOLATION (KILLED)"), "{seen}");
    assert!(
        !Path::new(&format!("{trigger_arg}.pwned")).exists(),
        "the shell ran:\n{seen}"
    );
    let log = std::fs::read_to_string(case.path("v.jsonl")).unwrap();
    assert!(
        log.contains("waits_then_shells.py"),
        "the log has the stack:\n{log}"
    );
}
