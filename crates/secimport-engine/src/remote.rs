//! The Python stack of a thread of *another* process, read from user space
//! with `process_vm_readv`: what the kernel walk (`src/bpf/lib/pystate.h`,
//! `walk.h`, `report.h`) sees, for a supervisor that is not BPF (a
//! seccomp user-notification backend: the thread is blocked in the notified
//! syscall while its stack is read).
//!
//! It is the same walk over the same data: the offsets rows of
//! [`crate::python`] (the kernel's `struct si_py_offsets`), the two frame
//! families (heap `PyFrameObject`s through `f_back` before 3.11,
//! `_PyInterpreterFrame`s on the thread's frame stack from 3.11, reached
//! through `cframe` (3.11, 3.12) or directly (3.13+), code references masked
//! with `code_tag_bits`, frames whose owner byte is `>= owner_skip` skipped),
//! every thread state bound to the OS thread in every interpreter, in the
//! order the kernel finds them (the interpreter list from its head: a
//! subinterpreter running on the thread comes before the interpreter that
//! called into it, so frames stay innermost first), file names keyed as
//! `resolve_filename` keys them, and lines from [`crate::linetable`].
//! Attribution is therefore the kernel's, quirks included: before 3.13,
//! `_xxsubinterpreters.run_string` runs code on the subinterpreter's first
//! thread state, whose `thread_id` is the thread that *created* the
//! subinterpreter (CPython gh-109860), so its frames show on that thread.
//!
//! The stack is consistent only while the thread is stopped (blocked in the
//! notified syscall): a running thread's may come back mixed or as an error.
//!
//! # Which thread state is the thread's
//!
//! The kernel compares `PyThreadState.thread_id` (`pthread_self()` of the
//! thread that bound it) with the task's fsbase; another process cannot read
//! a thread's fsbase without ptrace. `PyThreadState.native_thread_id` (the
//! kernel tid) exists only from 3.11 and its offset is in no row. So instead
//! `thread_id` is followed into the C library's thread descriptor, which
//! holds the thread's kernel tid at a fixed offset: glibc x86-64's `struct
//! pthread` has `tid` at 0x2d0 (720), the same in every glibc for years. The
//! offset is trusted only once verified twice: in this process (the word at
//! `pthread_self() + off` of a fresh thread is its `gettid()`; if 0x2d0 is not,
//! the one offset in the first 4 KiB that is, found by scanning), and in the
//! target (some thread state's `thread_id + off` reads the target's pid: the
//! main thread's). Until the target has a thread state nothing can be
//! verified (and no thread has a state); once it has and none verifies,
//! [`RemoteError::ThreadIds`] says so. Consequences: a target whose C library
//! lays out its thread descriptor differently from ours (a musl Python under
//! a glibc supervisor) is refused, not misread; an interpreter whose main
//! OS thread never had a Python thread state (embedded, started on another
//! thread) cannot be verified and is refused too.
//!
//! # Cost
//!
//! Every read goes through one per-call memory snapshot: a list of regions
//! read with batched `process_vm_readv` calls (many remote iovecs each; a
//! failing iovec is retried past, so one bad address costs one more call, not
//! the batch). The walk asks for bytes; a region that holds them serves them,
//! otherwise it is read (frame-stack frames in blocks: from the chunk's start
//! or the frame's page to the end of the frame's page, as `read_stack_frame`
//! does; a heap frame (3.8-3.10) with its page, which often holds more of the
//! stack; code windows, string and table starts batched for all the frames
//! of a stack). Per OS thread, the regions the last walk used are kept and read
//! in the call's first batch: a thread that blocks again in a similar stack
//! costs one `process_vm_readv`. [`RemoteStack::reads`] counts them.
//!
//! Per thread, like `find_tstates`, its thread states are cached and
//! re-validated at each use (the interpreter list and every interpreter's
//! thread-list head unchanged, CPython inserting new states at the head;
//! each state still naming this thread); otherwise every thread state of
//! every interpreter is scanned. Per code object address its file name,
//! function, first line and line table are cached, re-validated by reading
//! the code object's `co_filename`, name and line-table pointers and first
//! line (one small window per code, batched).
//!
//! # Hostile targets
//!
//! Nothing read is trusted: every list and walk is bounded (interpreters,
//! thread-state scan steps, states per thread, frames visited, chunk hops),
//! lengths are capped before anything is allocated, arithmetic on target
//! values is checked, and bad data is an error ([`RemoteError::Invalid`]),
//! never a panic. As in the kernel, a function name that cannot be read is
//! empty and a line table that cannot be read gives no line, but a frame,
//! thread state or file name that cannot be read is an error: the caller
//! judges the stack as the kernel judges `MODULE_UNREADABLE`.
//!
//! A pid names a process only while it lives: a caller that attaches for a
//! seccomp notification checks that the notification is still valid
//! (`SECCOMP_IOCTL_NOTIF_ID_VALID`) after reading, so a recycled pid is not
//! read in its place.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, OnceLock};

use crate::linetable::{self, LineFormat};
use crate::python::{Interpreter, PyOffsets, NONE};
use crate::skel::types;

/// Bytes of the kernel's file-name key (`FILENAME_MAX_LEN`).
const FILENAME_MAX_LEN: usize = std::mem::size_of::<types::si_filename_key>();
/// pystate.h's bounds: interpreters entered, thread states looked at.
const MAX_INTERPS: usize = 64;
const MAX_SCAN_STEPS: usize = 8192;
/// Thread states bound to one OS thread (the kernel keeps 4).
const MAX_THREAD_STATES: usize = 16;
/// Frames visited per walk whatever `max_frames` is (shims included).
const MAX_VISITS: usize = 1 << 20;
/// `previous` links followed to find the chunk a frame is in.
const MAX_CHUNK_HOPS: usize = 8;
/// Code units decoded of a file name, and of a function name.
const FILE_MAX_UNITS: u64 = 4096;
const NAME_MAX_UNITS: u64 = 1024;
/// Bytes of a line table kept (the kernel copies 1024).
const LINETABLE_CAP: u64 = 256 << 10;
/// Bytes read past an object's start in the first try (a short string's
/// characters, a short table's bytes); more is read only when needed.
const STR_PREFETCH: u64 = 256;
const BYTES_PREFETCH: u64 = 2048;
const PAGE: u64 = 4096;
/// Frame-stack bytes read at once.
const BLOCK: u64 = 16 << 10;
/// A frame this far above its chunk's start is not in the chunk.
const CHUNK_SPAN: u64 = 1 << 20;
/// Remote iovecs per `process_vm_readv` (the kernel's UIO_MAXIOV).
const IOV_MAX: usize = 1024;
/// Largest single read (every caller asks for less), and all one stack
/// may read (a hostile target's frames each on its own page, say).
const READ_MAX: u64 = 1 << 20;
const MAX_WALK_BYTES: u64 = 64 << 20;
/// What is kept to read first at a thread's next walk.
const SPEC_MAX_REGIONS: usize = 256;
const SPEC_MAX_BYTES: u64 = 128 << 10;
/// Cache sizes (cleared when full).
const MAX_CODES: usize = 1 << 16;
const MAX_THREADS: usize = 4096;
/// glibc x86-64: `offsetof(struct pthread, tid)`.
const GLIBC_TID_OFFSET: u64 = 0x2d0;
/// `_Py_DebugOffsets.cookie`, at the start of `_PyRuntime` from 3.13.
const DEBUG_COOKIE: &[u8; 8] = b"xdebugpy";

const FRAME_OBJECT: u32 = types::si_frame_family::FAMILY_FRAME_OBJECT.0;
const INTERP_FRAME: u32 = types::si_frame_family::FAMILY_INTERP_FRAME.0;

/// Why a stack could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("process {0} does not exist")]
    NoProcess(u32),
    #[error("may not read the memory of process {pid} ({}): run as its user or as root", errno_text(*errno))]
    Denied { pid: u32, errno: i32 },
    #[error("process {pid} is not running this interpreter: {reason}")]
    NotPython { pid: u32, reason: String },
    #[error(
        "thread {0} has no Python thread state (not a thread of the process, not running Python, \
         or the interpreter is not initialized)"
    )]
    NoThreadState(u32),
    #[error("cannot read {what} at {addr:#x} in the target: {}", errno_text(*errno))]
    Unreadable {
        what: &'static str,
        addr: u64,
        errno: i32,
    },
    #[error("{what} at {addr:#x} in the target is not valid")]
    Invalid { what: &'static str, addr: u64 },
    #[error("cannot tell which OS thread a Python thread state belongs to: {reason}")]
    ThreadIds { reason: String },
    #[error("more than {limit} {what}: not walked")]
    Overflow { what: &'static str, limit: usize },
    #[error("{path}: {}", errno_text(*errno))]
    Proc { path: String, errno: i32 },
}

fn errno_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// One Python frame of a remote thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFrame {
    /// `co_filename` exactly as the kernel keys it (`resolve_filename` in
    /// walk.h): an ASCII name's bytes (at most `FILENAME_MAX_LEN - 1`, up to
    /// a NUL), otherwise a byte giving CPython's code-unit width (1, 2, 4)
    /// and the raw little-endian code units (at most `FILENAME_MAX_LEN - 2`
    /// bytes). The sandbox's module keys are these bytes.
    pub filename: Vec<u8>,
    /// `co_filename` decoded (whole, up to 4096 characters; an unpaired
    /// surrogate or invalid byte replaced).
    pub file: String,
    /// `co_qualname` (3.11+) or `co_name`: empty if it cannot be read.
    pub function: String,
    /// The line of the frame's current instruction, if its table says.
    pub line: Option<u32>,
    /// The code object's address in the target (tag bits cleared).
    pub code: u64,
}

/// The Python frames of one OS thread, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStack {
    pub frames: Vec<RemoteFrame>,
    /// More Python frames follow the last one returned.
    pub truncated: bool,
    /// `process_vm_readv` calls this stack took.
    pub reads: u32,
}

/// A process running a known CPython, ready to have its threads' stacks read.
pub struct RemoteProcess {
    pid: u32,
    off: PyOffsets,
    layout: Layout,
    format: Option<LineFormat>,
    runtime: u64,
    tid_offset: u64,
    state: Mutex<State>,
}

impl std::fmt::Debug for RemoteProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteProcess")
            .field("pid", &self.pid)
            .field("runtime", &format_args!("{:#x}", self.runtime))
            .field("tid_offset", &self.tid_offset)
            .finish_non_exhaustive()
    }
}

/// What is remembered between walks of one process.
#[derive(Default)]
struct State {
    /// Some thread state's `thread_id + tid_offset` read the target's pid.
    verified: bool,
    /// Thread ids as the target's own pid namespace numbers them (what its
    /// C library stores), by our number: a thread keeps both for life.
    inner: HashMap<u32, u32>,
    threads: HashMap<u32, ThreadCache>,
    codes: HashMap<u64, Code>,
}

/// One OS thread's thread states, as the last scan found them.
#[derive(Default)]
struct ThreadCache {
    /// (interpreter, its thread-list head), in list order.
    interps: Vec<(u64, u64)>,
    /// (thread state, its thread_id).
    states: Vec<(u64, u64)>,
    /// Regions the last walk of this thread used: read first next time.
    spec: Vec<(u64, u64)>,
}

/// A code object's names and line table, with what they were read through.
struct Code {
    filename_obj: u64,
    name_obj: u64,
    linetable_obj: u64,
    firstlineno: i32,
    filename: Vec<u8>,
    file: String,
    function: String,
    table: Vec<u8>,
    whole: bool,
}

/// The byte windows the walk reads, from one offsets row.
#[derive(Debug, Clone, Copy)]
struct Layout {
    interp_lo: u64,
    interp_len: u64,
    ts_lo: u64,
    ts_len: u64,
    frame_len: u64,
    code_lo: u64,
    code_len: u64,
    str_header: u64,
}

fn field(v: u32, name: &str) -> Result<u64, String> {
    if v == NONE || v > 0xffff {
        return Err(format!("the offsets row has no usable {name}"));
    }
    Ok(u64::from(v))
}

/// [lo, hi) over fields (offset, width).
fn span(fields: &[(u64, u64)]) -> (u64, u64) {
    let lo = fields.iter().map(|f| f.0).min().unwrap_or(0);
    let hi = fields.iter().map(|f| f.0 + f.1).max().unwrap_or(0);
    (lo, hi - lo)
}

impl Layout {
    fn new(o: &PyOffsets) -> Result<Layout, String> {
        let interp = o.family == INTERP_FRAME;
        if !interp && o.family != FRAME_OBJECT {
            return Err(format!("unknown frame family {}", o.family));
        }
        let f = field;
        let (interp_lo, interp_len) = span(&[
            (f(o.interp_next, "interp_next")?, 8),
            (f(o.interp_threads_head, "interp_threads_head")?, 8),
        ]);
        let mut ts = vec![
            (f(o.tstate_next, "tstate_next")?, 8),
            (f(o.tstate_thread_id, "tstate_thread_id")?, 8),
        ];
        if o.tstate_cframe == NONE {
            ts.push((f(o.current_frame, "current_frame")?, 8));
        } else {
            ts.push((f(o.tstate_cframe, "tstate_cframe")?, 8));
            f(o.current_frame, "current_frame")?;
        }
        if interp {
            ts.push((f(o.tstate_datastack_chunk, "tstate_datastack_chunk")?, 8));
            f(o.chunk_previous, "chunk_previous")?;
            f(o.code_adaptive, "code_adaptive")?;
        }
        let (ts_lo, ts_len) = span(&ts);
        let mut frame = vec![
            (f(o.frame_previous, "frame_previous")?, 8),
            (f(o.frame_code, "frame_code")?, 8),
            (f(o.frame_instr, "frame_instr")?, if interp { 8 } else { 4 }),
        ];
        if o.owner_skip != NONE {
            frame.push((f(o.frame_owner, "frame_owner")?, 1));
        }
        let (frame_lo, frame_span) = span(&frame);
        let frame_hi = frame_lo + frame_span;
        let (code_lo, code_len) = span(&[
            (f(o.code_filename, "code_filename")?, 8),
            (f(o.code_name, "code_name")?, 8),
            (f(o.code_linetable, "code_linetable")?, 8),
            (f(o.code_firstlineno, "code_firstlineno")?, 4),
        ]);
        let (_, str_header) = span(&[
            (0, 1),
            (f(o.str_length, "str_length")?, 8),
            (f(o.str_state, "str_state")?, 4),
        ]);
        f(o.str_ascii_data, "str_ascii_data")?;
        f(o.str_compact_data, "str_compact_data")?;
        f(o.bytes_size, "bytes_size")?;
        f(o.bytes_data, "bytes_data")?;
        f(o.runtime_interpreters_head, "runtime_interpreters_head")?;
        if [interp_len, ts_len, frame_hi, code_len]
            .iter()
            .any(|&n| n > 4096)
        {
            return Err("a window of the offsets row is larger than 4 KiB".into());
        }
        Ok(Layout {
            interp_lo,
            interp_len,
            ts_lo,
            ts_len,
            frame_len: frame_hi,
            code_lo,
            code_len,
            str_header,
        })
    }
}

fn line_format(v: u32) -> Option<LineFormat> {
    use types::si_line_format as F;
    match v {
        x if x == F::LINES_LNOTAB.0 => Some(LineFormat::Lnotab),
        x if x == F::LINES_310.0 => Some(LineFormat::Linetable310),
        x if x == F::LINES_LOCATIONS.0 => Some(LineFormat::Locations),
        _ => None,
    }
}

/// A little-endian u64 at `at` of a window (0 past its end).
fn le64(w: &[u8], at: u64) -> u64 {
    let at = at as usize;
    w.get(at..at + 8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .unwrap_or(0)
}

fn le32(w: &[u8], at: u64) -> u32 {
    let at = at as usize;
    w.get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
        .unwrap_or(0)
}

fn add(base: u64, off: u64, what: &'static str) -> Result<u64, RemoteError> {
    base.checked_add(off)
        .ok_or(RemoteError::Invalid { what, addr: base })
}

// ---------------------------------------------------------------------------
// The memory snapshot
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Region {
    addr: u64,
    len: u64,
    /// Where its bytes are in `Mem::data`.
    at: usize,
    used: bool,
}

/// Regions of the target's memory read during one walk, by address.
struct Mem {
    pid: u32,
    regions: BTreeMap<u64, Region>,
    data: Vec<u8>,
    calls: u32,
    /// Mark the regions that serve reads as worth reading first next time.
    remember: bool,
    /// The errno of the last request that failed.
    errno: i32,
    /// The region that served the last read.
    last: Option<u64>,
}

impl Mem {
    fn new(pid: u32) -> Mem {
        Mem {
            pid,
            regions: BTreeMap::new(),
            data: Vec::new(),
            calls: 0,
            remember: true,
            errno: libc::EFAULT,
            last: None,
        }
    }

    /// Reads every request not already held, in as few calls as it takes:
    /// a request that fails is skipped (the rest are read by the next call);
    /// a request read in part keeps that part.
    fn fetch(&mut self, reqs: &[(u64, u64)]) -> Result<(), RemoteError> {
        let reqs: Vec<(u64, u64)> = reqs
            .iter()
            .copied()
            .filter(|&(a, n)| n > 0 && n <= READ_MAX && a.checked_add(n).is_some())
            .filter(|&(a, n)| self.find(a, n).is_none())
            .collect();
        let mut i = 0;
        while i < reqs.len() {
            let batch = &reqs[i..reqs.len().min(i + IOV_MAX)];
            let total: u64 = batch.iter().map(|r| r.1).sum();
            let base = self.data.len();
            if base as u64 + total > MAX_WALK_BYTES {
                return Err(RemoteError::Overflow {
                    what: "bytes read for one stack",
                    limit: MAX_WALK_BYTES as usize,
                });
            }
            self.data.resize(base + total as usize, 0);
            let local = libc::iovec {
                iov_base: self.data[base..].as_mut_ptr().cast(),
                iov_len: total as usize,
            };
            let remote: Vec<libc::iovec> = batch
                .iter()
                .map(|&(a, n)| libc::iovec {
                    iov_base: a as usize as *mut libc::c_void,
                    iov_len: n as usize,
                })
                .collect();
            self.calls += 1;
            // SAFETY: `local` is `total` writable bytes of `self.data`; the
            // remote iovecs are only addresses in the other process.
            let r = unsafe {
                libc::process_vm_readv(
                    self.pid as libc::pid_t,
                    &local,
                    1,
                    remote.as_ptr(),
                    remote.len() as libc::c_ulong,
                    0,
                )
            };
            if r < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                self.data.truncate(base);
                match errno {
                    libc::ESRCH => return Err(RemoteError::NoProcess(self.pid)),
                    libc::EPERM => {
                        return Err(RemoteError::Denied {
                            pid: self.pid,
                            errno,
                        })
                    }
                    libc::EINTR => continue,
                    _ => {
                        // The first request failed; go on after it.
                        self.errno = errno;
                        i += 1;
                        continue;
                    }
                }
            }
            let mut got = r as u64;
            let mut at = base;
            let mut full = 0;
            for &(addr, len) in batch {
                let n = len.min(got);
                let longer = self.regions.get(&addr).is_none_or(|r| r.len < n);
                if n > 0 && longer {
                    let region = Region {
                        addr,
                        len: n,
                        at,
                        used: false,
                    };
                    self.regions.insert(addr, region);
                }
                if n < len {
                    break;
                }
                full += 1;
                got -= n;
                at += len as usize;
            }
            if full == batch.len() {
                i += batch.len();
            } else {
                self.errno = libc::EFAULT;
                i += full + 1;
            }
        }
        Ok(())
    }

    /// The start of a region holding [addr, addr + len): the last one
    /// used, or one of the 16 starting closest below `addr`.
    fn find(&mut self, addr: u64, len: u64) -> Option<u64> {
        let end = addr.checked_add(len)?;
        let holds = |r: &Region| r.addr <= addr && end <= r.addr + r.len;
        if let Some(r) = self.last.and_then(|k| self.regions.get(&k)) {
            if holds(r) {
                return Some(r.addr);
            }
        }
        let k = self
            .regions
            .range(..=addr)
            .rev()
            .take(16)
            .find(|(_, r)| holds(r))
            .map(|(&k, _)| k)?;
        self.last = Some(k);
        Some(k)
    }

    /// Bytes held already (nothing is read).
    fn held(&mut self, addr: u64, len: u64) -> Option<&[u8]> {
        let k = self.find(addr, len)?;
        Some(self.slice(k, addr, len))
    }

    /// [addr, addr + len) of the region starting at `k`, which holds it.
    fn slice(&mut self, k: u64, addr: u64, len: u64) -> &[u8] {
        let remember = self.remember;
        let Some(r) = self.regions.get_mut(&k) else {
            return &[];
        };
        r.used |= remember;
        let start = r.at + (addr - r.addr) as usize;
        &self.data[start..start + len as usize]
    }

    /// [addr, addr + len), read now if not held.
    fn get(&mut self, addr: u64, len: u64, what: &'static str) -> Result<&[u8], RemoteError> {
        if len == 0 {
            return Ok(&[]);
        }
        if len > READ_MAX || addr.checked_add(len).is_none() {
            return Err(RemoteError::Invalid { what, addr });
        }
        let k = match self.find(addr, len) {
            Some(k) => k,
            None => {
                self.fetch(&[(addr, len)])?;
                self.find(addr, len).ok_or(RemoteError::Unreadable {
                    what,
                    addr,
                    errno: self.errno,
                })?
            }
        };
        Ok(self.slice(k, addr, len))
    }

    fn u64(&mut self, addr: u64, what: &'static str) -> Result<u64, RemoteError> {
        Ok(le64(self.get(addr, 8, what)?, 0))
    }

    /// A frame on the frame stack (3.11+): read in a block with the frames
    /// below it (its callers), as `read_stack_frame` does: from the start of
    /// the chunk it is in, or of its page, to the end of its page. With no
    /// chunk (`floor` 0), its page.
    fn stack_frame(
        &mut self,
        frame: u64,
        size: u64,
        floor: &mut u64,
        chunk_previous: u64,
    ) -> Result<&[u8], RemoteError> {
        let end = add(frame, size, "a frame")?;
        if self.find(frame, size).is_none() {
            // A frame below the chunk's start lives in an older chunk.
            let mut hops = 0;
            while *floor != 0 && frame < *floor && hops < MAX_CHUNK_HOPS {
                *floor = match add(*floor, chunk_previous, "a frame-stack chunk") {
                    Ok(a) => self.u64(a, "a frame-stack chunk").unwrap_or(0),
                    Err(_) => 0,
                };
                hops += 1;
            }
            let page_end = end.checked_next_multiple_of(PAGE).unwrap_or(end);
            let start = if *floor != 0 && frame >= *floor && frame - *floor < CHUNK_SPAN {
                (*floor).max(page_end.saturating_sub(BLOCK))
            } else {
                frame & !(PAGE - 1)
            };
            self.fetch(&[(start, page_end - start)])?;
        }
        self.get(frame, size, "a frame")
    }

    /// The regions reads were served from, to read first next time.
    fn used(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for r in self.regions.values().filter(|r| r.used) {
            if out.len() >= SPEC_MAX_REGIONS || bytes + r.len > SPEC_MAX_BYTES {
                break;
            }
            bytes += r.len;
            out.push((r.addr, r.len));
        }
        out.dedup();
        out
    }
}

// ---------------------------------------------------------------------------
// Thread descriptors
// ---------------------------------------------------------------------------

/// `offsetof(struct pthread, tid)` in this process's C library, verified on
/// a fresh thread (computed once).
fn own_tid_offset() -> Result<u64, String> {
    static OFFSET: OnceLock<Result<u64, String>> = OnceLock::new();
    OFFSET
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("secimport-tid".into())
                .spawn(probe_tid_offset)
                .map_err(|e| format!("cannot start a thread: {e}"))?
                .join()
                .unwrap_or_else(|_| Err("the probe thread failed".into()))
        })
        .clone()
}

fn probe_tid_offset() -> Result<u64, String> {
    // SAFETY: neither call has preconditions.
    let (me, tid) = unsafe { (libc::pthread_self() as u64, libc::gettid()) };
    let tid = tid as u32;
    // Our own memory through process_vm_readv: a fault is an error.
    let mut mem = Mem::new(std::process::id());
    if let Ok(w) = mem.get(
        me.wrapping_add(GLIBC_TID_OFFSET),
        4,
        "own thread descriptor",
    ) {
        if le32(w, 0) == tid {
            return Ok(GLIBC_TID_OFFSET);
        }
    }
    mem.fetch(&[(me, 4096)]).map_err(|e| e.to_string())?;
    let Some(k) = mem.find(me, 64) else {
        return Err(format!("cannot read this thread's descriptor at {me:#x}"));
    };
    let len = mem.regions[&k].len - (me - k);
    let w = mem.slice(k, me, len);
    let hits: Vec<u64> = (0..len / 4)
        .map(|i| i * 4)
        .filter(|&at| le32(w, at) == tid)
        .collect();
    match hits[..] {
        [at] => Ok(at),
        _ => Err(format!(
            "this process's C library keeps a thread's id neither at pthread_self() + {GLIBC_TID_OFFSET:#x} \
             (glibc) nor at one other place ({} candidates)",
            hits.len()
        )),
    }
}

// ---------------------------------------------------------------------------
// Attaching
// ---------------------------------------------------------------------------

fn proc_error(path: &str, e: &std::io::Error, pid: u32) -> RemoteError {
    match e.kind() {
        std::io::ErrorKind::NotFound => RemoteError::NoProcess(pid),
        _ => RemoteError::Proc {
            path: path.to_string(),
            errno: e.raw_os_error().unwrap_or(0),
        },
    }
}

/// Where process `pid` mapped file offset 0 of the file (dev, ino): the
/// mapping's device and inode as /proc/PID/maps gives them (the kernel
/// side's test), or the file /proc/PID/map_files opens for it.
fn find_mapping(pid: u32, dev: u64, ino: u64) -> Result<Option<u64>, RemoteError> {
    let path = format!("/proc/{pid}/maps");
    let maps = i32::try_from(pid)
        .map_err(|_| procfs::ProcError::NotFound(None))
        .and_then(procfs::process::Process::new)
        .and_then(|p| p.maps())
        .map_err(|e| match e {
            procfs::ProcError::NotFound(_) => RemoteError::NoProcess(pid),
            procfs::ProcError::Io(e, _) => proc_error(&path, &e, pid),
            procfs::ProcError::PermissionDenied(_) => RemoteError::Proc {
                path: path.clone(),
                errno: libc::EACCES,
            },
            _ => RemoteError::Proc {
                path: path.clone(),
                errno: libc::EINVAL,
            },
        })?;
    let wanted = (i64::from(libc::major(dev)), i64::from(libc::minor(dev)));
    for map in maps {
        if map.offset != 0 || map.inode != ino {
            continue;
        }
        let (start, end) = map.address;
        let same_dev = (i64::from(map.dev.0), i64::from(map.dev.1)) == wanted;
        let same_file = || {
            std::fs::metadata(format!("/proc/{pid}/map_files/{start:x}-{end:x}"))
                .map(|m| m.dev() == dev && m.ino() == ino)
                .unwrap_or(false)
        };
        if same_dev || same_file() {
            return Ok(Some(start));
        }
    }
    Ok(None)
}

/// Every thread state of every interpreter, from one scan.
struct Scan {
    interps: Vec<(u64, u64)>,
    /// (thread state, thread_id, the kernel tid its descriptor holds).
    states: Vec<(u64, u64, Option<u32>)>,
}

impl RemoteProcess {
    /// Finds `_PyRuntime` in process `pid`: where it mapped file offset 0 of
    /// `interp.runtime_elf` (matched by device and inode, not path: the
    /// process may see it under another name, in a chroot say), plus
    /// `interp.runtime_offset`. Checks that the runtime is readable (3.13+:
    /// that it starts with `_Py_DebugOffsets`' cookie) and, if the
    /// interpreter has thread states already, that thread ids can be told
    /// (see the module documentation).
    pub fn attach(pid: u32, interp: &Interpreter) -> Result<RemoteProcess, RemoteError> {
        let not_python = |reason: String| RemoteError::NotPython { pid, reason };
        let version = interp.version_string();
        let layout = Layout::new(&interp.offsets)
            .map_err(|r| not_python(format!("CPython {version}: {r}")))?;
        let elf = interp.runtime_elf.display().to_string();
        let meta = std::fs::metadata(&interp.runtime_elf).map_err(|e| RemoteError::Proc {
            path: elf.clone(),
            errno: e.raw_os_error().unwrap_or(0),
        })?;
        let base = find_mapping(pid, meta.dev(), meta.ino())?
            .ok_or_else(|| not_python(format!("it has not mapped {elf}")))?;
        let runtime = base
            .checked_add(interp.runtime_offset)
            .ok_or_else(|| not_python("_PyRuntime's address overflows".into()))?;
        let tid_offset = own_tid_offset().map_err(|reason| RemoteError::ThreadIds { reason })?;
        let p = RemoteProcess {
            pid,
            off: interp.offsets,
            layout,
            format: line_format(interp.offsets.line_format),
            runtime,
            tid_offset,
            state: Mutex::new(State::default()),
        };
        let mut mem = Mem::new(pid);
        if (interp.version.0, interp.version.1) >= (3, 13) {
            let cookie = mem.get(runtime, 8, "_PyRuntime")?;
            if cookie != DEBUG_COOKIE {
                return Err(not_python(format!(
                    "no _Py_DebugOffsets cookie at _PyRuntime ({runtime:#x})"
                )));
            }
        }
        let head = mem.u64(
            add(
                runtime,
                u64::from(p.off.runtime_interpreters_head),
                "_PyRuntime",
            )?,
            "_PyRuntime's interpreter list",
        )?;
        if head != 0 {
            let scan = p.scan(&mut mem, head)?;
            p.verify(&mut p.lock(), &scan)?;
        }
        Ok(p)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `&_PyRuntime` in the target.
    pub fn runtime_address(&self) -> u64 {
        self.runtime
    }

    /// `offsetof(struct pthread, tid)` used to match thread states to threads.
    pub fn tid_offset(&self) -> u64 {
        self.tid_offset
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Python frames of thread `tid` of the process, innermost first,
    /// over every thread state bound to that OS thread (main interpreter and
    /// subinterpreters); at most `max_frames` (then `truncated`).
    pub fn stack(&self, tid: u32, max_frames: usize) -> Result<RemoteStack, RemoteError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let mut mem = Mem::new(self.pid);
        if let Some(t) = st.threads.get(&tid) {
            mem.fetch(&t.spec)?;
        }
        let states = self.thread_states(&mut mem, st, tid)?;

        let mut raw: Vec<(u64, i32)> = Vec::new();
        let mut truncated = false;
        let limit = max_frames
            .saturating_mul(2)
            .saturating_add(64)
            .min(MAX_VISITS);
        let mut visits = 0;
        'states: for ts in states {
            let (mut frame, mut floor) = self.first_frame(&mut mem, ts)?;
            while frame != 0 {
                if visits >= limit {
                    truncated = true;
                    break 'states;
                }
                visits += 1;
                let (previous, code, skip, lasti) = self.read_frame(&mut mem, frame, &mut floor)?;
                if !skip {
                    if raw.len() >= max_frames {
                        truncated = true;
                        break 'states;
                    }
                    if code == 0 {
                        return Err(RemoteError::Invalid {
                            what: "a frame's code object",
                            addr: frame,
                        });
                    }
                    raw.push((code, lasti));
                }
                frame = previous;
            }
        }

        let frames = self.name_frames(&mut mem, st, &raw)?;
        if let Some(t) = st.threads.get_mut(&tid) {
            t.spec = mem.used();
        }
        Ok(RemoteStack {
            frames,
            truncated,
            reads: mem.calls,
        })
    }

    /// Every thread state and what its descriptor says; `head` is the
    /// interpreter list's head.
    fn scan(&self, mem: &mut Mem, head: u64) -> Result<Scan, RemoteError> {
        let o = &self.off;
        let l = &self.layout;
        let mut interps = Vec::new();
        let mut states = Vec::new();
        let mut interp = head;
        let mut steps = 0;
        while interp != 0 {
            if interps.len() >= MAX_INTERPS {
                return Err(RemoteError::Overflow {
                    what: "interpreters",
                    limit: MAX_INTERPS,
                });
            }
            let w = mem.get(
                add(interp, l.interp_lo, "an interpreter")?,
                l.interp_len,
                "an interpreter",
            )?;
            let threads = le64(w, u64::from(o.interp_threads_head) - l.interp_lo);
            let next = le64(w, u64::from(o.interp_next) - l.interp_lo);
            interps.push((interp, threads));
            let mut ts = threads;
            while ts != 0 {
                steps += 1;
                if steps > MAX_SCAN_STEPS {
                    return Err(RemoteError::Overflow {
                        what: "thread states",
                        limit: MAX_SCAN_STEPS,
                    });
                }
                let w = mem.get(
                    add(ts, l.ts_lo, "a thread state")?,
                    l.ts_len,
                    "a thread state",
                )?;
                let id = le64(w, u64::from(o.tstate_thread_id) - l.ts_lo);
                let next = le64(w, u64::from(o.tstate_next) - l.ts_lo);
                states.push((ts, id, None));
                ts = next;
            }
            interp = next;
        }
        // Every descriptor's tid in one batch (a dead thread's may be gone).
        let words: Vec<(u64, u64)> = states
            .iter()
            .filter(|s| s.1 != 0)
            .filter_map(|s| s.1.checked_add(self.tid_offset).map(|a| (a, 4)))
            .collect();
        mem.fetch(&words)?;
        for s in &mut states {
            if s.1 != 0 {
                if let Some(a) = s.1.checked_add(self.tid_offset) {
                    s.2 = mem.held(a, 4).map(|w| le32(w, 0));
                }
            }
        }
        Ok(Scan { interps, states })
    }

    /// The tid offset is trusted once some thread state of the target reads
    /// its pid (the main thread's).
    fn verify(&self, st: &mut State, scan: &Scan) -> Result<(), RemoteError> {
        // Unbound states (thread_id 0: 3.12+ before binding) say nothing.
        let bound = scan.states.iter().filter(|s| s.1 != 0).count();
        if st.verified || bound == 0 {
            return Ok(());
        }
        // glibc stores the tid as the target's own pid namespace numbers it.
        let inner = innermost_pid(self.pid);
        if scan.states.iter().any(|s| s.2 == Some(inner)) {
            st.verified = true;
            return Ok(());
        }
        Err(RemoteError::ThreadIds {
            reason: format!(
                "none of the {} thread states of process {} reads its pid at thread_id + {:#x} \
                 (its C library's struct pthread differs from this process's, or its main thread \
                 has no Python thread state)",
                bound, self.pid, self.tid_offset
            ),
        })
    }

    /// The thread states bound to OS thread `tid`, from the cache when it
    /// still holds (pystate.h's `cache_valid`), else from a scan.
    fn thread_states(
        &self,
        mem: &mut Mem,
        st: &mut State,
        tid: u32,
    ) -> Result<Vec<u64>, RemoteError> {
        let head = mem.u64(
            add(
                self.runtime,
                u64::from(self.off.runtime_interpreters_head),
                "_PyRuntime",
            )?,
            "_PyRuntime's interpreter list",
        )?;
        if head == 0 {
            st.threads.remove(&tid);
            return Err(RemoteError::NoThreadState(tid));
        }
        let inner = *st.inner.entry(tid).or_insert_with(|| innermost_pid(tid));
        if let Some(t) = st.threads.get(&tid) {
            if self.cache_valid(mem, t, head, inner) {
                return Ok(t.states.iter().map(|s| s.0).collect());
            }
        }
        let scan = self.scan(mem, head)?;
        self.verify(st, &scan)?;
        let mine: Vec<(u64, u64)> = scan
            .states
            .iter()
            .filter(|s| s.2 == Some(inner))
            .map(|s| (s.0, s.1))
            .collect();
        if mine.is_empty() {
            st.threads.remove(&tid);
            return Err(RemoteError::NoThreadState(tid));
        }
        if mine.len() > MAX_THREAD_STATES {
            return Err(RemoteError::Overflow {
                what: "thread states bound to one thread",
                limit: MAX_THREAD_STATES,
            });
        }
        if st.threads.len() >= MAX_THREADS {
            st.threads.clear();
        }
        let states = mine.iter().map(|s| s.0).collect();
        st.threads.insert(
            tid,
            ThreadCache {
                interps: scan.interps,
                states: mine,
                spec: Vec::new(),
            },
        );
        Ok(states)
    }

    /// (`tid`: as the target's pid namespace numbers it.)
    fn cache_valid(&self, mem: &mut Mem, t: &ThreadCache, head: u64, tid: u32) -> bool {
        let o = &self.off;
        let l = &self.layout;
        let mut expect = head;
        for &(interp, threads) in &t.interps {
            if interp != expect {
                return false;
            }
            let Ok(w) = mem.get(interp.wrapping_add(l.interp_lo), l.interp_len, "") else {
                return false;
            };
            if le64(w, u64::from(o.interp_threads_head) - l.interp_lo) != threads {
                return false;
            }
            expect = le64(w, u64::from(o.interp_next) - l.interp_lo);
        }
        if expect != 0 {
            return false;
        }
        for &(ts, id) in &t.states {
            let Ok(w) = mem.get(ts.wrapping_add(l.ts_lo), l.ts_len, "") else {
                return false;
            };
            if le64(w, u64::from(o.tstate_thread_id) - l.ts_lo) != id {
                return false;
            }
            match mem.get(id.wrapping_add(self.tid_offset), 4, "") {
                Ok(w) if le32(w, 0) == tid => {}
                _ => return false,
            }
        }
        true
    }

    /// A thread state's current frame and the start of its frame-stack
    /// chunk (0 before 3.11), as `tstate_frame` finds them.
    fn first_frame(&self, mem: &mut Mem, ts: u64) -> Result<(u64, u64), RemoteError> {
        let o = &self.off;
        let l = &self.layout;
        let w = mem.get(
            add(ts, l.ts_lo, "a thread state")?,
            l.ts_len,
            "a thread state",
        )?;
        let at = |field: u32| le64(w, u64::from(field) - l.ts_lo);
        let floor = if o.family == INTERP_FRAME {
            at(o.tstate_datastack_chunk)
        } else {
            0
        };
        if o.tstate_cframe == NONE {
            return Ok((at(o.current_frame), floor));
        }
        let cframe = at(o.tstate_cframe);
        if cframe == 0 {
            return Ok((0, floor));
        }
        let frame = mem.u64(
            add(cframe, u64::from(o.current_frame), "a thread's cframe")?,
            "a thread's cframe",
        )?;
        Ok((frame, floor))
    }

    /// (previous frame, code object, skipped, lasti) of one frame.
    fn read_frame(
        &self,
        mem: &mut Mem,
        frame: u64,
        floor: &mut u64,
    ) -> Result<(u64, u64, bool, i32), RemoteError> {
        let o = &self.off;
        let size = self.layout.frame_len;
        let w = if o.family == FRAME_OBJECT {
            // A heap frame: read with the rest of its page, which often
            // holds other frames of the stack (pymalloc pools of one size).
            mem.stack_frame(frame, size, &mut 0, 0)?
        } else {
            mem.stack_frame(frame, size, floor, u64::from(o.chunk_previous))?
        };
        let previous = le64(w, u64::from(o.frame_previous));
        let code = le64(w, u64::from(o.frame_code)) & !u64::from(o.code_tag_bits);
        let skip = o.owner_skip != NONE
            && w.get(o.frame_owner as usize)
                .is_some_and(|&b| u32::from(b) >= o.owner_skip);
        let lasti = if o.family == FRAME_OBJECT {
            le32(w, u64::from(o.frame_instr)) as i32
        } else {
            let instr = le64(w, u64::from(o.frame_instr));
            match code.checked_add(u64::from(o.code_adaptive)) {
                Some(start) if instr >= start => {
                    i32::try_from((instr - start) / 2).unwrap_or(i32::MAX)
                }
                _ => -1,
            }
        };
        Ok((previous, code, skip, lasti))
    }

    /// Names every frame: code objects from the cache when their pointers
    /// still match, the others read (batched).
    fn name_frames(
        &self,
        mem: &mut Mem,
        st: &mut State,
        raw: &[(u64, i32)],
    ) -> Result<Vec<RemoteFrame>, RemoteError> {
        let o = &self.off;
        let l = &self.layout;
        let mut codes: Vec<u64> = raw.iter().map(|r| r.0).collect();
        codes.sort_unstable();
        codes.dedup();
        let windows: Vec<(u64, u64)> = codes
            .iter()
            .filter_map(|c| c.checked_add(l.code_lo).map(|a| (a, l.code_len)))
            .collect();
        mem.fetch(&windows)?;
        let mut misses = Vec::new();
        for &code in &codes {
            let w = mem.get(
                add(code, l.code_lo, "a code object")?,
                l.code_len,
                "a code object",
            )?;
            let at = |f: u32| u64::from(f) - l.code_lo;
            let key = (
                le64(w, at(o.code_filename)),
                le64(w, at(o.code_name)),
                le64(w, at(o.code_linetable)),
                le32(w, at(o.code_firstlineno)) as i32,
            );
            let hit = st.codes.get(&code).is_some_and(|c| {
                (c.filename_obj, c.name_obj, c.linetable_obj, c.firstlineno) == key
            });
            if !hit {
                misses.push((code, key));
            }
        }
        if !misses.is_empty() {
            mem.remember = false;
            let loaded = self.load_codes(mem, &misses);
            mem.remember = true;
            if st.codes.len() + misses.len() > MAX_CODES {
                st.codes.clear();
            }
            for (code, c) in loaded? {
                st.codes.insert(code, c);
            }
        }
        let mut frames = Vec::with_capacity(raw.len());
        for &(code, lasti) in raw {
            let Some(c) = st.codes.get(&code) else {
                return Err(RemoteError::Invalid {
                    what: "a code object",
                    addr: code,
                });
            };
            let line = match (self.format, u32::try_from(c.firstlineno)) {
                (Some(format), Ok(first)) => {
                    linetable::line_at(format, &c.table, c.whole, first, lasti)
                }
                _ => None,
            };
            frames.push(RemoteFrame {
                filename: c.filename.clone(),
                file: c.file.clone(),
                function: c.function.clone(),
                line,
                code,
            });
        }
        Ok(frames)
    }

    #[allow(clippy::type_complexity)]
    fn load_codes(
        &self,
        mem: &mut Mem,
        misses: &[(u64, (u64, u64, u64, i32))],
    ) -> Result<Vec<(u64, Code)>, RemoteError> {
        let o = &self.off;
        let str_first = u64::from(o.str_compact_data) + 8 + STR_PREFETCH;
        let bytes_first = u64::from(o.bytes_data) + BYTES_PREFETCH;
        let mut first = Vec::new();
        for &(_, (fname, name, lt, _)) in misses {
            for (obj, len) in [(fname, str_first), (name, str_first), (lt, bytes_first)] {
                if obj != 0 {
                    first.push((obj, len));
                }
            }
        }
        mem.fetch(&first)?;
        let mut out = Vec::with_capacity(misses.len());
        for &(code, (fname, name, lt, firstlineno)) in misses {
            let f = self.read_str(mem, fname, FILE_MAX_UNITS, "a code object's co_filename")?;
            let filename = f.kernel_key();
            if filename.is_none() {
                return Err(RemoteError::Invalid {
                    what: "a code object's co_filename",
                    addr: fname,
                });
            }
            let function = match self.read_str(mem, name, NAME_MAX_UNITS, "a code object's name") {
                Ok(s) => s.text(),
                Err(e @ (RemoteError::NoProcess(_) | RemoteError::Denied { .. })) => return Err(e),
                Err(_) => String::new(),
            };
            let (table, whole) = match self.read_table(mem, lt) {
                Ok(t) => t,
                Err(e @ (RemoteError::NoProcess(_) | RemoteError::Denied { .. })) => return Err(e),
                Err(_) => (Vec::new(), false),
            };
            out.push((
                code,
                Code {
                    filename_obj: fname,
                    name_obj: name,
                    linetable_obj: lt,
                    firstlineno,
                    filename: filename.unwrap_or_default(),
                    file: f.text(),
                    function,
                    table,
                    whole,
                },
            ));
        }
        Ok(out)
    }

    /// A `str`'s code units (at most `max_units`), read as
    /// `resolve_filename` reads them: inline for compact strings, behind
    /// the data pointer otherwise.
    fn read_str(
        &self,
        mem: &mut Mem,
        obj: u64,
        max_units: u64,
        what: &'static str,
    ) -> Result<PyStr, RemoteError> {
        let o = &self.off;
        if obj == 0 {
            return Err(RemoteError::Invalid { what, addr: obj });
        }
        let w = mem.get(obj, self.layout.str_header, what)?;
        let state = le32(w, u64::from(o.str_state));
        let length = le64(w, u64::from(o.str_length));
        // state bits: interned:2 kind:3 compact:1 ascii:1
        let kind = (state >> 2) & 7;
        let compact = (state >> 5) & 1 == 1;
        let ascii = (state >> 6) & 1 == 1;
        let unit = if ascii { 1 } else { u64::from(kind) };
        if (!ascii && !matches!(kind, 1 | 2 | 4)) || length > i64::MAX as u64 {
            return Err(RemoteError::Invalid { what, addr: obj });
        }
        let data = if compact {
            let at = if ascii {
                o.str_ascii_data
            } else {
                o.str_compact_data
            };
            add(obj, u64::from(at), what)?
        } else {
            let p = mem.u64(add(obj, u64::from(o.str_compact_data), what)?, what)?;
            if p == 0 {
                return Err(RemoteError::Invalid { what, addr: obj });
            }
            p
        };
        let units = length.min(max_units);
        let raw = mem.get(data, units * unit, what)?.to_vec();
        Ok(PyStr {
            ascii,
            kind: unit as u8,
            length,
            raw,
        })
    }

    /// A line table (a `bytes`): its first `LINETABLE_CAP` bytes, and
    /// whether that is all of it.
    fn read_table(&self, mem: &mut Mem, obj: u64) -> Result<(Vec<u8>, bool), RemoteError> {
        let o = &self.off;
        let what = "a code object's line table";
        if obj == 0 {
            return Ok((Vec::new(), false));
        }
        let size = mem.u64(add(obj, u64::from(o.bytes_size), what)?, what)?;
        if size > i64::MAX as u64 {
            return Err(RemoteError::Invalid { what, addr: obj });
        }
        let n = size.min(LINETABLE_CAP);
        let table = mem
            .get(add(obj, u64::from(o.bytes_data), what)?, n, what)?
            .to_vec();
        Ok((table, n == size))
    }
}

/// A `str` of the target: its code units (1, 2 or 4 bytes each).
struct PyStr {
    ascii: bool,
    kind: u8,
    /// Its length in code points (what the object says).
    length: u64,
    /// The first code units (capped).
    raw: Vec<u8>,
}

impl PyStr {
    /// The kernel's key for this file name (`resolve_filename`), or None
    /// where the kernel cannot read one (a non-ASCII empty string).
    fn kernel_key(&self) -> Option<Vec<u8>> {
        if self.ascii {
            // bpf_probe_read_user_str into FILENAME_MAX_LEN bytes.
            let n = self.raw.len().min(FILENAME_MAX_LEN - 1);
            let key = &self.raw[..n];
            let end = key.iter().position(|&b| b == 0).unwrap_or(n);
            return Some(key[..end].to_vec());
        }
        let len = self
            .length
            .saturating_mul(u64::from(self.kind))
            .min((FILENAME_MAX_LEN - 2) as u64) as usize;
        if len == 0 || self.raw.len() < len {
            return None;
        }
        let mut key = Vec::with_capacity(len + 1);
        key.push(self.kind);
        key.extend_from_slice(&self.raw[..len]);
        Some(key)
    }

    /// The string decoded (lossy).
    fn text(&self) -> String {
        if self.ascii {
            return String::from_utf8_lossy(&self.raw).into_owned();
        }
        decode_units(&self.raw, self.kind as usize)
    }
}

/// Code units of `width` bytes (little-endian) as characters; what is not a
/// character is replaced.
fn decode_units(raw: &[u8], width: usize) -> String {
    if !matches!(width, 1 | 2 | 4) {
        return String::new();
    }
    raw.chunks_exact(width)
        .map(|unit| {
            let mut b = [0u8; 4];
            b[..width].copy_from_slice(unit);
            char::from_u32(u32::from_le_bytes(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect()
}

/// The file name a kernel key stands for: the inverse of the key (the same
/// decoding as the sandbox's `filename_of`).
pub fn filename_from_key(key: &[u8]) -> String {
    match key.first() {
        Some(&k @ (1 | 2 | 4)) => {
            let s = decode_units(&key[1..], k as usize);
            s.split('\0').next().unwrap_or("").to_string()
        }
        _ => {
            let end = key.iter().position(|&b| b == 0).unwrap_or(key.len());
            String::from_utf8_lossy(&key[..end]).into_owned()
        }
    }
}

/// `pid` as the innermost pid namespace it lives in numbers it (the last
/// field of `NSpid:` in /proc/PID/status): what its C library stored. A
/// sandboxed tree runs in a pid namespace of its own.
///
/// Read once per thread (the callers keep it), so procfs's full parse of
/// the status file costs nothing that matters.
pub fn innermost_pid(pid: u32) -> u32 {
    i32::try_from(pid)
        .ok()
        .and_then(|p| {
            procfs::process::Process::new(p)
                .and_then(|p| p.status())
                .ok()
        })
        .and_then(|s| s.nspid?.last().copied())
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_kernel() {
        let s = PyStr {
            ascii: true,
            kind: 1,
            length: 300,
            raw: vec![b'a'; 300],
        };
        assert_eq!(s.kernel_key().unwrap().len(), FILENAME_MAX_LEN - 1);
        let s = PyStr {
            ascii: true,
            kind: 1,
            length: 5,
            raw: b"ab\0cd".to_vec(),
        };
        assert_eq!(s.kernel_key().unwrap(), b"ab");
        assert_eq!(s.text(), "ab\0cd");
        // "é.py" in latin-1 units.
        let s = PyStr {
            ascii: false,
            kind: 1,
            length: 4,
            raw: vec![0xe9, b'.', b'p', b'y'],
        };
        let key = s.kernel_key().unwrap();
        assert_eq!(key, vec![1, 0xe9, b'.', b'p', b'y']);
        assert_eq!(filename_from_key(&key), "\u{e9}.py");
        assert_eq!(s.text(), "\u{e9}.py");
        // UCS-4, cut at FILENAME_MAX_LEN - 2 bytes as the kernel cuts it.
        let s = PyStr {
            ascii: false,
            kind: 4,
            length: 100,
            raw: "\u{1f40d}"
                .repeat(100)
                .chars()
                .flat_map(|c| (c as u32).to_le_bytes())
                .collect(),
        };
        let key = s.kernel_key().unwrap();
        assert_eq!(key.len(), FILENAME_MAX_LEN - 1);
        assert_eq!(filename_from_key(&key), "\u{1f40d}".repeat(63));
        let empty = PyStr {
            ascii: false,
            kind: 2,
            length: 0,
            raw: vec![],
        };
        assert_eq!(empty.kernel_key(), None);
        assert_eq!(decode_units(&[0x00, 0xd8], 2), "\u{fffd}");
    }

    #[test]
    fn layouts_of_every_row() {
        for ((ma, mi), o) in crate::python::OFFSETS {
            let l = Layout::new(o).unwrap_or_else(|e| panic!("{ma}.{mi}: {e}"));
            // Within the kernel's FRAME_WINDOW_MAX; one read per state.
            assert!(l.frame_len <= 128, "{ma}.{mi}: {l:?}");
            assert!(l.ts_len <= 512 && l.interp_len <= 128, "{ma}.{mi}: {l:?}");
        }
        let mut bad = crate::python::PY312;
        bad.frame_code = NONE;
        assert!(Layout::new(&bad).is_err());
        bad = crate::python::PY312;
        bad.family = 9;
        assert!(Layout::new(&bad).is_err());
    }

    #[test]
    fn own_thread_ids() {
        let off = own_tid_offset().unwrap();
        // SAFETY: no preconditions; the descriptor of the running thread is
        // live while it runs.
        let word = unsafe {
            let me = libc::pthread_self() as usize as *const u8;
            std::ptr::read_unaligned(me.add(off as usize) as *const i32)
        };
        assert_eq!(word, unsafe { libc::gettid() });
    }

    /// Our own process, read through the snapshot: batches with a failing
    /// request in the middle keep the rest; partial reads keep their part.
    #[test]
    fn snapshot_reads_past_failures() {
        let data: Vec<u64> = (0..1024).collect();
        let base = data.as_ptr() as u64;
        let mut mem = Mem::new(std::process::id());
        mem.fetch(&[(base, 64), (8, 8), (base + 512, 64)]).unwrap();
        assert_eq!(le64(mem.held(base + 8, 8).unwrap(), 0), 1);
        assert_eq!(le64(mem.held(base + 512, 8).unwrap(), 0), 64);
        assert!(mem.held(8, 8).is_none());
        assert!(mem.get(8, 8, "nothing").is_err());
        // A region ending in unmapped memory: the mapped part is kept.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        unsafe { libc::munmap((map as usize + 4096) as *mut libc::c_void, 4096) };
        let m = map as u64;
        mem.fetch(&[(m + 4000, 200), (base + 800, 8)]).unwrap();
        assert!(mem.held(m + 4000, 96).is_some());
        assert!(mem.held(m + 4000, 97).is_none());
        assert_eq!(le64(mem.held(base + 800, 8).unwrap(), 0), 100);
        unsafe { libc::munmap(map, 4096) };
        assert_eq!(
            Mem::new(0x7fff_fff0).fetch(&[(base, 8)]),
            Err(RemoteError::NoProcess(0x7fff_fff0))
        );
    }

    /// A target's structures, laid out by an offsets row in a buffer of
    /// this process (which the walk then reads as a remote process).
    struct Fake {
        buf: Vec<u8>,
        o: PyOffsets,
    }

    const RT: usize = 0x0;
    const INTERP: usize = 0x1000;
    const TS: usize = 0x3000;
    const DESC: usize = 0x4000;
    const CFRAME: usize = 0x4800;
    const FRAME: usize = 0x5000;
    const CODE: usize = 0x6000;
    const FNAME: usize = 0x7000;
    const NAME: usize = 0x8000;
    const TABLE: usize = 0x9000;
    const ASCII: u32 = (1 << 2) | (1 << 5) | (1 << 6);

    impl Fake {
        fn new(o: &PyOffsets, tid: u32) -> Fake {
            let mut f = Fake {
                buf: vec![0; 0x80000],
                o: *o,
            };
            let o = *o;
            let at = |v: u32| v as usize;
            f.ptr(RT + at(o.runtime_interpreters_head), INTERP);
            f.ptr(INTERP + at(o.interp_threads_head), TS);
            f.ptr(TS + at(o.tstate_thread_id), DESC);
            if o.tstate_cframe == NONE {
                f.ptr(TS + at(o.current_frame), FRAME);
            } else {
                f.ptr(TS + at(o.tstate_cframe), CFRAME);
                f.ptr(CFRAME + at(o.current_frame), FRAME);
            }
            if o.family == INTERP_FRAME {
                f.ptr(TS + at(o.tstate_datastack_chunk), FRAME);
                let start = f.addr(CODE) + u64::from(o.code_adaptive);
                f.put64(FRAME + at(o.frame_instr), start);
            }
            let off = own_tid_offset().unwrap() as usize;
            f.put(DESC + off, &tid.to_le_bytes());
            f.ptr(FRAME + at(o.frame_code), CODE);
            f.ptr(CODE + at(o.code_filename), FNAME);
            f.ptr(CODE + at(o.code_name), NAME);
            f.ptr(CODE + at(o.code_linetable), TABLE);
            f.put(CODE + at(o.code_firstlineno), &7u32.to_le_bytes());
            f.ascii(FNAME, "x.py");
            f.ascii(NAME, "f");
            f
        }

        fn addr(&self, at: usize) -> u64 {
            self.buf.as_ptr() as u64 + at as u64
        }

        fn put(&mut self, at: usize, b: &[u8]) {
            self.buf[at..at + b.len()].copy_from_slice(b);
        }

        fn put64(&mut self, at: usize, v: u64) {
            self.put(at, &v.to_le_bytes());
        }

        fn ptr(&mut self, at: usize, to: usize) {
            let a = self.addr(to);
            self.put64(at, a);
        }

        fn ascii(&mut self, at: usize, s: &str) {
            let o = self.o;
            self.put(at + o.str_state as usize, &ASCII.to_le_bytes());
            self.put64(at + o.str_length as usize, s.len() as u64);
            self.put(at + o.str_ascii_data as usize, s.as_bytes());
        }

        fn process(&self) -> RemoteProcess {
            RemoteProcess {
                pid: std::process::id(),
                off: self.o,
                layout: Layout::new(&self.o).unwrap(),
                format: line_format(self.o.line_format),
                runtime: self.addr(RT),
                tid_offset: own_tid_offset().unwrap(),
                state: Mutex::new(State {
                    verified: true,
                    ..State::default()
                }),
            }
        }
    }

    /// Whatever a target puts in its memory, the walk ends, bounded, with
    /// frames or an error: cycles of frames, thread states, interpreters;
    /// huge and negative lengths; bad string kinds; null pointers.
    #[test]
    fn hostile_structures() {
        // SAFETY: no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        for o in [
            crate::python::PY38,
            crate::python::PY311,
            crate::python::PY313,
        ] {
            let v = o.line_format;
            let at = |v: u32| v as usize;
            let run = |f: &Fake, max| f.process().stack(tid, max);

            let f = Fake::new(&o, tid);
            let s = run(&f, 64).unwrap();
            assert_eq!(s.frames.len(), 1, "{v}");
            assert_eq!(
                (&s.frames[0].filename[..], &s.frames[0].function[..]),
                (&b"x.py"[..], "f")
            );
            assert!(!s.truncated);
            let other = tid ^ 0x4000_0000;
            assert_eq!(
                f.process().stack(other, 64),
                Err(RemoteError::NoThreadState(other))
            );

            // A frame that is its own caller.
            let mut f = Fake::new(&o, tid);
            f.ptr(FRAME + at(o.frame_previous), FRAME);
            let s = run(&f, 100).unwrap();
            assert!(s.truncated && s.frames.len() == 100, "{v}");
            // ... and the interpreter's own, forever.
            if o.owner_skip != NONE {
                f.put(FRAME + at(o.frame_owner), &[o.owner_skip as u8]);
                let s = run(&f, 10).unwrap();
                assert!(s.truncated && s.frames.is_empty(), "{v}");
            }

            let mut f = Fake::new(&o, tid);
            f.ptr(TS + at(o.tstate_next), TS);
            assert!(
                matches!(
                    run(&f, 64),
                    Err(RemoteError::Overflow {
                        what: "thread states",
                        ..
                    })
                ),
                "{v}"
            );
            let mut f = Fake::new(&o, tid);
            f.ptr(INTERP + at(o.interp_next), INTERP);
            assert!(
                matches!(
                    run(&f, 64),
                    Err(RemoteError::Overflow {
                        what: "interpreters",
                        ..
                    })
                ),
                "{v}"
            );

            // A file name claiming 2^63 - 1 characters: the first 4096.
            let mut f = Fake::new(&o, tid);
            f.put64(FNAME + at(o.str_length), i64::MAX as u64);
            let s = run(&f, 64).unwrap();
            assert_eq!(s.frames[0].filename, b"x.py");
            assert_eq!(s.frames[0].file.len(), FILE_MAX_UNITS as usize);
            // Kind 3 does not exist; a non-compact string without data.
            let mut f = Fake::new(&o, tid);
            f.put(
                FNAME + at(o.str_state),
                &((3u32 << 2) | (1 << 5)).to_le_bytes(),
            );
            assert!(
                matches!(run(&f, 64), Err(RemoteError::Invalid { .. })),
                "{v}"
            );
            f.put(FNAME + at(o.str_state), &(1u32 << 2).to_le_bytes());
            assert!(
                matches!(run(&f, 64), Err(RemoteError::Invalid { .. })),
                "{v}"
            );
            // An unreadable function name is empty.
            let mut f = Fake::new(&o, tid);
            f.put64(CODE + at(o.code_name), 8);
            assert_eq!(run(&f, 64).unwrap().frames[0].function, "");

            // Line tables of 2^63 - 1 bytes, of a negative size: no line.
            let mut f = Fake::new(&o, tid);
            f.put64(TABLE + at(o.bytes_size), i64::MAX as u64);
            assert_eq!(run(&f, 64).unwrap().frames[0].line, None);
            f.put64(TABLE + at(o.bytes_size), u64::MAX);
            assert_eq!(run(&f, 64).unwrap().frames[0].line, None);

            // No code object; a frame that is not there.
            let mut f = Fake::new(&o, tid);
            f.put64(FRAME + at(o.frame_code), 0);
            assert!(
                matches!(run(&f, 64), Err(RemoteError::Invalid { .. })),
                "{v}"
            );
            let mut f = Fake::new(&o, tid);
            let cur = if o.tstate_cframe == NONE { TS } else { CFRAME };
            f.put64(cur + at(o.current_frame), 16);
            assert!(
                matches!(run(&f, 64), Err(RemoteError::Unreadable { .. })),
                "{v}"
            );
        }
    }
}
