//! Fuzzes the forwarder config parser (`kac-audit forward --config`, the
//! proxy's `forwarders:`): never panics, and an accepted file holds only
//! valid, uniquely named forwarders (asserted inside `fuzz_config`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_forward::config::fuzz_config(data);
});
