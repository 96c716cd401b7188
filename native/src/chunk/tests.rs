use proptest::prelude::*;

use super::rollup::{rollups, Rollup};
use super::*;

const STALE: f64 = f64::from_bits(STALE_NAN_BITS);

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

const CODECS: [Codec; 2] = [Codec::Gorilla, Codec::Pco];

fn round_trip(ts: &[i64], vs: &[f64]) {
    for codec in CODECS {
        let data = encode_with(codec, ts, vs).unwrap();
        let back = decode(&data).unwrap();
        assert_eq!(back.timestamps, ts, "{codec:?}");
        assert_eq!(bits(&back.values), bits(vs), "{codec:?}");
        let h = header(&data).unwrap();
        assert_eq!(
            (h.codec, h.count, h.first),
            (codec, ts.len(), ts.first().copied())
        );
    }
}

/// Rewrite the checksum after a mutation, so the structural checks are reached.
fn reseal(data: &mut [u8]) {
    let n = data.len();
    let sum = checksum(&data[..n - 4]);
    data[n - 4..].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn special_values_round_trip() {
    let ts = [-5, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    let vs = [
        STALE,
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::from_bits(0xfff8_dead_beef_0001),
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE / 3.0,
    ];
    round_trip(&ts, &vs);
}

#[test]
fn extreme_timestamps_round_trip() {
    round_trip(&[i64::MIN, i64::MAX], &[1.0, 2.0]);
    round_trip(
        &[i64::MIN, i64::MIN + 1, 0, i64::MAX - 1, i64::MAX],
        &[1.0; 5],
    );
    round_trip(&[i64::MAX], &[f64::NAN]);
    round_trip(&[], &[]);
}

#[test]
fn millisecond_data_costs_no_more_in_microseconds() {
    let ts_ms: Vec<i64> = (0..480)
        .map(|i| 1_700_000_000_000 + i * 15_000 + (i * 7 % 5))
        .collect();
    let vs: Vec<f64> = (0..480).map(|i| (i * 3) as f64).collect();
    let ts_us: Vec<i64> = ts_ms.iter().map(|t| t * 1000).collect();
    let a = encode_with(Codec::Gorilla, &ts_ms, &vs).unwrap().len();
    let b = encode_with(Codec::Gorilla, &ts_us, &vs).unwrap().len();
    assert!(b <= a + 4, "{a} vs {b}");
}

#[test]
fn encode_sorts_and_later_duplicate_wins() {
    for codec in CODECS {
        let data = encode_with(codec, &[30, 10, 20, 10], &[3.0, 1.0, 2.0, 1.5]).unwrap();
        let s = decode(&data).unwrap();
        assert_eq!(s.timestamps, [10, 20, 30]);
        assert_eq!(s.values, [1.5, 2.0, 3.0]);
    }
}

#[test]
fn length_mismatch_is_an_error() {
    assert_eq!(
        encode(&[1, 2], &[1.0]),
        Err(ChunkError::LengthMismatch {
            timestamps: 2,
            values: 1
        })
    );
}

#[test]
fn merge_sorted_places_out_of_order_and_new_wins() {
    let old = decode(&encode(&[10, 20, 30], &[1.0, 2.0, 3.0]).unwrap()).unwrap();
    let m = merge_sorted(&old, &[5, 20, 25], &[0.5, STALE, 2.6]);
    assert_eq!(m.timestamps, [5, 10, 20, 25, 30]);
    assert_eq!(bits(&m.values), bits(&[0.5, 1.0, STALE, 2.6, 3.0]));
}

#[test]
fn too_many_samples() {
    let n = MAX_SAMPLES + 1;
    let ts: Vec<i64> = (0..n as i64).collect();
    assert_eq!(
        encode(&ts, &vec![0.0; n]),
        Err(ChunkError::TooManySamples(n))
    );
}

#[test]
fn corrupt_chunks_are_errors() {
    for codec in CODECS {
        let data = encode_with(codec, &[1, 2, 3], &[1.0, 2.0, 3.0]).unwrap();
        for n in 0..data.len() {
            assert!(decode(&data[..n]).is_err(), "prefix of {n} bytes");
        }
        let mut extra = data.clone();
        extra.insert(extra.len() - 4, 0);
        reseal(&mut extra);
        assert_eq!(decode(&extra), Err(ChunkError::TrailingData), "{codec:?}");
        let mut bad = data.clone();
        bad[0] = 9;
        assert_eq!(decode(&bad), Err(ChunkError::UnsupportedVersion(9)));
        let mut flipped = data.clone();
        flipped[3] ^= 1;
        assert_eq!(decode(&flipped), Err(ChunkError::Checksum));
        // A header count that disagrees with the payload, checksum recomputed.
        for count in [2u8, 4] {
            let mut forged = data.clone();
            forged[1] = count;
            reseal(&mut forged);
            assert!(decode(&forged).is_err(), "{codec:?} count {count}");
        }
    }
    // A count beyond MAX_SAMPLES is refused before allocating.
    let mut huge = vec![Codec::Gorilla as u8];
    crate::varint::put_uvarint(&mut huge, u64::MAX);
    huge.extend_from_slice(&[0; 12]);
    huge.extend_from_slice(&[0; 4]);
    reseal(&mut huge);
    assert!(matches!(decode(&huge), Err(ChunkError::Corrupt(_))));
    // Count 2 but the payload only holds one sample.
    let mut short = encode_with(Codec::Gorilla, &[1, 2], &[1.0, 1.0]).unwrap();
    short[1] = 3;
    reseal(&mut short);
    assert_eq!(decode(&short), Err(ChunkError::Truncated));
    let mut long = encode_with(Codec::Gorilla, &[1, 2, 3], &[1.0, 1.0, 1.0]).unwrap();
    long[1] = 2;
    reseal(&mut long);
    assert_eq!(decode(&long), Err(ChunkError::TrailingData));
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        // NaN payloads of both signs, the staleness marker among them.
        (any::<bool>(), 1u64..(1 << 52))
            .prop_map(|(s, p)| f64::from_bits(((s as u64) << 63) | 0x7ff0_0000_0000_0000 | p)),
        Just(STALE),
        Just(-0.0),
        Just(f64::INFINITY),
        (0i64..1000).prop_map(|i| i as f64),
    ]
}

fn any_ts() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -1000i64..1000]
}

/// Realistic scrapes: 15 s ± jitter, in µs or ms precision.
fn scrape_series() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
    (
        1usize..600,
        any::<i64>(),
        prop::collection::vec((-5000i64..5000, any_f64()), 600),
    )
        .prop_map(|(n, start, jitter)| {
            let start = start / 4;
            let ts = (0..n)
                .map(|i| start + i as i64 * 15_000_000 + jitter[i].0)
                .collect();
            (ts, jitter[..n].iter().map(|j| j.1).collect())
        })
}

proptest! {
    #[test]
    fn arbitrary_samples_round_trip(pairs in prop::collection::vec((any_ts(), any_f64()), 0..300)) {
        let (ts, vs): (Vec<i64>, Vec<f64>) = pairs.into_iter().unzip();
        let expected = normalize(&ts, &vs).unwrap();
        for codec in CODECS {
            let back = decode(&encode_with(codec, &ts, &vs).unwrap()).unwrap();
            prop_assert_eq!(&back.timestamps, &expected.timestamps);
            prop_assert_eq!(bits(&back.values), bits(&expected.values));
        }
    }

    #[test]
    fn scrapes_round_trip((ts, vs) in scrape_series()) {
        round_trip(&ts, &vs);
    }

    #[test]
    fn normalize_keeps_the_last_write(pairs in prop::collection::vec((0i64..50, any::<u32>()), 0..100)) {
        let ts: Vec<i64> = pairs.iter().map(|p| p.0).collect();
        let vs: Vec<f64> = pairs.iter().map(|p| f64::from(p.1)).collect();
        let s = normalize(&ts, &vs).unwrap();
        let mut model = std::collections::BTreeMap::new();
        for (t, v) in ts.iter().zip(&vs) {
            model.insert(*t, *v);
        }
        prop_assert_eq!(s.timestamps, model.keys().copied().collect::<Vec<_>>());
        prop_assert_eq!(s.values, model.values().copied().collect::<Vec<_>>());
    }

    #[test]
    fn merge_sorted_equals_normalizing_old_then_new(
        old in prop::collection::vec((0i64..100, any_f64()), 0..60),
        new in prop::collection::vec((0i64..100, any_f64()), 0..60),
    ) {
        let (ot, ov): (Vec<i64>, Vec<f64>) = old.into_iter().unzip();
        let (nt, nv): (Vec<i64>, Vec<f64>) = new.into_iter().unzip();
        let existing = decode(&encode(&ot, &ov).unwrap()).unwrap();
        let new = normalize(&nt, &nv).unwrap();
        let merged = merge_sorted(&existing, &new.timestamps, &new.values);
        let all_t: Vec<i64> = ot.iter().chain(&nt).copied().collect();
        let all_v: Vec<f64> = ov.iter().chain(&nv).copied().collect();
        let expected = normalize(&all_t, &all_v).unwrap();
        prop_assert_eq!(&merged.timestamps, &expected.timestamps);
        prop_assert_eq!(bits(&merged.values), bits(&expected.values));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&data);
        let mut sealed = data.clone();
        if sealed.len() >= 5 {
            for codec in CODECS {
                sealed[0] = codec as u8;
                reseal(&mut sealed);
                let _ = decode(&sealed);
            }
        }
    }

    #[test]
    fn mutated_chunks_are_errors(
        (ts, vs) in scrape_series(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<prop::sample::Index>(),
        gorilla in any::<bool>(),
    ) {
        let codec = if gorilla { Codec::Gorilla } else { Codec::Pco };
        let data = encode_with(codec, &ts, &vs).unwrap();
        prop_assert!(decode(&data[..cut.index(data.len())]).is_err());
        let mut m = data.clone();
        let i = at.index(m.len());
        m[i] ^= flip;
        prop_assert!(decode(&m).is_err());
        // Past the checksum the structural checks must hold on their own:
        // whatever decodes is consistent with its header.
        reseal(&mut m);
        if let Ok(s) = decode(&m) {
            prop_assert!(s.timestamps.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(s.len(), header(&m).unwrap().count);
            prop_assert_eq!(s.timestamps.first().copied(), header(&m).unwrap().first);
        }
    }
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

fn rollup_model(ts: &[i64], vs: &[f64], width: i64, prev: Option<f64>) -> Vec<Rollup> {
    // A straightforward restatement of the documented rules, bucket by bucket.
    let s = normalize(ts, vs).unwrap();
    let mut buckets: std::collections::BTreeMap<i64, Vec<(i64, f64, f64)>> = Default::default();
    let mut last_counter = prev.filter(|p| !p.is_nan());
    for (&t, &v) in s.timestamps.iter().zip(&s.values) {
        if v.to_bits() == STALE_NAN_BITS {
            continue;
        }
        let mut inc = 0.0;
        if !v.is_nan() {
            if let Some(p) = last_counter {
                inc = if v >= p { v - p } else { v };
            }
            last_counter = Some(v);
        }
        buckets
            .entry(t.div_euclid(width) * width)
            .or_default()
            .push((t, v, inc));
    }
    buckets
        .into_iter()
        .map(|(b, xs)| {
            let finite: Vec<f64> = xs.iter().map(|x| x.1).filter(|v| !v.is_nan()).collect();
            let (min, max) = if finite.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                (
                    finite.iter().copied().fold(f64::INFINITY, f64::min),
                    finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                )
            };
            Rollup {
                bucket_us: b,
                count: xs.len() as i64,
                sum: xs.iter().map(|x| x.1).fold(0.0, |a, v| a + v),
                min,
                max,
                last: xs.last().unwrap().1,
                last_time_us: xs.last().unwrap().0,
                increase: xs.iter().map(|x| x.2).fold(0.0, |a, v| a + v),
            }
        })
        .collect()
}

fn same_rollups(a: &[Rollup], b: &[Rollup]) -> bool {
    let f = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) || x == y;
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.bucket_us == y.bucket_us
                && x.count == y.count
                && x.last_time_us == y.last_time_us
                && f(x.sum, y.sum)
                && f(x.min, y.min)
                && f(x.max, y.max)
                && f(x.last, y.last)
                && f(x.increase, y.increase)
        })
}

#[test]
fn rollups_of_a_counter_with_a_reset() {
    let m = 60_000_000;
    let ts = [0, 15, 30, 45, 60, 75, 90].map(|s| s * 1_000_000);
    let vs = [10.0, 12.0, STALE, 15.0, 3.0, 5.0, f64::NAN];
    let r = rollups(&ts, &vs, m, Some(8.0)).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].bucket_us, r[0].count, r[0].sum, r[0].min, r[0].max),
        (0, 3, 37.0, 10.0, 15.0)
    );
    assert_eq!(
        (r[0].last, r[0].last_time_us, r[0].increase),
        (15.0, 45_000_000, 7.0)
    );
    assert_eq!(
        (r[1].bucket_us, r[1].count, r[1].min, r[1].max),
        (m, 3, 3.0, 5.0)
    );
    assert!(r[1].sum.is_nan() && r[1].last.is_nan());
    // 15 → 3 is a reset: +3, then 3 → 5: +2.
    assert_eq!(r[1].increase, 5.0);
    // Only markers: no rollup at all.
    assert!(rollups(&[1, 2], &[STALE, STALE], m, None)
        .unwrap()
        .is_empty());
}

proptest! {
    #[test]
    fn rollups_match_the_model(
        pairs in prop::collection::vec((-400_000_000i64..400_000_000, any_f64()), 0..200),
        prev in prop::option::of(any_f64()),
        hour in any::<bool>(),
    ) {
        let width = if hour { 3_600_000_000 } else { 60_000_000 };
        let (ts, vs): (Vec<i64>, Vec<f64>) = pairs.into_iter().unzip();
        let got = rollups(&ts, &vs, width, prev).unwrap();
        let want = rollup_model(&ts, &vs, width, prev);
        prop_assert!(same_rollups(&got, &want), "{:?}\n{:?}", got, want);
    }
}

#[test]
fn edges_are_each_buckets_first_and_last_raw_entry() {
    use super::rollup::edges;
    let stale = f64::from_bits(STALE_NAN_BITS);
    // Unsorted input with a duplicate (the later write wins), a lone marker in a bucket.
    let ts = [15, 5, 12, 25, 12, 31];
    let vs = [2.0, 1.0, 7.0, stale, 3.0, f64::NAN];
    let got: Vec<_> = edges(&ts, &vs, 10)
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.bucket_us,
                e.first_time_us,
                e.first.to_bits(),
                e.end_time_us,
                e.end.to_bits(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 5, 1f64.to_bits(), 5, 1f64.to_bits()),
            (10, 12, 3f64.to_bits(), 15, 2f64.to_bits()),
            (20, 25, STALE_NAN_BITS, 25, STALE_NAN_BITS),
            (30, 31, f64::NAN.to_bits(), 31, f64::NAN.to_bits()),
        ]
    );
    assert!(edges(&[], &[], 10).unwrap().is_empty());
}
