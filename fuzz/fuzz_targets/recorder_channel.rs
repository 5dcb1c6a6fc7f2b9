#![no_main]
//! Fuzz target: see `kac_recorder::channel::fuzz_channel` in kac-recorder.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_recorder::channel::fuzz_channel(data);
});
