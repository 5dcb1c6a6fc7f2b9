//! Tamper evidence: flipping any byte of a sealed segment is detected, and
//! so are a removed segment, swapped segments and a removed tail.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kac_store::gen::Generator;
use kac_store::log::segment::list_streams;
use kac_store::log::verify::verify_log;
use kac_store::{Store, StoreOptions};

fn small_store(dir: &Path) -> Vec<PathBuf> {
    let opts = StoreOptions {
        fsync_interval: Duration::from_millis(1),
        block_max_events: 6,
        segment_max_bytes: 3 << 10,
        index: false,
        ..Default::default()
    };
    let st = Store::open(dir, opts).unwrap();
    let w = st.writer();
    let mut g = Generator::new(
        5,
        DateTime::<Utc>::from_timestamp(1_770_000_000, 0).unwrap(),
    );
    for _ in 0..40 {
        let s = w.append(g.api()).unwrap();
        w.wait_durable(s).unwrap();
    }
    st.close().unwrap();
    let streams = list_streams(dir).unwrap();
    streams["local"].iter().map(|(_, p)| p.clone()).collect()
}

#[test]
fn every_byte_flip_of_a_sealed_segment_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let segs = small_store(dir.path());
    assert!(segs.len() >= 3, "need sealed segments, got {}", segs.len());
    assert!(verify_log(dir.path()).unwrap().ok());
    // Every byte of the first and of a middle sealed segment.
    for (seg, mask) in [(&segs[0], 0x01u8), (&segs[segs.len() / 2], 0xff)] {
        let orig = std::fs::read(seg).unwrap();
        for i in 0..orig.len() {
            {
                let mut b = orig.clone();
                b[i] ^= mask;
                std::fs::write(seg, &b).unwrap();
                let r = verify_log(dir.path()).unwrap();
                assert!(
                    !r.ok(),
                    "flip {mask:#x} at byte {i} of {} went unnoticed",
                    seg.display()
                );
                assert_eq!(&r.errors[0].file, seg, "flip at {i} reported elsewhere");
                assert!(r.errors[0].offset <= i as u64, "reported after the flip");
            }
        }
        std::fs::write(seg, &orig).unwrap();
    }
    assert!(verify_log(dir.path()).unwrap().ok());
}

#[test]
fn removed_reordered_and_truncated_segments_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let segs = small_store(dir.path());
    // Removed middle segment.
    let mid = &segs[1];
    let saved = std::fs::read(mid).unwrap();
    std::fs::remove_file(mid).unwrap();
    let r = verify_log(dir.path()).unwrap();
    assert!(
        !r.ok() && r.errors[0].reason.contains("missing"),
        "{:?}",
        r.errors
    );
    std::fs::write(mid, &saved).unwrap();
    // Swapped contents of two segments (reordering).
    let a = std::fs::read(&segs[0]).unwrap();
    std::fs::write(&segs[0], &saved).unwrap();
    std::fs::write(mid, &a).unwrap();
    assert!(!verify_log(dir.path()).unwrap().ok());
    std::fs::write(&segs[0], &a).unwrap();
    std::fs::write(mid, &saved).unwrap();
    // Truncated sealed segment (its tail removed).
    std::fs::write(mid, &saved[..saved.len() - 20]).unwrap();
    let r = verify_log(dir.path()).unwrap();
    assert!(!r.ok(), "truncation went unnoticed");
    std::fs::write(mid, &saved).unwrap();
    assert!(verify_log(dir.path()).unwrap().ok());
}
