//! `secimport export --format oci-seccomp`: a real program traced, its policy built and exported as
//! an OCI runtime seccomp profile, then
//!
//! - the profile, embedded in a whole `config.json` under `linux.seccomp`, is checked against the
//!   OCI runtime-spec's own JSON Schema (Debian's `golang-github-opencontainers-specs-dev`, with
//!   Python's `jsonschema`; installed with apt when missing);
//! - the profile is loaded by a launcher of this file that reads the OCI JSON as runc does (the
//!   default action, the architectures, each rule's names, action and `args`), compiles it with
//!   libseccomp, loads it in the child and execs the program: the traced run prints the same and
//!   exits 0 (with a cold `__pycache__`, whose writes the profile leaves out); the same program
//!   running a shell (`os.system`) or opening a file for writing gets EPERM, and both work without
//!   the profile; with `--default-action kill` the shell kills the process with SIGSYS.
//!
//! Tracing loads BPF programs: these tests need root (CI runs them as root); they fail, never skip.

#[macro_use]
#[allow(unused_macros)]
mod common;

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Case, Interp};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde_json::Value;

const SCHEMA_DIR: &str = "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema";

/// The program and its worker copied into the case's directory (so that its `__pycache__` is
/// cold and the source tree is never written), with its input.
fn setup(case: &Case) -> PathBuf {
    let dir = case.dir();
    std::fs::create_dir_all(dir.join("helpers")).unwrap();
    for name in [
        "export_app.py",
        "helpers/__init__.py",
        "helpers/export_worker.py",
    ] {
        std::fs::copy(common::program(name), dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("data.json"), r#"{"a": [1, 2, 3], "b": "x"}"#).unwrap();
    dir.join("export_app.py")
}

/// Traces the benign run, builds the policy and exports it with `flags`; returns the profile's
/// path.
fn traced_profile(case: &Case, app: &Path, flags: &[&str]) -> PathBuf {
    let dir = case.dir().display().to_string();
    let mut argv: Vec<OsString> = vec!["trace".into(), "--python".into()];
    argv.push(case.python().into());
    argv.push("-o".into());
    argv.push(case.trace_path().into());
    argv.push("--entrypoint".into());
    argv.push(app.into());
    argv.extend(["--".into(), "benign".into(), dir.into()]);
    let traced = case.secimport(&argv);
    traced.assert_code(0);
    let policy = case.build_policy(&[]);
    let profile = case.path("profile.json");
    let mut argv: Vec<OsString> = vec!["export".into(), "--format".into(), "oci-seccomp".into()];
    argv.push(policy.into());
    argv.push("-o".into());
    argv.push(profile.clone().into());
    argv.extend(flags.iter().map(OsString::from));
    let out = case.secimport(&argv);
    out.assert_code(0);
    profile
}

/// A profile compiled to classic BPF by libseccomp, as an OCI runtime does it: unknown syscall
/// names are skipped (runc warns and goes on); returns the program and the names skipped.
fn compile_profile(profile: &Value) -> (Vec<libc::sock_filter>, Vec<String>) {
    let action = |name: &Value, errno: &Value| {
        ScmpAction::from_str(
            name.as_str().expect("an action is a string"),
            errno.as_i64().map(|e| e as i32),
        )
        .unwrap_or_else(|e| panic!("action {name}: {e}"))
    };
    let mut ctx = ScmpFilterContext::new(action(
        &profile["defaultAction"],
        &profile["defaultErrnoRet"],
    ))
    .unwrap();
    // The filter holds exactly the architectures listed (libseccomp starts with the native one).
    let listed: Vec<ScmpArch> = profile["architectures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect();
    for arch in &listed {
        ctx.add_arch(*arch).unwrap();
    }
    if !listed.contains(&ScmpArch::native()) {
        ctx.remove_arch(ScmpArch::native()).unwrap();
    }
    let mut skipped = Vec::new();
    for rule in profile["syscalls"].as_array().unwrap() {
        let act = action(&rule["action"], &rule["errnoRet"]);
        let conditions: Vec<ScmpArgCompare> = rule["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let index = a["index"].as_u64().unwrap() as u32;
                let value = a["value"].as_u64().unwrap();
                let two = a["valueTwo"].as_u64().unwrap_or(0);
                match a["op"].as_str().unwrap() {
                    "SCMP_CMP_MASKED_EQ" => {
                        ScmpArgCompare::new(index, ScmpCompareOp::MaskedEqual(value), two)
                    }
                    op => ScmpArgCompare::new(index, op.parse().unwrap(), value),
                }
            })
            .collect();
        for name in rule["names"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            match ScmpSyscall::from_name(name) {
                Ok(sys) => {
                    ctx.add_rule_conditional(act, sys, &conditions)
                        .unwrap_or_else(|e| panic!("{name} {conditions:?}: {e}"));
                }
                Err(_) => skipped.push(name.to_string()),
            }
        }
    }
    let mut file = tempfile::tempfile().unwrap();
    ctx.export_bpf(&mut file).unwrap();
    use std::io::{Read, Seek};
    file.rewind().unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    let program = bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    (program, skipped)
}

struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn describe(&self) -> String {
        format!(
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `python app MODE DIR`, under `filter` when given (loaded in the child just before the
/// exec: `PR_SET_NO_NEW_PRIVS`, then `seccomp(SECCOMP_SET_MODE_FILTER)`, as runc does).
fn launch(
    case: &Case,
    app: &Path,
    mode: &str,
    filter: Option<&[libc::sock_filter]>,
    bytecode: bool,
) -> Ran {
    let out = case.path(&format!("launch-{mode}.stdout"));
    let err = case.path(&format!("launch-{mode}.stderr"));
    let mut cmd = Command::new(case.python());
    cmd.arg(app)
        .arg(mode)
        .arg(case.dir())
        .current_dir(case.dir())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PYTHON") {
            cmd.env_remove(&key);
        }
    }
    if !bytecode {
        cmd.env("PYTHONDONTWRITEBYTECODE", "1");
    }
    if let Some(filter) = filter {
        let filter = filter.to_vec();
        // SAFETY: the closure only makes two syscalls on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                let prog = libc::sock_fprog {
                    len: filter.len() as u16,
                    filter: filter.as_ptr() as *mut libc::sock_filter,
                };
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::syscall(
                        libc::SYS_seccomp,
                        libc::SECCOMP_SET_MODE_FILTER,
                        0,
                        &prog as *const libc::sock_fprog,
                    ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("start the program");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{mode}: no exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

#[test]
fn the_profile_runs_the_traced_program_and_refuses_the_rest() {
    let case = Case::new(Interp::PyenvShared);
    let app = setup(&case);
    let profile_path = traced_profile(&case, &app, &[]);
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(&profile_path).unwrap())
        .expect("the profile is JSON");
    let (filter, skipped) = compile_profile(&profile);
    eprintln!(
        "profile: {} rules, {} BPF instructions; names libseccomp does not know: {skipped:?}",
        profile["syscalls"].as_array().unwrap().len(),
        filter.len()
    );

    // Without the profile: the program runs, and so do its shell and its write.
    let plain = launch(&case, &app, "benign", None, false);
    assert!(plain.status.success(), "{}", plain.describe());
    assert!(plain.stdout.starts_with("digest "), "{}", plain.describe());
    let shell = launch(&case, &app, "shell", None, false);
    assert!(shell.stdout.contains("shell-ran"), "{}", shell.describe());
    let write = launch(&case, &app, "write", None, false);
    assert!(
        write.stdout.contains("wrote out.txt"),
        "{}",
        write.describe()
    );
    std::fs::remove_file(case.path("out.txt")).unwrap();

    // Under it, with a cold __pycache__ (bytecode writing on): the same output, exit 0, and no
    // compiled module written (the import system's writes are refused, CPython goes on).
    let pycache = case.path("helpers/__pycache__");
    assert!(!pycache.exists());
    let ran = launch(&case, &app, "benign", Some(&filter), true);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.describe());
    assert_eq!(ran.stdout, plain.stdout, "{}", ran.describe());
    assert!(
        !pycache.exists(),
        "the profile let CPython write {}",
        pycache.display()
    );

    // A shell: the process clone gets EPERM, so no shell runs (glibc's system() says 127, "the
    // shell could not be started": 127 << 8).
    let ran = launch(&case, &app, "shell", Some(&filter), false);
    assert!(!ran.stdout.contains("shell-ran"), "{}", ran.describe());
    assert!(
        ran.stdout.contains("os.system returned 32512"),
        "{}",
        ran.describe()
    );
    // A file opened for writing: EPERM, nothing written.
    let ran = launch(&case, &app, "write", Some(&filter), false);
    assert_eq!(ran.status.code(), Some(3), "{}", ran.describe());
    assert!(
        ran.stdout.contains("write refused: 1"),
        "{}",
        ran.describe()
    );
    assert!(!case.path("out.txt").exists());

    // An architecture the profile does not list (the x32 ABI): libseccomp's bad-architecture
    // action (its default, SCMP_ACT_KILL_THREAD) kills the thread in the syscall, whatever the
    // default action: the syscall never returns. (The process's exit status then varies: both
    // SIGSYS and 0 were seen.)
    let plain_x32 = launch(&case, &app, "x32", None, false);
    assert!(
        plain_x32.stdout.contains("x32 getpid returned"),
        "{}",
        plain_x32.describe()
    );
    let ran = launch(&case, &app, "x32", Some(&filter), false);
    assert!(ran.stdout.starts_with("digest "), "{}", ran.describe());
    assert!(
        !ran.stdout.contains("x32 getpid returned"),
        "{}",
        ran.describe()
    );

    // --default-action kill: the benign run makes no syscall outside the profile (it would die);
    // the shell kills the process with SIGSYS.
    let killing = traced_profile(&case, &app, &["--default-action", "kill"]);
    let killing: Value = serde_json::from_str(&std::fs::read_to_string(killing).unwrap()).unwrap();
    assert_eq!(killing["defaultAction"], "SCMP_ACT_KILL_PROCESS");
    let (filter, _) = compile_profile(&killing);
    let ran = launch(&case, &app, "benign", Some(&filter), false);
    assert_eq!(ran.status.code(), Some(0), "{}", ran.describe());
    assert_eq!(ran.stdout, plain.stdout);
    let ran = launch(&case, &app, "shell", Some(&filter), false);
    assert_eq!(
        ran.status.signal(),
        Some(libc::SIGSYS),
        "{}",
        ran.describe()
    );
    assert!(!ran.stdout.contains("shell-ran"), "{}", ran.describe());
}

/// Installs Debian packages that are missing (the tests run as root).
fn ensure_packages(packages: &[&str]) {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return;
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .expect("run apt-get");
    assert!(status.success(), "apt-get install {missing:?} failed");
}

/// Validates `config` against the OCI runtime-spec's config schema; returns the validator's
/// error, if any.
fn oci_schema_errors(case: &Case, config: &Value, name: &str) -> Option<String> {
    let path = case.path(name);
    std::fs::write(&path, serde_json::to_string_pretty(config).unwrap()).unwrap();
    let script = r#"
import json, sys, jsonschema
d = sys.argv[1]
schema = json.load(open(d + "/config-schema.json"))
resolver = jsonschema.RefResolver(base_uri="file://" + d + "/", referrer=schema)
errors = list(jsonschema.Draft4Validator(schema, resolver=resolver).iter_errors(json.load(open(sys.argv[2]))))
for e in errors:
    print(list(e.absolute_path), e.message)
sys.exit(1 if errors else 0)
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script, SCHEMA_DIR])
        .arg(&path)
        .output()
        .expect("run python3");
    match out.status.code() {
        Some(0) => None,
        Some(1) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => panic!(
            "the validator failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn the_profile_is_valid_per_the_oci_runtime_spec_schema() {
    ensure_packages(&[
        "python3-jsonschema",
        "golang-github-opencontainers-specs-dev",
    ]);
    let case = Case::new(Interp::PyenvShared);
    let app = setup(&case);
    let mut config = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "process": {
            "cwd": "/",
            "args": ["/usr/bin/python3", "/app/export_app.py", "benign", "/app"],
            "user": {"uid": 0, "gid": 0},
            "noNewPrivileges": true
        },
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
    });
    for flags in [
        &[][..],
        &["--default-action", "kill"],
        &["--default-action", "log", "--pycache"],
    ] {
        let profile = traced_profile(&case, &app, flags);
        let profile: Value =
            serde_json::from_str(&std::fs::read_to_string(profile).unwrap()).unwrap();
        config["linux"]["seccomp"] = profile;
        if let Some(errors) = oci_schema_errors(&case, &config, "config.json") {
            panic!("export {flags:?}: config.json is not valid:\n{errors}");
        }
    }
    // The validator reaches linux.seccomp: a wrong action or operator is refused.
    let mut bad = config.clone();
    bad["linux"]["seccomp"]["syscalls"][0]["action"] = "SCMP_ACT_ALLOWED".into();
    let errors = oci_schema_errors(&case, &bad, "bad-action.json").expect("refused");
    assert!(errors.contains("SCMP_ACT_ALLOWED"), "{errors}");
    let mut bad = config;
    let rules = bad["linux"]["seccomp"]["syscalls"].as_array_mut().unwrap();
    let with_args = rules.iter_mut().find(|r| r.get("args").is_some()).unwrap();
    with_args["args"][0]["op"] = "SCMP_CMP_MASKED".into();
    let errors = oci_schema_errors(&case, &bad, "bad-op.json").expect("refused");
    assert!(errors.contains("SCMP_CMP_MASKED"), "{errors}");
}

#[test]
fn the_command_reports_bad_input_with_exit_2() {
    let case = Case::without_interpreter();
    let missing = case.path("nope.yaml");
    let out = case.secimport(&[
        OsString::from("export"),
        "--format".into(),
        "oci-seccomp".into(),
        missing.into(),
    ]);
    out.assert_code(2);
    out.assert_stderr_mentions("nope.yaml");

    let bad = case.path("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: t}\nspec:\n  base: [openat, exceve]\n",
    )
    .unwrap();
    let out = case.secimport(&[OsString::from("export"), bad.into()]);
    out.assert_code(2);
    out.assert_stderr_mentions("bad.yaml:5");

    let allow = case.path("allow.yaml");
    std::fs::write(
        &allow,
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: t}\nspec:\n  unknown: allow\n  base: [openat]\n",
    )
    .unwrap();
    let out = case.secimport(&[OsString::from("export"), allow.clone().into()]);
    out.assert_code(2);
    out.assert_stderr_mentions("unknown: base-only");

    // stdout and -o write the same profile; notes go to stderr.
    let good = case.path("good.yaml");
    std::fs::write(
        &good,
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {name: t}\nspec:\n  base: [openat]\n  modules:\n    app: [\"kill:other\"]\n",
    )
    .unwrap();
    let stdout = case.secimport(&[OsString::from("export"), good.clone().into()]);
    stdout.assert_code(0);
    stdout.assert_stderr_mentions("kill: allowed in every form");
    let file = case.path("out.json");
    let written = case.secimport(&[
        OsString::from("export"),
        good.into(),
        "-o".into(),
        file.clone().into(),
    ]);
    written.assert_code(0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stdout.stdout);
    let json: Value = serde_json::from_str(&stdout.stdout).unwrap();
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");

    let help = case.secimport(&["export", "--help"]);
    help.assert_code(0);
    assert!(
        help.stdout.contains("WHOLE-PROCESS UNION") && help.stdout.contains("--default-action")
    );
}

/// The repository's `scripts/`.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name)
}

/// Runs `runc run` on a bundle whose rootfs is the trixie chroot, the case's directory bound at
/// its own path, running `python3 export_app.py MODE DIR` under `profile` (none: no seccomp).
fn runc(case: &Case, rootfs: &Path, mode: &str, profile: Option<&Value>, tag: &str) -> Ran {
    let bundle = case.path(&format!("bundle-{tag}-{mode}"));
    std::fs::create_dir_all(&bundle).unwrap();
    let status = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .status()
        .expect("run runc spec");
    assert!(status.success());
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let dir = case.dir().display().to_string();
    config["root"] = serde_json::json!({"path": rootfs, "readonly": true});
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!([
        "/usr/bin/python3",
        format!("{dir}/export_app.py"),
        mode,
        dir
    ]);
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
    mounts.push(serde_json::json!({"destination": dir, "type": "bind", "source": dir, "options": ["rbind", "rw"]}));
    if let Some(profile) = profile {
        config["linux"]["seccomp"] = profile.clone();
    }
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let id = format!("secimport-export-{}-{tag}-{mode}", std::process::id());
    let out = case.path(&format!("runc-{tag}-{mode}.stdout"));
    let err = case.path(&format!("runc-{tag}-{mode}.stderr"));
    let mut child = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run runc");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = Command::new("runc").args(["delete", "-f", &id]).status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("runc {mode}: no exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

/// The whole path with a real runtime: the program traced in Debian trixie (the chroot of
/// `scripts/chroot.sh trixie`: secimport needs glibc 2.34, which bullseye lacks, to run inside
/// it), its profile loaded by runc with that chroot as the container's rootfs.
#[test]
fn runc_runs_the_container_under_the_profile() {
    ensure_packages(&["runc"]);
    common::require_root();
    let made = Command::new(script("chroot.sh"))
        .arg("trixie")
        .status()
        .expect("run scripts/chroot.sh");
    assert!(made.success(), "scripts/chroot.sh trixie failed");
    let rootfs = PathBuf::from(
        String::from_utf8(
            Command::new(script("chroot.sh"))
                .args(["--path", "trixie"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim(),
    );
    let case = Case::without_interpreter();
    let dir = case.dir().display().to_string();
    // Copy the program (no interpreter needed on the host).
    std::fs::create_dir_all(case.path("helpers")).unwrap();
    for name in [
        "export_app.py",
        "helpers/__init__.py",
        "helpers/export_worker.py",
    ] {
        std::fs::copy(common::program(name), case.path(name)).unwrap();
    }
    std::fs::write(case.path("data.json"), r#"{"a": [1, 2, 3], "b": "x"}"#).unwrap();
    let traced = Command::new(script("in-chroot.sh"))
        .arg("trixie")
        .arg(common::secimport_bin())
        .args(["trace", "-o"])
        .arg(case.path("trace.json"))
        .args(["--", "/usr/bin/python3"])
        .arg(case.path("export_app.py"))
        .args(["benign", &dir])
        .current_dir(case.dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run scripts/in-chroot.sh");
    assert!(
        traced.status.success(),
        "trace in trixie: {}",
        String::from_utf8_lossy(&traced.stderr)
    );
    let policy = case.path("policy.yaml");
    case.secimport(&[
        OsString::from("build"),
        case.path("trace.json").into(),
        "-o".into(),
        policy.clone().into(),
    ])
    .assert_code(0);
    let export = |runtime: &str| -> Value {
        let out = case.secimport(&[
            OsString::from("export"),
            policy.clone().into(),
            "--runtime".into(),
            runtime.into(),
        ]);
        out.assert_code(0);
        serde_json::from_str(&out.stdout).unwrap()
    };
    let profile = export("runc");

    let plain = runc(&case, &rootfs, "benign", None, "plain");
    assert!(plain.status.success(), "{}", plain.describe());
    assert!(plain.stdout.starts_with("digest "), "{}", plain.describe());
    let ran = runc(&case, &rootfs, "benign", Some(&profile), "runc");
    assert_eq!(ran.status.code(), Some(0), "{}", ran.describe());
    assert_eq!(ran.stdout, plain.stdout, "{}", ran.describe());

    let plain = runc(&case, &rootfs, "shell", None, "plain");
    assert!(plain.stdout.contains("shell-ran"), "{}", plain.describe());
    let ran = runc(&case, &rootfs, "shell", Some(&profile), "runc");
    assert!(!ran.stdout.contains("shell-ran"), "{}", ran.describe());
    assert!(
        ran.stdout.contains("os.system returned 32512"),
        "{}",
        ran.describe()
    );

    let plain = runc(&case, &rootfs, "write", None, "plain");
    assert!(
        plain.stdout.contains("wrote out.txt"),
        "{}",
        plain.describe()
    );
    std::fs::remove_file(case.path("out.txt")).unwrap();
    let ran = runc(&case, &rootfs, "write", Some(&profile), "runc");
    assert_eq!(ran.status.code(), Some(3), "{}", ran.describe());
    assert!(
        ran.stdout.contains("write refused: 1"),
        "{}",
        ran.describe()
    );
    assert!(!case.path("out.txt").exists());

    // Without runc's own needs (--runtime exec), runc cannot even start the program.
    let ran = runc(&case, &rootfs, "benign", Some(&export("exec")), "exec");
    assert!(!ran.status.success(), "{}", ran.describe());
    assert!(ran.stderr.contains("exec fifo"), "{}", ran.describe());
}
