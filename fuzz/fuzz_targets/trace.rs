//! A trace from arbitrary bytes: no panic, clean errors, and what parses
//! builds a policy that round-trips (`secimport_policy::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secimport_policy::fuzzing::trace(data));
