//! CPython discovery: which interpreter will run, where its `_PyRuntime` lives,
//! and which structure offsets the kernel walker must use for it.
//!
//! Offsets are data ([`OFFSETS`]), one row per CPython minor version, so a new
//! version is a new row and a test, not a change to the walker.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Object, ObjectSegment, ObjectSymbol};
use serde::Deserialize;

use crate::EngineError;

/// Structure offsets the walker needs (x86-64). Field meanings: see `py_offsets`
/// in `src/bpf/sandbox.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PyOffsets {
    pub runtime_interpreters_head: u32,
    pub interp_next: u32,
    pub interp_threads_head: u32,
    pub tstate_next: u32,
    pub tstate_thread_id: u32,
    pub tstate_datastack_chunk: u32,
    pub chunk_previous: u32,
    /// `None`: the thread state holds the current frame directly (3.13+).
    pub tstate_cframe: Option<u32>,
    pub cframe_current_frame: u32,
    pub frame_globals: u32,
    pub frame_code: u32,
    pub frame_previous: u32,
    pub frame_owner: u32,
    pub frame_prev_instr: u32,
    /// Owner value of C-stack shim frames to skip (3.12+).
    pub owner_cstack: Option<u8>,
    pub code_filename: u32,
    pub code_qualname: u32,
    pub code_firstlineno: u32,
    pub code_linetable: u32,
    pub code_adaptive: u32,
    pub str_length: u32,
    pub str_state: u32,
    pub str_ascii_data: u32,
    pub str_utf8: u32,
    pub str_compact_data: u32,
    pub bytes_size: u32,
    pub bytes_data: u32,
}

/// CPython 3.11 on x86-64, from the 3.11.7 headers (3.11.2 is identical).
/// `tests/offsets.rs` recompiles these against the installed headers.
pub const PY311: PyOffsets = PyOffsets {
    runtime_interpreters_head: 40,
    interp_next: 0,
    interp_threads_head: 16,
    tstate_next: 8,
    tstate_thread_id: 152,
    tstate_datastack_chunk: 296,
    chunk_previous: 0,
    tstate_cframe: Some(56),
    cframe_current_frame: 8,
    frame_globals: 8,
    frame_code: 32,
    frame_previous: 48,
    frame_owner: 69,
    frame_prev_instr: 56,
    owner_cstack: None,
    code_filename: 112,
    code_qualname: 128,
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

/// Supported versions: (major, minor) -> offsets.
pub const OFFSETS: &[((u32, u32), PyOffsets)] = &[((3, 11), PY311)];

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
    /// The real interpreter executable (shims resolved).
    pub executable: PathBuf,
    pub version: (u32, u32, u32),
    pub build: BuildKind,
    /// The ELF that defines `_PyRuntime` and `Py_BytesMain`.
    pub runtime_elf: PathBuf,
    /// `_PyRuntime`'s address minus that of the segment at file offset 0:
    /// added to where a process mapped that segment, it gives `&_PyRuntime`.
    pub runtime_offset: u64,
    pub offsets: PyOffsets,
    /// The interpreter's `sys.path` as a program would see it (without the
    /// script directory, which depends on the script).
    pub sys_path: Vec<String>,
}

impl Interpreter {
    pub fn version_string(&self) -> String {
        let (a, b, c) = self.version;
        format!("{a}.{b}.{c}")
    }
}

/// What the interpreter says about itself.
#[derive(Debug, Deserialize)]
struct Probe {
    implementation: String,
    executable: String,
    version: (u32, u32, u32),
    sys_path: Vec<String>,
    libdir: Option<String>,
    ldlibrary: Option<String>,
    instsoname: Option<String>,
}

const PROBE: &str = r#"
import json, os, sys, sysconfig
v = sys.version_info
print(json.dumps({
    "implementation": sys.implementation.name,
    "executable": os.path.abspath(sys.executable),
    "version": [v.major, v.minor, v.micro],
    "sys_path": [p for p in sys.path[1:] if p],
    "libdir": sysconfig.get_config_var("LIBDIR"),
    "ldlibrary": sysconfig.get_config_var("LDLIBRARY"),
    "instsoname": sysconfig.get_config_var("INSTSONAME"),
}))
"#;

/// Finds `name` on PATH (a name with a slash is taken as a path).
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Resolves `python` (a name on PATH or a path, possibly a pyenv-style shell
/// shim) to the real interpreter and reads what the walker needs from it.
pub fn discover(python: &str) -> Result<Interpreter, EngineError> {
    let path = which(python).ok_or_else(|| EngineError::Interpreter {
        path: python.to_string(),
        reason: "not found (not an executable file, nor a name on PATH)".into(),
        fix: "pass --python /path/to/python3.11".into(),
    })?;
    let bad = |reason: String| EngineError::Interpreter {
        path: path.display().to_string(),
        reason,
        fix: format!(
            "pass --python with a CPython {} interpreter",
            supported_versions()
        ),
    };

    // Running the interpreter once resolves shims: sys.executable is the real
    // binary (not realpath'd: a virtualenv's bin/python is a symlink whose
    // location is what makes it that virtualenv).
    let out = Command::new(&path)
        .args(["-c", PROBE])
        .env_remove("PYTHONSTARTUP")
        .output()
        .map_err(|e| bad(format!("cannot run it: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(bad(format!(
            "it did not answer like a Python interpreter ({}){}",
            out.status,
            if err.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", err.trim())
            }
        )));
    }
    let probe: Probe = serde_json::from_slice(&out.stdout)
        .map_err(|e| bad(format!("it did not answer like a Python interpreter: {e}")))?;
    if probe.implementation != "cpython" {
        return Err(bad(format!("it is {}, not CPython", probe.implementation)));
    }
    let (major, minor, micro) = probe.version;
    let offsets = *offsets_for(major, minor).ok_or_else(|| {
        bad(format!(
            "CPython {major}.{minor}.{micro} is not supported yet (supported: {})",
            supported_versions()
        ))
    })?;

    let executable = PathBuf::from(&probe.executable);
    let (build, runtime_elf, runtime_offset) = find_runtime(&executable, &probe)?;
    Ok(Interpreter {
        executable,
        version: probe.version,
        build,
        runtime_elf,
        runtime_offset,
        offsets,
        sys_path: probe.sys_path,
    })
}

/// `_PyRuntime`'s offset from the segment mapped at file offset 0, if `elf`
/// defines it (and `Py_BytesMain`, which every interpreter binary needs).
pub fn runtime_offset(elf: &Path) -> Result<Option<u64>, EngineError> {
    let cannot_read = |e: std::io::Error| EngineError::Interpreter {
        path: elf.display().to_string(),
        reason: format!("cannot read: {e}"),
        fix: "check the file exists and is readable".into(),
    };
    let file = std::fs::File::open(elf).map_err(cannot_read)?;
    // SAFETY: the mapping is read-only and private; an interpreter binary
    // rewritten while we read its symbols would only give a wrong answer,
    // which the kernel side then fails to use (no runtime found).
    let data = unsafe { memmap2::Mmap::map(&file) }.map_err(cannot_read)?;
    let file = object::File::parse(&*data).map_err(|e| EngineError::Interpreter {
        path: elf.display().to_string(),
        reason: format!("not an ELF file: {e}"),
        fix: "pass --python with the interpreter binary, not a wrapper".into(),
    })?;
    let (mut runtime, mut main) = (None, None);
    for sym in file.dynamic_symbols().chain(file.symbols()) {
        if sym.is_undefined() {
            continue;
        }
        match sym.name() {
            Ok("_PyRuntime") => runtime = Some(sym.address()),
            Ok("Py_BytesMain") => main = Some(sym.address()),
            _ => {}
        }
    }
    let (Some(runtime), Some(_)) = (runtime, main) else {
        return Ok(None);
    };
    let first = file
        .segments()
        .find(|seg| seg.file_range().0 == 0)
        .map(|seg| seg.address())
        .ok_or_else(|| EngineError::Interpreter {
            path: elf.display().to_string(),
            reason: "no loadable segment at file offset 0".into(),
            fix: "use a standard CPython build".into(),
        })?;
    Ok(Some(runtime - first))
}

fn find_runtime(exe: &Path, probe: &Probe) -> Result<(BuildKind, PathBuf, u64), EngineError> {
    if let Some(off) = runtime_offset(exe)? {
        return Ok((BuildKind::Static, exe.to_path_buf(), off));
    }
    let libdir = probe.libdir.clone().unwrap_or_default();
    let candidates = [&probe.instsoname, &probe.ldlibrary]
        .into_iter()
        .flatten()
        .map(|name| Path::new(&libdir).join(name));
    for lib in candidates {
        if lib.is_file() {
            if let Some(off) = runtime_offset(&lib)? {
                let real = lib.canonicalize().unwrap_or(lib);
                return Ok((BuildKind::Shared, real, off));
            }
        }
    }
    Err(EngineError::Interpreter {
        path: exe.display().to_string(),
        reason: "neither the executable nor its libpython defines _PyRuntime and Py_BytesMain".into(),
        fix: "use a CPython build that exports its symbols (a stock python.org, pyenv or distribution build)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_311() {
        let o = offsets_for(3, 11).expect("3.11 is supported");
        assert_eq!(o.tstate_thread_id, 152);
        assert!(offsets_for(3, 99).is_none());
        assert_eq!(supported_versions(), "3.11");
    }
}
