//! Fuzzes kac-player's :fuzz_cast:asciicast export and the asciicast reader: arbitrary output bytes export to valid UTF-8 JSON and read back (exactly, when the bytes are UTF-8) (see `kac_player::cast`). The same function
//! runs under proptest inside the crate.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_player::cast(data);
});
