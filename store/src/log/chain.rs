//! The hash of the chain, per segment: which function links the blocks of
//! a segment is named by the segment's magic, so every segment ever
//! written still verifies with the function it was written with.
//!
//! - `KACSEG01`: SHA-256 (stores written before BLAKE3).
//! - `KACSEG02`: BLAKE3, what every new segment uses. On recorded session
//!   output the writer thread spent ~37% of its time in SHA-256 (with
//!   SHA-NI, 1.3 GB/s on the 2-core bench machine); BLAKE3 (AVX2) hashes
//!   2.2 GB/s there, measured by perf on the same thread (issue #6).
//!
//! Across a segment boundary nothing changes shape: a segment header's
//! `prev_hash` is the previous block's hash under *that* block's segment
//! function, exactly the value the previous segment's seal carries.

use sha2::{Digest, Sha256};

use super::Hash;

/// The function that hashes the block payloads of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainHash {
    /// `KACSEG01` segments.
    Sha256,
    /// `KACSEG02` segments.
    Blake3,
}

impl ChainHash {
    /// What new segments are written with.
    pub const CURRENT: ChainHash = ChainHash::Blake3;

    /// The segment magic that names this function.
    pub fn magic(self) -> &'static [u8; 8] {
        match self {
            ChainHash::Sha256 => b"KACSEG01",
            ChainHash::Blake3 => b"KACSEG02",
        }
    }

    /// The function a segment magic names; None for an unknown magic.
    pub fn from_magic(magic: &[u8]) -> Option<Self> {
        [ChainHash::Sha256, ChainHash::Blake3]
            .into_iter()
            .find(|h| h.magic().as_slice() == magic)
    }

    /// The link of the chain: the hash of a whole block payload.
    pub fn hash(self, payload: &[u8]) -> Hash {
        self.hash_parts(&[payload])
    }

    /// [`ChainHash::hash`] of a payload held in pieces (a block header
    /// and its raw body, written with one vectored write).
    pub fn hash_parts(self, parts: &[&[u8]]) -> Hash {
        match self {
            ChainHash::Sha256 => {
                let mut h = Sha256::new();
                parts.iter().for_each(|p| h.update(p));
                h.finalize().into()
            }
            ChainHash::Blake3 => {
                let mut h = blake3::Hasher::new();
                parts.iter().for_each(|p| {
                    h.update(p);
                });
                *h.finalize().as_bytes()
            }
        }
    }
}
