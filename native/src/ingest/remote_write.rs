//! Decoding of Prometheus remote write 1.0 and 2.0 (snappy block format, protobuf) into a [`super::Batch`] through [`super::Builder::sample`].
//!
//! A series maps to Hearth as: name from `__name__`; namespace from the
//! `namespace_label` label when present (the label is then not stored), else
//! the caller's namespace; every other label as a label. Labels with an empty
//! value are dropped first, as Prometheus treats them as absent. A series
//! without a name has each of its samples rejected (with a reason), like any
//! sample [`super::Builder::sample`] refuses; only a body that cannot be
//! decoded at all is an [`IngestError`].
//!
//! Exemplars, native histograms and metadata are accepted and counted as
//! ignored; 2.0's created timestamps are not used. Sample values are kept bit
//! for bit (staleness markers included); timestamps go from ms to µs.

pub mod encode;
pub mod proto;

use prost::bytes::Bytes;
use prost::Message;

use super::point::Window;
use super::{Batch, Builder, IngestError};
use proto::lazy;
use proto::{Sample, TimeSeries, TimeSeriesV2};

pub use encode::encode_remote_write;

/// Which protocol message the body holds (the request's Content-Type says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `prometheus.WriteRequest` (remote write 1.0).
    V1,
    /// `io.prometheus.write.v2.Request` (remote write 2.0).
    V2,
}

/// How to decode a body.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub window: Window,
    pub version: Version,
    /// Namespace of a series without the namespace label.
    pub namespace: &'a str,
    /// Label whose value is a series' namespace.
    pub namespace_label: &'a str,
    /// Largest accepted decompressed size, in bytes.
    pub max_decompressed: usize,
}

/// The label carrying a Prometheus metric name.
pub const NAME_LABEL: &str = "__name__";
/// Reason for the samples of a series without a `__name__`.
pub const NO_NAME: &str = "series has no __name__ label";
/// Reason for the samples of a series with a label that is not UTF-8.
pub const NOT_UTF8: &str = "labels: not valid UTF-8";
/// The messages, as errors name them.
const V1_MESSAGE: &str = "a prometheus.WriteRequest";
const V2_MESSAGE: &str = "an io.prometheus.write.v2.Request";

/// Decompress a snappy block-format body, refusing more than `max` bytes of
/// output before allocating it (the length is the block's header).
pub fn unsnappy(body: &[u8], max: usize) -> Result<Vec<u8>, IngestError> {
    let bad =
        |e: snap::Error| IngestError::Malformed(format!("body is not snappy (block format): {e}"));
    let len = snap::raw::decompress_len(body).map_err(bad)?;
    if len > max {
        return Err(IngestError::TooLarge { limit: max });
    }
    let mut out = vec![0; len];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(bad)?;
    out.truncate(n);
    Ok(out)
}

/// Decode a snappy-compressed remote write body.
pub fn decode(body: &[u8], opts: &Options<'_>) -> Result<Batch, IngestError> {
    let raw = Bytes::from(unsnappy(body, opts.max_decompressed)?);
    let mut b = Builder::new(opts.window);
    match opts.version {
        Version::V1 => {
            let req = lazy::WriteRequest::decode(raw)
                .map_err(|e| IngestError::Malformed(format!("body is not {V1_MESSAGE}: {e}")))?;
            decode_v1(&req, opts, &mut b)?;
        }
        Version::V2 => {
            let req = lazy::RequestV2::decode(raw)
                .map_err(|e| IngestError::Malformed(format!("body is not {V2_MESSAGE}: {e}")))?;
            decode_v2(&req, opts, &mut b)?;
        }
    }
    Ok(b.finish())
}

/// The labels of one series, sorted into name, namespace and the rest.
struct SeriesLabels<'a> {
    name: Option<&'a str>,
    namespace: Option<&'a str>,
    labels: Vec<(&'a str, &'a str)>,
    /// Why the series' samples are refused, decided while reading its labels.
    problem: Option<String>,
}

impl<'a> SeriesLabels<'a> {
    fn with_capacity(n: usize) -> Self {
        SeriesLabels {
            name: None,
            namespace: None,
            labels: Vec::with_capacity(n),
            problem: None,
        }
    }

    fn fail(&mut self, reason: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some(reason.into());
        }
    }

    /// Add one label; `None` for a name or value that is not UTF-8.
    fn push(&mut self, key: Option<&'a str>, value: Option<&'a str>, namespace_label: &str) {
        let (Some(k), Some(v)) = (key, value) else {
            return self.fail(NOT_UTF8);
        };
        if v.is_empty() {
            return;
        }
        let slot = if k == NAME_LABEL {
            &mut self.name
        } else if k == namespace_label {
            &mut self.namespace
        } else {
            // Other duplicates are the Builder's to refuse.
            return self.labels.push((k, v));
        };
        if slot.replace(v).is_some() {
            self.fail(format!("labels.{k}: duplicate label"));
        }
    }

    /// Hand the series' samples to the Builder (or reject them all).
    fn emit(self, samples: &[Sample], namespace: &str, b: &mut Builder) {
        let Some((last, rest)) = samples.split_last() else {
            return;
        };
        let name = match (self.problem, self.name) {
            (Some(reason), _) => return reject_all(b, samples.len(), &reason),
            (None, None) => return reject_all(b, samples.len(), NO_NAME),
            (None, Some(name)) => name,
        };
        let namespace = self.namespace.unwrap_or(namespace);
        for s in rest {
            b.sample(
                namespace,
                name,
                self.labels.clone(),
                ms_to_us(s.timestamp),
                s.value,
            );
        }
        b.sample(
            namespace,
            name,
            self.labels,
            ms_to_us(last.timestamp),
            last.value,
        );
    }
}

fn reject_all(b: &mut Builder, n: usize, reason: &str) {
    for _ in 0..n {
        b.reject(reason);
    }
}

/// Milliseconds to microseconds; a time too far out to convert saturates and
/// falls outside the window.
fn ms_to_us(ms: i64) -> i64 {
    ms.saturating_mul(1000)
}

fn utf8(b: &Bytes) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// Decode the `i`th time series into `ts` (reused: its vectors keep their capacity).
fn next_series<M: Message>(
    ts: &mut M,
    raw: &Bytes,
    i: usize,
    what: &str,
) -> Result<(), IngestError> {
    ts.clear();
    ts.merge(raw.clone())
        .map_err(|e| IngestError::Malformed(format!("body is not {what}: timeseries[{i}]: {e}")))
}

fn decode_v1(
    req: &lazy::WriteRequest,
    opts: &Options<'_>,
    b: &mut Builder,
) -> Result<(), IngestError> {
    // Scrape-shaped requests carry one sample per series.
    b.reserve(req.timeseries.len());
    let mut ts = TimeSeries::default();
    for (i, raw) in req.timeseries.iter().enumerate() {
        next_series(&mut ts, raw, i, V1_MESSAGE)?;
        b.ignore("exemplars", ts.exemplars.len() as u64);
        b.ignore("native_histograms", ts.histograms.len() as u64);
        if ts.samples.is_empty() {
            continue;
        }
        let mut series = SeriesLabels::with_capacity(ts.labels.len());
        for l in &ts.labels {
            series.push(utf8(&l.name), utf8(&l.value), opts.namespace_label);
        }
        series.emit(&ts.samples, opts.namespace, b);
    }
    b.ignore("metadata", req.metadata.len() as u64);
    Ok(())
}

/// Every ref of `refs` must index `symbols`; the error names `field`.
fn check_refs(refs: &[u32], symbols: usize, field: impl Fn() -> String) -> Result<(), IngestError> {
    match refs.iter().position(|&r| r as usize >= symbols) {
        None => Ok(()),
        Some(i) => Err(IngestError::Malformed(format!(
            "{}[{i}]: symbol {} out of range ({symbols} symbols)",
            field(),
            refs[i]
        ))),
    }
}

fn decode_v2(
    req: &lazy::RequestV2,
    opts: &Options<'_>,
    b: &mut Builder,
) -> Result<(), IngestError> {
    let symbols: Vec<Option<&str>> = req.symbols.iter().map(utf8).collect();
    let n = symbols.len();
    b.reserve(req.timeseries.len());
    let mut ts = TimeSeriesV2::default();
    for (i, raw) in req.timeseries.iter().enumerate() {
        next_series(&mut ts, raw, i, V2_MESSAGE)?;
        let refs = &ts.labels_refs;
        if refs.len() % 2 != 0 {
            return Err(IngestError::Malformed(format!(
                "timeseries[{i}].labels_refs: odd length {} (name, value pairs expected)",
                refs.len()
            )));
        }
        check_refs(refs, n, || format!("timeseries[{i}].labels_refs"))?;
        for (j, ex) in ts.exemplars.iter().enumerate() {
            check_refs(&ex.labels_refs, n, || {
                format!("timeseries[{i}].exemplars[{j}].labels_refs")
            })?;
        }
        if let Some(m) = &ts.metadata {
            check_refs(&[m.help_ref], n, || {
                format!("timeseries[{i}].metadata.help_ref")
            })?;
            check_refs(&[m.unit_ref], n, || {
                format!("timeseries[{i}].metadata.unit_ref")
            })?;
            // Go senders always write the (non-nullable) field; only a filled one is metadata.
            if m.r#type != 0 || m.help_ref != 0 || m.unit_ref != 0 {
                b.ignore("metadata", 1);
            }
        }
        b.ignore("exemplars", ts.exemplars.len() as u64);
        b.ignore("native_histograms", ts.histograms.len() as u64);
        if ts.samples.is_empty() {
            continue;
        }
        let mut series = SeriesLabels::with_capacity(refs.len() / 2);
        for pair in refs.chunks_exact(2) {
            let (k, v) = (symbols[pair[0] as usize], symbols[pair[1] as usize]);
            series.push(k, v, opts.namespace_label);
        }
        series.emit(&ts.samples, opts.namespace, b);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
