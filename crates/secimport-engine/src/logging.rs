//! Routes libbpf's own messages into `tracing`, so `-v` shows them and they
//! never interleave raw with our output.

use std::sync::Once;

use libbpf_rs::PrintLevel;

fn forward(level: PrintLevel, msg: String) {
    let msg = msg.trim_end();
    match level {
        PrintLevel::Warn => tracing::warn!(target: "libbpf", "{msg}"),
        PrintLevel::Info => tracing::debug!(target: "libbpf", "{msg}"),
        PrintLevel::Debug => tracing::trace!(target: "libbpf", "{msg}"),
    }
}

pub(crate) fn route_libbpf() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        libbpf_rs::set_print(Some((PrintLevel::Debug, forward)));
    });
}
