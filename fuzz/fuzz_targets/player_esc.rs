//! Fuzzes kac-player's :fuzz_strip:the escape-sequence scanner behind search, transcripts and keyframe placement: no ESC survives, split feeding changes nothing (see `kac_player::esc`). The same function
//! runs under proptest inside the crate.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_player::esc(data);
});
