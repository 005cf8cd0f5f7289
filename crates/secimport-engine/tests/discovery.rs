//! Interpreter discovery never runs the interpreter: its `sys.path` is
//! computed from its files. These tests run the real interpreters (only here,
//! to learn the truth) and compare: pyenv's 3.11.7 (shared libpython) and
//! Debian's /usr/bin/python3.11 (static), fresh virtual environments of each
//! (with and without the system site-packages), PYTHONPATH, the user site
//! directory, `.pth` files, and the options that change it all (-s, -S, -E,
//! -I, -P). A running process is identified from /proc, whatever it calls
//! itself; scripts and unsupported versions are refused without running them.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secimport_engine::python::{self, BuildKind, Context, Interpreter};

const PYENV_311: &str = "/root/.pyenv/versions/3.11.7/bin/python3.11";
const DEBIAN_311: &str = "/usr/bin/python3.11";
const PYENV_ROOT: &str = "/root/.pyenv";

/// The pyenv 3.11.7 interpreter (`$SECIMPORT_TEST_PYTHON_SHARED` overrides).
fn pyenv_311() -> PathBuf {
    let p = std::env::var_os("SECIMPORT_TEST_PYTHON_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(PYENV_311));
    assert!(
        p.is_file(),
        "{} is missing: install it with `PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.11.7`",
        p.display()
    );
    p
}

fn debian_311() -> PathBuf {
    let p = std::env::var_os("SECIMPORT_TEST_PYTHON_STATIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_311));
    assert!(
        p.is_file(),
        "{} is missing: install it with `apt-get install python3.11`",
        p.display()
    );
    p
}

/// A temporary directory, removed when dropped unless the test failed.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "secimport-discovery-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Canonical, as /proc/PID/cwd and realpath() give it.
        TempDir(dir.canonicalize().unwrap())
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn executable_script(path: &Path, text: &str) {
    write(path, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn venv(python: &Path, dir: &Path, system_site: bool) -> PathBuf {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "venv", "--without-pip"]);
    if system_site {
        cmd.arg("--system-site-packages");
    }
    let out = cmd
        .arg(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} -m venv {} failed: {}",
        python.display(),
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("bin/python")
}

/// A clean environment: a private HOME (whose user site the test controls),
/// a PATH without pyenv shims, and `extra`.
fn env(home: &Path, extra: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), home.as_os_str().to_owned()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    env
}

const PRINT_PATH: &str = "import json, sys; print(json.dumps(sys.path))";

/// `sys.path` as the interpreter reports it when run with `ctx`'s options
/// (then `-c PRINT_PATH`), environment and working directory.
fn real_sys_path(python: &Path, ctx: &Context) -> Vec<String> {
    let out = Command::new(python)
        .args(&ctx.args)
        .env_clear()
        .envs(ctx.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&ctx.cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {:?} failed: {}",
        python.display(),
        ctx.args,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What `Namer` compares: the lexical normal form.
fn norm(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(part),
        }
    }
    format!("/{}", out.join("/"))
}

/// Discovers `python` with options `flags` (before `-c`), `extra`
/// environment and working directory `cwd`, runs it to get the truth, and
/// requires the same `sys.path` (without `sys.path[0]`), entry for entry.
fn check(
    python: &Path,
    flags: &[&str],
    home: &Path,
    extra: &[(&str, &str)],
    cwd: &Path,
) -> Interpreter {
    let mut args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
    args.push("-c".into());
    args.push(PRINT_PATH.into());
    let ctx = Context {
        args,
        env: env(home, extra),
        cwd: cwd.to_path_buf(),
        uid: 0,
        setid: false,
    };
    let interp = python::discover_with(&python.display().to_string(), &ctx)
        .unwrap_or_else(|e| panic!("discovering {}: {e}", python.display()));
    let real = real_sys_path(python, &ctx);
    let safe_path = flags.iter().any(|f| f.contains('I') || f.contains('P'))
        || extra.iter().any(|(k, _)| *k == "PYTHONSAFEPATH");
    assert_eq!(
        interp.safe_path, safe_path,
        "safe_path for {flags:?} {extra:?}"
    );
    let real: Vec<String> = if safe_path {
        real
    } else {
        assert_eq!(
            real.first().map(String::as_str),
            Some(""),
            "-c puts '' first"
        );
        real[1..].to_vec()
    };
    let real: Vec<String> = real.iter().map(|p| norm(p)).collect();
    let computed: Vec<String> = interp.sys_path.iter().map(|p| norm(p)).collect();
    let context = format!(
        "python {} {flags:?} env {extra:?} cwd {}\nreal:     {real:#?}\ncomputed: {computed:#?}",
        python.display(),
        cwd.display()
    );
    for dir in real.iter().filter(|p| Path::new(p).is_dir()) {
        assert!(computed.contains(dir), "{dir} is missing\n{context}");
    }
    assert_eq!(computed, real, "sys.path differs\n{context}");
    interp
}

/// A user site directory with a `.pth` file of every kind of line, and the
/// directories its path lines name.
fn user_site(home: &TempDir) {
    let site = home.path("home/.local/lib/python3.11/site-packages");
    std::fs::create_dir_all(home.path("extra/abs")).unwrap();
    std::fs::create_dir_all(site.join("relative")).unwrap();
    write(
        &site.join("a.pth"),
        &format!(
            "# a comment\n\nrelative\n{}\n/no/such/dir\nimport os; os.environ.setdefault('SECIMPORT_PTH', '1')\nrelative\r\n",
            home.path("extra/abs").display()
        ),
    );
}

fn both() -> [PathBuf; 2] {
    [pyenv_311(), debian_311()]
}

#[test]
fn plain_interpreters() {
    for python in both() {
        let t = TempDir::new("plain");
        std::fs::create_dir_all(t.path("home")).unwrap();
        let i = check(&python, &[], &t.path("home"), &[], &t.0);
        assert_eq!(i.version.0, 3);
        assert_eq!(i.version.1, 11);
        assert_eq!(i.executable, python);
    }
    // The Debian symlink keeps its name (it is what runs).
    let t = TempDir::new("plain");
    std::fs::create_dir_all(t.path("home")).unwrap();
    if Path::new("/usr/bin/python3").exists() {
        let i = check(
            Path::new("/usr/bin/python3"),
            &[],
            &t.path("home"),
            &[],
            &t.0,
        );
        assert_eq!(i.executable, Path::new("/usr/bin/python3"));
    }
}

#[test]
fn builds_and_runtime_elves() {
    let i = python::discover(&pyenv_311().display().to_string()).unwrap();
    assert_eq!(i.build, BuildKind::Shared);
    assert_eq!(i.version, (3, 11, 7));
    assert!(
        i.runtime_elf.to_string_lossy().contains("libpython3.11.so"),
        "{}",
        i.runtime_elf.display()
    );
    let i = python::discover(&debian_311().display().to_string()).unwrap();
    assert_eq!(i.build, BuildKind::Static);
    assert_eq!((i.version.0, i.version.1), (3, 11));
    assert_eq!(i.runtime_elf, debian_311());
    // The offset is the same as the one read the old way.
    assert_eq!(
        python::runtime_offset(&debian_311()).unwrap(),
        Some(i.runtime_offset)
    );
}

#[test]
fn user_site_and_pth_files() {
    for python in both() {
        let t = TempDir::new("user");
        user_site(&t);
        let home = t.path("home");
        let i = check(&python, &[], &home, &[], &t.0);
        let site = home.join(".local/lib/python3.11/site-packages");
        assert!(i.sys_path.contains(&site.display().to_string()));
        assert!(i
            .sys_path
            .contains(&site.join("relative").display().to_string()));
        assert!(i
            .sys_path
            .contains(&t.path("extra/abs").display().to_string()));
        // Options and variables that turn the user site off.
        check(&python, &["-s"], &home, &[], &t.0);
        check(&python, &[], &home, &[("PYTHONNOUSERSITE", "1")], &t.0);
        check(&python, &["-E"], &home, &[("PYTHONNOUSERSITE", "1")], &t.0);
        check(&python, &["-I"], &home, &[], &t.0);
        check(&python, &["-S"], &home, &[], &t.0);
        check(&python, &["-sP"], &home, &[], &t.0);
        check(&python, &[], &home, &[("PYTHONSAFEPATH", "1")], &t.0);
        // PYTHONUSERBASE moves it.
        let base = t.path("userbase");
        std::fs::create_dir_all(base.join("lib/python3.11/site-packages")).unwrap();
        check(
            &python,
            &[],
            &home,
            &[("PYTHONUSERBASE", base.to_str().unwrap())],
            &t.0,
        );
    }
}

#[test]
fn pythonpath() {
    for python in both() {
        let t = TempDir::new("pythonpath");
        std::fs::create_dir_all(t.path("home")).unwrap();
        std::fs::create_dir_all(t.path("pp/one")).unwrap();
        std::fs::create_dir_all(t.path("work/rel")).unwrap();
        let pp = format!(
            "{}::rel:/no/such/dir:{}/../pp/./one:/usr/lib/python3.11",
            t.path("pp/one").display(),
            t.path("work").display()
        );
        let home = t.path("home");
        let cwd = t.path("work");
        let i = check(&python, &[], &home, &[("PYTHONPATH", &pp)], &cwd);
        assert!(i.sys_path.contains(&t.path("pp/one").display().to_string()));
        assert!(i.sys_path.contains(&cwd.join("rel").display().to_string()));
        // -E and -I ignore it.
        check(&python, &["-E"], &home, &[("PYTHONPATH", &pp)], &cwd);
        check(&python, &["-I"], &home, &[("PYTHONPATH", &pp)], &cwd);
    }
}

#[test]
fn fresh_venvs() {
    for python in both() {
        for system_site in [false, true] {
            let t = TempDir::new("venv");
            user_site(&t);
            let home = t.path("home");
            let venv_python = venv(&python, &t.path("venv"), system_site);
            // A .pth file inside the venv, too.
            std::fs::create_dir_all(t.path("venv/src/pkg")).unwrap();
            write(
                &t.path("venv/lib/python3.11/site-packages/editable.pth"),
                &format!("{}\nimport sys\n", t.path("venv/src").display()),
            );
            let i = check(&venv_python, &[], &home, &[], &t.0);
            assert_eq!(
                i.executable, venv_python,
                "the venv's python is started, not its target"
            );
            let site = t
                .path("venv/lib/python3.11/site-packages")
                .display()
                .to_string();
            assert!(i.sys_path.contains(&site), "{:?}", i.sys_path);
            check(&venv_python, &["-s"], &home, &[], &t.0);
            check(
                &venv_python,
                &["-E"],
                &home,
                &[("PYTHONPATH", "/tmp")],
                &t.0,
            );
            check(&venv_python, &[], &home, &[("PYTHONPATH", "/tmp")], &t.0);
            check(&venv_python, &["-I"], &home, &[], &t.0);
            // Through bin/python3.11 as well.
            check(&t.path("venv/bin/python3.11"), &[], &home, &[], &t.0);
        }
    }
}

#[test]
fn pyenv_shim_resolved_by_reading_it() {
    let shim = Path::new(PYENV_ROOT).join("shims/python3");
    if !shim.is_file() {
        panic!("{} is missing (pyenv's shims)", shim.display());
    }
    let t = TempDir::new("shim");
    std::fs::create_dir_all(t.path("home")).unwrap();
    let path = format!("{PYENV_ROOT}/shims:/usr/bin:/bin");
    let mut ctx = Context {
        args: vec![],
        env: env(&t.path("home"), &[("PYENV_VERSION", "3.11.7")]),
        cwd: t.0.clone(),
        uid: 0,
        setid: false,
    };
    ctx.env.retain(|(k, _)| k != "PATH");
    ctx.env.push(("PATH".into(), path.clone().into()));
    let i = python::discover_with("python3", &ctx).unwrap();
    assert_eq!(
        i.executable,
        Path::new(PYENV_ROOT).join("versions/3.11.7/bin/python3")
    );
    assert_eq!(i.version, (3, 11, 7));
    // A .python-version in the working directory selects another version.
    write(&t.path(".python-version"), "3.12.1\n");
    ctx.env.retain(|(k, _)| k != "PYENV_VERSION");
    let i = python::discover_with("python3", &ctx).unwrap();
    assert_eq!(i.version, (3, 12, 1));
    // ... 3.8-3.10 (no Py_Version: told by their libpython and data) ...
    write(&t.path(".python-version"), "3.10.13\n");
    let i = python::discover_with("python3", &ctx).unwrap();
    assert_eq!(i.version, (3, 10, 13));
    // ... and one that is not supported is refused, naming it.
    write(&t.path(".python-version"), "3.7.16\n");
    let e = python::discover_with("python3", &ctx)
        .unwrap_err()
        .to_string();
    assert!(e.contains("3.7") && e.contains("not supported"), "{e}");
    // "system": python3 on PATH without the shims.
    write(&t.path(".python-version"), "system\n");
    let i = python::discover_with("python3", &ctx).unwrap();
    assert_eq!(i.executable, Path::new("/usr/bin/python3"));
}

#[test]
fn unsupported_versions_are_refused_from_the_elf() {
    let versions = Path::new(PYENV_ROOT).join("versions");
    let mut seen = 0;
    for (dir, want) in [
        ("2.7.18", "CPython 2.7 is not supported"),
        ("3.6.15", "CPython 3.6 is not supported"),
        ("3.7.16", "CPython 3.7"),
    ] {
        let python = versions.join(dir).join("bin/python");
        if !python.is_file() {
            continue;
        }
        seen += 1;
        let e = python::discover(&python.display().to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want) && e.contains("--python"), "{dir}: {e}");
    }
    assert!(
        seen == 3,
        "expected 2.7.18, 3.6.15 and 3.7.16 under {}",
        versions.display()
    );
    for not_python in ["/bin/true", "/bin/sh"] {
        let e = python::discover(not_python).unwrap_err().to_string();
        assert!(
            e.contains(not_python) && (e.contains("not a CPython") || e.contains("script")),
            "{not_python}: {e}"
        );
    }
}

/// A process that prints its sys.path, then sleeps until killed.
struct Sleeper(std::process::Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `shell_command` (which execs a Python that runs SLEEP_PRINTING)
/// in `cwd` and returns it with the sys.path it printed.
fn sleeper(shell_command: &str, cwd: &Path, home: &Path) -> (Sleeper, Vec<String>) {
    use std::io::BufRead;
    let mut child = Command::new("/bin/bash")
        .args(["-c", shell_command])
        .current_dir(cwd)
        .env_clear()
        .envs(env(home, &[]))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let sleeper = Sleeper(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let path: Vec<String> = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("`{shell_command}` printed {line:?}: {e}"));
    (sleeper, path)
}

const SLEEP_PRINTING: &str =
    "import json, sys, time; print(json.dumps(sys.path), flush=True); time.sleep(60)";

#[test]
fn a_disguised_process_is_identified_by_proc_exe_and_its_argv0_never_runs() {
    let t = TempDir::new("fakepy");
    std::fs::create_dir_all(t.path("home")).unwrap();
    let marker = t.path("fakepy-ran");
    executable_script(
        &t.path("fakepy"),
        &format!("#!/bin/sh\ntouch '{}'\nexec /bin/true\n", marker.display()),
    );
    for python in both() {
        let (sleeper, real) = sleeper(
            &format!(
                "exec -a ./fakepy {} -c '{SLEEP_PRINTING}'",
                python.display()
            ),
            &t.0,
            &t.path("home"),
        );
        let pid = sleeper.0.id();
        let started = Instant::now();
        let p = python::discover_pid(pid).unwrap_or_else(|e| panic!("pid {pid}: {e}"));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(p.argv[0], "./fakepy");
        assert_eq!(p.cwd, t.0);
        assert_eq!(
            p.interpreter.executable.canonicalize().unwrap(),
            python.canonicalize().unwrap(),
            "identified by /proc/{pid}/exe"
        );
        assert_eq!((p.interpreter.version.0, p.interpreter.version.1), (3, 11));
        let computed: Vec<String> = p.interpreter.sys_path.iter().map(|s| norm(s)).collect();
        let real: Vec<String> = real[1..].iter().map(|s| norm(s)).collect();
        assert_eq!(computed, real, "sys.path of pid {pid}");
        drop(sleeper);
        assert!(!marker.exists(), "./fakepy was run");
    }
}

#[test]
fn an_attached_venv_process_keeps_its_venv() {
    for python in both() {
        let t = TempDir::new("pidvenv");
        user_site(&t);
        let venv_python = venv(&python, &t.path("venv"), false);
        let (sleeper, real) = sleeper(
            &format!("exec {} -c '{SLEEP_PRINTING}'", venv_python.display()),
            &t.0,
            &t.path("home"),
        );
        let p = python::discover_pid(sleeper.0.id()).unwrap();
        assert_eq!(p.interpreter.executable, venv_python);
        let computed: Vec<String> = p.interpreter.sys_path.iter().map(|s| norm(s)).collect();
        let real: Vec<String> = real[1..].iter().map(|s| norm(s)).collect();
        assert_eq!(computed, real);
        let want = if python == pyenv_311() {
            BuildKind::Shared
        } else {
            BuildKind::Static
        };
        assert_eq!(p.interpreter.build, want);
        // The runtime ELF is the file the process mapped.
        assert!(p.interpreter.runtime_elf.is_file());
    }
    // Started by a bare name found on PATH (the process's PATH).
    let t = TempDir::new("pidname");
    std::fs::create_dir_all(t.path("home")).unwrap();
    user_site(&t);
    let (sleeper, real) = sleeper(
        &format!("exec python3.11 -c '{SLEEP_PRINTING}'"),
        &t.0,
        &t.path("home"),
    );
    let p = python::discover_pid(sleeper.0.id()).unwrap();
    let computed: Vec<String> = p.interpreter.sys_path.iter().map(|s| norm(s)).collect();
    let real: Vec<String> = real[1..].iter().map(|s| norm(s)).collect();
    assert_eq!(computed, real);
}

#[test]
fn scripts_are_refused_and_never_run() {
    let t = TempDir::new("script");
    let marker = t.path("ran");
    let fake = t.path("python3.11");
    executable_script(
        &fake,
        &format!(
            "#!/bin/sh\ntouch '{}'\necho 'Python 3.11.7'\n",
            marker.display()
        ),
    );
    let e = python::discover(&fake.display().to_string())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&fake.display().to_string()) && e.contains("script") && e.contains("--python"),
        "{e}"
    );
    // A wrapper that would exec a real interpreter is refused just the same.
    let wrapper = t.path("wrapper");
    executable_script(
        &wrapper,
        &format!(
            "#!/bin/sh\ntouch '{}'\nexec {DEBIAN_311} \"$@\"\n",
            marker.display()
        ),
    );
    assert!(python::discover(&wrapper.display().to_string()).is_err());
    assert!(!marker.exists(), "a script was run to identify it");
}

/// The old discovery ran the interpreter (`python -c PROBE`) with the
/// target's environment, so a `sitecustomize.py` on PYTHONPATH ran as root.
/// Discovery now starts nothing: the same hook, which does run when the
/// interpreter starts, never runs during discovery.
#[test]
fn discovery_starts_no_interpreter() {
    for python in both() {
        let t = TempDir::new("hook");
        std::fs::create_dir_all(t.path("home")).unwrap();
        let marker = t.path("hook-ran");
        write(
            &t.path("hooks/sitecustomize.py"),
            &format!("open({:?}, 'a').close()\n", marker.display().to_string()),
        );
        let hooks = t.path("hooks").display().to_string();
        let ctx = Context {
            args: vec![],
            env: env(&t.path("home"), &[("PYTHONPATH", &hooks)]),
            cwd: t.0.clone(),
            uid: 0,
            setid: false,
        };
        let i = python::discover_with(&python.display().to_string(), &ctx).unwrap();
        assert!(i.sys_path.contains(&hooks));
        assert!(
            !marker.exists(),
            "discovering {} started it",
            python.display()
        );
        // The hook works: starting the interpreter runs it.
        real_sys_path(
            &python,
            &Context {
                args: vec!["-c".into(), PRINT_PATH.into()],
                ..ctx
            },
        );
        assert!(marker.exists(), "the sitecustomize hook did not run");
    }
}

/// Every supported version is identified from its files alone: 3.11+ by
/// `Py_Version`, 3.8-3.10 (which have none) by their libpython's name or
/// exported API and the `PY_VERSION` string in their data; static builds
/// too (Debian's 3.11, sid's 3.14 and bullseye's 3.9 in the chroots
/// `scripts/chroot.sh` makes).
#[test]
fn every_supported_version_is_identified() {
    let versions = Path::new(PYENV_ROOT).join("versions");
    let chroots = PathBuf::from(
        std::env::var("SECIMPORT_CHROOTS").unwrap_or_else(|_| "/var/lib/secimport-chroots".into()),
    );
    let sid = chroots.join("sid/usr/bin/python3.14");
    let mut cases: Vec<(PathBuf, (u32, u32), &str)> = [
        ("3.8.18", 8),
        ("3.9.18", 9),
        ("3.10.13", 10),
        ("3.11.7", 11),
        ("3.12.1", 12),
        ("3.13.0", 13),
    ]
    .iter()
    .map(|(dir, minor)| {
        (
            versions.join(dir).join(format!("bin/python3.{minor}")),
            (3, *minor),
            "shared",
        )
    })
    .collect();
    cases.push((PathBuf::from("/usr/bin/python3.11"), (3, 11), "static"));
    cases.push((sid.clone(), (3, 14), "static"));
    // A static 3.9 (no Py_Version, no libpython): told by the API it exports.
    cases.push((chroots.join("bullseye/usr/bin/python3.9"), (3, 9), "static"));
    for (python, (major, minor), build) in cases {
        assert!(
            python.is_file(),
            "{} is missing (pyenv's versions are on the machine image; 3.14: sudo \
             scripts/chroot.sh sid; 3.9 static: sudo scripts/chroot.sh bullseye)",
            python.display()
        );
        let i = python::discover(&python.display().to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
        assert_eq!(
            (i.version.0, i.version.1),
            (major, minor),
            "{}",
            python.display()
        );
        assert_ne!(
            i.version.2,
            python::UNKNOWN_MICRO,
            "{}: micro",
            python.display()
        );
        assert_eq!(i.build.as_str(), build, "{}", python.display());
        // (The generated struct has no PartialEq: its Debug lists every field.)
        assert_eq!(
            format!("{:?}", i.offsets),
            format!("{:?}", python::offsets_for(major, minor).unwrap()),
            "{}",
            python.display()
        );
    }
}
