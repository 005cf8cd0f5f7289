//! Compiles the BPF programs with clang and generates their skeletons into OUT_DIR.
use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/sandbox.bpf.c";

fn main() {
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("sandbox.skel.rs");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".into());
    SkeletonBuilder::new()
        .source(SRC)
        .clang(&clang)
        .clang_args(["-I", "src/bpf", "-mcpu=v3", "-Wall", "-Wno-unused-function"])
        .build_and_generate(&out)
        .unwrap_or_else(|e| {
            panic!(
                "building {SRC} failed: {e:#}\n\
                 The BPF programs need clang (Debian: apt-get install clang libelf-dev zlib1g-dev pkg-config); \
                 set CLANG=/path/to/clang to pick another one."
            )
        });
    println!("cargo:rerun-if-changed={SRC}");
    println!("cargo:rerun-if-changed=src/bpf/sandbox.h");
    println!("cargo:rerun-if-changed=src/bpf/lib");
    for entry in std::fs::read_dir("src/bpf/lib")
        .expect("src/bpf/lib exists")
        .flatten()
    {
        println!("cargo:rerun-if-changed={}", entry.path().display());
    }
    println!("cargo:rerun-if-changed=src/bpf/vmlinux.h");
    println!("cargo:rerun-if-env-changed=CLANG");
}
