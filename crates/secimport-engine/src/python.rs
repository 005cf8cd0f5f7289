//! CPython discovery: which interpreter will run (or is running), where its
//! `_PyRuntime` lives, which structure offsets the kernel walker must use for
//! it, and the `sys.path` it will have.
//!
//! **Nothing here executes a file.** An interpreter is identified by reading
//! its ELF (the `Py_Version` and `_PyRuntime` symbols, the libpython it links),
//! a pyenv shim by reading the shim and pyenv's version files, a running
//! process through `/proc/PID/{exe,maps,environ,cwd,cmdline}` (never its
//! `argv[0]`, which the process chooses), and `sys.path` by doing what
//! CPython's `getpath` and `site` do at start-up, reading the same files
//! (`pyvenv.cfg`, landmarks, `.pth` path lines; a `.pth` line that is code is
//! ignored). A target therefore cannot make secimport run anything.
//!
//! Offsets are data ([`OFFSETS`]), one row per CPython minor version, so a new
//! version is a new row and a test, not a change to the walker.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use object::read::elf::{Dyn as _, ElfFile64, FileHeader as _};
use object::{Endianness, Object, ObjectSection, ObjectSegment, ObjectSymbol, ReadCache, ReadRef};

use crate::EngineError;

/// Structure offsets the walker needs (x86-64): the kernel's
/// `struct si_py_offsets` (`src/bpf/sandbox.h`, where each field is
/// described), from the skeleton, so the list of fields exists once.
pub type PyOffsets = crate::skel::types::si_py_offsets;

/// An offset a version does not have.
pub const NONE: u32 = crate::skel::types::si_offset_none::OFFSET_NONE.0;
const FRAME_OBJECT: u32 = crate::skel::types::si_frame_family::FAMILY_FRAME_OBJECT.0;
const INTERP_FRAME: u32 = crate::skel::types::si_frame_family::FAMILY_INTERP_FRAME.0;
const LNOTAB: u32 = crate::skel::types::si_line_format::LINES_LNOTAB.0;
const LINES_310: u32 = crate::skel::types::si_line_format::LINES_310.0;
const LOCATIONS: u32 = crate::skel::types::si_line_format::LINES_LOCATIONS.0;

// Each row is checked by `tests/offsets.rs`, which compiles `offsetof` on
// the real structs against that version's headers, and from 3.13 on by
// `check_debug_offsets` against the interpreter's own `_Py_DebugOffsets`.
/// CPython 3.8 (3.8.18 headers): heap `PyFrameObject`s from `tstate->frame`
/// through `f_back`, lines from `co_lnotab` with a byte `f_lasti`.
pub const PY38: PyOffsets = PyOffsets {
    family: FRAME_OBJECT,
    line_format: LNOTAB,
    runtime_interpreters_head: 32,
    interp_next: 0,
    interp_threads_head: 8,
    tstate_next: 8,
    tstate_thread_id: 176,
    tstate_datastack_chunk: NONE,
    chunk_previous: NONE,
    tstate_cframe: NONE,
    current_frame: 24,
    frame_globals: 48,
    frame_code: 32,
    frame_previous: 24,
    frame_owner: NONE,
    frame_instr: 104,
    code_tag_bits: 0,
    owner_skip: NONE,
    code_filename: 104,
    code_name: 112,
    code_firstlineno: 40,
    code_linetable: 120,
    code_adaptive: NONE,
    str_length: 16,
    str_state: 32,
    str_ascii_data: 48,
    str_utf8: 56,
    str_compact_data: 72,
    bytes_size: 16,
    bytes_data: 32,
};

/// CPython 3.9 (3.9.18 headers): 3.8's layout.
pub const PY39: PyOffsets = PyOffsets {
    family: FRAME_OBJECT,
    line_format: LNOTAB,
    runtime_interpreters_head: 32,
    interp_next: 0,
    interp_threads_head: 8,
    tstate_next: 8,
    tstate_thread_id: 176,
    tstate_datastack_chunk: NONE,
    chunk_previous: NONE,
    tstate_cframe: NONE,
    current_frame: 24,
    frame_globals: 48,
    frame_code: 32,
    frame_previous: 24,
    frame_owner: NONE,
    frame_instr: 104,
    code_tag_bits: 0,
    owner_skip: NONE,
    code_filename: 104,
    code_name: 112,
    code_firstlineno: 40,
    code_linetable: 120,
    code_adaptive: NONE,
    str_length: 16,
    str_state: 32,
    str_ascii_data: 48,
    str_utf8: 56,
    str_compact_data: 72,
    bytes_size: 16,
    bytes_data: 32,
};

/// CPython 3.10 (3.10.13 headers): 3.8's frames, lines from the PEP 626
/// `co_linetable` with `f_lasti` counting instructions.
pub const PY310: PyOffsets = PyOffsets {
    family: FRAME_OBJECT,
    line_format: LINES_310,
    runtime_interpreters_head: 32,
    interp_next: 0,
    interp_threads_head: 8,
    tstate_next: 8,
    tstate_thread_id: 176,
    tstate_datastack_chunk: NONE,
    chunk_previous: NONE,
    tstate_cframe: NONE,
    current_frame: 24,
    frame_globals: 48,
    frame_code: 32,
    frame_previous: 24,
    frame_owner: NONE,
    frame_instr: 96,
    code_tag_bits: 0,
    owner_skip: NONE,
    code_filename: 104,
    code_name: 112,
    code_firstlineno: 40,
    code_linetable: 120,
    code_adaptive: NONE,
    str_length: 16,
    str_state: 32,
    str_ascii_data: 48,
    str_utf8: 56,
    str_compact_data: 72,
    bytes_size: 16,
    bytes_data: 32,
};

/// CPython 3.11 (3.11.7 headers; 3.11.2 is identical): `_PyInterpreterFrame`s
/// on the thread's frame stack, reached through `tstate->cframe`.
pub const PY311: PyOffsets = PyOffsets {
    family: INTERP_FRAME,
    line_format: LOCATIONS,
    runtime_interpreters_head: 40,
    interp_next: 0,
    interp_threads_head: 16,
    tstate_next: 8,
    tstate_thread_id: 152,
    tstate_datastack_chunk: 296,
    chunk_previous: 0,
    tstate_cframe: 56,
    current_frame: 8,
    frame_globals: 8,
    frame_code: 32,
    frame_previous: 48,
    frame_owner: 69,
    frame_instr: 56,
    code_tag_bits: 0,
    owner_skip: NONE,
    code_filename: 112,
    code_name: 128,
    code_firstlineno: 72,
    code_linetable: 136,
    code_adaptive: 184,
    str_length: 16,
    str_state: 32,
    str_ascii_data: 48,
    str_utf8: 56,
    str_compact_data: 72,
    bytes_size: 16,
    bytes_data: 32,
};

/// CPython 3.12 (3.12.1 headers): 3.11's family with the code object first in
/// the frame, no `wstr` in strings, and C-stack shim frames
/// (`owner == FRAME_OWNED_BY_CSTACK`, 3) that are skipped.
pub const PY312: PyOffsets = PyOffsets {
    family: INTERP_FRAME,
    line_format: LOCATIONS,
    runtime_interpreters_head: 40,
    interp_next: 0,
    interp_threads_head: 72,
    tstate_next: 8,
    tstate_thread_id: 136,
    tstate_datastack_chunk: 232,
    chunk_previous: 0,
    tstate_cframe: 56,
    current_frame: 0,
    frame_globals: 24,
    frame_code: 0,
    frame_previous: 8,
    frame_owner: 70,
    frame_instr: 56,
    code_tag_bits: 0,
    owner_skip: 3,
    code_filename: 112,
    code_name: 128,
    code_firstlineno: 68,
    code_linetable: 136,
    code_adaptive: 192,
    str_length: 16,
    str_state: 32,
    str_ascii_data: 40,
    str_utf8: 48,
    str_compact_data: 56,
    bytes_size: 16,
    bytes_data: 32,
};

/// CPython 3.13 (3.13.0 headers): no `cframe` (the thread state holds
/// `current_frame`), the frame's code in `f_executable` and its instruction in
/// `instr_ptr`; C-stack shims as in 3.12.
pub const PY313: PyOffsets = PyOffsets {
    family: INTERP_FRAME,
    line_format: LOCATIONS,
    runtime_interpreters_head: 632,
    interp_next: 7264,
    interp_threads_head: 7344,
    tstate_next: 8,
    tstate_thread_id: 152,
    tstate_datastack_chunk: 232,
    chunk_previous: 0,
    tstate_cframe: NONE,
    current_frame: 72,
    frame_globals: 24,
    frame_code: 0,
    frame_previous: 8,
    frame_owner: 70,
    frame_instr: 56,
    code_tag_bits: 0,
    owner_skip: 3,
    code_filename: 112,
    code_name: 128,
    code_firstlineno: 68,
    code_linetable: 136,
    code_adaptive: 200,
    str_length: 16,
    str_state: 32,
    str_ascii_data: 40,
    str_utf8: 48,
    str_compact_data: 56,
    bytes_size: 16,
    bytes_data: 32,
};

/// CPython 3.14 (3.14 headers, Debian sid): 3.13's layout with the code
/// reference a tagged `_PyStackRef` (`Py_TAG_BITS` 3 cleared) and the
/// interpreter's entry frames (`FRAME_OWNED_BY_INTERPRETER`, 3) and C-stack
/// shims (4) skipped.
pub const PY314: PyOffsets = PyOffsets {
    family: INTERP_FRAME,
    line_format: LOCATIONS,
    runtime_interpreters_head: 808,
    interp_next: 7272,
    interp_threads_head: 7344,
    tstate_next: 8,
    tstate_thread_id: 152,
    tstate_datastack_chunk: 232,
    chunk_previous: 0,
    tstate_cframe: NONE,
    current_frame: 72,
    frame_globals: 24,
    frame_code: 0,
    frame_previous: 8,
    frame_owner: 74,
    frame_instr: 56,
    code_tag_bits: 3,
    owner_skip: 3,
    code_filename: 112,
    code_name: 128,
    code_firstlineno: 68,
    code_linetable: 136,
    code_adaptive: 208,
    str_length: 16,
    str_state: 32,
    str_ascii_data: 40,
    str_utf8: 48,
    str_compact_data: 56,
    bytes_size: 16,
    bytes_data: 32,
};

/// Supported versions: (major, minor) -> offsets.
pub const OFFSETS: &[((u32, u32), PyOffsets)] = &[
    ((3, 8), PY38),
    ((3, 9), PY39),
    ((3, 10), PY310),
    ((3, 11), PY311),
    ((3, 12), PY312),
    ((3, 13), PY313),
    ((3, 14), PY314),
];

/// Bytes the kernel reads of each frame: everything the walk takes from it
/// (the owner byte only where owners are checked).
pub fn frame_window(o: &PyOffsets) -> u32 {
    let owner = if o.owner_skip != NONE {
        o.frame_owner + 1
    } else {
        0
    };
    (o.frame_code.max(o.frame_previous).max(o.frame_globals) + 8)
        .max(owner)
        .next_multiple_of(8)
}

pub fn offsets_for(major: u32, minor: u32) -> Option<&'static PyOffsets> {
    OFFSETS
        .iter()
        .find(|((ma, mi), _)| *ma == major && *mi == minor)
        .map(|(_, o)| o)
}

pub fn supported_versions() -> String {
    OFFSETS
        .iter()
        .map(|((ma, mi), _)| format!("{ma}.{mi}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The micro version of an interpreter that does not say it (before 3.11,
/// when its data holds no single `PY_VERSION` string).
pub const UNKNOWN_MICRO: u32 = u32::MAX;

/// `3.9.18`, or `3.9` when the micro version is unknown.
pub fn display_version(v: (u32, u32, u32)) -> String {
    match v {
        (a, b, UNKNOWN_MICRO) => format!("{a}.{b}"),
        (a, b, c) => format!("{a}.{b}.{c}"),
    }
}

/// How the interpreter is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildKind {
    /// `_PyRuntime` is in the executable.
    Static,
    /// `_PyRuntime` is in libpython (`--enable-shared`).
    Shared,
}

impl BuildKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildKind::Static => "static",
            BuildKind::Shared => "shared",
        }
    }
}

/// Everything the engine needs to know about one interpreter.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// The interpreter executable to start (shims resolved; a virtualenv's
    /// `bin/python` is kept as it is, since its location makes the venv).
    pub executable: PathBuf,
    pub version: (u32, u32, u32),
    pub build: BuildKind,
    /// The ELF that defines `_PyRuntime` and `Py_BytesMain`.
    pub runtime_elf: PathBuf,
    /// `_PyRuntime`'s address minus that of the segment at file offset 0:
    /// added to where a process mapped that segment, it gives `&_PyRuntime`.
    pub runtime_offset: u64,
    pub offsets: PyOffsets,
    /// The interpreter's `sys.path` as the program will see it, without
    /// `sys.path[0]` (the script's directory, which depends on the script).
    /// Computed from the files CPython reads at start-up, never by running it.
    pub sys_path: Vec<String>,
    /// True when CPython will not put the script's directory (or the working
    /// directory) first on `sys.path`: `-P`, `-I`, `PYTHONSAFEPATH`.
    pub safe_path: bool,
}

impl Interpreter {
    pub fn version_string(&self) -> String {
        display_version(self.version)
    }
}

/// How the interpreter will be (or was) started: what, besides its files,
/// decides which interpreter a shim picks and what `sys.path` is.
#[derive(Debug, Clone)]
pub struct Context {
    /// The interpreter's arguments after `argv[0]` (`-I`, `-E`, `-s`, `-S`,
    /// `-P` change `sys.path`).
    pub args: Vec<String>,
    /// The environment it runs with (`PATH`, `PYTHONPATH`, `PYENV_VERSION`...).
    pub env: Vec<(OsString, OsString)>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// Its real user id (whose home has the user site directory).
    pub uid: u32,
    /// Real and effective user or group ids differ (no user site then).
    pub setid: bool,
}

impl Context {
    /// A program started by this process with `args`: it inherits our
    /// environment, working directory and ids.
    pub fn current(args: &[String]) -> Context {
        // SAFETY: these calls have no preconditions and cannot fail.
        let (uid, euid, gid, egid) = unsafe {
            (
                libc::getuid(),
                libc::geteuid(),
                libc::getgid(),
                libc::getegid(),
            )
        };
        Context {
            args: args.to_vec(),
            env: std::env::vars_os().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            uid,
            setid: uid != euid || gid != egid,
        }
    }

    /// The value of an environment variable (the first, as `getenv` does).
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.env
            .iter()
            .find(|(k, _)| k.as_bytes() == name.as_bytes())
            .map(|(_, v)| v.as_os_str())
    }

    fn nonempty(&self, name: &str) -> Option<String> {
        self.var(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().into_owned())
    }
}

fn error(
    path: impl std::fmt::Display,
    reason: impl Into<String>,
    fix: impl Into<String>,
) -> EngineError {
    EngineError::Interpreter {
        path: path.to_string(),
        reason: reason.into(),
        fix: fix.into(),
    }
}

fn fix_supported() -> String {
    format!(
        "pass --python with a CPython {} interpreter binary",
        supported_versions()
    )
}

// ---------------------------------------------------------------------------
// Finding the file
// ---------------------------------------------------------------------------

/// Finds `name` on this process's PATH (a name with a slash is taken as a path).
pub fn which(name: &str) -> Option<PathBuf> {
    which_in(name, &Context::current(&[]))
}

fn which_in(name: &str, ctx: &Context) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = ctx.cwd.join(name);
        return p.is_file().then(|| PathBuf::from(name));
    }
    let paths = ctx.var("PATH")?;
    std::env::split_paths(paths)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_executable(&ctx.cwd.join(p)))
}

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Opens a regular file for reading without blocking (a FIFO or a device is
/// refused, never waited on).
fn open_regular(path: &Path) -> std::io::Result<(File, std::fs::Metadata)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((file, meta))
}

/// Text files read here (shims, `pyvenv.cfg`, `.pth`, version files) are
/// small; a larger one is not read.
const TEXT_CAP: u64 = 1 << 20;

/// The start of a regular file, at most `cap` bytes.
fn read_head(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let (file, _) = open_regular(path)?;
    let mut buf = Vec::new();
    file.take(cap).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A small regular text file, decoded lossily; `None` if it cannot be read,
/// is not a regular file, or is larger than [`TEXT_CAP`].
fn read_text(path: &Path) -> Option<String> {
    let buf = read_head(path, TEXT_CAP + 1).ok()?;
    if buf.len() as u64 > TEXT_CAP {
        return None;
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

// ---------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------

/// Resolves `python` (a name on PATH or a path, possibly a pyenv shim) to the
/// real interpreter for a program started by this process with no
/// interpreter options, and reads what the walker needs from its ELF.
pub fn discover(python: &str) -> Result<Interpreter, EngineError> {
    discover_with(python, &Context::current(&[]))
}

/// Like [`discover`], for a program started with `ctx` (its arguments,
/// environment and working directory decide `sys.path` and which interpreter
/// a pyenv shim picks). Runs nothing.
pub fn discover_with(python: &str, ctx: &Context) -> Result<Interpreter, EngineError> {
    let found = which_in(python, ctx).ok_or_else(|| {
        error(
            python,
            "not found (not an executable file, nor a name on PATH)",
            "pass --python /path/to/python3.11",
        )
    })?;
    let exe = resolve_shims(&found, ctx)?;
    let executable = absolute_in(&exe, &ctx.cwd);
    if !is_executable(&executable) {
        return Err(error(
            executable.display(),
            "not executable (no execute permission)",
            fix_supported(),
        ));
    }
    let found = identify(&executable, &executable, &Libraries::Search(ctx))?;
    let path = compute_sys_path(
        &executable,
        &executable,
        (found.version.0, found.version.1),
        ctx,
    );
    Ok(found.interpreter(executable, path))
}

/// A running process secimport attaches to.
#[derive(Debug, Clone)]
pub struct Process {
    pub interpreter: Interpreter,
    /// Its command line (`/proc/PID/cmdline`; `argv[0]` is whatever the
    /// process was started as, and is never run or trusted).
    pub argv: Vec<String>,
    /// Its working directory (`/proc/PID/cwd`).
    pub cwd: PathBuf,
}

/// Identifies the interpreter process `pid` runs from `/proc/PID/exe` (the
/// file the kernel executed) and `/proc/PID/maps` (the libpython it mapped),
/// and computes its `sys.path` from its environment, working directory and
/// command line. Runs nothing: a process started as
/// `exec -a ./fakepy python3.11` is identified as python3.11 and `./fakepy`
/// is never touched beyond a `stat`.
pub fn discover_pid(pid: u32) -> Result<Process, EngineError> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let shown = format!("process {pid}");
    let cmdline = read_proc(&proc_dir.join("cmdline")).map_err(|e| {
        error(
            &shown,
            format!("cannot read its command line: {e}"),
            "check the pid",
        )
    })?;
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let environ = read_proc(&proc_dir.join("environ")).map_err(|e| {
        error(
            &shown,
            format!("cannot read its environment: {e}"),
            "run secimport as root",
        )
    })?;
    let env: Vec<(OsString, OsString)> = environ
        .split(|b| *b == 0)
        .filter_map(|kv| {
            let eq = kv.iter().position(|b| *b == b'=')?;
            Some((
                OsString::from_vec(kv[..eq].to_vec()),
                OsString::from_vec(kv[eq + 1..].to_vec()),
            ))
        })
        .collect();
    let cwd = std::fs::read_link(proc_dir.join("cwd")).map_err(|e| {
        error(
            &shown,
            format!("cannot read its working directory: {e}"),
            "run secimport as root",
        )
    })?;
    let (uid, setid) = proc_ids(&proc_dir);
    let ctx = Context {
        args: argv.get(1..).unwrap_or(&[]).to_vec(),
        env,
        cwd: cwd.clone(),
        uid,
        setid,
    };

    // The executable: /proc/PID/exe opens the very file the kernel executed.
    let exe_proc = proc_dir.join("exe");
    let exe_link = std::fs::read_link(&exe_proc).map_err(|e| {
        error(
            &shown,
            format!("cannot read /proc/{pid}/exe: {e}"),
            "check the pid and run secimport as root",
        )
    })?;
    let exe_meta = std::fs::metadata(&exe_proc).map_err(|e| {
        error(
            &shown,
            format!("cannot stat /proc/{pid}/exe: {e}"),
            "check the pid and run secimport as root",
        )
    })?;
    // Its path, if that path still names the same file (not deleted or
    // replaced since, and in our mount namespace); else the /proc link.
    let binary = if same_file(&exe_link, &exe_meta) {
        exe_link.clone()
    } else {
        exe_proc.clone()
    };
    let mut libraries = mapped_libpythons(&proc_dir);
    // A process that needs a libpython maps it within its first moments (the
    // dynamic loader): one attached to right after its exec is waited for.
    let needs_lib = libraries.is_empty()
        && read_elf(&exe_proc, &exe_link)
            .map(|i| {
                i.runtime_offset.is_none() && i.needed.iter().any(|n| n.starts_with("libpython"))
            })
            .unwrap_or(false);
    if needs_lib {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while libraries.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
            libraries = mapped_libpythons(&proc_dir);
        }
    }
    let mut found = identify(&exe_proc, &exe_link, &Libraries::Mapped(libraries))?;
    if found.build == BuildKind::Static {
        found.runtime_elf = binary.clone();
    }

    // CPython derives sys.executable (and so a virtualenv) from argv[0].
    // Use argv[0] only if it names the very file that runs: a symlink such as
    // a venv's bin/python. Only stat() is done on it.
    let started_as = argv
        .first()
        .and_then(|a0| program_path(a0, &ctx))
        .filter(|p| same_file(p, &exe_meta));
    let executable = started_as.unwrap_or_else(|| binary.clone());
    let path = compute_sys_path(
        &executable,
        &binary,
        (found.version.0, found.version.1),
        &ctx,
    );
    Ok(Process {
        interpreter: found.interpreter(executable, path),
        argv,
        cwd,
    })
}

/// A /proc file (small, but not seekable to a size): at most 16 MiB.
fn read_proc(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    File::open(path)?.take(16 << 20).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Real uid, and whether real and effective ids differ, from /proc/PID/status.
fn proc_ids(proc_dir: &Path) -> (u32, bool) {
    let status = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
    let ids = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (uids, gids) = (ids("Uid:"), ids("Gid:"));
    let uid = uids.first().copied().unwrap_or(0);
    let differ = |v: &[u32]| v.len() >= 2 && v[0] != v[1];
    (uid, differ(&uids) || differ(&gids))
}

/// Where a process started as `argv0` found its program, as CPython computes
/// it: a path with a slash against the working directory, a bare name on PATH.
fn program_path(argv0: &str, ctx: &Context) -> Option<PathBuf> {
    if argv0.contains('/') {
        return Some(absolute_in(Path::new(argv0), &ctx.cwd));
    }
    let found = which_in(argv0, ctx)?;
    Some(absolute_in(&found, &ctx.cwd))
}

fn same_file(path: &Path, meta: &std::fs::Metadata) -> bool {
    std::fs::metadata(path)
        .map(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
        .unwrap_or(false)
}

/// libpython files mapped by the process: (a path that opens exactly the
/// mapped file, the path to show and record).
fn mapped_libpythons(proc_dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let maps = std::fs::read_to_string(proc_dir.join("maps")).unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for line in maps.lines() {
        // range perms offset dev inode path
        let mut fields = line.splitn(6, ' ');
        let (Some(range), _, _, _, Some(inode), Some(path)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let path = path.trim_start();
        if inode == "0" || !path.starts_with('/') {
            continue;
        }
        let name = path.rsplit('/').next().unwrap_or("");
        if !name.starts_with("libpython") || !seen.insert(path.to_string()) {
            continue;
        }
        let mapped = proc_dir.join("map_files").join(range);
        let path = PathBuf::from(path.strip_suffix(" (deleted)").unwrap_or(path));
        match std::fs::metadata(&mapped) {
            // The recorded path must name the mapped file (the kernel side
            // matches it by device and inode).
            Ok(meta) if same_file(&path, &meta) => out.push((mapped, path)),
            Ok(_) => out.push((mapped.clone(), mapped)),
            Err(_) => out.push((path.clone(), path)),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// pyenv shims
// ---------------------------------------------------------------------------

/// Follows pyenv shims (shell scripts) to the interpreter binary they would
/// exec, by reading them and pyenv's version files; refuses other scripts.
fn resolve_shims(path: &Path, ctx: &Context) -> Result<PathBuf, EngineError> {
    let mut path = path.to_path_buf();
    for _ in 0..8 {
        let head = read_head(&ctx.cwd.join(&path), 64 * 1024).map_err(|e| {
            error(
                path.display(),
                format!("cannot read it: {e}"),
                fix_supported(),
            )
        })?;
        if head.starts_with(b"\x7fELF") {
            return Ok(path);
        }
        if !head.starts_with(b"#!") {
            return Err(error(
                path.display(),
                "not an interpreter binary (not an ELF file)",
                fix_supported(),
            ));
        }
        let text = String::from_utf8_lossy(&head);
        let Some(root) = pyenv_shim_root(&text) else {
            let interp = text.lines().next().unwrap_or("").trim();
            return Err(error(
                path.display(),
                format!(
                    "it is a script ({interp}), not an interpreter binary; secimport does not \
                     run it to find out which interpreter it starts (only pyenv shims are \
                     resolved, by reading them)"
                ),
                fix_supported(),
            ));
        };
        let program = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shims = path.parent().unwrap_or(Path::new("/"));
        path = pyenv_which(&root, &program, shims, ctx).map_err(|reason| {
            error(
                path.display(),
                format!("a pyenv shim: {reason}"),
                format!(
                    "install that version with pyenv, select another (PYENV_VERSION, \
                     .python-version) or {}",
                    fix_supported()
                ),
            )
        })?;
    }
    Err(error(
        path.display(),
        "pyenv shims lead to one another more than 8 times",
        fix_supported(),
    ))
}

/// `PYENV_ROOT` of a pyenv shim: a script that sets it and runs `pyenv exec`.
fn pyenv_shim_root(text: &str) -> Option<PathBuf> {
    if !text.contains("\" exec \"$program\"") {
        return None;
    }
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("export PYENV_ROOT=")?;
        let value = value.strip_prefix('"')?.strip_suffix('"')?;
        (!value.is_empty() && !value.contains(['$', '`', '\\'])).then(|| PathBuf::from(value))
    })
}

/// What `pyenv exec PROGRAM` would run, as pyenv decides it (`pyenv
/// version-name` then `pyenv which`), without running pyenv.
fn pyenv_which(root: &Path, program: &str, shims: &Path, ctx: &Context) -> Result<PathBuf, String> {
    let (versions, origin) = pyenv_versions(root, ctx);
    let mut dirs = Vec::new();
    let mut missing = Vec::new();
    for v in &versions {
        if v == "system" {
            dirs.push(None);
            continue;
        }
        match pyenv_version_dir(root, v) {
            Some(dir) => dirs.push(Some(dir)),
            None => missing.push(v.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "version `{}' is not installed in {} (set by {origin})",
            missing.join("', `"),
            root.join("versions").display()
        ));
    }
    // `pyenv which` tries each version, then the system's.
    dirs.push(None);
    for dir in dirs {
        let candidate = match dir {
            Some(dir) => {
                let p = dir.join("bin").join(program);
                is_executable(&p).then_some(p)
            }
            None => system_program(program, &[root.join("shims"), shims.to_path_buf()], ctx),
        };
        if let Some(p) = candidate {
            return Ok(p);
        }
    }
    Err(format!(
        "`{program}' is in none of pyenv versions {} (set by {origin}) nor on PATH",
        versions.join(":")
    ))
}

/// `program` on PATH without pyenv's shim directories.
fn system_program(program: &str, skip: &[PathBuf], ctx: &Context) -> Option<PathBuf> {
    let paths = ctx.var("PATH")?;
    let skip: Vec<PathBuf> = skip.iter().map(|p| normalize_path(p)).collect();
    std::env::split_paths(paths)
        .filter(|dir| !dir.as_os_str().is_empty() && !skip.contains(&normalize_path(dir)))
        .map(|dir| ctx.cwd.join(dir).join(program))
        .find(|p| is_executable(p))
}

fn normalize_path(p: &Path) -> PathBuf {
    PathBuf::from(normpath(&p.to_string_lossy()))
}

/// The selected pyenv versions and what selected them.
fn pyenv_versions(root: &Path, ctx: &Context) -> (Vec<String>, String) {
    if let Some(v) = ctx.nonempty("PYENV_VERSION") {
        let versions: Vec<String> = v
            .split(':')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if !versions.is_empty() {
            return (versions, "the PYENV_VERSION environment variable".into());
        }
    }
    let file = pyenv_version_file(root, ctx);
    let versions = read_version_file(&file);
    if versions.is_empty() {
        return (
            vec!["system".into()],
            format!("{} (absent or empty)", file.display()),
        );
    }
    (versions, file.display().to_string())
}

/// `pyenv version-file`: `.python-version` in PYENV_DIR (default: the working
/// directory) or a parent, then in the working directory or a parent, else
/// `$PYENV_ROOT/version`.
fn pyenv_version_file(root: &Path, ctx: &Context) -> PathBuf {
    let find = |start: &Path| -> Option<PathBuf> {
        start
            .ancestors()
            .map(|d| d.join(".python-version"))
            .find(|f| f.is_file())
    };
    let pyenv_dir = ctx
        .nonempty("PYENV_DIR")
        .map(|d| absolute_in(Path::new(&d), &ctx.cwd))
        .unwrap_or_else(|| ctx.cwd.clone());
    find(&pyenv_dir)
        .or_else(|| (pyenv_dir != ctx.cwd).then(|| find(&ctx.cwd)).flatten())
        .unwrap_or_else(|| root.join("version"))
}

/// `pyenv version-file-read`: the first word of each line, skipping blank
/// lines, comments and values that could leave the versions directory.
fn read_version_file(file: &Path) -> Vec<String> {
    let Some(text) = read_text(file) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|v| !v.starts_with('#') && *v != ".." && !v.contains('/'))
        .map(str::to_string)
        .collect()
}

/// `$PYENV_ROOT/versions/V` for a version as written (`3.11.7`,
/// `python-3.11.7`) or a prefix of installed versions (`3.11`: the latest
/// 3.11.x, as `pyenv latest` picks it).
fn pyenv_version_dir(root: &Path, version: &str) -> Option<PathBuf> {
    let versions = root.join("versions");
    let normalized = version.strip_prefix("python-").unwrap_or(version);
    for v in [version, normalized] {
        if v.is_empty() || v == ".." || v.contains('/') {
            continue;
        }
        let dir = versions.join(v);
        if dir.is_dir() {
            return Some(dir);
        }
    }
    for prefix in [version, normalized] {
        let mut best: Option<(Vec<u64>, String)> = None;
        for entry in std::fs::read_dir(&versions).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(prefix) else {
                continue;
            };
            let Some(rest) = rest.strip_prefix(['.', '-']) else {
                continue;
            };
            // Final releases only (no a1/b2/rc1/-dev), numerically compared.
            if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit() || c == '.') {
                continue;
            }
            let key: Vec<u64> = rest.split('.').filter_map(|p| p.parse().ok()).collect();
            if !entry.path().is_dir() {
                continue;
            }
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, name));
            }
        }
        if let Some((_, name)) = best {
            return Some(versions.join(name));
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Reading the ELF
// ---------------------------------------------------------------------------

/// What one ELF file says about Python.
#[derive(Debug, Default)]
struct ElfInfo {
    /// `_PyRuntime` minus the address of the segment at file offset 0, if the
    /// file defines both `_PyRuntime` and `Py_BytesMain`.
    runtime_offset: Option<u64>,
    /// Defines an interpreter entry point (`Py_BytesMain`, `Py_Main`,
    /// `Py_Initialize`).
    is_python: bool,
    /// The value of `Py_Version` (`PY_VERSION_HEX`, 3.11+), decoded.
    py_version: Option<(u32, u32, u32)>,
    /// Before 3.11 (no `Py_Version`): the minor version told by which API
    /// functions the file exports ([`minor_from_symbols`]).
    symbol_minor: Option<u32>,
    /// Before 3.11: the `PY_VERSION` strings its read-only data holds
    /// (`3.9.18`; a string can be the tail of a longer one).
    rodata_versions: Vec<(u32, u32, u32)>,
    /// The start of `_PyRuntime`'s initial value (3.13+: `_Py_DebugOffsets`),
    /// [`DEBUG_OFFSETS_BYTES`] of it, if the file holds it.
    debug_offsets: Option<Vec<u8>>,
    needed: Vec<String>,
    soname: Option<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
}

/// Reads `path` (opened without following anything the caller did not ask
/// for, never mapped: a file truncated while we read it gives an error, not a
/// crash); `shown` names it in errors.
fn read_elf(path: &Path, shown: &Path) -> Result<ElfInfo, EngineError> {
    let bad = |reason: String| error(shown.display(), reason, fix_supported());
    let (file, _) = open_regular(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let cache = ReadCache::new(file);
    let data = &cache;
    if data.read_bytes_at(0, 4).ok() != Some(&b"\x7fELF"[..]) {
        return Err(bad("not an interpreter binary (not an ELF file)".into()));
    }
    let elf = ElfFile64::<Endianness, _>::parse(data)
        .map_err(|e| bad(format!("not a 64-bit ELF file secimport can read: {e}")))?;
    let endian = elf.endian();
    let machine = elf.elf_header().e_machine(endian);
    if machine != object::elf::EM_X86_64 {
        return Err(bad(format!(
            "built for another architecture (ELF machine {machine}); secimport supports x86-64"
        )));
    }

    let mut info = ElfInfo::default();
    let (mut runtime, mut main, mut version_at) = (None, false, None);
    let mut markers = Markers::default();
    for sym in elf.dynamic_symbols().chain(elf.symbols()) {
        if sym.is_undefined() {
            continue;
        }
        // The exported API only (a static build's symbol table also names
        // internal functions, such as 3.9's own PyAST_Check).
        if let (Ok(name), true) = (sym.name(), sym.is_global()) {
            markers.see(name);
        }
        match sym.name() {
            Ok("_PyRuntime") => runtime = Some(sym.address()),
            Ok("Py_BytesMain") => {
                main = true;
                info.is_python = true;
            }
            Ok("Py_Main") | Ok("Py_Initialize") | Ok("Py_InitializeEx") => info.is_python = true,
            Ok("Py_Version") => version_at = Some(sym.address()),
            _ => {}
        }
    }
    if let Some(addr) = version_at {
        info.py_version = read_u32_at(&elf, data, addr).and_then(decode_version_hex);
    }
    if info.py_version.is_none() && runtime.is_some() {
        info.symbol_minor = markers.minor();
        if let Some(ro) = elf.section_by_name(".rodata") {
            info.rodata_versions = ro.data().map(version_strings).unwrap_or_default();
        }
    }
    if let Some(addr) = runtime {
        info.debug_offsets = read_bytes_at(&elf, data, addr, DEBUG_OFFSETS_BYTES);
    }
    if let (Some(runtime), true) = (runtime, main) {
        let first = elf
            .segments()
            .find(|seg| seg.file_range().0 == 0)
            .map(|seg| seg.address())
            .ok_or_else(|| {
                error(
                    shown.display(),
                    "no loadable segment at file offset 0",
                    "use a standard CPython build",
                )
            })?;
        info.runtime_offset = runtime.checked_sub(first);
    }

    let sections = elf.elf_section_table();
    if let Ok(Some((dyns, link))) = sections.dynamic(endian, data) {
        if let Ok(strings) = sections.strings(endian, data, link) {
            for d in dyns {
                let (Some(tag), Some(val)) = (d.tag32(endian), d.val32(endian)) else {
                    continue;
                };
                let Ok(s) = strings.get(val) else {
                    continue;
                };
                let s = String::from_utf8_lossy(s).into_owned();
                let split = |s: &str| -> Vec<String> {
                    s.split(':')
                        .filter(|d| !d.is_empty())
                        .map(str::to_string)
                        .collect()
                };
                match tag {
                    object::elf::DT_NEEDED => info.needed.push(s),
                    object::elf::DT_SONAME => info.soname = Some(s),
                    object::elf::DT_RPATH => info.rpath.extend(split(&s)),
                    object::elf::DT_RUNPATH => info.runpath.extend(split(&s)),
                    _ => {}
                }
            }
        }
    }
    Ok(info)
}

/// The 4 bytes at virtual address `addr` (little-endian), from the section
/// holding it.
fn read_u32_at<'d>(
    elf: &ElfFile64<'d, Endianness, &'d ReadCache<File>>,
    data: &'d ReadCache<File>,
    addr: u64,
) -> Option<u32> {
    let bytes = read_bytes_at(elf, data, addr, 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// `len` bytes of the initialized data at virtual address `addr`, if a
/// section with file contents holds them all.
fn read_bytes_at<'d>(
    elf: &ElfFile64<'d, Endianness, &'d ReadCache<File>>,
    data: &'d ReadCache<File>,
    addr: u64,
    len: u64,
) -> Option<Vec<u8>> {
    let section = elf.sections().find(|s| {
        s.address() <= addr
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= s.address().saturating_add(s.size()))
    })?;
    let (offset, _) = section.file_range()?;
    data.read_bytes_at(offset + (addr - section.address()), len)
        .ok()
        .map(<[u8]>::to_vec)
}

/// `_Py_DebugOffsets` as a version lays it out: its sections in order, each
/// a list of `uint64_t` fields (from that version's headers: 3.13's
/// `pycore_runtime.h`, 3.14's `pycore_debug_offsets.h`). Only the sections
/// up to the last one checked are listed.
type DebugLayout = &'static [(&'static str, &'static [&'static str])];

const DEBUG_313: DebugLayout = &[
    ("", &["cookie", "version", "free_threaded"]),
    (
        "runtime_state",
        &["size", "finalizing", "interpreters_head"],
    ),
    (
        "interpreter_state",
        &[
            "size",
            "id",
            "next",
            "threads_head",
            "gc",
            "imports_modules",
            "sysdict",
            "builtins",
            "ceval_gil",
            "gil_runtime_state",
            "gil_runtime_state_enabled",
            "gil_runtime_state_locked",
            "gil_runtime_state_holder",
        ],
    ),
    (
        "thread_state",
        &[
            "size",
            "prev",
            "next",
            "interp",
            "current_frame",
            "thread_id",
            "native_thread_id",
            "datastack_chunk",
            "status",
        ],
    ),
    (
        "interpreter_frame",
        &[
            "size",
            "previous",
            "executable",
            "instr_ptr",
            "localsplus",
            "owner",
        ],
    ),
    (
        "code_object",
        &[
            "size",
            "filename",
            "name",
            "qualname",
            "linetable",
            "firstlineno",
            "argcount",
            "localsplusnames",
            "localspluskinds",
            "co_code_adaptive",
        ],
    ),
    ("pyobject", &["size", "ob_type"]),
    ("type_object", &["size", "tp_name", "tp_repr", "tp_flags"]),
    ("tuple_object", &["size", "ob_item", "ob_size"]),
    ("list_object", &["size", "ob_item", "ob_size"]),
    ("dict_object", &["size", "ma_keys", "ma_values"]),
    ("float_object", &["size", "ob_fval"]),
    ("long_object", &["size", "lv_tag", "ob_digit"]),
    ("bytes_object", &["size", "ob_size", "ob_sval"]),
    (
        "unicode_object",
        &["size", "state", "length", "asciiobject_size"],
    ),
];

const DEBUG_314: DebugLayout = &[
    ("", &["cookie", "version", "free_threaded"]),
    (
        "runtime_state",
        &["size", "finalizing", "interpreters_head"],
    ),
    (
        "interpreter_state",
        &[
            "size",
            "id",
            "next",
            "threads_head",
            "threads_main",
            "gc",
            "imports_modules",
            "sysdict",
            "builtins",
            "ceval_gil",
            "gil_runtime_state",
            "gil_runtime_state_enabled",
            "gil_runtime_state_locked",
            "gil_runtime_state_holder",
            "code_object_generation",
            "tlbc_generation",
        ],
    ),
    (
        "thread_state",
        &[
            "size",
            "prev",
            "next",
            "interp",
            "current_frame",
            "thread_id",
            "native_thread_id",
            "datastack_chunk",
            "status",
        ],
    ),
    (
        "interpreter_frame",
        &[
            "size",
            "previous",
            "executable",
            "instr_ptr",
            "localsplus",
            "owner",
            "stackpointer",
            "tlbc_index",
        ],
    ),
    (
        "code_object",
        &[
            "size",
            "filename",
            "name",
            "qualname",
            "linetable",
            "firstlineno",
            "argcount",
            "localsplusnames",
            "localspluskinds",
            "co_code_adaptive",
            "co_tlbc",
        ],
    ),
    ("pyobject", &["size", "ob_type"]),
    ("type_object", &["size", "tp_name", "tp_repr", "tp_flags"]),
    ("tuple_object", &["size", "ob_item", "ob_size"]),
    ("list_object", &["size", "ob_item", "ob_size"]),
    ("set_object", &["size", "used", "table", "mask"]),
    ("dict_object", &["size", "ma_keys", "ma_values"]),
    ("float_object", &["size", "ob_fval"]),
    ("long_object", &["size", "lv_tag", "ob_digit"]),
    ("bytes_object", &["size", "ob_size", "ob_sval"]),
    (
        "unicode_object",
        &["size", "state", "length", "asciiobject_size"],
    ),
];

/// The layout of `_Py_DebugOffsets` of a version (3.13+; a later version
/// is read with the newest layout known and its fields are checked).
fn debug_layout(minor: u32) -> Option<DebugLayout> {
    match minor {
        0..=12 => None,
        13 => Some(DEBUG_313),
        _ => Some(DEBUG_314),
    }
}

/// Byte position of `section.field` in a layout.
fn debug_position(layout: DebugLayout, name: &str) -> Option<usize> {
    let (section, field) = name.rsplit_once('.').unwrap_or(("", name));
    let mut at = 0;
    for (sec, fields) in layout {
        if *sec == section {
            return fields.iter().position(|f| *f == field).map(|i| at + 8 * i);
        }
        at += 8 * fields.len();
    }
    None
}

/// Bytes of `_Py_DebugOffsets` read: enough for the largest layout.
const DEBUG_OFFSETS_BYTES: u64 = 1024;

/// Which row fields the interpreter's `_Py_DebugOffsets` describe, and as
/// which of its fields. Only offsets the row has are compared.
fn debug_checks(o: &PyOffsets) -> Vec<(&'static str, u32)> {
    let mut v = vec![
        (
            "runtime_state.interpreters_head",
            o.runtime_interpreters_head,
        ),
        ("interpreter_state.next", o.interp_next),
        ("interpreter_state.threads_head", o.interp_threads_head),
        ("thread_state.next", o.tstate_next),
        ("thread_state.thread_id", o.tstate_thread_id),
        ("thread_state.datastack_chunk", o.tstate_datastack_chunk),
        ("interpreter_frame.previous", o.frame_previous),
        ("interpreter_frame.executable", o.frame_code),
        ("interpreter_frame.instr_ptr", o.frame_instr),
        ("interpreter_frame.owner", o.frame_owner),
        ("code_object.filename", o.code_filename),
        ("code_object.qualname", o.code_name),
        ("code_object.linetable", o.code_linetable),
        ("code_object.firstlineno", o.code_firstlineno),
        ("code_object.co_code_adaptive", o.code_adaptive),
        ("bytes_object.ob_size", o.bytes_size),
        ("bytes_object.ob_sval", o.bytes_data),
        ("unicode_object.state", o.str_state),
        ("unicode_object.length", o.str_length),
        ("unicode_object.asciiobject_size", o.str_ascii_data),
    ];
    if o.tstate_cframe == NONE {
        v.push(("thread_state.current_frame", o.current_frame));
    }
    v.retain(|(_, want)| *want != NONE);
    v
}

/// Checks `offsets` (the table's row) against the interpreter's own
/// `_Py_DebugOffsets` (3.13+: the first field of `_PyRuntime`, initialized
/// in the file), and refuses a free-threaded build. `Ok` when the version
/// has none to compare (before 3.13).
fn check_debug_offsets(
    bytes: Option<&[u8]>,
    version: (u32, u32, u32),
    offsets: &PyOffsets,
) -> Result<(), String> {
    let Some(layout) = debug_layout(version.1) else {
        return Ok(());
    };
    let field = |b: &[u8], name: &str| {
        let at = debug_position(layout, name)?;
        b.get(at..at + 8)
            .map(|x| u64::from_le_bytes(x.try_into().expect("8 bytes")))
    };
    let Some(b) = bytes.filter(|b| field(b, "unicode_object.asciiobject_size").is_some()) else {
        return Err("its _PyRuntime has no _Py_DebugOffsets to check the table against".into());
    };
    if &b[..8] != b"xdebugpy" {
        return Err(
            "its _PyRuntime does not start with _Py_DebugOffsets (no `xdebugpy` cookie)".into(),
        );
    }
    if field(b, "free_threaded") != Some(0) {
        return Err(format!(
            "it is a free-threaded build (`python{}.{}t`, Py_GIL_DISABLED): its thread and frame \
             layout differ and are not supported; use the default build",
            version.0, version.1
        ));
    }
    for (name, want) in debug_checks(offsets) {
        let got = field(b, name).ok_or_else(|| format!("no {name} in its _Py_DebugOffsets"))?;
        if got != u64::from(want) {
            return Err(format!(
                "its _Py_DebugOffsets disagree with secimport's table for {}.{}: {name} is {got} \
                 in the interpreter, {want} in the table (a patched or differently configured \
                 build)",
                version.0, version.1
            ));
        }
    }
    Ok(())
}

/// `PY_VERSION_HEX` -> (major, minor, micro).
fn decode_version_hex(v: u32) -> Option<(u32, u32, u32)> {
    let (major, minor, micro) = (v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff);
    (major == 3).then_some((major, minor, micro))
}

/// API functions whose presence or absence tells CPython 3.8, 3.9 and 3.10
/// apart (they have no `Py_Version`): each minor version added some and
/// removed others (from the exported symbols of 3.8.18, 3.9.18, 3.10.13 and
/// 3.11.7).
#[derive(Default)]
struct Markers {
    bytes_main: bool,     // Py_BytesMain: 3.8+
    frame_get_code: bool, // PyFrame_GetCode: 3.9+
    aiter_check: bool,    // PyAIter_Check: 3.10+
    ast_validate: bool,   // PyAST_Validate: before 3.10
    ast_check: bool,      // PyAST_Check: before 3.9
    block_pop: bool,      // PyFrame_BlockPop: before 3.11
}

impl Markers {
    fn see(&mut self, name: &str) {
        match name {
            "Py_BytesMain" => self.bytes_main = true,
            "PyFrame_GetCode" => self.frame_get_code = true,
            "PyAIter_Check" => self.aiter_check = true,
            "PyAST_Validate" => self.ast_validate = true,
            "PyAST_Check" => self.ast_check = true,
            "PyFrame_BlockPop" => self.block_pop = true,
            _ => {}
        }
    }

    /// The minor version of a 3.8-3.10 interpreter; `None` for anything
    /// else (older, newer, or not a full export of the API).
    fn minor(&self) -> Option<u32> {
        match *self {
            Markers {
                bytes_main: false, ..
            }
            | Markers {
                block_pop: false, ..
            } => None,
            Markers {
                aiter_check: true,
                ast_validate: false,
                ..
            } => Some(10),
            Markers {
                aiter_check: false,
                frame_get_code: true,
                ast_validate: true,
                ast_check: false,
                ..
            } => Some(9),
            Markers {
                aiter_check: false,
                frame_get_code: false,
                ast_check: true,
                ..
            } => Some(8),
            _ => None,
        }
    }
}

/// The `3.X.Y` strings (NUL-terminated, possibly the tail of a longer string,
/// not preceded by a digit or dot) in read-only data: where `PY_VERSION`
/// is before 3.11.
fn version_strings(data: &[u8]) -> Vec<(u32, u32, u32)> {
    let mut found = BTreeSet::new();
    for (end, _) in data.iter().enumerate().filter(|(_, b)| **b == 0) {
        let head = &data[end.saturating_sub(16)..end];
        // The longest tail of `head` made of version characters.
        let start = head
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'.' || *b == b'+'))
            .map_or(0, |i| i + 1);
        let Ok(text) = std::str::from_utf8(&head[start..]) else {
            continue;
        };
        // Skip leading letters ("Python-3.9.18"): the version starts at "3.".
        let Some(at) = text.find("3.") else { continue };
        if at > 0 && text.as_bytes()[at - 1].is_ascii_digit() {
            continue;
        }
        let mut parts = text[at..].splitn(3, '.');
        let (Some(major), Some(minor), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (micro, suffix) = rest.split_at(digits);
        let release = suffix.is_empty()
            || (suffix.starts_with(['a', 'b', 'r', '+'])
                && suffix[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+'));
        if let (Ok(major), Ok(minor), Ok(micro), true) =
            (major.parse(), minor.parse(), micro.parse(), release)
        {
            found.insert((major, minor, micro));
        }
    }
    found.into_iter().collect()
}

/// The version of an interpreter without `Py_Version` (3.8-3.10): the minor
/// from its libpython's name or its exported API, the micro from the one
/// `PY_VERSION` string of that minor its data holds ([`UNKNOWN_MICRO`] if
/// none or several).
fn legacy_version(infos: &[&ElfInfo], named: Option<(u32, u32)>) -> Option<(u32, u32, u32)> {
    let minor = match named {
        Some((3, minor)) => minor,
        Some(_) => return None,
        None => infos.iter().find_map(|i| i.symbol_minor)?,
    };
    let micros: BTreeSet<u32> = infos
        .iter()
        .flat_map(|i| &i.rodata_versions)
        .filter(|(ma, mi, _)| (*ma, *mi) == (3, minor))
        .map(|v| v.2)
        .collect();
    let micro = match micros.len() {
        1 => *micros.first().expect("one"),
        _ => UNKNOWN_MICRO,
    };
    Some((3, minor, micro))
}

/// `libpython3.11.so.1.0`, `libpython3.6m.so`, `libpython2.7.so.1.0` ->
/// (major, minor).
fn libpython_version(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("libpython")?;
    let (major, rest) = rest.split_once('.')?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (minor, tail) = rest.split_at(digits);
    let tail = tail.trim_start_matches(['d', 'm', 'u', 't']);
    if !tail.starts_with(".so") {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Where the libpython an executable links comes from.
enum Libraries<'a> {
    /// Search as the dynamic loader will when the program starts.
    Search(&'a Context),
    /// What a running process mapped: (path opening it, path to record).
    Mapped(Vec<(PathBuf, PathBuf)>),
}

struct Found {
    version: (u32, u32, u32),
    build: BuildKind,
    runtime_elf: PathBuf,
    runtime_offset: u64,
    offsets: PyOffsets,
}

impl Found {
    /// The interpreter as run from `executable` with that `sys.path`.
    fn interpreter(
        self,
        executable: PathBuf,
        (sys_path, safe_path): (Vec<String>, bool),
    ) -> Interpreter {
        Interpreter {
            executable,
            version: self.version,
            build: self.build,
            runtime_elf: self.runtime_elf,
            runtime_offset: self.runtime_offset,
            offsets: self.offsets,
            sys_path,
            safe_path,
        }
    }
}

/// Identifies the interpreter whose executable is opened at `exe` (`shown`
/// in messages and records): its version and the ELF holding `_PyRuntime`.
fn identify(exe: &Path, shown: &Path, libs: &Libraries) -> Result<Found, EngineError> {
    let exe_info = read_elf(exe, shown)?;
    let libpython_names: Vec<&String> = exe_info
        .needed
        .iter()
        .filter(|n| n.starts_with("libpython"))
        .collect();

    // The libpython files the process will map (or mapped).
    let mut lib_files: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut not_found: Vec<(String, Vec<PathBuf>)> = Vec::new();
    match libs {
        Libraries::Mapped(mapped) => lib_files.extend(mapped.iter().cloned()),
        Libraries::Search(ctx) => {
            if exe_info.runtime_offset.is_none() {
                let dirs = library_dirs(&exe_info, exe, ctx);
                for name in &libpython_names {
                    match dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
                        Some(p) => {
                            let real = p.canonicalize().unwrap_or(p);
                            lib_files.push((real.clone(), real));
                        }
                        None => not_found.push(((*name).clone(), dirs.clone())),
                    }
                }
            }
        }
    }
    let mut lib_infos = Vec::new();
    for (open, path) in &lib_files {
        lib_infos.push((path.clone(), read_elf(open, path)?));
    }

    // The version: Py_Version (3.11+), else the libpython's name or the API
    // the interpreter exports (3.8-3.10).
    let lib_named = lib_infos
        .iter()
        .find_map(|(p, i)| {
            i.soname.as_deref().and_then(libpython_version).or_else(|| {
                p.file_name()
                    .and_then(|n| libpython_version(&n.to_string_lossy()))
            })
        })
        .or_else(|| libpython_names.iter().find_map(|n| libpython_version(n)));
    let version = exe_info
        .py_version
        .or_else(|| lib_infos.iter().find_map(|(_, i)| i.py_version))
        .or_else(|| {
            let infos: Vec<&ElfInfo> = std::iter::once(&exe_info)
                .chain(lib_infos.iter().map(|(_, i)| i))
                .filter(|i| i.runtime_offset.is_some())
                .collect();
            if infos.is_empty() {
                return None;
            }
            legacy_version(&infos, lib_named)
        });
    let (major, minor) = match version {
        Some((major, minor, _)) => (major, minor),
        None => {
            let named = lib_named;
            let is_python = exe_info.is_python || lib_infos.iter().any(|(_, i)| i.is_python);
            return Err(match named {
                Some((major, minor)) if offsets_for(major, minor).is_some() => error(
                    shown.display(),
                    format!(
                        "it links libpython{major}.{minor}, which could not be read (a process \
                         that has not mapped it yet, or a library without its symbols)"
                    ),
                    "retry once the process has started, or pass --python with the interpreter \
                     binary",
                ),
                Some((major, minor)) => error(
                    shown.display(),
                    format!(
                        "CPython {major}.{minor} is not supported (supported: {})",
                        supported_versions()
                    ),
                    fix_supported(),
                ),
                None if is_python => error(
                    shown.display(),
                    format!(
                        "a Python older than 3.8 (it has no Py_Version symbol and not the API \
                         of 3.8-3.10), which is not supported (supported: {})",
                        supported_versions()
                    ),
                    fix_supported(),
                ),
                None if !not_found.is_empty() => error(
                    shown.display(),
                    format!(
                        "it links {}, which is in none of {}",
                        not_found[0].0,
                        not_found[0]
                            .1
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "set LD_LIBRARY_PATH as the program will run with it, or pass --python with \
                     an interpreter whose libpython is installed",
                ),
                None => error(
                    shown.display(),
                    "not a CPython interpreter (it defines no Py_BytesMain or _PyRuntime and \
                     links no libpython)",
                    fix_supported(),
                ),
            });
        }
    };
    let version = version.expect("matched above");
    let offsets = *offsets_for(major, minor).ok_or_else(|| {
        error(
            shown.display(),
            format!(
                "CPython {} is not supported{} (supported: {})",
                display_version(version),
                if (version.0, version.1) > OFFSETS[OFFSETS.len() - 1].0 {
                    " yet"
                } else {
                    ""
                },
                supported_versions()
            ),
            fix_supported(),
        )
    })?;

    let (build, runtime_elf, runtime_offset, debug_offsets) =
        if let Some(off) = exe_info.runtime_offset {
            (
                BuildKind::Static,
                shown.to_path_buf(),
                off,
                exe_info.debug_offsets.as_deref(),
            )
        } else if let Some((path, off, debug)) = lib_infos.iter().find_map(|(p, i)| {
            i.runtime_offset
                .map(|o| (p.clone(), o, i.debug_offsets.as_deref()))
        }) {
            (BuildKind::Shared, path, off, debug)
        } else {
            return Err(error(
                shown.display(),
                "neither the executable nor its libpython defines _PyRuntime and Py_BytesMain",
                "use a CPython build that exports its symbols (a stock python.org, pyenv or \
             distribution build)",
            ));
        };
    check_debug_offsets(debug_offsets, version, &offsets).map_err(|reason| {
        error(
            shown.display(),
            format!("CPython {}: {reason}", display_version(version)),
            fix_supported(),
        )
    })?;
    Ok(Found {
        version,
        build,
        runtime_elf,
        runtime_offset,
        offsets,
    })
}

/// `_PyRuntime`'s offset from the segment mapped at file offset 0, if `elf`
/// defines it (and `Py_BytesMain`, which every interpreter binary needs).
pub fn runtime_offset(elf: &Path) -> Result<Option<u64>, EngineError> {
    Ok(read_elf(elf, elf)?.runtime_offset)
}

/// The directories the dynamic loader searches for a library `elf` needs, in
/// its order: DT_RPATH (without DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, the
/// directories of /etc/ld.so.conf, the defaults.
fn library_dirs(info: &ElfInfo, elf: &Path, ctx: &Context) -> Vec<PathBuf> {
    let origin = elf
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string()))
        .unwrap_or_default();
    let expand =
        |d: &String| PathBuf::from(d.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin));
    let mut dirs: Vec<PathBuf> = Vec::new();
    if info.runpath.is_empty() {
        dirs.extend(info.rpath.iter().map(expand));
    }
    if let Some(paths) = ctx.var("LD_LIBRARY_PATH") {
        dirs.extend(
            std::env::split_paths(paths)
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| ctx.cwd.join(d)),
        );
    }
    dirs.extend(info.runpath.iter().map(expand));
    let mut conf = Vec::new();
    ld_so_conf(Path::new("/etc/ld.so.conf"), &mut conf, 0);
    dirs.extend(conf);
    dirs.extend(
        [
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib64",
            "/usr/lib64",
            "/lib",
            "/usr/lib",
        ]
        .map(PathBuf::from),
    );
    let mut seen = BTreeSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// The directories an ld.so.conf lists (with its `include` files).
fn ld_so_conf(file: &Path, out: &mut Vec<PathBuf>, depth: u32) {
    let Some(text) = read_text(file) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(pattern) = line.strip_prefix("include") {
            if depth >= 4 || !pattern.starts_with(char::is_whitespace) {
                continue;
            }
            for pattern in pattern.split_whitespace() {
                let pattern = file.parent().unwrap_or(Path::new("/")).join(pattern);
                for included in glob_files(&pattern) {
                    ld_so_conf(&included, out, depth + 1);
                }
            }
        } else if line.starts_with('/') {
            out.push(PathBuf::from(
                line.split(['=', ' ', '\t', ',', ':'])
                    .next()
                    .unwrap_or(line),
            ));
        }
    }
}

/// Files matching a pattern with `*` in its last component only (what
/// ld.so.conf uses), sorted.
fn glob_files(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = pattern.parent().unwrap_or(Path::new("/"));
    let Some((before, after)) = name.split_once('*') else {
        return vec![pattern.to_path_buf()];
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.len() >= before.len() + after.len()
                        && n.starts_with(before)
                        && n.ends_with(after)
                        && !after.contains('*')
                })
                .map(|n| dir.join(n))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// sys.path, as CPython's getpath and site compute it
// ---------------------------------------------------------------------------

/// Interpreter options that change `sys.path`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Flags {
    /// `-I`
    isolated: bool,
    /// `-E`
    ignore_env: bool,
    /// `-s`
    no_user_site: bool,
    /// `-S`
    no_site: bool,
    /// `-P`
    safe_path: bool,
}

/// The options before the script, `-c` or `-m` (combined ones too: `-Es`).
fn parse_flags(args: &[String]) -> Flags {
    let mut flags = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" || arg == "-" || !arg.starts_with('-') {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            if long == "check-hash-based-pycs" {
                it.next();
            }
            continue;
        }
        let opts = &arg[1..];
        for (i, c) in opts.char_indices() {
            match c {
                'c' | 'm' => return flags,
                'W' | 'X' => {
                    if i + 1 == opts.len() {
                        it.next();
                    }
                    break;
                }
                'I' => flags.isolated = true,
                'E' => flags.ignore_env = true,
                's' => flags.no_user_site = true,
                'S' => flags.no_site = true,
                'P' => flags.safe_path = true,
                _ => {}
            }
        }
    }
    flags
}

/// Lexical normalization (`posixpath.normpath` without its `//` quirk): the
/// one module naming uses, with `.` for a relative path that reduces to
/// nothing.
fn normpath(path: &str) -> String {
    let n = secimport_policy::naming::normalize(path);
    if n.is_empty() {
        ".".into()
    } else {
        n
    }
}

/// `os.path.abspath` against `cwd`.
fn abspath(path: &str, cwd: &Path) -> String {
    if path.starts_with('/') {
        normpath(path)
    } else {
        normpath(&format!("{}/{path}", cwd.display()))
    }
}

fn absolute_in(path: &Path, cwd: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

fn join(dir: &str, rest: &str) -> String {
    if rest.starts_with('/') {
        rest.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{rest}")
    } else {
        format!("{dir}/{rest}")
    }
}

fn dirname(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

fn isfile(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

fn isdir(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

fn realpath(path: &str) -> String {
    std::fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string())
}

/// `getpath.search_up`: the first of `dir` and its parents holding one of
/// `landmarks`.
fn search_up(dir: &str, landmarks: &[String], test: fn(&str) -> bool) -> Option<String> {
    let mut dir = dir.to_string();
    loop {
        if landmarks.iter().any(|l| test(&join(&dir, l))) {
            return Some(dir);
        }
        let parent = dirname(&dir);
        if parent.is_empty() || parent == dir {
            return None;
        }
        dir = parent;
    }
}

/// `(key, value)` lines of a `pyvenv.cfg`.
fn pyvenv_cfg(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.split_once('=')?;
            Some((k.trim().to_lowercase(), v.trim().to_string()))
        })
        .collect()
}

/// The home directory of a user, from /etc/passwd.
fn passwd_home(uid: u32) -> Option<String> {
    let text = read_text(Path::new("/etc/passwd"))?;
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

/// `sys.path` without `sys.path[0]` (and whether `sys.path[0]` is left out
/// too: safe path), for an interpreter of `version` started as `executable`
/// (`sys.executable`: the absolute `argv[0]`, not resolved) whose binary is
/// `binary`, in `ctx`.
///
/// Emulates CPython's `getpath` (prefix from `pyvenv.cfg`'s `home` or the
/// executable's location and the `lib/pythonX.Y/os.py` and `lib-dynload`
/// landmarks, `PYTHONHOME`, `PYTHONPATH`, `._pth` files) and `site` (a venv's
/// site-packages and `include-system-site-packages`, the user site
/// directory, the system site-packages or Debian's dist-packages, and the
/// path lines of `.pth` files; their `import` lines are code and ignored).
fn compute_sys_path(
    executable: &Path,
    binary: &Path,
    (major, minor): (u32, u32),
    ctx: &Context,
) -> (Vec<String>, bool) {
    let cwd = &ctx.cwd;
    let mut flags = parse_flags(&ctx.args);
    if flags.isolated {
        flags.ignore_env = true;
        flags.no_user_site = true;
        flags.safe_path = true;
    }
    let mut use_env = !flags.ignore_env;
    if use_env && ctx.nonempty("PYTHONNOUSERSITE").is_some() {
        flags.no_user_site = true;
    }
    if use_env && (major, minor) >= (3, 11) && ctx.nonempty("PYTHONSAFEPATH").is_some() {
        flags.safe_path = true;
    }
    let env_pythonpath = ctx.nonempty("PYTHONPATH");
    let mut home = use_env.then(|| ctx.nonempty("PYTHONHOME")).flatten();
    let env_platlibdir = (minor >= 9)
        .then(|| use_env.then(|| ctx.nonempty("PYTHONPLATLIBDIR")))
        .flatten()
        .flatten();
    let xy = format!("{major}.{minor}");

    let executable = abspath(&executable.to_string_lossy(), cwd);
    let mut executable_dir = None;

    // getpath: a virtual environment's pyvenv.cfg (one level above the
    // executable, then beside it) moves the search to its `home`.
    if home.is_none() {
        let beside = dirname(&executable);
        let above = dirname(&beside);
        let cfg = read_text(Path::new(&join(&above, "pyvenv.cfg")))
            .or_else(|| read_text(Path::new(&join(&beside, "pyvenv.cfg"))));
        if let Some(cfg) = cfg {
            executable_dir = pyvenv_cfg(&cfg)
                .into_iter()
                .find(|(k, _)| k == "home")
                .map(|(_, v)| v);
        }
    }
    let real_executable = realpath(&executable);
    let executable_dir = executable_dir.unwrap_or_else(|| dirname(&real_executable));

    // getpath: a `._pth` file beside the executable replaces everything
    // (on Linux from 3.11; before, only Windows read them).
    let mut pth = None;
    for p in [&executable, &real_executable]
        .into_iter()
        .filter(|_| minor >= 11)
    {
        let file = format!("{p}._pth");
        if let Some(text) = read_text(Path::new(&file)) {
            pth = Some((text, dirname(&file)));
            break;
        }
    }
    let mut site_import = !flags.no_site;
    if let Some((_, dir)) = &pth {
        use_env = false;
        home = Some(dir.clone());
        flags.no_user_site = true;
        flags.safe_path = true;
        site_import = false;
    }

    // getpath: prefix and exec_prefix.
    let mut platlibdir = env_platlibdir.clone().unwrap_or_else(|| "lib".into());
    let (prefix, exec_prefix) = match &home {
        Some(home) => match home.split_once(':') {
            Some((p, e)) => (p.to_string(), e.to_string()),
            None => (home.clone(), home.clone()),
        },
        None => {
            // PLATLIBDIR is compiled in: "lib" (Debian, pyenv, python.org) or
            // "lib64" (Fedora); take the one whose landmarks exist.
            let candidates: Vec<String> = match &env_platlibdir {
                Some(p) => vec![p.clone()],
                None => vec!["lib".into(), "lib64".into()],
            };
            let mut found = None;
            for lib in &candidates {
                let zip = [format!("{lib}/python{major}{minor}.zip")];
                let stdlib = [
                    format!("{lib}/python{xy}/os.py"),
                    format!("{lib}/python{xy}/os.pyc"),
                ];
                let dynload = [format!("{lib}/python{xy}/lib-dynload")];
                let prefix = search_up(&executable_dir, &zip, isfile)
                    .or_else(|| search_up(&executable_dir, &stdlib, isfile));
                if let Some(prefix) = prefix {
                    let exec_prefix = search_up(&executable_dir, &dynload, isdir);
                    found = Some((lib.clone(), prefix, exec_prefix));
                    break;
                }
            }
            match found {
                Some((lib, prefix, exec_prefix)) => {
                    platlibdir = lib;
                    let exec_prefix = exec_prefix.unwrap_or_else(|| compiled_prefix(binary));
                    (prefix, exec_prefix)
                }
                None => {
                    // Not found from the executable: CPython falls back to its
                    // compiled-in PREFIX, which is where its binary is installed.
                    let p = compiled_prefix(binary);
                    (p.clone(), p)
                }
            }
        }
    };

    // getpath: the module search path.
    let mut path: Vec<String> = Vec::new();
    match &pth {
        Some((text, dir)) => {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                } else if line == "import site" {
                    site_import = true;
                } else if !line.starts_with("import ") {
                    path.push(join(dir, line));
                }
            }
        }
        None => {
            if use_env {
                if let Some(pp) = &env_pythonpath {
                    path.extend(pp.split(':').map(|p| abspath(p, cwd)));
                }
            }
            path.push(join(
                &prefix,
                &format!("{platlibdir}/python{major}{minor}.zip"),
            ));
            path.push(join(&prefix, &format!("{platlibdir}/python{xy}")));
            path.push(join(
                &exec_prefix,
                &format!("{platlibdir}/python{xy}/lib-dynload"),
            ));
        }
    }
    if !site_import {
        return (path.iter().map(|p| normpath(p)).collect(), flags.safe_path);
    }

    // site.main(): removeduppaths, venv, user site, system site-packages.
    let mut site = Site {
        known: BTreeSet::new(),
        path: Vec::new(),
        platlibdir: platlibdir.clone(),
        xy: xy.clone(),
        major,
        minor,
        debian: read_text(Path::new(&join(
            &prefix,
            &format!("{platlibdir}/python{xy}/site.py"),
        )))
        .is_some_and(|s| s.contains("dist-packages")),
        cwd: cwd.clone(),
    };
    for p in path {
        let p = abspath(&p, cwd);
        if site.known.insert(p.clone()) {
            site.path.push(p);
        }
    }
    let mut prefixes = vec![prefix.clone(), exec_prefix.clone()];
    let mut enable_user_site = !flags.no_user_site && !ctx.setid;
    // site.venv(): pyvenv.cfg beside sys.executable, then one level above.
    let exe_dir = dirname(&executable);
    let site_prefix = dirname(&exe_dir);
    let conf = [
        join(&exe_dir, "pyvenv.cfg"),
        join(&site_prefix, "pyvenv.cfg"),
    ]
    .into_iter()
    .find(|c| isfile(c));
    if let Some(conf) = conf {
        let cfg = pyvenv_cfg(&read_text(Path::new(&conf)).unwrap_or_default());
        let system_site = cfg
            .iter()
            .rev()
            .find(|(k, _)| k == "include-system-site-packages")
            .map_or("true".to_string(), |(_, v)| v.to_lowercase());
        let in_venv = site_prefix != prefix;
        site.add_site_packages(std::slice::from_ref(&site_prefix), in_venv);
        if system_site == "true" {
            prefixes.insert(0, site_prefix.clone());
        } else {
            prefixes = vec![site_prefix.clone()];
            enable_user_site = false;
        }
        if enable_user_site {
            site.add_user_site(ctx);
        }
        site.add_site_packages(&prefixes, in_venv);
    } else {
        if enable_user_site {
            site.add_user_site(ctx);
        }
        site.add_site_packages(&prefixes, false);
    }
    (site.path, flags.safe_path)
}

/// CPython's compiled-in prefix, approximated by where its binary is
/// installed: the nearest parent of its directory with the standard library
/// landmark, else the parent of `bin`.
fn compiled_prefix(binary: &Path) -> String {
    let real = realpath(&binary.to_string_lossy());
    let dir = dirname(&real);
    let has_lib = |d: &str| {
        std::fs::read_dir(join(d, "lib")).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("python")
                    && isfile(&join(&e.path().to_string_lossy(), "os.py"))
            })
        })
    };
    let mut d = dir.clone();
    loop {
        if has_lib(&d) {
            return d;
        }
        let parent = dirname(&d);
        if parent.is_empty() || parent == d {
            break;
        }
        d = parent;
    }
    let parent = dirname(&dir);
    if parent.is_empty() {
        "/usr/local".into()
    } else {
        parent
    }
}

/// The state of `site.py` as it extends `sys.path`.
struct Site {
    known: BTreeSet<String>,
    path: Vec<String>,
    platlibdir: String,
    xy: String,
    major: u32,
    minor: u32,
    /// Debian's patched site.py (dist-packages).
    debian: bool,
    cwd: PathBuf,
}

/// At most this many `.pth` files are read per site directory.
const MAX_PTH_FILES: usize = 4096;

impl Site {
    /// `site.getsitepackages(prefixes)` (Debian's when the interpreter is
    /// Debian's), then `addsitedir` for those that exist.
    fn add_site_packages(&mut self, prefixes: &[String], in_venv: bool) {
        let mut seen = BTreeSet::new();
        let mut dirs = Vec::new();
        let xy = &self.xy;
        let mut libdirs = vec![self.platlibdir.clone()];
        if self.platlibdir != "lib" {
            libdirs.push("lib".into());
        }
        for prefix in prefixes {
            if prefix.is_empty() || !seen.insert(prefix.clone()) {
                continue;
            }
            if self.debian {
                if in_venv {
                    dirs.push(join(prefix, &format!("lib/python{xy}/site-packages")));
                }
                dirs.push(join(prefix, &format!("local/lib/python{xy}/dist-packages")));
                dirs.push(join(
                    prefix,
                    &format!("lib/python{}/dist-packages", self.major),
                ));
                for lib in &libdirs {
                    dirs.push(join(prefix, &format!("{lib}/python{xy}/dist-packages")));
                }
            } else {
                for lib in &libdirs {
                    dirs.push(join(prefix, &format!("{lib}/python{xy}/site-packages")));
                }
            }
        }
        for dir in dirs {
            if isdir(&dir) {
                self.add_site_dir(&dir);
            }
        }
    }

    /// `site.addusersitepackages`: `~/.local/lib/pythonX.Y/site-packages`
    /// (or under PYTHONUSERBASE) if it exists.
    fn add_user_site(&mut self, ctx: &Context) {
        let base = ctx.nonempty("PYTHONUSERBASE").unwrap_or_else(|| {
            let home = match ctx.var("HOME") {
                Some(h) => Some(h.to_string_lossy().trim_end_matches('/').to_string()),
                None => passwd_home(ctx.uid).map(|h| h.trim_end_matches('/').to_string()),
            };
            match home {
                Some(h) => format!("{h}/.local"),
                None => "~/.local".into(),
            }
        });
        let user_site = format!("{base}/lib/python{}/site-packages", self.xy);
        if isdir(&abspath(&user_site, &self.cwd)) {
            self.add_site_dir(&user_site);
        }
    }

    /// `site.addsitedir`: the directory, then the path lines of its `.pth`
    /// files in name order (lines starting with `import` are code: ignored).
    fn add_site_dir(&mut self, dir: &str) {
        let dir = abspath(dir, &self.cwd);
        if self.known.insert(dir.clone()) {
            self.path.push(dir.clone());
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let skip_hidden = (self.major, self.minor) >= (3, 13);
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pth") && !(skip_hidden && n.starts_with('.')))
            .collect();
        names.sort();
        names.truncate(MAX_PTH_FILES);
        for name in names {
            let Some(text) = read_text(Path::new(&join(&dir, &name))) else {
                continue;
            };
            // Universal newlines, as Python's text files read them.
            for line in text
                .split_inclusive('\n')
                .flat_map(|l| l.split_inclusive('\r'))
            {
                if line.starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                if line.starts_with("import ") || line.starts_with("import\t") {
                    continue;
                }
                let entry = abspath(&join(&dir, line.trim_end()), &self.cwd);
                if !self.known.contains(&entry) && Path::new(&entry).exists() {
                    self.known.insert(entry.clone());
                    self.path.push(entry);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// A fresh directory under the system temporary directory.
    fn tempdir(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "secimport-python-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn ctx(cwd: &Path, env: &[(&str, &str)]) -> Context {
        Context {
            args: vec![],
            env: env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            cwd: cwd.to_path_buf(),
            uid: 0,
            setid: false,
        }
    }

    /// 3.13's own `_Py_DebugOffsets` (read from libpython's initialized
    /// `_PyRuntime`, nothing run) agree with the table; a changed field, a
    /// missing cookie and a free-threaded build are refused, naming why.
    #[test]
    fn debug_offsets_check_the_table() {
        let lib = Path::new("/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0");
        let info = read_elf(lib, lib).expect("pyenv's 3.13.0 (shared) is installed for the tests");
        let bytes = info.debug_offsets.expect("_PyRuntime's initial value");
        let v = (3, 13, 0);
        assert_eq!(check_debug_offsets(Some(&bytes), v, &PY313), Ok(()));
        // 3.11 and 3.12 have none: nothing to check.
        assert_eq!(check_debug_offsets(None, (3, 12, 1), &PY312), Ok(()));

        let mut changed = bytes.clone();
        changed[280] ^= 8; // code_object.filename
        let e = check_debug_offsets(Some(&changed), v, &PY313).unwrap_err();
        assert!(e.contains("code_object.filename"), "{e}");

        let mut threaded = bytes.clone();
        threaded[16] = 1;
        let e = check_debug_offsets(Some(&threaded), v, &PY313).unwrap_err();
        assert!(e.contains("free-threaded"), "{e}");

        let mut cookie = bytes.clone();
        cookie[0] = b'X';
        let e = check_debug_offsets(Some(&cookie), v, &PY313).unwrap_err();
        assert!(e.contains("cookie"), "{e}");
        assert!(check_debug_offsets(None, v, &PY313).is_err());
    }

    #[test]
    fn table_has_38_to_314() {
        let o = offsets_for(3, 8).expect("3.8 is supported");
        assert_eq!((o.family, o.line_format), (FRAME_OBJECT, LNOTAB));
        assert_eq!(offsets_for(3, 10).map(|o| o.line_format), Some(LINES_310));
        let o = offsets_for(3, 11).expect("3.11 is supported");
        assert_eq!(o.tstate_thread_id, 152);
        let o = offsets_for(3, 12).expect("3.12 is supported");
        assert_eq!(o.owner_skip, 3);
        let o = offsets_for(3, 13).expect("3.13 is supported");
        assert_eq!(o.tstate_cframe, NONE);
        let o = offsets_for(3, 14).expect("3.14 is supported");
        assert_eq!((o.family, o.code_tag_bits), (INTERP_FRAME, 3));
        assert!(offsets_for(3, 7).is_none() && offsets_for(3, 99).is_none());
        assert_eq!(
            supported_versions(),
            "3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14"
        );
    }

    /// 3.14's own `_Py_DebugOffsets` (Debian sid's static binary, in the
    /// chroot `scripts/chroot.sh sid` makes) agree with the table.
    #[test]
    fn debug_offsets_of_314_agree() {
        let root = std::env::var("SECIMPORT_CHROOTS")
            .unwrap_or_else(|_| "/var/lib/secimport-chroots".into());
        let exe = Path::new(&root).join("sid/usr/bin/python3.14");
        let info = read_elf(&exe, &exe).expect("sudo scripts/chroot.sh sid makes it");
        let v = info.py_version.expect("Py_Version");
        assert_eq!((v.0, v.1), (3, 14));
        let bytes = info.debug_offsets.expect("_PyRuntime's initial value");
        assert_eq!(check_debug_offsets(Some(&bytes), v, &PY314), Ok(()));
        // The 3.13 row is not 3.14's.
        assert!(check_debug_offsets(Some(&bytes), v, &PY313).is_err());
    }

    /// 3.8-3.10 have no `Py_Version`: the minor comes from the API a file
    /// exports, the micro from its one `PY_VERSION` string.
    #[test]
    fn versions_before_311_from_api_and_data() {
        for (dir, minor, micro) in [("3.8.18", 8, 18), ("3.9.18", 9, 18), ("3.10.13", 10, 13)] {
            let lib = PathBuf::from(format!(
                "/root/.pyenv/versions/{dir}/lib/libpython3.{minor}.so.1.0"
            ));
            let info = read_elf(&lib, &lib).expect("pyenv's versions are installed");
            assert_eq!(info.py_version, None, "{dir}");
            assert_eq!(info.symbol_minor, Some(minor), "{dir}");
            assert_eq!(
                legacy_version(&[&info], None),
                Some((3, minor, micro)),
                "{dir}"
            );
            assert_eq!(
                legacy_version(&[&info], Some((3, minor))),
                Some((3, minor, micro))
            );
        }
        // A string is found as the tail of a longer one, not after a digit.
        let data = b"x\0/root/.pyenv/versions/3.9.18\0Python-3.8.1\x0013.9.9\0";
        assert_eq!(version_strings(data), vec![(3, 8, 1), (3, 9, 18)]);
        // Several micros of one minor: unknown, shown as 3.9.
        let two = ElfInfo {
            symbol_minor: Some(9),
            rodata_versions: vec![(3, 9, 1), (3, 9, 2)],
            ..ElfInfo::default()
        };
        let v = legacy_version(&[&two], None).unwrap();
        assert_eq!(display_version(v), "3.9");
        // 3.11+ exports what marks 3.10 as gone: no minor from the API.
        let mut m = Markers::default();
        for name in ["Py_BytesMain", "PyFrame_GetCode", "PyAIter_Check"] {
            m.see(name);
        }
        assert_eq!(m.minor(), None);
    }

    /// Field positions computed from the layouts are the headers' (3.13:
    /// `code_object.filename` at 280, 3.14: `thread_state.thread_id` at 216).
    #[test]
    fn debug_layout_positions() {
        assert_eq!(debug_position(DEBUG_313, "code_object.filename"), Some(280));
        assert_eq!(
            debug_position(DEBUG_313, "code_object.co_code_adaptive"),
            Some(344)
        );
        assert_eq!(
            debug_position(DEBUG_314, "thread_state.thread_id"),
            Some(216)
        );
        assert_eq!(
            debug_position(DEBUG_314, "code_object.co_code_adaptive"),
            Some(384)
        );
        assert_eq!(debug_position(DEBUG_314, "free_threaded"), Some(16));
        assert_eq!(debug_position(DEBUG_314, "nope.x"), None);
    }

    #[test]
    fn flags_before_the_program_only() {
        let f = parse_flags(&s(&["-Es", "-X", "dev", "app.py", "-I"]));
        assert!(f.ignore_env && f.no_user_site && !f.isolated);
        let f = parse_flags(&s(&["-I", "-c", "-S"]));
        assert!(f.isolated && !f.no_site);
        assert!(!parse_flags(&s(&["-cimport sys", "-S"])).no_site);
        assert!(parse_flags(&s(&["-u", "-Wignore", "-S", "-m", "x"])).no_site);
        assert!(!parse_flags(&s(&["-W", "-S"])).no_site, "-S is -W's value");
        assert!(parse_flags(&s(&["-P", "x.py"])).safe_path);
        assert!(!parse_flags(&s(&["app.py", "-s"])).no_user_site);
        assert!(!parse_flags(&s(&["-", "-s"])).no_user_site);
    }

    #[test]
    fn versions_from_names_and_hex() {
        assert_eq!(libpython_version("libpython3.11.so.1.0"), Some((3, 11)));
        assert_eq!(libpython_version("libpython3.6m.so.1.0"), Some((3, 6)));
        assert_eq!(libpython_version("libpython2.7.so"), Some((2, 7)));
        assert_eq!(libpython_version("libpython3.13t.so.1.0"), Some((3, 13)));
        assert_eq!(libpython_version("libpython3.so"), None);
        assert_eq!(libpython_version("libpythonx.so"), None);
        assert_eq!(decode_version_hex(0x030B07F0), Some((3, 11, 7)));
        assert_eq!(decode_version_hex(0x030D00F0), Some((3, 13, 0)));
        assert_eq!(decode_version_hex(0), None);
    }

    #[test]
    fn paths() {
        assert_eq!(normpath("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(normpath("/../x"), "/x");
        assert_eq!(abspath("", Path::new("/w")), "/w");
        assert_eq!(abspath("rel/x", Path::new("/w")), "/w/rel/x");
        assert_eq!(abspath("/abs", Path::new("/w")), "/abs");
        assert_eq!(dirname("/usr/bin/python3"), "/usr/bin");
        assert_eq!(dirname("/usr"), "/");
        assert_eq!(join("/a", "/b"), "/b");
        assert_eq!(join("/a/", "b"), "/a/b");
        assert_eq!(
            pyvenv_cfg("home = /x/bin\nInclude-System-Site-Packages = True\nnoequals\n"),
            vec![
                ("home".to_string(), "/x/bin".to_string()),
                (
                    "include-system-site-packages".to_string(),
                    "True".to_string()
                )
            ]
        );
    }

    const SHIM: &str = "#!/usr/bin/env bash\nset -e\n[ -n \"$PYENV_DEBUG\" ] && set -x\n\n\
        program=\"${0##*/}\"\n\nexport PYENV_ROOT=\"@ROOT@\"\nSHIM_PATH=${0%/*}\n\
        exec \"@ROOT@/libexec/pyenv\" exec \"$program\" \"$@\"\n";

    #[test]
    fn pyenv_shims_are_read_not_run() {
        assert_eq!(
            pyenv_shim_root(&SHIM.replace("@ROOT@", "/opt/pyenv")),
            Some(PathBuf::from("/opt/pyenv"))
        );
        assert_eq!(pyenv_shim_root("#!/bin/sh\nexec python3 \"$@\"\n"), None);
        assert_eq!(pyenv_shim_root(&SHIM.replace("@ROOT@", "$(evil)")), None);

        // A pyenv root with two versions; the shim's libexec/pyenv would
        // leave a marker if anything ran it.
        let root = tempdir("pyenv");
        let marker = root.join("ran");
        for v in ["3.11.2", "3.11.10", "3.12.0"] {
            let bin = root.join("versions").join(v).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            let exe = bin.join("python3");
            std::fs::write(&exe, b"\x7fELF").unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::create_dir_all(root.join("libexec")).unwrap();
        std::fs::create_dir_all(root.join("shims")).unwrap();
        let pyenv = root.join("libexec/pyenv");
        std::fs::write(&pyenv, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
        std::fs::set_permissions(&pyenv, std::fs::Permissions::from_mode(0o755)).unwrap();
        let shim = root.join("shims/python3");
        std::fs::write(&shim, SHIM.replace("@ROOT@", &root.display().to_string())).unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let project = root.join("project/sub");
        std::fs::create_dir_all(&project).unwrap();
        let v = |name: &str| root.join("versions").join(name).join("bin/python3");

        // No version file: the global one; absent: system (here: not found).
        std::fs::write(root.join("version"), "# comment\n3.12.0 extra words\n").unwrap();
        let c = ctx(&project, &[("PATH", "/nonexistent")]);
        assert_eq!(resolve_shims(&shim, &c).unwrap(), v("3.12.0"));
        // .python-version in a parent of the working directory, a prefix.
        std::fs::write(root.join("project/.python-version"), "3.11\n").unwrap();
        assert_eq!(resolve_shims(&shim, &c).unwrap(), v("3.11.10"));
        // PYENV_VERSION wins.
        let c2 = ctx(&project, &[("PYENV_VERSION", "3.11.2"), ("PATH", "/x")]);
        assert_eq!(resolve_shims(&shim, &c2).unwrap(), v("3.11.2"));
        // Not installed: a clear error.
        let c3 = ctx(&project, &[("PYENV_VERSION", "3.9.1")]);
        let e = resolve_shims(&shim, &c3).unwrap_err().to_string();
        assert!(
            e.contains("3.9.1") && e.contains("not installed") && e.contains("PYENV_VERSION"),
            "{e}"
        );
        // Path traversal in a version file is ignored.
        std::fs::write(root.join("project/.python-version"), "../../etc\n").unwrap();
        let e = resolve_shims(&shim, &c).unwrap_err().to_string();
        assert!(e.contains("system"), "{e}");
        assert!(!marker.exists(), "the shim was run");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn other_scripts_are_refused_not_run() {
        let dir = tempdir("script");
        let marker = dir.join("ran");
        let script = dir.join("python3");
        std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = discover_with(&script.display().to_string(), &ctx(&dir, &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("script") && e.contains("#!/bin/sh") && e.contains("--python"),
            "{e}"
        );
        assert!(!marker.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fifos_are_refused_without_waiting() {
        let dir = tempdir("fifo");
        let fifo = dir.join("python3");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o755) }, 0);
        let e = resolve_shims(&fifo, &ctx(&dir, &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
