//! Text from a file, made fit for a one-line message: control characters
//! and line breaks escaped, and cut when long, so that a hostile file cannot
//! flood the terminal or forge lines of output through an error message.

/// Past this many characters, text in a message is cut.
const MAX_SHOWN: usize = 120;

/// Past this many characters, a whole message from a parser is cut.
const MAX_MESSAGE: usize = 600;

/// `text` for a message: escaped, and cut past 120 characters (saying how
/// long it was).
pub(crate) fn shown(text: &str) -> String {
    cut(text, MAX_SHOWN)
}

/// A parser's message (which may quote the file): escaped and cut.
pub(crate) fn message(text: &str) -> String {
    cut(text, MAX_MESSAGE)
}

fn cut(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    let mut rest = text.chars();
    for c in rest.by_ref() {
        let before = out.len();
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        // Escapes count as what they take on screen.
        shown += out[before..].chars().count();
        if shown > max {
            out.truncate(before);
            let count = text.chars().count();
            out.push_str(&format!("... ({count} characters)"));
            return out;
        }
    }
    out
}

/// Control characters, line and paragraph separators, the byte-order mark,
/// bidirectional overrides and non-characters.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{feff}'
                | '\u{fffe}'
                | '\u{ffff}'
                | '\u{200e}'
                | '\u{200f}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(shown("openat"), "openat");
        assert_eq!(shown("a\nb\u{85}c\u{7f}"), "a\\nb\\u{85}c\\u{7f}");
        assert_eq!(shown("é中😀"), "é中😀");
        let long = "x".repeat(200);
        assert_eq!(
            shown(&long),
            format!("{}... (200 characters)", "x".repeat(120))
        );
        assert_eq!(message(&long), long);
    }
}
