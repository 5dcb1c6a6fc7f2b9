//! Fuzzes kac-player's JSON-lines session parser (--file, --follow): never panics, never consumes a partial line
//! (`kac_player::source::fuzz_parse_jsonl`). The same function runs under proptest inside the
//! crate, so CI exercises it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_player::source::fuzz_parse_jsonl(data);
});
