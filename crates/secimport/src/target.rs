//! Turns `--entrypoint`/`--python`/`-- command` into what to launch: the real
//! interpreter, the argv, the entry script and the import roots used to name
//! modules.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use secimport_engine::python::{self, Interpreter};

use crate::cli::TargetArgs;
use crate::commands::Failure;

pub struct Target {
    pub interpreter: Interpreter,
    pub argv: Vec<String>,
    /// Absolute path of the entry script (named `__main__`), if there is one.
    pub main_script: Option<String>,
    /// Directories module names are derived from.
    pub import_roots: Vec<String>,
}

impl Target {
    /// Import roots as CPython sets them up: sys.path[0] is the script's
    /// directory with symlinks resolved (the working directory without a
    /// script; nothing with `-P`, `-I` or PYTHONSAFEPATH), then the
    /// interpreter's own path (computed from its files, see
    /// `python::discover_with`).
    fn new(
        interpreter: Interpreter,
        argv: Vec<String>,
        main_script: Option<String>,
        cwd: &Path,
    ) -> Target {
        let first_root = match &main_script {
            _ if interpreter.safe_path => None,
            Some(s) => Path::new(s)
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(|d| d.display().to_string())),
            None => Some(cwd.display().to_string()),
        };
        let import_roots = first_root
            .into_iter()
            .chain(interpreter.sys_path.iter().cloned())
            .collect();
        Target {
            interpreter,
            argv,
            main_script,
            import_roots,
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The script a `python [options] script args` command line runs, if any.
fn script_of(args: &[String]) -> Option<&str> {
    match secimport_policy::naming::entry_of(args) {
        secimport_policy::naming::Entry::Script(s) => Some(s),
        _ => None,
    }
}

pub fn resolve(args: &TargetArgs) -> Result<Target, Failure> {
    let target = resolve_unprivileged(args)?;
    require_root()?;
    Ok(target)
}

/// [`resolve`] for a backend that needs no root (seccomp).
pub fn resolve_unprivileged(args: &TargetArgs) -> Result<Target, Failure> {
    let (interpreter, argv, script) = match (&args.entrypoint, args.args.first()) {
        (Some(entry), _) => {
            if !entry.is_file() {
                return Err(Failure::usage(anyhow!(
                    "entrypoint {} does not exist; pass the path of a Python script with --entrypoint",
                    entry.display()
                )));
            }
            let script = absolute(entry).display().to_string();
            // The interpreter sees [script, args...]: no interpreter options.
            let ctx = python::Context::current(
                &std::iter::once(script.clone())
                    .chain(args.args.iter().cloned())
                    .collect::<Vec<_>>(),
            );
            let interp =
                python::discover_with(args.python.as_deref().unwrap_or("python3"), &ctx)?;
            let mut argv = vec![interp.executable.display().to_string(), script.clone()];
            argv.extend(args.args.iter().cloned());
            (interp, argv, Some(script))
        }
        (None, Some(program)) => {
            if args.python.is_some() {
                return Err(Failure::usage(anyhow!(
                    "--python and a command after `--` both name the interpreter; use one of them"
                )));
            }
            let ctx = python::Context::current(&args.args[1..]);
            let interp = python::discover_with(program, &ctx)?;
            let mut argv = vec![interp.executable.display().to_string()];
            argv.extend(args.args[1..].iter().cloned());
            let script = script_of(&args.args[1..]).map(|s| absolute(Path::new(s)).display().to_string());
            (interp, argv, script)
        }
        (None, None) => {
            return Err(Failure::usage(anyhow!(
                "nothing to run: pass --entrypoint SCRIPT, or a command after `--` (e.g. `-- python3 app.py`)"
            )))
        }
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    Ok(Target::new(interpreter, argv, script, &cwd))
}

/// BPF programs need root (CAP_BPF and CAP_PERFMON): say so before trying.
pub fn require_root() -> Result<(), Failure> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(());
    }
    Err(Failure::usage(anyhow!(
        "secimport loads eBPF programs and needs root (CAP_BPF and CAP_PERFMON); re-run with sudo"
    )))
}

/// The target of `run --pid`: a process already running the interpreter.
///
/// The interpreter is identified from `/proc/PID/exe` and `/proc/PID/maps`
/// and its `sys.path` computed from `/proc/PID/{environ,cwd,cmdline}`;
/// nothing is executed, least of all the `argv[0]` the process chose.
pub fn attach(pid: u32) -> Result<Target, Failure> {
    if !Path::new(&format!("/proc/{pid}")).is_dir() {
        return Err(Failure::usage(anyhow!(
            "no process {pid} to attach to; pass the pid of a running Python program with --pid"
        )));
    }
    require_root()?;
    let process = python::discover_pid(pid).map_err(|e| {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "an unreadable executable".into());
        Failure::usage(anyhow!(
            "process {pid} runs {exe}, which secimport cannot attach to: {e}"
        ))
    })?;
    let script = script_of(process.argv.get(1..).unwrap_or(&[]))
        .map(|s| absolute(&process.cwd.join(s)).display().to_string());
    Ok(Target::new(
        process.interpreter,
        process.argv,
        script,
        &process.cwd,
    ))
}

/// Resolves the target and loads the sandbox at the same time (reading the
/// interpreter's ELF takes milliseconds, verifying the BPF programs tens of
/// milliseconds). A problem with the target is reported before one with the
/// sandbox: it is the more likely mistake.
pub fn prepare(
    args: &TargetArgs,
    attach_to: Option<u32>,
    opts: &secimport_engine::sandbox::Options,
) -> Result<(secimport_engine::sandbox::Sandbox, Target), Failure> {
    // Said before trying to load anything (libbpf's own warnings otherwise
    // come first).
    require_root()?;
    std::thread::scope(|scope| {
        let probe = scope.spawn(|| match attach_to {
            Some(pid) => attach(pid),
            None => resolve(args),
        });
        let loaded = secimport_engine::sandbox::Sandbox::load(opts);
        let target = probe.join().expect("resolving the target does not panic")?;
        let mut sandbox = loaded?;
        sandbox.add_interpreter(&target.interpreter)?;
        Ok((sandbox, target))
    })
}

#[cfg(test)]
mod tests {
    use super::script_of;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn finds_the_script_after_options() {
        assert_eq!(
            script_of(&s(&["-u", "-X", "dev", "app.py", "-v"])),
            Some("app.py")
        );
        assert_eq!(script_of(&s(&["-c", "print(1)"])), None);
        assert_eq!(script_of(&s(&["-m", "http.server"])), None);
        assert_eq!(script_of(&s(&[])), None);
        assert_eq!(script_of(&s(&["-cprint(1)", "x.py"])), None);
    }
}
