//! `secimport build`: a pure function from a trace to a policy, written as
//! YAML and JSON.
//!
//! What it writes, `run` reads: both texts are parsed back before anything is
//! written and must give the very policy that was built (a failure there is a
//! bug, reported as such, and nothing is written). Both files are written
//! atomically, both or neither. Whatever the trace holds that the policy
//! cannot (unknown syscall names, modules whose name would read as a glob,
//! dangerous syscalls with no frame) is named in a warning.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use secimport_policy::build::{build, dropped_from_shared, omissions, BuildOptions};
use secimport_policy::files::{write_atomically, MAX_INPUT_BYTES};
use secimport_policy::policy::{Format, Mode, Policy, UnknownRule};
use secimport_policy::trace::Trace;

use crate::cli::{BuildArgs, RunMode, UnknownArg};
use crate::commands::Failure;

/// The other file of the pair: `policy.json` beside `policy.yaml` and back.
fn sibling(output: &Path, format: Format) -> PathBuf {
    match format {
        Format::Json => output.with_extension("yaml"),
        Format::Yaml => output.with_extension("json"),
    }
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// `text`, which is about to be written to `path`, is what `run` will read:
/// not over the size limit, and parsed back it is `policy`.
fn check_round_trip(
    policy: &Policy,
    text: &str,
    path: &Path,
    format: Format,
) -> Result<(), Failure> {
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(Failure::usage(anyhow!(
            "the policy would take {} bytes as {format}, more than the {MAX_INPUT_BYTES} bytes \
             (64 MiB) `secimport run` reads; nothing was written (build from a smaller trace, \
             or keep the package globs: do not pass --no-group)",
            text.len()
        )));
    }
    let display = path.display().to_string();
    match Policy::parse(text, &display, format) {
        Ok(back) if &back == policy => Ok(()),
        Ok(_) => Err(Failure::runtime(anyhow!(
            "internal error: the {format} written to {display} would read back as a different \
             policy; nothing was written (please report this with the trace)"
        ))),
        Err(e) => Err(Failure::runtime(anyhow!(
            "internal error: `secimport run` would refuse the {format} written to {display} \
             ({e}); nothing was written (please report this with the trace)"
        ))),
    }
}

pub fn run(args: BuildArgs) -> Result<i32, Failure> {
    let mut paths: Vec<PathBuf> = args
        .traces
        .iter()
        .chain(&args.more_traces)
        .cloned()
        .collect();
    if paths.is_empty() {
        paths.push(PathBuf::from("trace.json"));
    }
    for path in &paths {
        if !path.exists() {
            return Err(Failure::usage(anyhow!(
                "no trace at {}: run `secimport trace -- python app.py` first, or pass the \
                 trace's path",
                path.display()
            )));
        }
    }
    let Some(format) = Format::from_path(&args.output) else {
        return Err(Failure::usage(anyhow!(
            "cannot write a policy to {}: policy files end in .yaml, .yml or .json (that is how \
             `secimport run` tells the format); pass -o policy.yaml",
            args.output.display()
        )));
    };
    let other = sibling(&args.output, format);
    for path in [&args.output, &other] {
        for trace in &paths {
            if same_file(path, trace) {
                return Err(Failure::usage(anyhow!(
                    "{} is a trace being read; write the policy elsewhere (-o policy.yaml)",
                    path.display()
                )));
            }
        }
    }
    let mut traces = Vec::with_capacity(paths.len());
    for path in &paths {
        let trace = Trace::load(path).map_err(Failure::usage)?;
        traces.push((path.display().to_string(), trace));
    }
    let trace = Trace::merge(traces).map_err(Failure::usage)?;
    let sources = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let opts = BuildOptions {
        group_packages: !args.no_group,
        exact: args.exact,
        mode: match args.mode {
            RunMode::Log => Mode::Log,
            RunMode::Kill => Mode::Kill,
            RunMode::Stop => Mode::Stop,
            RunMode::Deny => Mode::Deny,
        },
        unknown: match args.unknown {
            UnknownArg::BaseOnly => UnknownRule::BaseOnly,
            UnknownArg::Allow => UnknownRule::Allow,
            UnknownArg::Deny => UnknownRule::Deny,
        },
        name: args.name.clone(),
    };
    let policy = build(&trace, &opts);
    for (bucket, names) in dropped_from_shared(&trace) {
        crate::report::say!(
            "secimport: warning: the trace saw {} with no Python frame ({bucket}); dangerous \
             syscalls are never allowed without a frame, so `run` will report them (an atexit \
             callback or finalizer that starts a program or connects: call it from Python code)",
            names.join(", ")
        );
    }
    for omitted in omissions(&trace) {
        crate::report::say!("secimport: warning: {omitted}");
    }

    let mut outputs = Vec::with_capacity(2);
    for (path, format) in [
        (&args.output, format),
        (
            &other,
            match format {
                Format::Yaml => Format::Json,
                Format::Json => Format::Yaml,
            },
        ),
    ] {
        let text = policy.to_format(format);
        check_round_trip(&policy, &text, path, format)?;
        outputs.push((path.as_path(), text));
    }
    let files: Vec<(&Path, &[u8])> = outputs
        .iter()
        .map(|(path, text)| (*path, text.as_bytes()))
        .collect();
    write_atomically(&files).map_err(|e| {
        Failure::runtime(anyhow!(
            "{e}; nothing was written (neither {} nor {})",
            args.output.display(),
            other.display()
        ))
    })?;

    let s = &policy.spec;
    crate::report::say!(
        "secimport: policy {:?} from {}: {} module entries ({} traced modules), {} base syscalls, {} start-up, {} frameless, {} for child programs, unknown modules: {}",
        policy.metadata.name,
        sources,
        s.modules.len(),
        trace.modules.len(),
        s.base.len(),
        s.startup.len(),
        s.frameless.len(),
        s.children.len(),
        opts.unknown.as_str()
    );
    crate::report::say!(
        "secimport: wrote {} and {} — next: secimport run --entrypoint ... [--kill-on-violation]",
        args.output.display(),
        other.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::FileTypeExt;
    use std::time::{Duration, Instant};

    use secimport_policy::trace::{Buckets, Counters, Interpreter, ModuleTrace, TRACE_FORMAT};

    use super::*;

    fn trace(modules: &[&str]) -> Trace {
        let syscalls: BTreeMap<String, u64> = [("openat".to_string(), 1), ("read".to_string(), 2)]
            .into_iter()
            .collect();
        Trace {
            format: TRACE_FORMAT.to_string(),
            version: secimport_policy::trace::TRACE_VERSION,
            command: vec!["/usr/bin/python3".into(), "app.py".into()],
            interpreter: Interpreter {
                executable: "/usr/bin/python3".into(),
                version: "3.11.2".into(),
                build: "shared".into(),
                runtime_elf: "/usr/lib/libpython3.11.so".into(),
                import_roots: vec!["/srv".into()],
            },
            modules: modules
                .iter()
                .map(|m| {
                    let module = ModuleTrace {
                        files: vec![format!("/srv/{m}.py")],
                        syscalls: syscalls.clone(),
                        arguments: Default::default(),
                    };
                    (m.to_string(), module)
                })
                .collect(),
            buckets: Buckets {
                startup: [("newfstatat".to_string(), 3)].into_iter().collect(),
                ..Default::default()
            },
            programs: Default::default(),
            processes: Vec::new(),
            counters: Counters::default(),
            exit_status: Some(0),
        }
    }

    fn args(trace: &Path, output: &Path) -> BuildArgs {
        BuildArgs {
            traces: vec![trace.to_path_buf()],
            more_traces: Vec::new(),
            output: output.to_path_buf(),
            mode: RunMode::Log,
            unknown: UnknownArg::BaseOnly,
            no_group: true,
            exact: false,
            name: None,
        }
    }

    fn setup(modules: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.json");
        std::fs::write(&path, trace(modules).to_json()).unwrap();
        (dir, path)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mkfifo(path: &Path) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    /// Names no YAML writer of the old kind could write so that it reads
    /// back: past YAML's 1,024-character key limit, DEL, NEL, U+FFFE, NUL,
    /// quotes, colons, leading dashes, newlines.
    #[test]
    fn hostile_module_names_are_written_so_that_run_reads_them() {
        let long = "m".repeat(1100);
        let modules = [
            long.as_str(),
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{fffe}b",
            "nul\0byte",
            "say \"hi\": now",
            "-dash",
            "line\nbreak",
            "\u{feff}bom",
        ];
        let (dir, trace_path) = setup(&modules);
        let output = dir.path().join("policy.yaml");
        let mut a = args(&trace_path, &output);
        a.name = Some("name\u{1}with\u{85}controls".into());
        assert_eq!(run(a).unwrap(), 0);
        let yaml = Policy::load(&output).unwrap();
        let json = Policy::load(&dir.path().join("policy.json")).unwrap();
        assert_eq!(yaml, json);
        assert_eq!(yaml.metadata.name, "name\u{1}with\u{85}controls");
        for m in modules {
            assert!(yaml.spec.modules.contains_key(m), "{m:?} has no entry");
        }
        assert_eq!(
            names(dir.path()),
            ["policy.json", "policy.yaml", "trace.json"]
        );
    }

    #[test]
    fn writes_the_pair_whichever_is_named() {
        let (dir, trace_path) = setup(&["app"]);
        for (output, other) in [
            ("p.json", "p.yaml"),
            ("q.yml", "q.json"),
            ("R.JSON", "R.yaml"),
        ] {
            let output = dir.path().join(output);
            assert_eq!(run(args(&trace_path, &output)).unwrap(), 0);
            let a = Policy::load(&output).unwrap();
            let b = Policy::load(&dir.path().join(other)).unwrap();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn an_output_without_a_policy_extension_is_refused() {
        let (dir, trace_path) = setup(&["app"]);
        for output in ["policy", "policy.txt"] {
            let err = run(args(&trace_path, &dir.path().join(output))).unwrap_err();
            assert_eq!(err.code, 2);
            assert!(err.to_string().contains(".yaml, .yml or .json"), "{err}");
        }
        assert_eq!(names(dir.path()), ["trace.json"]);
    }

    #[test]
    fn the_trace_is_never_overwritten() {
        let (dir, _) = setup(&["app"]);
        let trace_path = dir.path().join("p.json");
        std::fs::rename(dir.path().join("trace.json"), &trace_path).unwrap();
        let before = std::fs::read(&trace_path).unwrap();
        for output in ["p.json", "p.yaml"] {
            let err = run(args(&trace_path, &dir.path().join(output))).unwrap_err();
            assert_eq!(err.code, 2);
            assert!(err.to_string().contains("is a trace being read"), "{err}");
        }
        assert_eq!(std::fs::read(&trace_path).unwrap(), before);
        assert_eq!(names(dir.path()), ["p.json"]);
    }

    /// The second file cannot be written: the first is neither created nor
    /// changed, and no temporary file is left.
    #[test]
    fn both_or_neither() {
        let (dir, trace_path) = setup(&["app"]);
        let output = dir.path().join("policy.yaml");
        // A fresh pair: policy.json is a directory.
        std::fs::create_dir(dir.path().join("policy.json")).unwrap();
        let err = run(args(&trace_path, &output)).unwrap_err();
        assert_eq!(err.code, 2);
        let message = err.to_string();
        assert!(
            message.contains("policy.json") && message.contains("a directory"),
            "{message}"
        );
        assert!(message.contains("nothing was written"), "{message}");
        assert_eq!(names(dir.path()), ["policy.json", "trace.json"]);
        // An old policy.yaml is left as it was.
        std::fs::write(&output, "old\n").unwrap();
        run(args(&trace_path, &output)).unwrap_err();
        assert_eq!(std::fs::read_to_string(&output).unwrap(), "old\n");
        assert_eq!(
            names(dir.path()),
            ["policy.json", "policy.yaml", "trace.json"]
        );
    }

    /// A FIFO named as the output is refused, and stays a FIFO (a rename
    /// over it would have replaced it).
    #[test]
    fn a_fifo_output_is_refused_and_left_alone() {
        let (dir, trace_path) = setup(&["app"]);
        let fifo = dir.path().join("policy.yaml");
        mkfifo(&fifo);
        let err = run(args(&trace_path, &fifo)).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.to_string().contains("a FIFO"), "{err}");
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(names(dir.path()), ["policy.yaml", "trace.json"]);
    }

    /// A FIFO (or a symlink to /dev/zero) as the trace: refused at once, not
    /// read.
    #[test]
    fn a_trace_that_is_not_a_regular_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("trace.json");
        mkfifo(&fifo);
        let zero = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for (trace, kind) in [(&fifo, "a FIFO"), (&zero, "a character device")] {
            let start = Instant::now();
            let err = run(args(trace, &dir.path().join("p.yaml"))).unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(5));
            assert_eq!(err.code, 2);
            let message = format!("{err}");
            assert!(message.contains(kind), "{message}");
            assert!(message.contains(&trace.display().to_string()), "{message}");
        }
    }

    /// `trace` checks its output path before it runs anything (the check is
    /// `files::check_output`, tested in secimport-policy; this is the wiring).
    #[test]
    fn trace_refuses_an_unwritable_output_before_running_anything() {
        use crate::cli::{TargetArgs, TraceArgs};
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        let fifo = dir.path().join("fifo.json");
        mkfifo(&fifo);
        for output in [
            dir.path().to_path_buf(),
            fifo,
            dir.path().join("missing/trace.json"),
        ] {
            let err = crate::commands::trace::run(TraceArgs {
                target: TargetArgs {
                    entrypoint: None,
                    python: None,
                    walk_limit: 64,
                    args: vec![
                        "/usr/bin/python3".into(),
                        "-c".into(),
                        format!("open({:?}, 'w')", marker.display().to_string()),
                    ],
                },
                output: output.clone(),
                append: false,
                backend: crate::cli::Backend::Auto,
            })
            .unwrap_err();
            assert_eq!(err.code, 2, "{}: {err}", output.display());
            let message = err.to_string();
            assert!(message.contains("nothing was run"), "{message}");
            assert!(message.contains(&output.display().to_string()), "{message}");
            assert!(!marker.exists(), "{}: the program ran", output.display());
        }
    }

    /// Unknown syscall names and glob-like module names are warned about by
    /// `omissions`; what is left is written.
    #[test]
    fn unusable_names_are_left_out() {
        let mut t = trace(&["app", "odd*name"]);
        t.modules
            .get_mut("app")
            .unwrap()
            .syscalls
            .insert("not_a_syscall".into(), 1);
        let dir = tempfile::tempdir().unwrap();
        let trace_path = dir.path().join("trace.json");
        std::fs::write(&trace_path, t.to_json()).unwrap();
        let output = dir.path().join("policy.yaml");
        assert_eq!(run(args(&trace_path, &output)).unwrap(), 0);
        let policy = Policy::load(&output).unwrap();
        assert!(policy.spec.modules.contains_key("app"));
        assert!(!policy.spec.modules.contains_key("odd*name"));
        let warnings: Vec<String> = omissions(&t).iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("not_a_syscall") && w.contains("module \"app\"")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("\"odd*name\"")),
            "{warnings:?}"
        );
    }
}
