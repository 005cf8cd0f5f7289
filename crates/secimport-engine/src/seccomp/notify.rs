//! The supervisor's side of a seccomp listener: thin, safe wrappers over
//! the `SECCOMP_IOCTL_NOTIF_*` ioctls.
//!
//! A notified syscall waits in the kernel until the supervisor answers it:
//! [`respond_continue`] lets it run as it is, [`respond_errno`] fails it.
//! The typical loop:
//!
//! ```text
//! loop {
//!     match wait(fd, 100)? {
//!         Ready::Notification => {}
//!         Ready::Closed => break,          // every filtered task is gone
//!         Ready::Timeout => continue,
//!     }
//!     let Some(n) = recv(fd)? else {
//!         continue;                        // it died before we got it
//!     };
//!     // judge n (reading its memory checks id_valid afterwards) ...
//!     respond_continue(fd, n.id)?;           // Ok(false): it died meanwhile
//! }
//! ```
//!
//! Once every descriptor of the listener is closed, every syscall the
//! filter notifies fails with ENOSYS (held ones included), for the whole
//! tree, forever: a supervisor that dies leaves a crippled tree, not a
//! free one, and the launcher must kill the tree when its supervisor goes
//! (`PR_SET_PDEATHSIG`, or a pidfd the supervisor's parent watches).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::filter::SeccompData;

/// One held syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Its id, for the answer (and [`id_valid`]).
    pub id: u64,
    /// The thread that made it (in the supervisor's pid namespace).
    pub tid: u32,
    /// The syscall number.
    pub nr: i32,
    /// `AUDIT_ARCH_*` (only x86-64 gets this far).
    pub arch: u32,
    /// The instruction pointer after the syscall instruction.
    pub ip: u64,
    /// The six register arguments.
    pub args: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((b'!' as u64) << 8) | nr
}
const IOC_WRITE: u64 = 1;
const IOC_READWRITE: u64 = 3;
const NOTIF_RECV: u64 = ioc(IOC_READWRITE, 0, std::mem::size_of::<SeccompNotif>());
const NOTIF_SEND: u64 = ioc(IOC_READWRITE, 1, std::mem::size_of::<SeccompNotifResp>());
const NOTIF_ID_VALID: u64 = ioc(IOC_WRITE, 2, 8);
const NOTIF_SET_FLAGS: u64 = ioc(IOC_WRITE, 4, 8);
const USER_NOTIF_FLAG_CONTINUE: u32 = 1;
const USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

/// ioctl, retried on EINTR.
fn ioctl<T>(fd: BorrowedFd<'_>, request: u64, arg: *mut T) -> io::Result<()> {
    loop {
        // SAFETY: `arg` points to a live value of the size `request`
        // encodes, owned by the caller for the duration of the call.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Whether an error of an ioctl on the listener means "that syscall is no
/// longer held": the thread that made it was killed (or, before the
/// notification was received, a signal interrupted it), or no task uses
/// the filter any more. Not a reason to stop supervising.
pub fn is_gone(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

/// Receives one held syscall, blocking until there is one (EINTR is
/// retried). `Ok(None)` ([`is_gone`], ENOENT): nothing to receive after
/// all: the thread died after the listener woke up, another supervising
/// thread took it, or no task uses the filter any more (where blocking
/// again would return at once: go back to [`wait`], which then says
/// [`Ready::Closed`]).
pub fn recv(fd: BorrowedFd<'_>) -> io::Result<Option<Notification>> {
    loop {
        match recv_interruptible(fd) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// [`recv`] that returns `Err` (EINTR) when a signal interrupts the wait:
/// how a supervisor blocked in the kernel (which a synchronous wake-up,
/// [`set_sync_wakeup`], needs) is told to stop.
pub fn recv_interruptible(fd: BorrowedFd<'_>) -> io::Result<Option<Notification>> {
    // The kernel wants it zeroed.
    let mut n = SeccompNotif::default();
    // SAFETY: `n` is a live, zeroed seccomp_notif of the size NOTIF_RECV encodes.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV as _, &mut n) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if is_gone(&e) { Ok(None) } else { Err(e) };
    }
    Ok(Some(Notification {
        id: n.id,
        tid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        ip: n.data.instruction_pointer,
        args: n.data.args,
    }))
}

fn send(fd: BorrowedFd<'_>, mut resp: SeccompNotifResp) -> io::Result<bool> {
    match ioctl(fd, NOTIF_SEND, &mut resp) {
        Ok(()) => Ok(true),
        // The thread was killed, or a signal interrupted the syscall (only
        // before the notification was received, with WAIT_KILLABLE_RECV).
        Err(e) if is_gone(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Lets the held syscall run as it is (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
/// `Ok(false)`: it is no longer held (the thread died or was interrupted).
/// Never answer CONTINUE because of what its pointers point to: the target
/// may change that memory before the kernel reads it.
pub fn respond_continue(fd: BorrowedFd<'_>, id: u64) -> io::Result<bool> {
    send(
        fd,
        SeccompNotifResp {
            id,
            val: 0,
            error: 0,
            flags: USER_NOTIF_FLAG_CONTINUE,
        },
    )
}

/// Fails the held syscall with `errno` (positive: `libc::EPERM`) without
/// running it. `Ok(false)`: it is no longer held.
pub fn respond_errno(fd: BorrowedFd<'_>, id: u64, errno: i32) -> io::Result<bool> {
    send(
        fd,
        SeccompNotifResp {
            id,
            val: 0,
            error: -errno.abs(),
            flags: 0,
        },
    )
}

/// Makes the held syscall return `val` without running it (emulation).
/// `Ok(false)`: it is no longer held.
pub fn respond_value(fd: BorrowedFd<'_>, id: u64, val: i64) -> io::Result<bool> {
    send(
        fd,
        SeccompNotifResp {
            id,
            val,
            error: 0,
            flags: 0,
        },
    )
}

/// Whether notification `id` is still held (`SECCOMP_IOCTL_NOTIF_ID_VALID`):
/// check it after reading the target's memory, so that what was read
/// belongs to the thread that made the syscall, not to a process that got
/// its pid since.
pub fn id_valid(fd: BorrowedFd<'_>, id: u64) -> bool {
    let mut id = id;
    ioctl(fd, NOTIF_ID_VALID, &mut id).is_ok()
}

/// Asks the kernel to wake the target on the supervisor's CPU when it is
/// answered (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux 6.6+): cheaper
/// round trips when the supervisor answers at once. `Ok(false)`: the
/// kernel is older (EINVAL), nothing changed.
pub fn set_sync_wakeup(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // The kernel takes the flags by value in the ioctl argument.
    loop {
        // SAFETY: this ioctl takes an integer argument, not a pointer.
        let r = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                NOTIF_SET_FLAGS as _,
                USER_NOTIF_FD_SYNC_WAKE_UP,
            )
        };
        if r >= 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EINVAL) | Some(libc::ENOTTY) => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// What [`wait`] saw on the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// A syscall is held: [`recv`] it.
    Notification,
    /// No task uses the filter any more (the tree is gone).
    Closed,
    /// The timeout passed.
    Timeout,
}

/// Waits until a syscall is held, the tree is gone, or `timeout_ms`
/// milliseconds pass (negative: no timeout). EINTR is retried.
pub fn wait(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<Ready> {
    let ms = timeout_ms.max(-1);
    loop {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(Ready::Timeout);
        }
        if p.revents & libc::POLLIN != 0 {
            return Ok(Ready::Notification);
        }
        if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return Ok(Ready::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ioctl_numbers_are_the_kernels() {
        // From linux/seccomp.h on x86-64.
        assert_eq!(std::mem::size_of::<SeccompNotif>(), 80);
        assert_eq!(std::mem::size_of::<SeccompNotifResp>(), 24);
        assert_eq!(NOTIF_RECV, 0xc050_2100);
        assert_eq!(NOTIF_SEND, 0xc018_2101);
        assert_eq!(NOTIF_ID_VALID, 0x4008_2102);
        assert_eq!(NOTIF_SET_FLAGS, 0x4008_2104);
    }
}
