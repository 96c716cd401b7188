//! Gorilla payload: delta-of-delta timestamps and XOR values, the bit layout
//! of Prometheus's XOR chunks (`tsdb/chunkenc/xor.go`), written from the
//! Gorilla paper (Pelkonen et al., VLDB 2015) and Prometheus's description.
//!
//! Differences from Prometheus's chunk: the first timestamp and the timestamp
//! unit live in the chunk header (`super`), and the first delta is written as a
//! delta-of-delta against 0 instead of a byte varint. Timestamps are divided
//! by the unit (the GCD of the deltas: 1000 for millisecond data stored in µs)
//! before the delta-of-delta, so µs storage costs nothing over ms storage.
//!
//! Per sample after the first, timestamp (`dod` = delta − previous delta, in
//! units; the previous delta of the second sample is 0):
//!
//! | bits          | meaning                              |
//! |---------------|--------------------------------------|
//! | `0`           | dod = 0                              |
//! | `10` + 14     | dod in −8191..=8192                  |
//! | `110` + 17    | dod in −65535..=65536                |
//! | `1110` + 20   | dod in −524287..=524288              |
//! | `1111` + 64   | any other dod (two's complement)     |
//!
//! Values: the first as 64 raw bits; then `x` = bits ^ previous bits:
//! `0` if `x` = 0; else `1`, then `0` + the meaningful bits if they fit the
//! previous window (leading zeros ≥ and trailing zeros ≥ the window's), else
//! `1` + 5 bits leading zeros (capped at 31) + 6 bits significant-bit count
//! (64 written as 0) + the significant bits.

use super::bits::{BitReader, BitWriter};
use super::ChunkError;

/// `(prefix, prefix bits, value bits)` of the dod classes, narrowest first.
const DOD_CLASSES: [(u64, u32, u32); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

#[inline]
fn fits(dod: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    -(half - 1) <= dod && dod <= half
}

#[inline]
fn write_dod(w: &mut BitWriter<'_>, dod: i64) {
    if dod == 0 {
        w.bit(false);
        return;
    }
    for (prefix, plen, vbits) in DOD_CLASSES {
        if fits(dod, vbits) {
            w.write(prefix, plen);
            w.write(dod as u64, vbits);
            return;
        }
    }
    w.write(0b1111, 4);
    w.write(dod as u64, 64);
}

#[inline]
fn read_dod(r: &mut BitReader<'_>) -> Option<i64> {
    // Up to four prefix bits: the number of leading ones selects the class.
    let mut ones = 0;
    while ones < 4 && r.bit()? {
        ones += 1;
    }
    let vbits = match ones {
        0 => return Some(0),
        1 => 14,
        2 => 17,
        3 => 20,
        _ => return r.read(64).map(|v| v as i64),
    };
    let v = r.read(vbits)? as i64;
    // Values above +half are the negative ones (two's complement in `vbits`).
    Some(if v > 1 << (vbits - 1) {
        v - (1 << vbits)
    } else {
        v
    })
}

/// XOR value state shared by writer and reader.
#[derive(Default)]
struct Window {
    /// `None` until the first non-zero XOR.
    bounds: Option<(u32, u32)>,
}

#[inline]
fn write_value(w: &mut BitWriter<'_>, win: &mut Window, x: u64) {
    if x == 0 {
        w.bit(false);
        return;
    }
    w.bit(true);
    let leading = x.leading_zeros().min(31);
    let trailing = x.trailing_zeros();
    if let Some((l, t)) = win.bounds {
        if leading >= l && trailing >= t {
            w.bit(false);
            w.write(x >> t, 64 - l - t);
            return;
        }
    }
    let sig = 64 - leading - trailing;
    w.bit(true);
    w.write(u64::from(leading), 5);
    w.write(u64::from(sig), 6); // 64 wraps to 0 in six bits
    w.write(x >> trailing, sig);
    win.bounds = Some((leading, trailing));
}

#[inline]
fn read_value(r: &mut BitReader<'_>, win: &mut Window) -> Result<u64, ChunkError> {
    let t = ChunkError::Truncated;
    if !r.bit().ok_or(t.clone())? {
        return Ok(0);
    }
    if r.bit().ok_or(t.clone())? {
        let leading = r.read(5).ok_or(t.clone())? as u32;
        let sig = match r.read(6).ok_or(t.clone())? as u32 {
            0 => 64,
            s => s,
        };
        if leading + sig > 64 {
            return Err(ChunkError::Corrupt("XOR window wider than 64 bits"));
        }
        win.bounds = Some((leading, 64 - leading - sig));
    }
    let (l, t_) = win
        .bounds
        .ok_or(ChunkError::Corrupt("XOR window reused before it was set"))?;
    let x = r.read(64 - l - t_).ok_or(t)? << t_;
    if x == 0 {
        // The writer emits `0` for an unchanged value, never an all-zero window.
        return Err(ChunkError::Corrupt("empty XOR window"));
    }
    Ok(x)
}

/// Timestamp unit of strictly increasing `ts`: the GCD of its deltas (≥ 1).
pub fn unit(ts: &[i64]) -> u64 {
    let mut g = 0u64;
    for w in ts.windows(2) {
        g = gcd(g, w[1].wrapping_sub(w[0]) as u64);
        if g == 1 {
            break;
        }
    }
    g.max(1)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Append the payload of strictly increasing `ts` (≥ 1 sample) with `values`.
pub fn encode(out: &mut Vec<u8>, ts: &[i64], values: &[f64], unit: u64) {
    debug_assert!(!ts.is_empty() && ts.len() == values.len());
    let mut w = BitWriter::new(out);
    let mut prev_bits = values[0].to_bits();
    w.write(prev_bits, 64);
    let mut win = Window::default();
    let mut prev_delta = 0u64;
    for i in 1..ts.len() {
        // Exact modulo 2^64, so i64::MIN..i64::MAX spans survive.
        let delta = ts[i].wrapping_sub(ts[i - 1]) as u64 / unit;
        write_dod(&mut w, delta.wrapping_sub(prev_delta) as i64);
        prev_delta = delta;
        let bits = values[i].to_bits();
        write_value(&mut w, &mut win, bits ^ prev_bits);
        prev_bits = bits;
    }
    w.finish();
}

/// Decode `count` (≥ 1) samples from `payload`, the first at `first`.
///
/// The payload must end within the last byte, padded with one bits.
pub fn decode(
    payload: &[u8],
    count: usize,
    first: i64,
    unit: u64,
    ts: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<(), ChunkError> {
    let mut r = BitReader::new(payload);
    let mut prev_bits = r.read(64).ok_or(ChunkError::Truncated)?;
    ts.push(first);
    values.push(f64::from_bits(prev_bits));
    let mut win = Window::default();
    let mut prev_delta = 0u64;
    let mut t = first;
    for _ in 1..count {
        let dod = read_dod(&mut r).ok_or(ChunkError::Truncated)?;
        let delta = prev_delta.wrapping_add(dod as u64);
        prev_delta = delta;
        let step = delta
            .checked_mul(unit)
            .filter(|&s| s != 0)
            .ok_or(ChunkError::Corrupt("timestamps not strictly increasing"))?;
        t = t
            .checked_add_unsigned(step)
            .ok_or(ChunkError::Corrupt("timestamp overflows i64"))?;
        ts.push(t);
        prev_bits ^= read_value(&mut r, &mut win)?;
        values.push(f64::from_bits(prev_bits));
    }
    let rest = r.remaining();
    if rest >= 8 || r.read(rest as u32) != Some((1u64 << rest) - 1) {
        return Err(ChunkError::TrailingData);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dod_classes_round_trip_at_their_edges() {
        let mut cases = vec![0i64, 1, -1, i64::MIN, i64::MAX];
        for (_, _, b) in DOD_CLASSES {
            let h = 1i64 << (b - 1);
            cases.extend([h, h + 1, -(h - 1), -h]);
        }
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        for &d in &cases {
            write_dod(&mut w, d);
        }
        w.finish();
        let mut r = BitReader::new(&out);
        for &d in &cases {
            assert_eq!(read_dod(&mut r), Some(d));
        }
    }

    #[test]
    fn unit_is_the_gcd_of_deltas() {
        assert_eq!(unit(&[5]), 1);
        assert_eq!(unit(&[0, 15_000_000, 30_002_000]), 2_000);
        assert_eq!(unit(&[i64::MIN, i64::MAX]), u64::MAX);
    }
}
