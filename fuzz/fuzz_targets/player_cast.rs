//! Fuzzes kac-player's asciicast export and reader: any output bytes export to valid JSON and read back exactly when they are UTF-8
//! (`kac_player::cast::fuzz_cast`). The same function runs under proptest inside the
//! crate, so CI exercises it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_player::cast::fuzz_cast(data);
});
