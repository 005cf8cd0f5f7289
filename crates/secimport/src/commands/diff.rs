//! `secimport diff OLD NEW`: what NEW allows that OLD did not (see
//! [`secimport_policy::diff`] for the rule), as text or JSON; exit 1 when
//! NEW adds rights.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;

use anyhow::anyhow;
use secimport_policy::build::{build, BuildOptions};
use secimport_policy::diff::{self, Asked, Change, Diff, Entry, Frame, Row, Source, Violation};
use secimport_policy::policy::{Format, Mode, Policy, UnknownRule};
use secimport_policy::trace::Trace;

use crate::cli::{DiffArgs, UnknownArg};
use crate::commands::Failure;

/// Stack frames shown per violation in the text report (the JSON has all
/// the log has).
const FRAMES_SHOWN: usize = 12;

pub fn run(args: DiffArgs) -> Result<i32, Failure> {
    let opts = BuildOptions {
        group_packages: !args.no_group,
        exact: args.exact,
        mode: Mode::Log,
        unknown: match args.unknown {
            UnknownArg::BaseOnly => UnknownRule::BaseOnly,
            UnknownArg::Allow => UnknownRule::Allow,
            UnknownArg::Deny => UnknownRule::Deny,
        },
        name: None,
    };
    let (old, old_source) = load(&args.old, &opts)?;
    let (new, new_source) = load(&args.new, &opts)?;
    let mut violations = Vec::new();
    for path in &args.violations {
        violations.extend(read_violations(path)?);
    }
    let mut report = diff::diff(&old, &new, old_source, new_source);
    if !args.violations.is_empty() {
        diff::attach(&mut report, &old, &new, &violations);
    }
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&report).expect("a diff always serializes");
        s.push('\n');
        s
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        render(&report, colour, !args.violations.is_empty())
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::runtime(anyhow!("writing the report to stdout: {e}")))?;
    Ok(i32::from(report.adds))
}

/// A policy, or a trace built into the policy `secimport build` would make
/// of it (by content: a JSON file with a `format` field is a trace).
fn load(path: &Path, opts: &BuildOptions) -> Result<(Policy, Source), Failure> {
    let display = path.display().to_string();
    let source = |kind: &str| Source {
        path: display.clone(),
        kind: kind.to_string(),
    };
    let format = Format::from_path(path);
    if format == Some(Format::Yaml) {
        let policy = Policy::load(path).map_err(Failure::usage)?;
        return Ok((policy, source("policy")));
    }
    let text = secimport_policy::files::read_text(path).map_err(|error| {
        Failure::usage(anyhow!(
            "cannot read {display}: {error} (OLD and NEW are policies, .yaml, .yml or .json, or \
             traces written by `secimport trace`)"
        ))
    })?;
    let is_trace = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
        text.trim_start_matches('\u{feff}'),
    )
    .is_ok_and(|object| object.contains_key("format") && !object.contains_key("apiVersion"));
    if is_trace {
        let trace = Trace::from_json(&text, &display).map_err(Failure::usage)?;
        return Ok((build(&trace, opts), source("trace")));
    }
    match format {
        Some(format) => {
            let policy = Policy::parse(&text, &display, format).map_err(Failure::usage)?;
            Ok((policy, source("policy")))
        }
        None => Err(Failure::usage(anyhow!(
            "{display}: neither a policy nor a trace: policies end in .yaml, .yml or .json, and \
             a trace is the JSON file `secimport trace` writes (format \"secimport-trace\")"
        ))),
    }
}

/// The violations of a `secimport run` log (JSON Lines; `resumed` and
/// `summary` lines are skipped).
fn read_violations(path: &Path) -> Result<Vec<Violation>, Failure> {
    let display = path.display().to_string();
    let text = secimport_policy::files::read_text(path).map_err(|error| {
        Failure::usage(anyhow!(
            "cannot read the violation log {display}: {error} (write one with `secimport run \
             --policy OLD --mode log --log-file FILE`)"
        ))
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{display}:{}", i + 1);
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        let bad = |what: &str| {
            Failure::usage(anyhow!(
                "{at}: {what}; --violations takes the JSON Lines log of `secimport run \
                 --log-file FILE`"
            ))
        };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&format!("not a JSON line ({e})")))?;
        match value.get("event").and_then(|e| e.as_str()) {
            Some("violation") => {}
            Some(_) => continue,
            None => return Err(bad("a line without an \"event\" field")),
        }
        let record: LogRecord = serde_json::from_value(value)
            .map_err(|e| bad(&format!("not a violation record ({e})")))?;
        out.push(Violation {
            log: at,
            right: record.syscall,
            denied_by: record.denied_by,
            arguments: record
                .arguments
                .into_iter()
                .map(|a| (a.kind, a.value))
                .collect(),
            pid: record.pid,
            time: record.time,
            stack: record.stack,
        });
    }
    Ok(out)
}

/// The fields of a violation line that `diff` uses (others are ignored).
#[derive(serde::Deserialize)]
struct LogRecord {
    syscall: String,
    denied_by: Vec<String>,
    #[serde(default)]
    arguments: Vec<LogArgument>,
    pid: u32,
    time: String,
    stack: Vec<Frame>,
}

#[derive(serde::Deserialize)]
struct LogArgument {
    kind: String,
    value: String,
}

struct Paint {
    colour: bool,
}

impl Paint {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn added(&self, text: &str) -> String {
        self.paint("31", text)
    }
    fn dropped(&self, text: &str) -> String {
        self.paint("32", text)
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// The text report: one block per changed judge, `+` added, `-` dropped.
fn render(d: &Diff, colour: bool, with_logs: bool) -> String {
    let p = Paint { colour };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "secimport diff: OLD {} ({}) -> NEW {} ({})",
        d.old.path, d.old.kind, d.new.path, d.new.kind
    );
    if let Some(c) = &d.unknown {
        let _ = writeln!(
            s,
            "unknown: {} -> {}  (how modules no key names are judged; see (other modules))",
            c.old, c.new
        );
    }
    if let Some(c) = &d.mode {
        let _ = writeln!(
            s,
            "mode: {} -> {}  (how violations are handled; adds no right)",
            c.old, c.new
        );
    }
    for (name, change, note) in [
        (
            "base",
            &d.base,
            "every module, and unknown ones under base-only",
        ),
        ("startup", &d.startup, "no Python frame yet"),
        ("frameless", &d.frameless, "no Python frame after start-up"),
    ] {
        if change.adds() || change.drops() {
            let _ = writeln!(s, "{}  ({note})", p.bold(name));
            change_lines(&mut s, &p, change, name, "  ", with_logs);
        }
    }
    for (title, rows) in [("modules", &d.modules), ("programs", &d.programs)] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "{}", p.bold(&format!("{title}:")));
        for row in rows {
            row_lines(&mut s, &p, row, title == "modules", with_logs);
        }
    }
    let gained: Vec<&str> = d
        .modules
        .iter()
        .chain(&d.programs)
        .filter(|r| r.change.adds())
        .map(|r| r.name.as_str())
        .collect();
    let verdict = if d.adds {
        let mut who = crate::report::truncated_list(&gained, 10);
        if who.is_empty() {
            who = "the shared sets".to_string();
        }
        p.added(&format!(
            "NEW adds rights ({who}): review them; to accept, rebuild and commit the policy \
             (exit 1)"
        ))
    } else if d.drops {
        "NEW only drops rights (exit 0)".to_string()
    } else {
        "no change in what is allowed (exit 0)".to_string()
    };
    let _ = writeln!(s, "{verdict}");
    s
}

fn row_lines(s: &mut String, p: &Paint, row: &Row, module: bool, with_logs: bool) {
    let rule = |r: &Option<String>| match r {
        Some(k) if *k == row.name => "its entry".to_string(),
        Some(k) => format!("entry {k:?}"),
        None if module => "unknown".to_string(),
        None => "children".to_string(),
    };
    let note = match row.entry {
        Entry::Added => format!("  (new entry; OLD judged it by {})", rule(&row.old_rule)),
        Entry::Removed => format!(
            "  (entry removed; NEW judges it by {})",
            rule(&row.new_rule)
        ),
        Entry::Kept if row.old_rule != row.new_rule => format!(
            "  (judged by {} in OLD, {} in NEW)",
            rule(&row.old_rule),
            rule(&row.new_rule)
        ),
        Entry::Kept => String::new(),
    };
    let mark = if row.change.adds() {
        p.added("+")
    } else if row.change.drops() {
        p.dropped("-")
    } else {
        "=".to_string()
    };
    let _ = writeln!(s, "  {mark} {}{note}", p.bold(&row.name));
    if !row.change.adds() && !row.change.drops() {
        let _ = writeln!(s, "      allows the same as before");
    }
    change_lines(s, p, &row.change, &row.name, "      ", with_logs);
}

fn change_lines(s: &mut String, p: &Paint, c: &Change, row: &str, indent: &str, with_logs: bool) {
    if c.added_any {
        let _ = writeln!(s, "{indent}{}", p.added("+ every right (unknown: allow)"));
    }
    if !c.added.is_empty() {
        let _ = writeln!(
            s,
            "{indent}{}",
            p.added(&format!("+ {}", c.added.join(" ")))
        );
    }
    if c.dropped_any {
        let _ = writeln!(
            s,
            "{indent}{}",
            p.dropped("- every right but its list (was unknown: allow)")
        );
    }
    if !c.dropped.is_empty() {
        let _ = writeln!(
            s,
            "{indent}{}",
            p.dropped(&format!("- {}", c.dropped.join(" ")))
        );
    }
    for (kind, v) in &c.arguments {
        // Any value of any right is already said by "every right".
        let mut added = v.added.clone();
        if v.added_any && !c.added_any {
            added.insert(0, "* (any)".to_string());
        }
        let mut dropped = v.dropped.clone();
        if v.dropped_any && !c.dropped_any {
            dropped.insert(0, "* (any)".to_string());
        }
        if !added.is_empty() {
            let _ = writeln!(
                s,
                "{indent}{}",
                p.added(&format!("+ {kind}: {}", added.join(" ")))
            );
        }
        if !dropped.is_empty() {
            let _ = writeln!(
                s,
                "{indent}{}",
                p.dropped(&format!("- {kind}: {}", dropped.join(" ")))
            );
        }
    }
    // Rights first asked for by the same stack share one listing.
    let mut groups: Vec<(&[Frame], Vec<&Asked>)> = Vec::new();
    for asked in &c.first_asked {
        match groups
            .iter_mut()
            .find(|(stack, _)| *stack == asked.stack.as_slice())
        {
            Some((_, group)) => group.push(asked),
            None => groups.push((&asked.stack, vec![asked])),
        }
    }
    for (stack, group) in groups {
        asked_lines(s, row, stack, &group, indent);
    }
    if with_logs && c.adds() && c.first_asked.is_empty() {
        let _ = writeln!(
            s,
            "{indent}(no violation in the --violations logs asked for it)"
        );
    }
}

fn asked_lines(s: &mut String, row: &str, stack: &[Frame], group: &[&Asked], indent: &str) {
    let what: Vec<String> = group
        .iter()
        .map(|a| {
            let mut text = a.right.clone();
            if let Some(value) = &a.value {
                let _ = write!(text, " {value}");
            }
            let by = if a.module == row {
                String::new()
            } else {
                format!("by {}, ", a.module)
            };
            let _ = write!(text, " ({by}pid {}, {})", a.pid, a.log);
            text
        })
        .collect();
    let _ = writeln!(s, "{indent}first asked for {}, at:", what.join("; "));
    if stack.is_empty() {
        let _ = writeln!(s, "{indent}  (no Python frame)");
    }
    for f in stack.iter().take(FRAMES_SHOWN) {
        let line = f.line.map_or_else(|| "?".to_string(), |l| l.to_string());
        let _ = writeln!(
            s,
            "{indent}  {}:{line} in {}  [{}]",
            f.file, f.function, f.module
        );
    }
    if stack.len() > FRAMES_SHOWN {
        let _ = writeln!(
            s,
            "{indent}  ... {} more frames (see --json or the log)",
            stack.len() - FRAMES_SHOWN
        );
    }
}
