//! Compiles a policy's module names into kernel keys.
//!
//! The kernel judges a frame by the module id of its `co_filename`. Policies
//! speak of dotted module names and globs, which only user space can resolve,
//! so before the target starts we enumerate the Python files under its import
//! roots, name each one exactly as `trace` does, and pre-register those the
//! policy covers. Files it does not cover get ids from the kernel on first
//! sight and fall under the policy's `unknown` rule. The per-syscall cost does
//! not depend on the policy's size: one array lookup per distinct module.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use secimport_policy::naming::Namer;
use secimport_policy::policy::Compiled;

use crate::sandbox::{module_id, Sandbox};
use crate::EngineError;

/// Leave room for files the policy does not name (see MAX_MODULES in sandbox.h).
const MAX_REGISTERED: usize = 60_000;

/// What was loaded into the kernel.
#[derive(Debug, Default)]
pub struct Installed {
    /// Module id -> (module name, policy key that covers it).
    pub modules: BTreeMap<u32, (String, String)>,
    /// Python files looked at under the import roots.
    pub files_scanned: usize,
    /// Module id -> program path, for `spec.programs` entries that exist.
    pub programs: BTreeMap<u32, String>,
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Every `.py` file under `root` in a package-shaped directory (a directory
/// whose name could be imported), as the path CPython would put in co_filename.
fn python_files(root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
            if is_identifier(&name) && name != "__pycache__" {
                python_files(&path, out);
            }
        } else if name.ends_with(".py") {
            out.push(path.display().to_string());
        }
    }
}

/// The first dotted component of every module key, or None when a key's
/// first component is a glob (then every file could match).
fn top_level_names(compiled: &Compiled) -> Option<BTreeSet<String>> {
    let mut tops = BTreeSet::new();
    for (key, _) in compiled.rules() {
        if key.starts_with('<') || key.contains('/') || key == "__main__" {
            continue;
        }
        let top = key.split('.').next().unwrap_or(key);
        if top.contains('*') {
            return None;
        }
        tops.insert(top.to_string());
    }
    Some(tops)
}

/// Loads `compiled` into `sandbox`: the base, start-up,
/// frameless and children sets, and a rule for every file the policy covers.
/// What could not be seen (truncated, unreadable, overflow) gets no rule: it
/// is judged by the policy's unknown rule.
pub fn install(
    sandbox: &mut Sandbox,
    compiled: &Compiled,
    namer: &Namer,
    main_script: Option<&str>,
) -> Result<Installed, EngineError> {
    sandbox.set_shared_sets(&compiled.base, &compiled.startup, &compiled.frameless)?;
    sandbox.set_rule(module_id::NON_PYTHON, &compiled.children)?;

    let mut files = Vec::new();
    if let Some(main) = main_script {
        files.push(main.to_string());
    }
    // Only the top-level packages the policy names can match: scan those.
    let tops = top_level_names(compiled);
    for root in namer.roots() {
        match &tops {
            None => python_files(Path::new(root), &mut files),
            Some(tops) => {
                for top in tops {
                    let dir = Path::new(root).join(top);
                    if dir.is_dir() {
                        python_files(&dir, &mut files);
                    }
                    let file = Path::new(root).join(format!("{top}.py"));
                    if file.is_file() {
                        files.push(file.display().to_string());
                    }
                }
            }
        }
    }
    // Exact keys are also file names as they are: pseudo-names (`<string>`),
    // absolute paths, and the names of files outside every root that code
    // was compiled with (`compile(src, "plugin.py", "exec")`: named by that
    // string, which may look dotted). A key is used only where the namer
    // gives a file of that name the key itself.
    files.extend(
        compiled
            .rules()
            .map(|(key, _)| key)
            .filter(|k| !k.contains('*') || k.starts_with('<') || k.contains('/'))
            .map(str::to_string),
    );

    let mut installed = Installed {
        files_scanned: files.len(),
        ..Default::default()
    };
    let mut seen = HashSet::new();
    let mut next = module_id::FIRST_DYNAMIC;
    for file in files {
        if !seen.insert(file.clone()) {
            continue;
        }
        let name = namer.module_name(&file);
        if compiled.rule_for(&name).is_none() {
            continue;
        }
        if installed.modules.len() >= MAX_REGISTERED {
            return Err(EngineError::Policy(format!(
                "the policy covers more than {MAX_REGISTERED} Python files under the import roots; \
                 narrow its globs"
            )));
        }
        sandbox.register_file(&file, next)?;
        if let Some(key) = install_rule(sandbox, compiled, next, &name)? {
            installed.modules.insert(next, (name, key));
        }
        next += 1;
    }
    // Programs that are not Python, each judged by its own list.
    for (path, allow) in &compiled.programs {
        if installed.modules.len() + installed.programs.len() >= MAX_REGISTERED {
            return Err(EngineError::Policy(format!(
                "the policy names more than {MAX_REGISTERED} files and programs; narrow it"
            )));
        }
        if sandbox.add_program(Path::new(path), next)? {
            sandbox.set_rule_with_flags(next, allow, crate::sandbox::RULE_PROGRAM)?;
            installed.programs.insert(next, path.clone());
            next += 1;
        }
    }
    sandbox.set_next_dynamic_module(next);
    Ok(installed)
}

/// Installs the rule of the policy key that covers module `name` as the
/// rule of kernel module id `id` (its syscalls and argument patterns).
/// Returns the key, or `None` if no key covers it (the unknown rule
/// applies). `run` calls it for files the kernel meets while the program
/// runs ([`crate::sandbox::Event::Module`]): their stable name may match a
/// key no file had when the run started.
pub fn install_rule(
    sandbox: &Sandbox,
    compiled: &Compiled,
    id: u32,
    name: &str,
) -> Result<Option<String>, EngineError> {
    let Some((key, allow)) = compiled.rule_for(name) else {
        return Ok(None);
    };
    let restricted = match compiled.arguments_for(key) {
        Some(arguments) => install_arguments(sandbox, id, arguments)?,
        None => 0,
    };
    sandbox.set_rule_restricted(id, &allow, 0, restricted)?;
    Ok(Some(key.to_string()))
}

/// Loads a module's argument patterns into the kernel; returns the bits of
/// the kinds it restricts.
fn install_arguments(
    sandbox: &Sandbox,
    id: u32,
    arguments: &secimport_policy::arguments::Arguments,
) -> Result<u32, EngineError> {
    let mut restricted = 0;
    let kind = |name| crate::sandbox::value_kind_number(name).expect("a kernel value kind");
    for (name, paths) in [("exec", &arguments.exec), ("write", &arguments.write)] {
        if let Some(paths) = paths {
            restricted |= 1 << kind(name);
            for p in paths {
                sandbox.add_path_pattern(id, kind(name), p)?;
            }
        }
    }
    for (name, addrs) in [("connect", &arguments.connect), ("bind", &arguments.bind)] {
        if let Some(addrs) = addrs {
            restricted |= 1 << kind(name);
            for a in addrs {
                sandbox.add_addr_pattern(id, kind(name), a)?;
            }
        }
    }
    Ok(restricted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("json"));
        assert!(is_identifier("_private2"));
        assert!(!is_identifier("foo-1.0.dist-info"));
        assert!(!is_identifier("2to3"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn finds_package_files_only() {
        let dir = std::env::temp_dir().join(format!("secimport-install-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for p in ["pkg/sub", "pkg/__pycache__", "not-a-pkg"] {
            std::fs::create_dir_all(dir.join(p)).unwrap();
        }
        for f in [
            "top.py",
            "pkg/__init__.py",
            "pkg/sub/m.py",
            "pkg/__pycache__/x.py",
            "not-a-pkg/y.py",
            "pkg/data.txt",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let mut out = Vec::new();
        python_files(&dir, &mut out);
        let mut rel: Vec<String> = out
            .iter()
            .map(|p| {
                p.strip_prefix(&format!("{}/", dir.display()))
                    .unwrap()
                    .to_string()
            })
            .collect();
        rel.sort();
        assert_eq!(rel, ["pkg/__init__.py", "pkg/sub/m.py", "top.py"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
