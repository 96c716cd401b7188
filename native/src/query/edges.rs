//! Hourly edges read back for PromQL's rollup plan, packed by PostgreSQL (one
//! value per series, no row objects on the way).
//!
//! The service selects, per series, `string_agg(timestamptz_send(first_time) ||
//! float8send(first_value) || timestamptz_send(end_time) || float8send(end_value), ''
//! ORDER BY bucket)` from `metric_edges_1h`: 32 big-endian bytes per hour, times as
//! PostgreSQL sends a timestamptz (µs since 2000-01-01: converting per row in SQL cost
//! more than the whole read). [`decode`] turns
//! them into each series' thinned samples: every hour's first and last raw entry (see
//! `crate::chunk::rollup::Edge`), in time order, values bit for bit.

use std::collections::BTreeMap;
use std::fmt;

use crate::chunk::Samples;

const RECORD: usize = 32;
/// µs from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// The packed edges are not what [`decode`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgesError(pub String);

impl fmt::Display for EdgesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hourly edges: {}", self.0)
    }
}

impl std::error::Error for EdgesError {}

/// One series' thinned samples (µs, values bit for bit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thinned {
    pub series_id: i64,
    pub timestamps_us: Vec<i64>,
    pub values: Vec<f64>,
}

fn word(b: &[u8]) -> [u8; 8] {
    b.try_into().expect("8 bytes")
}

/// Decode each series' packed edges (hours in order).
pub fn decode<B: AsRef<[u8]>>(rows: &[(i64, B)]) -> Result<Vec<Thinned>, EdgesError> {
    let mut out = Vec::with_capacity(rows.len());
    for (sid, packed) in rows {
        let packed = packed.as_ref();
        if packed.len() % RECORD != 0 {
            return Err(EdgesError(format!(
                "series {sid}: {} bytes is not a whole number of {RECORD}-byte hours",
                packed.len()
            )));
        }
        let mut t = Thinned {
            series_id: *sid,
            timestamps_us: Vec::with_capacity(packed.len() / RECORD * 2),
            values: Vec::with_capacity(packed.len() / RECORD * 2),
        };
        for r in packed.chunks_exact(RECORD) {
            let ft = i64::from_be_bytes(word(&r[0..8])).saturating_add(PG_EPOCH_US);
            let fv = f64::from_bits(u64::from_be_bytes(word(&r[8..16])));
            let et = i64::from_be_bytes(word(&r[16..24])).saturating_add(PG_EPOCH_US);
            let ev = f64::from_bits(u64::from_be_bytes(word(&r[24..32])));
            if t.timestamps_us.last().is_some_and(|&last| ft <= last) || et < ft {
                return Err(EdgesError(format!(
                    "series {sid}: hours not in time order at {ft}"
                )));
            }
            t.timestamps_us.push(ft);
            t.values.push(fv);
            if et != ft {
                t.timestamps_us.push(et);
                t.values.push(ev);
            }
        }
        out.push(t);
    }
    Ok(out)
}

/// The union of each series' raw samples (`raw`, ascending ids, as
/// `super::series_samples` gives them) and thinned ones, in ascending ids;
/// on a shared timestamp the raw sample is kept (both are the same entry).
pub fn union(raw: Vec<(i64, Samples)>, thinned: Vec<Thinned>) -> Vec<(i64, Samples)> {
    let mut by_id: BTreeMap<i64, Samples> = raw.into_iter().collect();
    for t in thinned {
        let entry = by_id.entry(t.series_id).or_default();
        if entry.timestamps.is_empty() {
            entry.timestamps = t.timestamps_us;
            entry.values = t.values;
            continue;
        }
        let a = std::mem::take(entry);
        let (mut i, mut j) = (0, 0);
        let n = a.timestamps.len() + t.timestamps_us.len();
        let mut out = Samples {
            timestamps: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
        };
        while i < a.timestamps.len() || j < t.timestamps_us.len() {
            let take_raw = j == t.timestamps_us.len()
                || (i < a.timestamps.len() && a.timestamps[i] <= t.timestamps_us[j]);
            if take_raw {
                if j < t.timestamps_us.len() && a.timestamps[i] == t.timestamps_us[j] {
                    j += 1;
                }
                out.timestamps.push(a.timestamps[i]);
                out.values.push(a.values[i]);
                i += 1;
            } else {
                out.timestamps.push(t.timestamps_us[j]);
                out.values.push(t.values[j]);
                j += 1;
            }
        }
        *entry = out;
    }
    by_id.into_iter().filter(|(_, s)| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(hours: &[(i64, f64, i64, f64)]) -> Vec<u8> {
        let mut b = Vec::new();
        for &(ft, fv, et, ev) in hours {
            let (ft, et) = (ft - PG_EPOCH_US, et - PG_EPOCH_US);
            b.extend(ft.to_be_bytes());
            b.extend(fv.to_bits().to_be_bytes());
            b.extend(et.to_be_bytes());
            b.extend(ev.to_bits().to_be_bytes());
        }
        b
    }

    #[test]
    fn hours_become_each_series_thinned_samples() {
        let stale = f64::from_bits(crate::chunk::STALE_NAN_BITS);
        let rows = vec![
            (1, packed(&[(10, 1.0, 20, 2.0), (3600, stale, 3600, stale)])),
            (2, packed(&[(5, 7.0, 5, 7.0)])),
        ];
        let got = decode(&rows).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].timestamps_us, vec![10, 20, 3600]);
        assert_eq!(got[0].values[2].to_bits(), crate::chunk::STALE_NAN_BITS);
        assert_eq!(
            (got[1].series_id, got[1].timestamps_us.clone()),
            (2, vec![5])
        );
        assert_eq!(decode::<Vec<u8>>(&[]).unwrap(), vec![]);
    }

    #[test]
    fn malformed_edges_are_an_error_not_a_panic() {
        let good = packed(&[(10, 1.0, 20, 2.0)]);
        for cut in 1..good.len() {
            assert!(decode(&[(1, &good[..cut])]).is_err(), "cut at {cut}");
        }
        assert!(decode(&[(1, packed(&[(10, 1.0, 20, 2.0), (15, 1.0, 30, 2.0)]))]).is_err());
        assert!(decode(&[(1, packed(&[(10, 1.0, 5, 2.0)]))]).is_err());
    }

    #[test]
    fn union_keeps_every_entry_once_in_time_order() {
        let raw = vec![(
            1,
            Samples {
                timestamps: vec![10, 20, 30],
                values: vec![1.0, 2.0, 3.0],
            },
        )];
        let thinned = vec![
            Thinned {
                series_id: 1,
                timestamps_us: vec![5, 20, 40],
                values: vec![0.5, 2.0, 4.0],
            },
            Thinned {
                series_id: 0,
                timestamps_us: vec![7],
                values: vec![7.0],
            },
        ];
        let got = union(raw, thinned);
        assert_eq!(got[0].0, 0);
        assert_eq!(got[1].1.timestamps, vec![5, 10, 20, 30, 40]);
        assert_eq!(got[1].1.values, vec![0.5, 1.0, 2.0, 3.0, 4.0]);
    }
}
