//! Loads the BPF programs, fills their maps, and reads back what they learned.
//!
//! One [`Sandbox`] serves one `secimport trace` or `secimport run`: it is
//! configured (mode, walk limit, interpreters), attached, told which pids to
//! follow, polled for events, and finally read (module ids, counts, counters).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;
use std::time::Duration;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, RingBuffer, RingBufferBuilder};

use crate::linetable;
use crate::python::Interpreter;
use crate::skel::types;
use crate::skel::{SandboxSkel, SandboxSkelBuilder};
use crate::EngineError;

// SAFETY: these are plain C structs generated from the BPF object's BTF; any
// byte pattern is a valid value.
unsafe impl plain::Plain for types::si_proc_event {}
unsafe impl plain::Plain for types::si_violation_event {}
unsafe impl plain::Plain for types::si_event_hdr {}
unsafe impl plain::Plain for types::si_proc_state {}
unsafe impl plain::Plain for types::si_trace_key {}
unsafe impl plain::Plain for types::si_count_slot {}
unsafe impl plain::Plain for types::si_filename_key {}
unsafe impl plain::Plain for types::si_module_rule {}
unsafe impl plain::Plain for types::si_pyconf {}
unsafe impl plain::Plain for types::si_exe_key {}
unsafe impl plain::Plain for types::si_value_event {}
unsafe impl plain::Plain for types::si_module_event {}
unsafe impl plain::Plain for types::si_path_key {}
unsafe impl plain::Plain for types::si_addr_key {}
unsafe impl plain::Plain for types::si_resume_event {}
unsafe impl plain::Plain for types::si_report_key {}
unsafe impl plain::Plain for types::si_report_val {}

/// Well-known module ids (`enum si_module_id` in `src/bpf/sandbox.h`, through
/// the skeleton).
pub mod module_id {
    use crate::skel::types::si_module_id as M;
    pub const FRAMELESS: u32 = M::MODULE_FRAMELESS.0;
    pub const NON_PYTHON: u32 = M::MODULE_NON_PYTHON.0;
    pub const TRUNCATED: u32 = M::MODULE_TRUNCATED.0;
    pub const OVERFLOW: u32 = M::MODULE_OVERFLOW.0;
    pub const UNREADABLE: u32 = M::MODULE_UNREADABLE.0;
    pub const NOWALK: u32 = M::MODULE_NOWALK.0;
    pub const STARTUP: u32 = M::MODULE_STARTUP.0;
    pub const BASE: u32 = M::MODULE_BASE.0;
    pub const DANGEROUS: u32 = M::MODULE_DANGEROUS.0;
    /// A report's frame slot of a C-stack shim frame (3.12+), not shown.
    pub const SHIM: u32 = M::MODULE_SHIM.0;
    pub const ANY_STACK: u32 = M::MODULE_ANY_STACK.0;
    pub const FIRST_DYNAMIC: u32 = M::MODULE_FIRST_DYNAMIC.0;
}

/// Why a verdict involved more than the named modules (`enum si_reason`).
pub mod reason {
    use crate::skel::types::si_reason as R;
    pub const DANGEROUS: u32 = R::REASON_DANGEROUS.0;
    pub const TRUNCATED: u32 = R::REASON_TRUNCATED.0;
    pub const UNREADABLE: u32 = R::REASON_UNREADABLE.0;
    pub const OVERFLOW: u32 = R::REASON_OVERFLOW.0;
    pub const INHERITED: u32 = R::REASON_INHERITED.0;
    pub const FRAMELESS: u32 = R::REASON_FRAMELESS.0;
    pub const STARTUP: u32 = R::REASON_STARTUP.0;
    pub const VALUE: u32 = R::REASON_VALUE.0;
}

/// Rule flags (`enum si_rule_flags`): a guard's module.
pub const RULE_GUARD: u32 = types::si_rule_flags::RULE_GUARD.0;
/// A program's rule (`spec.programs`): its own list decides, `base` does not apply.
pub const RULE_PROGRAM: u32 = types::si_rule_flags::RULE_PROGRAM.0;

/// Limits of the kernel side's reporting in log mode (`enum si_limit`).
pub mod limit {
    use crate::skel::types::si_limit as L;
    /// Distinct (process, syscall, first denying module) triples whose
    /// repeats are counted; violations of triples beyond it are counted in
    /// [`super::Stats::report_keys_overflow`].
    pub const REPORT_KEYS: u32 = L::REPORT_KEYS_MAX.0;
    /// Full violation records per run; beyond it only the first violation of
    /// each syscall number is sent in full.
    pub const FULL_REPORTS: u32 = L::FULL_REPORTS_MAX.0;
}

/// Events taken from the ring buffer per [`Sandbox::poll`]: the rest wait
/// in the ring (where a full ring counts them as lost), so the supervisor's
/// memory does not grow with the kernel's pace.
const POLL_BATCH: usize = 256;

use types::si_event_type as Ev;
use types::si_proc_kind as Kind;
use types::si_stat_id as Stat;

/// `COUNT_CACHE_SLOTS` in sandbox.h.
const COUNT_CACHE_SLOTS: u32 = 4096;
const MAX_PYCONFS: usize = 8;

/// What the kernel side does at each syscall (`enum si_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Trace,
    Log,
    Kill,
    Stop,
}

impl Mode {
    fn kernel(self) -> types::si_mode {
        match self {
            Mode::Trace => types::si_mode::MODE_TRACE,
            Mode::Log => types::si_mode::MODE_LOG,
            Mode::Kill => types::si_mode::MODE_KILL,
            Mode::Stop => types::si_mode::MODE_STOP,
        }
    }
}

/// How modules the policy does not cover are judged (`enum si_unknown_rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownRule {
    BaseOnly,
    Allow,
    Deny,
}

impl UnknownRule {
    fn kernel(self) -> types::si_unknown_rule {
        match self {
            UnknownRule::BaseOnly => types::si_unknown_rule::UNKNOWN_BASE_ONLY,
            UnknownRule::Allow => types::si_unknown_rule::UNKNOWN_ALLOW,
            UnknownRule::Deny => types::si_unknown_rule::UNKNOWN_DENY,
        }
    }
}

/// The default and the largest walk limit, in frames: the whole stack is
/// judged at any depth a program reaches in practice; deeper stacks are
/// judged as if an unknown module had made the syscall.
pub const DEFAULT_WALK_LIMIT: u32 = 1 << 16;
pub const MAX_WALK_LIMIT: u32 = 1 << 20;

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub unknown_rule: UnknownRule,
    /// Frames walked per syscall before the stack counts as truncated.
    pub walk_limit: u32,
    /// Guards: clones that start a thread are not judged (the thread still
    /// inherits its creator's modules).
    pub thread_clone_exempt: bool,
    /// Whether `startup`/`frameless`/`base` refuse the dangerous classes
    /// whatever they list (run and trace: yes; guards, whose rules alone
    /// decide: no).
    pub shared_sets_judge_danger: bool,
    /// Guards: the inode of the pipe the supervisor reads its commands from;
    /// code running under a guard is denied writing to it.
    pub channel_ino: Option<u64>,
    /// Guards: spare processes running the secimport binary (another mode's
    /// supervisor of the same program) when the tree is killed.
    pub spare_supervisors: bool,
    /// Run: send [`Event::Module`] for every source file that gets a module
    /// id while the program runs, so its rule can be installed then.
    pub announce_modules: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Trace,
            unknown_rule: UnknownRule::BaseOnly,
            walk_limit: DEFAULT_WALK_LIMIT,
            thread_clone_exempt: false,
            shared_sets_judge_danger: true,
            channel_ino: None,
            spare_supervisors: false,
            announce_modules: false,
        }
    }
}

/// Kernel counters (see `enum stat_id` in sandbox.h).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub syscalls: u64,
    pub walks: u64,
    pub truncated: u64,
    pub events_lost: u64,
    pub read_errors: u64,
    pub module_overflow: u64,
    pub tstate_misses: u64,
    pub violations: u64,
    pub violations_suppressed: u64,
    pub tstate_scans: u64,
    pub signal_writes: u64,
    /// Log mode: violations whose (process, syscall, module) did not fit the
    /// kernel's table of [`limit::REPORT_KEYS`] (not remembered: counted,
    /// and reported in full only under the cap).
    pub report_keys_overflow: u64,
    /// Log mode: first violations of a (process, syscall, module) not sent
    /// in full because [`limit::FULL_REPORTS`] were sent already.
    pub reports_capped: u64,
    /// Log mode: first violations of a (process, syscall, module) not sent
    /// in full then because the ring buffer was more than half full (the
    /// supervisor was behind); a later repeat is sent in full if there is
    /// room.
    pub reports_throttled: u64,
    /// Stop mode: stopped syscalls let through once after SIGCONT.
    pub resumed: u64,
}

/// One (process, syscall, first denying module) of log mode, as counted by
/// the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportCount {
    pub tgid: u32,
    pub nr: u32,
    pub module: u32,
    /// Violations of the triple.
    pub count: u64,
    /// Whether a full record of it was sent.
    pub full: bool,
}

/// One frame of a violating stack, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub module: u32,
    pub function: String,
    pub firstlineno: u32,
    /// The line of the current instruction, from the code's line table as
    /// the interpreter version lays it out, if the table says.
    pub line: Option<u32>,
}

/// One argument value of a syscall, as the kernel read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// `exec`, `write`, `connect` or `bind`.
    pub kind: &'static str,
    /// The value as traces and reports write it: an absolute path
    /// (`<unresolved>` when it could not be read or built), or for
    /// addresses `inet:1.2.3.4:80`, `inet:[::1]:8080`, `unix:/path`,
    /// `unix:@name`, `other`.
    pub text: String,
}

/// The text of a value-kind enum as policies name it.
fn value_kind_name(kind: u8) -> Option<&'static str> {
    use types::si_value_kind as K;
    Some(match u32::from(kind) {
        k if k == K::VALUE_EXEC.0 => "exec",
        k if k == K::VALUE_WRITE.0 => "write",
        k if k == K::VALUE_CONNECT.0 => "connect",
        k if k == K::VALUE_BIND.0 => "bind",
        _ => return None,
    })
}

/// The kernel's value-kind number for a policy's kind name.
pub fn value_kind_number(kind: &str) -> Option<u32> {
    use types::si_value_kind as K;
    Some(match kind {
        "exec" => K::VALUE_EXEC.0,
        "write" => K::VALUE_WRITE.0,
        "connect" => K::VALUE_CONNECT.0,
        "bind" => K::VALUE_BIND.0,
        _ => return None,
    })
}

const AF_UNIX: u8 = libc::AF_UNIX as u8;
const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;

fn decode_value(v: &types::si_value) -> Option<Value> {
    use types::si_value_flags as F;
    let kind = value_kind_name(v.kind)?;
    let path = cstr(&i8s(&v.s));
    let unresolved = v.flags & F::VALUE_UNRESOLVED.0 != 0;
    let text = match (kind, v.family) {
        ("connect" | "bind", AF_INET) if !unresolved => {
            let ip = std::net::Ipv4Addr::new(v.addr[0], v.addr[1], v.addr[2], v.addr[3]);
            format!("inet:{ip}:{}", v.port)
        }
        ("connect" | "bind", AF_INET6) if !unresolved => {
            format!("inet:[{}]:{}", std::net::Ipv6Addr::from(v.addr), v.port)
        }
        ("connect" | "bind", AF_UNIX) if !unresolved => format!("unix:{path}"),
        ("connect" | "bind", _) => "other".to_string(),
        _ if unresolved => "<unresolved>".to_string(),
        _ => path,
    };
    Some(Value { kind, text })
}

fn decode_values(values: &[types::si_value], n: u32) -> Vec<Value> {
    values[..(n as usize).min(values.len())]
        .iter()
        .filter_map(decode_value)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub comm: String,
    pub ts_ns: u64,
    pub nr: u32,
    pub module: u32,
    pub depth: u32,
    pub truncated: bool,
    /// `reason::*` bits.
    pub reasons: u32,
    /// Every module that denied it, first denier first.
    pub denied: Vec<u32>,
    /// Modules the thread inherited from its creator.
    pub inherited: Vec<u32>,
    /// The syscall's argument values (programs, paths, addresses), if its
    /// right carries some.
    pub values: Vec<Value>,
    pub frames: Vec<RawFrame>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Fork {
        pid: u32,
        ppid: u32,
        comm: String,
    },
    Exec {
        pid: u32,
        ppid: u32,
        comm: String,
        filename: String,
        python: bool,
        /// Not Python: the module id its syscalls are charged to and judged
        /// by (its program's, see [`Sandbox::add_program`]), or
        /// [`module_id::NON_PYTHON`].
        program: u32,
    },
    PythonReady {
        pid: u32,
    },
    Exit {
        pid: u32,
        comm: String,
        wait_status: i32,
        syscalls: u64,
    },
    Violation(Box<Violation>),
    /// Stop mode: the thread stopped at syscall `nr` was continued and made
    /// it again (the stop had interrupted it); it was let through once.
    Resumed {
        pid: u32,
        tid: u32,
        comm: String,
        ts_ns: u64,
        nr: u32,
    },
    /// A source file met for the first time got module id `id` (with
    /// [`Options::announce_modules`]).
    Module {
        id: u32,
        filename: String,
    },
    /// Trace mode: the argument values of a syscall of right `nr` and every
    /// module (kernel id) charged with it.
    Values {
        pid: u32,
        nr: u32,
        values: Vec<Value>,
        modules: Vec<u32>,
    },
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn i8s(bytes: &[i8]) -> Vec<u8> {
    bytes.iter().map(|&b| b as u8).collect()
}

fn decode(data: &[u8]) -> Option<Event> {
    let mut hdr = types::si_event_hdr::default();
    plain::copy_from_bytes(&mut hdr, data).ok()?;
    let comm = cstr(&i8s(&hdr.comm));
    match hdr.r#type {
        Ev::EV_FORK | Ev::EV_EXEC | Ev::EV_EXIT | Ev::EV_PYTHON_READY => {
            let mut e = types::si_proc_event::default();
            plain::copy_from_bytes(&mut e, data).ok()?;
            Some(match hdr.r#type {
                Ev::EV_FORK => Event::Fork {
                    pid: hdr.pid,
                    ppid: hdr.ppid,
                    comm,
                },
                Ev::EV_EXEC => Event::Exec {
                    pid: hdr.pid,
                    ppid: hdr.ppid,
                    comm,
                    filename: cstr(&i8s(&e.filename)),
                    python: e.kind == Kind::PROC_PYTHON,
                    program: e.program,
                },
                Ev::EV_EXIT => Event::Exit {
                    pid: hdr.pid,
                    comm,
                    wait_status: e.exit_code,
                    syscalls: e.syscalls,
                },
                _ => Event::PythonReady { pid: hdr.pid },
            })
        }
        Ev::EV_RESUMED => {
            let mut e = types::si_resume_event::default();
            plain::copy_from_bytes(&mut e, data).ok()?;
            Some(Event::Resumed {
                pid: hdr.pid,
                tid: hdr.tid,
                comm,
                ts_ns: hdr.ts_ns,
                nr: e.nr,
            })
        }
        Ev::EV_MODULE => {
            let mut e = types::si_module_event::default();
            plain::copy_from_bytes(&mut e, data).ok()?;
            let key: &[u8] = bytes_of(&e.fname);
            Some(Event::Module {
                id: e.module,
                filename: filename_of(key),
            })
        }
        Ev::EV_VALUE => {
            let mut e = types::si_value_event::default();
            plain::copy_from_bytes(&mut e, data).ok()?;
            Some(Event::Values {
                pid: hdr.pid,
                nr: e.nr,
                values: decode_values(&e.values, e.nvalues),
                modules: e.mods[..(e.nmods as usize).min(e.mods.len())].to_vec(),
            })
        }
        Ev::EV_VIOLATION => {
            // The kernel sends only the frames it filled in: the rest of the
            // struct stays zero.
            let mut e = types::si_violation_event::default();
            let size = std::mem::size_of::<types::si_violation_event>();
            let mut full = vec![0u8; size];
            let n = data.len().min(size);
            full[..n].copy_from_slice(&data[..n]);
            plain::copy_from_bytes(&mut e, &full).ok()?;
            let n = (e.nframes as usize).min(e.frames.len());
            let frames = e.frames[..n]
                .iter()
                .filter(|f| f.module != module_id::SHIM)
                .map(|f| RawFrame {
                    module: f.module,
                    function: cstr(&i8s(&f.func)),
                    firstlineno: f.firstlineno,
                    line: line_format(f.line_format)
                        .filter(|_| f.linetable_size != crate::python::NONE)
                        .and_then(|format| {
                            let n = (f.linetable_len as usize).min(f.linetable.len());
                            let whole = n as u64 == u64::from(f.linetable_size);
                            let table = &f.linetable[..n];
                            linetable::line_at(format, table, whole, f.firstlineno, f.lasti)
                        }),
                })
                .collect();
            Some(Event::Violation(Box::new(Violation {
                pid: hdr.pid,
                tid: hdr.tid,
                ppid: hdr.ppid,
                comm,
                ts_ns: hdr.ts_ns,
                nr: e.nr,
                module: e.module,
                depth: e.depth,
                truncated: e.truncated != 0,
                reasons: e.reasons,
                denied: e.denied[..(e.ndenied as usize).min(e.denied.len())].to_vec(),
                inherited: e.inherited[..(e.ninherited as usize).min(e.inherited.len())].to_vec(),
                values: decode_values(&e.values, e.nvalues),
                frames,
            })))
        }
        _ => None,
    }
}

fn bytes_of<T: plain::Plain>(v: &T) -> &[u8] {
    // SAFETY: T is Plain (a C struct without padding invariants); we only read
    // its bytes for the duration of the borrow.
    unsafe { plain::as_bytes(v) }
}

/// The loaded and attached BPF side.
pub struct Sandbox {
    skel: SandboxSkel<'static>,
    _links: Vec<Link>,
    /// Entries filled in the kernel's interpreter table.
    interpreters: u32,
    ring: Option<RingBuffer<'static>>,
    pending: Rc<RefCell<Vec<Event>>>,
}

fn bpf_err(what: &str) -> impl FnOnce(libbpf_rs::Error) -> EngineError + '_ {
    move |e| EngineError::Bpf {
        what: what.to_string(),
        source: e,
    }
}

impl Sandbox {
    /// Opens, configures, loads and attaches the BPF programs.
    pub fn load(opts: &Options) -> Result<Sandbox, EngineError> {
        crate::logging::route_libbpf();
        let started = std::time::Instant::now();
        // The skeleton borrows its object storage for as long as it lives; a
        // sandbox lives for the whole command, so the storage is leaked.
        let storage: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = SandboxSkelBuilder::default()
            .open(storage)
            .map_err(bpf_err("opening the BPF object"))?;
        // For whoever changes the BPF code: SECIMPORT_VERIFIER_STATS=4 with
        // RUST_LOG=libbpf=trace prints the verifier's statistics for the
        // sys_enter program (its verification time is most of the start-up
        // cost; see docs/benchmarks.md).
        if let Some(level) = std::env::var("SECIMPORT_VERIFIER_STATS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            open.progs.on_sys_enter.set_log_level(level);
        }
        {
            let ro = open
                .maps
                .rodata_data
                .as_deref_mut()
                .expect("the BPF object has read-only globals");
            ro.mode = opts.mode.kernel();
            ro.unknown_rule = opts.unknown_rule.kernel();
            ro.max_depth = opts.walk_limit.clamp(1, MAX_WALK_LIMIT);
            ro.supervisor_tgid = std::process::id();
            ro.thread_clone_exempt = opts.thread_clone_exempt as u32;
            ro.shared_sets_judge_danger = opts.shared_sets_judge_danger as u32;
            ro.channel_ino = opts.channel_ino.unwrap_or(0);
            ro.announce_modules = opts.announce_modules as u32;
            if opts.spare_supervisors {
                if let Ok(me) = std::fs::metadata("/proc/self/exe") {
                    ro.self_dev = kernel_dev(me.dev());
                    ro.self_ino = me.ino();
                }
            }
        }
        let opened = started.elapsed();
        let skel = open.load().map_err(|e| EngineError::Bpf {
            what: "loading the BPF programs (they need root and Linux 6.7+ with BTF: tp_btf, bpf_loop, task storage, the VMA iterator; -vv shows libbpf and the verifier)"
                .into(),
            source: e,
        })?;

        tracing::debug!(
            "BPF object opened in {} ms, loaded (verified) in {} ms",
            opened.as_millis(),
            (started.elapsed() - opened).as_millis()
        );
        if let Some((insns, _)) = prog_counters(&skel.progs.on_sys_enter) {
            tracing::debug!("sys_enter program: {insns} instructions verified");
        }
        let mut links = Vec::new();
        let progs = &skel.progs;
        for (name, prog) in [
            ("sys_enter", &progs.on_sys_enter),
            ("sched_process_fork", &progs.on_fork),
            ("sched_process_exec", &progs.on_exec),
            ("sched_process_exit", &progs.on_exit),
            ("signal_deliver", &progs.on_signal_deliver),
        ] {
            links.push(prog.attach().map_err(|e| EngineError::Bpf {
                what: format!("attaching to the {name} tracepoint"),
                source: e,
            })?);
        }

        let mut sandbox = Sandbox {
            skel,
            _links: links,
            interpreters: 0,
            ring: None,
            pending: Rc::new(RefCell::new(Vec::new())),
        };
        sandbox.build_ring()?;
        // The fixed classes, in every mode: what is never walked (the
        // harmless set) and what shared sets can never allow.
        sandbox.set_rule(
            module_id::NOWALK,
            &secimport_policy::classes::harmless_bitmap(),
        )?;
        sandbox.set_rule(
            module_id::DANGEROUS,
            &secimport_policy::classes::dangerous_bitmap(),
        )?;
        tracing::debug!(
            "BPF programs loaded and attached in {} ms",
            started.elapsed().as_millis()
        );
        Ok(sandbox)
    }

    /// Tells the kernel side about an interpreter: where its `_PyRuntime`
    /// lives and which offsets to walk with. Processes exec'ing its
    /// executable are recognised as Python.
    pub fn add_interpreter(&mut self, interp: &Interpreter) -> Result<(), EngineError> {
        let idx = self.interpreters;
        if idx as usize >= MAX_PYCONFS {
            return Err(EngineError::Policy(format!(
                "at most {MAX_PYCONFS} interpreters per sandbox"
            )));
        }
        let stat = |p: &std::path::Path| {
            std::fs::metadata(p).map_err(|e| EngineError::Interpreter {
                path: p.display().to_string(),
                reason: format!("cannot stat: {e}"),
                fix: "check the interpreter path".into(),
            })
        };
        let rt = stat(&interp.runtime_elf)?;
        let o = &interp.offsets;
        let conf = types::si_pyconf {
            off: *o,
            runtime_dev: kernel_dev(rt.dev()),
            runtime_ino: rt.ino(),
            runtime_offset: interp.runtime_offset,
            frame_window: crate::python::frame_window(o),
            ..Default::default()
        };
        self.skel
            .maps
            .pyconfs
            .update(&idx.to_ne_bytes(), bytes_of(&conf), MapFlags::ANY)
            .map_err(bpf_err("filling the interpreter table"))?;
        let exe = stat(&interp.executable)?;
        let key = types::si_exe_key {
            dev: kernel_dev(exe.dev()),
            ino: exe.ino(),
        };
        self.skel
            .maps
            .py_exes
            .update(bytes_of(&key), &idx.to_ne_bytes(), MapFlags::ANY)
            .map_err(bpf_err("registering the interpreter executable"))?;
        self.interpreters += 1;
        Ok(())
    }

    fn build_ring(&mut self) -> Result<(), EngineError> {
        let pending = Rc::clone(&self.pending);
        let mut builder = RingBufferBuilder::new();
        builder
            .add(&self.skel.maps.events, move |data: &[u8]| {
                let mut pending = pending.borrow_mut();
                if let Some(ev) = decode(data) {
                    pending.push(ev);
                }
                // A negative value makes libbpf stop after this record: the
                // rest stays in the ring for the next poll.
                if pending.len() >= POLL_BATCH {
                    -1
                } else {
                    0
                }
            })
            .map_err(bpf_err("setting up the event ring buffer"))?;
        self.ring = Some(
            builder
                .build()
                .map_err(bpf_err("setting up the event ring buffer"))?,
        );
        Ok(())
    }

    /// Starts following `pid`: it is ignored until it execs, then it and all
    /// its descendants are sandboxed.
    pub fn track_launching(&self, pid: u32) -> Result<(), EngineError> {
        let st = types::si_proc_state {
            kind: Kind::PROC_LAUNCHING,
            ..Default::default()
        };
        self.skel
            .maps
            .procs
            .update(&pid.to_ne_bytes(), bytes_of(&st), MapFlags::ANY)
            .map_err(bpf_err("tracking the target process"))
    }

    /// Sets the shared sets: `base` (every module), `startup` and `frameless`
    /// (no Python frame), and from them the derived set the kernel may allow
    /// without walking: what all three allow (dangerous forms are still
    /// walked and judged).
    pub fn set_shared_sets(
        &self,
        base: &secimport_policy::policy::Bitmap,
        startup: &secimport_policy::policy::Bitmap,
        frameless: &secimport_policy::policy::Bitmap,
    ) -> Result<(), EngineError> {
        self.set_rule(module_id::BASE, base)?;
        self.set_rule(module_id::STARTUP, startup)?;
        self.set_rule(module_id::FRAMELESS, frameless)?;
        let any: secimport_policy::policy::Bitmap =
            std::array::from_fn(|i| base[i] & startup[i] & frameless[i]);
        self.set_rule(module_id::ANY_STACK, &any)
    }

    /// Sets what module `id` may do (run modes). `allow` is a 512-bit
    /// bitmap indexed by syscall number.
    pub fn set_rule(
        &self,
        id: u32,
        allow: &secimport_policy::policy::Bitmap,
    ) -> Result<(), EngineError> {
        self.set_rule_with_flags(id, allow, 0)
    }

    /// [`Sandbox::set_rule`] with `RULE_*` flags.
    pub fn set_rule_with_flags(
        &self,
        id: u32,
        allow: &secimport_policy::policy::Bitmap,
        flags: u32,
    ) -> Result<(), EngineError> {
        self.set_rule_restricted(id, allow, flags, 0)
    }

    /// [`Sandbox::set_rule_with_flags`] where `restricted` has bit
    /// `1 << kind` set for each value kind ([`value_kind_number`]) whose
    /// values must match the module's patterns ([`Sandbox::add_path_pattern`],
    /// [`Sandbox::add_addr_pattern`]).
    pub fn set_rule_restricted(
        &self,
        id: u32,
        allow: &secimport_policy::policy::Bitmap,
        flags: u32,
        restricted: u32,
    ) -> Result<(), EngineError> {
        let rule = types::si_module_rule {
            allow: *allow,
            present: 1,
            flags,
            restricted,
            pad: 0,
        };
        self.skel
            .maps
            .rules
            .update(&id.to_ne_bytes(), bytes_of(&rule), MapFlags::ANY)
            .map_err(bpf_err("loading the policy into the kernel"))
    }

    /// A path pattern of module `id` for values of `kind`: `Exact(path)`,
    /// `Children(dir/)`, `Tree(dir/)` (directories with their trailing `/`).
    pub fn add_path_pattern(
        &self,
        id: u32,
        kind: u32,
        pattern: &secimport_policy::arguments::PathPattern,
    ) -> Result<(), EngineError> {
        use secimport_policy::arguments::PathPattern as P;
        use types::si_path_pattern as T;
        let (text, kind_of_pattern) = match pattern {
            P::Exact(p) => (p.as_str(), T::PATTERN_EXACT.0),
            P::Children(d) => (d.as_str(), T::PATTERN_CHILDREN.0),
            P::Tree(d) => (d.as_str(), T::PATTERN_TREE.0),
        };
        self.add_path_key(id, kind, kind_of_pattern, text)
    }

    fn add_path_key(
        &self,
        id: u32,
        kind: u32,
        pattern: u32,
        text: &str,
    ) -> Result<(), EngineError> {
        let mut key = types::si_path_key {
            module: id,
            kind: kind as u16,
            pattern: pattern as u16,
            ..Default::default()
        };
        let bytes = text.as_bytes();
        if bytes.len() >= key.s.len() {
            return Err(EngineError::Policy(format!(
                "the path pattern {text:?} is longer than the kernel side holds ({} bytes)",
                key.s.len() - 1
            )));
        }
        for (d, &b) in key.s.iter_mut().zip(bytes) {
            *d = b as i8;
        }
        self.skel
            .maps
            .paths
            .update(bytes_of(&key), &[1u8], MapFlags::ANY)
            .map_err(bpf_err(
                "loading the policy's path patterns into the kernel",
            ))
    }

    /// An address pattern of module `id` for values of `kind` (connect or
    /// bind).
    pub fn add_addr_pattern(
        &self,
        id: u32,
        kind: u32,
        pattern: &secimport_policy::arguments::AddrPattern,
    ) -> Result<(), EngineError> {
        use secimport_policy::arguments::AddrPattern as A;
        match pattern {
            A::Unix(p) => self.add_path_pattern(id, kind, p),
            A::Abstract(name) => self.add_path_key(
                id,
                kind,
                types::si_path_pattern::PATTERN_EXACT.0,
                &format!("@{name}"),
            ),
            A::Inet { addr, prefix, port } => {
                let (family, bytes, bits) = match addr {
                    std::net::IpAddr::V4(a) => {
                        let mut b = [0u8; 16];
                        b[..4].copy_from_slice(&a.octets());
                        (AF_INET, b, 32)
                    }
                    std::net::IpAddr::V6(a) => (AF_INET6, a.octets(), 128),
                };
                let key = types::si_addr_key {
                    prefixlen: types::si_addr_key_bits::ADDR_KEY_FIXED_BITS.0
                        + u32::from((*prefix).min(bits)),
                    module: id,
                    kind: kind as u8,
                    family,
                    any_port: u8::from(port.is_none()),
                    pad: 0,
                    port: port.unwrap_or(0),
                    addr: bytes,
                };
                self.skel
                    .maps
                    .addrs
                    .update(bytes_of(&key), &[1u8], MapFlags::ANY)
                    .map_err(bpf_err(
                        "loading the policy's address patterns into the kernel",
                    ))
            }
        }
    }

    /// Judges the processes running the program `exe` (by identity: its
    /// device and inode, symlinks resolved) by rule `id` alone, which
    /// [`Sandbox::set_rule_with_flags`] sets with [`RULE_PROGRAM`]. Returns
    /// false if `exe` does not exist (nothing to judge).
    pub fn add_program(&self, exe: &std::path::Path, id: u32) -> Result<bool, EngineError> {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(exe) else {
            return Ok(false);
        };
        let key = types::si_exe_key {
            dev: kernel_dev(meta.dev()),
            ino: meta.ino(),
        };
        self.skel
            .maps
            .programs
            .update(bytes_of(&key), &id.to_ne_bytes(), MapFlags::ANY)
            .map_err(bpf_err("loading the policy's programs into the kernel"))?;
        Ok(true)
    }

    /// Pre-assigns module id `id` to the source file `filename` (a
    /// `co_filename`), so the kernel judges that file by `rules[id]`.
    pub fn register_file(&self, filename: &str, id: u32) -> Result<(), EngineError> {
        let key = filename_key(filename);
        self.skel
            .maps
            .module_ids
            .update(bytes_of(&key), &id.to_ne_bytes(), MapFlags::ANY)
            .map_err(bpf_err("loading the policy's module table into the kernel"))
    }

    /// The module id of `filename`, allocating one the way the kernel does if
    /// the kernel has not met the file yet. Safe while the target runs.
    pub fn module_id_for(&mut self, filename: &str) -> Result<u32, EngineError> {
        let key = filename_key(filename);
        let map = &self.skel.maps.module_ids;
        if let Ok(Some(v)) = map.lookup(bytes_of(&key), MapFlags::ANY) {
            return Ok(u32::from_ne_bytes(v[..4].try_into().unwrap()));
        }
        let data = self
            .skel
            .maps
            .data_data
            .as_deref_mut()
            .expect("the BPF object has global data");
        // The kernel side takes ids with an atomic add on this same word.
        // SAFETY: the pointer is to a live, aligned u32 in the mmapped global
        // data, which the kernel only accesses atomically too.
        let counter = unsafe { std::sync::atomic::AtomicU32::from_ptr(&mut data.next_module) };
        let id = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match map.update(bytes_of(&key), &id.to_ne_bytes(), MapFlags::NO_EXIST) {
            Ok(()) => Ok(id),
            // The kernel met the file meanwhile: use its id.
            Err(_) => map
                .lookup(bytes_of(&key), MapFlags::ANY)
                .ok()
                .flatten()
                .map(|v| u32::from_ne_bytes(v[..4].try_into().unwrap()))
                .ok_or_else(|| EngineError::Policy(format!("cannot register {filename}"))),
        }
    }

    /// Starts following a process that is already running the interpreter
    /// added first (its runtime is found at its next syscall).
    pub fn track_running(&self, pid: u32) -> Result<(), EngineError> {
        // Attached to a running program: its start-up is over.
        let st = types::si_proc_state {
            kind: Kind::PROC_PYTHON,
            started: 1,
            ..Default::default()
        };
        self.skel
            .maps
            .procs
            .update(&pid.to_ne_bytes(), bytes_of(&st), MapFlags::ANY)
            .map_err(bpf_err("tracking the process"))
    }

    /// First id the kernel hands out to files the policy does not name.
    pub fn set_next_dynamic_module(&mut self, next: u32) {
        if let Some(data) = self.skel.maps.data_data.as_deref_mut() {
            data.next_module = next;
        }
    }

    /// Waits up to `timeout` for events and returns those that arrived (at
    /// most a batch: call again for more).
    pub fn poll(&self, timeout: Duration) -> Vec<Event> {
        if let Some(ring) = &self.ring {
            // An interrupted poll (EINTR) just returns early.
            let _ = ring.poll(timeout);
            // The kernel may skip a wake-up (adaptive notification): take
            // what is waiting anyway, so nothing sits there until the next
            // record wakes us (a file's rule, say, waiting for installing).
            let _ = ring.consume();
        }
        std::mem::take(&mut *self.pending.borrow_mut())
    }

    /// The next batch of events already in the ring buffer, without waiting
    /// for a wake-up (which the kernel may defer): empty once it is drained.
    /// Called in a loop at the end, so that nothing submitted before the
    /// tree died is left unread.
    pub fn drain(&self) -> Vec<Event> {
        if let Some(ring) = &self.ring {
            let _ = ring.consume();
        }
        std::mem::take(&mut *self.pending.borrow_mut())
    }

    /// Pids of the processes still followed.
    pub fn live_processes(&self) -> Vec<u32> {
        self.skel
            .maps
            .procs
            .keys()
            .filter_map(|k| {
                k.get(..4)
                    .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
            })
            .collect()
    }

    /// Module id -> the file name (`co_filename`) it stands for.
    pub fn module_files(&self) -> BTreeMap<u32, String> {
        let map = &self.skel.maps.module_ids;
        map.keys()
            .filter_map(|k| {
                let v = map.lookup(&k, MapFlags::ANY).ok()??;
                let id = u32::from_ne_bytes(v.get(..4)?.try_into().ok()?);
                Some((id, filename_of(&k)))
            })
            .collect()
    }

    /// (module id, syscall number) -> calls, summed over CPUs.
    pub fn trace_counts(&self) -> BTreeMap<(u32, u32), u64> {
        let map = &self.skel.maps.trace_counts;
        let mut out = BTreeMap::new();
        for k in map.keys() {
            let mut key = types::si_trace_key::default();
            if plain::copy_from_bytes(&mut key, &k).is_err() {
                continue;
            }
            if let Ok(Some(per_cpu)) = map.lookup_percpu(&k, MapFlags::ANY) {
                let total: u64 = per_cpu
                    .iter()
                    .filter_map(|v| {
                        v.get(..8)
                            .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
                    })
                    .sum();
                *out.entry((key.module, key.nr)).or_insert(0) += total;
            }
        }
        // Plus what is still in the per-CPU counter caches.
        let cache = &self.skel.maps.count_cache;
        for slot in 0..COUNT_CACHE_SLOTS {
            let Ok(Some(per_cpu)) = cache.lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY) else {
                continue;
            };
            for v in per_cpu {
                let mut c = types::si_count_slot::default();
                if plain::copy_from_bytes(&mut c, &v).is_ok() && c.count > 0 {
                    *out.entry((c.module, c.nr)).or_insert(0) += c.count;
                }
            }
        }
        out
    }

    pub fn stats(&self) -> Stats {
        let read = |id: u32| -> u64 {
            self.skel
                .maps
                .stats
                .lookup_percpu(&id.to_ne_bytes(), MapFlags::ANY)
                .ok()
                .flatten()
                .map(|cpus| {
                    cpus.iter()
                        .filter_map(|v| {
                            v.get(..8)
                                .map(|b| u64::from_ne_bytes(b.try_into().unwrap()))
                        })
                        .sum()
                })
                .unwrap_or(0)
        };
        Stats {
            syscalls: read(Stat::STAT_SYSCALLS.0),
            walks: read(Stat::STAT_WALKS.0),
            truncated: read(Stat::STAT_TRUNCATED.0),
            events_lost: read(Stat::STAT_EVENTS_LOST.0),
            read_errors: read(Stat::STAT_READ_ERRORS.0),
            module_overflow: read(Stat::STAT_MODULE_OVERFLOW.0),
            tstate_misses: read(Stat::STAT_TSTATE_MISSES.0),
            violations: read(Stat::STAT_VIOLATIONS.0),
            violations_suppressed: read(Stat::STAT_VIOLATIONS_SUPPRESSED.0),
            tstate_scans: read(Stat::STAT_TSTATE_SCANS.0),
            signal_writes: read(Stat::STAT_SIGNAL_WRITES.0),
            report_keys_overflow: read(Stat::STAT_REPORT_KEYS_OVERFLOW.0),
            reports_capped: read(Stat::STAT_REPORTS_CAPPED.0),
            reports_throttled: read(Stat::STAT_REPORTS_THROTTLED.0),
            resumed: read(Stat::STAT_RESUMED.0),
        }
    }

    /// Log mode: every (process, syscall, first denying module) the kernel
    /// counted (at most [`limit::REPORT_KEYS`]).
    pub fn report_counts(&self) -> Vec<ReportCount> {
        let map = &self.skel.maps.reported;
        map.keys()
            .filter_map(|k| {
                let mut key = types::si_report_key::default();
                plain::copy_from_bytes(&mut key, &k).ok()?;
                let v = map.lookup(&k, MapFlags::ANY).ok()??;
                let mut val = types::si_report_val::default();
                plain::copy_from_bytes(&mut val, &v).ok()?;
                Some(ReportCount {
                    tgid: key.tgid,
                    nr: key.nr,
                    module: key.module,
                    count: val.count,
                    full: val.full != 0,
                })
            })
            .collect()
    }
}

/// (instructions the verifier processed, runs the kernel skipped because the
/// program was already running on that CPU) of a loaded program.
fn prog_counters(prog: &libbpf_rs::Program) -> Option<(u32, u64)> {
    use std::os::fd::{AsFd, AsRawFd};
    let mut info = libbpf_rs::libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of_val(&info) as u32;
    // SAFETY: the fd is the program's, live for the borrow; `info` and `len`
    // are valid for writes of `len` bytes.
    let rc = unsafe {
        libbpf_rs::libbpf_sys::bpf_prog_get_info_by_fd(
            prog.as_fd().as_raw_fd(),
            &mut info,
            &mut len,
        )
    };
    (rc == 0).then_some((info.verified_insns, info.recursion_misses))
}

impl Sandbox {
    /// Syscalls of any process the sys_enter program could not look at
    /// because it was already running on that CPU (a preempted walk on a
    /// fully preemptible kernel): they were neither judged nor traced.
    pub fn missed_syscalls(&self) -> u64 {
        prog_counters(&self.skel.progs.on_sys_enter).map_or(0, |(_, misses)| misses)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The ring buffer refers to the skeleton's map: drop it first.
        self.ring.take();
    }
}

/// A file name as the kernel keys it (see `resolve_filename` in
/// sandbox.bpf.c): ASCII as is; otherwise a byte giving CPython's code-unit
/// width (1: latin-1, 2: UCS-2, 4: UCS-4) and the code units, little-endian.
/// At most FILENAME_MAX_LEN - 1 bytes of it count.
fn filename_bytes(filename: &str) -> Vec<u8> {
    if filename.is_ascii() {
        return filename.as_bytes().to_vec();
    }
    let widest = filename.chars().map(|c| c as u32).max().unwrap_or(0);
    let kind: u8 = if widest < 0x100 {
        1
    } else if widest < 0x10000 {
        2
    } else {
        4
    };
    let mut out = vec![kind];
    for c in filename.chars() {
        out.extend_from_slice(&(c as u32).to_le_bytes()[..kind as usize]);
    }
    out
}

/// The file name a kernel key stands for (the inverse of [`filename_bytes`]).
fn filename_of(key: &[u8]) -> String {
    let kind = match key.first() {
        Some(&k @ (1 | 2 | 4)) => k as usize,
        _ => return cstr(key),
    };
    key[1..]
        .chunks_exact(kind)
        .map(|unit| {
            let mut b = [0u8; 4];
            b[..kind].copy_from_slice(unit);
            u32::from_le_bytes(b)
        })
        .take_while(|&u| u != 0)
        .map(|u| char::from_u32(u).unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn filename_key(filename: &str) -> types::si_filename_key {
    let mut key = types::si_filename_key::default();
    let bytes = filename_bytes(filename);
    let n = bytes.len().min(key.name.len() - 1);
    for (dst, src) in key.name.iter_mut().zip(&bytes[..n]) {
        *dst = *src as i8;
    }
    key
}

/// The kernel's `s_dev` is MKDEV(major, minor) = major << 20 | minor; stat's
/// st_dev encodes the same pair differently.
fn kernel_dev(dev: u64) -> u64 {
    ((libc::major(dev) as u64) << 20) | libc::minor(dev) as u64
}

/// The decoder of a frame's `enum si_line_format`.
fn line_format(v: u32) -> Option<linetable::LineFormat> {
    use types::si_line_format as F;
    match v {
        x if x == F::LINES_LNOTAB.0 => Some(linetable::LineFormat::Lnotab),
        x if x == F::LINES_310.0 => Some(linetable::LineFormat::Linetable310),
        x if x == F::LINES_LOCATIONS.0 => Some(linetable::LineFormat::Locations),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{filename_bytes, filename_of};

    #[test]
    fn file_names_round_trip_in_every_width() {
        for name in [
            "/srv/app.py",
            "/home/jos\u{e9}/app.py",
            "/tmp/\u{444}\u{430}\u{439}\u{43b}.py",
            "/tmp/\u{1f40d}.py",
        ] {
            let mut key = filename_bytes(name);
            key.resize(256, 0);
            assert_eq!(filename_of(&key), name);
        }
        assert_eq!(filename_bytes("/tmp/\u{e9}")[0], 1);
        assert_eq!(filename_bytes("/tmp/\u{444}")[0], 2);
        assert_eq!(filename_bytes("/tmp/\u{1f40d}")[0], 4);
    }
}
