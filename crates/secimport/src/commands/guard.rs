//! `secimport guard`: the supervisor behind the Python API's
//! `secure_import()` and `sandboxed()`.
//!
//! It attaches to a running Python process and judges only what happens while
//! a guarded frame is on a thread's stack: a guard denies shells (starting
//! programs) and/or networking; everything else runs untouched. The Python
//! side drives it over stdin/stdout, one line per command and per answer:
//!
//! ```text
//! -> ready PID                                   (once attached)
//! <- guard ID ALLOW_SHELLS ALLOW_NETWORKING LOG  (0/1 flags; LOG = rest of line)
//! -> ok
//! <- file ID FILENAME                            (a co_filename judged by guard ID)
//! -> ok
//! <- root PATH                                   (an import root, to name modules in reports)
//! -> ok
//! ```
//! Errors answer `error MESSAGE`. The guard exits when the process does; if
//! the guard dies first, the kernel side kills the process (fail closed).

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::anyhow;
use secimport_engine::sandbox::{self, module_id, Event, Sandbox, RULE_INHERIT};
use secimport_engine::{launcher, python};
use secimport_policy::naming::Namer;
use secimport_policy::syscalls;

use crate::cli::{GuardArgs, RunMode};
use crate::commands::Failure;
use crate::violations::{self, Judge, Names};

/// Starting programs. Clones that start threads are exempt in the kernel.
const SHELLS: &[&str] = &["fork", "vfork", "clone", "clone3", "execve", "execveat"];
const NETWORKING: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "shutdown",
];

type Bitmap = [u64; 8];
const ALL: Bitmap = [u64::MAX; 8];

fn bitmap(names: &[&str]) -> Bitmap {
    let mut b = [0u64; 8];
    for n in names {
        let nr = syscalls::number(n).expect("guard syscall names are in the table");
        b[(nr / 64) as usize] |= 1 << (nr % 64);
    }
    b
}

fn minus(a: &Bitmap, b: &Bitmap) -> Bitmap {
    std::array::from_fn(|i| a[i] & !b[i])
}

struct Guard {
    denied: Bitmap,
    log: PathBuf,
    what: String,
}

/// The guards and which kernel module ids belong to them.
#[derive(Default)]
struct Guards {
    guards: BTreeMap<u32, Guard>,
    /// kernel module id -> guard id
    modules: HashMap<u32, u32>,
}

impl Judge for Guards {
    fn allows(&self, id: u32, _module: &str, nr: u32) -> bool {
        let Some(g) = self.modules.get(&id).and_then(|g| self.guards.get(g)) else {
            return true;
        };
        (g.denied[(nr / 64) as usize % 8] >> (nr % 64)) & 1 == 0
    }

    fn explain(&self, module: &str) -> String {
        let _ = module;
        "a secimport guard denies it".to_string()
    }
}

impl Guards {
    fn guard_of(&self, id: u32) -> Option<&Guard> {
        self.modules.get(&id).and_then(|g| self.guards.get(g))
    }

    /// Everything no guard denies: allowed without looking at the stack.
    fn base(&self) -> Bitmap {
        self.guards
            .values()
            .fold(ALL, |acc, g| minus(&acc, &g.denied))
    }
}

enum Command {
    Guard {
        id: u32,
        shells: bool,
        net: bool,
        log: PathBuf,
    },
    File {
        id: u32,
        filename: String,
    },
}

fn parse(line: &str) -> Result<Command, String> {
    let mut parts = line.splitn(2, ' ');
    let verb = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    match verb {
        "guard" => {
            let mut f = rest.splitn(4, ' ');
            let id = f
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or("guard: bad id")?;
            let flag = |s: Option<&str>| match s {
                Some("0") => Ok(false),
                Some("1") => Ok(true),
                _ => Err("guard: flags must be 0 or 1".to_string()),
            };
            let shells = flag(f.next())?;
            let net = flag(f.next())?;
            let log = f
                .next()
                .filter(|s| !s.is_empty())
                .ok_or("guard: missing log path")?;
            Ok(Command::Guard {
                id,
                shells,
                net,
                log: PathBuf::from(log),
            })
        }
        "file" => {
            let mut f = rest.splitn(2, ' ');
            let id = f
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or("file: bad id")?;
            let filename = f
                .next()
                .filter(|s| !s.is_empty())
                .ok_or("file: missing file name")?;
            Ok(Command::File {
                id,
                filename: filename.to_string(),
            })
        }
        _ => Err(format!(
            "unknown command {verb:?} (expected `guard` or `file`)"
        )),
    }
}

fn apply(cmd: Command, sandbox: &mut Sandbox, guards: &mut Guards) -> Result<(), String> {
    match cmd {
        Command::Guard {
            id,
            shells,
            net,
            log,
        } => {
            let mut denied = [0u64; 8];
            let mut what = Vec::new();
            if !shells {
                denied = bitmap(SHELLS);
                what.push("shells");
            }
            if !net {
                let n = bitmap(NETWORKING);
                denied = std::array::from_fn(|i| denied[i] | n[i]);
                what.push("networking");
            }
            if let Some(dir) = log.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            guards.guards.insert(
                id,
                Guard {
                    denied,
                    log,
                    what: if what.is_empty() {
                        "nothing".into()
                    } else {
                        what.join(" and ")
                    },
                },
            );
            // Re-apply every guarded module's rule and the base set.
            for (&m, &g) in &guards.modules {
                if let Some(guard) = guards.guards.get(&g) {
                    sandbox
                        .set_rule_with_flags(m, &minus(&ALL, &guard.denied), RULE_INHERIT)
                        .map_err(|e| e.to_string())?;
                }
            }
            sandbox
                .set_rule(module_id::BASE, &guards.base())
                .map_err(|e| e.to_string())
        }
        Command::File { id, filename } => {
            let guard = guards
                .guards
                .get(&id)
                .ok_or(format!("file: no guard {id}"))?;
            let allow = minus(&ALL, &guard.denied);
            let m = sandbox
                .module_id_for(&filename)
                .map_err(|e| e.to_string())?;
            sandbox
                .set_rule_with_flags(m, &allow, RULE_INHERIT)
                .map_err(|e| e.to_string())?;
            guards.modules.insert(m, id);
            Ok(())
        }
    }
}

pub fn run(args: GuardArgs) -> Result<i32, Failure> {
    let pid = args.pid;
    if !launcher::is_running(pid) {
        return Err(Failure::usage(anyhow!("no process {pid} to guard")));
    }
    crate::target::require_root()?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map_err(|e| Failure::usage(anyhow!("cannot read /proc/{pid}/exe: {e}")))?;
    let interp = python::discover(&exe.display().to_string()).map_err(|e| {
        Failure::usage(anyhow!(
            "process {pid} runs {}, which secimport cannot guard: {e}",
            exe.display()
        ))
    })?;
    let mode = match args.mode {
        RunMode::Kill => sandbox::Mode::Kill,
        RunMode::Stop => sandbox::Mode::Stop,
        RunMode::Log => sandbox::Mode::Log,
    };
    let opts = sandbox::Options {
        mode,
        unknown_rule: sandbox::UnknownRule::Allow,
        walk_limit: args.walk_limit,
        guard_threads: true,
    };
    let mut sandbox = Sandbox::load(&opts)?;
    sandbox.add_interpreter(&interp)?;
    // Until a guard exists nothing is judged: base = everything.
    for id in [
        module_id::BASE,
        module_id::FRAMELESS,
        module_id::NON_PYTHON,
        module_id::TRUNCATED,
        module_id::OVERFLOW,
        module_id::UNREADABLE,
    ] {
        sandbox.set_rule(id, &ALL)?;
    }
    sandbox.track_running(pid)?;

    // A terminal's Ctrl-C is for the Python program, not for us.
    // SAFETY: ignoring a signal installs no handler code.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready {pid}");
    let _ = out.flush();

    // Commands arrive on a thread (stdin blocks); the sandbox stays here.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // Import roots name modules in reports; the process tells us its own
    // sys.path (`root` commands), which a virtualenv changes.
    let mut roots: Vec<String> = interp.sys_path.clone();
    let mut namer = Namer::new(roots.iter().cloned(), None);
    let mut files = BTreeMap::new();
    let mut guards = Guards::default();
    let action = match mode {
        sandbox::Mode::Kill => "kill",
        sandbox::Mode::Stop => "stop",
        _ => "log",
    };
    loop {
        while let Ok(line) = rx.try_recv() {
            let line = line.trim_end();
            let reply = if let Some(root) = line.strip_prefix("root ") {
                if !roots.iter().any(|r| r == root) {
                    roots.insert(0, root.to_string());
                    namer = Namer::new(roots.iter().cloned(), None);
                }
                "ok".to_string()
            } else {
                match parse(line).and_then(|c| apply(c, &mut sandbox, &mut guards)) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("error {e}"),
                }
            };
            let _ = writeln!(out, "{reply}");
            let _ = out.flush();
        }
        // Short polls: commands wait for the next turn of this loop.
        for ev in sandbox.poll(Duration::from_millis(5)) {
            let Event::Violation(v) = ev else { continue };
            let mut names = Names {
                namer: &namer,
                files: std::mem::take(&mut files),
            };
            let rec = violations::record(&v, &sandbox, &mut names, &guards, action);
            files = names.files;
            let text = violations::render(&rec, &guards);
            // A closed stderr must not take the guard (and so the program) down.
            let _ = std::io::stderr().write_all(text.as_bytes());
            let guard = v
                .frames
                .iter()
                .map(|f| f.module)
                .chain(std::iter::once(v.module))
                .find_map(|m| guards.guard_of(m));
            if let Some(g) = guard {
                let entry = format!("{text}  guard: denies {}\n\n", g.what);
                let written = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&g.log)
                    .and_then(|mut f| f.write_all(entry.as_bytes()));
                if let Err(e) = written {
                    let _ = writeln!(
                        std::io::stderr(),
                        "secimport: cannot write {}: {e}",
                        g.log.display()
                    );
                }
            }
        }
        if !launcher::is_running(pid) {
            break;
        }
    }
    Ok(0)
}
