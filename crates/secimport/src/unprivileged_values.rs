//! Argument values of a held syscall, read from the target's memory by the
//! seccomp backend's supervisor and written as traces and policies write
//! them (what the kernel side's `lib/values.h` reads at syscall entry):
//! the program of an exec, the paths of a write (relative ones resolved
//! against the thread's working directory or the directory descriptor, then
//! normalized lexically), the address of a connect, bind or send.
//!
//! Like the kernel side's, these are read while the syscall waits: another
//! thread may change the memory before the kernel reads it (docs/security.md).

use secimport_engine::seccomp::Memory;
use secimport_policy::arguments::{kind_of, UNRESOLVED};

const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: u64 = 0x1000;
const PATH_MAX: usize = 4096;

/// Where the paths of a write-class or exec syscall are: (dirfd argument,
/// path argument) pairs; `None` for the dirfd means the working directory.
fn path_args(syscall: &str) -> &'static [(Option<usize>, usize)] {
    match syscall {
        "execveat" | "openat" | "openat2" | "unlinkat" | "mkdirat" | "fchmodat" | "fchmodat2"
        | "mknodat" | "fchownat" => &[(Some(0), 1)],
        "rename" | "link" | "symlink" => &[(None, 0), (None, 1)],
        "renameat" | "renameat2" | "linkat" => &[(Some(0), 1), (Some(2), 3)],
        "symlinkat" => &[(None, 0), (Some(1), 2)],
        _ => &[(None, 0)],
    }
}

/// The values of right `right_name` (syscall `nr`) made by thread `tid`.
pub fn values(
    nr: u32,
    right_name: &str,
    args: &[u64; 6],
    tid: u32,
    mem: &dyn Memory,
) -> Vec<String> {
    let Some(kind) = kind_of(right_name) else {
        return Vec::new();
    };
    let syscall = secimport_policy::rights::name(secimport_policy::rights::syscall_number(nr));
    match kind.as_str() {
        "connect" | "bind" => {
            let (addr, len) = match syscall.as_str() {
                "sendto" => (args[4], args[5]),
                "sendmsg" => {
                    let mut hdr = [0u8; 12];
                    if mem.read(args[1], &mut hdr).is_err() {
                        return vec!["other".into()];
                    }
                    (
                        u64::from_ne_bytes(hdr[..8].try_into().expect("8")),
                        u64::from(u32::from_ne_bytes(hdr[8..].try_into().expect("4"))),
                    )
                }
                _ => (args[1], args[2]),
            };
            vec![sockaddr(addr, len, mem)]
        }
        _ => path_args(&syscall)
            .iter()
            .map(|(dirfd, path)| {
                let dirfd = dirfd.map_or(AT_FDCWD, |d| args[d] as i32);
                let empty_ok = syscall == "execveat" && args[4] & AT_EMPTY_PATH != 0;
                resolve(tid, dirfd, args[*path], empty_ok, mem)
                    .unwrap_or_else(|| UNRESOLVED.to_string())
            })
            .collect(),
    }
}

/// A path argument made absolute and normalized; `None` if unreadable.
fn resolve(tid: u32, dirfd: i32, ptr: u64, empty_ok: bool, mem: &dyn Memory) -> Option<String> {
    let path = read_cstr(ptr, mem)?;
    if path.starts_with('/') {
        return Some(secimport_policy::naming::normalize(&path));
    }
    let base = if dirfd == AT_FDCWD {
        std::fs::read_link(format!("/proc/{tid}/cwd")).ok()?
    } else {
        std::fs::read_link(format!("/proc/{tid}/fd/{dirfd}")).ok()?
    };
    let base = base.to_str()?.to_string();
    if path.is_empty() {
        return empty_ok.then_some(base);
    }
    Some(secimport_policy::naming::normalize(&format!(
        "{base}/{path}"
    )))
}

fn read_cstr(ptr: u64, mem: &dyn Memory) -> Option<String> {
    if ptr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut chunk = [0u8; 256];
    while out.len() < PATH_MAX {
        // Reads may not cross into an unmapped page: read up to the page end.
        let at = ptr + out.len() as u64;
        let room = (4096 - (at % 4096)) as usize;
        let n = room.min(chunk.len());
        mem.read(at, &mut chunk[..n]).ok()?;
        if let Some(end) = chunk[..n].iter().position(|b| *b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return String::from_utf8(out).ok();
        }
        out.extend_from_slice(&chunk[..n]);
    }
    None
}

/// A socket address as values write it.
fn sockaddr(addr: u64, len: u64, mem: &dyn Memory) -> String {
    let len = (len as usize).min(128);
    if addr == 0 || len < 2 {
        return "other".into();
    }
    let mut buf = vec![0u8; len];
    if mem.read(addr, &mut buf).is_err() {
        return "other".into();
    }
    let family = u16::from_ne_bytes([buf[0], buf[1]]) as i32;
    match family {
        libc::AF_INET if len >= 8 => {
            let port = u16::from_be_bytes([buf[2], buf[3]]);
            let ip = std::net::Ipv4Addr::new(buf[4], buf[5], buf[6], buf[7]);
            format!("inet:{ip}:{port}")
        }
        libc::AF_INET6 if len >= 24 => {
            let port = u16::from_be_bytes([buf[2], buf[3]]);
            let ip: [u8; 16] = buf[8..24].try_into().expect("16 bytes");
            format!("inet:[{}]:{port}", std::net::Ipv6Addr::from(ip))
        }
        libc::AF_UNIX => {
            let path = &buf[2..];
            if path.first() == Some(&0) {
                let name = &path[1..];
                format!(
                    "unix:@{}",
                    String::from_utf8_lossy(name).trim_end_matches('\0')
                )
            } else {
                let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
                format!("unix:{}", String::from_utf8_lossy(&path[..end]))
            }
        }
        _ => "other".into(),
    }
}

/// A write into `__pycache__` by the import system's rules (every path a
/// compiled module's, or the directory itself for mkdir): its `:pycache`
/// class, as the kernel reclassifies it; else the right unchanged.
pub fn pycache(right: u32, right_name: &str, values: &[String]) -> (u32, String) {
    let syscall = right_name.split(':').next().unwrap_or(right_name);
    let class = format!("{syscall}:pycache");
    let Some(c) = secimport_policy::rights::class_named(&class) else {
        return (right, right_name.to_string());
    };
    if kind_of(right_name).map(|k| k.as_str()) != Some("write") || values.is_empty() {
        return (right, right_name.to_string());
    }
    let dir_itself = syscall == "mkdir" || syscall == "mkdirat";
    let all = values.iter().all(|v| {
        let mut parts = v.rsplitn(3, '/');
        let (Some(last), Some(parent)) = (parts.next(), parts.next()) else {
            return false;
        };
        if dir_itself {
            last == "__pycache__"
        } else {
            parent == "__pycache__" && (last.ends_with(".pyc") || last.contains(".pyc."))
        }
    });
    if all {
        (c.right, class)
    } else {
        (right, right_name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::pycache;

    #[test]
    fn pycache_writes_are_their_own_class() {
        let (_, name) = pycache(
            0,
            "openat:write",
            &["/a/__pycache__/m.cpython-311.pyc.140".into()],
        );
        assert_eq!(name, "openat:pycache");
        let (_, name) = pycache(0, "openat:write", &["/a/__pycache__/notes.txt".into()]);
        assert_eq!(name, "openat:write");
        let (_, name) = pycache(0, "mkdir", &["/a/__pycache__".into()]);
        assert_eq!(name, "mkdir:pycache");
        let (_, name) = pycache(
            0,
            "rename",
            &["/a/__pycache__/m.pyc.1".into(), "/etc/passwd".into()],
        );
        assert_eq!(name, "rename");
    }
}
