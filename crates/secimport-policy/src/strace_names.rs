// `(name in the syscalls crate, name strace prints)` for every syscall the
// crate names differently, on any architecture. Included by syscalls.rs and by
// the engine's build.rs (the C enum of syscall numbers).
&[("fstatat", "newfstatat")]
