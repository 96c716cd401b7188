//! Decoding of InfluxDB line protocol (v1 /write and v2 /api/v2/write) into a [`super::Batch`] through [`super::Builder::sample`].
//!
//! Lines are parsed by the `influxdb-line-protocol` crate (InfluxData's
//! parser, written to match the Go one: escaping, quoted strings spanning
//! newlines, `#` comments). A line maps to Hearth the way Telegraf's
//! Prometheus output names series:
//!
//! - each field is one sample of the series `<measurement>_<field>`, the name
//!   sanitised to [`super::point::NAME_PATTERN`] (see [`push_name`]);
//! - tags are labels, keys sanitised to [`super::point::LABEL_KEY_PATTERN`]
//!   (see [`label_key`]), values as they are; a tag whose sanitised key is
//!   the namespace label gives the series' namespace instead of a label;
//! - float, integer (`i`) and unsigned (`u`) fields are stored as `f64`,
//!   booleans as 1 and 0; a string field is rejected (Hearth stores numbers)
//!   while the line's other fields are kept;
//! - the timestamp is read in the request's [`Precision`] and floored to µs;
//!   a line without one gets the window's `now_us`.
//!
//! Bad input is reported per line, as InfluxDB reports a partial write: each
//! rejection is `(line index, reason)`, the index 0-based and counting every
//! `\n` of the (decompressed) body, blank and comment lines included. A line
//! that does not parse (with the parser's message), a line that is not UTF-8,
//! a string field, a sample the builder refuses (the reason names its field):
//! each is one rejection, and decoding goes on with the next line or field.
//! [`super::Batch::total`] is therefore samples plus rejections.

use std::borrow::Cow;
use std::str::FromStr;

use influxdb_line_protocol::{
    parse_lines, split_lines, Error as ParseError, FieldValue, ParsedLine,
};

use super::point::{is_valid_label_key, shown, Window};
use super::{gunzip, Batch, Builder, IngestError};

/// Unit of the timestamps of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    /// v1 only.
    Minutes,
    /// v1 only.
    Hours,
}

impl FromStr for Precision {
    type Err = String;

    /// v2 spells them `ns`, `us`, `ms`, `s`; v1 also `n`, `u`, `m`, `h`.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "ns" | "n" => Precision::Nanoseconds,
            "us" | "u" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => {
                return Err(format!(
                    "unknown precision {:?} (expected ns, us, ms, s, m or h)",
                    shown(s)
                ))
            }
        })
    }
}

impl Precision {
    /// `t` in this unit as µs since the epoch: floored (a nanosecond time
    /// before 1970 stays before it), saturated on overflow (the window then
    /// refuses it, counted as too old when negative).
    pub fn to_us(self, t: i64) -> i64 {
        match self {
            Precision::Nanoseconds => t.div_euclid(1_000),
            Precision::Microseconds => t,
            Precision::Milliseconds => t.saturating_mul(1_000),
            Precision::Seconds => t.saturating_mul(1_000_000),
            Precision::Minutes => t.saturating_mul(60_000_000),
            Precision::Hours => t.saturating_mul(3_600_000_000),
        }
    }
}

/// How to decode a body.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub window: Window,
    pub precision: Precision,
    /// The body is gzip (one or more members).
    pub gzip: bool,
    /// Largest accepted decompressed size, in bytes.
    pub max_decompressed: usize,
    /// Namespace of a line without the namespace tag.
    pub namespace: &'a str,
    /// Tag (label) key whose value is a line's namespace.
    pub namespace_label: &'a str,
}

/// Reason for a line whose bytes are not UTF-8.
pub const NOT_UTF8: &str = "line is not valid UTF-8";
/// Message for a line the parser finds no more precise fault in.
pub const SHAPE: &str =
    "expected <measurement>[,<tag>=<value>...] <field>=<value>[,<field>=<value>...] [<timestamp>]";
/// Longest parser message kept in a reason, in characters.
const MESSAGE_CHARS: usize = 200;

/// Decode a line protocol body (gzip when `opts.gzip`). Fails as a whole only
/// for a bad gzip stream or one that inflates past `opts.max_decompressed`;
/// everything else is a per-line rejection.
pub fn decode(body: &[u8], opts: &Options<'_>) -> Result<Batch, IngestError> {
    let inflated;
    let body = if opts.gzip {
        inflated = gunzip(body, opts.max_decompressed)?;
        &inflated[..]
    } else {
        body
    };
    let mut d = Decoder {
        b: Builder::new(opts.window),
        opts,
        lines: LineCounter {
            body,
            counted_to: 0,
            line: 0,
        },
        name: String::with_capacity(64),
    };
    // About one sample per 64 bytes: Telegraf's lines carry a few fields each.
    d.b.reserve(body.len() / 64);
    let mut start = 0;
    while start < body.len() {
        match std::str::from_utf8(&body[start..]) {
            Ok(text) => {
                d.text(text, start);
                break;
            }
            Err(e) => {
                // Decode the whole lines before the invalid byte, refuse the
                // line holding it, go on after that line.
                let bad = start + e.valid_up_to();
                let line_start =
                    memrchr_newline(&body[start..bad]).map_or(start, |i| start + i + 1);
                let text = std::str::from_utf8(&body[start..line_start]).expect("a valid prefix");
                d.text(text, start);
                d.reject_at(line_start, NOT_UTF8.to_owned());
                start = match body[bad..].iter().position(|&c| c == b'\n') {
                    Some(i) => bad + i + 1,
                    None => body.len(),
                };
            }
        }
    }
    Ok(d.b.finish())
}

fn memrchr_newline(s: &[u8]) -> Option<usize> {
    s.iter().rposition(|&c| c == b'\n')
}

/// 0-based line index of a byte offset, counting newlines lazily: only bodies
/// with rejections pay for it, and each byte is counted at most once.
struct LineCounter<'b> {
    body: &'b [u8],
    counted_to: usize,
    line: usize,
}

impl LineCounter<'_> {
    /// Index of the line holding `offset`; offsets must not decrease.
    fn index(&mut self, offset: usize) -> usize {
        let seen = &self.body[self.counted_to..offset];
        self.line += seen.iter().filter(|&&c| c == b'\n').count();
        self.counted_to = offset;
        self.line
    }
}

/// Where the k-th line the parser yields starts (byte offset in the body) and its text:
/// the lines of `split_lines` that are not blank or a comment, walked once, lazily.
struct LineStarts<'t> {
    text: &'t str,
    base: usize,
    lines: Box<dyn Iterator<Item = &'t str> + 't>,
    seen: usize,
}

impl<'t> LineStarts<'t> {
    fn new(text: &'t str, base: usize) -> Self {
        let lines = split_lines(text).filter(|line| !skipped_by_parser(line));
        LineStarts {
            text,
            base,
            lines: Box::new(lines),
            seen: 0,
        }
    }

    /// Offset and text of line `k` of the parser's; `k` must not decrease. (Past the end,
    /// which the filter mirroring the parser's rule rules out, the end of the text.)
    fn nth(&mut self, k: usize) -> (usize, &'t str) {
        let line = self
            .lines
            .nth(k - self.seen)
            .unwrap_or(&self.text[self.text.len()..]);
        self.seen = k + 1;
        (
            self.base + (line.as_ptr() as usize - self.text.as_ptr() as usize),
            line,
        )
    }
}

/// Does `parse_lines` skip this line of `split_lines`? Its own rule (`trim_leading`):
/// blanks and newlines, then a `#` comment up to the next newline, repeatedly; nothing left.
fn skipped_by_parser(line: &str) -> bool {
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\n']);
        match rest.strip_prefix('#') {
            Some(comment) => rest = &comment[comment.find('\n').unwrap_or(comment.len())..],
            None => return rest.is_empty(),
        }
    }
}

struct Decoder<'o, 'b> {
    b: Builder,
    opts: &'o Options<'o>,
    lines: LineCounter<'b>,
    /// The series name being built, reused across samples.
    name: String,
}

impl<'b> Decoder<'_, 'b> {
    /// Decode the lines of `text`, which starts at byte `base` of the body.
    fn text(&mut self, text: &'b str, base: usize) {
        // The parser takes trailing blanks (and the CR of CRLF) for content; Go's InfluxDB
        // ignores them, and so do we — line by line, when the body has any.
        let blank_ends = text.contains('\r')
            || text.contains(" \n")
            || text.contains("\t\n")
            || text.ends_with([' ', '\t']);
        if blank_ends {
            for line in split_lines(text) {
                let offset = base + (line.as_ptr() as usize - text.as_ptr() as usize);
                let line = line.trim_end_matches([' ', '\t', '\r']);
                match parse_lines(line).next() {
                    None => {} // blank or a comment
                    Some(Ok(parsed)) => self.line(&parsed, Some(offset)),
                    Some(Err(e)) => self.unparsed(line, offset, e),
                }
            }
            return;
        }
        // One pass of the parser over the whole text; where a line starts is looked up only
        // for a rejection (the parser skips blank and comment lines and says nothing of where
        // a line was).
        let mut starts = LineStarts::new(text, base);
        for (k, item) in parse_lines(text).enumerate() {
            match item {
                Ok(parsed) => {
                    let mark = self.b.batch.rejected.len();
                    self.line(&parsed, None);
                    if self.b.batch.rejected.len() > mark {
                        let (offset, _) = starts.nth(k);
                        let line = self.lines.index(offset);
                        for (index, _) in &mut self.b.batch.rejected[mark..] {
                            *index = line;
                        }
                    }
                }
                Err(e) => {
                    let (offset, line) = starts.nth(k);
                    self.unparsed(line.trim_end(), offset, e);
                }
            }
        }
    }

    fn unparsed(&mut self, line: &str, offset: usize, e: ParseError) {
        let message = match e {
            // Its kind is nom's, which tells a user nothing.
            ParseError::GenericParsingError { .. } => Cow::Borrowed(SHAPE),
            e => Cow::Owned(e.to_string()),
        };
        let reason = format!(
            "unable to parse '{}': {}",
            shown(line.trim()),
            cut(&message, MESSAGE_CHARS)
        );
        self.reject_at(offset, reason);
    }

    /// One parsed line starting at byte `offset`; without it the caller numbers the line's
    /// rejections.
    fn line(&mut self, parsed: &ParsedLine<'_>, offset: Option<usize>) {
        let opts = self.opts;
        let time_us = parsed
            .timestamp
            .map_or(opts.window.now_us, |t| opts.precision.to_us(t));
        let tags = parsed.series.tag_set.as_deref().unwrap_or_default();
        // Keys are nearly always valid already: sanitised copies only when not.
        let sanitised: Option<Vec<Cow<'_, str>>> =
            match tags.iter().all(|(k, _)| is_valid_label_key(k)) {
                true => None,
                false => Some(tags.iter().map(|(k, _)| label_key(k)).collect()),
            };
        let key = |i: usize| -> &str { sanitised.as_ref().map_or(&tags[i].0, |s| &s[i]) };
        let mut namespace_tag = None;
        for i in 0..tags.len() {
            if key(i) == opts.namespace_label {
                if namespace_tag.is_some() {
                    let reason = format!("labels.{}: duplicate label", shown(key(i)));
                    return self.reject_line(offset, reason);
                }
                namespace_tag = Some(i);
            }
        }
        let namespace = namespace_tag.map_or(opts.namespace, |i| tags[i].1.as_str());
        for (field, value) in &parsed.field_set {
            let value = match value {
                FieldValue::F64(v) => *v,
                FieldValue::I64(v) => *v as f64,
                FieldValue::U64(v) => *v as f64,
                FieldValue::Boolean(v) => f64::from(u8::from(*v)),
                FieldValue::String(_) => {
                    let reason = format!("field {}: string values are not stored", shown(field));
                    self.reject_line(offset, reason);
                    continue;
                }
            };
            self.name.clear();
            push_name(&mut self.name, &parsed.series.measurement, field);
            let labels = (0..tags.len())
                .filter(|&i| Some(i) != namespace_tag)
                .map(|i| (key(i), tags[i].1.as_str()))
                .collect();
            let mark = self.b.batch.rejected.len();
            self.b.sample(namespace, &self.name, labels, time_us, value);
            if self.b.batch.rejected.len() > mark {
                // The builder numbers a rejection by sample and does not know
                // the field: report it by line and field, as everything else.
                let line = offset.map(|o| self.lines.index(o));
                for (index, reason) in &mut self.b.batch.rejected[mark..] {
                    if let Some(line) = line {
                        *index = line;
                    }
                    *reason = format!("field {}: {reason}", shown(field));
                }
            }
        }
    }

    fn reject_line(&mut self, offset: Option<usize>, reason: String) {
        match offset {
            Some(offset) => self.reject_at(offset, reason),
            None => self.b.reject(reason),
        }
    }

    /// Reject one item of the line starting at byte `offset`.
    fn reject_at(&mut self, offset: usize, reason: String) {
        self.b.reject(reason);
        let line = self.lines.index(offset);
        if let Some(last) = self.b.batch.rejected.last_mut() {
            last.0 = line;
        }
    }
}

/// `s` cut to `max` characters (plus `…`).
fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((at, _)) => Cow::Owned(format!("{}…", &s[..at])),
    }
}

fn name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && (c.is_ascii_digit() || c == '.'))
}

fn key_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (!first && c.is_ascii_digit())
}

/// Append `s` with every character `ok` refuses replaced by `_`; when `s`
/// starts the result (`first`), a leading digit keeps its place behind a `_`
/// (`2xx` → `_2xx`, so distinct inputs stay distinct where they can).
fn push_sanitised(out: &mut String, s: &str, ok: impl Fn(char, bool) -> bool, first: bool) {
    // Valid characters are ASCII, so the common, valid case is a byte scan.
    let valid = (s.bytes().enumerate()).all(|(i, c)| ok(char::from(c), first && i == 0));
    if valid {
        out.push_str(s);
        return;
    }
    for (i, c) in s.chars().enumerate() {
        let first = first && i == 0;
        if ok(c, first) {
            out.push(c);
        } else if first && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

/// Append the series name `<measurement>_<field>` to `out`, sanitised to
/// `^[A-Za-z_:][A-Za-z0-9_:.]*$` (see [`push_sanitised`]).
pub fn push_name(out: &mut String, measurement: &str, field: &str) {
    push_sanitised(out, measurement, name_char, true);
    out.push('_');
    push_sanitised(out, field, name_char, false);
}

/// A tag key sanitised to `^[A-Za-z_][A-Za-z0-9_]*$` (see [`push_sanitised`]).
pub fn label_key(key: &str) -> Cow<'_, str> {
    if is_valid_label_key(key) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 1);
    push_sanitised(&mut out, key, key_char, true);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;
