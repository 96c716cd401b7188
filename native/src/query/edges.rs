//! Hourly edges read back for PromQL's rollup plan, straight from
//! PostgreSQL's binary COPY output (no row objects on the way).
//!
//! The service runs
//! `COPY (SELECT series_id, time_us(first_time), first_value, time_us(end_time), end_value
//! FROM metric_edges_1h … ORDER BY series_id, bucket) TO STDOUT (FORMAT binary)` and hands the
//! bytes here; [`decode`] turns them into each series' thinned samples: every hour's first and
//! last raw entry (see `crate::chunk::rollup::Edge`), in time order, values bit for bit.

use std::collections::BTreeMap;
use std::fmt;

use crate::chunk::Samples;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
const FIELDS: i16 = 5;

/// The COPY stream is not the one [`decode`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgesError(pub String);

impl fmt::Display for EdgesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hourly edges COPY stream: {}", self.0)
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

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EdgesError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| EdgesError(format!("truncated at byte {}", self.at)))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, EdgesError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn i32(&mut self) -> Result<i32, EdgesError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    /// One non-null field of `width` bytes.
    fn field(&mut self, width: usize, name: &str) -> Result<&'a [u8], EdgesError> {
        let len = self.i32()?;
        if len != width as i32 {
            return Err(EdgesError(format!(
                "{name}: length {len}, expected {width}"
            )));
        }
        self.take(width)
    }
}

/// Decode the COPY stream of edge rows ordered by series then hour.
pub fn decode(buf: &[u8]) -> Result<Vec<Thinned>, EdgesError> {
    let mut r = Reader { buf, at: 0 };
    if r.take(SIGNATURE.len())? != SIGNATURE {
        return Err(EdgesError("no PGCOPY signature".into()));
    }
    let _flags = r.i32()?;
    let ext = r.i32()?;
    r.take(usize::try_from(ext).map_err(|_| EdgesError("negative header extension".into()))?)?;
    let mut out: Vec<Thinned> = Vec::new();
    loop {
        let n = r.i16()?;
        if n == -1 {
            break;
        }
        if n != FIELDS {
            return Err(EdgesError(format!("{n} fields per row, expected {FIELDS}")));
        }
        let sid = i64::from(i32::from_be_bytes(
            r.field(4, "series_id")?.try_into().expect("4"),
        ));
        let mut pair = [(0i64, 0f64); 2];
        for p in &mut pair {
            let t = i64::from_be_bytes(r.field(8, "time")?.try_into().expect("8"));
            let v = f64::from_bits(u64::from_be_bytes(
                r.field(8, "value")?.try_into().expect("8"),
            ));
            *p = (t, v);
        }
        let s = match out.last_mut() {
            Some(s) if s.series_id == sid => s,
            Some(s) if s.series_id > sid => {
                return Err(EdgesError("rows not ordered by series".into()));
            }
            _ => {
                out.push(Thinned {
                    series_id: sid,
                    ..Thinned::default()
                });
                out.last_mut().expect("just pushed")
            }
        };
        let [(ft, fv), (et, ev)] = pair;
        if s.timestamps_us.last().is_some_and(|&last| ft <= last) || et < ft {
            return Err(EdgesError(format!(
                "series {sid}: edges not in time order at {ft}"
            )));
        }
        s.timestamps_us.push(ft);
        s.values.push(fv);
        if et != ft {
            s.timestamps_us.push(et);
            s.values.push(ev);
        }
    }
    if r.at != buf.len() {
        return Err(EdgesError(format!(
            "{} bytes after the trailer",
            buf.len() - r.at
        )));
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

    fn stream(rows: &[(i32, i64, f64, i64, f64)]) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend(0i32.to_be_bytes());
        b.extend(0i32.to_be_bytes());
        for &(sid, ft, fv, et, ev) in rows {
            b.extend(FIELDS.to_be_bytes());
            b.extend(4i32.to_be_bytes());
            b.extend(sid.to_be_bytes());
            for (t, v) in [(ft, fv), (et, ev)] {
                b.extend(8i32.to_be_bytes());
                b.extend(t.to_be_bytes());
                b.extend(8i32.to_be_bytes());
                b.extend(v.to_bits().to_be_bytes());
            }
        }
        b.extend((-1i16).to_be_bytes());
        b
    }

    #[test]
    fn rows_become_each_series_thinned_samples() {
        let stale = f64::from_bits(crate::chunk::STALE_NAN_BITS);
        let got = decode(&stream(&[
            (1, 10, 1.0, 20, 2.0),
            (1, 3600, stale, 3600, stale),
            (2, 5, 7.0, 5, 7.0),
        ]))
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].timestamps_us, vec![10, 20, 3600]);
        assert_eq!(got[0].values[2].to_bits(), crate::chunk::STALE_NAN_BITS);
        assert_eq!(
            (got[1].series_id, got[1].timestamps_us.clone()),
            (2, vec![5])
        );
        assert_eq!(decode(&stream(&[])).unwrap(), vec![]);
    }

    #[test]
    fn a_malformed_stream_is_an_error_not_a_panic() {
        let good = stream(&[(1, 10, 1.0, 20, 2.0)]);
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&stream(&[(2, 10, 1.0, 20, 2.0), (1, 10, 1.0, 20, 2.0)])).is_err());
        assert!(decode(&stream(&[(1, 10, 1.0, 20, 2.0), (1, 15, 1.0, 30, 2.0)])).is_err());
        let mut extra = good.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
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
