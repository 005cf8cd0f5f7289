//! Argument values (`spec.arguments`): the policy format, the patterns and
//! what they match, the trace field, and what `build` learns from it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use secimport_policy::arguments::{
    kind_of, AddrPattern, AddrValue, ArgumentError, Arguments, Kind, PathPattern,
    MAX_PATTERN_BYTES, UNRESOLVED,
};
use secimport_policy::build::{
    build, generalize_address, generalize_path, omissions, BuildOptions, Omitted,
};
use secimport_policy::policy::{json_schema, Format, Policy, PolicyError, Problem};
use secimport_policy::trace::{
    Buckets, Counters, Interpreter, ModuleTrace, Trace, TRACE_FORMAT, TRACE_VERSION,
};

const EXAMPLE: &str = r#"apiVersion: secimport.dev/v2
kind: SandboxPolicy
metadata:
  name: app
spec:
  base: [read]
  modules:
    app.vcs: [execve, clone:process, wait4]
    __main__: [openat:write, connect:inet, socket:inet]
  arguments:
    app.vcs:
      exec: [/usr/bin/git]
    __main__:
      write: [/srv/out/*, /tmp/**]
      connect: ["127.0.0.0/8:*", "10.1.2.3:443", "[::1]:8080", "unix:/run/app.sock", "unix:@abstract-name"]
"#;

fn parse_yaml(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text, "p.yaml", Format::Yaml)
}

fn parse_json(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text, "p.json", Format::Json)
}

fn paths(texts: &[&str]) -> BTreeSet<PathPattern> {
    texts.iter().map(|t| t.parse().unwrap()).collect()
}

fn addrs(texts: &[&str]) -> BTreeSet<AddrPattern> {
    texts.iter().map(|t| t.parse().unwrap()).collect()
}

fn path(text: &str) -> PathPattern {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"))
}

fn addr(text: &str) -> AddrPattern {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} does not parse: {e}"))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A YAML policy whose `__main__` may make `rights` and has `arguments`
/// (the text of its `spec.arguments.__main__` mapping, flow style).
fn policy_with(rights: &str, arguments: &str) -> String {
    format!(
        "apiVersion: secimport.dev/v2\nkind: SandboxPolicy\nmetadata:\n  name: p\nspec:\n  \
         base: []\n  modules:\n    __main__: [{rights}]\n  arguments:\n    __main__: {arguments}\n"
    )
}

/// 1-based `(line, column)` of the first `needle` in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {text}"));
    let line = text[..at].matches('\n').count() + 1;
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    (line, text[start..at].chars().count() + 1)
}

// ---------------------------------------------------------------- format

#[test]
fn the_example_parses() {
    let policy = parse_yaml(EXAMPLE).unwrap();
    let args = &policy.spec.arguments;
    assert_eq!(args.len(), 2);
    let vcs = &args["app.vcs"];
    assert_eq!(vcs.exec, Some(paths(&["/usr/bin/git"])));
    assert_eq!((&vcs.write, &vcs.connect, &vcs.bind), (&None, &None, &None));
    let main = &args["__main__"];
    assert_eq!(main.exec, None);
    assert_eq!(
        main.write,
        Some(BTreeSet::from([
            PathPattern::Children("/srv/out/".into()),
            PathPattern::Tree("/tmp/".into()),
        ]))
    );
    assert_eq!(
        main.connect,
        Some(addrs(&[
            "127.0.0.0/8:*",
            "10.1.2.3:443",
            "[::1]:8080",
            "unix:/run/app.sock",
            "unix:@abstract-name",
        ]))
    );
    assert_eq!(main.bind, None);
}

#[test]
fn arguments_round_trip_exactly_through_yaml_and_json() {
    let policy = parse_yaml(EXAMPLE).unwrap();
    let yaml = policy.to_yaml();
    assert_eq!(parse_yaml(&yaml).unwrap(), policy, "{yaml}");
    let json = policy.to_json();
    assert_eq!(parse_json(&json).unwrap(), policy, "{json}");
    // The written forms are stable: writing again gives the same bytes.
    assert_eq!(parse_json(&json).unwrap().to_yaml(), yaml);
    assert_eq!(parse_yaml(&yaml).unwrap().to_json(), json);
    // After modules, kinds in a fixed order, path patterns plain.
    assert!(
        yaml.ends_with(
            "  arguments:\n    __main__:\n      write: [/srv/out/*, /tmp/**]\n      connect: \
             [\"10.1.2.3:443\", \"127.0.0.0/8:*\", \"[::1]:8080\", \"unix:/run/app.sock\",\n          \
             \"unix:@abstract-name\"]\n    app.vcs:\n      exec: [/usr/bin/git]\n"
        ),
        "{yaml}"
    );
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value["spec"]["arguments"]["__main__"]["write"],
        serde_json::json!(["/srv/out/*", "/tmp/**"])
    );
    assert_eq!(
        value["spec"]["arguments"]["app.vcs"],
        serde_json::json!({"exec": ["/usr/bin/git"]})
    );
}

#[test]
fn no_arguments_are_not_written() {
    let text = policy_with("execve", "{}").replace("  arguments:\n    __main__: {}\n", "");
    let policy = parse_yaml(&text).unwrap();
    assert!(policy.spec.arguments.is_empty());
    assert!(!policy.to_yaml().contains("arguments"));
    assert!(!policy.to_json().contains("arguments"));
}

#[test]
fn absent_kinds_are_unrestricted_and_empty_lists_allow_nothing() {
    let policy = parse_yaml(&policy_with("execve, openat:write", "{exec: []}")).unwrap();
    let main = &policy.spec.arguments["__main__"];
    assert_eq!(main.exec, Some(BTreeSet::new()));
    assert_eq!(main.write, None);
    assert!(!main.allows(Kind::Exec, "/usr/bin/git"));
    assert!(main.allows(Kind::Write, "/anything/at/all"));
    assert!(main.allows(Kind::Write, UNRESOLVED));
    assert!(main.allows(Kind::Connect, "other"));
    // Round trip keeps `[]` apart from absent.
    let yaml = policy.to_yaml();
    assert!(yaml.contains("    __main__:\n      exec: []\n"), "{yaml}");
    assert_eq!(parse_yaml(&yaml).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
    // An entry with no kind at all is kept as written.
    let policy = parse_yaml(&policy_with("execve", "{}")).unwrap();
    assert!(policy.spec.arguments["__main__"].is_empty());
    let yaml = policy.to_yaml();
    assert!(yaml.ends_with("  arguments:\n    __main__: {}\n"), "{yaml}");
    assert_eq!(parse_yaml(&yaml).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
}

#[test]
fn duplicate_patterns_are_merged() {
    let policy = parse_yaml(&policy_with(
        "execve",
        "{exec: [/usr/bin/git, /usr/bin/git, /usr/bin/*]}",
    ))
    .unwrap();
    assert_eq!(
        policy.spec.arguments["__main__"].exec,
        Some(paths(&["/usr/bin/*", "/usr/bin/git"]))
    );
}

#[test]
fn compiled_policies_give_the_arguments_of_a_rule() {
    let policy = parse_yaml(
        r#"apiVersion: secimport.dev/v2
kind: SandboxPolicy
metadata: {name: p}
spec:
  base: []
  modules:
    "pkg.*": [execve]
    __main__: [openat:write]
  arguments:
    "pkg.*": {exec: [/usr/bin/git]}
"#,
    )
    .unwrap();
    let compiled = policy.compile();
    let (key, _) = compiled.rule_for("pkg.sub.mod").unwrap();
    assert_eq!(key, "pkg.*");
    let arguments = compiled.arguments_for(key).unwrap();
    assert!(arguments.allows(Kind::Exec, "/usr/bin/git"));
    assert!(!arguments.allows(Kind::Exec, "/usr/bin/curl"));
    let (key, _) = compiled.rule_for("__main__").unwrap();
    assert!(compiled.arguments_for(key).is_none());
    assert!(compiled.arguments_for("nope").is_none());
}

// ---------------------------------------------------------------- errors

/// The error for `text`, checked to be an `Invalid` one at `at`.
fn invalid(result: Result<Policy, PolicyError>, at: (usize, usize)) -> (String, Problem) {
    let err = result.expect_err("the policy should be refused");
    let message = err.to_string();
    assert_eq!(err.position(), Some(at), "{message}");
    match err {
        PolicyError::Invalid { problem, .. } => (message, problem),
        other => panic!("not an Invalid error: {other}"),
    }
}

#[test]
fn bad_patterns_are_refused_where_they_are() {
    // (rights, entry, kind, bad value (the last item), error)
    let cases: &[(&str, &str, Kind, &str, ArgumentError)] = &[
        (
            "execve",
            "{exec: [/usr/bin/git, bin/git]}",
            Kind::Exec,
            "bin/git",
            ArgumentError::NotAbsolute,
        ),
        (
            "execve",
            "{exec: [/usr/bin/../bin/git]}",
            Kind::Exec,
            "/usr/bin/../bin/git",
            ArgumentError::NotNormal,
        ),
        (
            "openat:write",
            "{write: [/srv/out/]}",
            Kind::Write,
            "/srv/out/",
            ArgumentError::TrailingSlash,
        ),
        (
            "openat:write",
            "{write: [\"/srv//out\"]}",
            Kind::Write,
            "/srv//out",
            ArgumentError::DoubleSlash,
        ),
        (
            "openat:write",
            "{write: [/srv/*/out]}",
            Kind::Write,
            "/srv/*/out",
            ArgumentError::MisplacedStar,
        ),
        (
            "openat:write",
            "{write: [/srv/out*]}",
            Kind::Write,
            "/srv/out*",
            ArgumentError::MisplacedStar,
        ),
        (
            "connect:inet",
            "{connect: [\"10.0.0.1\"]}",
            Kind::Connect,
            "10.0.0.1",
            ArgumentError::NoPort,
        ),
        (
            "connect:inet",
            "{connect: [\"10.0.0.1:http\"]}",
            Kind::Connect,
            "10.0.0.1:http",
            ArgumentError::BadPort {
                port: "http".into(),
            },
        ),
        (
            "connect:inet",
            "{connect: [\"10.0.0.1/40:*\"]}",
            Kind::Connect,
            "10.0.0.1/40:*",
            ArgumentError::BadPrefix {
                prefix: "40".into(),
                max: 32,
            },
        ),
        (
            "connect:inet",
            "{connect: [\"10.1.0.0/8:*\"]}",
            Kind::Connect,
            "10.1.0.0/8:*",
            ArgumentError::HostBits {
                network: "10.0.0.0/8:*".into(),
            },
        ),
        (
            "connect:inet",
            "{connect: [\"::1:80\"]}",
            Kind::Connect,
            "::1:80",
            ArgumentError::BadIp {
                ip: "::1".into(),
                v6: false,
            },
        ),
        (
            "connect:inet",
            "{connect: [\"[::1]x:80\"]}",
            Kind::Connect,
            "[::1]x:80",
            ArgumentError::NotAnAddress,
        ),
        (
            "connect:unix",
            "{connect: [\"unix:run/app.sock\"]}",
            Kind::Connect,
            "unix:run/app.sock",
            ArgumentError::NotAbsolute,
        ),
        (
            "bind:unix",
            "{bind: [\"unix:@\"]}",
            Kind::Bind,
            "unix:@",
            ArgumentError::EmptyAbstract,
        ),
    ];
    for (rights, entry, kind, value, error) in cases {
        let text = policy_with(rights, entry);
        // The error is where the item starts (its opening quote if quoted).
        let line = text.lines().nth(9).unwrap();
        let mut at = line.rfind(value).unwrap();
        if line[..at].ends_with('"') {
            at -= 1;
        }
        let column = at + 1;
        let (message, problem) = invalid(parse_yaml(&text), (10, column));
        assert_eq!(
            problem,
            Problem::BadArgument {
                module: "__main__".into(),
                kind: *kind,
                value: value.to_string(),
                error: Box::new(error.clone()),
            },
            "{entry}"
        );
        assert!(
            message.starts_with(&format!(
                "p.yaml:10:{column}: invalid {kind} pattern `{value}` for module `__main__` in \
                 spec.arguments: {error}; "
            )),
            "{message}"
        );
        // With an example of what is accepted.
        assert!(message.ends_with(kind.syntax()), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn bad_patterns_are_refused_where_they_are_in_json() {
    let text = r#"{
  "apiVersion": "secimport.dev/v2",
  "kind": "SandboxPolicy",
  "metadata": {"name": "p"},
  "spec": {
    "base": [],
    "modules": {"__main__": ["openat:write"]},
    "arguments": {
      "__main__": {
        "write": ["/srv/out/*",
                  "/srv/./x"]
      }
    }
  }
}"#;
    let (message, problem) = invalid(parse_json(text), (11, 19));
    assert!(
        matches!(
            problem,
            Problem::BadArgument { ref error, .. } if **error == ArgumentError::NotNormal
        ),
        "{message}"
    );
}

#[test]
fn errors_are_one_line_whatever_the_pattern_holds() {
    for (rights, kind, value) in [
        ("execve", "exec", "rel\\nx"),
        ("connect:inet", "connect", "[::ffff:1.2.3.4]:8\\n0"),
        ("connect:inet", "connect", "1.2.3.4:8\\n0"),
        ("connect:inet", "connect", "1.2.3.\\n4:80"),
        ("connect:inet", "connect", "[::\\n1]:80"),
        ("connect:inet", "connect", "10.0.0.0/\\n:*"),
        ("bind:unix", "bind", "unix:/a/\\u2028/../b"),
    ] {
        let text = policy_with(rights, &format!("{{{kind}: [\"{value}\"]}}"));
        let err = parse_yaml(&text).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, PolicyError::Invalid { .. }), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(!message.contains('\u{2028}'), "{message}");
    }
}

#[test]
fn long_patterns_are_refused() {
    let long = format!("/{}", "a".repeat(MAX_PATTERN_BYTES));
    let (message, _) = invalid(
        parse_yaml(&policy_with("execve", &format!("{{exec: [{long}]}}"))),
        (10, 23),
    );
    assert!(message.contains("256 bytes long"), "{message}");
    let ok = &long[..MAX_PATTERN_BYTES];
    assert!(parse_yaml(&policy_with("execve", &format!("{{exec: [{ok}]}}"))).is_ok());
}

#[test]
fn unknown_kinds_are_refused_naming_the_kinds() {
    let (message, problem) = invalid(
        parse_yaml(&policy_with("execve", "{exec: [/bin/sh], read: [/etc]}")),
        (10, 33),
    );
    assert_eq!(
        problem,
        Problem::UnknownArgumentKind {
            module: "__main__".into(),
            kind: "read".into()
        }
    );
    assert_eq!(
        message,
        "p.yaml:10:33: unknown argument kind `read` for module `__main__` in spec.arguments; the \
         kinds are exec, write, connect and bind"
    );
}

#[test]
fn a_kind_must_be_a_list() {
    let err = parse_yaml(&policy_with("execve", "{exec: /usr/bin/git}")).unwrap_err();
    assert_eq!(err.position(), Some((10, 22)), "{err}");
    assert!(
        err.to_string()
            .contains("expected a list of exec path patterns"),
        "{err}"
    );
    let err = parse_yaml(&policy_with("execve", "{exec: null}")).unwrap_err();
    assert!(matches!(err, PolicyError::Syntax { .. }), "{err}");
    // A number is read as the text of a pattern.
    let err = parse_yaml(&policy_with("execve", "{exec: [1]}")).unwrap_err();
    assert_eq!(err.position(), Some((10, 23)), "{err}");
    assert!(
        err.to_string().contains("invalid exec pattern `1`"),
        "{err}"
    );
}

#[test]
fn repeated_kinds_and_keys_are_refused() {
    let (message, _) = invalid(
        parse_yaml(&policy_with("execve", "{exec: [/a], exec: [/b]}")),
        (10, 28),
    );
    assert!(message.contains("`exec` appears twice"), "{message}");
    let text = format!("{}    __main__: {{}}\n", policy_with("execve", "{}"));
    let (message, problem) = invalid(parse_yaml(&text), (11, 5));
    assert_eq!(
        problem,
        Problem::DuplicateKey {
            key: "__main__".into(),
            place: "spec.arguments".into()
        },
        "{message}"
    );
}

#[test]
fn keys_must_be_keys_of_modules() {
    // Spelled differently from the modules key, with arguments written
    // before modules: the error is where the key is.
    let text = r#"apiVersion: secimport.dev/v2
kind: SandboxPolicy
metadata: {name: p}
spec:
  base: []
  arguments:
    __main__: {exec: [/bin/sh]}
    "app.*": {exec: [/usr/bin/git]}
  modules:
    __main__: [execve]
    "app.vcs": [execve]
"#;
    let at = position_of(text, "\"app.*\": {exec");
    assert_eq!(at, (8, 5));
    let (message, problem) = invalid(parse_yaml(text), at);
    assert_eq!(
        problem,
        Problem::ArgumentsWithoutModule {
            key: "app.*".into()
        }
    );
    assert_eq!(
        message,
        "p.yaml:8:5: `app.*` in spec.arguments is not a key of spec.modules; arguments narrow \
         the rights of a module entry: add `app.*` to spec.modules (spelled the same) or remove \
         its arguments"
    );
    // JSON, and a policy with no modules at all.
    let json = r#"{"apiVersion": "secimport.dev/v2", "kind": "SandboxPolicy",
 "metadata": {"name": "p"},
 "spec": {"base": [],
   "arguments": {
     "json.decoder": {}}}}"#;
    let (_, problem) = invalid(parse_json(json), position_of(json, "\"json.decoder\""));
    assert_eq!(
        problem,
        Problem::ArgumentsWithoutModule {
            key: "json.decoder".into()
        }
    );
    // A bad glob as a key is refused as such.
    let text = policy_with("execve", "{}").replace("    __main__: {}", "    \"a..*\": {}");
    let (message, problem) = invalid(parse_yaml(&text), (10, 5));
    assert!(
        matches!(problem, Problem::BadArgumentsKey { .. }),
        "{message}"
    );
    assert!(message.contains("in spec.arguments"), "{message}");
}

// ---------------------------------------------------------------- patterns

#[test]
fn path_patterns_display_as_written() {
    for text in ["/a/b", "/a/b/*", "/a/b/**", "/**", "/*", "/", "/a b/ü.txt"] {
        assert_eq!(path(text).to_string(), text);
    }
    assert_eq!(path("/a/b/*"), PathPattern::Children("/a/b/".into()));
    assert_eq!(path("/a/b/**"), PathPattern::Tree("/a/b/".into()));
    assert_eq!(path("/**"), PathPattern::Tree("/".into()));
    assert_eq!(path("/a/b"), PathPattern::Exact("/a/b".into()));
}

#[test]
fn exact_children_and_tree_match_what_they_say() {
    let exact = path("/a/b");
    let children = path("/a/b/*");
    let tree = path("/a/b/**");
    let anything = path("/**");
    for (p, exact_m, children_m, tree_m) in [
        ("/a/b", true, false, false),
        ("/a/b/c", false, true, true),
        ("/a/b/c/d", false, false, true),
        ("/a/b/c/d/e/f", false, false, true),
        ("/a/bc", false, false, false),
        ("/a/bc/d", false, false, false),
        ("/a", false, false, false),
        ("/x/a/b/c", false, false, false),
        // Normalized lexically before matching.
        ("/a/b/", true, false, false),
        ("/a//b/./c", false, true, true),
        ("/a/b/../b/c", false, true, true),
        ("/a/b/../../etc/passwd", false, false, false),
        ("/a/b/c/..", true, false, false),
    ] {
        assert_eq!(exact.matches(p), exact_m, "/a/b vs {p}");
        assert_eq!(children.matches(p), children_m, "/a/b/* vs {p}");
        assert_eq!(tree.matches(p), tree_m, "/a/b/** vs {p}");
        assert!(anything.matches(p), "/** vs {p}");
    }
    // What is not an absolute path matches nothing.
    for p in [UNRESOLVED, "a/b/c", ""] {
        for pattern in [&exact, &children, &tree, &anything] {
            assert!(!pattern.matches(p), "{pattern} vs {p}");
        }
    }
    assert!(path("/*").matches("/etc"));
    assert!(!path("/*").matches("/etc/passwd"));
    assert!(anything.matches("/"));
}

#[test]
fn inet_patterns_match_networks_and_ports() {
    let loopback = addr("127.0.0.0/8:*");
    assert!(loopback.matches_inet(ip("127.0.0.1"), 80));
    assert!(loopback.matches_inet(ip("127.255.0.9"), 0));
    assert!(!loopback.matches_inet(ip("128.0.0.1"), 80));
    assert!(!loopback.matches_inet(ip("::1"), 80));
    // An IPv4-mapped IPv6 address reaches the IPv4 address.
    assert!(loopback.matches_inet(ip("::ffff:127.0.0.1"), 80));
    assert!(!addr("[::]/0:*").matches_inet(ip("::ffff:127.0.0.1"), 80));
    let one = addr("10.1.2.3:443");
    assert!(one.matches_inet(ip("10.1.2.3"), 443));
    assert!(!one.matches_inet(ip("10.1.2.3"), 444));
    assert!(!one.matches_inet(ip("10.1.2.4"), 443));
    let v6 = addr("[fe80::]/10:443");
    assert!(v6.matches_inet(ip("fe80::1"), 443));
    assert!(v6.matches_inet(ip("febf::1"), 443));
    assert!(!v6.matches_inet(ip("fec0::1"), 443));
    assert!(!v6.matches_inet(ip("fe80::1"), 80));
    assert!(addr("[::1]:8080").matches_inet(ip("::1"), 8080));
    assert!(addr("0.0.0.0/0:*").matches_inet(ip("8.8.8.8"), 53));
    // Port 0 is literal.
    let zero = addr("0.0.0.0:0");
    assert!(zero.matches_inet(ip("0.0.0.0"), 0));
    assert!(!zero.matches_inet(ip("0.0.0.0"), 8080));
    // Unix patterns never match inet addresses, nor the reverse.
    assert!(!addr("unix:/**").matches_inet(ip("127.0.0.1"), 80));
    assert!(!loopback.matches_unix("/run/x"));
}

#[test]
fn unix_patterns_match_paths_and_abstract_names() {
    let sock = addr("unix:/run/app.sock");
    assert!(sock.matches_unix("/run/app.sock"));
    assert!(!sock.matches_unix("/run/app.sock2"));
    assert!(!sock.matches_unix("@/run/app.sock"));
    let dir = addr("unix:/run/app/*");
    assert!(dir.matches_unix("/run/app/a.sock"));
    assert!(!dir.matches_unix("/run/app/x/a.sock"));
    let abs = addr("unix:@abstract-name");
    assert!(abs.matches_unix("@abstract-name"));
    assert!(!abs.matches_unix("@abstract"));
    assert!(!abs.matches_unix("/abstract-name"));
    assert!(!addr("unix:/**").matches_unix("@x"));
}

#[test]
fn addresses_display_as_written() {
    for text in [
        "127.0.0.0/8:*",
        "10.1.2.3:443",
        "0.0.0.0:0",
        "[::1]:8080",
        "[fe80::]/10:443",
        "unix:/run/app.sock",
        "unix:/tmp/**",
        "unix:@abstract-name",
    ] {
        assert_eq!(addr(text).to_string(), text);
    }
    assert_eq!(
        "[::ffff:10.0.0.1]:80".parse::<AddrPattern>(),
        Err(ArgumentError::Mapped {
            v4: "10.0.0.1:80".into()
        })
    );
}

#[test]
fn trace_values_are_judged_like_the_kernel_does() {
    let policy = parse_yaml(EXAMPLE).unwrap();
    let main = &policy.spec.arguments["__main__"];
    for (kind, value, allowed) in [
        (Kind::Write, "/srv/out/report.csv", true),
        (Kind::Write, "/srv/out/sub/report.csv", false),
        (Kind::Write, "/tmp/x/y/z", true),
        (Kind::Write, "/tmp/../etc/passwd", false),
        (Kind::Write, UNRESOLVED, false),
        (Kind::Connect, "inet:127.0.0.53:53", true),
        (Kind::Connect, "inet:10.1.2.3:443", true),
        (Kind::Connect, "inet:10.1.2.3:80", false),
        (Kind::Connect, "inet:[::1]:8080", true),
        (Kind::Connect, "inet:[::ffff:127.0.0.1]:5432", true),
        (Kind::Connect, "unix:/run/app.sock", true),
        (Kind::Connect, "unix:@abstract-name", true),
        (Kind::Connect, "unix:@other-name", false),
        (Kind::Connect, "other", false),
        (Kind::Connect, "garbage", false),
        // Not restricted for this module.
        (Kind::Exec, "/bin/sh", true),
        (Kind::Bind, "inet:0.0.0.0:8080", true),
    ] {
        assert_eq!(main.allows(kind, value), allowed, "{kind} {value}");
    }
    for (text, value) in [
        ("inet:1.2.3.4:80", AddrValue::Inet(ip("1.2.3.4"), 80)),
        ("inet:[::1]:8080", AddrValue::Inet(ip("::1"), 8080)),
        ("unix:/run/x", AddrValue::Unix("/run/x".into())),
        ("unix:@name", AddrValue::Abstract("name".into())),
        ("other", AddrValue::Other),
    ] {
        assert_eq!(AddrValue::parse(text), Some(value.clone()));
        assert_eq!(value.to_string(), text);
    }
}

#[test]
fn rights_carry_the_kinds() {
    for (right, kind) in [
        ("execve", Some(Kind::Exec)),
        ("execveat", Some(Kind::Exec)),
        ("openat:write", Some(Kind::Write)),
        ("renameat2", Some(Kind::Write)),
        ("fchownat", Some(Kind::Write)),
        ("openat", None),
        ("connect:unix", Some(Kind::Connect)),
        ("sendto:inet", Some(Kind::Connect)),
        ("sendmsg:other", Some(Kind::Connect)),
        ("sendto", None),
        ("bind:inet", Some(Kind::Bind)),
        ("socket:inet", None),
        ("read", None),
    ] {
        assert_eq!(kind_of(right), kind, "{right}");
    }
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names, ["exec", "write", "connect", "bind"]);
}

// ---------------------------------------------------------------- schema

#[test]
fn the_schema_documents_arguments() {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let defs = &schema["definitions"];
    let spec = &defs["Spec"]["properties"]["arguments"];
    let text = spec["description"].as_str().unwrap();
    assert!(text.contains("must also be a key of `modules`"), "{text}");
    assert!(text.contains("absent is not"), "{text}");
    assert_eq!(
        spec["additionalProperties"]["$ref"],
        "#/definitions/Arguments"
    );
    let args = &defs["Arguments"];
    assert_eq!(args["additionalProperties"], false);
    for kind in ["exec", "write", "connect", "bind"] {
        let field = &args["properties"][kind];
        assert_eq!(field["type"], "array", "{kind}");
        assert!(
            field["description"]
                .as_str()
                .unwrap()
                .contains("Absent: any"),
            "{kind}"
        );
    }
    assert!(args.get("required").is_none());
    assert!(defs["PathPattern"]["description"]
        .as_str()
        .unwrap()
        .contains("`/a/b/**`"));
    assert!(defs["AddrPattern"]["description"]
        .as_str()
        .unwrap()
        .contains("unix:@NAME"));
}

// ---------------------------------------------------------------- traces

fn values(pairs: &[(&str, &[&str])]) -> BTreeMap<String, BTreeMap<String, u64>> {
    pairs
        .iter()
        .map(|(kind, vals)| {
            let counts = vals.iter().map(|v| (v.to_string(), 1)).collect();
            (kind.to_string(), counts)
        })
        .collect()
}

fn module(rights: &[&str], arguments: &[(&str, &[&str])]) -> ModuleTrace {
    ModuleTrace {
        files: Vec::new(),
        syscalls: rights.iter().map(|r| (r.to_string(), 1)).collect(),
        arguments: values(arguments),
    }
}

fn trace(modules: Vec<(&str, ModuleTrace)>) -> Trace {
    Trace {
        format: TRACE_FORMAT.to_string(),
        version: TRACE_VERSION,
        command: vec!["/usr/bin/python3".into(), "/srv/app.py".into()],
        interpreter: Interpreter {
            executable: "/usr/bin/python3".into(),
            version: "3.11.2".into(),
            build: "shared".into(),
            runtime_elf: "/usr/lib/libpython3.11.so".into(),
            import_roots: vec!["/srv".into()],
        },
        modules: modules
            .into_iter()
            .map(|(n, m)| (n.to_string(), m))
            .collect(),
        buckets: Buckets::default(),
        programs: Default::default(),
        processes: Vec::new(),
        counters: Counters::default(),
        exit_status: Some(0),
    }
}

#[test]
fn traces_carry_arguments_and_read_back() {
    let t = trace(vec![(
        "__main__",
        module(
            &["execve", "openat:write"],
            &[("exec", &["/usr/bin/git"]), ("write", &["/srv/out/a"])],
        ),
    )]);
    let json = t.to_json();
    assert!(
        json.contains("\"arguments\": {\n        \"exec\": {\n          \"/usr/bin/git\": 1"),
        "{json}"
    );
    assert_eq!(Trace::from_json(&json, "t.json").unwrap(), t);
    // Traces without the field read as before, and do not write it.
    let old = trace(vec![("__main__", module(&["execve"], &[]))]);
    let json = old.to_json();
    assert!(!json.contains("arguments"));
    let back = Trace::from_json(&json, "t.json").unwrap();
    assert!(back.modules["__main__"].arguments.is_empty());
}

#[test]
fn absorb_adds_argument_counts() {
    let mut a = trace(vec![(
        "__main__",
        module(
            &["execve"],
            &[("exec", &["/usr/bin/git"]), ("write", &["/srv/out/a"])],
        ),
    )]);
    let b = trace(vec![
        (
            "__main__",
            module(
                &["execve"],
                &[
                    ("exec", &["/usr/bin/git", "/usr/bin/ssh"]),
                    ("connect", &["other"]),
                ],
            ),
        ),
        ("json", module(&["read"], &[("write", &["/x"])])),
    ]);
    a.absorb(b);
    let main = &a.modules["__main__"].arguments;
    assert_eq!(main["exec"]["/usr/bin/git"], 2);
    assert_eq!(main["exec"]["/usr/bin/ssh"], 1);
    assert_eq!(main["write"]["/srv/out/a"], 1);
    assert_eq!(main["connect"]["other"], 1);
    assert_eq!(a.modules["json"].arguments["write"]["/x"], 1);
    // Counts saturate.
    let mut c = trace(vec![("m", module(&["execve"], &[("exec", &["/bin/sh"])]))]);
    c.modules
        .get_mut("m")
        .unwrap()
        .arguments
        .get_mut("exec")
        .unwrap()
        .insert("/bin/sh".into(), u64::MAX);
    let d = trace(vec![("m", module(&["execve"], &[("exec", &["/bin/sh"])]))]);
    c.absorb(d);
    assert_eq!(c.modules["m"].arguments["exec"]["/bin/sh"], u64::MAX);
}

// ---------------------------------------------------------------- build

fn built(t: &Trace, group_packages: bool) -> Policy {
    let policy = build(
        t,
        &BuildOptions {
            group_packages,
            ..BuildOptions::default()
        },
    );
    // Whatever build writes reads back as itself.
    assert_eq!(parse_yaml(&policy.to_yaml()).unwrap(), policy);
    assert_eq!(parse_json(&policy.to_json()).unwrap(), policy);
    policy
}

fn texts(set: &Option<BTreeSet<impl ToString>>) -> Option<Vec<String>> {
    set.as_ref()
        .map(|s| s.iter().map(ToString::to_string).collect())
}

#[test]
fn build_keeps_programs_exactly() {
    let t = trace(vec![(
        "app.vcs",
        module(
            &["execve", "clone:process", "wait4"],
            &[(
                "exec",
                &["/usr/bin/git", "/usr/bin/../bin/git", "/usr/local/bin/tool"],
            )],
        ),
    )]);
    let policy = built(&t, false);
    let vcs = &policy.spec.arguments["app.vcs"];
    assert_eq!(
        texts(&vcs.exec),
        Some(vec!["/usr/bin/git".into(), "/usr/local/bin/tool".into()])
    );
    assert_eq!((&vcs.write, &vcs.connect, &vcs.bind), (&None, &None, &None));
    assert!(omissions(&t).is_empty(), "{:?}", omissions(&t));
}

#[test]
fn build_generalizes_written_paths() {
    let t = trace(vec![(
        "__main__",
        module(
            &["openat:write", "mkdir", "rename"],
            &[(
                "write",
                &[
                    "/srv/out/report.csv",
                    "/srv/out/report.csv.tmp",
                    "/srv/app/../out/other.csv",
                    "/tmp/tmpab12cd34/x/y",
                    "/var/tmp/z",
                    "/dev/shm/sem.x",
                    "/srv/app/__pycache__/m.cpython-311.pyc.140213",
                    "/srv/app/pkg/__pycache__/__init__.cpython-311.pyc",
                    "/srv/app/pkg/__pycache__",
                    "/etc/hosts",
                ],
            )],
        ),
    )]);
    let policy = built(&t, false);
    assert_eq!(
        texts(&policy.spec.arguments["__main__"].write).unwrap(),
        [
            "/dev/shm/**",
            "/etc/*",
            "/srv/app/__pycache__/*",
            "/srv/app/pkg/__pycache__",
            "/srv/app/pkg/__pycache__/*",
            "/srv/out/*",
            "/tmp/**",
            "/var/tmp/**",
        ]
    );
}

#[test]
fn generalizing_paths_and_addresses() {
    let roots = vec!["/tmp".to_string(), "/home/u/tmp".to_string()];
    for (value, pattern) in [
        ("/srv/out/a.csv", Some("/srv/out/*")),
        ("/a", Some("/*")),
        ("/", Some("/")),
        ("/tmp", Some("/*")),
        ("/tmp/a", Some("/tmp/**")),
        ("/tmpx/a", Some("/tmpx/*")),
        ("/home/u/tmp/q/r", Some("/home/u/tmp/**")),
        ("/srv/x/../../tmp/a", Some("/tmp/**")),
        (
            "/a/__pycache__/__pycache__/x",
            Some("/a/__pycache__/__pycache__/*"),
        ),
        ("/srv/we*rd/file", None),
        ("/srv/we*rd", Some("/srv/*")),
        (UNRESOLVED, None),
        ("relative/path", None),
    ] {
        assert_eq!(
            generalize_path(value, &roots)
                .map(|p| p.to_string())
                .as_deref(),
            pattern,
            "{value}"
        );
    }
    let deep = format!("/{}/x", "d".repeat(MAX_PATTERN_BYTES));
    assert_eq!(generalize_path(&deep, &roots), None);
    for (value, pattern) in [
        ("inet:127.0.0.1:43122", Some("127.0.0.1:*")),
        ("inet:127.0.0.53:53", Some("127.0.0.53:*")),
        ("inet:0.0.0.0:8080", Some("0.0.0.0:*")),
        ("inet:[::1]:5432", Some("[::1]:*")),
        ("inet:[::]:0", Some("[::]:*")),
        ("inet:93.184.216.34:443", Some("93.184.216.34:443")),
        ("inet:10.0.0.5:0", Some("10.0.0.5:0")),
        ("inet:[2001:db8::1]:443", Some("[2001:db8::1]:443")),
        ("inet:[::ffff:10.0.0.1]:80", Some("10.0.0.1:80")),
        ("inet:[::ffff:127.0.0.1]:80", Some("127.0.0.1:*")),
        ("unix:/run/app.sock", Some("unix:/run/*")),
        ("unix:/tmp/pytest-1/s.sock", Some("unix:/tmp/**")),
        ("unix:@abstract-name", Some("unix:@abstract-name")),
        ("unix:@", None),
        ("unix:relative.sock", None),
        ("other", None),
        ("garbage", None),
    ] {
        assert_eq!(
            generalize_address(value, &roots)
                .map(|p| p.to_string())
                .as_deref(),
            pattern,
            "{value}"
        );
    }
}

#[test]
fn build_generalizes_addresses() {
    let t = trace(vec![(
        "app.net",
        module(
            &[
                "connect:inet",
                "connect:unix",
                "sendto:inet",
                "bind:inet",
                "socket:inet",
            ],
            &[
                (
                    "connect",
                    &[
                        "inet:127.0.0.1:40001",
                        "inet:127.0.0.1:40002",
                        "inet:93.184.216.34:443",
                        "unix:@dbus",
                        "other",
                    ],
                ),
                ("bind", &["inet:0.0.0.0:0", "inet:10.0.0.5:0"]),
            ],
        ),
    )]);
    let policy = built(&t, false);
    let net = &policy.spec.arguments["app.net"];
    assert_eq!(
        texts(&net.connect).unwrap(),
        ["93.184.216.34:443", "127.0.0.1:*", "unix:@dbus"]
    );
    assert_eq!(texts(&net.bind).unwrap(), ["0.0.0.0:*", "10.0.0.5:0"]);
    assert_eq!(
        omissions(&t),
        [Omitted::ArgumentsWithoutPattern {
            module: "app.net".into(),
            kind: Kind::Connect,
            values: vec!["other".into()],
        }]
    );
}

#[test]
fn unresolved_values_give_no_pattern_and_are_named() {
    let t = trace(vec![(
        "__main__",
        module(&["openat:write"], &[("write", &[UNRESOLVED])]),
    )]);
    let policy = built(&t, false);
    // Restricted to nothing: `run` refuses the write it could not resolve.
    assert_eq!(
        policy.spec.arguments["__main__"].write,
        Some(BTreeSet::new())
    );
    let omitted = omissions(&t);
    assert_eq!(
        omitted,
        [Omitted::ArgumentsWithoutPattern {
            module: "__main__".into(),
            kind: Kind::Write,
            values: vec![UNRESOLVED.into()],
        }]
    );
    let text = omitted[0].to_string();
    assert!(text.contains("`run` will refuse them"), "{text}");
    assert!(!text.contains('\n'));
}

#[test]
fn kinds_without_values_stay_unrestricted() {
    // A trace from before values were recorded.
    let t = trace(vec![
        ("__main__", module(&["execve", "openat:write"], &[])),
        (
            "app.half",
            module(&["execve", "connect:inet"], &[("exec", &["/bin/sh"])]),
        ),
    ]);
    let policy = built(&t, false);
    assert!(!policy.spec.arguments.contains_key("__main__"));
    let half = &policy.spec.arguments["app.half"];
    assert_eq!(texts(&half.exec).unwrap(), ["/bin/sh"]);
    assert_eq!(half.connect, None);
    let omitted = omissions(&t);
    assert_eq!(
        omitted,
        [
            Omitted::UnrestrictedArguments {
                module: "__main__".into(),
                kinds: vec![Kind::Exec, Kind::Write],
            },
            Omitted::UnrestrictedArguments {
                module: "app.half".into(),
                kinds: vec![Kind::Connect],
            },
        ]
    );
    let text = omitted[0].to_string();
    assert!(
        text.contains("leaves its exec, write unrestricted"),
        "{text}"
    );
}

#[test]
fn modules_without_value_rights_get_no_entry() {
    let t = trace(vec![
        // Values without a right that carries them are ignored.
        ("json", module(&["read", "openat"], &[("write", &["/x/y"])])),
        ("app", module(&["socket:inet"], &[])),
    ]);
    let policy = built(&t, false);
    assert!(policy.spec.arguments.is_empty());
    assert!(omissions(&t).is_empty(), "{:?}", omissions(&t));
}

#[test]
fn unknown_kinds_in_a_trace_are_named() {
    let t = trace(vec![(
        "app",
        module(&["execve"], &[("exec", &["/bin/sh"]), ("ioctl", &["x"])]),
    )]);
    let policy = built(&t, false);
    assert_eq!(
        texts(&policy.spec.arguments["app"].exec).unwrap(),
        ["/bin/sh"]
    );
    assert_eq!(
        omissions(&t),
        [Omitted::UnknownArgumentKinds {
            module: "app".into(),
            kinds: vec!["ioctl".into()],
        }]
    );
}

#[test]
fn grouped_packages_get_the_union_of_their_values() {
    let rights = ["execve", "openat:write"];
    let t = trace(vec![
        (
            "tool.a",
            module(
                &rights,
                &[("exec", &["/usr/bin/git"]), ("write", &["/srv/a/x"])],
            ),
        ),
        (
            "tool.b",
            module(
                &rights,
                &[("exec", &["/usr/bin/ssh"]), ("write", &["/srv/b/y"])],
            ),
        ),
        ("tool.c", module(&rights, &[("exec", &["/usr/bin/git"])])),
        ("other.x", module(&["read"], &[])),
        ("other.y", module(&["read"], &[])),
    ]);
    let policy = built(&t, true);
    assert_eq!(
        policy
            .spec
            .modules
            .keys()
            .map(|k| k.as_str())
            .collect::<Vec<_>>(),
        ["other.*", "tool.*"]
    );
    let tool = &policy.spec.arguments["tool.*"];
    assert_eq!(texts(&tool.exec).unwrap(), ["/usr/bin/git", "/usr/bin/ssh"]);
    // tool.c wrote nothing the trace recorded: its write stays unrestricted,
    // and so does the group's.
    assert_eq!(tool.write, None);
    assert_eq!(policy.spec.arguments.len(), 1);
    let compiled = policy.compile();
    let (key, _) = compiled.rule_for("tool.b").unwrap();
    assert!(compiled
        .arguments_for(key)
        .unwrap()
        .allows(Kind::Exec, "/usr/bin/git"));

    // Ungrouped, each module keeps its own.
    let policy = built(&t, false);
    assert_eq!(
        texts(&policy.spec.arguments["tool.a"].exec).unwrap(),
        ["/usr/bin/git"]
    );
    assert_eq!(
        texts(&policy.spec.arguments["tool.b"].write).unwrap(),
        ["/srv/b/*"]
    );
}

#[test]
fn arguments_do_not_prevent_grouping_but_rights_do() {
    let t = trace(vec![
        ("tool.a", module(&["execve"], &[("exec", &["/bin/a"])])),
        ("tool.b", module(&["execve"], &[("exec", &["/bin/b"])])),
        (
            "tool.c",
            module(&["execve", "openat:write"], &[("exec", &["/bin/c"])]),
        ),
    ]);
    let policy = built(&t, true);
    // tool.c's rights differ: no `tool.*`; but tool.a and tool.b group at
    // deeper levels only if they were a package of their own: they are not.
    assert!(policy.spec.modules.contains_key("tool.a"));
    assert!(policy.spec.modules.contains_key("tool.c"));
    let t = trace(vec![
        ("tool.a", module(&["execve"], &[("exec", &["/bin/a"])])),
        ("tool.b", module(&["execve"], &[("exec", &["/bin/b"])])),
    ]);
    let policy = built(&t, true);
    assert_eq!(
        texts(&policy.spec.arguments["tool.*"].exec).unwrap(),
        ["/bin/a", "/bin/b"]
    );
}

#[test]
fn modules_left_out_get_no_arguments() {
    let t = trace(vec![(
        "/tmp/tmpk3j2h1x0/x.py",
        module(&["execve"], &[("exec", &["/bin/sh"])]),
    )]);
    let policy = built(&t, false);
    assert!(policy.spec.arguments.is_empty());
    assert!(matches!(
        omissions(&t).as_slice(),
        [Omitted::TemporaryModule { .. }]
    ));
}

#[test]
fn built_arguments_survive_strange_values() {
    // Whatever the trace holds, what build writes reads back as itself.
    let strange: &[&str] = &[
        "/a\"b/c",
        "/a b/c:d",
        "/yes/no",
        "/x/\u{85}/y",
        "/#x/y",
        "/-/x",
        "/a/[b]/c",
        "/a/{b}/c",
        "/a,b/c",
        "/a/b/&x",
        "/!x/y",
        "",
        "//",
        "/",
    ];
    let addresses: &[&str] = &[
        "unix:@a b",
        "unix:@\u{0}x",
        "unix:@\"",
        "unix:/a,b/c",
        "inet:[fe80::1%2]:80",
        "inet:1.2.3.4:99999",
    ];
    let t = trace(vec![(
        "__main__",
        module(
            &["execve", "openat:write", "connect:unix", "bind:unix"],
            &[
                ("exec", strange),
                ("write", strange),
                ("connect", addresses),
                ("bind", addresses),
            ],
        ),
    )]);
    built(&t, false);
    built(&t, true);
}

// ---------------------------------------------------------------- properties

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Paths and path-like texts: components from a small alphabet that
    /// holds what matters (`.`, `..`, `*`, `__pycache__`, temporary roots,
    /// spaces, quotes, non-ASCII).
    fn path_value() -> impl Strategy<Value = String> {
        let component = prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just(".".to_string()),
            Just("..".to_string()),
            Just("".to_string()),
            Just("tmp".to_string()),
            Just("__pycache__".to_string()),
            Just("x*y".to_string()),
            Just("é \"q\"".to_string()),
            "[a-z:@#,\\[\\]{}-]{1,6}",
        ];
        (
            prop_oneof![Just("/"), Just(""), Just("/tmp/"), Just("/var/tmp/")],
            proptest::collection::vec(component, 0..6),
        )
            .prop_map(|(start, parts)| format!("{start}{}", parts.join("/")))
    }

    fn address_value() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| AddrValue::Inet(
                IpAddr::from(ip),
                port
            )
            .to_string()),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| AddrValue::Inet(
                IpAddr::from(ip),
                port
            )
            .to_string()),
            (
                prop_oneof![
                    Just("127.0.0.1"),
                    Just("::1"),
                    Just("0.0.0.0"),
                    Just("::"),
                    Just("::ffff:127.0.0.1"),
                    Just("::ffff:10.0.0.1")
                ],
                any::<u16>()
            )
                .prop_map(|(ip, port)| AddrValue::Inet(ip.parse().unwrap(), port).to_string()),
            path_value().prop_map(|p| format!("unix:{p}")),
            "[a-z \\-@]{0,8}".prop_map(|n| format!("unix:@{n}")),
            Just("other".to_string()),
            Just(UNRESOLVED.to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Any text that parses as a pattern displays as itself, and a
        /// policy holding it writes back (YAML and JSON) to the same policy.
        #[test]
        fn accepted_patterns_round_trip(
            texts in proptest::collection::vec(
                prop_oneof![
                    "(/[a-z.*]{0,3}){1,4}/?",
                    "(unix:)?(/[a-z.*]{0,3}){1,3}",
                    "unix:@\\PC{0,6}",
                    "[0-9.]{7,15}(/[0-9]{1,3})?:([0-9]{1,5}|\\*)",
                    "\\[[0-9a-f:.]{2,12}\\](/[0-9]{1,3})?:([0-9]{1,5}|\\*)",
                    "\\PC{0,12}",
                ],
                1..6,
            ),
        ) {
            let mut arguments = Arguments::default();
            for text in &texts {
                if let Ok(p) = text.parse::<PathPattern>() {
                    prop_assert_eq!(&p.to_string(), text);
                    prop_assert_eq!(p.to_string().parse::<PathPattern>().unwrap(), p.clone());
                    arguments.exec.get_or_insert_with(Default::default).insert(p);
                }
                if let Ok(a) = text.parse::<AddrPattern>() {
                    prop_assert_eq!(a.to_string().parse::<AddrPattern>().unwrap(), a.clone());
                    arguments.connect.get_or_insert_with(Default::default).insert(a);
                }
            }
            let mut policy = Policy::new("p");
            let key = secimport_policy::policy::ModulePattern::parse("m").unwrap();
            policy.spec.modules.insert(key.clone(), Default::default());
            policy.spec.arguments.insert(key, arguments);
            prop_assert_eq!(&parse_yaml(&policy.to_yaml()).unwrap(), &policy);
            prop_assert_eq!(&parse_json(&policy.to_json()).unwrap(), &policy);
        }

        /// Whatever values a trace holds, the policy built from it reads
        /// back as itself, and every value is either allowed by its
        /// module's entry or named as giving no pattern.
        #[test]
        fn what_was_seen_is_allowed_or_named(
            exec in proptest::collection::vec(path_value(), 0..5),
            write in proptest::collection::vec(path_value(), 0..5),
            connect in proptest::collection::vec(address_value(), 0..5),
            bind in proptest::collection::vec(address_value(), 0..5),
            group in any::<bool>(),
        ) {
            let exec: Vec<&str> = exec.iter().map(String::as_str).collect();
            let write: Vec<&str> = write.iter().map(String::as_str).collect();
            let connect: Vec<&str> = connect.iter().map(String::as_str).collect();
            let bind: Vec<&str> = bind.iter().map(String::as_str).collect();
            let rights = ["execve", "openat:write", "connect:inet", "bind:unix"];
            let values: [(&str, &[&str]); 4] = [
                ("exec", &exec),
                ("write", &write),
                ("connect", &connect),
                ("bind", &bind),
            ];
            let t = trace(vec![
                ("app.a", module(&rights, &values)),
                ("app.b", module(&rights, &values[..2])),
            ]);
            let policy = built(&t, group);
            let omitted = omissions(&t);
            let compiled = policy.compile();
            for name in ["app.a", "app.b"] {
                let (key, _) = compiled.rule_for(name).unwrap();
                let arguments = compiled.arguments_for(key).cloned().unwrap_or_default();
                for (kind, seen) in &t.modules[name].arguments {
                    let kind = Kind::from_name(kind).unwrap();
                    for value in seen.keys() {
                        let named = omitted.iter().any(|o| matches!(
                            o,
                            Omitted::ArgumentsWithoutPattern { module, kind: k, values }
                                if module == name && *k == kind && values.contains(value)
                        ));
                        prop_assert!(
                            arguments.allows(kind, value) || named,
                            "{name} {kind} {value:?}: neither allowed nor named; {arguments:?}"
                        );
                    }
                }
            }
            for o in &omitted {
                prop_assert!(!o.to_string().contains('\n'));
            }
        }
    }
}
