use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::chunk::STALE_NAN_BITS;

const STALE: f64 = f64::from_bits(STALE_NAN_BITS);
const ALL: [Agg; 7] = [
    Agg::Avg,
    Agg::Sum,
    Agg::Min,
    Agg::Max,
    Agg::Count,
    Agg::Last,
    Agg::Rate,
];

type Sample = (i64, i64, u64);
/// A chunk to generate: its series, its samples (later wins), Gorilla or not.
type ChunkSpec = (i64, Vec<(i64, u64)>, bool);

fn encode_block(samples: &[Sample]) -> Vec<u8> {
    let ids: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let ts: Vec<i64> = samples.iter().map(|s| s.1).collect();
    let vs: Vec<f64> = samples.iter().map(|s| f64::from_bits(s.2)).collect();
    block::encode(&ids, &ts, &vs).unwrap()
}

fn encode_chunk(samples: &[(i64, f64)], codec: Codec) -> Vec<u8> {
    let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let vs: Vec<f64> = samples.iter().map(|s| s.1).collect();
    chunk::encode_with(codec, &ts, &vs).unwrap()
}

fn range(lo_us: i64, first_us: i64, hi_us: i64, step_us: i64) -> Range {
    Range {
        lo_us,
        first_us,
        hi_us,
        step_us,
    }
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// `(group, [(window, value)])` for compact assertions.
fn flat(got: &[GroupWindows]) -> Vec<(i64, Vec<(i64, f64)>)> {
    got.iter()
        .map(|g| {
            let pairs = g.starts_us.iter().copied().zip(g.values.iter().copied());
            (g.group, pairs.collect())
        })
        .collect()
}

// --- the naive model ------------------------------------------------------------

/// Series → time → value bits: the chunks in order, then every block sample
/// in write order, each overwriting what was there; then cut to `[lo, hi)`.
fn model_samples(
    chunks: &[ChunkSpec],
    blocks: &[Vec<Sample>],
    lo: i64,
    hi: i64,
) -> BTreeMap<i64, BTreeMap<i64, u64>> {
    let mut out: BTreeMap<i64, BTreeMap<i64, u64>> = BTreeMap::new();
    for (sid, samples, _) in chunks {
        for &(t, b) in samples {
            out.entry(*sid).or_default().insert(t, b);
        }
    }
    for block in blocks {
        for &(sid, t, b) in block {
            out.entry(sid).or_default().insert(t, b);
        }
    }
    for m in out.values_mut() {
        m.retain(|&t, _| lo <= t && t < hi);
    }
    out.retain(|_, m| !m.is_empty());
    out
}

/// One series' window, computed straight from the definitions.
#[derive(Debug, Clone, Copy)]
struct Win {
    count: i64,
    sum: f64,
    min: f64,
    max: f64,
    last: f64,
    last_time: i64,
    increase: f64,
}

fn model_windows(samples: &BTreeMap<i64, u64>, step: i64) -> BTreeMap<i64, Win> {
    let mut out: BTreeMap<i64, Win> = BTreeMap::new();
    let mut counter: Option<f64> = None;
    for (&t, &b) in samples {
        if b == STALE_NAN_BITS {
            continue;
        }
        let v = f64::from_bits(b);
        let mut inc = 0.0;
        if !v.is_nan() {
            if let Some(p) = counter {
                inc = if v < p { v } else { v - p };
            }
            counter = Some(v);
        }
        let w = out.entry(t.div_euclid(step) * step).or_insert(Win {
            count: 0,
            sum: 0.0,
            min: f64::NAN,
            max: f64::NAN,
            last: v,
            last_time: t,
            increase: 0.0,
        });
        w.count += 1;
        w.sum += v;
        if !v.is_nan() {
            if w.min.is_nan() || v < w.min {
                w.min = v;
            }
            if w.max.is_nan() || v > w.max {
                w.max = v;
            }
        }
        w.last = v;
        w.last_time = t;
        w.increase += inc;
    }
    out
}

fn model_aggregate(
    series: &[(i64, i64)],
    samples: &BTreeMap<i64, BTreeMap<i64, u64>>,
    r: Range,
    agg: Agg,
) -> Vec<(i64, Vec<(i64, f64)>)> {
    let per_series: Vec<(i64, BTreeMap<i64, Win>)> = series
        .iter()
        .map(|&(sid, g)| {
            let w = samples
                .get(&sid)
                .map(|s| model_windows(s, r.step_us))
                .unwrap_or_default();
            (g, w)
        })
        .collect();
    let mut groups: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    let all_groups: std::collections::BTreeSet<i64> = series.iter().map(|s| s.1).collect();
    let all_windows: std::collections::BTreeSet<i64> = per_series
        .iter()
        .flat_map(|(_, w)| w.keys().copied())
        .filter(|&w| w >= r.first_us)
        .collect();
    for &g in &all_groups {
        for &w in &all_windows {
            let members: Vec<&BTreeMap<i64, Win>> = per_series
                .iter()
                .filter(|(sg, _)| *sg == g)
                .map(|(_, m)| m)
                .collect();
            let here: Vec<Win> = members.iter().filter_map(|m| m.get(&w).copied()).collect();
            let value = match agg {
                Agg::Rate => {
                    let qualified: Vec<f64> = members
                        .iter()
                        .filter(|m| m.contains_key(&(w - r.step_us)))
                        .filter_map(|m| m.get(&w))
                        .map(|x| x.increase / (r.step_us as f64 / 1e6))
                        .collect();
                    if qualified.is_empty() {
                        continue;
                    }
                    qualified.iter().fold(0.0, |a, b| a + b)
                }
                _ if here.is_empty() => continue,
                Agg::Count => here.iter().map(|x| x.count).sum::<i64>() as f64,
                Agg::Sum => here.iter().fold(0.0, |a, x| a + x.sum),
                Agg::Avg => {
                    here.iter().fold(0.0, |a, x| a + x.sum)
                        / here.iter().map(|x| x.count).sum::<i64>() as f64
                }
                Agg::Min => here
                    .iter()
                    .map(|x| x.min)
                    .filter(|v| !v.is_nan())
                    .fold(None, |a: Option<f64>, v| {
                        Some(a.map_or(v, |a| if v < a { v } else { a }))
                    })
                    .unwrap_or(f64::NAN),
                Agg::Max => here
                    .iter()
                    .map(|x| x.max)
                    .filter(|v| !v.is_nan())
                    .fold(None, |a: Option<f64>, v| {
                        Some(a.map_or(v, |a| if v > a { v } else { a }))
                    })
                    .unwrap_or(f64::NAN),
                Agg::Last => {
                    let latest = here.iter().map(|x| x.last_time).max().unwrap();
                    here.iter().find(|x| x.last_time == latest).unwrap().last
                }
            };
            groups.entry(g).or_default().push((w, value));
        }
    }
    groups.into_iter().collect()
}

// --- strategies ---------------------------------------------------------------

const STEP: i64 = 10_000;

fn bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0i64..20).prop_map(|v| (v as f64).to_bits()),
        1 => any::<u64>(),
        1 => Just(STALE_NAN_BITS),
        1 => Just(f64::NAN.to_bits()),
        1 => Just(f64::INFINITY.to_bits()),
        1 => Just((-0.0f64).to_bits()),
    ]
}

/// Times around 0 on a coarse grid so duplicates are frequent.
fn time() -> impl Strategy<Value = i64> {
    (-12i64..12, prop_oneof![Just(0i64), 0i64..2_500]).prop_map(|(k, us)| k * 2_500 + us)
}

fn chunks_strategy() -> impl Strategy<Value = Vec<ChunkSpec>> {
    prop::collection::vec(
        (
            0i64..6,
            prop::collection::vec((time(), bits()), 0..10),
            any::<bool>(),
        ),
        0..6,
    )
}

fn blocks_strategy() -> impl Strategy<Value = Vec<Vec<Sample>>> {
    prop::collection::vec(
        prop::collection::vec((0i64..6, time(), bits()), 0..16),
        0..4,
    )
}

/// Distinct series 0..5 (6 and 7 stay unlisted) with groups 0..3, in any order.
fn series_strategy() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec(0i64..3, 5)
        .prop_flat_map(|groups| {
            let pairs: Vec<(i64, i64)> = groups
                .into_iter()
                .enumerate()
                .map(|(i, g)| (i as i64, g))
                .collect();
            prop::sample::subsequence(pairs.clone(), 0..=pairs.len())
        })
        .prop_shuffle()
}

/// `lo <= first <= hi` over the generated times, with steps that do and do
/// not divide the grid.
fn range_strategy() -> impl Strategy<Value = Range> {
    (
        prop::sample::select(vec![2_500i64, STEP, 7_000, 40_000]),
        -35_000i64..35_000,
        0i64..30_000,
        0i64..70_000,
    )
        .prop_map(|(step, lo, d1, d2)| range(lo, lo + d1, lo + d1 + d2, step))
}

fn encode_specs(chunks: &[ChunkSpec]) -> Vec<(i64, Vec<u8>)> {
    chunks
        .iter()
        .map(|(sid, samples, gorilla)| {
            let codec = if *gorilla { Codec::Gorilla } else { Codec::Pco };
            let s: Vec<(i64, f64)> = samples
                .iter()
                .map(|&(t, b)| (t, f64::from_bits(b)))
                .collect();
            (*sid, encode_chunk(&s, codec))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn aggregates_equal_the_naive_model(
        chunks in chunks_strategy(),
        blocks in blocks_strategy(),
        series in series_strategy(),
        r in range_strategy(),
    ) {
        let encoded_chunks = encode_specs(&chunks);
        let encoded_blocks: Vec<Vec<u8>> = blocks.iter().map(|b| encode_block(b)).collect();
        let samples = model_samples(&chunks, &blocks, r.lo_us, r.hi_us);
        for agg in ALL {
            let got = aggregate_windows(&series, &encoded_chunks, &encoded_blocks, r, agg).unwrap();
            let want = model_aggregate(&series, &samples, r, agg);
            let got = flat(&got);
            prop_assert_eq!(got.len(), want.len(), "{:?}: {:?} vs {:?}", agg, got, want);
            for ((gg, gw), (wg, ww)) in got.iter().zip(&want) {
                prop_assert_eq!(gg, wg);
                prop_assert_eq!(
                    gw.iter().map(|p| p.0).collect::<Vec<_>>(),
                    ww.iter().map(|p| p.0).collect::<Vec<_>>(),
                    "{:?}", agg
                );
                for (a, b) in gw.iter().zip(ww) {
                    prop_assert!(same(a.1, b.1), "{:?} window {}: {} vs {}", agg, a.0, a.1, b.1);
                }
            }
        }
    }

    #[test]
    fn series_samples_equal_the_naive_merge(
        chunks in chunks_strategy(),
        blocks in blocks_strategy(),
        r in range_strategy(),
        filter in prop::option::of(prop::collection::vec(0i64..8, 0..4)),
    ) {
        let encoded_chunks = encode_specs(&chunks);
        let encoded_blocks: Vec<Vec<u8>> = blocks.iter().map(|b| encode_block(b)).collect();
        let got = series_samples(&encoded_chunks, &encoded_blocks, r.lo_us, r.hi_us, filter.as_deref()).unwrap();
        let mut want = model_samples(&chunks, &blocks, r.lo_us, r.hi_us);
        if let Some(ids) = &filter {
            want.retain(|sid, _| ids.contains(sid));
        }
        let got: Vec<(i64, Vec<(i64, u64)>)> = got
            .into_iter()
            .map(|(sid, s)| {
                (sid, s.timestamps.into_iter().zip(s.values.iter().map(|v| v.to_bits())).collect())
            })
            .collect();
        let want: Vec<(i64, Vec<(i64, u64)>)> =
            want.into_iter().map(|(sid, m)| (sid, m.into_iter().collect())).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn corrupt_blocks_and_chunks_are_errors_never_panics(
        samples in prop::collection::vec((0i64..3, time(), bits()), 1..10),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        corrupt_chunk in any::<bool>(),
    ) {
        let good_block = encode_block(&[(1, 0, 0)]);
        let good_chunk = encode_chunk(&[(0, 1.0)], Codec::Pco);
        let mut data = if corrupt_chunk {
            let s: Vec<(i64, f64)> = samples.iter().map(|&(_, t, b)| (t, f64::from_bits(b))).collect();
            encode_chunk(&s, Codec::Gorilla)
        } else {
            encode_block(&samples)
        };
        let i = flip.index(data.len());
        data[i] ^= 1 << bit;
        let (chunks, blocks) = if corrupt_chunk {
            (vec![(1, good_chunk), (1, data)], vec![good_block])
        } else {
            (vec![(1, good_chunk)], vec![good_block, data])
        };
        let r = aggregate_windows(&[(1, 0)], &chunks, &blocks, range(0, 0, 10, 1), Agg::Sum);
        let s = series_samples(&chunks, &blocks, 0, 10, None);
        let bad = |e: &QueryError| match e {
            QueryError::Chunk { index: 1, .. } => corrupt_chunk,
            QueryError::Block { index: 1, .. } => !corrupt_chunk,
            _ => false,
        };
        prop_assert!(r.as_ref().is_err_and(bad), "{:?}", r);
        prop_assert!(s.as_ref().is_err_and(bad), "{:?}", s);
        if corrupt_chunk {
            let c = reencode_chunks(&[&chunks[0].1, &chunks[1].1], Codec::Pco);
            prop_assert!(matches!(c, Err(QueryError::Chunk { index: 1, .. })), "{:?}", c);
        }
    }
}

// --- examples -----------------------------------------------------------------

#[test]
fn blocks_override_chunks_and_the_later_write_wins() {
    let a = encode_chunk(&[(0, 1.0), (10, 2.0), (20, 3.0)], Codec::Gorilla);
    let b = encode_chunk(&[(30, 4.0)], Codec::Pco);
    let b1 = encode_block(&[(7, 10, 20f64.to_bits()), (7, 35, 5f64.to_bits())]);
    let b2 = encode_block(&[
        (7, 35, 6f64.to_bits()),
        (7, 35, 7f64.to_bits()),
        (7, 0, STALE_NAN_BITS),
        (8, 5, 1f64.to_bits()),
    ]);
    let chunks = [(7, b), (7, a)];
    let got = series_samples(&chunks, &[&b1, &b2], 0, 40, Some(&[7])).unwrap();
    assert_eq!(got.len(), 1);
    let (sid, s) = &got[0];
    assert_eq!(*sid, 7);
    assert_eq!(s.timestamps, vec![0, 10, 20, 30, 35]);
    let bits: Vec<u64> = s.values.iter().map(|v| v.to_bits()).collect();
    let want: Vec<u64> = [STALE, 20.0, 3.0, 4.0, 7.0]
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert_eq!(bits, want);

    // The marker at 0 is skipped: window [0, 20) holds only 20.
    let got = aggregate_windows(
        &[(7, 0)],
        &chunks,
        &[&b1, &b2],
        range(0, 0, 40, 20),
        Agg::Sum,
    )
    .unwrap();
    assert_eq!(flat(&got), vec![(0, vec![(0, 20.0), (20, 14.0)])]);

    // [lo, hi) cuts both chunk and block samples.
    let got = series_samples(&chunks, &[&b1, &b2], 10, 35, None).unwrap();
    assert_eq!(got.len(), 1, "series 8's only sample lies before lo");
    assert_eq!(got[0].1.timestamps, vec![10, 20, 30]);
}

#[test]
fn groups_combine_their_series() {
    // Series 1 and 2 in group 5, series 3 alone in group 0; step 10.
    let c1 = encode_chunk(&[(0, 1.0), (5, f64::NAN), (12, 4.0)], Codec::Pco);
    let c2 = encode_chunk(&[(3, -2.0), (5, 9.0), (14, f64::NAN)], Codec::Pco);
    let c3 = encode_chunk(&[(1, 100.0)], Codec::Pco);
    let chunks = [(1, c1), (2, c2), (3, c3)];
    let series = [(1, 5), (3, 0), (2, 5)];
    let blocks: [&[u8]; 0] = [];
    let q = |agg| {
        flat(&aggregate_windows(&series, &chunks, &blocks, range(0, 0, 20, 10), agg).unwrap())
    };

    assert_eq!(
        q(Agg::Count),
        vec![(0, vec![(0, 1.0)]), (5, vec![(0, 4.0), (10, 2.0)])]
    );
    assert_eq!(q(Agg::Max)[1], (5, vec![(0, 9.0), (10, 4.0)]));
    assert_eq!(q(Agg::Min)[1], (5, vec![(0, -2.0), (10, 4.0)]));
    // Series 2's window 10 has only NaN: its min is NaN, ignored.
    let sums = q(Agg::Sum);
    assert!(sums[1].1[0].1.is_nan() && sums[1].1[1].1.is_nan());
    // Last: window 0 ends with series 1's NaN at 5 and series 2's 9 at 5 —
    // a tie, series 1 is listed first. Window 10: series 2's NaN at 14.
    let last = q(Agg::Last);
    assert!(last[1].1[0].1.is_nan() && last[1].1[1].1.is_nan());
    let series_2_first = [(2, 5), (1, 5)];
    let got = aggregate_windows(
        &series_2_first,
        &chunks,
        &blocks,
        range(0, 0, 20, 10),
        Agg::Last,
    )
    .unwrap();
    assert_eq!(got[0].values[0], 9.0);
    // Avg of a group whose windows are finite.
    let got =
        aggregate_windows(&[(3, 0)], &chunks, &blocks, range(0, 0, 20, 10), Agg::Avg).unwrap();
    assert_eq!(flat(&got), vec![(0, vec![(0, 100.0)])]);
}

#[test]
fn rate_needs_the_window_before_as_baseline() {
    // Step 10 s. Series 1: counter over three windows with a reset; series 2
    // starts in window 20 (no baseline there).
    let s = 10_000_000;
    let c1 = encode_chunk(
        &[
            (0, 10.0),
            (s, 40.0),
            (s + 1, STALE),
            (2 * s, 5.0),
            (2 * s + 5, 25.0),
        ],
        Codec::Pco,
    );
    let c2 = encode_chunk(&[(2 * s, 100.0), (2 * s + 1, 1000.0)], Codec::Pco);
    let chunks = [(1, c1), (2, c2)];
    let blocks: [&[u8]; 0] = [];
    let series = [(1, 0), (2, 0)];
    let got =
        aggregate_windows(&series, &chunks, &blocks, range(0, s, 3 * s, s), Agg::Rate).unwrap();
    // Window s: 10 → 40 = 30 / 10 s. Window 2s: reset to 5 adds 5, then +20;
    // series 2 has no window s, so its +900 does not count.
    assert_eq!(flat(&got), vec![(0, vec![(s, 3.0), (2 * s, 2.5)])]);

    // With lo = first the first window has no baseline.
    let got =
        aggregate_windows(&series, &chunks, &blocks, range(s, s, 3 * s, s), Agg::Rate).unwrap();
    assert_eq!(flat(&got), vec![(0, vec![(2 * s, 2.5)])]);

    // A group whose series never qualify is left out.
    let got = aggregate_windows(
        &[(2, 3)],
        &chunks,
        &blocks,
        range(0, 0, 3 * s, s),
        Agg::Rate,
    )
    .unwrap();
    assert!(got.is_empty());
}

#[test]
fn windows_before_first_and_markers_only_windows_are_not_answered() {
    let c = encode_chunk(&[(-15, 1.0), (-5, 2.0), (5, STALE), (15, 3.0)], Codec::Pco);
    let blocks: [&[u8]; 0] = [];
    let got = aggregate_windows(
        &[(4, 1)],
        &[(4, c)],
        &blocks,
        range(-20, -10, 20, 10),
        Agg::Count,
    )
    .unwrap();
    assert_eq!(flat(&got), vec![(1, vec![(-10, 1.0), (10, 1.0)])]);
}

#[test]
fn bad_arguments_are_invalid() {
    let none: [(i64, &[u8]); 0] = [];
    let blocks: [&[u8]; 0] = [];
    let bad = [
        range(0, 0, 10, 0),
        range(0, 0, 10, -5),
        range(5, 0, 10, 1),
        range(0, 11, 10, 1),
    ];
    for r in bad {
        let e = aggregate_windows(&[], &none, &blocks, r, Agg::Sum).unwrap_err();
        assert!(matches!(e, QueryError::Invalid(_)), "{r:?}: {e:?}");
    }
    let r = range(0, 0, 10, 1);
    for series in [&[(1, -1)][..], &[(1, 0), (2, 0), (1, 1)][..]] {
        let e = aggregate_windows(series, &none, &blocks, r, Agg::Sum).unwrap_err();
        assert!(matches!(e, QueryError::Invalid(_)), "{series:?}: {e:?}");
    }
    assert!(matches!(
        "median".parse::<Agg>(),
        Err(QueryError::Invalid(_))
    ));
    assert_eq!("rate".parse::<Agg>(), Ok(Agg::Rate));
    // An empty range answers nothing (and is not an error).
    assert!(
        aggregate_windows(&[(1, 0)], &none, &blocks, range(3, 3, 3, 1), Agg::Sum)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn chunks_of_unlisted_series_are_not_decoded() {
    let blocks: [&[u8]; 0] = [];
    let chunks = [
        (1, b"not a chunk".to_vec()),
        (2, encode_chunk(&[(0, 1.0)], Codec::Pco)),
    ];
    let r = range(0, 0, 10, 10);
    assert!(aggregate_windows(&[(2, 0)], &chunks, &blocks, r, Agg::Sum).is_ok());
    assert!(matches!(
        aggregate_windows(&[(1, 0)], &chunks, &blocks, r, Agg::Sum),
        Err(QueryError::Chunk { index: 0, .. })
    ));
    assert_eq!(
        series_samples(&chunks, &blocks, 0, 10, Some(&[2]))
            .unwrap()
            .len(),
        1
    );
    assert!(series_samples(&chunks, &blocks, 0, 10, None).is_err());
}

#[test]
fn extreme_times_do_not_overflow() {
    let c = encode_chunk(
        &[(i64::MIN, 1.0), (i64::MIN + 1, 2.0), (i64::MAX - 1, 3.0)],
        Codec::Pco,
    );
    let blocks: [&[u8]; 0] = [];
    for agg in ALL {
        let r = range(i64::MIN, i64::MIN, i64::MAX, i64::MAX);
        aggregate_windows(&[(1, 0)], &[(1, &c)], &blocks, r, agg).unwrap();
        let r = range(i64::MIN, i64::MIN, i64::MAX, 3);
        aggregate_windows(&[(1, 0)], &[(1, &c)], &blocks, r, agg).unwrap();
    }
}

#[test]
fn reencode_changes_the_codec_and_keeps_the_samples() {
    let samples = [(1, 1.5), (2, STALE), (9, -0.0), (10, f64::NAN)];
    let g = encode_chunk(&samples, Codec::Gorilla);
    let p = encode_chunk(&samples, Codec::Pco);
    let out = reencode_chunks(&[&g, &p], Codec::Pco).unwrap();
    assert_eq!(out, vec![p.clone(), p.clone()]);
    let out = reencode_chunks(&[&p], Codec::Gorilla).unwrap();
    assert_eq!(out, vec![g]);
    assert!(matches!(
        reencode_chunks(&[&p[..], b"xx"], Codec::Pco),
        Err(QueryError::Chunk { index: 1, .. })
    ));
}
