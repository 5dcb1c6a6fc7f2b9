//! Fuzzes `kac-proxy clusters import`'s kubeconfig reader and the tag
//! parser of `kac-proxy clusters tag`: an admin may point import at any
//! kubeconfig, and a damaged one must be an error naming the problem, never
//! a panic or a half-written clusters file (planning writes nothing).
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Relative file references resolve under a directory that does not
    // exist, so the target never reads files of the machine it runs on.
    let dir = Path::new("/nonexistent/kac-fuzz");
    let _ = kac_proxy::admin::kubeconfig::plan(text, dir, &[], &BTreeMap::new());
    for word in text.split_whitespace().take(8) {
        let _ = kac_proxy::admin::tags::parse_tag_edit(word);
    }
});
