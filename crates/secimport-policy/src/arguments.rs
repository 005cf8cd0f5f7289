//! Argument values: which programs, paths and addresses a module may use.
//!
//! Rights ([`crate::rights`]) say *what* a module may do (`execve`,
//! `openat:write`, `connect:inet`); `spec.arguments` can narrow the
//! value-carrying ones to *which* targets, in four kinds ([`Kind`]):
//!
//! - `exec`: the programs it may execute (`execve`, `execveat`), by path;
//! - `write`: the paths it may create, write, truncate, rename, unlink,
//!   link, `mkdir`, `chmod`, `chown`... (the write-class file rights, see
//!   [`kind_of`]);
//! - `connect`: the addresses it may `connect`, `sendto` or `sendmsg` to;
//! - `bind`: the addresses it may `bind`.
//!
//! A kind a module's entry does not list is not restricted (any value, as
//! with no `spec.arguments` at all); a kind that is listed, even as `[]`,
//! allows the listed patterns only.
//!
//! # Path patterns ([`PathPattern`]: `exec`, `write`, `unix:` addresses)
//!
//! An absolute, lexically normal path (no `.` or `..` component, no `//`,
//! no trailing `/`, no NUL), at most [`MAX_PATTERN_BYTES`] bytes, in one of
//! three forms:
//!
//! - `/a/b`: exactly that path;
//! - `/a/b/*`: the entries directly in `/a/b` (not `/a/b/c/d`, not `/a/b`);
//! - `/a/b/**`: anything below `/a/b`, at any depth (not `/a/b` itself, not
//!   `/a/bc`); `/**` is any absolute path.
//!
//! A `*` anywhere else is an error: there is no other wildcard, and a path
//! with a literal `*` cannot be written.
//!
//! # Address patterns ([`AddrPattern`]: `connect`, `bind`)
//!
//! - `IPv4[/len]:PORT` (`127.0.0.1:8080`, `10.0.0.0/8:*`);
//! - `[IPv6][/len]:PORT` (`[::1]:8080`, `[fe80::]/10:443`);
//! - `unix:PATH-PATTERN` (`unix:/run/app.sock`, `unix:/run/app/*`);
//! - `unix:@NAME`: an abstract unix socket, exactly that name.
//!
//! PORT is a number from 0 to 65535 or `*` (any port); port 0 in a `bind`
//! pattern is the literal port 0 (the kernel picks one). `/len` is a prefix
//! length (at most 32 for IPv4, 128 for IPv6); without it the pattern is one
//! address. An IPv4 pattern never matches an IPv6 address, except that an
//! IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is matched as the IPv4 address
//! it stands for (it reaches that address).
//!
//! # Values as traces write them
//!
//! `secimport trace` records, per module and kind, the values it saw
//! ([`crate::trace::ModuleTrace::arguments`]):
//!
//! - `exec`, `write`: the absolute path the kernel side built (which may
//!   hold `.` or `..` components), or [`UNRESOLVED`] when it could not build
//!   one;
//! - `connect`, `bind`: [`AddrValue`]'s text: `inet:1.2.3.4:80`,
//!   `inet:[::1]:8080`, `unix:/path`, `unix:@name`, or [`OTHER_ADDRESS`]
//!   (`other`: another family, or an address that could not be read).
//!
//! [`Arguments::allows`] is the reference decision on such a value.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::show::shown;

/// The longest pattern, in bytes (the whole text, `unix:` excluded).
pub const MAX_PATTERN_BYTES: usize = 255;

/// The value a trace records for a path the kernel side could not build.
pub const UNRESOLVED: &str = "<unresolved>";

/// The value a trace records for an address that is neither inet nor unix
/// (or could not be read).
pub const OTHER_ADDRESS: &str = "other";

/// The four kinds of argument values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Programs executed (`execve`, `execveat`): path patterns.
    Exec,
    /// Paths written, created, removed, renamed or re-permissioned: path
    /// patterns.
    Write,
    /// Destination addresses (`connect`, `sendto`, `sendmsg`): address
    /// patterns.
    Connect,
    /// Local addresses bound (`bind`): address patterns.
    Bind,
}

impl Kind {
    /// Every kind, in the order policies write them.
    pub const ALL: [Kind; 4] = [Kind::Exec, Kind::Write, Kind::Connect, Kind::Bind];

    /// The name policies and traces use: `exec`, `write`, `connect`, `bind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Write => "write",
            Kind::Connect => "connect",
            Kind::Bind => "bind",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// True for `exec` and `write` (path patterns), false for `connect` and
    /// `bind` (address patterns).
    pub fn takes_paths(self) -> bool {
        matches!(self, Kind::Exec | Kind::Write)
    }

    /// How patterns of this kind are written, with examples (for messages).
    pub fn syntax(self) -> &'static str {
        match self {
            Kind::Exec => {
                "exec lists programs by absolute path: `/usr/bin/git`, `/opt/tool/bin/*` (the \
                 programs directly in a directory) or `/opt/tool/**` (anything below it)"
            }
            Kind::Write => {
                "write lists absolute paths: `/srv/out/report.csv`, `/srv/out/*` (the files \
                 directly in /srv/out) or `/tmp/**` (anything below /tmp)"
            }
            Kind::Connect | Kind::Bind => {
                "addresses are `127.0.0.1:8080`, `10.0.0.0/8:*` (a network, any port), \
                 `[::1]:443`, `[fe80::]/10:*`, `unix:/run/app.sock`, `unix:/run/app/*` or \
                 `unix:@name` (an abstract socket)"
            }
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::from_name(s).ok_or_else(|| {
            format!(
                "unknown argument kind `{}`; the kinds are exec, write, connect and bind",
                shown(s)
            )
        })
    }
}

/// The kind of values right `right_name` (as policies name it) carries, if
/// it carries one: `execve` -> exec, `openat:write` -> write, `connect:inet`
/// -> connect, `bind:unix` -> bind; `None` for every other right.
pub fn kind_of(right_name: &str) -> Option<Kind> {
    match right_name {
        "execve" | "execveat" => Some(Kind::Exec),
        // The file writes guards deny, but the import system's own class
        // (`:pycache`), whose path is its rule.
        name if crate::classes::FILE_WRITES.contains(&name) && !name.ends_with(":pycache") => {
            Some(Kind::Write)
        }
        "connect:unix" | "connect:inet" | "connect:other" | "sendto:unix" | "sendto:inet"
        | "sendto:other" | "sendmsg:unix" | "sendmsg:inet" | "sendmsg:other" => Some(Kind::Connect),
        "bind:unix" | "bind:inet" | "bind:other" => Some(Kind::Bind),
        _ => None,
    }
}

/// Why a pattern of `spec.arguments` is not valid. The `Display` form says
/// what is wrong; [`Kind::syntax`] says how patterns are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgumentError {
    Empty,
    NotAbsolute,
    Nul,
    TooLong {
        bytes: usize,
    },
    /// A `.` or `..` component.
    NotNormal,
    /// An empty component (`//`).
    DoubleSlash,
    /// A `/` at the end (other than in `/*`, `/**` or `/`).
    TrailingSlash,
    /// A `*` other than a final `/*` or `/**`.
    MisplacedStar,
    /// Neither `IP:PORT`, `[IPv6]:PORT` nor `unix:...`.
    NotAnAddress,
    /// An address with no `:PORT`.
    NoPort,
    /// `port`: the text after the last `:`.
    BadPort {
        port: String,
    },
    /// `ip`: the text that is not an IPv4 (or, in brackets, IPv6) address.
    BadIp {
        ip: String,
        v6: bool,
    },
    /// A `/len` that is not a number from 0 to `max`.
    BadPrefix {
        prefix: String,
        max: u8,
    },
    /// The address has bits set past its prefix: `network` is the pattern
    /// meant.
    HostBits {
        network: String,
    },
    /// An IPv4-mapped IPv6 address; `v4` is the IPv4 form to write.
    Mapped {
        v4: String,
    },
    /// `unix:@` with no name.
    EmptyAbstract,
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgumentError::Empty => f.write_str("it is empty"),
            ArgumentError::NotAbsolute => f.write_str("a path must be absolute (start with `/`)"),
            ArgumentError::Nul => f.write_str("it contains a NUL character"),
            ArgumentError::TooLong { bytes } => write!(
                f,
                "it is {bytes} bytes long; a pattern has at most {MAX_PATTERN_BYTES} bytes"
            ),
            ArgumentError::NotNormal => f.write_str(
                "it has a `.` or `..` component; write the path without them (`/a/b`, not \
                 `/a/./b` or `/a/c/../b`)",
            ),
            ArgumentError::DoubleSlash => f.write_str("it has an empty component (`//`)"),
            ArgumentError::TrailingSlash => f.write_str(
                "it ends with `/`; write `/a/b` for the path itself, `/a/b/*` for the entries \
                 directly in it or `/a/b/**` for everything below it",
            ),
            ArgumentError::MisplacedStar => f.write_str(
                "`*` may only end a pattern, as `/*` (the entries directly in a directory) or \
                 `/**` (everything below it)",
            ),
            ArgumentError::NotAnAddress => f.write_str(
                "not an address: write `IP:PORT`, `[IPv6]:PORT`, `unix:/path` or `unix:@name`",
            ),
            ArgumentError::NoPort => f.write_str(
                "an address needs a port: `IP:PORT`, PORT a number from 0 to 65535 or `*` for \
                 any port",
            ),
            ArgumentError::BadPort { port } => write!(
                f,
                "`{}` is not a port: write a number from 0 to 65535 (no sign, no leading zero) \
                 or `*` for any port",
                shown(port)
            ),
            ArgumentError::BadIp { ip, v6: false } => write!(
                f,
                "`{}` is not an IPv4 address (write IPv6 addresses in brackets: `[::1]:8080`)",
                shown(ip)
            ),
            ArgumentError::BadIp { ip, v6: true } => {
                write!(f, "`{}` is not an IPv6 address", shown(ip))
            }
            ArgumentError::BadPrefix { prefix, max } => write!(
                f,
                "`/{}` is not a prefix length: write a number from 0 to {max}",
                shown(prefix)
            ),
            ArgumentError::HostBits { network } => write!(
                f,
                "the address has bits set past its prefix length; did you mean `{network}`?"
            ),
            ArgumentError::Mapped { v4 } => write!(
                f,
                "an IPv4-mapped IPv6 address: write it as IPv4, `{}` (which also matches the \
                 mapped form)",
                shown(v4)
            ),
            ArgumentError::EmptyAbstract => {
                f.write_str("an abstract socket needs a name after `@`: `unix:@name`")
            }
        }
    }
}

impl std::error::Error for ArgumentError {}

// Path patterns.

/// A path pattern (see the module documentation). The string of
/// [`PathPattern::Children`] and [`PathPattern::Tree`] is the directory with
/// a trailing `/` (`/a/b/`; `/` for `/*` and `/**`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathPattern {
    /// `/a/b`: exactly this path.
    Exact(String),
    /// `/a/b/*`: the entries directly in the directory.
    Children(String),
    /// `/a/b/**`: anything below the directory, at any depth.
    Tree(String),
}

impl PathPattern {
    /// The path of an exact pattern, the directory (with its trailing `/`)
    /// of the others.
    pub fn path(&self) -> &str {
        match self {
            PathPattern::Exact(p) | PathPattern::Children(p) | PathPattern::Tree(p) => p,
        }
    }

    /// Whether `path` matches: an absolute path, normalized lexically first
    /// ([`crate::naming::normalize`]: `//`, `.` and `..` components resolved
    /// without looking at the file system, so `/srv/out/../../etc/x` is
    /// `/etc/x`, never below `/srv/out`). Anything that is not an absolute
    /// path ([`UNRESOLVED`], a relative path) matches nothing, not even `/**`.
    /// `/a/b/*` matches `/a/b/c`, not `/a/b` nor `/a/b/c/d`; `/a/b/**` matches
    /// `/a/b/c/d`, not `/a/b` nor `/a/bc`.
    pub fn matches(&self, path: &str) -> bool {
        if !path.starts_with('/') {
            return false;
        }
        let path = crate::naming::normalize(path);
        match self {
            PathPattern::Exact(exact) => path == *exact,
            PathPattern::Children(dir) => path
                .strip_prefix(dir.as_str())
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/')),
            PathPattern::Tree(dir) => {
                dir == "/"
                    || path
                        .strip_prefix(dir.as_str())
                        .is_some_and(|r| !r.is_empty())
            }
        }
    }

    fn rank(&self) -> u8 {
        match self {
            PathPattern::Exact(_) => 0,
            PathPattern::Children(_) => 1,
            PathPattern::Tree(_) => 2,
        }
    }
}

/// By path, then exact before children before tree: lists read in path
/// order.
impl Ord for PathPattern {
    fn cmp(&self, other: &Self) -> Ordering {
        self.path()
            .cmp(other.path())
            .then_with(|| self.rank().cmp(&other.rank()))
    }
}

impl PartialOrd for PathPattern {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathPattern::Exact(path) => f.write_str(path),
            PathPattern::Children(dir) => write!(f, "{dir}*"),
            PathPattern::Tree(dir) => write!(f, "{dir}**"),
        }
    }
}

impl FromStr for PathPattern {
    type Err = ArgumentError;

    fn from_str(text: &str) -> Result<PathPattern, ArgumentError> {
        if text.is_empty() {
            return Err(ArgumentError::Empty);
        }
        if text.contains('\0') {
            return Err(ArgumentError::Nul);
        }
        if text.len() > MAX_PATTERN_BYTES {
            return Err(ArgumentError::TooLong { bytes: text.len() });
        }
        if !text.starts_with('/') {
            return Err(ArgumentError::NotAbsolute);
        }
        type Make = fn(String) -> PathPattern;
        let (body, make): (&str, Make) = if let Some(dir) = text.strip_suffix("/**") {
            (dir, PathPattern::Tree)
        } else if let Some(dir) = text.strip_suffix("/*") {
            (dir, PathPattern::Children)
        } else {
            (text, PathPattern::Exact)
        };
        // `body` is "" (the root, for `/*` and `/**`) or an absolute path.
        if body == "/" {
            return match text {
                "/" => Ok(PathPattern::Exact("/".to_string())),
                _ => Err(ArgumentError::DoubleSlash),
            };
        }
        if !body.is_empty() {
            let components: Vec<&str> = body[1..].split('/').collect();
            for (i, component) in components.iter().enumerate() {
                match *component {
                    "" if i + 1 == components.len() && body.len() == text.len() => {
                        return Err(ArgumentError::TrailingSlash)
                    }
                    "" => return Err(ArgumentError::DoubleSlash),
                    "." | ".." => return Err(ArgumentError::NotNormal),
                    c if c.contains('*') => return Err(ArgumentError::MisplacedStar),
                    _ => {}
                }
            }
        }
        Ok(match text.len() - body.len() {
            0 => make(text.to_string()),
            _ => make(format!("{body}/")),
        })
    }
}

// Address patterns.

/// An address pattern (see the module documentation). Sets of them sort
/// inet patterns first (IPv4, then IPv6, by address), then unix paths, then
/// abstract names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrPattern {
    /// `unix:PATH-PATTERN`: a unix socket by path.
    Unix(PathPattern),
    /// `unix:@NAME`: the abstract unix socket called NAME.
    Abstract(String),
    /// `IP[/prefix]:PORT`: an address or network (IPv4 kept as V4, never
    /// IPv4-mapped; no bits set past `prefix`, which is at most 32 or 128),
    /// and a port, `None` for `*`.
    Inet {
        addr: IpAddr,
        prefix: u8,
        port: Option<u16>,
    },
}

impl AddrPattern {
    /// Whether an inet address matches: same family (an IPv4-mapped IPv6
    /// address counts as IPv4), within the prefix, and the port (any port
    /// for `*`).
    pub fn matches_inet(&self, ip: IpAddr, port: u16) -> bool {
        let AddrPattern::Inet {
            addr,
            prefix,
            port: want,
        } = self
        else {
            return false;
        };
        if want.is_some_and(|p| p != port) {
            return false;
        }
        match (unmapped(ip), addr) {
            (IpAddr::V4(ip), IpAddr::V4(net)) => {
                let mask = prefix_mask_v4(*prefix);
                u32::from(ip) & mask == u32::from(*net) & mask
            }
            (IpAddr::V6(ip), IpAddr::V6(net)) => {
                let mask = prefix_mask_v6(*prefix);
                u128::from(ip) & mask == u128::from(*net) & mask
            }
            _ => false,
        }
    }

    /// Whether a unix socket address matches: `path` is a path (see
    /// [`PathPattern::matches`]) or `@name` for an abstract socket.
    pub fn matches_unix(&self, path: &str) -> bool {
        match (self, path.strip_prefix('@')) {
            (AddrPattern::Abstract(name), Some(asked)) => name == asked,
            (AddrPattern::Unix(pattern), None) => pattern.matches(path),
            _ => false,
        }
    }

    /// Whether an address as traces write it ([`AddrValue`]'s text) matches;
    /// `other` and unreadable texts match nothing.
    pub fn matches_value(&self, value: &str) -> bool {
        match AddrValue::parse(value) {
            Some(AddrValue::Inet(ip, port)) => self.matches_inet(ip, port),
            Some(AddrValue::Unix(path)) => self.matches_unix(&path),
            Some(AddrValue::Abstract(name)) => {
                matches!(self, AddrPattern::Abstract(n) if *n == name)
            }
            Some(AddrValue::Other) | None => false,
        }
    }
}

/// How address patterns sort: inet (by address, prefix, port), then unix
/// paths, then abstract names.
type SortKey<'a> = (
    u8,
    Option<(IpAddr, u8, Option<u16>)>,
    Option<&'a PathPattern>,
    &'a str,
);

impl AddrPattern {
    fn sort_key(&self) -> SortKey<'_> {
        match self {
            AddrPattern::Inet { addr, prefix, port } => {
                (0, Some((*addr, *prefix, *port)), None, "")
            }
            AddrPattern::Unix(path) => (1, None, Some(path), ""),
            AddrPattern::Abstract(name) => (2, None, None, name),
        }
    }
}

impl Ord for AddrPattern {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for AddrPattern {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_mask_v4(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

fn prefix_mask_v6(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

impl fmt::Display for AddrPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrPattern::Unix(path) => write!(f, "unix:{path}"),
            AddrPattern::Abstract(name) => write!(f, "unix:@{name}"),
            AddrPattern::Inet { addr, prefix, port } => {
                match addr {
                    IpAddr::V4(a) => write!(f, "{a}")?,
                    IpAddr::V6(a) => write!(f, "[{a}]")?,
                }
                let full = if addr.is_ipv4() { 32 } else { 128 };
                if *prefix != full {
                    write!(f, "/{prefix}")?;
                }
                match port {
                    Some(p) => write!(f, ":{p}"),
                    None => f.write_str(":*"),
                }
            }
        }
    }
}

impl FromStr for AddrPattern {
    type Err = ArgumentError;

    fn from_str(text: &str) -> Result<AddrPattern, ArgumentError> {
        if text.is_empty() {
            return Err(ArgumentError::Empty);
        }
        if text.contains('\0') {
            return Err(ArgumentError::Nul);
        }
        if let Some(rest) = text.strip_prefix("unix:") {
            if let Some(name) = rest.strip_prefix('@') {
                if name.is_empty() {
                    return Err(ArgumentError::EmptyAbstract);
                }
                if rest.len() > MAX_PATTERN_BYTES {
                    return Err(ArgumentError::TooLong { bytes: rest.len() });
                }
                return Ok(AddrPattern::Abstract(name.to_string()));
            }
            return rest.parse().map(AddrPattern::Unix);
        }
        if text.len() > MAX_PATTERN_BYTES {
            return Err(ArgumentError::TooLong { bytes: text.len() });
        }
        let (addr, prefix, port) = match text.strip_prefix('[') {
            Some(v6) => bracketed(v6)?,
            None => dotted(text)?,
        };
        let full: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => full,
            Some(p) => parse_number(p)
                .filter(|&n| n <= u64::from(full))
                .map(|n| n as u8)
                .ok_or_else(|| ArgumentError::BadPrefix {
                    prefix: p.to_string(),
                    max: full,
                })?,
        };
        let port = match port {
            "*" => None,
            p => Some(
                parse_number(p)
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| ArgumentError::BadPort {
                        port: p.to_string(),
                    })?,
            ),
        };
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & prefix_mask_v4(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & prefix_mask_v6(prefix))),
        };
        if network != addr {
            let meant = AddrPattern::Inet {
                addr: network,
                prefix,
                port,
            };
            return Err(ArgumentError::HostBits {
                network: meant.to_string(),
            });
        }
        Ok(AddrPattern::Inet { addr, prefix, port })
    }
}

/// `IPv6]/len:PORT` (after the `[`): the address, the prefix text if any,
/// the port text.
fn bracketed(text: &str) -> Result<(IpAddr, Option<&str>, &str), ArgumentError> {
    let bad_ip = |ip: &str| ArgumentError::BadIp {
        ip: ip.to_string(),
        v6: true,
    };
    let (ip, rest) = text.split_once(']').ok_or_else(|| bad_ip(text))?;
    let (prefix, port) = if let Some(port) = rest.strip_prefix(':') {
        (None, Some(port))
    } else if let Some(rest) = rest.strip_prefix('/') {
        match rest.split_once(':') {
            Some((prefix, port)) => (Some(prefix), Some(port)),
            None => (Some(rest), None),
        }
    } else if rest.is_empty() {
        (None, None)
    } else {
        return Err(ArgumentError::NotAnAddress);
    };
    let addr = Ipv6Addr::from_str(ip).map_err(|_| bad_ip(ip))?;
    if let Some(v4) = addr.to_ipv4_mapped() {
        return Err(ArgumentError::Mapped {
            v4: format!("{v4}:{}", port.unwrap_or("*")),
        });
    }
    Ok((IpAddr::V6(addr), prefix, port.ok_or(ArgumentError::NoPort)?))
}

/// `IPv4/len:PORT`: the address, the prefix text if any, the port text.
fn dotted(text: &str) -> Result<(IpAddr, Option<&str>, &str), ArgumentError> {
    let Some((host, port)) = text.rsplit_once(':') else {
        let ip = text.split('/').next().unwrap_or(text);
        return Err(if looks_like_ipv4(ip) {
            ArgumentError::NoPort
        } else {
            ArgumentError::NotAnAddress
        });
    };
    if host.contains(':') {
        // IPv6 without brackets.
        return Err(ArgumentError::BadIp {
            ip: host.to_string(),
            v6: false,
        });
    }
    let (ip, prefix) = match host.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (host, None),
    };
    let addr = Ipv4Addr::from_str(ip).map_err(|_| {
        if looks_like_ipv4(ip) {
            ArgumentError::BadIp {
                ip: ip.to_string(),
                v6: false,
            }
        } else {
            ArgumentError::NotAnAddress
        }
    })?;
    Ok((IpAddr::V4(addr), prefix, port))
}

/// Digits and dots only: meant as an IPv4 address.
fn looks_like_ipv4(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// A decimal number as policies write them: digits only, no leading zero.
fn parse_number(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.len() <= 5
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

// Values as traces write them.

/// An address as traces write it (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddrValue {
    /// `inet:1.2.3.4:80`, `inet:[::1]:8080`.
    Inet(IpAddr, u16),
    /// `unix:/path`: a unix socket by path.
    Unix(String),
    /// `unix:@name`: an abstract unix socket.
    Abstract(String),
    /// `other`: another family, or an address that could not be read.
    Other,
}

impl AddrValue {
    /// The address written as `text`; `None` if it is not in the trace
    /// format. A v4-mapped IPv6 address is read as it is written (matching
    /// takes it as IPv4).
    pub fn parse(text: &str) -> Option<AddrValue> {
        if text == OTHER_ADDRESS {
            return Some(AddrValue::Other);
        }
        if let Some(rest) = text.strip_prefix("unix:") {
            return Some(match rest.strip_prefix('@') {
                Some(name) => AddrValue::Abstract(name.to_string()),
                None => AddrValue::Unix(rest.to_string()),
            });
        }
        let rest = text.strip_prefix("inet:")?;
        let (ip, port) = rest.rsplit_once(':')?;
        let ip = match ip.strip_prefix('[') {
            Some(v6) => IpAddr::V6(v6.strip_suffix(']')?.parse().ok()?),
            None => IpAddr::V4(ip.parse().ok()?),
        };
        Some(AddrValue::Inet(ip, parse_number(port)?.try_into().ok()?))
    }
}

impl fmt::Display for AddrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrValue::Inet(IpAddr::V4(ip), port) => write!(f, "inet:{ip}:{port}"),
            AddrValue::Inet(IpAddr::V6(ip), port) => write!(f, "inet:[{ip}]:{port}"),
            AddrValue::Unix(path) => write!(f, "unix:{path}"),
            AddrValue::Abstract(name) => write!(f, "unix:@{name}"),
            AddrValue::Other => f.write_str(OTHER_ADDRESS),
        }
    }
}

// The per-module rule.

/// The argument values one module may use: per kind, `None` when the kind is
/// not restricted (any value), else the patterns allowed (an empty set
/// allows none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Arguments {
    /// The programs the module may execute (`execve`, `execveat`), as path
    /// patterns: `/usr/bin/git` (that program), `/opt/tool/bin/*` (the
    /// programs directly in that directory), `/opt/tool/**` (anything below
    /// it), `/**` (any path). Paths are absolute and lexically normal (no
    /// `.`, `..` or `//`); the path a program asks for is normalized lexically
    /// before it is matched. Absent: any program. `[]`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "BTreeSet<PathPattern>")]
    pub exec: Option<BTreeSet<PathPattern>>,
    /// The paths the module may create, open for writing, truncate, rename,
    /// unlink, link, `mkdir`, `rmdir`, `mknod`, `chmod` or `chown`, as path
    /// patterns (see `exec`): `/srv/out/report.csv`, `/srv/out/*`,
    /// `/tmp/**`. Absent: any path. `[]`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "BTreeSet<PathPattern>")]
    pub write: Option<BTreeSet<PathPattern>>,
    /// The addresses the module may `connect`, `sendto` or `sendmsg` to, as
    /// address patterns: `127.0.0.1:8080`, `127.0.0.0/8:*` (a network, any
    /// port), `[::1]:443`, `[fe80::]/10:*`, `unix:/run/app.sock`,
    /// `unix:/run/app/*`, `unix:@name` (an abstract socket). Absent: any
    /// address. `[]`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "BTreeSet<AddrPattern>")]
    pub connect: Option<BTreeSet<AddrPattern>>,
    /// The local addresses the module may `bind`, as address patterns (see
    /// `connect`); port 0 is the literal port 0 (the kernel picks a port).
    /// Absent: any address. `[]`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "BTreeSet<AddrPattern>")]
    pub bind: Option<BTreeSet<AddrPattern>>,
}

impl Arguments {
    /// True if no kind is restricted.
    pub fn is_empty(&self) -> bool {
        Kind::ALL.iter().all(|&k| !self.restricts(k))
    }

    /// True if `kind` is listed (restricted to its patterns).
    pub fn restricts(&self, kind: Kind) -> bool {
        match kind {
            Kind::Exec => self.exec.is_some(),
            Kind::Write => self.write.is_some(),
            Kind::Connect => self.connect.is_some(),
            Kind::Bind => self.bind.is_some(),
        }
    }

    /// The path patterns of `exec` or `write` (`None` for the address kinds
    /// and for kinds not restricted).
    pub fn paths(&self, kind: Kind) -> Option<&BTreeSet<PathPattern>> {
        match kind {
            Kind::Exec => self.exec.as_ref(),
            Kind::Write => self.write.as_ref(),
            Kind::Connect | Kind::Bind => None,
        }
    }

    /// The address patterns of `connect` or `bind` (`None` for the path
    /// kinds and for kinds not restricted).
    pub fn addresses(&self, kind: Kind) -> Option<&BTreeSet<AddrPattern>> {
        match kind {
            Kind::Connect => self.connect.as_ref(),
            Kind::Bind => self.bind.as_ref(),
            Kind::Exec | Kind::Write => None,
        }
    }

    /// The reference decision on a value of `kind` as traces write it (see
    /// the module documentation): allowed when the kind is not restricted, or
    /// when one of its patterns matches. [`UNRESOLVED`] and `other` are
    /// allowed only by an unrestricted kind.
    pub fn allows(&self, kind: Kind, value: &str) -> bool {
        if !self.restricts(kind) {
            return true;
        }
        match kind {
            Kind::Exec | Kind::Write => self
                .paths(kind)
                .is_some_and(|set| set.iter().any(|p| p.matches(value))),
            Kind::Connect | Kind::Bind => self
                .addresses(kind)
                .is_some_and(|set| set.iter().any(|p| p.matches_value(value))),
        }
    }

    /// The patterns of `kind` as policy text, `None` if it is not
    /// restricted.
    pub fn texts(&self, kind: Kind) -> Option<Vec<String>> {
        match kind {
            Kind::Exec | Kind::Write => self
                .paths(kind)
                .map(|s| s.iter().map(ToString::to_string).collect()),
            Kind::Connect | Kind::Bind => self
                .addresses(kind)
                .map(|s| s.iter().map(ToString::to_string).collect()),
        }
    }

    /// Adds what `other` allows: a kind stays restricted only if both
    /// restrict it (to the union of their patterns).
    pub fn union(&mut self, other: &Arguments) {
        fn merge<T: Ord + Clone>(mine: &mut Option<BTreeSet<T>>, theirs: &Option<BTreeSet<T>>) {
            match (mine.as_mut(), theirs) {
                (Some(set), Some(more)) => set.extend(more.iter().cloned()),
                _ => *mine = None,
            }
        }
        merge(&mut self.exec, &other.exec);
        merge(&mut self.write, &other.write);
        merge(&mut self.connect, &other.connect);
        merge(&mut self.bind, &other.bind);
    }
}

// Serialization and schemas.

impl Serialize for PathPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for AddrPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PathPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e: ArgumentError| {
            serde::de::Error::custom(format!("invalid path pattern `{}`: {e}", shown(&text)))
        })
    }
}

impl<'de> Deserialize<'de> for AddrPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e: ArgumentError| {
            serde::de::Error::custom(format!("invalid address pattern `{}`: {e}", shown(&text)))
        })
    }
}

fn string_schema(description: &str, pattern: &str) -> schemars::schema::Schema {
    use schemars::schema::{InstanceType, Metadata, SchemaObject, StringValidation};
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        metadata: Some(Box::new(Metadata {
            description: Some(description.to_string()),
            ..Default::default()
        })),
        string: Some(Box::new(StringValidation {
            pattern: Some(pattern.to_string()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .into()
}

impl JsonSchema for PathPattern {
    fn schema_name() -> String {
        "PathPattern".to_string()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        string_schema(
            "An absolute, lexically normal path (no `.`, `..` or empty component, no trailing \
             `/`, no NUL), at most 255 bytes: `/a/b` is exactly that path; `/a/b/*` the entries \
             directly in /a/b (not /a/b/c/d); `/a/b/**` anything below /a/b at any depth (not \
             /a/b itself, not /a/bc); `/**` any absolute path. `*` is allowed nowhere else.",
            r"^/([^/*\x00]+(/[^/*\x00]+)*(/\*\*?)?|\*\*?)?$",
        )
    }
}

impl JsonSchema for AddrPattern {
    fn schema_name() -> String {
        "AddrPattern".to_string()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        string_schema(
            "An address: `IPv4[/len]:PORT` (`127.0.0.1:8080`, `10.0.0.0/8:*`), \
             `[IPv6][/len]:PORT` (`[::1]:8080`, `[fe80::]/10:443`), `unix:PATH-PATTERN` (a \
             unix socket by path pattern: `unix:/run/app.sock`, `unix:/run/app/*`) or \
             `unix:@NAME` (an abstract unix socket). PORT is a number from 0 to 65535 or `*` \
             (any port); port 0 is literal (bind: the kernel picks). `/len` is a prefix length \
             (at most 32 or 128), with no address bits set past it. IPv4 patterns also match \
             IPv4-mapped IPv6 addresses.",
            r"^(unix:.+|[0-9.]+(/[0-9]+)?:([0-9]+|\*)|\[[0-9A-Fa-f:.]+\](/[0-9]+)?:([0-9]+|\*))$",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> PathPattern {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"))
    }

    fn addr(text: &str) -> AddrPattern {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"))
    }

    #[test]
    fn path_forms() {
        assert_eq!(path("/a/b"), PathPattern::Exact("/a/b".into()));
        assert_eq!(path("/a/b/*"), PathPattern::Children("/a/b/".into()));
        assert_eq!(path("/a/b/**"), PathPattern::Tree("/a/b/".into()));
        assert_eq!(path("/**"), PathPattern::Tree("/".into()));
        assert_eq!(path("/*"), PathPattern::Children("/".into()));
        assert_eq!(path("/"), PathPattern::Exact("/".into()));
        for text in [
            "/a/b",
            "/a/b/*",
            "/a/b/**",
            "/**",
            "/*",
            "/",
            "/a b/é.txt",
            "/a:b",
        ] {
            assert_eq!(path(text).to_string(), text);
        }
    }

    #[test]
    fn path_errors() {
        for (text, error) in [
            ("", ArgumentError::Empty),
            ("a/b", ArgumentError::NotAbsolute),
            ("*", ArgumentError::NotAbsolute),
            ("/a\0b", ArgumentError::Nul),
            ("/a/./b", ArgumentError::NotNormal),
            ("/a/..", ArgumentError::NotNormal),
            ("/a//b", ArgumentError::DoubleSlash),
            ("//**", ArgumentError::DoubleSlash),
            ("//*", ArgumentError::DoubleSlash),
            ("//", ArgumentError::DoubleSlash),
            ("/a/", ArgumentError::TrailingSlash),
            ("/a/b//", ArgumentError::DoubleSlash),
            ("/a//*", ArgumentError::DoubleSlash),
            ("/a/*/b", ArgumentError::MisplacedStar),
            ("/a/b*", ArgumentError::MisplacedStar),
            ("/a/***", ArgumentError::MisplacedStar),
            ("/a/**/**", ArgumentError::MisplacedStar),
            ("/a/**/b", ArgumentError::MisplacedStar),
        ] {
            assert_eq!(text.parse::<PathPattern>(), Err(error), "{text:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATTERN_BYTES));
        assert_eq!(
            long.parse::<PathPattern>(),
            Err(ArgumentError::TooLong {
                bytes: MAX_PATTERN_BYTES + 1
            })
        );
        assert!(long[..MAX_PATTERN_BYTES].parse::<PathPattern>().is_ok());
    }

    #[test]
    fn address_errors() {
        for (text, error) in [
            ("", ArgumentError::Empty),
            ("localhost:80", ArgumentError::NotAnAddress),
            ("1.2.3.4", ArgumentError::NoPort),
            ("[::1]", ArgumentError::NoPort),
            ("[::1]/64", ArgumentError::NoPort),
            ("1.2.3.4:x", ArgumentError::BadPort { port: "x".into() }),
            (
                "1.2.3.4:65536",
                ArgumentError::BadPort {
                    port: "65536".into(),
                },
            ),
            ("1.2.3.4:080", ArgumentError::BadPort { port: "080".into() }),
            ("1.2.3.4:+80", ArgumentError::BadPort { port: "+80".into() }),
            ("1.2.3.4:", ArgumentError::BadPort { port: "".into() }),
            (
                "1.2.3.256:80",
                ArgumentError::BadIp {
                    ip: "1.2.3.256".into(),
                    v6: false,
                },
            ),
            (
                "::1:80",
                ArgumentError::BadIp {
                    ip: "::1".into(),
                    v6: false,
                },
            ),
            (
                "[::g]:80",
                ArgumentError::BadIp {
                    ip: "::g".into(),
                    v6: true,
                },
            ),
            (
                "[::1:80",
                ArgumentError::BadIp {
                    ip: "::1:80".into(),
                    v6: true,
                },
            ),
            ("[::1]x:80", ArgumentError::NotAnAddress),
            (
                "10.0.0.0/33:*",
                ArgumentError::BadPrefix {
                    prefix: "33".into(),
                    max: 32,
                },
            ),
            (
                "[::]/129:*",
                ArgumentError::BadPrefix {
                    prefix: "129".into(),
                    max: 128,
                },
            ),
            (
                "10.0.0.0/:*",
                ArgumentError::BadPrefix {
                    prefix: "".into(),
                    max: 32,
                },
            ),
            (
                "10.1.2.3/8:*",
                ArgumentError::HostBits {
                    network: "10.0.0.0/8:*".into(),
                },
            ),
            (
                "[fe80::1]/10:443",
                ArgumentError::HostBits {
                    network: "[fe80::]/10:443".into(),
                },
            ),
            (
                "[::ffff:1.2.3.4]:80",
                ArgumentError::Mapped {
                    v4: "1.2.3.4:80".into(),
                },
            ),
            ("unix:@", ArgumentError::EmptyAbstract),
            ("unix:run/x", ArgumentError::NotAbsolute),
            ("unix:/run/", ArgumentError::TrailingSlash),
            ("unix:", ArgumentError::Empty),
        ] {
            assert_eq!(text.parse::<AddrPattern>(), Err(error), "{text:?}");
        }
    }

    #[test]
    fn address_forms() {
        assert_eq!(
            addr("127.0.0.0/8:*"),
            AddrPattern::Inet {
                addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
                port: None
            }
        );
        assert_eq!(
            addr("[::1]:8080"),
            AddrPattern::Inet {
                addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 128,
                port: Some(8080)
            }
        );
        assert_eq!(
            addr("unix:/run/app.sock"),
            AddrPattern::Unix(PathPattern::Exact("/run/app.sock".into()))
        );
        assert_eq!(
            addr("unix:@abstract-name"),
            AddrPattern::Abstract("abstract-name".into())
        );
        for text in [
            "127.0.0.0/8:*",
            "10.1.2.3:443",
            "0.0.0.0:0",
            "0.0.0.0/0:*",
            "[::1]:8080",
            "[fe80::]/10:443",
            "[::]/0:*",
            "unix:/run/app.sock",
            "unix:/run/*",
            "unix:/**",
            "unix:@abstract-name",
            "unix:@with space:and@",
        ] {
            assert_eq!(addr(text).to_string(), text);
        }
        // Redundant spellings read as the canonical one.
        assert_eq!(addr("1.2.3.4/32:80").to_string(), "1.2.3.4:80");
        assert_eq!(addr("[0:0::1]/128:80").to_string(), "[::1]:80");
    }

    #[test]
    fn kinds_of_rights() {
        assert_eq!(kind_of("execve"), Some(Kind::Exec));
        assert_eq!(kind_of("openat:write"), Some(Kind::Write));
        assert_eq!(kind_of("openat"), None);
        assert_eq!(kind_of("sendmsg:inet"), Some(Kind::Connect));
        assert_eq!(kind_of("sendmsg"), None);
        assert_eq!(kind_of("bind:other"), Some(Kind::Bind));
        assert_eq!(kind_of("socket:inet"), None);
        // Every name is a right a policy can hold.
        let names = [
            "execve",
            "execveat",
            "open:write",
            "openat:write",
            "openat2:write",
            "creat",
            "truncate",
            "rename",
            "renameat",
            "renameat2",
            "unlink",
            "unlinkat",
            "mkdir",
            "mkdirat",
            "rmdir",
            "link",
            "linkat",
            "symlink",
            "symlinkat",
            "chmod",
            "fchmodat",
            "fchmodat2",
            "chown",
            "lchown",
            "fchownat",
            "mknod",
            "mknodat",
            "connect:unix",
            "connect:inet",
            "connect:other",
            "sendto:unix",
            "sendto:inet",
            "sendto:other",
            "sendmsg:unix",
            "sendmsg:inet",
            "sendmsg:other",
            "bind:unix",
            "bind:inet",
            "bind:other",
        ];
        for name in names {
            assert!(kind_of(name).is_some(), "{name}");
            assert!(crate::policy::Syscall::parse(name).is_some(), "{name}");
        }
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn masks() {
        assert_eq!(prefix_mask_v4(0), 0);
        assert_eq!(prefix_mask_v4(8), 0xff00_0000);
        assert_eq!(prefix_mask_v4(32), u32::MAX);
        assert_eq!(prefix_mask_v6(0), 0);
        assert_eq!(prefix_mask_v6(128), u128::MAX);
        assert_eq!(prefix_mask_v6(10), 0xffc0 << 112);
    }

    #[test]
    fn values() {
        for (text, value) in [
            (
                "inet:1.2.3.4:80",
                AddrValue::Inet(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)), 80),
            ),
            (
                "inet:[::1]:8080",
                AddrValue::Inet(IpAddr::V6(Ipv6Addr::LOCALHOST), 8080),
            ),
            ("unix:/run/x.sock", AddrValue::Unix("/run/x.sock".into())),
            ("unix:@name", AddrValue::Abstract("name".into())),
            ("other", AddrValue::Other),
        ] {
            assert_eq!(AddrValue::parse(text), Some(value.clone()), "{text}");
            assert_eq!(value.to_string(), text);
        }
        for bad in [
            "inet:1.2.3.4",
            "inet:::1:80",
            "inet:[::1]:x",
            "1.2.3.4:80",
            "",
        ] {
            assert_eq!(AddrValue::parse(bad), None, "{bad}");
        }
    }
}
