//! The kernel side of secimport and everything that touches the running system:
//!
//! - `src/bpf/sandbox.bpf.c` + `sandbox.h`: the BPF programs and their contract;
//! - [`python`]: finding the interpreter, its `_PyRuntime`, and its offsets;
//! - [`sandbox`]: loading the programs, filling and reading their maps;
//! - [`launcher`]: starting the target so that it runs nothing unsandboxed;
//! - [`jail`]: starting it under a seccomp filter in a pid namespace that dies with us.

pub mod install;
pub mod jail;
pub mod launcher;
pub mod linetable;
mod logging;
pub mod python;
pub mod remote;
pub mod sandbox;
pub mod seccomp;

/// The generated skeleton (built into OUT_DIR by build.rs, never committed).
#[allow(clippy::all, clippy::pedantic)]
pub mod skel {
    include!(concat!(env!("OUT_DIR"), "/sandbox.skel.rs"));
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("interpreter {path}: {reason}; {fix}")]
    Interpreter {
        path: String,
        reason: String,
        fix: String,
    },
    #[error("{what}: {source}")]
    Bpf {
        what: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("cannot start {program}: {reason}")]
    Launch { program: String, reason: String },
    #[error("policy: {0}")]
    Policy(String),
}

impl EngineError {
    /// Configuration problems (exit 2) as opposed to runtime failures.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            EngineError::Interpreter { .. } | EngineError::Launch { .. }
        )
    }
}
