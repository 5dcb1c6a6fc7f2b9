//! kac-sim's SPDY/3.1 frame parser and header-block inflater (port-forward
//! tunnel input from untrusted clients).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_sim::streams::spdy::fuzz_parse(data);
});
