//! Fuzzes the kac-audit search language parser (untrusted input).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        kac_store::query::fuzz_parse_query(s);
    }
});
