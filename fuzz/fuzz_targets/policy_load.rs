//! Fuzzes the policy loader: arbitrary bytes as a policy file must never
//! panic, and every error must point at a line inside the input.
//! The same function runs under proptest in policy/tests/properties.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_policy::fuzz_load(data);
});
