//! A policy (YAML and JSON) from arbitrary bytes: no panic, clean errors,
//! and what parses writes back as itself (`secimport_policy::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secimport_policy::fuzzing::policy(data));
