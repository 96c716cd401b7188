use proptest::prelude::*;

use super::*;

fn sorted_model(ids: &[i64], ts: &[i64], vs: &[f64]) -> Vec<(i64, i64, u64)> {
    let mut rows: Vec<(i64, i64, u64)> = ids
        .iter()
        .zip(ts)
        .zip(vs)
        .map(|((&s, &t), v)| (s, t, v.to_bits()))
        .collect();
    // Stable: duplicates keep their write order.
    rows.sort_by_key(|r| (r.0, r.1));
    rows
}

fn rows(b: &Block) -> Vec<(i64, i64, u64)> {
    (0..b.len())
        .map(|i| (b.series_ids[i], b.timestamps[i], b.values[i].to_bits()))
        .collect()
}

fn reseal(data: &mut [u8]) {
    let sum = hash(&data[..HASHED_HEADER], &data[HEADER_LEN..]);
    data[HASHED_HEADER..HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn sorts_keeps_duplicates_in_write_order_and_groups() {
    let ids = [7, 3, 7, 3, 7];
    let ts = [20, 10, 10, 10, 20];
    let vs = [1.0, 2.0, 3.0, 4.0, f64::from_bits(0x7ff0_0000_0000_0002)];
    let b = decode(&encode(&ids, &ts, &vs).unwrap()).unwrap();
    assert_eq!(b.series_ids, [3, 3, 7, 7, 7]);
    assert_eq!(b.timestamps, [10, 10, 10, 20, 20]);
    assert_eq!(b.values[..4], [2.0, 4.0, 3.0, 1.0]);
    assert_eq!(b.values[4].to_bits(), 0x7ff0_0000_0000_0002);
    let runs: Vec<_> = b.runs().collect();
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[0].series_id, runs[0].timestamps), (3, &[10, 10][..]));
    assert_eq!((runs[1].series_id, runs[1].values.len()), (7, 3));
}

#[test]
fn empty_and_extreme_blocks() {
    let b = decode(&encode(&[], &[], &[]).unwrap()).unwrap();
    assert!(b.is_empty() && b.runs().next().is_none());
    let ids = [i64::MAX, i64::MIN, 0];
    let ts = [i64::MIN, i64::MAX, i64::MAX];
    let b = decode(&encode(&ids, &ts, &[-0.0, 1.0, 2.0]).unwrap()).unwrap();
    assert_eq!(rows(&b), sorted_model(&ids, &ts, &[-0.0, 1.0, 2.0]));
}

#[test]
fn errors() {
    assert!(matches!(
        encode(&[1], &[1, 2], &[1.0]),
        Err(BlockError::LengthMismatch { .. })
    ));
    let data = encode(&[1, 2, 2], &[5, 6, 7], &[1.0, 2.0, 3.0]).unwrap();
    for n in 0..data.len() {
        assert!(decode(&data[..n]).is_err(), "prefix {n}");
    }
    assert_eq!(decode(b"XYZ\x01"), Err(BlockError::BadMagic));
    assert_eq!(decode(b"HL"), Err(BlockError::Truncated));
    let mut v = data.clone();
    v[3] = 2;
    assert_eq!(decode(&v), Err(BlockError::UnsupportedVersion(2)));
    let mut flipped = data.clone();
    *flipped.last_mut().unwrap() ^= 0x40;
    assert_eq!(decode(&flipped), Err(BlockError::Checksum));
    let mut extra = data.clone();
    extra.push(0);
    reseal(&mut extra);
    assert_eq!(decode(&extra), Err(BlockError::TrailingData));
    // A claimed count far beyond the bytes is refused before allocating.
    let mut big = data.clone();
    big[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut big);
    assert_eq!(decode(&big), Err(BlockError::Truncated));
}

proptest! {
    #[test]
    fn round_trips_sorted_by_series_then_time(
        samples in prop::collection::vec((0i64..20, prop_oneof![any::<i64>(), 0i64..100], any::<u64>()), 0..300),
    ) {
        let ids: Vec<i64> = samples.iter().map(|s| s.0).collect();
        let ts: Vec<i64> = samples.iter().map(|s| s.1).collect();
        let vs: Vec<f64> = samples.iter().map(|s| f64::from_bits(s.2)).collect();
        let b = decode(&encode(&ids, &ts, &vs).unwrap()).unwrap();
        prop_assert_eq!(rows(&b), sorted_model(&ids, &ts, &vs));
        let regrouped: Vec<(i64, i64, u64)> = b
            .runs()
            .flat_map(|r| r.timestamps.iter().zip(r.values).map(move |(&t, v)| (r.series_id, t, v.to_bits())))
            .collect();
        prop_assert_eq!(regrouped, rows(&b));
        prop_assert!(b.runs().map(|r| r.series_id).collect::<Vec<_>>().windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn arbitrary_and_mutated_bytes_never_panic(
        junk in prop::collection::vec(any::<u8>(), 0..200),
        samples in prop::collection::vec((0i64..5, 0i64..1000, any::<u64>()), 1..50),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        let _ = decode(&junk);
        let mut sealed = junk.clone();
        if sealed.len() >= HEADER_LEN {
            sealed[..4].copy_from_slice(b"HLB\x01");
            reseal(&mut sealed);
            let _ = decode(&sealed);
        }
        let ids: Vec<i64> = samples.iter().map(|s| s.0).collect();
        let ts: Vec<i64> = samples.iter().map(|s| s.1).collect();
        let vs: Vec<f64> = samples.iter().map(|s| f64::from_bits(s.2)).collect();
        let data = encode(&ids, &ts, &vs).unwrap();
        prop_assert!(decode(&data[..cut.index(data.len())]).is_err());
        let mut m = data.clone();
        let i = at.index(m.len());
        m[i] ^= flip;
        prop_assert!(decode(&m).is_err());
        reseal(&mut m);
        if let Ok(b) = decode(&m) {
            prop_assert_eq!(b.series_ids.len(), b.timestamps.len());
            prop_assert_eq!(b.values.len(), b.timestamps.len());
        }
    }
}

proptest! {
    #[test]
    fn fold_keeps_the_latest_write_per_series_and_time(
        blocks in prop::collection::vec(
            prop::collection::vec((0i64..6, 0i64..8, any::<u64>()), 0..40),
            0..5,
        ),
    ) {
        let mut model: std::collections::BTreeMap<(i64, i64), u64> = Default::default();
        let mut decoded = Vec::new();
        for rows in &blocks {
            for &(s, t, v) in rows {
                model.insert((s, t), v);
            }
            let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let ts: Vec<i64> = rows.iter().map(|r| r.1).collect();
            let vs: Vec<f64> = rows.iter().map(|r| f64::from_bits(r.2)).collect();
            decoded.push(decode(&encode(&ids, &ts, &vs).unwrap()).unwrap());
        }
        let folded: Vec<(i64, i64, u64)> = fold(&decoded)
            .into_iter()
            .flat_map(|(id, s)| {
                s.timestamps
                    .into_iter()
                    .zip(s.values)
                    .map(move |(t, v)| (id, t, v.to_bits()))
            })
            .collect();
        let want: Vec<(i64, i64, u64)> = model.into_iter().map(|((s, t), v)| (s, t, v)).collect();
        prop_assert_eq!(folded, want);
    }
}
