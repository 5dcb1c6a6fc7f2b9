//! Fuzzes kac's kubeconfig editor, which reads a user's (untrusted)
//! kubeconfig: `kac_agent::kubeconfig_edit::fuzz_edit` logs a proxy in and
//! out of arbitrary text. It must never panic, logout must succeed after
//! every successful login, and a file without kac entries must come back
//! byte for byte. The same function runs under proptest in
//! agent/src/kubeconfig_edit/tests.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_agent::kubeconfig_edit::fuzz_edit(data);
});
