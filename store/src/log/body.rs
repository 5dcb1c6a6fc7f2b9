//! How a block body is stored: zstd, or raw when compression does not
//! pay, and the cheap test that decides it.

/// How a block body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// zstd frame, no dictionary (0).
    Zstd,
    /// The events as they are (1): chosen when a sample of the body does
    /// not compress (random or already compressed session output), where
    /// zstd, even at level 1, costs CPU for nothing.
    Raw,
}

impl BodyEncoding {
    pub(super) fn code(self) -> u32 {
        match self {
            BodyEncoding::Zstd => 0,
            BodyEncoding::Raw => 1,
        }
    }
    pub(super) fn from_code(code: u32) -> Result<Self, String> {
        match code {
            0 => Ok(BodyEncoding::Zstd),
            1 => Ok(BodyEncoding::Raw),
            n => Err(format!("unknown block body encoding {n}")),
        }
    }
}

/// Bodies at least this long are sampled before compression; shorter ones
/// are compressed whole (and still stored raw if that did not pay).
pub(super) const SAMPLE_FROM: usize = 64 << 10;
/// The sample: this many slices of [`SAMPLE_SLICE`] bytes spread over the
/// body, compressed together (~1.5% of a 1 MiB block).
const SAMPLE_SLICES: usize = 4;
const SAMPLE_SLICE: usize = 4 << 10;

/// Whether `compressed` bytes out of `input` make compression worth it:
/// at least 3% smaller (below that, reading pays zstd for almost nothing).
pub(super) fn pays(compressed: usize, input: usize) -> bool {
    compressed * 100 < input * 97
}

/// Compresses [`SAMPLE_SLICES`] slices spread over `raw` together: does
/// the body look worth compressing? Random or already compressed bytes
/// answer no at ~1.5% of the cost of compressing the whole body.
pub(super) fn sample_pays(z: &mut zstd::bulk::Compressor<'_>, raw: &[u8]) -> std::io::Result<bool> {
    let mut sample = Vec::with_capacity(SAMPLE_SLICES * SAMPLE_SLICE);
    let step = (raw.len() - SAMPLE_SLICE) / (SAMPLE_SLICES - 1);
    for i in 0..SAMPLE_SLICES {
        sample.extend_from_slice(&raw[i * step..i * step + SAMPLE_SLICE]);
    }
    let out = z.compress(&sample)?;
    Ok(pays(out.len(), sample.len()))
}
