//! The seccomp backend on the real kernel, as an unprivileged user: each
//! test forks a child that (when the tests run as root) drops to
//! uid/gid 65534 (`nobody`), installs a filter and does its syscalls; a
//! supervising thread of this process, which drops to `nobody` too (its
//! own credentials only: raw `setresuid`), takes the child's listener with
//! `pidfd_getfd` and answers the notifications, classifying each one with
//! `process_vm_readv` on the child.
//!
//! Run with `-- --test-threads=1 --nocapture` to see the measurements.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use secimport_engine::seccomp::{
    self, compile, install_checked, install_tsync, plan, Action, FilterPlan, Mode, Notification,
    Ready, SyscallPlan,
};
use secimport_policy::policy::{Compiled, Format, Policy};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array for pipe2.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are new descriptors, ours.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Drops the calling THREAD (not the process) to nobody, with raw
/// syscalls (the C library's setuid would change every thread).
fn drop_thread_to_nobody() {
    if !is_root() {
        return;
    }
    // SAFETY: raw credential syscalls with valid arguments.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
            0
        );
        assert_eq!(
            libc::syscall(libc::SYS_setresgid, NOBODY, NOBODY, NOBODY),
            0
        );
        assert_eq!(
            libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY),
            0
        );
    }
}

/// What the child writes back: 8-byte values.
struct Out(RawFd);

impl Out {
    fn put(&self, v: i64) {
        // SAFETY: writing 8 bytes from a local to our pipe.
        unsafe { libc::write(self.0, (&v as *const i64).cast(), 8) };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Continue,
    Errno(i32),
}

/// A notification as the supervisor saw it.
#[derive(Debug, Clone)]
struct Seen {
    nr: i32,
    /// Its right (`clone:process`), classified by the supervisor.
    right: String,
}

struct Supervisor {
    answer: fn(&Notification, &str) -> Answer,
    sync_wakeup: bool,
    /// Classify each notification (reads /proc and the child's memory).
    classify: bool,
    /// Block in `recv` instead of polling first (what a synchronous
    /// wake-up is made for).
    blocking: bool,
}

struct Run {
    /// waitpid status of the child.
    status: i32,
    /// What the child wrote with [`Out::put`].
    results: Vec<i64>,
    /// The notifications, in order.
    seen: Vec<Seen>,
    /// Whether the kernel took WAIT_KILLABLE_RECV.
    wait_killable: bool,
}

impl Run {
    fn exited(&self) -> Option<i32> {
        libc::WIFEXITED(self.status).then(|| libc::WEXITSTATUS(self.status))
    }

    fn killed_by(&self) -> Option<i32> {
        libc::WIFSIGNALED(self.status).then(|| libc::WTERMSIG(self.status))
    }

    fn rights(&self) -> Vec<&str> {
        self.seen.iter().map(|s| s.right.as_str()).collect()
    }
}

fn supervise(listener: OwnedFd, sup: &Supervisor) -> Vec<Seen> {
    let fd = listener.as_fd();
    if sup.sync_wakeup {
        assert!(
            seccomp::set_sync_wakeup(fd).unwrap(),
            "Linux 6.6+ has SYNC_WAKE_UP"
        );
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if !sup.blocking {
            match seccomp::wait(fd, 100).unwrap() {
                Ready::Notification => {}
                Ready::Timeout => continue,
                Ready::Closed => break,
            }
        }
        let Some(n) = seccomp::recv(fd).unwrap() else {
            if sup.blocking {
                break; // the child is gone (one thread only)
            }
            continue;
        };
        assert_eq!(n.arch, seccomp::AUDIT_ARCH_X86_64);
        let right = if sup.classify {
            let r = n.right().map(secimport_policy::rights::name);
            assert!(seccomp::id_valid(fd, n.id), "the child is held");
            r.unwrap_or_else(|| "gone".into())
        } else {
            String::new()
        };
        match (sup.answer)(&n, &right) {
            Answer::Continue => seccomp::respond_continue(fd, n.id).unwrap(),
            Answer::Errno(e) => seccomp::respond_errno(fd, n.id, e).unwrap(),
        };
        if sup.classify {
            seen.push(Seen { nr: n.nr, right });
        }
    }
    seen
}

/// Forks a child that drops to nobody (as root), installs `prog` (if
/// any) and runs `body` (its exit code); supervised by a thread running as
/// nobody, or by nobody at all (`sup` None: the listener is closed at once).
fn run(prog: Option<&[u8]>, sup: Option<Supervisor>, body: impl FnOnce(&Out) -> i32) -> Run {
    let (info_r, info_w) = pipe();
    let (res_r, res_w) = pipe();
    let keep_listener = sup.is_some();
    // SAFETY: the child uses raw syscalls and memory prepared before the
    // fork; the C library's fork keeps malloc usable in the child.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: the child's own credentials and flags.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if is_root()
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(NOBODY, NOBODY, NOBODY) != 0
                    || libc::setresuid(NOBODY, NOBODY, NOBODY) != 0)
            {
                libc::_exit(101);
            }
            // Changing credentials made it non-dumpable: its supervisor (the
            // same user) could not read it.
            libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
        }
        let out = Out(res_w.as_raw_fd());
        if let Some(prog) = prog {
            // Tell the supervisor, before installing, which descriptor the
            // listener will be (the lowest free one): after the filter even
            // a write may wait for the supervisor.
            // SAFETY: a dup of stdin, to learn the lowest free number.
            let free = unsafe { libc::fcntl(0, libc::F_DUPFD, 0) };
            // SAFETY: closing the probe; writing 4 bytes from a local.
            unsafe {
                libc::close(free);
                libc::write(info_w.as_raw_fd(), (&free as *const i32).cast(), 4);
            }
            let installed = match install_checked(prog) {
                Ok(i) => i,
                // SAFETY: _exit does not return.
                Err(_) => unsafe { libc::_exit(100) },
            };
            if installed.listener.as_raw_fd() != free {
                // SAFETY: _exit does not return.
                unsafe { libc::_exit(102) };
            }
            if keep_listener {
                std::mem::forget(installed.listener);
            } else {
                drop(installed.listener);
            }
            out.put(installed.wait_killable as i64);
        }
        drop(info_w);
        let code = body(&out);
        // SAFETY: _exit does not return.
        unsafe { libc::_exit(code) };
    }
    drop(info_w);
    drop(res_w);
    let mut fd = -1i32;
    // SAFETY: reading 4 bytes into a local (EOF: the child installs nothing).
    let n = unsafe { libc::read(info_r.as_raw_fd(), (&mut fd as *mut i32).cast(), 4) };
    let supervisor = sup.filter(|_| n == 4).map(|sup| {
        std::thread::spawn(move || {
            drop_thread_to_nobody();
            // The child says the number before it installs: wait for it.
            let deadline = Instant::now() + Duration::from_secs(10);
            let listener = loop {
                match seccomp::take_listener(pid, fd) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() > deadline => panic!("pidfd_getfd as nobody: {e}"),
                    Err(_) => std::thread::sleep(Duration::from_micros(100)),
                }
            };
            supervise(listener, &sup)
        })
    });
    // Reap the child (the filter is released then, and the supervisor sees
    // its listener closed), killing it if it hangs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the child hung");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let seen = supervisor
        .map(|t| t.join().expect("the supervisor"))
        .unwrap_or_default();
    let mut bytes = Vec::new();
    let mut f = std::fs::File::from(res_r);
    std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
    let mut results: Vec<i64> = bytes
        .chunks_exact(8)
        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    // The first value is the installation's (unless its write failed: no
    // listener left, ENOSYS).
    let wait_killable = n == 4 && !results.is_empty() && results.remove(0) == 1;
    Run {
        status,
        results,
        seen,
        wait_killable,
    }
}

fn compiled(spec: &str) -> Compiled {
    let text = format!(
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata: {{name: t}}\nspec:\n{spec}"
    );
    Policy::parse(&text, "policy.yaml", Format::Yaml)
        .unwrap_or_else(|e| panic!("{e}"))
        .compile()
}

/// Reading files, writing to open descriptors, getppid and wait4 for
/// everyone; getcwd for module `app` only; nothing else (no module may
/// write a file or exec).
const POLICY: &str = "  unknown: base-only
  base: [write, openat, newfstatat, getppid, wait4]
  startup: [write, openat, newfstatat, getppid, wait4]
  frameless: [write, openat, newfstatat, getppid, wait4]
  modules:
    app: [getcwd]
";

fn nr(name: &str) -> u32 {
    secimport_policy::syscalls::number(name).unwrap()
}

fn continue_all(_: &Notification, _: &str) -> Answer {
    Answer::Continue
}

/// A directory nobody may write to (so that only the filter can stop it).
fn open_dir(tag: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("secimport-seccomp-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Deny mode on POLICY: reads a directory, tries to create a file in it,
/// to exec /bin/true, getcwd (app's) and to make itself undumpable.
fn deny_mode_run(p: &FilterPlan, tag: &str) -> (Run, bool) {
    let prog = compile(p).unwrap();
    let dir = open_dir(tag);
    let file = dir.join("created");
    let cdir = CString::new(dir.to_str().unwrap()).unwrap();
    let cfile = CString::new(file.to_str().unwrap()).unwrap();
    let true_ = CString::new("/bin/true").unwrap();
    let argv = [true_.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    // The supervisor's judgement, by right.
    let answer = |_: &Notification, right: &str| match right {
        "execve" | "openat:write" => Answer::Errno(libc::EPERM),
        _ => Answer::Continue,
    };
    let sup = Supervisor {
        answer,
        sync_wakeup: false,
        classify: true,
        blocking: false,
    };
    let r = run(Some(&prog), Some(sup), |out| {
        // SAFETY: plain syscalls on prepared strings.
        unsafe {
            let d = libc::openat(
                libc::AT_FDCWD,
                cdir.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY,
            );
            out.put(d as i64);
            let f = libc::openat(
                libc::AT_FDCWD,
                cfile.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT,
                0o644,
            );
            out.put(f as i64);
            out.put(errno() as i64);
            let e = libc::execve(true_.as_ptr(), argv.as_ptr(), envp.as_ptr());
            out.put(e as i64);
            out.put(errno() as i64);
            // getcwd: module app's, so judged; the supervisor lets it run.
            let mut buf = [0u8; 4096];
            let g = libc::getcwd(buf.as_mut_ptr().cast(), buf.len());
            out.put(!g.is_null() as i64);
            // prctl(PR_SET_DUMPABLE, 0): always refused.
            out.put(libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) as i64);
            out.put(errno() as i64);
        }
        0
    });
    assert_eq!(r.exited(), Some(0), "status {:#x}", r.status);
    let v = &r.results;
    assert!(v[0] >= 0, "reading the directory works: {v:?}");
    assert_eq!((v[1], v[2]), (-1, libc::EPERM as i64), "writing is denied");
    assert_eq!((v[3], v[4]), (-1, libc::EPERM as i64), "execve is denied");
    assert_eq!(v[5], 1, "getcwd ran");
    assert_eq!((v[6], v[7]), (-1, libc::EPERM as i64), "PR_SET_DUMPABLE 0");
    assert!(r.wait_killable, "Linux 5.19+ takes WAIT_KILLABLE_RECV");
    let created = file.exists();
    std::fs::remove_dir_all(&dir).unwrap();
    (r, created)
}

#[test]
fn deny_mode_denies_through_the_supervisor_or_in_the_kernel() {
    let c = compiled(POLICY);
    let p = plan(&c, Mode::Deny);
    // Reading runs in the kernel; writing no judge allows: the supervisor
    // is asked only to report it (and refuse it).
    assert_eq!(
        p.named("openat"),
        &SyscallPlan::Bits {
            arg: 2,
            mask: 0o3103,
            clear: Action::Allow,
            set: Action::Notify
        }
    );
    let openat_write = secimport_policy::rights::class_named("openat:write").unwrap();
    assert!(p.is_denied(openat_write.right));
    let (r, created) = deny_mode_run(&p, "deny");
    assert!(!created, "the file was not created");
    // The read-only openat never reached the supervisor.
    assert_eq!(r.rights(), ["openat:write", "execve", "getcwd"]);
    assert_eq!(r.seen[1].nr, nr("execve") as i32);

    // The same with the denial in the kernel (EPERM, silent): the
    // supervisor never hears of the write.
    let mut k = p.clone();
    k.syscalls[nr("openat") as usize] = SyscallPlan::Bits {
        arg: 2,
        mask: 0o3103,
        clear: Action::Allow,
        set: Action::Errno(libc::EPERM),
    };
    let (r, created) = deny_mode_run(&k, "deny-kernel");
    assert!(!created, "the file was not created");
    assert_eq!(r.rights(), ["execve", "getcwd"]);
}

#[test]
fn a_notified_syscall_answered_continue_completes() {
    // getcwd is judged (app's); the supervisor lets it run.
    let prog = compile(&plan(&compiled(POLICY), Mode::Deny)).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let sup = Supervisor {
        answer: continue_all,
        sync_wakeup: false,
        classify: true,
        blocking: false,
    };
    let r = run(Some(&prog), Some(sup), |out| {
        let mut buf = [0u8; 4096];
        // SAFETY: getcwd into a local buffer.
        let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
        if p.is_null() {
            return 2;
        }
        let len = buf.iter().position(|&b| b == 0).unwrap();
        out.put(len as i64);
        for chunk in buf[..len].chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            out.put(i64::from_ne_bytes(w));
        }
        0
    });
    assert_eq!(r.exited(), Some(0), "status {:#x}", r.status);
    let len = r.results[0] as usize;
    let bytes: Vec<u8> = r.results[1..]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .take(len)
        .collect();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), cwd.to_str().unwrap());
    assert_eq!(r.rights(), ["getcwd"]);
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

#[test]
fn clone3_is_enosys_and_fork_and_threads_fall_back_to_clone() {
    // Log mode: whatever is not allowed is notified and let run.
    let prog = compile(&plan(&compiled(POLICY), Mode::Log)).unwrap();
    let sup = Supervisor {
        answer: continue_all,
        sync_wakeup: false,
        classify: true,
        blocking: false,
    };
    let r = run(Some(&prog), Some(sup), |out| {
        let args = CloneArgs {
            exit_signal: libc::SIGCHLD as u64,
            ..CloneArgs::default()
        };
        // SAFETY: clone3 with a valid clone_args; a child (if the filter
        // let it through) exits at once.
        let c = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if c == 0 {
            // SAFETY: _exit does not return.
            unsafe { libc::_exit(0) };
        }
        out.put(c);
        out.put(errno() as i64);
        // SAFETY: fork; the grandchild exits at once.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: _exit does not return.
            unsafe { libc::_exit(7) };
        }
        let mut status = 0;
        // SAFETY: waiting for our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        out.put(libc::WEXITSTATUS(status) as i64);
        // A thread: pthread_create tries clone3, gets ENOSYS, uses clone.
        let t = std::thread::spawn(|| 41 + 1).join().unwrap_or(0);
        out.put(t);
        0
    });
    assert_eq!(r.exited(), Some(0), "status {:#x}", r.status);
    assert_eq!(&r.results[..2], [-1, libc::ENOSYS as i64], "clone3");
    assert_eq!(r.results[2], 7, "the forked child ran");
    assert_eq!(r.results[3], 42, "the thread ran");
    let rights = r.rights();
    assert!(
        !rights.iter().any(|r| r.starts_with("clone3")),
        "{rights:?}"
    );
    assert!(
        rights.contains(&"clone:process"),
        "fork is a clone: {rights:?}"
    );
    assert!(rights.contains(&"clone"), "a thread is a clone: {rights:?}");
}

#[test]
fn with_the_listener_closed_notified_syscalls_fail_with_enosys() {
    // Nobody supervises: the child closes its listener, and every syscall
    // the filter notifies fails with ENOSYS (for the whole tree, for
    // ever). The program goes on: whoever runs it must make the tree die
    // with its supervisor (the jail's pid namespace, PR_SET_PDEATHSIG).
    let prog = compile(&plan(&compiled(POLICY), Mode::Deny)).unwrap();
    let true_ = CString::new("/bin/true").unwrap();
    let argv = [true_.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    let r = run(Some(&prog), None, |out| {
        let mut buf = [0u8; 256];
        // SAFETY: getcwd into a local; execve of a prepared path.
        unsafe {
            out.put(libc::getcwd(buf.as_mut_ptr().cast(), buf.len()).is_null() as i64);
            out.put(errno() as i64);
            out.put(libc::execve(true_.as_ptr(), argv.as_ptr(), envp.as_ptr()) as i64);
            out.put(errno() as i64);
            // What the kernel decides alone still works.
            out.put((libc::getppid() > 0) as i64);
        }
        0
    });
    assert_eq!(r.exited(), Some(0), "status {:#x}", r.status);
    assert_eq!(
        r.results,
        [1, libc::ENOSYS as i64, -1, libc::ENOSYS as i64, 1]
    );
}

#[test]
fn kill_actions_and_other_abis_kill_the_process() {
    // A syscall the plan kills in the kernel (uname).
    let mut p = plan(&compiled(POLICY), Mode::Kill);
    p.syscalls[nr("uname") as usize] = SyscallPlan::Whole(Action::KillProcess);
    let prog = compile(&p).unwrap();
    let r = run(Some(&prog), None, |_| {
        // SAFETY: uname into a zeroed local.
        unsafe {
            let mut u: libc::utsname = std::mem::zeroed();
            libc::uname(&mut u);
        }
        0
    });
    assert_eq!(r.killed_by(), Some(libc::SIGSYS), "status {:#x}", r.status);
    // The x32 ABI (getpid with the x32 bit), in any mode.
    let prog = compile(&plan(&compiled(POLICY), Mode::Log)).unwrap();
    let r = run(Some(&prog), None, |_| {
        // SAFETY: a raw syscall number; the filter kills before the kernel looks.
        unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
        0
    });
    assert_eq!(r.killed_by(), Some(libc::SIGSYS), "status {:#x}", r.status);
}

#[test]
fn install_tsync_filters_every_thread() {
    // getppid fails with EACCES in the kernel: seen from a thread that was
    // running before the filter was installed.
    let mut p: FilterPlan = plan(&compiled(POLICY), Mode::Deny);
    p.syscalls[nr("getppid") as usize] = SyscallPlan::Whole(Action::Errno(libc::EACCES));
    let prog = compile(&p).unwrap();
    // The child installs it itself, with TSYNC.
    let (go_r, go_w) = pipe();
    let (ready_r, ready_w) = pipe();
    let r = run(None, None, move |out| {
        let t = std::thread::spawn(move || {
            // Running (its start-up syscalls done) before the filter.
            // SAFETY: one byte to our pipe.
            unsafe { libc::write(ready_w.as_raw_fd(), b"r".as_ptr().cast(), 1) };
            let mut b = 0u8;
            // SAFETY: reading one byte from our pipe.
            unsafe { libc::read(go_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1) };
            // (The C library's getppid cannot fail: it returns -EACCES.)
            // SAFETY: getppid has no preconditions.
            let r = unsafe { libc::syscall(libc::SYS_getppid) };
            (r, errno())
        });
        let mut b = 0u8;
        // SAFETY: reading one byte from our pipe.
        unsafe { libc::read(ready_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1) };
        let installed = match install_tsync(&prog) {
            Ok(i) => i,
            Err(e) => return 10 + e.raw_os_error().unwrap_or(0).min(100),
        };
        out.put(installed.wait_killable as i64);
        // SAFETY: one byte to our pipe.
        unsafe { libc::write(go_w.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        let (r, e) = t.join().unwrap_or((0, 0));
        out.put(r);
        out.put(e as i64);
        0
    });
    assert_eq!(r.exited(), Some(0), "status {:#x}", r.status);
    assert_eq!(r.results, [1, -1, libc::EACCES as i64]);
}

#[test]
fn the_plan_of_a_small_policy() {
    let spec = "  unknown: base-only
  base: [openat, newfstatat, getcwd, ioctl, fcntl, \"mkdir:pycache\"]
  startup: [openat, newfstatat, ioctl, fcntl, \"mkdir:pycache\"]
  frameless: [openat, newfstatat, getcwd, ioctl, fcntl, \"mkdir:pycache\"]
  modules:
    app: [getppid, \"socket:inet\", \"openat:write\", \"mmap:exec\", execve]
    app.tools: [getppid, uname]
  children: [newfstatat, uname]
";
    let c = compiled(spec);
    let p = plan(&c, Mode::Deny);
    let whole = SyscallPlan::Whole;
    let right = |name: &str| {
        secimport_policy::policy::Syscall::parse(name)
            .unwrap_or_else(|| panic!("{name}"))
            .number()
    };
    // Allowed in the kernel: harmless, and in base + startup + frameless +
    // children (app may exec a program that is not Python).
    for name in ["read", "futex", "newfstatat"] {
        assert_eq!(p.named(name), &whole(Action::Allow), "{name}");
    }
    // Judged: base but not children (ioctl, fcntl: their plain forms),
    // not startup (getcwd), a module's (getppid), children's (uname),
    // always asked (execve, clone, fork, kill), told by path (mkdir,
    // mkdir:pycache being shared), openat (reading not children's).
    for name in [
        "getcwd", "getppid", "uname", "execve", "clone", "fork", "kill", "mkdir", "openat",
        "ioctl", "fcntl",
    ] {
        assert_eq!(p.named(name), &whole(Action::Notify), "{name}");
    }
    for name in [
        "getcwd", "getppid", "uname", "execve", "openat", "ioctl", "fcntl",
    ] {
        assert!(!p.is_denied(right(name)), "{name}");
    }
    // Denied: no judge allows them (the kernel notifies them so that the
    // supervisor reports them; it need not walk a stack to refuse).
    for name in [
        "mount",
        "ptrace",
        "listen",
        "memfd_create",
        "open",
        "connect:inet",
        "bind:unix",
        "sendmsg",
        "sendmsg:inet",
        "socket:unix",
        "socket:netlink",
        "ioctl:tty-inject",
        "fcntl:setown",
        "openat:pycache",
    ] {
        assert!(p.is_denied(right(name)), "{name}");
    }
    for name in ["mount", "ptrace", "connect", "bind", "sendmsg", "open"] {
        assert_eq!(p.named(name), &whole(Action::Notify), "{name}");
    }
    for name in [
        "socket:inet",
        "openat:write",
        "mmap:exec",
        "execve",
        "uname",
    ] {
        assert!(!p.is_denied(right(name)), "{name}");
    }
    // mmap: PROT_EXEC app's, in a register: split in the kernel.
    assert_eq!(
        p.named("mmap"),
        &SyscallPlan::Bits {
            arg: 2,
            mask: 4,
            clear: Action::Allow,
            set: Action::Notify
        }
    );
    assert_eq!(p.named("clone3"), &whole(Action::Errno(libc::ENOSYS)));
    // Every mode asks about violations; log mode lets any program run, so
    // children (which lacks openat... and newfstatat has) still decides.
    for mode in [Mode::Kill, Mode::Log, Mode::Stop] {
        let m = plan(&c, mode);
        assert_eq!(m.named("mount"), &whole(Action::Notify));
        assert_eq!(m.named("newfstatat"), &whole(Action::Allow));
    }
    let prog = compile(&p).unwrap();
    eprintln!(
        "plan of the small policy: {} syscalls allowed whole, {} notified whole ({} of them \
         denied by every judge); {} BPF instructions",
        p.whole(Action::Allow).len(),
        p.whole(Action::Notify).len(),
        p.whole(Action::Notify)
            .iter()
            .filter(|n| p.is_denied(nr(n)))
            .count(),
        prog.len() / 8
    );
}

/// ns per getppid call: the best of 5 runs of `n` calls (the machine is
/// shared; the best run is the least disturbed).
fn time_getppid(n: u32) -> i64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                // SAFETY: getppid has no preconditions.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
            (t.elapsed().as_nanos() / n as u128) as i64
        })
        .min()
        .unwrap()
}

#[test]
fn measure_the_cost_of_allowed_and_notified_syscalls() {
    // A kernel-allowed syscall: getppid, in base, startup and frameless,
    // through the whole filter of the policy (a tree over ~450 numbers).
    let prog = compile(&plan(&compiled(POLICY), Mode::Deny)).unwrap();
    let insns = prog.len() / 8;
    let r = run(None, None, move |out| {
        let before = time_getppid(100_000);
        match install_checked(&prog) {
            Ok(i) => drop(i.listener),
            Err(_) => return 3,
        }
        out.put(before);
        out.put(time_getppid(100_000));
        0
    });
    assert_eq!(r.exited(), Some(0), "status {:#x}", r.status);
    eprintln!(
        "getppid allowed in the kernel: {} ns without a filter, {} ns with the policy's \
         ({insns} instructions)",
        r.results[0], r.results[1]
    );

    // A notified syscall answered CONTINUE at once: getppid judged.
    let mut p = plan(&compiled(POLICY), Mode::Deny);
    p.syscalls[nr("getppid") as usize] = SyscallPlan::Whole(Action::Notify);
    let prog = compile(&p).unwrap();
    for (sync_wakeup, blocking) in [(false, false), (true, false), (false, true), (true, true)] {
        let sup = Supervisor {
            answer: continue_all,
            sync_wakeup,
            classify: false,
            blocking,
        };
        let r = run(Some(&prog), Some(sup), |out| {
            time_getppid(200); // warm up
            out.put(time_getppid(5_000));
            0
        });
        assert_eq!(r.exited(), Some(0), "status {:#x}", r.status);
        eprintln!(
            "getppid notified and answered CONTINUE (sync wake-up {}, supervisor {}): {} ns \
             round trip",
            if sync_wakeup { "on" } else { "off" },
            if blocking {
                "blocked in recv"
            } else {
                "poll then recv"
            },
            r.results[0]
        );
    }
}
