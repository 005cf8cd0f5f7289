//! Writes policies as YAML by hand, because serde_norway (like serde_yaml,
//! which it forks, and serde_yaml_ng) can only write lists one item a line,
//! and a policy of a real program has thousands of modules: flow lists
//! (`[openat, read]`) keep one module's rule on one or two lines.
//!
//! Scalars are written plain only when they are unmistakably strings;
//! anything else is double-quoted, with every character YAML would not keep
//! as it is escaped: control characters (C0, DEL, C1), the characters YAML
//! reads as line breaks (U+0085, U+2028, U+2029), the byte-order mark and
//! the non-characters U+FFFE/U+FFFF. A key longer than YAML's 1,024-character
//! limit for implicit keys is written as an explicit key (`? "..."` then
//! `: [...]`). Tests (and a property test over arbitrary strings) check that
//! serde_norway reads back exactly what was written.

use std::fmt::Write;

use super::{Policy, API_VERSION, KIND};

/// Flow lists are wrapped before this column.
const WIDTH: usize = 100;

/// Longer keys (in bytes, as written) are written as explicit keys: YAML
/// reads an implicit key of at most 1,024 characters.
const MAX_IMPLICIT_KEY: usize = 1000;

pub(super) fn to_yaml(policy: &Policy) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "apiVersion: {API_VERSION}");
    let _ = writeln!(out, "kind: {KIND}");
    out.push_str("metadata:\n");
    let metadata = &policy.metadata;
    let _ = writeln!(out, "  name: {}", scalar(&metadata.name));
    if let Some(description) = &metadata.description {
        let _ = writeln!(out, "  description: {}", scalar(description));
    }
    if let Some(from) = &metadata.generated_from {
        out.push_str("  generatedFrom:");
        let mut empty = true;
        if !from.command.is_empty() {
            out.push('\n');
            flow_entry(
                &mut out,
                4,
                "command",
                from.command.iter().map(String::as_str),
            );
            empty = false;
        }
        for (key, value) in [
            ("interpreter", &from.interpreter),
            ("pythonVersion", &from.python_version),
        ] {
            if let Some(value) = value {
                if empty {
                    out.push('\n');
                }
                let _ = writeln!(out, "    {key}: {}", scalar(value));
                empty = false;
            }
        }
        if empty {
            out.push_str(" {}\n");
        }
    }
    out.push_str("spec:\n");
    let spec = &policy.spec;
    let _ = writeln!(out, "  mode: {}", spec.mode);
    let _ = writeln!(out, "  unknown: {}", spec.unknown);
    flow_entry(&mut out, 2, "base", spec.base.iter().map(|s| s.name()));
    flow_entry(
        &mut out,
        2,
        "startup",
        spec.startup.iter().map(|s| s.name()),
    );
    flow_entry(
        &mut out,
        2,
        "frameless",
        spec.frameless.iter().map(|s| s.name()),
    );
    flow_entry(
        &mut out,
        2,
        "children",
        spec.children.iter().map(|s| s.name()),
    );
    if !spec.programs.is_empty() {
        out.push_str("  programs:\n");
        for (path, syscalls) in &spec.programs {
            let key = scalar(path);
            if key.len() > MAX_IMPLICIT_KEY {
                let _ = writeln!(out, "    ? {key}");
                flow_list(&mut out, 4, "    : [", syscalls.iter().map(|s| s.name()));
            } else {
                flow_entry(&mut out, 4, &key, syscalls.iter().map(|s| s.name()));
            }
        }
    }
    if spec.modules.is_empty() {
        out.push_str("  modules: {}\n");
    } else {
        out.push_str("  modules:\n");
        for (key, syscalls) in &spec.modules {
            let key = scalar(key.as_str());
            if key.len() > MAX_IMPLICIT_KEY {
                let _ = writeln!(out, "    ? {key}");
                flow_list(&mut out, 4, "    : [", syscalls.iter().map(|s| s.name()));
            } else {
                flow_entry(&mut out, 4, &key, syscalls.iter().map(|s| s.name()));
            }
        }
    }
    if !spec.arguments.is_empty() {
        out.push_str("  arguments:\n");
        for (key, arguments) in &spec.arguments {
            let key = scalar(key.as_str());
            let explicit = key.len() > MAX_IMPLICIT_KEY;
            let head = match explicit {
                true => format!("    ? {key}\n    :"),
                false => format!("    {key}:"),
            };
            if arguments.is_empty() {
                let _ = writeln!(out, "{head} {{}}");
                continue;
            }
            let _ = writeln!(out, "{head}");
            for kind in crate::arguments::Kind::ALL {
                let Some(patterns) = arguments.texts(kind) else {
                    continue;
                };
                flow_list_with(
                    &mut out,
                    6,
                    &format!("      {kind}: ["),
                    patterns.iter().map(String::as_str),
                    pattern_scalar,
                );
            }
        }
    }
    out
}

/// A pattern of `spec.arguments` as a YAML scalar: plain when it is a path
/// pattern that [`scalar`] would write plain but for its `*`s (a `*` only
/// starts an alias at the start of a scalar), else as [`scalar`] writes it.
fn pattern_scalar(text: &str) -> String {
    if text.starts_with('/') && is_plain_safe(&text.replace('*', "x")) {
        text.to_string()
    } else {
        scalar(text)
    }
}

/// `key: [a, b, c]` at `indent`, wrapped at [`WIDTH`] with continuation lines
/// indented four more than the key.
fn flow_entry<'a>(
    out: &mut String,
    indent: usize,
    key: &str,
    items: impl Iterator<Item = &'a str>,
) {
    flow_list(out, indent, &format!("{:indent$}{key}: [", ""), items);
}

/// `head` (a line up to and including the `[`), then the flow list, wrapped
/// like [`flow_entry`].
fn flow_list<'a>(
    out: &mut String,
    indent: usize,
    head: &str,
    items: impl Iterator<Item = &'a str>,
) {
    flow_list_with(out, indent, head, items, scalar);
}

/// [`flow_list`], each item written by `write`.
fn flow_list_with<'a>(
    out: &mut String,
    indent: usize,
    head: &str,
    items: impl Iterator<Item = &'a str>,
    write: fn(&str) -> String,
) {
    let mut line = head.to_string();
    let mut first = true;
    for item in items {
        let item = write(item);
        if first {
            line.push_str(&item);
            first = false;
            continue;
        }
        // Room for ", item" and the closing "]" or ",".
        if line.chars().count() + 2 + item.chars().count() + 1 > WIDTH {
            line.push(',');
            out.push_str(&line);
            out.push('\n');
            line = format!("{:width$}{item}", "", width = indent + 4);
        } else {
            line.push_str(", ");
            line.push_str(&item);
        }
    }
    line.push(']');
    out.push_str(&line);
    out.push('\n');
}

/// `text` as a YAML scalar that reads back as the same string, in block and
/// flow context alike.
fn scalar(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_string()
    } else {
        double_quoted(text)
    }
}

/// `text` in double quotes, escaped as YAML reads it back.
fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if needs_escape(c) => {
                let _ = match u32::from(c) {
                    n @ 0..=0xFFFF => write!(out, "\\u{n:04X}"),
                    n => write!(out, "\\U{n:08X}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters a YAML reader refuses in a document (C0 and C1 controls, DEL,
/// U+FFFE, U+FFFF), reads as line breaks (U+0085, U+2028, U+2029: inside
/// quotes they would be folded) or may drop (the byte-order mark U+FEFF).
fn needs_escape(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}')
        || matches!(c, '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

/// Plain scalars we write: an identifier-like start, then identifier
/// characters, dots, dashes and slashes; never a word YAML 1.1 reads as a
/// boolean or null.
fn is_plain_safe(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let ok_start = first == '_' || first.is_ascii_alphabetic() || first == '/';
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
    ok_start && ok_rest && !is_special_word(text)
}

fn is_special_word(text: &str) -> bool {
    matches!(
        text.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "true" | "false" | "on" | "off" | "null"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_quoted() {
        for plain in [
            "read",
            "json.decoder",
            "__main__",
            "/usr/lib/python3.11/x.py",
            "base-only",
            "secimport.dev/v1",
        ] {
            assert_eq!(scalar(plain), plain);
        }
        for (text, quoted) in [
            ("torch.*", r#""torch.*""#),
            ("<string>", r#""<string>""#),
            (
                "<frozen importlib._bootstrap>",
                r#""<frozen importlib._bootstrap>""#,
            ),
            ("", r#""""#),
            ("yes", r#""yes""#),
            ("Null", r#""Null""#),
            ("3.11.7", r#""3.11.7""#),
            ("a b", r#""a b""#),
            ("a: b", r#""a: b""#),
            ("a,b", r#""a,b""#),
            ("say \"hi\"\n", r#""say \"hi\"\n""#),
            ("modèle", r#""modèle""#),
            ("-x", r#""-x""#),
            // What YAML refuses, folds or drops is escaped.
            ("a\u{7f}b", r#""a\u007Fb""#),
            ("\u{85}", r#""\u0085""#),
            ("\u{2028}\u{2029}", r#""\u2028\u2029""#),
            ("\u{fffe}\u{ffff}", r#""\uFFFE\uFFFF""#),
            ("\u{feff}x", r#""\uFEFFx""#),
            ("\u{9f}\u{1}\u{1b}", r#""\u009F\u0001\u001B""#),
            ("nul\0", r#""nul\0""#),
            ("back\\slash\r", r#""back\\slash\r""#),
            ("😀 \u{10ffff}", "\"😀 \u{10ffff}\""),
        ] {
            assert_eq!(scalar(text), quoted, "{text:?}");
        }
    }

    /// Past YAML's limit for implicit keys, a key is written as an explicit
    /// one; the limit counts the key as written (escapes included).
    #[test]
    fn long_keys_are_explicit() {
        let mut policy = Policy::new("p");
        let set: super::super::SyscallSet = ["openat"]
            .iter()
            .map(|n| super::super::Syscall::parse(n).unwrap())
            .collect();
        let short = "k".repeat(MAX_IMPLICIT_KEY);
        let long = "k".repeat(MAX_IMPLICIT_KEY + 1);
        let escaped = "\u{85}".repeat(200);
        for key in [&short, &long, &escaped] {
            policy.spec.modules.insert(
                super::super::ModulePattern::parse(key).unwrap(),
                set.clone(),
            );
        }
        let yaml = to_yaml(&policy);
        assert!(yaml.contains(&format!("\n    {short}: [openat]\n")));
        assert!(yaml.contains(&format!("\n    ? {long}\n    : [openat]\n")));
        assert!(yaml.contains(&format!(
            "\n    ? \"{}\"\n    : [openat]\n",
            "\\u0085".repeat(200)
        )));
        let back = Policy::parse(&yaml, "p.yaml", super::super::Format::Yaml).unwrap();
        assert_eq!(back, policy);
    }

    /// Arguments of a key past the implicit-key limit are written under an
    /// explicit key; path patterns are plain, addresses quoted.
    #[test]
    fn arguments_of_long_keys() {
        use crate::arguments::Arguments;
        let mut policy = Policy::new("p");
        let set: super::super::SyscallSet = ["execve", "connect:inet"]
            .iter()
            .map(|n| super::super::Syscall::parse(n).unwrap())
            .collect();
        let long = "k".repeat(MAX_IMPLICIT_KEY + 1);
        let longer = "l".repeat(MAX_IMPLICIT_KEY + 1);
        let full = Arguments {
            exec: Some(
                ["/usr/bin/git", "/opt/x/**"]
                    .iter()
                    .map(|p| p.parse().unwrap())
                    .collect(),
            ),
            connect: Some(["127.0.0.1:*"].iter().map(|p| p.parse().unwrap()).collect()),
            ..Arguments::default()
        };
        for (key, arguments) in [
            ("short", &full),
            (&long, &full),
            (&longer, &Arguments::default()),
        ] {
            let key = super::super::ModulePattern::parse(key).unwrap();
            policy.spec.modules.insert(key.clone(), set.clone());
            policy.spec.arguments.insert(key, arguments.clone());
        }
        let yaml = to_yaml(&policy);
        let exec = "      exec: [/opt/x/**, /usr/bin/git]\n      connect: [\"127.0.0.1:*\"]\n";
        assert!(
            yaml.contains(&format!("\n    ? {long}\n    :\n{exec}")),
            "{yaml}"
        );
        assert!(
            yaml.contains(&format!("\n    ? {longer}\n    : {{}}\n")),
            "{yaml}"
        );
        assert!(yaml.contains(&format!("\n    short:\n{exec}")), "{yaml}");
        let back = Policy::parse(&yaml, "p.yaml", super::super::Format::Yaml).unwrap();
        assert_eq!(back, policy);
    }

    #[test]
    fn pattern_scalars() {
        for plain in ["/usr/bin/git", "/srv/out/*", "/tmp/**", "/**", "/a-b/c_d.e"] {
            assert_eq!(pattern_scalar(plain), plain);
        }
        for quoted in [
            "127.0.0.1:*",
            "[::1]:80",
            "unix:/x",
            "/a b",
            "/yes/*:x",
            "/a,b/*",
        ] {
            assert_eq!(pattern_scalar(quoted), scalar(quoted), "{quoted}");
            assert!(pattern_scalar(quoted).starts_with('"'), "{quoted}");
        }
    }

    #[test]
    fn wraps_long_lists() {
        let names: Vec<String> = (0..40).map(|i| format!("name_{i:02}")).collect();
        let mut out = String::new();
        flow_entry(&mut out, 2, "base", names.iter().map(String::as_str));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 1, "{out}");
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH), "{out}");
        assert!(lines[0].starts_with("  base: [name_00, name_01,"));
        assert!(lines[1].starts_with("      name_"));
        assert!(out.ends_with("name_39]\n"));
        let mut out = String::new();
        flow_entry(&mut out, 2, "children", std::iter::empty());
        assert_eq!(out, "  children: []\n");
    }
}
