//! Fuzzes kac-player's escape-sequence scanner (search, transcripts, keyframe placement): no ESC survives, split feeding changes nothing
//! (`kac_player::esc::fuzz_strip`). The same function runs under proptest inside the
//! crate, so CI exercises it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_player::esc::fuzz_strip(data);
});
