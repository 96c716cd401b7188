//! The typed values constraints compare: numbers, instants, semantic versions, IP networks.
//!
//! Each parser accepts what Unleash's Rust engine (yggdrasil, which the Python, Ruby, .NET and
//! Java SDKs and Unleash Edge embed) accepts, so a constraint means the same here as in an SDK.

use std::cmp::Ordering;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset, Utc};

/// Whether `s` is a number in yggdrasil's constraint grammar:
/// `[+-]?digits(.digits*)?([eE][+-]?digits)?` (spaces around allowed). A constraint whose
/// `value` is not one cannot be compiled there, and the whole feature evaluates off.
pub fn is_grammar_number(s: &str) -> bool {
    let b = s.trim_matches([' ', '\t']).as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        digits(&mut i);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// An instant as nanoseconds since the Unix epoch (i128: any chrono date fits).
pub type Instant = i128;

/// Parse an RFC 3339 date-time (`2024-05-01T12:00:00Z`, `…+02:00`, fractional seconds
/// allowed, `T` or a space between date and time), as chrono's `DateTime` parser does.
pub fn parse_instant(s: &str) -> Option<Instant> {
    let dt: DateTime<FixedOffset> = s.parse().ok()?;
    let utc = dt.with_timezone(&Utc);
    Some(i128::from(utc.timestamp()) * 1_000_000_000 + i128::from(utc.timestamp_subsec_nanos()))
}

/// The current time as an [`Instant`].
pub fn now() -> Instant {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// A semantic version (semver.org 2.0.0), strictly parsed: no `v` prefix, no leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver {
    core: [u64; 3],
    pre: Vec<PreId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PreId {
    Num(u64),
    Alpha(Box<str>),
}

fn ident_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

fn numeric(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

impl Semver {
    pub fn parse(s: &str) -> Option<Semver> {
        let (rest, build) = match s.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        if let Some(b) = build {
            if !b.split('.').all(ident_ok) {
                return None;
            }
        }
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let mut parts = core.split('.');
        let mut nums = [0u64; 3];
        for n in &mut nums {
            *n = numeric(parts.next()?)?;
        }
        if parts.next().is_some() {
            return None;
        }
        let mut ids = Vec::new();
        if let Some(p) = pre {
            for id in p.split('.') {
                if !ident_ok(id) {
                    return None;
                }
                if id.bytes().all(|c| c.is_ascii_digit()) {
                    ids.push(PreId::Num(numeric(id)?));
                } else {
                    ids.push(PreId::Alpha(id.into()));
                }
            }
        }
        Some(Semver {
            core: nums,
            pre: ids,
        })
    }

    /// Precedence (build metadata ignored): a pre-release sorts before its release;
    /// numeric identifiers sort numerically and before alphanumeric ones.
    pub fn precedence(&self, other: &Semver) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (a, b) {
                            (PreId::Num(x), PreId::Num(y)) => x.cmp(y),
                            (PreId::Num(_), PreId::Alpha(_)) => Ordering::Less,
                            (PreId::Alpha(_), PreId::Num(_)) => Ordering::Greater,
                            (PreId::Alpha(x), PreId::Alpha(y)) => x.cmp(y),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

/// An IP network: an address with a prefix length (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    V4(u32, u8),
    V6(u128, u8),
}

impl Net {
    pub fn parse(s: &str) -> Option<Net> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                (a, Some(p.parse::<u8>().ok()?))
            }
            None => (s, None),
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => {
                let p = prefix.unwrap_or(32);
                (p <= 32).then_some(Net::V4(u32::from(a), p))
            }
            IpAddr::V6(a) => {
                let p = prefix.unwrap_or(128);
                (p <= 128).then_some(Net::V6(u128::from(a), p))
            }
        }
    }

    /// Whether `ip` is inside; an IPv4 network never contains an IPv6 address (mapped ones
    /// included) and vice versa.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Net::V4(net, p), IpAddr::V4(a)) => {
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u32::from(a) & mask == net & mask
            }
            (Net::V6(net, p), IpAddr::V6(a)) => {
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(a) & mask == net & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_numbers() {
        for ok in ["12", "-1", "+3", "12.", "12.50", "1e5", "1E-5", " 7 "] {
            assert!(is_grammar_number(ok), "{ok}");
        }
        for bad in ["", "x", ".5", "1e", "inf", "NaN", "1,5", "0x10", "1 2"] {
            assert!(!is_grammar_number(bad), "{bad}");
        }
    }

    #[test]
    fn instants() {
        let a = parse_instant("2022-01-22T13:00:00.000+02:00").unwrap();
        let b = parse_instant("2022-01-22T11:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            parse_instant("2022-01-22T11:00:00.5Z").unwrap() - b,
            500_000_000
        );
        assert!(parse_instant("2022-01-22").is_none());
        assert!(parse_instant("yesterday").is_none());
        assert!(now() > b);
    }

    #[test]
    fn semver_precedence() {
        let v = |s| Semver::parse(s).unwrap_or_else(|| panic!("{s}"));
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ];
        for w in order.windows(2) {
            assert_eq!(v(w[0]).precedence(&v(w[1])), Ordering::Less, "{w:?}");
        }
        assert_eq!(v("1.2.3+build.5").precedence(&v("1.2.3")), Ordering::Equal);
        for bad in [
            "v1.2.3", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", " 1.2.3",
        ] {
            assert!(Semver::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let n = Net::parse("10.1.2.3/8").unwrap();
        assert!(n.contains(ip("10.200.0.1")) && !n.contains(ip("11.0.0.1")));
        assert!(Net::parse("0.0.0.0/0").unwrap().contains(ip("1.2.3.4")));
        assert!(Net::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Net::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(Net::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8:0:1::42")));
        assert!(!Net::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("10.0.0.1")));
        assert!(!Net::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("::ffff:1.2.3.4")));
        for bad in [
            "127.invalid",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "bad::cidr",
        ] {
            assert!(Net::parse(bad).is_none(), "{bad}");
        }
    }
}
