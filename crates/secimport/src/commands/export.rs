//! `secimport export --format oci-seccomp POLICY`: the policy's whole-process
//! union as an OCI runtime seccomp profile (`secimport_policy::oci`), on
//! stdout or in `-o FILE` (written atomically). What the profile cannot say
//! exactly is printed as notes on stderr (and in the rules' `comment`s).

use std::io::Write;

use anyhow::anyhow;
use secimport_policy::files::write_atomically;
use secimport_policy::oci::{export, DefaultAction, Options, Runtime};
use secimport_policy::policy::Policy;

use crate::cli::{ExportArgs, ExportDefault, ExportFormat, ExportRuntime};
use crate::commands::Failure;

pub const LONG_ABOUT: &str = "Write a policy as a container runtime's seccomp profile: the \
OCI runtime-spec `linux.seccomp` object that Docker (`--security-opt seccomp=profile.json`), \
Kubernetes (`seccompProfile: {type: Localhost}`), podman, runc and crun load.

A seccomp filter cannot see Python stacks, so the profile holds the WHOLE-PROCESS UNION of the \
policy: every right any module may use, plus base, startup, frameless, children and every \
programs entry (child programs run in the same container), plus the harmless set and what the \
runtime does after loading the profile (--runtime: execve; runc also opens its exec FIFO with \
exactly O_WRONLY|O_CLOEXEC, writes to it and calls fstatfs). Everything else gets --default-action. \
Argument classes become register rules where a register tells them apart: openat without \
openat:write only when its flags hold none of O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND; clone \
without clone:process only with CLONE_THREAD (clone3, whose flags are in memory, fails with \
ENOSYS so the C library falls back to clone); socket by family; mmap/mprotect without PROT_EXEC; \
ioctl, fcntl and prctl without their dangerous operations (compared on the low 32 bits, as the \
kernel reads them). Classes told apart by memory, a path or the caller (connect/bind/sendmsg \
address families, kill:other, openat2 flags) cannot be expressed: the syscall is allowed when \
any of its forms is, and a note on stderr (and the rule's `comment`) says so. spec.arguments \
(programs, paths, addresses) cannot be checked either. The :pycache classes are left out unless \
--pycache (CPython then does not write .pyc files). Only SCMP_ARCH_X86_64 is listed: i386 and \
x32 syscalls get the runtime's bad-architecture action (libseccomp kills).

A container also needs what its own init or shell does: run the Python program directly as the \
entrypoint, or trace the shell too (its syscalls are then in the policy's programs).

Exit status: 0, the profile written; 2 if the policy cannot be read (the error names \
file:line:column) or has `unknown: allow` (its union is everything), or the output cannot be \
written.";

pub fn run(args: ExportArgs) -> Result<i32, Failure> {
    let ExportFormat::OciSeccomp = args.format;
    let policy = Policy::load(&args.policy).map_err(Failure::usage)?;
    let options = Options {
        default_action: match args.default_action {
            ExportDefault::Errno => DefaultAction::Errno,
            ExportDefault::Kill => DefaultAction::Kill,
            ExportDefault::Log => DefaultAction::Log,
        },
        pycache: args.pycache,
        runtime: match args.runtime {
            ExportRuntime::Runc => Runtime::Runc,
            ExportRuntime::Exec => Runtime::Exec,
        },
    };
    let exported = export(&policy, options)
        .map_err(|e| Failure::usage(anyhow!("{}: {e}", args.policy.display())))?;
    for note in &exported.notes {
        crate::report::say!("secimport: note: {note}");
    }
    let json = exported.profile.to_json();
    match &args.output {
        Some(path) => {
            write_atomically(&[(path, json.as_bytes())]).map_err(Failure::usage)?;
            crate::report::say!(
                "secimport: wrote {} ({} rules) from {}",
                path.display(),
                exported.profile.syscalls.len(),
                args.policy.display()
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(json.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| Failure::runtime(anyhow!("writing the profile to stdout: {e}")))?;
        }
    }
    Ok(0)
}
