//! Starting a program under a seccomp filter, with or without root, so that
//! the whole tree dies with the supervisor.
//!
//! The supervisor (this process) forks a keeper, which makes a new pid
//! namespace (and, without root, the user namespace that allows it; the
//! user's own uid and gid are mapped to themselves, so nothing about files
//! or permissions changes) and forks its init. The init forks the target,
//! reaps every process of the namespace, and exits with the target's status
//! once the target has exited and the rest had a moment to finish. When a
//! namespace's init dies the kernel kills everything in it; the keeper and
//! the init die with their parent (`PR_SET_PDEATHSIG`), so a supervisor that
//! dies, even by SIGKILL, takes the whole tree with it (fail closed: the
//! filter's notified syscalls would otherwise fail with ENOSYS and the
//! program go on).
//!
//! The target installs the filter on itself (`PR_SET_NO_NEW_PRIVS`, then
//! `seccomp`), gets the listener (close-on-exec), and execs at once. Every
//! syscall after the filter may need the supervisor, which does not have the
//! listener yet: so the target makes none. It tells the supervisor, before
//! installing, which descriptor number the listener will be (the lowest
//! free one), and the supervisor takes it with `pidfd_getfd`, as an ancestor
//! of the target may.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::EngineError;

/// How long processes of the namespace may outlive the target.
pub const GRACE: Duration = Duration::from_secs(1);

/// A program started in its own pid namespace under a filter.
pub struct Jailed {
    keeper: libc::pid_t,
    /// The target, as this process sees it.
    pub target: u32,
    /// The namespace's init, as this process sees it.
    pub init: u32,
    /// The filter's listener.
    pub listener: OwnedFd,
}

fn fail(program: &str, reason: impl Into<String>) -> EngineError {
    EngineError::Launch {
        program: program.to_string(),
        reason: reason.into(),
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both descriptors are open and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// In a forked child: writes `bytes` (async-signal-safe).
fn child_write(fd: RawFd, bytes: &[u8]) {
    // SAFETY: writing a valid buffer to a descriptor we own.
    unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

/// In a forked child: reports `what` and errno on the error pipe, exits 127.
fn child_die(err: RawFd, what: &[u8]) -> ! {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    child_write(err, what);
    child_write(err, &errno.to_ne_bytes());
    // SAFETY: _exit is async-signal-safe and does not return.
    unsafe { libc::_exit(127) }
}

/// A tagged word for the info pipe (one `write`: atomic on a pipe).
fn message(tag: u8, value: u32) -> [u8; 8] {
    let mut m = [0u8; 8];
    m[0] = tag;
    m[4..].copy_from_slice(&value.to_ne_bytes());
    m
}

/// Writes a whole small file from a forked child (uid_map and friends).
fn child_write_file(path: &[u8], text: &[u8]) -> bool {
    // SAFETY: path is NUL-terminated; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    // SAFETY: text is a valid buffer.
    let n = unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    n == text.len() as isize
}

/// Formats `"N N 1\n"` into `buf` without allocating (after fork).
fn id_map(buf: &mut [u8; 64], id: u32) -> &[u8] {
    let mut digits = [0u8; 10];
    let mut n = id;
    let mut k = 0;
    loop {
        digits[k] = b'0' + (n % 10) as u8;
        n /= 10;
        k += 1;
        if n == 0 {
            break;
        }
    }
    let mut len = 0;
    for _ in 0..2 {
        for d in digits[..k].iter().rev() {
            buf[len] = *d;
            len += 1;
        }
        buf[len] = b' ';
        len += 1;
    }
    buf[len] = b'1';
    buf[len + 1] = b'\n';
    &buf[..len + 2]
}

/// The lowest descriptor number not in use (what the next new descriptor
/// gets), found without allocating.
fn lowest_free_fd() -> RawFd {
    // SAFETY: F_DUPFD on stdin's number duplicates to the lowest free slot;
    // closed at once. If 0 itself is closed, dup of it fails: 0 is free.
    let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return 0;
    }
    // SAFETY: fd was just made by us.
    unsafe { libc::close(fd) };
    fd
}

/// Starts `argv` (argv[0] a path) in a new pid namespace under the seccomp
/// program `filter` (raw `sock_filter`s), with `install` putting it in
/// place in the target (returns the listener's descriptor, or -1 with
/// errno set). The target is exec'd at once: its first syscall under the
/// filter is that `execve`, which the supervisor must answer.
pub fn launch(
    argv: &[String],
    install: fn(&[u8]) -> RawFd,
    filter: &[u8],
) -> Result<Jailed, EngineError> {
    let program = argv.first().cloned().unwrap_or_default();
    let cargs: Vec<CString> = argv
        .iter()
        .map(|a| {
            CString::new(a.as_bytes())
                .map_err(|_| fail(&program, format!("argument {a:?} contains a NUL byte")))
        })
        .collect::<Result<_, _>>()?;
    if cargs.is_empty() {
        return Err(fail(&program, "empty command"));
    }
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: getuid/getgid/geteuid have no preconditions.
    let (uid, gid, root) = unsafe { (libc::getuid(), libc::getgid(), libc::geteuid() == 0) };
    let mut uid_map = [0u8; 64];
    let mut gid_map = [0u8; 64];
    let uid_map = id_map(&mut uid_map, uid).to_vec();
    let gid_map = id_map(&mut gid_map, gid).to_vec();
    let filter = filter.to_vec();

    // Pipes: `info` carries (init pid, target's listener number) from the
    // keeper and the target; `err` carries a failure before exec.
    let (info_r, info_w) = pipe().map_err(|e| fail(&program, format!("pipe: {e}")))?;
    let (err_r, err_w) = pipe().map_err(|e| fail(&program, format!("pipe: {e}")))?;
    let (info_w_fd, err_w_fd) = (info_w.as_raw_fd(), err_w.as_raw_fd());
    // SAFETY: getpid has no preconditions.
    let supervisor = unsafe { libc::getpid() };

    // SAFETY: fork; the child only calls async-signal-safe functions and
    // uses memory prepared above before it execs or exits.
    let keeper = unsafe { libc::fork() };
    if keeper < 0 {
        return Err(fail(
            &program,
            format!("fork: {}", std::io::Error::last_os_error()),
        ));
    }
    if keeper == 0 {
        // The keeper: dies with the supervisor.
        // SAFETY: prctl/getppid are async-signal-safe.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != supervisor {
                libc::_exit(127);
            }
        }
        let flags = if root {
            libc::CLONE_NEWPID
        } else {
            libc::CLONE_NEWUSER | libc::CLONE_NEWPID
        };
        // SAFETY: unshare in a single-threaded child.
        if unsafe { libc::unshare(flags) } != 0 {
            child_die(err_w_fd, b"unshare");
        }
        let mapped = root
            || (child_write_file(b"/proc/self/setgroups\0", b"deny")
                && child_write_file(b"/proc/self/uid_map\0", &uid_map)
                && child_write_file(b"/proc/self/gid_map\0", &gid_map));
        if !mapped {
            child_die(err_w_fd, b"idmaps");
        }
        // SAFETY: as above.
        let init = unsafe { libc::fork() };
        if init < 0 {
            child_die(err_w_fd, b"fork init");
        }
        if init == 0 {
            run_init(&ptrs, install, &filter, info_w_fd, err_w_fd);
        }
        child_write(info_w_fd, &message(b'I', init as u32));
        // Wait for the init; exit with its status.
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(init, &mut status, 0) };
            if r == init
                || (r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
            {
                break;
            }
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        // SAFETY: _exit does not return.
        unsafe { libc::_exit(code) }
    }
    drop(info_w);
    drop(err_w);

    let mut info_r = std::fs::File::from(info_r);
    let mut err_r = std::fs::File::from(err_r);
    let failed = |err_r: &mut std::fs::File| -> EngineError {
        let mut buf = Vec::new();
        let _ = err_r.read_to_end(&mut buf);
        let (what, errno) = if buf.len() >= 4 {
            let (w, e) = buf.split_at(buf.len() - 4);
            (
                String::from_utf8_lossy(w).into_owned(),
                i32::from_ne_bytes(e.try_into().expect("4 bytes")),
            )
        } else {
            ("start-up".to_string(), 0)
        };
        let why = std::io::Error::from_raw_os_error(errno);
        let hint = match what.as_str() {
            "unshare" | "idmaps" => {
                "; unprivileged user namespaces may be disabled \
                 (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, or an AppArmor \
                 restriction): run as root, or allow them"
            }
            "seccomp" => "; the kernel must support seccomp user notification (5.0+)",
            _ => "",
        };
        fail(&program, format!("{what} failed: {why}{hint}"))
    };
    // Two messages, in either order: the init's pid (from the keeper) and
    // the listener's number (from the target).
    let (mut init, mut fd_number) = (None, None);
    for _ in 0..2 {
        let mut msg = [0u8; 8];
        if info_r.read_exact(&mut msg).is_err() {
            reap(keeper);
            return Err(failed(&mut err_r));
        }
        let value = u32::from_ne_bytes(msg[4..].try_into().expect("4 bytes"));
        match msg[0] {
            b'I' => init = Some(value),
            _ => fd_number = Some(value as RawFd),
        }
    }
    let (Some(init), Some(fd_number)) = (init, fd_number) else {
        reap(keeper);
        return Err(fail(&program, "start-up messages were garbled"));
    };
    let target = child_of(init).ok_or_else(|| {
        reap(keeper);
        fail(&program, "the target did not start")
    })?;
    let listener = take_listener(target, fd_number).map_err(|e| {
        reap(keeper);
        fail(
            &program,
            format!("taking the seccomp listener of the target: {e}"),
        )
    })?;
    Ok(Jailed {
        keeper,
        target,
        init,
        listener,
    })
}

/// The init of the new namespace (pid 1 there): forks the target, reaps
/// everything, exits with the target's status after the grace period.
fn run_init(
    argv: &[*const libc::c_char],
    install: fn(&[u8]) -> RawFd,
    filter: &[u8],
    info: RawFd,
    err: RawFd,
) -> ! {
    // SAFETY: async-signal-safe calls in a forked child.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // SAFETY: as above.
    let target = unsafe { libc::fork() };
    if target < 0 {
        child_die(err, b"fork target");
    }
    if target == 0 {
        // The target: tell the number its listener will get, install, exec.
        // SAFETY: as above.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        let n = lowest_free_fd();
        child_write(info, &message(b'N', n as u32));
        let fd = install(filter);
        if fd < 0 {
            child_die(err, b"seccomp");
        }
        if fd != n {
            child_write(err, b"listener number");
            child_write(err, &0i32.to_ne_bytes());
            // SAFETY: _exit does not return.
            unsafe { libc::_exit(127) };
        }
        // SAFETY: argv is NUL-terminated; execv returns only on failure.
        unsafe { libc::execv(argv[0], argv.as_ptr()) };
        child_die(err, b"exec");
    }
    // SAFETY: our copies of the pipes are not needed (the target keeps its own).
    unsafe {
        libc::close(info);
        libc::close(err);
    }
    let mut code = 127;
    let mut target_done: Option<Instant> = None;
    loop {
        let mut status = 0;
        let flags = if target_done.is_some() {
            libc::WNOHANG
        } else {
            0
        };
        // SAFETY: reaping children of the namespace.
        let r = unsafe { libc::waitpid(-1, &mut status, flags) };
        if r == target {
            code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            target_done = Some(Instant::now());
        } else if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break; // no children left
        } else if r == 0 {
            if target_done.is_some_and(|t| t.elapsed() > GRACE) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // SAFETY: _exit does not return; the kernel kills what is left.
    unsafe { libc::_exit(code) }
}

/// The one child of `init` (the target), as this process sees it.
fn child_of(init: u32) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let init = i32::try_from(init).ok()?;
    let task = procfs::process::Process::new(init)
        .and_then(|p| p.task_from_tid(init))
        .ok()?;
    while Instant::now() < deadline {
        if let Some(&pid) = task.children().ok().as_deref().and_then(<[u32]>::first) {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// Takes descriptor `number` of process `pid` once it is a seccomp listener.
fn take_listener(pid: u32, number: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open with a pid and no flags.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as RawFd;
    if pidfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pidfd_open returned a new descriptor we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // SAFETY: pidfd_getfd on our pidfd.
        let fd =
            unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), number, 0) } as RawFd;
        if fd >= 0 {
            // SAFETY: a new descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
            if link.to_string_lossy().contains("seccomp") {
                return Ok(fd);
            }
        }
        if Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the target never installed its filter",
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn reap(pid: libc::pid_t) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
}

impl Jailed {
    /// Waits for the tree (the keeper exits with the target's status, after
    /// the grace period); the exit code, or 128 + signal.
    pub fn wait(&self) -> i32 {
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(self.keeper, &mut status, 0) };
            if r == self.keeper {
                break;
            }
            if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return 127;
            }
        }
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        }
    }

    /// Whether the keeper has exited (without reaping it).
    pub fn finished(&self) -> bool {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid with WNOWAIT only looks.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.keeper as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid for a WEXITED result.
        r == 0 && unsafe { info.si_pid() } == self.keeper
    }

    /// Kills every process of the tree: each of `known` still in the
    /// namespace now, then the namespace's init, which takes the rest with
    /// it as it exits (asynchronously: hence `known` first).
    pub fn kill_all(&self, known: &[u32]) {
        let ours = std::fs::read_link(format!("/proc/{}/ns/pid", self.init)).ok();
        for &p in known {
            // A pid of ours that exited may have been reused outside.
            if ours.is_some() && std::fs::read_link(format!("/proc/{p}/ns/pid")).ok() == ours {
                crate::launcher::kill_all(&[p]);
            }
        }
        crate::launcher::kill_all(&[self.init]);
        let _ = kill(Pid::from_raw(self.keeper), Signal::SIGKILL);
    }

    /// Forwards a signal to the target.
    pub fn signal(&self, sig: i32) {
        if let Ok(target) = libc::pid_t::try_from(self.target) {
            crate::launcher::send(target, sig);
        }
    }
}
