use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::chunk::STALE_NAN_BITS;

const W2: i64 = 2 * HOUR_US;

fn bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(STALE_NAN_BITS),
        (0u64..(1 << 52)).prop_map(|p| 0x7ff0_0000_0000_0001 | p),
        (0i64..100).prop_map(|v| (v as f64).to_bits()),
    ]
}

/// Times over three 2-h windows around a negative and a positive boundary,
/// on a coarse grid so duplicates are frequent, some at µs offsets.
fn time() -> impl Strategy<Value = i64> {
    (-12i64..12, prop_oneof![Just(0i64), 0i64..1_000_000])
        .prop_map(|(k, us)| k * 15 * 60 * 1_000_000 + us)
}

type Sample = (i64, i64, u64);
/// An existing chunk to generate: its key, its samples, Gorilla or not.
type ExistingSpec = ((i64, i64), Vec<(i64, u64)>, bool);

fn block_strategy() -> impl Strategy<Value = Vec<Sample>> {
    prop::collection::vec((0i64..4, time(), bits()), 0..24)
}

fn existing_strategy() -> impl Strategy<Value = Vec<ExistingSpec>> {
    prop::collection::vec(
        (
            (0i64..4, -2i64..2),
            prop::collection::vec((0i64..8, 0i64..1000, bits()), 1..12),
            any::<bool>(),
        ),
        0..6,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|((sid, w), samples, gorilla)| {
                let ws = w * W2;
                let s = samples
                    .into_iter()
                    .map(|(q, us, b)| (ws + q * 15 * 60 * 1_000_000 + us, b))
                    .collect();
                ((sid, ws), s, gorilla)
            })
            .collect()
    })
}

fn encode_block(samples: &[Sample]) -> Vec<u8> {
    let ids: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let ts: Vec<i64> = samples.iter().map(|s| s.1).collect();
    let vs: Vec<f64> = samples.iter().map(|s| f64::from_bits(s.2)).collect();
    block::encode(&ids, &ts, &vs).unwrap()
}

fn encode_chunk(samples: &[(i64, u64)], codec: Codec) -> Vec<u8> {
    let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let vs: Vec<f64> = samples.iter().map(|s| f64::from_bits(s.1)).collect();
    chunk::encode_with(codec, &ts, &vs).unwrap()
}

fn window_of(t: i64, w: i64) -> i64 {
    t.div_euclid(w) * w
}

/// The model: a map per key of time → value bits, existing first, then every
/// block sample in write order (later overwrites), then split per window.
fn model(
    blocks: &[Vec<Sample>],
    existing: &HashMap<WindowKey, Vec<u8>>,
    window_us: i64,
) -> BTreeMap<WindowKey, (BTreeMap<i64, u64>, BTreeSet<i64>)> {
    let mut out: BTreeMap<WindowKey, (BTreeMap<i64, u64>, BTreeSet<i64>)> = BTreeMap::new();
    for block in blocks {
        for &(sid, t, v) in block {
            let key = (sid, window_of(t, window_us));
            let entry = out.entry(key).or_insert_with(|| {
                let mut m = BTreeMap::new();
                if let Some(c) = existing.get(&key) {
                    let s = chunk::decode(c).unwrap();
                    for (&t, &v) in s.timestamps.iter().zip(&s.values) {
                        m.insert(t, v.to_bits());
                    }
                }
                (m, BTreeSet::new())
            });
            entry.0.insert(t, v);
            entry.1.insert(window_of(t, HOUR_US));
        }
    }
    out
}

fn check_against_model(
    blocks: &[Vec<Sample>],
    existing: &HashMap<WindowKey, Vec<u8>>,
    window_us: i64,
    got: &[Compacted],
) -> Result<(), TestCaseError> {
    let want = model(blocks, existing, window_us);
    prop_assert_eq!(
        got.iter()
            .map(|c| (c.series_id, c.window_start_us))
            .collect::<Vec<_>>(),
        want.keys().copied().collect::<Vec<_>>()
    );
    for (c, (key, (samples, hours))) in got.iter().zip(&want) {
        let s = chunk::decode(&c.chunk).unwrap();
        let pairs: Vec<(i64, u64)> = s
            .timestamps
            .iter()
            .zip(&s.values)
            .map(|(&t, v)| (t, v.to_bits()))
            .collect();
        let want_pairs: Vec<(i64, u64)> = samples.iter().map(|(&t, &v)| (t, v)).collect();
        prop_assert_eq!(&pairs, &want_pairs);
        prop_assert_eq!(c.samples, want_pairs.len());
        prop_assert_eq!(c.min_time_us, want_pairs[0].0);
        prop_assert_eq!(c.max_time_us, want_pairs.last().unwrap().0);
        let first = *hours.iter().next().unwrap();
        let ts: Vec<i64> = want_pairs.iter().map(|p| p.0).collect();
        let vs: Vec<f64> = want_pairs.iter().map(|p| f64::from_bits(p.1)).collect();
        // The window just before, merged in the same pass, gives the baseline.
        let baseline = want
            .get(&(key.0, key.1 - window_us))
            .and_then(|(before, _)| {
                before
                    .values()
                    .rev()
                    .map(|&b| f64::from_bits(b))
                    .find(|v| !v.is_nan())
            });
        let all = rollup::rollups(&ts, &vs, HOUR_US, baseline).unwrap();
        prop_assert_eq!(
            format!("{:?}", c.last_value),
            format!("{:?}", vs.iter().rev().copied().find(|v| !v.is_nan()))
        );
        let want_rollups: Vec<Rollup> = all.into_iter().filter(|r| r.bucket_us >= first).collect();
        prop_assert_eq!(
            format!("{:?}", c.rollups),
            format!("{want_rollups:?}"),
            "rollups (compared by Debug so NaN == NaN)"
        );
        let want_empty: Vec<i64> = hours
            .iter()
            .copied()
            .filter(|h| want_rollups.iter().all(|r| r.bucket_us != *h))
            .collect();
        prop_assert_eq!(&c.empty_hours, &want_empty);
        // Edges: every recomputed hour holding any entry, markers included, bit for bit.
        let want_edges: Vec<(i64, i64, u64, i64, u64)> = rollup::edges(&ts, &vs, HOUR_US)
            .unwrap()
            .into_iter()
            .filter(|e| e.bucket_us >= first)
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
        let got_edges: Vec<(i64, i64, u64, i64, u64)> = c
            .edges
            .iter()
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
        prop_assert_eq!(got_edges, want_edges);
    }
    Ok(())
}

proptest! {
    #[test]
    fn compaction_equals_the_model_and_is_idempotent(
        blocks in prop::collection::vec(block_strategy(), 0..5),
        existing in existing_strategy(),
        gorilla in any::<bool>(),
        one_hour in any::<bool>(),
    ) {
        let window_us = if one_hour { HOUR_US } else { W2 };
        let codec = if gorilla { Codec::Gorilla } else { Codec::Pco };
        let existing: HashMap<WindowKey, Vec<u8>> = existing
            .into_iter()
            .filter(|((_, ws), _, _)| !one_hour || ws.rem_euclid(HOUR_US) == 0)
            .map(|(k, s, g)| {
                let s: Vec<(i64, u64)> = s
                    .into_iter()
                    .filter(|&(t, _)| window_of(t, window_us) == k.1)
                    .collect();
                let c = if g { Codec::Gorilla } else { Codec::Pco };
                (k, encode_chunk(&s, c))
            })
            .filter(|(k, c)| {
                // Only non-empty chunks keyed by their own window are "existing".
                let s = chunk::decode(c).unwrap();
                s.timestamps.first().is_some_and(|&t| window_of(t, window_us) == k.1)
            })
            .collect();
        let encoded: Vec<Vec<u8>> = blocks.iter().map(|b| encode_block(b)).collect();
        let got = compact(&encoded, &existing, window_us, codec, &HashMap::new()).unwrap();
        check_against_model(&blocks, &existing, window_us, &got)?;
        for c in &got {
            prop_assert_eq!(chunk::header(&c.chunk).unwrap().codec, codec);
        }

        let touched = touched_windows(&encoded, window_us).unwrap();
        prop_assert_eq!(
            touched,
            got.iter().map(|c| (c.series_id, c.window_start_us)).collect::<Vec<_>>()
        );

        // Redoing the pass on its own result changes nothing.
        let mut after = existing.clone();
        for c in &got {
            after.insert((c.series_id, c.window_start_us), c.chunk.clone());
        }
        let again = compact(&encoded, &after, window_us, codec, &HashMap::new()).unwrap();
        prop_assert_eq!(format!("{again:?}"), format!("{got:?}"));
    }

    #[test]
    fn corrupt_inputs_are_errors_never_panics(
        block in block_strategy(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut data = encode_block(&block);
        let i = flip.index(data.len());
        data[i] ^= 1 << bit;
        let good = encode_block(&[(1, 0, 0)]);
        let blocks = vec![good, data];
        let none: HashMap<WindowKey, Vec<u8>> = HashMap::new();
        let r = compact(&blocks, &none, W2, Codec::Pco, &HashMap::new());
        prop_assert!(matches!(r, Err(CompactError::Block { index: 1, .. })), "{:?}", r);
        let r = touched_windows(&blocks, W2);
        prop_assert!(matches!(r, Err(CompactError::Block { index: 1, .. })), "{:?}", r);
    }
}

#[test]
fn out_of_order_and_duplicates_later_write_wins() {
    let t0 = 1_700_000_000_000_000 / W2 * W2;
    let old = encode_chunk(
        &[(t0, 1f64.to_bits()), (t0 + 30, 2f64.to_bits())],
        Codec::Pco,
    );
    let b1 = encode_block(&[(7, t0 + 30, 3f64.to_bits()), (7, t0 + 15, 4f64.to_bits())]);
    let b2 = encode_block(&[
        (7, t0 + 15, 5f64.to_bits()),
        (7, t0 + 15, STALE_NAN_BITS),
        (7, t0 - 1, 6f64.to_bits()),
    ]);
    let existing = HashMap::from([((7, t0), old)]);
    let got = compact(
        &[b1, b2],
        &existing,
        W2,
        Codec::Gorilla,
        &HashMap::from([((7, t0), 0.5)]),
    )
    .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].series_id, got[0].window_start_us, got[0].samples),
        (7, t0 - W2, 1)
    );
    let s = chunk::decode(&got[1].chunk).unwrap();
    assert_eq!(s.timestamps, vec![t0, t0 + 15, t0 + 30]);
    let bits: Vec<u64> = s.values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits, vec![1f64.to_bits(), STALE_NAN_BITS, 3f64.to_bits()]);
    assert_eq!((got[1].min_time_us, got[1].max_time_us), (t0, t0 + 30));
    let r = &got[1].rollups;
    assert_eq!(r.len(), 1);
    // The window before (merged in this pass, last value 6) is the baseline, not the
    // caller's 0.5: 6 → 1 is a reset and adds 1, the marker is skipped, 1 → 3 adds 2.
    assert_eq!((r[0].count, r[0].sum, r[0].increase), (2, 4.0, 3.0));
    assert_eq!(
        (got[0].last_value, got[1].last_value),
        (Some(6.0), Some(3.0))
    );
    assert_eq!((got[0].baseline, got[1].baseline), (None, Some(6.0)));
}

#[test]
fn columns_flatten_the_windows_in_key_order() {
    let t0 = 1_700_000_000_000_000 / W2 * W2;
    let blocks = [encode_block(&[
        (1, t0 + 10, 1f64.to_bits()),
        (1, t0 + HOUR_US, STALE_NAN_BITS),
        (2, t0 - 5, 2f64.to_bits()),
        (2, t0 + 5, 3f64.to_bits()),
    ])];
    let none: HashMap<WindowKey, Vec<u8>> = HashMap::new();
    let prev = HashMap::from([((2, t0 - W2), 9.0)]);
    let windows = compact(&blocks, &none, W2, Codec::Gorilla, &prev).unwrap();
    let cols = compact_columns(&blocks, &none, W2, Codec::Gorilla, &prev).unwrap();
    let c = &cols.chunks;
    assert_eq!(c.series_ids, vec![1, 2, 2]);
    assert_eq!(c.window_starts_us, vec![t0, t0 - W2, t0]);
    assert_eq!(c.samples, vec![2, 1, 1]);
    assert_eq!(c.last_values, vec![Some(1.0), Some(2.0), Some(3.0)]);
    assert_eq!(c.baselines, vec![None, Some(9.0), Some(2.0)]);
    let data: Vec<Vec<u8>> = windows.iter().map(|w| w.chunk.clone()).collect();
    assert_eq!(c.data, data);
    let h = &cols.hours;
    assert_eq!(h.series_ids, vec![1, 2, 2]);
    assert_eq!(h.buckets_us, vec![t0, t0 - HOUR_US, t0]);
    assert_eq!(h.counts, vec![1, 1, 1]);
    // 9 → 2 is a counter reset: the 2 counts whole.
    assert_eq!(h.increases, vec![0.0, 2.0, 1.0]);
    assert_eq!(cols.empty_hours.series_ids, vec![1]);
    assert_eq!(cols.empty_hours.buckets_us, vec![t0 + HOUR_US]);
}

#[test]
fn an_hour_left_with_only_staleness_markers_is_reported_empty() {
    let old = encode_chunk(&[(10, 1f64.to_bits())], Codec::Pco);
    let b = encode_block(&[(1, 10, STALE_NAN_BITS)]);
    let got = compact(
        &[b],
        &HashMap::from([((1, 0), old)]),
        W2,
        Codec::Pco,
        &HashMap::new(),
    )
    .unwrap();
    assert!(got[0].rollups.is_empty());
    assert_eq!(got[0].empty_hours, vec![0]);
    // ... but its edges are kept: a marker at an hour's start ends the series there.
    let e = got[0].edges[0];
    assert_eq!((e.bucket_us, e.first_time_us, e.end_time_us), (0, 10, 10));
    assert_eq!(
        (e.first.to_bits(), e.end.to_bits()),
        (STALE_NAN_BITS, STALE_NAN_BITS)
    );
}

#[test]
fn bad_windows_and_chunks_are_errors() {
    let b = encode_block(&[(1, 10, 0)]);
    let none: HashMap<WindowKey, Vec<u8>> = HashMap::new();
    for w in [0, -HOUR_US, HOUR_US + 1, 60_000_000] {
        assert_eq!(
            compact(&[&b], &none, w, Codec::Pco, &HashMap::new()),
            Err(CompactError::Window(w))
        );
        assert_eq!(touched_windows(&[&b], w), Err(CompactError::Window(w)));
    }
    let mut bad = encode_chunk(&[(5, 0)], Codec::Pco);
    bad[2] ^= 1;
    let r = compact(
        &[&b],
        &HashMap::from([((1, 0), bad)]),
        W2,
        Codec::Pco,
        &HashMap::new(),
    );
    assert_eq!(
        r,
        Err(CompactError::Chunk {
            key: (1, 0),
            error: ChunkError::Checksum
        })
    );
    let outside = encode_chunk(&[(W2, 0)], Codec::Pco);
    let r = compact(
        &[&b],
        &HashMap::from([((1, 0), outside)]),
        W2,
        Codec::Pco,
        &HashMap::new(),
    );
    assert!(matches!(
        r,
        Err(CompactError::Chunk {
            key: (1, 0),
            error: ChunkError::Corrupt(_)
        })
    ));
}

#[test]
fn rebase_gives_the_next_window_the_rollups_of_one_pass() {
    let m = 60 * 1_000_000;
    // a counter over two windows; the late sample raises the first window's last value
    let early = [
        (1, 10 * m, 5.0),
        (1, W2 + 30 * m, 9.0),
        (1, W2 + 90 * m, 12.0),
    ];
    let late = [(1, W2 - m, 7.0)];
    let block = |s: &[(i64, i64, f64)]| {
        let ids: Vec<i64> = s.iter().map(|x| x.0).collect();
        let ts: Vec<i64> = s.iter().map(|x| x.1).collect();
        let vs: Vec<f64> = s.iter().map(|x| x.2).collect();
        block::encode(&ids, &ts, &vs).unwrap()
    };
    let none: HashMap<WindowKey, Vec<u8>> = HashMap::new();
    let whole = compact(
        &[block(&early), block(&late)],
        &none,
        W2,
        Codec::Gorilla,
        &HashMap::new(),
    )
    .unwrap();
    let first = compact(&[block(&early)], &none, W2, Codec::Gorilla, &HashMap::new()).unwrap();
    let stored: HashMap<WindowKey, Vec<u8>> = first
        .iter()
        .map(|c| ((c.series_id, c.window_start_us), c.chunk.clone()))
        .collect();
    let again = compact(
        &[block(&late)],
        &stored,
        W2,
        Codec::Gorilla,
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].last_value, Some(7.0));
    // before: 9 - 5 = 4 in the next window's first hour; after: 9 - 7 = 2
    assert_eq!(first[1].rollups[0].increase, 4.0);
    let next = HashMap::from([((1, W2), stored[&(1, W2)].clone())]);
    let rebased = rebase(&next, &HashMap::from([((1, W2), 7.0)])).unwrap();
    let mut expected = HourColumns::default();
    for r in &whole[1].rollups {
        expected.push(1, r);
    }
    assert_eq!(rebased, expected);
    assert_eq!(rebased.increases, vec![2.0, 3.0]);
    // without a baseline the first sample adds nothing
    assert_eq!(
        rebase(&next, &HashMap::new()).unwrap().increases,
        vec![0.0, 3.0]
    );
}
