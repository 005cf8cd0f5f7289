//! Proves the offsets table against CPython's own headers: a C program using
//! `offsetof` on the real structs is compiled against each installed header
//! set and must print exactly the numbers of that version's row
//! (`python::PY311`, `python::PY312`).
//! (The walker itself is proven on live interpreters by the trace tests.)

use std::path::{Path, PathBuf};
use std::process::Command;

use secimport_engine::python::{PyOffsets, PY311, PY312, PY313};

const PROGRAM: &str = r#"
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include "internal/pycore_frame.h"
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include <stdio.h>
#define P(name, s, f) printf("%s %zu\n", name, offsetof(s, f))
int main(void) {
    P("runtime_interpreters_head", _PyRuntimeState, interpreters.head);
    P("interp_next", PyInterpreterState, next);
    P("interp_threads_head", PyInterpreterState, threads.head);
    P("tstate_next", PyThreadState, next);
    P("tstate_thread_id", PyThreadState, thread_id);
    P("tstate_datastack_chunk", PyThreadState, datastack_chunk);
    P("chunk_previous", _PyStackChunk, previous);
    P("tstate_cframe", PyThreadState, cframe);
    P("cframe_current_frame", _PyCFrame, current_frame);
    P("frame_globals", _PyInterpreterFrame, f_globals);
    P("frame_code", _PyInterpreterFrame, f_code);
    P("frame_previous", _PyInterpreterFrame, previous);
    P("frame_owner", _PyInterpreterFrame, owner);
    P("frame_prev_instr", _PyInterpreterFrame, prev_instr);
    P("code_filename", PyCodeObject, co_filename);
    P("code_qualname", PyCodeObject, co_qualname);
    P("code_firstlineno", PyCodeObject, co_firstlineno);
    P("code_linetable", PyCodeObject, co_linetable);
    P("code_adaptive", PyCodeObject, co_code_adaptive);
    P("str_length", PyASCIIObject, length);
    P("str_state", PyASCIIObject, state);
    printf("str_ascii_data %zu\n", sizeof(PyASCIIObject));
    P("str_utf8", PyCompactUnicodeObject, utf8);
    printf("str_compact_data %zu\n", sizeof(PyCompactUnicodeObject));
    P("bytes_size", PyVarObject, ob_size);
    P("bytes_data", PyBytesObject, ob_sval);
    return 0;
}
"#;

/// The program for a layout: 3.13 has no `cframe` (the thread state holds
/// `current_frame`) and names the frame's code `f_executable` and its
/// instruction `instr_ptr`.
fn program(o: &PyOffsets) -> String {
    if o.tstate_cframe.is_some() {
        return PROGRAM.to_string();
    }
    PROGRAM
        .replace("    P(\"tstate_cframe\", PyThreadState, cframe);\n", "")
        .replace(
            "P(\"cframe_current_frame\", _PyCFrame, current_frame);",
            "P(\"cframe_current_frame\", PyThreadState, current_frame);",
        )
        .replace(
            "P(\"frame_code\", _PyInterpreterFrame, f_code);",
            "P(\"frame_code\", _PyInterpreterFrame, f_executable);",
        )
        .replace(
            "P(\"frame_prev_instr\", _PyInterpreterFrame, prev_instr);",
            "P(\"frame_prev_instr\", _PyInterpreterFrame, instr_ptr);",
        )
}

fn expected(o: &PyOffsets) -> Vec<(&'static str, u32)> {
    let mut v = vec![
        ("runtime_interpreters_head", o.runtime_interpreters_head),
        ("interp_next", o.interp_next),
        ("interp_threads_head", o.interp_threads_head),
        ("tstate_next", o.tstate_next),
        ("tstate_thread_id", o.tstate_thread_id),
        ("tstate_datastack_chunk", o.tstate_datastack_chunk),
        ("chunk_previous", o.chunk_previous),
        ("tstate_cframe", o.tstate_cframe.unwrap_or(u32::MAX)),
        ("cframe_current_frame", o.cframe_current_frame),
        ("frame_globals", o.frame_globals),
        ("frame_code", o.frame_code),
        ("frame_previous", o.frame_previous),
        ("frame_owner", o.frame_owner),
        ("frame_prev_instr", o.frame_prev_instr),
        ("code_filename", o.code_filename),
        ("code_qualname", o.code_qualname),
        ("code_firstlineno", o.code_firstlineno),
        ("code_linetable", o.code_linetable),
        ("code_adaptive", o.code_adaptive),
        ("str_length", o.str_length),
        ("str_state", o.str_state),
        ("str_ascii_data", o.str_ascii_data),
        ("str_utf8", o.str_utf8),
        ("str_compact_data", o.str_compact_data),
        ("bytes_size", o.bytes_size),
        ("bytes_data", o.bytes_data),
    ];
    if o.tstate_cframe.is_none() {
        v.retain(|(k, _)| *k != "tstate_cframe");
    }
    v
}

fn check_headers(include: &Path, row: &PyOffsets, name: &str) {
    assert!(
        include.join("internal/pycore_frame.h").is_file(),
        "CPython internal headers missing under {}: install them (pyenv installs them; \
         Debian: apt-get install python3.11-dev)",
        include.display()
    );
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
    std::fs::write(&src, program(row)).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .arg(format!("-I{}", include.display()))
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
    let text = String::from_utf8(run.stdout).unwrap();
    let got: Vec<(String, u32)> = text
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    let want: Vec<(String, u32)> = expected(row)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(
        got,
        want,
        "offsets from {} differ from python::{name}",
        include.display()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn py311_offsets_match_pyenv_3_11_7_headers() {
    check_headers(
        &PathBuf::from("/root/.pyenv/versions/3.11.7/include/python3.11"),
        &PY311,
        "PY311",
    );
}

#[test]
fn py311_offsets_match_debian_3_11_headers() {
    check_headers(&PathBuf::from("/usr/include/python3.11"), &PY311, "PY311");
}

#[test]
fn py313_offsets_match_pyenv_3_13_0_headers() {
    check_headers(
        &PathBuf::from("/root/.pyenv/versions/3.13.0/include/python3.13"),
        &PY313,
        "PY313",
    );
}

#[test]
fn py312_offsets_match_pyenv_3_12_1_headers() {
    check_headers(
        &PathBuf::from("/root/.pyenv/versions/3.12.1/include/python3.12"),
        &PY312,
        "PY312",
    );
}
