//! Fuzzes kac-filter's watch filtering with arbitrary bytes: must never
//! panic, and whatever it accepts must be JSON carrying only visible
//! objects (see `kac_filter::fuzz_watch`). The same function runs under
//! proptest in filter/tests/props.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_filter::fuzz_watch(data);
});
