//! Fuzzes kac-player's terminal emulator (vt100 screen driven by our vte
//! parser, keyframe restore, resizes) with arbitrary recorded output
//! (`kac_player::screen::fuzz_term`). The same function runs under proptest
//! inside the crate, so CI exercises it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_player::screen::fuzz_term(data);
});
