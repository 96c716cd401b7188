//! CSV decoding of points (`csv` crate, RFC 4180 quoting).
//!
//! The header row names the columns, in any order: `namespace`, `name`,
//! `value` (required), `labels` and `timestamp` (optional). Each later row is
//! one point; blank lines are skipped. Cells are taken verbatim (no trimming):
//!
//! - `labels`: empty for no labels, else a JSON object (usually quoted);
//! - `value`: a decimal float literal (see [`time::is_float_literal`]);
//! - `timestamp`: empty (now), a float literal (epoch seconds or
//!   milliseconds, as in JSON) or an RFC 3339 string.
//!
//! The body must be UTF-8 (a leading byte-order mark is ignored).

use std::borrow::Cow;

use super::json::JsonParser;
use super::point::{Labels, RawPoint, Value};
use super::time;
use super::{Builder, IngestError};

const COLUMNS: [&str; 5] = ["namespace", "name", "labels", "value", "timestamp"];
const REQUIRED: [bool; 5] = [true, true, false, true, false];

/// Position of each of [`COLUMNS`] in the header (`None`: absent).
fn header_columns(header: &csv::ByteRecord) -> Result<[Option<usize>; 5], IngestError> {
    let mut pos: [Option<usize>; 5] = [None; 5];
    for (i, cell) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(cell);
        let Some(c) = COLUMNS.iter().position(|&c| c == name) else {
            return Err(IngestError::Malformed(format!(
                "CSV header: unknown column {:?}",
                super::point::shown(&name)
            )));
        };
        if pos[c].replace(i).is_some() {
            return Err(IngestError::Malformed(format!(
                "CSV header: duplicate column {name:?}"
            )));
        }
    }
    for (c, p) in pos.iter().enumerate() {
        if REQUIRED[c] && p.is_none() {
            return Err(IngestError::Malformed(format!(
                "CSV header: missing column {:?}",
                COLUMNS[c]
            )));
        }
    }
    Ok(pos)
}

fn cell(rec: &csv::ByteRecord, at: usize) -> &str {
    // The body is valid UTF-8 and the reader splits only at ASCII bytes.
    std::str::from_utf8(&rec[at]).unwrap_or("")
}

/// Decode a CSV body into `b`.
pub fn decode_csv<P: JsonParser>(body: &[u8], b: &mut Builder) -> Result<(), IngestError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        IngestError::Malformed(format!(
            "CSV body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rec = csv::ByteRecord::new();
    let csv_err = |e: csv::Error| IngestError::Malformed(format!("CSV body cannot be read: {e}"));
    if !rdr.read_byte_record(&mut rec).map_err(csv_err)? {
        return Err(IngestError::Malformed("CSV body has no header row".into()));
    }
    let pos = header_columns(&rec)?;
    let ncols = rec.len();
    b.reserve(text.len() / 64);
    while rdr.read_byte_record(&mut rec).map_err(csv_err)? {
        if rec.len() != ncols {
            b.reject(format!("row: expected {ncols} fields, got {}", rec.len()));
            continue;
        }
        let str_at = |c: usize| pos[c].map(|i| cell(&rec, i));
        let value = str_at(3).expect("required");
        let value = match time::parse_float_literal(value) {
            Some(v) => Value::Num(v),
            None => Value::Str(Cow::Borrowed(value)),
        };
        let timestamp = str_at(4).map(|t| {
            if t.is_empty() {
                Value::Null
            } else if let Some(n) = time::parse_float_literal(t) {
                Value::Num(n)
            } else {
                Value::Str(Cow::Borrowed(t))
            }
        });
        let labels = match str_at(2) {
            None | Some("") => Labels::None,
            Some(text) => P::labels(text),
        };
        let p = RawPoint {
            namespace: str_at(0).map(|s| Value::Str(Cow::Borrowed(s))),
            name: str_at(1).map(|s| Value::Str(Cow::Borrowed(s))),
            labels: Some(labels),
            value: Some(value),
            timestamp,
            duplicate: None,
            unknown: Vec::new(),
        };
        b.point(&p);
    }
    Ok(())
}
