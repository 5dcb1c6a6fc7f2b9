//! Fuzzes kac-player's :fuzz_parse_jsonl:the JSON-lines session parser (--file, --follow): never panics, never consumes a partial line (see `kac_player::source`). The same function
//! runs under proptest inside the crate.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_player::source(data);
});
