//! Fuzzes the parser of presented KAC credentials (`kac1.<claims>.<mac>`).
//! `kac_credential::fuzz_check`: first byte even → the rest is a presented
//! token, which must never verify and never panic; odd → the rest is signed
//! as a claims payload with a test key, so the JSON claims parser behind a
//! valid MAC is exercised too. The same function runs under proptest in
//! credential/src/token.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kac_credential::fuzz_check(data);
});
