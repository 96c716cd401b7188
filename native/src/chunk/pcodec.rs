//! pcodec payload: the timestamps and the values as two standalone pco files
//! (the `pco` crate, compression level [`LEVEL`]). pco finds the structure
//! itself (delta order, a common divisor such as 1000 for ms data in µs,
//! float quantization such as two decimals) and keeps every bit pattern of
//! its numbers (NaN payloads, `-0.0`).

use pco::data_types::Number;
use pco::standalone::{simple_compress, DecompressorItem, FileDecompressor};
use pco::ChunkConfig;

use super::ChunkError;
use crate::varint::{get_uvarint, put_uvarint};

/// pco compression level: 4 compresses within ~1 % of the default 8 on scrape
/// data and encodes 1.3–1.6× faster (bench/ingest/CODECS.md).
pub const LEVEL: usize = 4;

fn pco_error(e: pco::errors::PcoError) -> ChunkError {
    ChunkError::Pcodec(e.to_string())
}

/// Append `uvarint(len(ts file))`, the timestamps file and the values file.
pub fn encode(out: &mut Vec<u8>, ts: &[i64], values: &[f64]) {
    let config = ChunkConfig::default().with_compression_level(LEVEL);
    let t = simple_compress(ts, &config).expect("a valid pco configuration");
    let v = simple_compress(values, &config).expect("a valid pco configuration");
    put_uvarint(out, t.len() as u64);
    out.extend_from_slice(&t);
    out.extend_from_slice(&v);
}

/// Decode exactly `count` numbers from one whole pco file.
fn decode_file<T: Number>(src: &[u8], count: usize, out: &mut Vec<T>) -> Result<(), ChunkError> {
    let (file, mut rest) = FileDecompressor::new(src).map_err(pco_error)?;
    loop {
        match file
            .chunk_decompressor::<T, &[u8]>(rest)
            .map_err(pco_error)?
        {
            DecompressorItem::Chunk(mut chunk) => {
                let start = out.len();
                // Checked before allocating, so a forged count costs nothing.
                if chunk.n() > count - start {
                    return Err(ChunkError::Corrupt("more samples than the header says"));
                }
                out.resize(start + chunk.n(), T::default());
                let progress = chunk.read(&mut out[start..]).map_err(pco_error)?;
                if !progress.finished || progress.n_processed != chunk.n() {
                    return Err(ChunkError::Truncated);
                }
                rest = chunk.into_src();
            }
            DecompressorItem::EndOfData(tail) => {
                if !tail.is_empty() {
                    return Err(ChunkError::TrailingData);
                }
                break;
            }
        }
    }
    if out.len() != count {
        return Err(ChunkError::Corrupt("fewer samples than the header says"));
    }
    Ok(())
}

/// Decode `count` (≥ 1) samples; the first timestamp must be `first` and the
/// timestamps strictly increasing.
pub fn decode(
    payload: &[u8],
    count: usize,
    first: i64,
    ts: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<(), ChunkError> {
    let mut pos = 0;
    let ts_len = get_uvarint(payload, &mut pos).ok_or(ChunkError::Truncated)?;
    let rest = &payload[pos..];
    if ts_len > rest.len() as u64 {
        return Err(ChunkError::Truncated);
    }
    let (t, v) = rest.split_at(ts_len as usize);
    decode_file(t, count, ts)?;
    if ts[0] != first || !ts.windows(2).all(|w| w[0] < w[1]) {
        return Err(ChunkError::Corrupt(
            "timestamps disagree with the header or are not strictly increasing",
        ));
    }
    decode_file(v, count, values)
}
