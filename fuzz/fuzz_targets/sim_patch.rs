//! Fuzzes kac-sim's patch parsing with arbitrary bytes: must never panic (see
//! `kac_sim::fuzz::fuzz_patch`, also driven by proptest in sim/src/fuzz.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_sim::fuzz::fuzz_patch(data);
});
