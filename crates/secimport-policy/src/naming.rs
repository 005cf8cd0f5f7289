//! Module names: how a code object's `co_filename` becomes the name policies use.
//!
//! - a pseudo-name in angle brackets stays as it is (`<frozen importlib._bootstrap>`,
//!   `<string>`);
//! - the entry script is `__main__`;
//! - a `.py` file under an import root becomes the dotted name of its path
//!   relative to the longest such root (`json/decoder.py` -> `json.decoder`,
//!   `json/__init__.py` -> `json`), zip archives on the path working like
//!   directories;
//! - anything else (outside every root, not a `.py` file, or with a path
//!   component that is not a Python identifier, like `foo-1.0.dist-info`) keeps
//!   its path as it is;
//! - a path (the last case) that lies below a temporary root has its random
//!   temporary components replaced by fixed placeholders containing `*`
//!   (`/tmp/pip-req-build-k3j2h1x0/setup.py` -> `/tmp/pip-req-build-*/setup.py`),
//!   so the same program gets the same names run after run (see below).
//!
//! Everything is lexical: no file system access, so the names are the same on
//! any machine given the same roots (and temporary roots).
//!
//! # Random temporary components
//!
//! Temporary roots are `/tmp`, `/var/tmp`, `/usr/tmp` and `/dev/shm`
//! ([`STANDARD_TEMP_ROOTS`]), plus the directories named by `$TMPDIR`, `$TEMP`
//! and `$TMP` (the variables Python's `tempfile.gettempdir()` reads):
//! [`Namer::new`] takes them from secimport's own environment, which a program
//! it starts inherits; [`Namer::with_temp_dirs`] sets them instead (say, from
//! the environment of a process secimport attaches to). A temporary root must
//! be absolute and is normalized; `/` is never one. Only the components
//! *below* the shortest temporary root containing the path are examined (the
//! components of the root itself are kept: with `TMPDIR=/home/u/tmpab12cd34`,
//! `tmpab12cd34` stays), and nothing outside every temporary root is
//! rewritten (a checkout in `/home/u/tmpab12cd34` is not temporary), nor are
//! relative paths.
//!
//! Below a temporary root, a component is random when one of these rules
//! matches it (tried in this order); its random part becomes `*`:
//!
//! 1. pip (`tempfile.mkdtemp(prefix=f"pip-{kind}-")`): `pip-<kind>-<R>`, where
//!    `<kind>` is one or more runs of `[a-z]` joined by `-` and `<R>` is exactly
//!    8 characters of `[a-z0-9_]` ending the component, letters only included
//!    (the prefix is distinctive enough):
//!    `pip-req-build-tamqk3us` -> `pip-req-build-*`, `pip-build-env-s4qigxsh`
//!    -> `pip-build-env-*`, `pip-pip-egg-info-50l0whgp` -> `pip-pip-egg-info-*`.
//! 2. pytest (`tmp_path`, `tmp_path_factory`): `pytest-of-<user>` (any
//!    non-empty user) -> `pytest-of-*`; `pytest-<digits>` -> `pytest-*`; and a
//!    component directly below a `pytest-<digits>` one that ends in ASCII
//!    digits loses them all: `test_x0` -> `test_x*`, `data12` -> `data*`.
//! 3. C library templates (`mkdtemp(3)`, `mkstemp(3)`, `mktemp(1)`, whose `X`s
//!    become `[A-Za-z0-9]`): PyInstaller's `_MEI<R>` with `<R>` exactly 6
//!    ASCII alphanumerics -> `_MEI*`; and `<name>.<R>` (non-empty name, `<R>`
//!    the text after the last `.`) where `<R>` is at least 6 ASCII
//!    alphanumerics with an uppercase letter, a lowercase letter or digit, and
//!    either a digit or an uppercase letter after its first character:
//!    `tmp.Vx3kQ9aZ0b` (`mktemp -d`) -> `tmp.*`, `secimport-demo.gaGP3Y`
//!    (`mktemp -d -t secimport-demo.XXXXXX`) -> `secimport-demo.*`; not
//!    `build.Release`, `db.sqlite3`.
//! 4. Python's `tempfile` (`mkdtemp`, `mkstemp`, `TemporaryDirectory`,
//!    `NamedTemporaryFile`: prefix + 8 random characters of `[a-z0-9_]` +
//!    suffix, the prefix `tmp` by default): every run `<R>` of exactly 8
//!    characters of `[a-z0-9_]` such that the text before it is exactly `tmp`
//!    (then any such run: one in 17 is all letters, `tmpeerfcsyt`), or is
//!    non-empty and ends in ASCII punctuation other than `_` and `*` (`-`, `.`,
//!    `+`, `~`, ...) and the run holds a digit or `_`; and the text after it is
//!    empty or starts with such punctuation:
//!    `tmpab12cd34` -> `tmp*`, `tmpab12cd34.py` -> `tmp*.py`, `pymp-k2_3xq9a`
//!    -> `pymp-*`, `build-0a1b2c3d.d` -> `build-*.d`.
//!
//! The rules are conservative: they miss some random names rather than merge
//! real ones. A `tempfile` name whose 8 random characters are all letters
//! (about 6% of them) is not recognised (except after `pip-<kind>-`), nor is a
//! 6-character C template without an uppercase letter (about 4%); such a run
//! still gets a name of its own. [`has_random_temp_component`] says whether a
//! name still holds a component the rules recognise (none does once named).
//!
//! A name with a placeholder always contains `/`, so a policy takes it as an
//! exact key, never as a glob (see `policy::pattern`): the `*` is part of the
//! name, and one entry covers every run's directory. (A real directory called
//! `tmp*` would share that name; secimport accepts this.)

/// Names the modules of one interpreter run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namer {
    /// Normalized import roots, longest first.
    roots: Vec<String>,
    /// Normalized path of the entry script.
    main_script: Option<String>,
    /// Normalized temporary roots, shortest first.
    temp_roots: Vec<String>,
}

/// Temporary directories on Linux whatever the environment says: where
/// Python's `tempfile` (hence pip and pytest) and `mktemp` put their files.
pub const STANDARD_TEMP_ROOTS: [&str; 4] = ["/dev/shm", "/tmp", "/usr/tmp", "/var/tmp"];

/// Environment variables naming a temporary directory, in the order Python's
/// `tempfile.gettempdir()` reads them.
pub const TEMP_DIR_VARIABLES: [&str; 3] = ["TMPDIR", "TEMP", "TMP"];

/// The values of [`TEMP_DIR_VARIABLES`] set (to valid UTF-8) in this
/// process's environment, in that order.
pub fn env_temp_dirs() -> Vec<String> {
    TEMP_DIR_VARIABLES
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .collect()
}

/// [`STANDARD_TEMP_ROOTS`] and this process's [`env_temp_dirs`], as
/// [`Namer::new`] takes them.
pub fn env_temp_roots() -> Vec<String> {
    temp_roots(env_temp_dirs())
}

/// [`STANDARD_TEMP_ROOTS`] plus `extra`, normalized, absolute ones only, `/`
/// dropped, shortest first.
fn temp_roots(extra: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut roots: Vec<String> = STANDARD_TEMP_ROOTS
        .iter()
        .map(|r| r.to_string())
        .chain(extra.into_iter().map(|r| normalize(&r)))
        .filter(|r| r.starts_with('/') && r != "/")
        .collect();
    roots.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    roots.dedup();
    roots
}

impl Namer {
    /// `roots` are the import roots (`sys.path` entries, typically), with or
    /// without a trailing slash; they are normalized lexically (`//`, `.` and
    /// `..` components resolved without looking at the file system), and those
    /// that normalize to nothing (`""`, `"."`) are dropped. `main_script` is
    /// the path of the entry script, named `__main__`. The temporary roots are
    /// [`STANDARD_TEMP_ROOTS`] and the directories of this process's
    /// `$TMPDIR`, `$TEMP` and `$TMP` ([`env_temp_dirs`]); see
    /// [`Namer::with_temp_dirs`] to set them.
    pub fn new(roots: impl IntoIterator<Item = String>, main_script: Option<String>) -> Namer {
        let mut roots: Vec<String> = roots
            .into_iter()
            .map(|r| normalize(&r))
            .filter(|r| !r.is_empty())
            .collect();
        // Longest first so the innermost root wins; ties by name for a stable order.
        roots.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        roots.dedup();
        let main_script = main_script.map(|m| normalize(&m)).filter(|m| !m.is_empty());
        Namer {
            roots,
            main_script,
            temp_roots: env_temp_roots(),
        }
    }

    /// The same namer with [`STANDARD_TEMP_ROOTS`] and `temp_dirs` as its
    /// temporary roots, in place of those [`Namer::new`] took from this
    /// process's environment: pass the traced program's `$TMPDIR` (and
    /// `$TEMP`, `$TMP`) when it differs, or nothing for names that do not
    /// depend on any environment. Relative directories and `/` are ignored.
    pub fn with_temp_dirs(mut self, temp_dirs: impl IntoIterator<Item = String>) -> Namer {
        self.temp_roots = temp_roots(temp_dirs);
        self
    }

    /// The normalized import roots, longest first.
    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    /// The normalized temporary roots, shortest first.
    pub fn temp_roots(&self) -> &[String] {
        &self.temp_roots
    }

    /// Whether `path` (normalized first) has a component below one of this
    /// namer's temporary roots that the rules of the module documentation
    /// take as random. Never true of a name [`Namer::module_name`] gives.
    pub fn has_random_temp_component(&self, path: &str) -> bool {
        stabilize(&normalize(path), &self.temp_roots).is_some()
    }

    /// The module name policies use for code from `filename` (a `co_filename`).
    pub fn module_name(&self, filename: &str) -> String {
        if is_pseudo(filename) {
            return filename.to_string();
        }
        let path = normalize(filename);
        if path.is_empty() {
            return filename.to_string();
        }
        if self.main_script.as_deref() == Some(path.as_str()) {
            return "__main__".to_string();
        }
        // Only the longest matching root counts: a file that is not a module
        // under it is not one under an outer root either (`site-packages` is
        // not a package of the standard library).
        let Some(relative) = self.roots.iter().find_map(|root| under(root, &path)) else {
            return self.path_name(filename, &path);
        };
        dotted(relative).unwrap_or_else(|| self.path_name(filename, &path))
    }

    /// The name of a file that is not a module under a root: its normalized
    /// `path` with placeholders if it has random temporary components, else
    /// `filename` as it is.
    fn path_name(&self, filename: &str, path: &str) -> String {
        stabilize(path, &self.temp_roots).unwrap_or_else(|| filename.to_string())
    }
}

/// Whether `path` (normalized first) has a component below a temporary root
/// ([`STANDARD_TEMP_ROOTS`] and this process's [`env_temp_dirs`]) that the
/// rules of the module documentation take as random, so a name that should
/// not be written into a policy: it would never match again. False for
/// pseudo-names, dotted names, relative paths and every name a [`Namer`]
/// with the same temporary roots gives.
pub fn has_random_temp_component(path: &str) -> bool {
    stabilize(&normalize(path), &temp_roots(env_temp_dirs())).is_some()
}

/// `path` (normalized) with the random components below the shortest
/// temporary root containing it replaced by placeholders; `None` if there is
/// no such root or nothing to replace.
fn stabilize(path: &str, temp_roots: &[String]) -> Option<String> {
    let (root, relative) = temp_roots
        .iter()
        .find_map(|root| under(root, path).map(|rest| (root, rest)))?;
    let mut changed = false;
    let mut parent: Option<&str> = None;
    let mut components: Vec<std::borrow::Cow<'_, str>> = Vec::new();
    for component in relative.split('/') {
        match stable_component(component, parent) {
            Some(stable) => {
                changed = true;
                components.push(stable.into());
            }
            None => components.push(component.into()),
        }
        parent = Some(component);
    }
    changed.then(|| format!("{root}/{}", components.join("/")))
}

/// The placeholder form of a component below a temporary root (`parent` is
/// the component before it, as it was), if it differs.
fn stable_component(component: &str, parent: Option<&str>) -> Option<String> {
    pip_temp(component)
        .or_else(|| pytest_temp(component, parent))
        .or_else(|| c_template(component))
        .or_else(|| tempfile_temp(component))
        .filter(|stable| stable != component)
}

/// Rule 1: `pip-<kind>-<8 of [a-z0-9_]>`.
fn pip_temp(component: &str) -> Option<String> {
    let rest = component.strip_prefix("pip-")?;
    let at = rest.len().checked_sub(9)?;
    if !rest.is_char_boundary(at) {
        return None;
    }
    let (kind, tail) = rest.split_at(at);
    let random = tail.strip_prefix('-')?;
    let is_kind = kind
        .split('-')
        .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()));
    (is_kind && random.bytes().all(is_tempfile_char)).then(|| format!("pip-{kind}-*"))
}

/// Rule 2: `pytest-of-<user>`, `pytest-<N>`, `<name><N>` below `pytest-<N>`.
fn pytest_temp(component: &str, parent: Option<&str>) -> Option<String> {
    if let Some(user) = component.strip_prefix("pytest-of-") {
        return (!user.is_empty()).then(|| "pytest-of-*".to_string());
    }
    if is_pytest_numbered(component) {
        return Some("pytest-*".to_string());
    }
    if parent.is_some_and(is_pytest_numbered) {
        let name = component.trim_end_matches(|c: char| c.is_ascii_digit());
        if name.len() < component.len() {
            return Some(format!("{name}*"));
        }
    }
    None
}

/// `pytest-<one or more ASCII digits>`.
fn is_pytest_numbered(component: &str) -> bool {
    component
        .strip_prefix("pytest-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Rule 3: `_MEI<6 alphanumerics>` and `<name>.<R>` (C library templates).
fn c_template(component: &str) -> Option<String> {
    if let Some(random) = component.strip_prefix("_MEI") {
        if random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Some("_MEI*".to_string());
        }
    }
    let (name, random) = component.rsplit_once('.')?;
    if name.is_empty() || random.len() < 6 || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let bytes = random.as_bytes();
    let upper = bytes.iter().any(u8::is_ascii_uppercase);
    let lower_or_digit = bytes
        .iter()
        .any(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let digit = bytes.iter().any(u8::is_ascii_digit);
    let inner_upper = bytes[1..].iter().any(u8::is_ascii_uppercase);
    (upper && lower_or_digit && (digit || inner_upper)).then(|| format!("{name}.*"))
}

/// Rule 4: Python's `tempfile` names, prefix + 8 of `[a-z0-9_]` + suffix.
fn tempfile_temp(component: &str) -> Option<String> {
    let bytes = component.as_bytes();
    let mut stable = String::new();
    let mut copied = 0;
    // The prefix is never empty: a run starts at 1 at the earliest.
    let mut at = 1;
    while at + 8 <= bytes.len() {
        let run = &bytes[at..at + 8];
        // The run is ASCII, so `at` and `at + 8` are character boundaries.
        // After the default prefix `tmp`, any 8 such characters: one name in
        // 17 has neither a digit nor `_`, and missing it makes a new module
        // every such run. After another prefix, a word must not look random.
        let default_prefix = &bytes[..at] == b"tmp";
        let random = run.iter().all(|&b| is_tempfile_char(b))
            && (default_prefix || run.iter().any(|&b| b.is_ascii_digit() || b == b'_'));
        if random
            && (default_prefix || is_separator(bytes[at - 1]))
            && bytes.get(at + 8).is_none_or(|&b| is_separator(b))
        {
            stable.push_str(&component[copied..at]);
            stable.push('*');
            copied = at + 8;
            at += 8;
        } else {
            at += 1;
        }
    }
    if copied == 0 {
        return None;
    }
    stable.push_str(&component[copied..]);
    Some(stable)
}

/// The characters of `tempfile`'s random names (`_RandomNameSequence`).
fn is_tempfile_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

/// What may separate a `tempfile` prefix or suffix from the random run.
fn is_separator(b: u8) -> bool {
    b.is_ascii_punctuation() && b != b'_' && b != b'*'
}

/// True for the pseudo file names Python gives code without a source file:
/// `<string>`, `<stdin>`, `<module>`, `<frozen importlib._bootstrap>`, ...
pub fn is_pseudo(filename: &str) -> bool {
    filename.len() >= 2 && filename.starts_with('<') && filename.ends_with('>')
}

/// Lexical normalization of a `/`-separated path: empty and `.` components
/// dropped, `..` removing the component before it (or dropped at the root of
/// an absolute path), no trailing slash. `"/"` stays `"/"`; a relative path
/// that reduces to nothing becomes `""`.
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// `path` relative to `root` if it lies strictly inside it (whole components).
fn under<'a>(root: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(root)?;
    let rest = if root.ends_with('/') {
        rest
    } else {
        rest.strip_prefix('/')?
    };
    (!rest.is_empty()).then_some(rest)
}

/// `json/decoder.py` -> `json.decoder`, `json/__init__.py` -> `json`; `None`
/// if the path is not a `.py` file or a component is not an identifier.
fn dotted(relative: &str) -> Option<String> {
    let stem = relative.strip_suffix(".py")?;
    let mut parts: Vec<&str> = stem.split('/').collect();
    if parts.len() > 1 && parts.last() == Some(&"__init__") {
        parts.pop();
    }
    if parts.iter().all(|p| is_identifier(p)) {
        Some(parts.join("."))
    } else {
        None
    }
}

/// Approximates Python's `str.isidentifier()` (which follows Unicode's
/// XID_Start / XID_Continue) with Rust's alphabetic / alphanumeric classes.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A namer whose temporary roots are the standard ones only, whatever
    /// the environment of the test.
    fn namer(roots: &[&str], main: Option<&str>) -> Namer {
        Namer::new(
            roots.iter().map(|r| r.to_string()),
            main.map(str::to_string),
        )
        .with_temp_dirs(Vec::new())
    }

    /// `sys.path` of pyenv's 3.11.7 (`/root/.pyenv/versions/3.11.7/bin/python3.11`).
    fn pyenv() -> Namer {
        namer(
            &[
                "",
                "/root/.pyenv/versions/3.11.7/lib/python311.zip",
                "/root/.pyenv/versions/3.11.7/lib/python3.11",
                "/root/.pyenv/versions/3.11.7/lib/python3.11/lib-dynload",
                "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages",
            ],
            Some("/work/app/main.py"),
        )
    }

    /// `sys.path` of Debian's `/usr/bin/python3.11`, plus the script's directory.
    fn debian() -> Namer {
        namer(
            &[
                "/home/user/proj",
                "/usr/lib/python311.zip",
                "/usr/lib/python3.11",
                "/usr/lib/python3.11/lib-dynload",
                "/usr/local/lib/python3.11/dist-packages",
                "/usr/lib/python3/dist-packages",
            ],
            Some("/home/user/proj/run.py"),
        )
    }

    #[test]
    fn pseudo_names() {
        for p in [
            "<string>",
            "<stdin>",
            "<module>",
            "<frozen importlib._bootstrap>",
            "<frozen importlib._bootstrap_external>",
            "<frozen posixpath>",
            "<doctest foo.bar[0]>",
            "<>",
        ] {
            assert!(is_pseudo(p), "{p}");
            assert_eq!(pyenv().module_name(p), p);
        }
        for p in [
            "",
            "<",
            ">",
            "string",
            "/tmp/<string>",
            "<string",
            "string>",
        ] {
            assert!(!is_pseudo(p), "{p}");
        }
    }

    #[test]
    fn pyenv_layout() {
        let n = pyenv();
        let lib = "/root/.pyenv/versions/3.11.7/lib/python3.11";
        for (file, module) in [
            ("json/decoder.py", "json.decoder"),
            ("json/__init__.py", "json"),
            ("os.py", "os"),
            (
                "importlib/_bootstrap_external.py",
                "importlib._bootstrap_external",
            ),
            ("site-packages/requests/api.py", "requests.api"),
            ("site-packages/requests/__init__.py", "requests"),
            (
                "site-packages/torch/nn/modules/module.py",
                "torch.nn.modules.module",
            ),
            ("site-packages/six.py", "six"),
            (
                "site-packages/_distutils_hack/__init__.py",
                "_distutils_hack",
            ),
        ] {
            assert_eq!(n.module_name(&format!("{lib}/{file}")), module, "{file}");
        }
        assert_eq!(n.module_name("/work/app/main.py"), "__main__");
        assert_eq!(
            n.roots(),
            [
                "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages",
                "/root/.pyenv/versions/3.11.7/lib/python3.11/lib-dynload",
                "/root/.pyenv/versions/3.11.7/lib/python311.zip",
                "/root/.pyenv/versions/3.11.7/lib/python3.11",
            ]
        );
    }

    #[test]
    fn debian_layout() {
        let n = debian();
        for (file, module) in [
            ("/usr/lib/python3.11/json/decoder.py", "json.decoder"),
            ("/usr/lib/python3.11/json/__init__.py", "json"),
            ("/usr/lib/python3.11/subprocess.py", "subprocess"),
            ("/usr/lib/python3/dist-packages/yaml/__init__.py", "yaml"),
            (
                "/usr/lib/python3/dist-packages/OpenSSL/SSL.py",
                "OpenSSL.SSL",
            ),
            (
                "/usr/local/lib/python3.11/dist-packages/requests/api.py",
                "requests.api",
            ),
            ("/home/user/proj/helpers/util.py", "helpers.util"),
            ("/home/user/proj/run.py", "__main__"),
        ] {
            assert_eq!(n.module_name(file), module, "{file}");
        }
        // /usr/lib/python3 is not a root: its dist-packages is not under python3.11.
        assert_eq!(
            n.module_name("/usr/lib/python3/other/x.py"),
            "/usr/lib/python3/other/x.py"
        );
    }

    #[test]
    fn longest_root_wins() {
        let n = namer(&["/a", "/a/b", "/a/b/c"], None);
        assert_eq!(n.module_name("/a/b/c/d.py"), "d");
        assert_eq!(n.module_name("/a/b/d.py"), "d");
        assert_eq!(n.module_name("/a/d.py"), "d");
        assert_eq!(n.module_name("/a/x/d.py"), "x.d");
        // Order of the roots as given does not matter.
        let m = namer(&["/a/b/c", "/a", "/a/b"], None);
        assert_eq!(m.roots(), n.roots());
    }

    #[test]
    fn invalid_inside_the_longest_root_keeps_the_path() {
        let lib = "/root/.pyenv/versions/3.11.7/lib/python3.11";
        let n = pyenv();
        for file in [
            "site-packages/foo-1.0.dist-info/x.py",
            "site-packages/my-scripts/a.py",
            "site-packages/pkg/1abc.py",
            "site-packages/pkg/mod.name.py",
            "site-packages/pkg/.hidden.py",
            "my-scripts/a.py",
        ] {
            let path = format!("{lib}/{file}");
            assert_eq!(n.module_name(&path), path);
        }
    }

    #[test]
    fn only_py_files_are_modules() {
        let n = pyenv();
        let lib = "/root/.pyenv/versions/3.11.7/lib/python3.11";
        for file in [
            "lib-dynload/_json.cpython-311-x86_64-linux-gnu.so",
            "json/__pycache__/decoder.cpython-311.pyc",
            "json/decoder.pyc",
            "json/decoder",
            "json",
            "site-packages/README.txt",
            "json/decoder.PY",
        ] {
            let path = format!("{lib}/{file}");
            assert_eq!(n.module_name(&path), path);
        }
    }

    #[test]
    fn whole_components_only() {
        let n = namer(&["/usr/lib/python3.11"], None);
        assert_eq!(
            n.module_name("/usr/lib/python3.11-extra/x.py"),
            "/usr/lib/python3.11-extra/x.py"
        );
        assert_eq!(
            n.module_name("/usr/lib/python3.11x.py"),
            "/usr/lib/python3.11x.py"
        );
        // The root itself is not a module.
        assert_eq!(n.module_name("/usr/lib/python3.11"), "/usr/lib/python3.11");
        // A root's own __init__.py names no package: Python would import it
        // as a module called `__init__`.
        assert_eq!(n.module_name("/usr/lib/python3.11/__init__.py"), "__init__");
    }

    #[test]
    fn trailing_slashes_and_normalization() {
        for root in [
            "/usr/lib/python3.11",
            "/usr/lib/python3.11/",
            "/usr/lib/python3.11//",
            "/usr//lib/./python3.11",
            "/usr/lib/python3/../python3.11/",
        ] {
            let n = namer(&[root], None);
            assert_eq!(n.roots(), ["/usr/lib/python3.11"], "{root}");
            assert_eq!(
                n.module_name("/usr/lib/python3.11/json/decoder.py"),
                "json.decoder"
            );
        }
        let n = namer(&["/usr/lib/python3.11", "/usr/lib/python3.11/"], None);
        assert_eq!(n.roots().len(), 1);
        // The file name is matched normalized, but returned as given otherwise.
        let n = namer(&["/usr/lib/python3.11"], None);
        assert_eq!(
            n.module_name("/usr/lib//python3.11/./json/decoder.py"),
            "json.decoder"
        );
        assert_eq!(n.module_name("/opt//x.py"), "/opt//x.py");
    }

    #[test]
    fn normalize_lexically() {
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("//"), "/");
        assert_eq!(normalize("/.."), "/");
        assert_eq!(normalize("/a/../.."), "/");
        assert_eq!(normalize("/a/b/../c/"), "/a/c");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("."), "");
        assert_eq!(normalize("./a"), "a");
        assert_eq!(normalize("../a"), "../a");
        assert_eq!(normalize("a/../../b"), "../b");
    }

    #[test]
    fn empty_roots_are_dropped() {
        let n = namer(&["", ".", "./", "/usr/lib/python3.11"], None);
        assert_eq!(n.roots(), ["/usr/lib/python3.11"]);
        assert_eq!(n.module_name("json.py"), "json.py");
    }

    #[test]
    fn the_root_directory_as_a_root() {
        let n = namer(&["/"], None);
        assert_eq!(n.roots(), ["/"]);
        assert_eq!(n.module_name("/srv/app.py"), "srv.app");
    }

    #[test]
    fn relative_paths_match_relative_roots() {
        let n = namer(&["src/"], Some("./tool.py"));
        assert_eq!(n.module_name("src/pkg/mod.py"), "pkg.mod");
        assert_eq!(n.module_name("tool.py"), "__main__");
        assert_eq!(n.module_name("/src/pkg/mod.py"), "/src/pkg/mod.py");
    }

    #[test]
    fn zip_roots_work_like_directories() {
        let n = namer(&["/usr/lib/python311.zip", "/usr/lib/python3.11"], None);
        assert_eq!(
            n.module_name("/usr/lib/python311.zip/json/decoder.py"),
            "json.decoder"
        );
        assert_eq!(
            n.module_name("/usr/lib/python311.zip/json/__init__.py"),
            "json"
        );
        let n = namer(&["/opt/app/deps.zip/"], None);
        assert_eq!(
            n.module_name("/opt/app/deps.zip/attr/_make.py"),
            "attr._make"
        );
        assert_eq!(n.module_name("/opt/app/deps.zip"), "/opt/app/deps.zip");
    }

    #[test]
    fn main_script_beats_its_own_directory() {
        let n = namer(&["/srv/app"], Some("/srv/app/server.py"));
        assert_eq!(n.module_name("/srv/app/server.py"), "__main__");
        assert_eq!(n.module_name("/srv/app/./server.py"), "__main__");
        assert_eq!(n.module_name("/srv/app/views.py"), "views");
        // The same name outside the script's directory is another file.
        assert_eq!(
            n.module_name("/srv/other/server.py"),
            "/srv/other/server.py"
        );
    }

    #[test]
    fn main_script_outside_roots_and_without_py() {
        let n = namer(&["/usr/lib/python3.11"], Some("/usr/local/bin/tool"));
        assert_eq!(n.module_name("/usr/local/bin/tool"), "__main__");
        assert_eq!(
            n.module_name("/usr/local/bin/other"),
            "/usr/local/bin/other"
        );
        let none = namer(&["/usr/lib/python3.11"], None);
        assert_eq!(
            none.module_name("/usr/local/bin/tool"),
            "/usr/local/bin/tool"
        );
        let empty = namer(&[], Some(""));
        assert_eq!(empty.module_name(""), "");
        assert_eq!(empty.module_name("/x.py"), "/x.py");
    }

    #[test]
    fn outside_every_root_is_unchanged() {
        let n = debian();
        for p in [
            "/tmp/x.py",
            "/opt/tool/lib/thing.py",
            "relative/path.py",
            "/usr/lib/python3.12/json/decoder.py",
        ] {
            assert_eq!(n.module_name(p), p);
        }
    }

    #[test]
    fn identifiers() {
        for ok in ["a", "_", "_private", "Abc123", "é", "模块", "__init__"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "a b", "-", "foo-1.0.dist-info"] {
            assert!(!is_identifier(bad), "{bad}");
        }
        let n = namer(&["/r"], None);
        assert_eq!(n.module_name("/r/paquet/modèle.py"), "paquet.modèle");
    }

    /// The `sys.path` of pip 23.2.1's main process (`python -m pip wheel`,
    /// pyenv's 3.11.7, in a venv at `/tmp/naming-check/venv`), as observed.
    fn pip_main() -> Namer {
        namer(
            &[
                "/root/.pyenv/versions/3.11.7/lib/python311.zip",
                "/root/.pyenv/versions/3.11.7/lib/python3.11",
                "/root/.pyenv/versions/3.11.7/lib/python3.11/lib-dynload",
                "/tmp/naming-check/venv/lib/python3.11/site-packages",
                "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages",
            ],
            None,
        )
    }

    /// Names every path of `paths` must get, one per run.
    fn same_name(n: &Namer, paths: &[&str], expected: &str) {
        for p in paths {
            assert_eq!(n.module_name(p), expected, "{p}");
            assert!(n.has_random_temp_component(p), "{p}");
            assert!(!n.has_random_temp_component(expected), "{expected}");
        }
    }

    #[test]
    fn pip_temp_dirs_as_observed() {
        // `pip wheel --no-deps --no-build-isolation <sdist>` three times
        // (pip 23.2.1, setuptools 65.5.0): the legacy build runs setup.py
        // from pip's unpacked copy, under these co_filenames. Random parts
        // may be all letters (`tamqk3us` has digits, `9dwrbzde` too, but
        // pip's are not required to).
        let n = pip_main();
        same_name(
            &n,
            &[
                "/tmp/pip-req-build-63xh53tx/setup.py",
                "/tmp/pip-req-build-tamqk3us/setup.py",
                "/tmp/pip-req-build-sq1c8cn0/setup.py",
                "/tmp/pip-req-build-_ul1evpc/setup.py",
                "/tmp/pip-req-build-9dwrbzde/setup.py",
                "/tmp/pip-req-build-abcdefgh/setup.py",
            ],
            "/tmp/pip-req-build-*/setup.py",
        );
        // The other temporary directories of those runs (`pip -vvv`).
        for (dir, stable) in [
            ("pip-build-tracker-3tajy0za", "pip-build-tracker-*"),
            ("pip-build-tracker-_46ztu34", "pip-build-tracker-*"),
            ("pip-ephem-wheel-cache-a1lwx8wj", "pip-ephem-wheel-cache-*"),
            ("pip-ephem-wheel-cache-nlf_swj8", "pip-ephem-wheel-cache-*"),
            ("pip-pip-egg-info-50l0whgp", "pip-pip-egg-info-*"),
            ("pip-unpack-_8oheq68", "pip-unpack-*"),
            ("pip-unpack-f8shxjsc", "pip-unpack-*"),
            ("pip-wheel-81g67_gj", "pip-wheel-*"),
            ("pip-wheel-gowvu3yg", "pip-wheel-*"),
            ("pip-modern-metadata-_0lnch4w", "pip-modern-metadata-*"),
            ("pip-install-k3j2h1x0", "pip-install-*"),
            ("pip-build-env-s4qigxsh", "pip-build-env-*"),
        ] {
            assert_eq!(
                n.module_name(&format!("/tmp/{dir}/x/y.py")),
                format!("/tmp/{stable}/x/y.py")
            );
        }
        // Not pip's rule: no kind, a kind with digits or capitals, a random
        // part of the wrong length or alphabet.
        for dir in [
            "pip-k3j2h1x0",
            "pip--k3j2h1x0",
            "pip-abcdefgh",
            "pip-req2-xxxxxxxx",
            "pip-Req-xxxxxxxx",
            "pip-req-build-k3j2h1x",
            "pip-req-build-k3j2h1xyz",
            "pip-req-build-K3J2H1X0",
            "pip-req-build-k3j2-1x0",
            "pip-req-build-",
            "pip-",
        ] {
            assert_eq!(pip_temp(dir), None, "{dir}");
        }
        // Where the `tempfile` rule does not take them either, they stay.
        for dir in [
            "pip-abcdefgh",
            "pip-req2-xxxxxxxx",
            "pip-Req-xxxxxxxx",
            "pip-req-build-k3j2h1x",
            "pip-req-build-k3j2h1xyz",
            "pip-req-build-K3J2H1X0",
            "pip-req-build-k3j2-1x0",
        ] {
            let path = format!("/tmp/{dir}/y.py");
            assert_eq!(n.module_name(&path), path, "{dir}");
        }
        // The `tempfile` rule: a digit and a `pip-` prefix.
        assert_eq!(n.module_name("/tmp/pip-k3j2h1x0/y.py"), "/tmp/pip-*/y.py");
    }

    #[test]
    fn pip_build_env_modules_keep_their_dotted_names() {
        // `pip wheel <sdist with a pyproject.toml>` with build isolation runs
        // the backend (`_in_process.py`) with this `sys.path`, as observed:
        // the build env's site-packages, inside a random temporary directory,
        // is an import root, so its modules are named as usual.
        let n = namer(
            &[
                "/tmp/naming-check/venv/lib/python3.11/site-packages/pip/_vendor/pyproject_hooks/_in_process",
                "/tmp/pip-build-env-5hsz6gxd/site",
                "/root/.pyenv/versions/3.11.7/lib/python311.zip",
                "/root/.pyenv/versions/3.11.7/lib/python3.11",
                "/root/.pyenv/versions/3.11.7/lib/python3.11/lib-dynload",
                "/tmp/pip-build-env-5hsz6gxd/overlay/lib/python3.11/site-packages",
                "/tmp/pip-build-env-5hsz6gxd/normal/lib/python3.11/site-packages",
            ],
            Some("/tmp/naming-check/venv/lib/python3.11/site-packages/pip/_vendor/pyproject_hooks/_in_process/_in_process.py"),
        );
        let env = "/tmp/pip-build-env-5hsz6gxd";
        for (file, module) in [
            (
                "overlay/lib/python3.11/site-packages/setuptools/build_meta.py",
                "setuptools.build_meta",
            ),
            (
                "overlay/lib/python3.11/site-packages/wheel/__init__.py",
                "wheel",
            ),
            (
                "overlay/lib/python3.11/site-packages/packaging/version.py",
                "packaging.version",
            ),
            ("site/sitecustomize.py", "sitecustomize"),
        ] {
            assert_eq!(n.module_name(&format!("{env}/{file}")), module, "{file}");
        }
        // What is not a module there is still named stably.
        assert_eq!(
            n.module_name(&format!(
                "{env}/overlay/lib/python3.11/site-packages/wheel-0.48.0.dist-info/x.py"
            )),
            "/tmp/pip-build-env-*/overlay/lib/python3.11/site-packages/wheel-0.48.0.dist-info/x.py"
        );
        // Seen from pip's main process (its `sys.path`, the trace's roots),
        // the same files are outside every root: one name for every run.
        same_name(
            &pip_main(),
            &[
                "/tmp/pip-build-env-s4qigxsh/overlay/lib/python3.11/site-packages/setuptools/build_meta.py",
                "/tmp/pip-build-env-qasq7t8h/overlay/lib/python3.11/site-packages/setuptools/build_meta.py",
                "/tmp/pip-build-env-8vgdx5gy/overlay/lib/python3.11/site-packages/setuptools/build_meta.py",
            ],
            "/tmp/pip-build-env-*/overlay/lib/python3.11/site-packages/setuptools/build_meta.py",
        );
        same_name(
            &pip_main(),
            &[
                "/tmp/pip-build-env-s4qigxsh/site/sitecustomize.py",
                "/tmp/pip-build-env-qasq7t8h/site/sitecustomize.py",
            ],
            "/tmp/pip-build-env-*/site/sitecustomize.py",
        );
    }

    #[test]
    fn tempfile_names() {
        let n = debian();
        for (path, stable) in [
            ("/tmp/tmpab12cd34/foo.py", "/tmp/tmp*/foo.py"),
            ("/tmp/tmp_bcdefgh/foo.py", "/tmp/tmp*/foo.py"),
            ("/tmp/tmp12345678/foo.py", "/tmp/tmp*/foo.py"),
            // All letters after the default prefix (one name in 17).
            ("/tmp/tmpeerfcsyt/setup.py", "/tmp/tmp*/setup.py"),
            // NamedTemporaryFile(suffix=".py"), mkstemp(suffix=...).
            ("/tmp/tmpab12cd34.py", "/tmp/tmp*.py"),
            ("/tmp/tmpx2_yq9k1-test/t.py", "/tmp/tmp*-test/t.py"),
            // User prefixes ending in punctuation (multiprocessing's `pymp-`).
            ("/tmp/pymp-k2_3xq9a/x.py", "/tmp/pymp-*/x.py"),
            ("/tmp/build-0a1b2c3d.d/x.py", "/tmp/build-*.d/x.py"),
            ("/tmp/my.app+0a1b2c3d/x.py", "/tmp/my.app+*/x.py"),
            ("/tmp/Foo-ab12cd34/x.py", "/tmp/Foo-*/x.py"),
            // Deeper down, and every run in a component.
            ("/tmp/work/tmpab12cd34/x.py", "/tmp/work/tmp*/x.py"),
            ("/tmp/tmpab12cd34/tmpef56gh78/x.py", "/tmp/tmp*/tmp*/x.py"),
            ("/tmp/a-ab12cd34-ef56gh78/x.py", "/tmp/a-*-*/x.py"),
            ("/var/tmp/tmpab12cd34/x.py", "/var/tmp/tmp*/x.py"),
            ("/dev/shm/tmpab12cd34/x.py", "/dev/shm/tmp*/x.py"),
            ("/usr/tmp/tmpab12cd34/x.py", "/usr/tmp/tmp*/x.py"),
            // Normalized before matching, returned normalized when rewritten.
            ("/tmp//tmpab12cd34/./x.py", "/tmp/tmp*/x.py"),
            ("/tmp/a/../tmpab12cd34/x.py", "/tmp/tmp*/x.py"),
        ] {
            assert_eq!(n.module_name(path), stable, "{path}");
            assert!(n.has_random_temp_component(path), "{path}");
            assert!(!n.has_random_temp_component(stable), "{stable}");
        }
    }

    #[test]
    fn real_words_are_not_tempfile_names() {
        let n = debian();
        for path in [
            // No digit or underscore in the 8 characters after a prefix other than
            // `tmp`: a word, maybe.
            "/tmp/dl-download/x.py",
            "/tmp/my-projects/x.py",
            "/tmp/naming-check/venv/lib/python3.11/site-packages/x.py",
            "/tmp/naming-check/proj/setup.py",
            // Not bounded by punctuation, or the prefix empty.
            "/tmp/ab12cd34/x.py",
            "/tmp/ab12cd34.py",
            "/tmp/__init__.py",
            "/tmp/x_module.py",
            "/tmp/test_x_module/x.py",
            "/tmp/my_proj_12/x.py",
            "/tmp/tmpab12cd345/x.py",
            "/tmp/tmpab12cd3/x.py",
            "/tmp/xtmpab12cd34/x.py",
            "/tmp/tmpab12cd34_test/x.py",
            "/tmp/tmpAB12cd34/x.py",
            // Build trees.
            "/tmp/proj/build/lib.linux-x86_64-cpython-311/pkg/mod.py",
            "/tmp/proj/build/bdist.linux-x86_64/wheel/pkg/mod.py",
            "/tmp/proj/__pycache__/mod.cpython-311.pyc",
            "/tmp/proj/hello.egg-info/x.py",
            "/tmp/proj/hello-1.0.dist-info/x.py",
            "/tmp/proj/lib-dynload/x.py",
            "/tmp/proj/x86_64-linux-gnu/x.py",
            // mktemp-like but not random enough.
            "/tmp/build.Release/x.py",
            "/tmp/db.sqlite3/x.py",
            "/tmp/a.abcdef/x.py",
            "/tmp/.gaGP3Y/x.py",
            "/tmp/x.gaGP3/x.py",
            "/tmp/_MEIabc/x.py",
            // Already stable.
            "/tmp/tmp*/foo.py",
            "/tmp/pip-req-build-*/setup.py",
            "/tmp/pytest-of-*/pytest-*/test_x*/m.py",
        ] {
            assert_eq!(n.module_name(path), path, "{path}");
            assert!(!n.has_random_temp_component(path), "{path}");
        }
    }

    #[test]
    fn pytest_dirs() {
        let n = debian();
        for (path, stable) in [
            (
                "/tmp/pytest-of-root/pytest-17/test_x0/m.py",
                "/tmp/pytest-of-*/pytest-*/test_x*/m.py",
            ),
            (
                "/tmp/pytest-of-alice/pytest-3/test_x0/m.py",
                "/tmp/pytest-of-*/pytest-*/test_x*/m.py",
            ),
            // Parametrized tests: pytest turns non-word characters into `_`.
            (
                "/tmp/pytest-of-root/pytest-0/test_io_a_b_12/pkg/m.py",
                "/tmp/pytest-of-*/pytest-*/test_io_a_b_*/pkg/m.py",
            ),
            // tmp_path_factory.mktemp("data").
            (
                "/tmp/pytest-of-root/pytest-251/data0/m.py",
                "/tmp/pytest-of-*/pytest-*/data*/m.py",
            ),
            // Numbers go below pytest-N only, and only at the end.
            (
                "/tmp/pytest-of-root/pytest-17/test_x0/sub1/v2.py",
                "/tmp/pytest-of-*/pytest-*/test_x*/sub1/v2.py",
            ),
            (
                "/tmp/pytest-of-root/pytest-17/conftest.py",
                "/tmp/pytest-of-*/pytest-*/conftest.py",
            ),
            (
                "/tmp/pytest-of-root/pytest-current/test_x0/m.py",
                "/tmp/pytest-of-*/pytest-current/test_x0/m.py",
            ),
            // --basetemp in a temporary root.
            ("/tmp/pytest-5/test_x0/m.py", "/tmp/pytest-*/test_x*/m.py"),
        ] {
            assert_eq!(n.module_name(path), stable, "{path}");
            assert!(n.has_random_temp_component(path), "{path}");
            assert!(!n.has_random_temp_component(stable), "{stable}");
        }
        for path in [
            "/tmp/pytest-of-/x.py",
            "/tmp/pytest-/x.py",
            "/tmp/pytest-1a/test_x0/m.py",
            "/tmp/mybase/test_x0/m.py",
        ] {
            assert_eq!(n.module_name(path), path, "{path}");
        }
    }

    #[test]
    fn c_library_templates() {
        let n = debian();
        for (path, stable) in [
            // `mktemp -d`: tmp.XXXXXXXXXX.
            ("/tmp/tmp.Vx3kQ9aZ0b/run.py", "/tmp/tmp.*/run.py"),
            ("/tmp/tmp.qwertyuioP/run.py", "/tmp/tmp.*/run.py"),
            // `mktemp -d -t secimport-demo.XXXXXX`, as in the README's demo.
            (
                "/tmp/secimport-demo.gaGP3Y/model/train.py",
                "/tmp/secimport-demo.*/model/train.py",
            ),
            ("/tmp/x.ABC123/y.py", "/tmp/x.*/y.py"),
            // PyInstaller's one-file extraction directory.
            ("/tmp/_MEIa1B2c3/app.py", "/tmp/_MEI*/app.py"),
            ("/tmp/_MEIabcdef/app.py", "/tmp/_MEI*/app.py"),
        ] {
            assert_eq!(n.module_name(path), stable, "{path}");
            assert!(n.has_random_temp_component(path), "{path}");
            assert!(!n.has_random_temp_component(stable), "{stable}");
        }
        // Modules under a root, and the entry script, keep their names.
        let demo = namer(
            &["/tmp/secimport-demo.gaGP3Y/model"],
            Some("/tmp/secimport-demo.gaGP3Y/model/train.py"),
        );
        assert_eq!(
            demo.module_name("/tmp/secimport-demo.gaGP3Y/model/train.py"),
            "__main__"
        );
        assert_eq!(
            demo.module_name("/tmp/secimport-demo.gaGP3Y/model/tinynn/module.py"),
            "tinynn.module"
        );
    }

    #[test]
    fn only_below_temporary_roots() {
        let n = debian();
        for path in [
            "/home/u/tmpab12cd34/foo.py",
            "/home/u/pip-req-build-k3j2h1x0/setup.py",
            "/home/u/pytest-of-root/pytest-17/test_x0/m.py",
            "/srv/tmp/tmpab12cd34/foo.py",
            "/tmpx/tmpab12cd34/foo.py",
            "/tmp2/tmpab12cd34/foo.py",
            "/var/tmpab12cd34/foo.py",
            "/tmpab12cd34/foo.py",
            "tmp/tmpab12cd34/foo.py",
            "./tmpab12cd34/foo.py",
            "tmpab12cd34/foo.py",
            // The root itself is not below itself.
            "/tmp",
            "/tmp/",
        ] {
            assert_eq!(n.module_name(path), path, "{path}");
            assert!(!n.has_random_temp_component(path), "{path}");
        }
        // Pseudo-names and dotted names never hold temporary components.
        for name in [
            "<string>",
            "<frozen tmpab12cd34>",
            "json.decoder",
            "__main__",
        ] {
            assert!(!n.has_random_temp_component(name), "{name}");
        }
    }

    #[test]
    fn temporary_dirs_from_the_caller() {
        let n = debian().with_temp_dirs(
            [
                "/scratch/u//tmp/",
                "/home/u/tmpab12cd34",
                "relative/tmp",
                "",
                "/",
                "/..",
                "/tmp",
            ]
            .map(str::to_string),
        );
        assert_eq!(
            n.temp_roots(),
            [
                "/tmp",
                "/dev/shm",
                "/usr/tmp",
                "/var/tmp",
                "/scratch/u/tmp",
                "/home/u/tmpab12cd34",
            ]
        );
        assert_eq!(
            n.module_name("/scratch/u/tmp/tmpab12cd34/x.py"),
            "/scratch/u/tmp/tmp*/x.py"
        );
        // The root's own components stay, those below it do not.
        assert_eq!(
            n.module_name("/home/u/tmpab12cd34/x.py"),
            "/home/u/tmpab12cd34/x.py"
        );
        assert_eq!(
            n.module_name("/home/u/tmpab12cd34/tmpef56gh78/x.py"),
            "/home/u/tmpab12cd34/tmp*/x.py"
        );
        // Relative paths are never temporary, whatever the roots.
        assert_eq!(
            n.module_name("relative/tmp/tmpab12cd34/x.py"),
            "relative/tmp/tmpab12cd34/x.py"
        );
        // A TMPDIR below /tmp: the shortest root counts, so a random TMPDIR
        // (a test harness's) is rewritten too.
        let nested = debian().with_temp_dirs(["/tmp/tmpab12cd34".to_string()]);
        assert_eq!(
            nested.module_name("/tmp/tmpab12cd34/tmpef56gh78/x.py"),
            "/tmp/tmp*/tmp*/x.py"
        );
        // Only the standard roots.
        let standard = debian().with_temp_dirs(Vec::new());
        assert_eq!(
            standard.temp_roots(),
            ["/tmp", "/dev/shm", "/usr/tmp", "/var/tmp"]
        );
        assert_eq!(
            standard.module_name("/scratch/u/tmp/tmpab12cd34/x.py"),
            "/scratch/u/tmp/tmpab12cd34/x.py"
        );
    }

    #[test]
    fn temporary_dirs_from_the_environment() {
        let from_env = Namer::new(Vec::new(), None);
        let explicit = Namer::new(Vec::new(), None).with_temp_dirs(env_temp_dirs());
        assert_eq!(from_env.temp_roots(), explicit.temp_roots());
        for root in STANDARD_TEMP_ROOTS {
            assert!(from_env.temp_roots().iter().any(|r| r == root), "{root}");
        }
        // The free function uses the same roots.
        for path in [
            "/tmp/tmpab12cd34/x.py",
            "/tmp/tmp*/x.py",
            "/home/u/tmpab12cd34/x.py",
        ] {
            assert_eq!(
                has_random_temp_component(path),
                from_env.has_random_temp_component(path),
                "{path}"
            );
        }
        assert!(has_random_temp_component(
            "/tmp/pip-req-build-tamqk3us/setup.py"
        ));
        assert!(has_random_temp_component(
            "/var/tmp//tmpab12cd34/../tmpef56gh78/x.py"
        ));
        assert!(!has_random_temp_component("/tmp/pip-req-build-*/setup.py"));
    }

    #[test]
    fn stable_names_are_exact_policy_keys() {
        use crate::policy::ModulePattern;
        let n = debian();
        for path in [
            "/tmp/pip-req-build-k3j2h1x0/setup.py",
            "/tmp/tmpab12cd34/foo.py",
            "/tmp/tmpab12cd34.py",
            "/tmp/pytest-of-root/pytest-17/test_x0/m.py",
            "/tmp/secimport-demo.gaGP3Y/model/train.py",
            "/tmp/_MEIa1B2c3/app.py",
        ] {
            let name = n.module_name(path);
            assert!(name.contains('*') && name.contains('/'), "{name}");
            let key = ModulePattern::parse(&name).unwrap();
            assert!(!key.is_glob(), "{name}");
            assert!(key.matches(&name), "{name}");
            // The key is the name, not a pattern over paths.
            assert!(!key.matches(path), "{name}");
            for glob in ["*", "tmp*", "pytest*.*"] {
                assert!(
                    !ModulePattern::parse(glob).unwrap().matches(&name),
                    "{glob}"
                );
            }
        }
        // Dotted names never get a `*`.
        for path in [
            "/usr/lib/python3.11/json/decoder.py",
            "/home/user/proj/helpers/util.py",
        ] {
            assert!(!n.module_name(path).contains('*'));
        }
    }

    #[test]
    fn stabilizing_is_idempotent() {
        let n = debian();
        for path in [
            "/tmp/pip-req-build-k3j2h1x0/setup.py",
            "/tmp/tmpab12cd34/tmpef56gh78/x.py",
            "/tmp/a-ab12cd34-ef56gh78/x.py",
            "/tmp/pytest-of-root/pytest-17/test_x0/sub1/m.py",
            "/tmp/secimport-demo.gaGP3Y/x.py",
            "/tmp/_MEIa1B2c3/x.py",
            "/tmp/pip-build-env-s4qigxsh/overlay/lib/python3.11/site-packages/x.py",
        ] {
            let once = n.module_name(path);
            assert_ne!(once, path);
            assert_eq!(n.module_name(&once), once, "{path}");
        }
    }

    #[test]
    fn non_ascii_components() {
        let n = debian();
        for path in [
            "/tmp/été-ab12cd34/x.py",
            "/tmp/pip-é-ab12cd34/x.py",
            "/tmp/pip-req-buildé12345678/x.py",
            "/tmp/x.éabcDEF1/x.py",
            "/tmp/pytest-of-é/x.py",
            "/tmp/模块模块模块/x.py",
        ] {
            // Must not panic; random runs are ASCII.
            let _ = n.module_name(path);
        }
        assert_eq!(n.module_name("/tmp/été-ab12cd34/x.py"), "/tmp/été-*/x.py");
        assert_eq!(
            n.module_name("/tmp/pip-é-ab12cd34/x.py"),
            "/tmp/pip-é-*/x.py"
        );
        assert_eq!(
            n.module_name("/tmp/pytest-of-é/x.py"),
            "/tmp/pytest-of-*/x.py"
        );
    }
}

/// What a `python [options] ...` command line runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// `python app.py`: a script file (named `__main__`).
    Script(&'a str),
    /// `python -m pkg.mod`: a module run as `__main__`.
    Module(&'a str),
    /// `python -c ...`, `python -` or an interactive session.
    Other,
}

/// Reads the interpreter's own options (`args` is everything after the
/// interpreter) up to what it will run.
pub fn entry_of(args: &[String]) -> Entry<'_> {
    let mut it = args.iter().map(String::as_str);
    while let Some(arg) = it.next() {
        match arg {
            "-m" => return it.next().map_or(Entry::Other, Entry::Module),
            "-c" | "-" => return Entry::Other,
            // Options that take a separate value.
            "-W" | "-X" | "--check-hash-based-pycs" => {
                it.next();
            }
            _ if arg.starts_with("-m") => return Entry::Module(&arg[2..]),
            _ if arg.starts_with("-c") => return Entry::Other,
            _ if arg.starts_with('-') => {}
            _ => return Entry::Script(arg),
        }
    }
    Entry::Other
}
