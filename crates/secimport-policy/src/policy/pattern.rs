//! Keys of `spec.modules`: exact module names and globs over dotted names.
//!
//! The rules (also in [`ModulePattern`]'s documentation, which users read in
//! the JSON Schema):
//!
//! - A key without `*` is an exact name. So is any key in angle brackets
//!   (`<frozen importlib._bootstrap>`, `<string>`) and any key containing `/`
//!   (a file outside every import root, `/opt/tool/x.py`), even with a `*`.
//! - Otherwise the key is a glob: dotted components, each made of identifier
//!   characters and `*`. A `*` matches any run of characters (possibly none)
//!   *within one component*: `pkg.test_*` matches `pkg.test_io` but not
//!   `pkg.test_io.helpers`, `*.tests` matches `a.tests` but not `a.b.tests`.
//! - A final `.*` rules a package as a whole: `pkg.*` matches `pkg` itself and
//!   every module under it at any depth (`pkg.a`, `pkg.a.b`). A bare `*`
//!   matches every dotted module name.
//! - Globs never match pseudo-names or paths (names starting with `<` or
//!   containing `/`); those are ruled by exact keys only.
//! - Precedence: an exact key beats every glob; among matching globs the one
//!   with the longest literal prefix (the text before its first `*`) wins, then
//!   the one with more literal characters, then a fixed-depth glob over a
//!   package-wide one (`pkg.*_io` over `pkg.*`), then the smaller key in
//!   byte order, so the choice never depends on file order.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;

/// A key of `spec.modules`: an exact module name or a glob over dotted names.
#[derive(Debug, Clone)]
pub struct ModulePattern {
    text: String,
    glob: Option<Glob>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    /// Components, without the final `*` of a package-wide glob.
    components: Vec<String>,
    /// The glob ended in `.*` (or is a bare `*`): any depth below, and the
    /// package itself.
    subtree: bool,
    /// Leading components without `*`.
    anchor_len: usize,
}

/// Why a key of `spec.modules` is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    EmptyComponent,
    DoubleStar,
    BadCharacter(char),
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::EmptyComponent => f.write_str(
                "a glob has an empty component (`..`, or a leading or trailing `.`); write dotted \
                 names like `pkg.*` or `pkg.sub.*`",
            ),
            PatternError::DoubleStar => f.write_str(
                "`**` is not a wildcard here; `pkg.*` already matches `pkg` and every module under \
                 it, at any depth",
            ),
            PatternError::BadCharacter(c) => write!(
                f,
                "`{c}` cannot appear in a glob; globs are dotted module names in which `*` (the \
                 only wildcard) matches any run of characters within one component"
            ),
        }
    }
}

impl ModulePattern {
    /// Checks `text` as a key of `spec.modules` (see the module documentation).
    /// Only globs can be invalid: any other text is an exact name.
    pub fn parse(text: &str) -> Result<ModulePattern, PatternError> {
        if !text.contains('*') || is_literal_only(text) {
            return Ok(ModulePattern {
                text: text.to_string(),
                glob: None,
            });
        }
        let mut components: Vec<String> = Vec::new();
        for component in text.split('.') {
            if component.is_empty() {
                return Err(PatternError::EmptyComponent);
            }
            if component.contains("**") {
                return Err(PatternError::DoubleStar);
            }
            if let Some(c) = component
                .chars()
                .find(|&c| !(c == '*' || c == '_' || c.is_alphanumeric()))
            {
                return Err(PatternError::BadCharacter(c));
            }
            components.push(component.to_string());
        }
        let subtree = components.last().map(String::as_str) == Some("*");
        if subtree {
            components.pop();
        }
        let anchor_len = components.iter().take_while(|c| !c.contains('*')).count();
        Ok(ModulePattern {
            text: text.to_string(),
            glob: Some(Glob {
                components,
                subtree,
                anchor_len,
            }),
        })
    }

    /// The key as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for globs, false for exact names.
    pub fn is_glob(&self) -> bool {
        self.glob.is_some()
    }

    /// Whether this key rules the module called `name` (ignoring precedence).
    pub fn matches(&self, name: &str) -> bool {
        match &self.glob {
            None => self.text == name,
            Some(glob) => glob.matches(name),
        }
    }

    /// The leading components without `*`, joined by dots (`torch.nn` for
    /// `torch.nn.*`, `` for `*.tests`); `None` for exact names. A glob can
    /// only match names that have this as a whole-component prefix.
    pub(crate) fn anchor(&self) -> Option<String> {
        self.glob
            .as_ref()
            .map(|g| g.components[..g.anchor_len].join("."))
    }

    /// Orders matching globs: the greater is the more specific.
    pub(crate) fn specificity(&self) -> (usize, usize, bool) {
        let prefix = self.text.find('*').unwrap_or(self.text.len());
        let literal = self.text.chars().filter(|&c| c != '*').count();
        let fixed_depth = !self.glob.as_ref().is_some_and(|g| g.subtree);
        (prefix, literal, fixed_depth)
    }
}

/// Pseudo-names and paths are names, never globs.
fn is_literal_only(text: &str) -> bool {
    crate::naming::is_pseudo(text) || text.contains('/')
}

/// Names a glob may match: not pseudo-names, not paths.
pub(crate) fn is_globbable(name: &str) -> bool {
    !name.starts_with('<') && !name.contains('/')
}

impl Glob {
    fn matches(&self, name: &str) -> bool {
        if !is_globbable(name) {
            return false;
        }
        let mut parts = name.split('.');
        for component in &self.components {
            match parts.next() {
                Some(part) if component_matches(component, part) => {}
                _ => return false,
            }
        }
        // A bare `*` (no components) needs a name, even one of one component.
        if self.subtree {
            !(self.components.is_empty() && name.is_empty())
        } else {
            parts.next().is_none()
        }
    }
}

/// `*` matches any run of characters (the caller has split at dots).
fn component_matches(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        // No `*` at all.
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl PartialEq for ModulePattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ModulePattern {}

impl PartialOrd for ModulePattern {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// By key text, so maps of patterns are sorted as they are written.
impl Ord for ModulePattern {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl std::hash::Hash for ModulePattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Borrow<str> for ModulePattern {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ModulePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for ModulePattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModulePattern::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> ModulePattern {
        ModulePattern::parse(text).unwrap()
    }

    #[test]
    fn exact_names() {
        for name in [
            "json.decoder",
            "__main__",
            "<frozen importlib._bootstrap>",
            "<string>",
            "/opt/tool/x.py",
            "/opt/*/x.py",
            "<frozen *>",
            "relative/*.py",
            "setup.py",
            "",
            " spaced name ",
        ] {
            let pattern = p(name);
            assert!(!pattern.is_glob(), "{name}");
            assert!(pattern.matches(name), "{name}");
            assert!(!pattern.matches(&format!("{name}x")), "{name}");
            assert_eq!(pattern.anchor(), None);
        }
    }

    #[test]
    fn package_wide_globs_include_the_package() {
        let g = p("pkg.*");
        assert!(g.is_glob());
        for yes in ["pkg", "pkg.a", "pkg.a.b", "pkg.a.b.c"] {
            assert!(g.matches(yes), "{yes}");
        }
        for no in ["pk", "pkgx", "pkgx.a", "other.pkg", "", "<pkg>", "pkg/a"] {
            assert!(!g.matches(no), "{no}");
        }
        assert_eq!(g.anchor().as_deref(), Some("pkg"));
        let deep = p("torch.nn.*");
        assert!(deep.matches("torch.nn"));
        assert!(deep.matches("torch.nn.modules.module"));
        assert!(!deep.matches("torch"));
        assert!(!deep.matches("torch.nnx"));
        assert_eq!(deep.anchor().as_deref(), Some("torch.nn"));
    }

    #[test]
    fn stars_stay_within_one_component() {
        let g = p("pkg.test_*");
        assert!(g.matches("pkg.test_io"));
        assert!(g.matches("pkg.test_"));
        assert!(!g.matches("pkg.test_io.helpers"));
        assert!(!g.matches("pkg"));
        let g = p("*.tests");
        assert!(g.matches("a.tests"));
        assert!(!g.matches("a.b.tests"));
        assert!(!g.matches("tests"));
        assert_eq!(g.anchor().as_deref(), Some(""));
        let g = p("a.*.c");
        assert!(g.matches("a.b.c"));
        assert!(!g.matches("a.c"));
        assert!(!g.matches("a.b.b.c"));
        let g = p("x.*_pb2");
        assert!(g.matches("x.api_pb2"));
        assert!(g.matches("x._pb2"));
        assert!(!g.matches("x.api_pb3"));
        let g = p("*a*b*");
        assert!(g.matches("ab"));
        assert!(g.matches("xaxbx"));
        assert!(!g.matches("ba"));
        assert!(!g.matches("a.b"));
        let g = p("a.*.*");
        assert!(!g.matches("a"));
        assert!(g.matches("a.b"));
        assert!(g.matches("a.b.c.d"));
    }

    #[test]
    fn a_bare_star_matches_every_dotted_name() {
        let g = p("*");
        assert_eq!(g.anchor().as_deref(), Some(""));
        for yes in ["a", "__main__", "a.b.c"] {
            assert!(g.matches(yes), "{yes}");
        }
        for no in ["", "<string>", "/x.py", "dir/x.py"] {
            assert!(!g.matches(no), "{no}");
        }
    }

    #[test]
    fn bad_globs() {
        for (text, error) in [
            (" json.*", PatternError::BadCharacter(' ')),
            ("pkg..*", PatternError::EmptyComponent),
            (".*", PatternError::EmptyComponent),
            ("pkg.*.", PatternError::EmptyComponent),
            ("pkg.**", PatternError::DoubleStar),
            ("pkg.?*", PatternError::BadCharacter('?')),
            ("pkg-1.*", PatternError::BadCharacter('-')),
            ("pkg.[ab]*", PatternError::BadCharacter('[')),
        ] {
            assert_eq!(ModulePattern::parse(text).unwrap_err(), error, "{text:?}");
        }
    }

    #[test]
    fn specificity_orders_globs() {
        let order = ["*", "a.*", "a.*_x", "a.b*", "a.b.*", "a.b.c*"];
        for pair in order.windows(2) {
            assert!(
                p(pair[0]).specificity() < p(pair[1]).specificity(),
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
        assert!(p("x.*.*").specificity() < p("x.*.y").specificity());
        // Same literal prefix and literal count: fixed depth wins.
        assert_eq!(p("a.*.*").specificity().0, p("a.*x").specificity().0);
        assert_eq!(p("a.*.*").specificity().1, p("a.*x").specificity().1);
        assert!(p("a.*.*").specificity() < p("a.*x").specificity());
    }

    #[test]
    fn ordered_and_borrowed_as_text() {
        let mut keys = [p("b"), p("a.*"), p("<string>"), p("a")];
        keys.sort();
        let texts: Vec<&str> = keys.iter().map(ModulePattern::as_str).collect();
        assert_eq!(texts, ["<string>", "a", "a.*", "b"]);
        let map: std::collections::BTreeMap<ModulePattern, u8> = [(p("a.*"), 1)].into();
        assert_eq!(map.get("a.*"), Some(&1));
    }
}
