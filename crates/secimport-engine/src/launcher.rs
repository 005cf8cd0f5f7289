//! Starts the target so that not one of its instructions runs unsandboxed.
//!
//! The child is forked and parks on a pipe before `execv`; the caller adds its
//! pid to the sandbox and only then releases it. A second, close-on-exec pipe
//! tells the parent whether `execv` itself failed. The child asks the kernel
//! to SIGKILL it if the supervisor dies (`PR_SET_PDEATHSIG`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::EngineError;

/// A forked child waiting to exec the target.
pub struct Held {
    pid: libc::pid_t,
    go: OwnedFd,
    exec_err: OwnedFd,
    program: String,
}

/// The released target.
#[derive(Debug, Clone, Copy)]
pub struct Running {
    pid: libc::pid_t,
}

fn pipe_cloexec() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Forks a child that will `execv(argv[0], argv)` once released.
pub fn spawn_held(argv: &[String]) -> Result<Held, EngineError> {
    let program = argv.first().cloned().unwrap_or_default();
    let fail = |reason: String| EngineError::Launch {
        program: program.clone(),
        reason,
    };
    let cargs: Vec<CString> = argv
        .iter()
        .map(|a| {
            CString::new(a.as_bytes())
                .map_err(|_| fail(format!("argument {a:?} contains a NUL byte")))
        })
        .collect::<Result<_, _>>()?;
    if cargs.is_empty() {
        return Err(fail("empty command".into()));
    }
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());

    let (go_r, go_w) = pipe_cloexec().map_err(|e| fail(format!("pipe: {e}")))?;
    let (err_r, err_w) = pipe_cloexec().map_err(|e| fail(format!("pipe: {e}")))?;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };

    // SAFETY: after fork the child only calls async-signal-safe functions
    // (prctl, getppid, read, write, execv, _exit) on memory prepared before.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(fail(format!("fork: {}", std::io::Error::last_os_error())));
    }
    if pid == 0 {
        // SAFETY: see above; every pointer refers to memory owned by the
        // (copied) parent state, alive until execv or _exit.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != parent {
                libc::_exit(127);
            }
            let mut b = 0u8;
            if libc::read(go_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1) != 1 {
                // The supervisor gave up before releasing us.
                libc::_exit(127);
            }
            libc::execv(ptrs[0], ptrs.as_ptr());
            let errno = *libc::__errno_location();
            libc::write(err_w.as_raw_fd(), (&errno as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    drop(go_r);
    drop(err_w);
    Ok(Held {
        pid,
        go: go_w,
        exec_err: err_r,
        program,
    })
}

impl Held {
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Lets the child exec; returns once it has (or failed to).
    pub fn release(self) -> Result<Running, EngineError> {
        let b = 1u8;
        // SAFETY: writing one byte from a valid local to our pipe end.
        unsafe { libc::write(self.go.as_raw_fd(), (&b as *const u8).cast(), 1) };
        let mut errno = 0i32;
        // SAFETY: reading at most 4 bytes into a valid i32.
        let n = unsafe {
            libc::read(
                self.exec_err.as_raw_fd(),
                (&mut errno as *mut i32).cast(),
                4,
            )
        };
        if n == 4 {
            let running = Running { pid: self.pid };
            running.wait();
            return Err(EngineError::Launch {
                program: self.program,
                reason: std::io::Error::from_raw_os_error(errno).to_string(),
            });
        }
        Ok(Running { pid: self.pid })
    }

    /// Abandons the child (it exits without running anything).
    pub fn abort(self) {
        let pid = self.pid;
        drop(self);
        Running { pid }.wait();
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The exit status if the process has ended (exit code, or 128 + signal).
    pub fn try_wait(&self) -> Option<i32> {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        (r == self.pid).then(|| wait_status_code(status))
    }

    /// Blocks until the process ends.
    pub fn wait(&self) -> i32 {
        let mut status = 0;
        loop {
            // SAFETY: as above.
            let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if r == self.pid {
                return wait_status_code(status);
            }
            if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return 127;
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        send(self.pid, sig);
    }
}

/// A wait status as a shell would report it: the exit code, or 128 + signal.
pub fn wait_status_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        status
    }
}

/// Sends signal number `sig` to `pid`; a process that is gone or a number
/// that is no signal is ignored (the callers signal what may have exited).
pub fn send(pid: libc::pid_t, sig: i32) {
    if let Ok(sig) = Signal::try_from(sig) {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// The `/proc/PID/stat` of `pid`, `None` once it is gone (reaped).
fn stat(pid: u32) -> Option<procfs::process::Stat> {
    procfs::process::Process::new(i32::try_from(pid).ok()?)
        .and_then(|p| p.stat())
        .ok()
}

/// Whether `pid` still runs (a zombie has finished: it makes no more syscalls).
pub fn is_running(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z')
}

/// The parent of `pid` as its own pid namespace numbers it (`/proc/PID/stat`),
/// `None` once it is gone.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat(pid).and_then(|s| u32::try_from(s.ppid).ok())
}

/// SIGKILLs each pid (processes of the tree that outlived the supervision).
pub fn kill_all(pids: &[u32]) {
    for &p in pids {
        if let Ok(p) = libc::pid_t::try_from(p) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_after_release_and_reports_status() {
        let held = spawn_held(&["/bin/sh".into(), "-c".into(), "exit 7".into()]).unwrap();
        let running = held.release().unwrap();
        assert_eq!(running.wait(), 7);
    }

    #[test]
    fn exec_failure_is_an_error() {
        let held = spawn_held(&["/nonexistent/program".into()]).unwrap();
        let err = held.release().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/program"), "{err}");
    }

    #[test]
    fn running_zombie_reaped_and_parent() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(is_running(pid));
        assert_eq!(parent_of(pid), Some(std::process::id()));
        // A number that is no signal is ignored; SIGKILL leaves a zombie.
        send(pid as libc::pid_t, 12345);
        assert!(is_running(pid));
        send(pid as libc::pid_t, libc::SIGKILL);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while is_running(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!is_running(pid), "a zombie does not run");
        assert_eq!(
            parent_of(pid),
            Some(std::process::id()),
            "zombie still has /proc"
        );
        child.wait().unwrap();
        assert!(!is_running(pid));
        assert_eq!(parent_of(pid), None);
    }

    #[test]
    fn signal_status_is_128_plus() {
        assert_eq!(wait_status_code(libc::SIGKILL), 128 + 9);
    }
}
