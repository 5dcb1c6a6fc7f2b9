//! kac-sim's remotecommand channel frame decoder, query parser and resize
//! parser (exec/attach/port-forward input from untrusted clients).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_sim::streams::fuzz_inputs(data);
});
