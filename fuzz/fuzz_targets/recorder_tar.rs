#![no_main]
//! Fuzz target: see `kac_recorder::tar::fuzz_tar` in kac-recorder.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_recorder::tar::fuzz_tar(data);
});
