//! `build` from a trace whose names are arbitrary: the bytes are cut at
//! 0xFF into strings (module names, then syscall names, the policy name),
//! and the policy built must write YAML and JSON that read back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secimport_policy::build::{build, BuildOptions};
use secimport_policy::trace::{ModuleTrace, Trace};

fuzz_target!(|data: &[u8]| {
    let words: Vec<String> = data
        .split(|&b| b == 0xff)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let Some((first, rest)) = words.split_first() else {
        return;
    };
    let mut trace: Trace =
        serde_json::from_str(include_str!("../seed-trace.json")).expect("the seed trace reads");
    for (i, name) in rest.iter().enumerate() {
        let syscalls = rest
            .iter()
            .skip(i)
            .take(3)
            .chain(std::iter::once(&"openat".to_string()))
            .map(|s| (s.clone(), 1))
            .collect();
        trace.modules.insert(
            name.clone(),
            ModuleTrace {
                files: vec![name.clone()],
                syscalls,
            },
        );
        trace.command.push(name.clone());
    }
    for group_packages in [false, true] {
        let opts = BuildOptions {
            group_packages,
            name: Some(first.clone()),
            ..BuildOptions::default()
        };
        secimport_policy::fuzzing::policy_round_trips(&build(&trace, &opts));
    }
    for omitted in secimport_policy::build::omissions(&trace) {
        assert!(!omitted.to_string().contains('\n'));
    }
});
