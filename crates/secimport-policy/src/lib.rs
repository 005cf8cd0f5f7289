//! The pure half of secimport: everything that needs neither root nor clang.
//!
//! - [`syscalls`]: the syscall table (the `syscalls` crate's, strace names).
//! - [`naming`]: how a code object's `co_filename` becomes a module name.
//! - [`trace`]: the versioned trace file written by `secimport trace`.
//! - [`policy`]: the policy file (YAML/JSON), its validation and its
//!   compilation into the bitmaps the kernel side uses.
//! - [`build`]: trace -> policy.
//! - [`classes`]: the fixed harmless and dangerous syscall classes.
//! - [`rights`]: argument classes (`openat:write`), numbered like syscalls.
//! - [`arguments`]: argument values (`exec`, `write`, `connect`, `bind`
//!   patterns), what a module's value-carrying rights may target.
//! - [`files`]: bounded reading of input files, checked and atomic writes.
//! - [`forms`]: how each syscall splits into rights on its register arguments.
//! - [`oci`]: a policy as an OCI runtime seccomp profile (`secimport export`).
//! - [`diff`]: what one policy allows that another does not (`secimport diff`).

pub mod arguments;
pub mod build;
pub mod classes;
pub mod diff;
pub mod files;
pub mod forms;
#[doc(hidden)]
pub mod fuzzing;
pub mod groups;
pub mod naming;
pub mod oci;
pub mod policy;
pub mod rights;
mod show;
pub mod syscalls;
pub mod trace;
