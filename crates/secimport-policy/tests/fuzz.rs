//! A time-bounded mutation fuzzer over the policy parser (YAML and JSON) and
//! the trace parser: inputs are made from the hostile corpus
//! (`tests/hostile/`), policies and traces built here, and mutations of them
//! (byte edits, YAML and JSON tokens, splices, deep nesting, huge numbers),
//! and each goes through `secimport_policy::fuzzing`, which panics if a
//! promise is broken. Any panic fails the test, and the input is saved under
//! `target/tmp/fuzz-failures/` with the seed to replay it.
//!
//! - `SECIMPORT_FUZZ_SECONDS`: time per target (default 2; `scripts/test.sh`
//!   runs a longer pass).
//! - `SECIMPORT_FUZZ_SEED`: the seed (default: from the clock, printed).
//!
//! `fuzz/` holds the same targets for cargo-fuzz (coverage-guided, nightly),
//! for longer runs by hand.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secimport_policy::build::{build, BuildOptions};
use secimport_policy::fuzzing;
use secimport_policy::trace::{Buckets, Counters, Interpreter, ModuleTrace, Trace};

/// xorshift64*: small, fast, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pieces of YAML and JSON syntax, and values that broke parsers before.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "#",
    "\n",
    "\r\n",
    "\r",
    "  ",
    "\t",
    "&a ",
    "*a",
    "&a [*a, *a, *a]",
    "!tag ",
    "!!str ",
    "!!binary ",
    "!!map ",
    "|",
    ">",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "<<: *a\n",
    "~",
    "null",
    "true",
    "yes",
    "1e400",
    "-0",
    "18446744073709551616",
    "-9223372036854775809",
    "0x1F",
    "1.5",
    ".inf",
    ".nan",
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "\u{7f}",
    "\u{fffe}",
    "\\u0000",
    "\\ud800",
    "\\uDFFF\\uD800",
    "\\U0010FFFF",
    "\\x",
    "\0",
    "\"\\",
    "\\\"",
    "apiVersion",
    "secimport.dev/v1",
    "secimport.dev/v2",
    "kind",
    "SandboxPolicy",
    "metadata",
    "spec",
    "mode",
    "unknown",
    "base",
    "startup",
    "frameless",
    "children",
    "modules",
    "name",
    "generatedFrom",
    "command",
    "format",
    "secimport-trace",
    "version",
    "buckets",
    "processes",
    "counters",
    "syscalls",
    "files",
    "openat",
    "execve",
    "openat:write",
    "mmap:exec",
    "socket:inet",
    "socket",
    "syscall_400",
    "syscall_512",
    "syscall_0",
    "pkg.*",
    "*",
    "**",
    "a.*.b",
    "<string>",
    "/x/y.py",
    "\"format\": \"secimport-trace\"",
    "\"version\": 2",
    "\"version\": 3",
];

fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(6) {
        let len = data.len();
        let at = rng.below(len + 1);
        match rng.below(15) {
            // Flip, set or insert a byte.
            0 if len > 0 => data[at.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => data[at.min(len - 1)] = rng.next() as u8,
            2 => data.insert(at, rng.next() as u8),
            // Insert a token, or replace a run of bytes with one.
            3 | 4 => {
                let token = rng.pick(TOKENS).as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            5 => {
                let end = (at + rng.below(8)).min(len);
                let token = rng.pick(TOKENS).as_bytes();
                data.splice(at..end, token.iter().copied());
            }
            // Delete or duplicate a run.
            6 => {
                let end = (at + 1 + rng.below(32)).min(len);
                data.drain(at..end);
            }
            7 => {
                let end = (at + 1 + rng.below(64)).min(len);
                let run = data[at..end].to_vec();
                data.splice(at..at, run);
            }
            // Splice a piece of another seed in.
            8 => {
                let other = rng.pick(seeds);
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let end = (from + 1 + rng.below(256)).min(other.len());
                    data.splice(at..at, other[from..end].iter().copied());
                }
            }
            // Deep nesting.
            9 => {
                let depth = 1 + rng.below(300);
                let (open, close) =
                    *rng.pick(&[("[", "]"), ("{\"a\":", "}"), ("- ", ""), ("{a: ", "}")]);
                let nest = format!("{}1{}", open.repeat(depth), close.repeat(depth));
                data.splice(at..at, nest.bytes());
            }
            // A line repeated (duplicate keys, long lists).
            10 => {
                let start = data[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = data[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(len, |i| at + i + 1);
                let line = data[start..end].to_vec();
                for _ in 0..=rng.below(3) {
                    data.splice(end..end, line.iter().copied());
                }
            }
            // A JSON value (or the rest of a YAML line) replaced by a value
            // from a seed: an object where a number was, say.
            11 | 12 => replace_value(rng, &mut data, seeds),
            // Delete a long range.
            13 => {
                let end = (at + rng.below(len / 2 + 1)).min(len);
                data.drain(at..end);
            }
            // Truncate.
            _ => data.truncate(at),
        }
    }
    data
}

/// Where the JSON value starting at `start` ends (exclusive): balanced
/// brackets and strings, or a bare word up to a delimiter.
fn value_end(data: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = start;
    while i < data.len() {
        let b = data[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => {
                    in_string = false;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                b',' | b'}' | b']' | b'\n' if depth == 0 => return i,
                _ => {}
            }
        }
        i += 1;
    }
    data.len()
}

/// The positions just after every `": ` (JSON) or `: ` (YAML) in `data`.
fn value_starts(data: &[u8]) -> Vec<usize> {
    data.windows(2)
        .enumerate()
        .filter(|(_, w)| w == b": ")
        .map(|(i, _)| i + 2)
        .collect()
}

fn replace_value(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let targets = value_starts(data);
    let other = rng.pick(seeds);
    let sources = value_starts(other);
    if targets.is_empty() || sources.is_empty() {
        return;
    }
    let at = *rng.pick(&targets);
    let from = *rng.pick(&sources);
    let value = other[from..value_end(other, from)].to_vec();
    let end = value_end(data, at);
    data.splice(at..end, value);
}

fn trace_with(names: &[&str]) -> Trace {
    Trace {
        format: "secimport-trace".into(),
        version: secimport_policy::trace::TRACE_VERSION,
        command: vec![
            "/usr/bin/python3".into(),
            "app.py".into(),
            "-x: \"y\"".into(),
        ],
        interpreter: Interpreter {
            executable: "/usr/bin/python3".into(),
            version: "3.11.2".into(),
            build: "shared".into(),
            runtime_elf: "/usr/lib/libpython3.11.so".into(),
            import_roots: vec!["/srv".into()],
        },
        modules: names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let syscalls = [
                    "openat",
                    "read",
                    "execve",
                    "connect:inet",
                    "bogus",
                    "syscall_400",
                ]
                .iter()
                .take(1 + i % 6)
                .map(|s| (s.to_string(), i as u64 + 1))
                .collect();
                let module = ModuleTrace {
                    files: vec![format!("/srv/{n}.py")],
                    syscalls,
                    arguments: Default::default(),
                };
                (n.to_string(), module)
            })
            .collect(),
        buckets: Buckets {
            startup: [
                ("newfstatat".to_string(), 1),
                ("execve".to_string(), 1),
                ("mmap:exec".to_string(), 1),
            ]
            .into(),
            frameless: [("getcwd".to_string(), 1), ("openat:write".to_string(), 1)].into(),
            non_python: [("execve".to_string(), 1)].into(),
            truncated: [("openat".to_string(), 1)].into(),
            unreadable: Default::default(),
        },
        programs: Default::default(),
        processes: Vec::new(),
        counters: Counters::default(),
        exit_status: Some(0),
    }
}

fn hostile_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let trace = trace_with(&[
        "__main__",
        "json",
        "json.decoder",
        "pkg.a",
        "pkg.b",
        "<string>",
        "/opt/x y.py",
        "a\u{85}b",
    ]);
    let mut seeds = vec![trace.to_json().into_bytes()];
    for group_packages in [false, true] {
        let policy = build(
            &trace,
            &BuildOptions {
                group_packages,
                ..Default::default()
            },
        );
        seeds.push(policy.to_yaml().into_bytes());
        seeds.push(policy.to_json().into_bytes());
        // The same as a v1 file, which is read and upgraded.
        let v1 = policy
            .to_yaml()
            .replacen("secimport.dev/v2", "secimport.dev/v1", 1);
        assert!(v1.starts_with("apiVersion: secimport.dev/v1\n"), "{v1}");
        seeds.push(v1.into_bytes());
    }
    let mut files = Vec::new();
    files_under(&hostile_dir(), &mut files);
    files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples"),
        &mut files,
    );
    files.sort();
    for path in files {
        let is_input = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        let small = std::fs::metadata(&path).is_ok_and(|m| m.len() < 1 << 20);
        if is_input && small {
            seeds.push(std::fs::read(&path).unwrap());
        }
    }
    seeds
}

fn seconds() -> f64 {
    std::env::var("SECIMPORT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0)
}

fn seed(target: &str) -> u64 {
    let base = std::env::var("SECIMPORT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    // Different targets, different streams; never zero.
    (base
        ^ target.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        }))
        | 1
}

/// Runs `check` on the seeds, then on mutations of them, for the time budget.
fn fuzz(target: &str, check: fn(&[u8]), json_only: bool) {
    let seed = seed(target);
    let budget = Duration::from_secs_f64(seconds());
    let mut rng = Rng(seed);
    let mut corpus = seeds();
    if json_only {
        corpus.retain(|s| s.trim_ascii_start().first() == Some(&b'{'));
    }
    let start = Instant::now();
    let mut runs = 0u64;
    let mut case = 0usize;
    loop {
        let input = if case < corpus.len() {
            corpus[case].clone()
        } else {
            let base = rng.pick(&corpus).clone();
            mutate(&mut rng, &base, &corpus)
        };
        case += 1;
        // The parsers only ever see UTF-8 text: keep mutations that broke
        // it useful.
        let input = String::from_utf8_lossy(&input).into_owned().into_bytes();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        runs += 1;
        if let Err(panic) = outcome {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{target}-{seed}-{runs}"));
            std::fs::write(&file, &input).unwrap();
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "fuzz {target}: input {} broke a promise (SECIMPORT_FUZZ_SEED={seed}); \
                 add it to tests/hostile/ once fixed: {message}",
                file.display()
            );
        }
        // Keep some mutants as new bases, so that changes accumulate.
        if case > corpus.len() && rng.below(16) == 0 && corpus.len() < 4096 && input.len() < 1 << 16
        {
            corpus.push(input);
        }
        if start.elapsed() >= budget && case >= corpus.len() {
            break;
        }
    }
    eprintln!(
        "fuzz {target}: {runs} inputs in {:.1} s, no broken promise (SECIMPORT_FUZZ_SEED={seed})",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn fuzz_policy_parser() {
    fuzz("policy", fuzzing::policy, false);
}

#[test]
fn fuzz_trace_parser() {
    fuzz("trace", fuzzing::trace, true);
}

/// The mutator itself: deterministic for a seed, and it does change things.
#[test]
fn mutations_are_reproducible() {
    let seeds = seeds();
    let (mut a, mut b) = (Rng(42), Rng(42));
    let changed = (0..100)
        .filter(|_| {
            let x = mutate(&mut a, &seeds[1], &seeds);
            let y = mutate(&mut b, &seeds[1], &seeds);
            assert_eq!(x, y);
            x != seeds[1]
        })
        .count();
    assert!(changed > 80, "{changed}");
}
