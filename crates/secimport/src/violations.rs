//! Turns the kernel's violation records into what users read: a block on
//! stderr and one JSON line in the log file; and the log file itself, whose
//! write failures are counted rather than reported one by one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use secimport_engine::sandbox::{module_id, reason, Sandbox, Violation};
use secimport_policy::naming::Namer;
use secimport_policy::policy::{Compiled, Refusal, Unseen};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    pub module: String,
    pub file: String,
    pub line: Option<u32>,
    pub function: String,
}

/// Modules named in a record's `inherited` list at most (the rest are
/// counted in `inherited_omitted`), so that one record stays small.
pub const INHERITED_SHOWN: usize = 32;

/// One violation, as written to the JSON Lines log.
#[derive(Debug, Serialize)]
pub struct Record {
    /// Always `violation` (other lines of the log: `resumed`, `summary`).
    pub event: &'static str,
    pub time: String,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub comm: String,
    /// The right: the syscall's name, or `name:class` for an argument class
    /// (`openat:write`, `clone3:process`).
    pub syscall: String,
    /// The syscall's number (`clone3`'s for `clone3:process`).
    pub nr: u32,
    /// `log`, `kill` or `stop`.
    pub action: String,
    /// Every module whose rule did not allow the syscall, as the kernel
    /// judged it (the first denier first); pseudo-modules in angle brackets
    /// for what could not be seen (`<truncated>`, `<unreadable>`) and for
    /// threads with no frame (`<startup>`, `<frameless>`).
    pub denied_by: Vec<String>,
    /// Modules the thread inherited from the stack of the thread that
    /// created it (judged as if on its stack).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inherited: Vec<String>,
    /// Inherited modules beyond [`INHERITED_SHOWN`], not named.
    #[serde(skip_serializing_if = "is_zero")]
    pub inherited_omitted: usize,
    /// Why the verdict involved more than the frames shown: `dangerous`
    /// (arguments make it a dangerous class), `truncated`, `unreadable`,
    /// `overflow`, `inherited`, `frameless`, `startup`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<&'static str>,
    /// The syscall's argument values (program, paths, address) when its
    /// right carries some: `{"kind": "write", "value": "/etc/passwd"}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<Argument>,
    /// Python stack, innermost first (at most 20 frames are reported).
    pub stack: Vec<Frame>,
    pub depth: u32,
    pub truncated: bool,
}

/// One argument value of a violating syscall.
#[derive(Debug, Serialize)]
pub struct Argument {
    /// `exec`, `write`, `connect` or `bind`.
    pub kind: &'static str,
    /// The program or path (absolute; `<unresolved>` when it could not be
    /// read), or the address (`inet:10.0.0.1:443`, `unix:/run/x.sock`).
    pub value: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Resolves module ids to names, learning kernel-assigned ids lazily.
pub struct Names<'a> {
    pub namer: &'a Namer,
    pub files: BTreeMap<u32, String>,
    /// Module ids of programs that are not Python (`spec.programs`) -> path.
    pub programs: BTreeMap<u32, String>,
}

impl Names<'_> {
    fn file(&mut self, sandbox: &Sandbox, id: u32) -> String {
        match id {
            module_id::FRAMELESS => return "<frameless>".into(),
            module_id::STARTUP => return "<startup>".into(),
            module_id::NON_PYTHON => return "<non-python>".into(),
            module_id::TRUNCATED => return "<truncated>".into(),
            module_id::UNREADABLE => return "<unreadable>".into(),
            module_id::OVERFLOW => return "<overflow>".into(),
            _ => {}
        }
        if let Some(program) = self.programs.get(&id) {
            return program.clone();
        }
        if !self.files.contains_key(&id) {
            self.files = sandbox.module_files();
        }
        self.files
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("<module {id}>"))
    }

    pub fn name(&mut self, sandbox: &Sandbox, id: u32) -> (String, String) {
        let file = self.file(sandbox, id);
        (self.namer.module_name(&file), file)
    }
}

fn wall_time(ts_boot_ns: u64) -> String {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the valid timespec above.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) };
    let now_ns = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
    let ago = Duration::from_nanos(now_ns.saturating_sub(ts_boot_ns));
    let at = SystemTime::now()
        .checked_sub(ago)
        .unwrap_or(SystemTime::now());
    humantime::format_rfc3339_millis(at).to_string()
}

/// What a violation was judged against (a policy, or the guards of
/// `secure_import`), to say why a module did not allow it. The verdict
/// itself is the kernel's: which modules denied comes with the record.
pub trait Judge {
    /// Why a module did not allow it, for the report.
    fn explain(&self, module: &str) -> String;
}

/// The refusal a pseudo-module stands for (what could not be seen, no
/// frame, a program the policy does not name); None for real modules. The
/// sentences are the decision function's ([`Refusal::explain`]).
pub fn pseudo_refusal(m: &str) -> Option<Refusal> {
    Some(match m {
        "<non-python>" => Refusal::Children,
        "<startup>" => Refusal::Bucket { started: false },
        "<frameless>" => Refusal::Bucket { started: true },
        "<truncated>" => Refusal::Unseen(Unseen::Truncated),
        "<unreadable>" => Refusal::Unseen(Unseen::Unreadable),
        "<overflow>" => Refusal::Unseen(Unseen::Overflow),
        _ => return None,
    })
}

/// Why a pseudo-module did not allow a syscall, whatever judged it.
pub fn explain_pseudo(m: &str, unknown: &str) -> Option<String> {
    pseudo_refusal(m).map(|r| r.explain(unknown))
}

impl Judge for Compiled {
    fn explain(&self, m: &str) -> String {
        let unknown = self.unknown.as_str();
        let refusal = pseudo_refusal(m).unwrap_or_else(|| {
            if self.programs.iter().any(|(path, _)| path == m) {
                return Refusal::Program { key: m.to_string() };
            }
            match self.rule_for(m) {
                Some((key, _)) => Refusal::NotListed {
                    key: key.to_string(),
                },
                None => Refusal::Unknown,
            }
        });
        match &refusal {
            // A glob's entry: name it.
            Refusal::NotListed { key } if key != m => {
                format!("policy entry {key:?} does not list it")
            }
            r => r.explain(unknown),
        }
    }
}

pub fn record(v: &Violation, sandbox: &Sandbox, names: &mut Names, action: &str) -> Record {
    let mut stack = Vec::new();
    let mut denied_by: Vec<String> = Vec::new();
    for &id in std::iter::once(&v.module).chain(&v.denied) {
        let (module, _) = names.name(sandbox, id);
        if !denied_by.contains(&module) {
            denied_by.push(module);
        }
    }
    let mut inherited: Vec<String> = Vec::new();
    for &id in &v.inherited {
        let (module, _) = names.name(sandbox, id);
        if !inherited.contains(&module) {
            inherited.push(module);
        }
    }
    let inherited_omitted = inherited.len().saturating_sub(INHERITED_SHOWN);
    inherited.truncate(INHERITED_SHOWN);
    for f in &v.frames {
        let (module, file) = names.name(sandbox, f.module);
        stack.push(Frame {
            module,
            file,
            line: f.line,
            function: f.function.clone(),
        });
    }
    let reasons = [
        (reason::DANGEROUS, "dangerous"),
        (reason::TRUNCATED, "truncated"),
        (reason::UNREADABLE, "unreadable"),
        (reason::OVERFLOW, "overflow"),
        (reason::INHERITED, "inherited"),
        (reason::FRAMELESS, "frameless"),
        (reason::STARTUP, "startup"),
        (reason::VALUE, "value"),
    ]
    .into_iter()
    .filter(|(bit, _)| v.reasons & bit != 0)
    .map(|(_, name)| name)
    .collect();
    Record {
        event: "violation",
        time: wall_time(v.ts_ns),
        pid: v.pid,
        tid: v.tid,
        ppid: v.ppid,
        comm: v.comm.clone(),
        syscall: syscall_name(v.nr),
        nr: secimport_policy::rights::syscall_number(v.nr),
        action: action.to_string(),
        denied_by,
        inherited,
        inherited_omitted,
        reasons,
        arguments: v
            .values
            .iter()
            .map(|a| Argument {
                kind: a.kind,
                value: a.text.clone(),
            })
            .collect(),
        stack,
        depth: v.depth,
        truncated: v.truncated,
    }
}

/// The human-readable block on stderr.
pub fn render(r: &Record, judge: &dyn Judge) -> String {
    let mut s = String::new();
    let what = match r.action.as_str() {
        "kill" => "KILLED",
        "stop" => "STOPPED",
        "deny" => "DENIED",
        _ => "LOGGED",
    };
    s += &format!(
        "secimport: VIOLATION ({what}) {} by pid {} tid {} ({}) at {}\n",
        r.syscall, r.pid, r.tid, r.comm, r.time
    );
    for m in &r.denied_by {
        s += &format!("  not allowed for {m}: {}\n", judge.explain(m));
    }
    if r.reasons.contains(&"dangerous") {
        s += "  its arguments make it dangerous (a process, a write, a signal to another \
              process): only a module's own list can allow that\n";
    }
    if r.reasons.contains(&"value") {
        let values: Vec<String> = r
            .arguments
            .iter()
            .map(|a| format!("{} {}", a.kind, a.value))
            .collect();
        s += &format!(
            "  {}: a module above lists {} but none of its `arguments` patterns allows this \
             (learn it with `run --learn`, or add a pattern under spec.arguments)\n",
            values.join(", "),
            r.syscall
        );
    } else if !r.arguments.is_empty() {
        let values: Vec<String> = r
            .arguments
            .iter()
            .map(|a| format!("{} {}", a.kind, a.value))
            .collect();
        s += &format!("  arguments: {}\n", values.join(", "));
    }
    if !r.inherited.is_empty() {
        let more = if r.inherited_omitted > 0 {
            format!(", ... and {} more", r.inherited_omitted)
        } else {
            String::new()
        };
        s += &format!(
            "  inherited from the stack that created this thread: {}{more}\n",
            r.inherited.join(", ")
        );
    }
    if r.stack.is_empty() {
        s += "  no Python stack (a non-Python program, or no frame at the time)\n";
    } else {
        s += "  Python stack (innermost first):\n";
        for f in &r.stack {
            let line = f.line.map(|l| l.to_string()).unwrap_or_else(|| "?".into());
            s += &format!(
                "    {}:{} in {}  [{}]\n",
                f.file, line, f.function, f.module
            );
        }
        if r.depth as usize > r.stack.len() || r.truncated {
            s += &format!("    ... {} more frames\n", r.depth as usize - r.stack.len());
        }
    }
    s
}

/// The right's name: a syscall (`syscall_N` for numbers without one) or an
/// argument class (`openat:write`).
pub fn syscall_name(nr: u32) -> String {
    secimport_policy::rights::name(nr)
}

/// Stop mode: a stopped syscall was let through after SIGCONT.
#[derive(Debug, Serialize)]
pub struct Resumed {
    /// Always `resumed`.
    pub event: &'static str,
    pub time: String,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub syscall: String,
    pub nr: u32,
}

pub fn resumed(pid: u32, tid: u32, comm: &str, ts_ns: u64, nr: u32) -> Resumed {
    Resumed {
        event: "resumed",
        time: wall_time(ts_ns),
        pid,
        tid,
        comm: comm.to_string(),
        syscall: syscall_name(nr),
        nr: secimport_policy::rights::syscall_number(nr),
    }
}

/// Now, as the log writes times.
pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The JSON Lines violation log. It never fails the run: a log that cannot
/// be opened or written is said once on stderr, further failures are
/// counted, and the records still go to stderr (and enforcement is the
/// kernel's, whatever happens here).
pub struct Log {
    path: PathBuf,
    file: Option<File>,
    /// Why the file could not be opened, if it could not.
    open_error: Option<String>,
    /// Lines written.
    pub written: u64,
    /// Lines that could not be written (including every line when the file
    /// could not be opened).
    pub failed: u64,
    first_error: Option<String>,
}

impl Log {
    /// Opens (creating it and its directory) `path` for appending, never
    /// through a symlink nor in a directory another user can write (see
    /// [`crate::logfile`]).
    pub fn open(path: &Path) -> Log {
        let opened = crate::logfile::open_append(path);
        let (file, open_error) = match opened {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Log {
            path: path.to_path_buf(),
            file,
            open_error,
            written: 0,
            failed: 0,
            first_error: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the log could not be opened (then nothing is written to it).
    pub fn open_error(&self) -> Option<&str> {
        self.open_error.as_deref()
    }

    /// The first write error, if a write failed.
    pub fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref().or(self.open_error.as_deref())
    }

    /// Appends one JSON line. A failed write is counted; the first one is
    /// said on stderr (once per log, not once per line). A line cut short
    /// (a full disk) is taken back, so the log stays valid JSON Lines.
    pub fn append(&mut self, record: &impl Serialize) {
        let Some(file) = self.file.as_mut() else {
            self.failed += 1;
            return;
        };
        let mut line = serde_json::to_string(record).expect("a record always serializes");
        line.push('\n');
        let before = file.metadata().map(|m| m.len()).ok();
        match file.write_all(line.as_bytes()) {
            Ok(()) => self.written += 1,
            Err(e) => {
                if let Some(len) = before {
                    if file.metadata().map(|m| m.len()).ok() != Some(len) {
                        let _ = file.set_len(len);
                    }
                }
                self.failed += 1;
                if self.first_error.is_none() {
                    crate::report::say!(
                        "secimport: warning: cannot write the violation log {}: {e}; violations are \
                         still enforced and shown here; further failures are only counted",
                        self.path.display()
                    );
                    self.first_error = Some(e.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secimport_policy::policy::{Format, Policy};

    fn compiled() -> Compiled {
        let yaml = "apiVersion: secimport.dev/v1\nkind: SandboxPolicy\nmetadata:\n  name: demo\n\
                    spec:\n  mode: kill\n  unknown: base-only\n  base: [read, write]\n  children: []\n  modules:\n    \
                    __main__: [openat]\n    checkpoint: [openat]\n    \"tinynn.*\": [openat]\n";
        Policy::parse(yaml, "policy.yaml", Format::Yaml)
            .unwrap()
            .compile()
    }

    fn frame(module: &str, file: &str, line: Option<u32>, function: &str) -> Frame {
        Frame {
            module: module.into(),
            file: file.into(),
            line,
            function: function.into(),
        }
    }

    fn record(action: &str, stack: Vec<Frame>, denied_by: &[&str]) -> Record {
        Record {
            event: "violation",
            time: "2026-11-28T21:00:00.000Z".into(),
            pid: 4242,
            tid: 4243,
            ppid: 4200,
            comm: "python3.11".into(),
            syscall: "execve".into(),
            nr: 59,
            action: action.into(),
            denied_by: denied_by.iter().map(|s| s.to_string()).collect(),
            inherited: vec![],
            inherited_omitted: 0,
            reasons: vec![],
            arguments: vec![],
            depth: stack.len() as u32,
            stack,
            truncated: false,
        }
    }

    #[test]
    fn explains_pseudo_modules_and_policy_entries() {
        let c = compiled();
        assert!(c.explain("<truncated>").contains("unknown: base-only"));
        assert!(c.explain("<unreadable>").contains("could not be read"));
        assert!(c.explain("<frameless>").contains("`frameless`"));
        assert!(c.explain("<startup>").contains("`startup`"));
        assert_eq!(c.explain("__main__"), "its policy entry does not list it");
        assert!(c.explain("tinynn.module").contains("\"tinynn.*\""));
        assert!(c.explain("requests").contains("unknown: base-only"));
    }

    #[test]
    fn renders_a_killed_exec_with_its_stack() {
        let r = record(
            "kill",
            vec![
                frame("<string>", "<string>", Some(1), "<module>"),
                frame(
                    "tinynn.module",
                    "/app/tinynn/module.py",
                    Some(15),
                    "Module.__call__",
                ),
                frame("__main__", "/app/train.py", None, "main"),
            ],
            &["<string>", "tinynn.module", "__main__"],
        );
        insta::assert_snapshot!(render(&r, &compiled()));
    }

    #[test]
    fn renders_a_non_python_child() {
        let r = record("log", vec![], &["<non-python>"]);
        insta::assert_snapshot!(render(&r, &compiled()));
    }

    #[test]
    fn a_log_that_cannot_be_written_counts_its_failures() {
        let dir = tempfile::tempdir().unwrap();
        let r = record("log", vec![], &["__main__"]);
        // A directory where the file should be: it cannot be opened.
        let mut log = Log::open(dir.path());
        assert!(log.open_error().is_some());
        log.append(&r);
        log.append(&r);
        assert_eq!((log.written, log.failed), (0, 2));
        // /dev/full: every write fails with ENOSPC.
        let mut full = Log::open(Path::new("/dev/full"));
        assert!(full.open_error().is_none());
        for _ in 0..3 {
            full.append(&r);
        }
        assert_eq!((full.written, full.failed), (0, 3));
        assert!(full.first_error().unwrap().contains("space"));
        // And an ordinary file, in a directory that does not exist yet.
        let path = dir.path().join("sub/v.jsonl");
        let mut ok = Log::open(&path);
        ok.append(&r);
        assert_eq!((ok.written, ok.failed), (1, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"event\":\"violation\""), "{text}");
    }

    #[test]
    fn records_serialize_as_one_json_line() {
        let r = record(
            "stop",
            vec![frame("__main__", "/app/a.py", Some(3), "f")],
            &["__main__"],
        );
        insta::assert_json_snapshot!(r);
    }
}
