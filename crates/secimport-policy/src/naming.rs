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
//!   its path as it is.
//!
//! Everything is lexical: no file system access, so the names are the same on
//! any machine given the same roots.

/// Names the modules of one interpreter run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namer {
    /// Normalized import roots, longest first.
    roots: Vec<String>,
    /// Normalized path of the entry script.
    main_script: Option<String>,
}

impl Namer {
    /// `roots` are the import roots (`sys.path` entries, typically), with or
    /// without a trailing slash; they are normalized lexically (`//`, `.` and
    /// `..` components resolved without looking at the file system), and those
    /// that normalize to nothing (`""`, `"."`) are dropped. `main_script` is
    /// the path of the entry script, named `__main__`.
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
        Namer { roots, main_script }
    }

    /// The normalized import roots, longest first.
    pub fn roots(&self) -> &[String] {
        &self.roots
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
            return filename.to_string();
        };
        dotted(relative).unwrap_or_else(|| filename.to_string())
    }
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

    fn namer(roots: &[&str], main: Option<&str>) -> Namer {
        Namer::new(
            roots.iter().map(|r| r.to_string()),
            main.map(str::to_string),
        )
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
