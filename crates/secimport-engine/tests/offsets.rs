//! Proves the offsets table against CPython's own headers: for each version,
//! a C program using `offsetof` on the real structs is compiled against that
//! version's installed headers and must print exactly the numbers of its row
//! in `python::OFFSETS`.
//!
//! The fields come from the row itself (the kernel's `struct si_py_offsets`,
//! through the skeleton): a field added there without saying here where the
//! headers define it fails this test. (The walker itself is proven on live
//! interpreters by the end-to-end tests.)

use std::path::{Path, PathBuf};
use std::process::Command;

use secimport_engine::python::{offsets_for, PyOffsets, NONE};

/// Where a row field comes from in a version's headers.
enum Source {
    /// `offsetof(type, member)`.
    Offset(&'static str, &'static str),
    /// A constant expression (`sizeof`, an enum value, a macro).
    Value(&'static str),
    /// The version has no such field: the row must hold `NONE`.
    Absent,
    /// Not a header fact (how the walk and the line decoder treat the
    /// version): checked by the table's unit tests.
    Kind,
}

/// The header source of `field` in CPython 3.`minor`.
fn source(field: &str, minor: u32) -> Option<Source> {
    use Source::*;
    let old = minor <= 10; // PyFrameObject family
    Some(match field {
        "family" | "line_format" => Kind,
        "runtime_interpreters_head" => Offset("_PyRuntimeState", "interpreters.head"),
        "interp_next" => Offset("PyInterpreterState", "next"),
        "interp_threads_head" if old => Offset("PyInterpreterState", "tstate_head"),
        "interp_threads_head" => Offset("PyInterpreterState", "threads.head"),
        "tstate_next" => Offset("PyThreadState", "next"),
        "tstate_thread_id" => Offset("PyThreadState", "thread_id"),
        "tstate_datastack_chunk" | "chunk_previous" | "frame_owner" | "code_adaptive" if old => {
            Absent
        }
        "tstate_datastack_chunk" => Offset("PyThreadState", "datastack_chunk"),
        "chunk_previous" => Offset("_PyStackChunk", "previous"),
        "tstate_cframe" if minor == 11 || minor == 12 => Offset("PyThreadState", "cframe"),
        "tstate_cframe" => Absent,
        "current_frame" if old => Offset("PyThreadState", "frame"),
        "current_frame" if minor <= 12 => Offset("_PyCFrame", "current_frame"),
        "current_frame" => Offset("PyThreadState", "current_frame"),
        "frame_globals" if old => Offset("PyFrameObject", "f_globals"),
        "frame_globals" => Offset("_PyInterpreterFrame", "f_globals"),
        "frame_code" if old => Offset("PyFrameObject", "f_code"),
        "frame_code" if minor <= 12 => Offset("_PyInterpreterFrame", "f_code"),
        "frame_code" => Offset("_PyInterpreterFrame", "f_executable"),
        "frame_previous" if old => Offset("PyFrameObject", "f_back"),
        "frame_previous" => Offset("_PyInterpreterFrame", "previous"),
        "frame_owner" => Offset("_PyInterpreterFrame", "owner"),
        "frame_instr" if old => Offset("PyFrameObject", "f_lasti"),
        "frame_instr" if minor <= 12 => Offset("_PyInterpreterFrame", "prev_instr"),
        "frame_instr" => Offset("_PyInterpreterFrame", "instr_ptr"),
        "code_tag_bits" if minor >= 14 => Value("Py_TAG_BITS"),
        "code_tag_bits" => Value("0"),
        "owner_skip" if minor >= 14 => Value("FRAME_OWNED_BY_INTERPRETER"),
        "owner_skip" if minor >= 12 => Value("FRAME_OWNED_BY_CSTACK"),
        "owner_skip" => Absent,
        "code_filename" => Offset("PyCodeObject", "co_filename"),
        "code_name" if old => Offset("PyCodeObject", "co_name"),
        "code_name" => Offset("PyCodeObject", "co_qualname"),
        "code_firstlineno" => Offset("PyCodeObject", "co_firstlineno"),
        "code_linetable" if minor <= 9 => Offset("PyCodeObject", "co_lnotab"),
        "code_linetable" => Offset("PyCodeObject", "co_linetable"),
        "code_adaptive" => Offset("PyCodeObject", "co_code_adaptive"),
        "str_length" => Offset("PyASCIIObject", "length"),
        "str_state" => Offset("PyASCIIObject", "state"),
        "str_ascii_data" => Value("sizeof(PyASCIIObject)"),
        "str_utf8" => Offset("PyCompactUnicodeObject", "utf8"),
        "str_compact_data" => Value("sizeof(PyCompactUnicodeObject)"),
        "bytes_size" => Offset("PyVarObject", "ob_size"),
        "bytes_data" => Offset("PyBytesObject", "ob_sval"),
        _ => return None,
    })
}

/// The row's fields and values, in the struct's order (from its `Debug`:
/// the struct is generated, so this is the one list of fields).
fn fields(row: &PyOffsets) -> Vec<(String, u32)> {
    let text = format!("{row:?}");
    let body = text
        .split_once('{')
        .and_then(|(_, b)| b.rsplit_once('}'))
        .expect("a struct's Debug")
        .0;
    body.split(',')
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let (k, v) = f.split_once(':').expect("field: value");
            (k.trim().to_string(), v.trim().parse().expect("a u32"))
        })
        .collect()
}

const PRELUDE: &str = r#"
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include <frameobject.h>
#if __has_include("internal/pycore_frame.h")
#include "internal/pycore_frame.h"
#endif
#if __has_include("internal/pycore_runtime.h")
#include "internal/pycore_runtime.h"
#endif
#if __has_include("internal/pycore_interp.h")
#include "internal/pycore_interp.h"
#else
#include "internal/pycore_pystate.h"
#endif
#if __has_include("internal/pycore_interpframe_structs.h")
#include "internal/pycore_interpframe_structs.h"
#include "internal/pycore_stackref.h"
#endif
int main(void) {
"#;

/// Compiles the row's fields against `include` (plus `extra` include
/// directories) and compares.
fn check_headers(include: &Path, extra: &[PathBuf], minor: u32) {
    let row = offsets_for(3, minor).expect("a supported version");
    assert!(
        include.join("internal/pycore_runtime.h").is_file()
            || include.join("internal/pycore_pystate.h").is_file(),
        "CPython 3.{minor}'s internal headers are missing under {}: install them (pyenv \
         installs them; Debian: apt-get install python3.{minor}-dev; 3.14: sudo \
         scripts/chroot.sh sid)",
        include.display()
    );
    let mut program = PRELUDE.to_string();
    let mut want = Vec::new();
    for (field, value) in fields(row) {
        let src = source(&field, minor)
            .unwrap_or_else(|| panic!("tests/offsets.rs: say where 3.{minor} defines `{field}`"));
        let expr = match src {
            Source::Offset(ty, member) => format!("offsetof({ty}, {member})"),
            Source::Value(e) => format!("({e})"),
            Source::Absent => {
                assert_eq!(
                    value, NONE,
                    "3.{minor} has no `{field}`: the row must say NONE"
                );
                continue;
            }
            Source::Kind => continue,
        };
        program.push_str(&format!(
            "    printf(\"{field} %lu\\n\", (unsigned long){expr});\n"
        ));
        want.push((field, value));
    }
    program.push_str("    return 0;\n}\n");

    // One directory per header set (two tests check 3.11, in parallel).
    let tag: String = include
        .display()
        .to_string()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let dir = std::env::temp_dir().join(format!("secimport-offsets-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("offsets.c");
    let exe = dir.join("offsets");
    std::fs::write(&src, program).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .arg(format!("-I{}", include.display()))
        .args(extra.iter().map(|d| format!("-I{}", d.display())))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        out.status.success(),
        "compiling against {}: {}",
        include.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    let got: Vec<(String, u32)> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        want,
        "offsets from {} differ from the 3.{minor} row",
        include.display()
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn pyenv(version: &str) -> PathBuf {
    let minor = version.rsplit_once('.').unwrap().0;
    PathBuf::from(format!(
        "/root/.pyenv/versions/{version}/include/python{minor}"
    ))
}

#[test]
fn py38_offsets_match_pyenv_3_8_18_headers() {
    check_headers(&pyenv("3.8.18"), &[], 8);
}

#[test]
fn py39_offsets_match_pyenv_3_9_18_headers() {
    check_headers(&pyenv("3.9.18"), &[], 9);
}

#[test]
fn py310_offsets_match_pyenv_3_10_13_headers() {
    check_headers(&pyenv("3.10.13"), &[], 10);
}

#[test]
fn py311_offsets_match_pyenv_3_11_7_headers() {
    check_headers(&pyenv("3.11.7"), &[], 11);
}

#[test]
fn py311_offsets_match_debian_3_11_headers() {
    check_headers(Path::new("/usr/include/python3.11"), &[], 11);
}

#[test]
fn py312_offsets_match_pyenv_3_12_1_headers() {
    check_headers(&pyenv("3.12.1"), &[], 12);
}

#[test]
fn py313_offsets_match_pyenv_3_13_0_headers() {
    check_headers(&pyenv("3.13.0"), &[], 13);
}

/// Debian sid's python3.14-dev, in the chroot `scripts/chroot.sh sid` makes.
/// Its `pyconfig.h` includes `<x86_64-linux-gnu/python3.14/pyconfig.h>`
/// from the chroot's multiarch directory, which a directory of ours points
/// at (the chroot's other headers are not this compiler's).
#[test]
fn py314_offsets_match_debian_sid_3_14_headers() {
    let root = PathBuf::from(
        std::env::var("SECIMPORT_CHROOTS").unwrap_or_else(|_| "/var/lib/secimport-chroots".into()),
    )
    .join("sid/usr/include");
    let multiarch = std::env::temp_dir().join(format!(
        "secimport-offsets-{}-multiarch",
        std::process::id()
    ));
    std::fs::create_dir_all(multiarch.join("x86_64-linux-gnu")).unwrap();
    let link = multiarch.join("x86_64-linux-gnu/python3.14");
    std::fs::remove_file(&link).ok();
    std::os::unix::fs::symlink(root.join("x86_64-linux-gnu/python3.14"), &link).unwrap();
    check_headers(
        &root.join("python3.14"),
        std::slice::from_ref(&multiarch),
        14,
    );
    std::fs::remove_dir_all(&multiarch).ok();
}
