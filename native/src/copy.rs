//! PostgreSQL binary COPY encoding of accepted points and of per-batch
//! rollups.
//!
//! Only tuples are produced; a COPY stream is [`HEADER`], any number of tuple
//! blocks, then [`TRAILER`]. A tuple is an `int16` field count followed by
//! each field as an `int32` byte length and its big-endian bytes.
//! `timestamptz` is an `int64` of µs since 2000-01-01 00:00 UTC.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::ingest::Point;

/// `PGCOPY\n\xff\r\n\0`, flags (int32 0), header extension length (int32 0).
pub const HEADER: [u8; 19] = *b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The file trailer: a field count of -1.
pub const TRAILER: [u8; 2] = (-1i16).to_be_bytes();
/// µs from 1970-01-01 to 2000-01-01 (the PostgreSQL epoch).
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;
/// Bytes of one `(series_id int4, time timestamptz, value float8)` tuple.
pub const POINT_TUPLE_LEN: usize = 2 + (4 + 4) + (4 + 8) + (4 + 8);
/// Bytes of one rollup tuple (see [`encode_rollups`]).
pub const ROLLUP_TUPLE_LEN: usize = 2 + (4 + 4) + 7 * (4 + 8);

/// A `timestamptz` value from µs since the Unix epoch.
#[inline]
pub fn pg_timestamp(unix_us: i64) -> i64 {
    unix_us.saturating_sub(PG_EPOCH_OFFSET_US)
}

#[inline(always)]
fn put<const N: usize>(t: &mut [u8], at: usize, bytes: [u8; N]) {
    t[at..at + N].copy_from_slice(&bytes);
}

/// Binary COPY tuples `(series_id, time, value)` of `points`, in order.
/// `series_ids[p.series]` is the `series_id` of point `p`.
///
/// # Panics
/// If a point's `series` index is out of `series_ids`.
pub fn encode_points(points: &[Point], series_ids: &[i32]) -> Vec<u8> {
    let mut out = vec![0u8; points.len() * POINT_TUPLE_LEN];
    for (t, p) in out.chunks_exact_mut(POINT_TUPLE_LEN).zip(points) {
        let t: &mut [u8; POINT_TUPLE_LEN] = t.try_into().expect("exact chunk");
        put(t, 0, 3i16.to_be_bytes());
        put(t, 2, 4i32.to_be_bytes());
        put(t, 6, series_ids[p.series as usize].to_be_bytes());
        put(t, 10, 8i32.to_be_bytes());
        put(t, 14, pg_timestamp(p.time_us).to_be_bytes());
        put(t, 22, 8i32.to_be_bytes());
        put(t, 26, p.value.to_bits().to_be_bytes());
    }
    out
}

/// FxHash: a fast multiplicative hasher for the small integer rollup keys
/// (the default SipHash is several times slower and its DoS resistance buys
/// nothing for keys derived from a batch's own series ids and buckets).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_i32(&mut self, x: i32) {
        self.write_u64(x as u32 as u64);
    }
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }
}

/// Aggregate of the points of one series in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    pub series_id: i32,
    /// Start of the bucket, µs since the Unix epoch.
    pub bucket_us: i64,
    pub count: i64,
    /// Sum in input order.
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Value of the point with the greatest time (ties: the later in input order).
    pub last: f64,
    pub last_time_us: i64,
}

/// Start of the bucket of `t` (µs): `floor(t / width) * width` (saturating
/// at `i64::MIN`).
#[inline]
pub fn bucket_start(t: i64, width_us: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(width_us))
}

/// Rollups of `points` per `(series_id, bucket)`, sorted by `(series_id,
/// bucket)` (a stable lock order for concurrent upserts).
///
/// # Panics
/// If `width_us <= 0` or a point's `series` index is out of `series_ids`.
pub fn rollups(points: &[Point], series_ids: &[i32], width_us: i64) -> Vec<Rollup> {
    assert!(width_us > 0, "bucket width must be positive");
    let mut index: HashMap<(i32, i64), usize, BuildHasherDefault<FxHasher>> = HashMap::default();
    let mut out: Vec<Rollup> = Vec::new();
    for p in points {
        let series_id = series_ids[p.series as usize];
        let bucket_us = bucket_start(p.time_us, width_us);
        let v = p.value;
        let i = *index.entry((series_id, bucket_us)).or_insert_with(|| {
            out.push(Rollup {
                series_id,
                bucket_us,
                count: 0,
                sum: 0.0,
                min: v,
                max: v,
                last: v,
                last_time_us: p.time_us,
            });
            out.len() - 1
        });
        let r = &mut out[i];
        r.count += 1;
        r.sum += v;
        if v < r.min {
            r.min = v;
        }
        if v > r.max {
            r.max = v;
        }
        if p.time_us >= r.last_time_us {
            r.last = v;
            r.last_time_us = p.time_us;
        }
    }
    out.sort_unstable_by_key(|r| (r.series_id, r.bucket_us));
    out
}

/// Binary COPY tuples `(series_id int4, bucket timestamptz, count int8,
/// sum float8, min float8, max float8, last float8, last_time timestamptz)`.
pub fn encode_rollups(rollups: &[Rollup]) -> Vec<u8> {
    let mut out = vec![0u8; rollups.len() * ROLLUP_TUPLE_LEN];
    for (t, r) in out.chunks_exact_mut(ROLLUP_TUPLE_LEN).zip(rollups) {
        let t: &mut [u8; ROLLUP_TUPLE_LEN] = t.try_into().expect("exact chunk");
        put(t, 0, 8i16.to_be_bytes());
        put(t, 2, 4i32.to_be_bytes());
        put(t, 6, r.series_id.to_be_bytes());
        let eights: [[u8; 8]; 7] = [
            pg_timestamp(r.bucket_us).to_be_bytes(),
            r.count.to_be_bytes(),
            r.sum.to_bits().to_be_bytes(),
            r.min.to_bits().to_be_bytes(),
            r.max.to_bits().to_be_bytes(),
            r.last.to_bits().to_be_bytes(),
            pg_timestamp(r.last_time_us).to_be_bytes(),
        ];
        for (k, field) in eights.into_iter().enumerate() {
            let at = 10 + k * 12;
            put(t, at, 8i32.to_be_bytes());
            put(t, at + 4, field);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(series: u32, time_us: i64, value: f64) -> Point {
        Point {
            series,
            time_us,
            value,
        }
    }

    #[test]
    fn header_and_trailer() {
        assert_eq!(&HEADER[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&HEADER[11..], &[0u8; 8]);
        assert_eq!(TRAILER, [0xff, 0xff]);
    }

    #[test]
    fn point_tuple_bytes_are_exact() {
        // 2023-11-14T22:13:20Z = 1_700_000_000 s; value 1.5; series_id 7.
        let got = encode_points(&[pt(0, 1_700_000_000_000_000, 1.5)], &[7]);
        let pg = 1_700_000_000_000_000i64 - 946_684_800_000_000; // 753_315_200_000_000
        assert_eq!(pg, 0x0002_AD22_DCE6_6000);
        let want: Vec<u8> = [
            &[0x00, 0x03][..],
            &[0, 0, 0, 4],
            &[0, 0, 0, 7],
            &[0, 0, 0, 8],
            &[0x00, 0x02, 0xAD, 0x22, 0xDC, 0xE6, 0x60, 0x00],
            &[0, 0, 0, 8],
            &[0x3F, 0xF8, 0, 0, 0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(got, want);
        assert_eq!(got.len(), POINT_TUPLE_LEN);
    }

    #[test]
    fn points_in_order_and_pre_epoch_times() {
        let got = encode_points(
            &[pt(1, 0, -0.0), pt(0, PG_EPOCH_OFFSET_US - 1, 2.0)],
            &[10, -3],
        );
        assert_eq!(got.len(), 2 * POINT_TUPLE_LEN);
        assert_eq!(&got[6..10], &(-3i32).to_be_bytes());
        assert_eq!(&got[14..22], &(-PG_EPOCH_OFFSET_US).to_be_bytes());
        assert_eq!(&got[26..34], &(-0.0f64).to_bits().to_be_bytes());
        assert_eq!(&got[34 + 6..34 + 10], &10i32.to_be_bytes());
        assert_eq!(&got[34 + 14..34 + 22], &(-1i64).to_be_bytes());
        assert!(encode_points(&[], &[]).is_empty());
    }

    #[test]
    fn buckets_floor_toward_minus_infinity() {
        let m = 60_000_000;
        assert_eq!(bucket_start(0, m), 0);
        assert_eq!(bucket_start(59_999_999, m), 0);
        assert_eq!(bucket_start(60_000_000, m), m);
        assert_eq!(bucket_start(-1, m), -m);
        assert_eq!(bucket_start(-m, m), -m);
        assert_eq!(bucket_start(i64::MIN, m), i64::MIN);
        assert_eq!(bucket_start(i64::MAX, m), i64::MAX - i64::MAX % m);
    }

    #[test]
    fn rollup_aggregation() {
        let m = 60_000_000;
        let points = [
            pt(0, 10, 5.0),
            pt(1, 20, 100.0),
            pt(0, 30, 1.0),
            pt(0, m + 5, 7.0), // next bucket
            pt(0, 30, 3.0),    // tie on time: the later one is last
            pt(0, 25, -2.0),   // earlier time: not last
        ];
        let r = rollups(&points, &[42, 41], m);
        assert_eq!(
            r,
            vec![
                Rollup {
                    series_id: 41,
                    bucket_us: 0,
                    count: 1,
                    sum: 100.0,
                    min: 100.0,
                    max: 100.0,
                    last: 100.0,
                    last_time_us: 20
                },
                Rollup {
                    series_id: 42,
                    bucket_us: 0,
                    count: 4,
                    sum: 7.0,
                    min: -2.0,
                    max: 5.0,
                    last: 3.0,
                    last_time_us: 30
                },
                Rollup {
                    series_id: 42,
                    bucket_us: m,
                    count: 1,
                    sum: 7.0,
                    min: 7.0,
                    max: 7.0,
                    last: 7.0,
                    last_time_us: m + 5
                },
            ]
        );
        // two hashes mapped to the same series_id merge
        let r = rollups(&[pt(0, 1, 1.0), pt(1, 2, 2.0)], &[9, 9], m);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].count, r[0].sum, r[0].last), (2, 3.0, 2.0));
    }

    #[test]
    fn rollup_tuple_bytes_are_exact() {
        let r = Rollup {
            series_id: 5,
            bucket_us: PG_EPOCH_OFFSET_US + 60_000_000,
            count: 3,
            sum: 6.0,
            min: 1.0,
            max: 3.0,
            last: 2.0,
            last_time_us: PG_EPOCH_OFFSET_US + 60_000_001,
        };
        let got = encode_rollups(&[r]);
        let mut want = vec![0x00, 0x08, 0, 0, 0, 4, 0, 0, 0, 5];
        for f in [
            60_000_000i64.to_be_bytes(),
            3i64.to_be_bytes(),
            6.0f64.to_bits().to_be_bytes(),
            1.0f64.to_bits().to_be_bytes(),
            3.0f64.to_bits().to_be_bytes(),
            2.0f64.to_bits().to_be_bytes(),
            60_000_001i64.to_be_bytes(),
        ] {
            want.extend_from_slice(&[0, 0, 0, 8]);
            want.extend_from_slice(&f);
        }
        assert_eq!(got, want);
        assert_eq!(got.len(), ROLLUP_TUPLE_LEN);
    }
}
