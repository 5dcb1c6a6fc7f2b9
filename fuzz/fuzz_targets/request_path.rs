//! Fuzzes request attribution: the first byte picks the HTTP method, the
//! rest is `path[?query]`. `kac_request::fuzz_check` panics when an accepted
//! request breaks an invariant (no `/` or `..` in attributed fields, stable
//! under canonical re-serialization, identical to the reference model of
//! upstream). The same function runs under proptest in request/src/tests.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_request::fuzz_check(data);
});
