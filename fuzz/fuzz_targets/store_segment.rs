//! Fuzzes the log codec: arbitrary bytes decoded as a segment file
//! (frames, segment headers, zstd blocks, seals, events).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_store::log::codec::fuzz_decode_segment(data);
});
