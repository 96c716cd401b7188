//! Go's regular expression syntax (RE2 as Go 1.19's `regexp` parses it),
//! rewritten into an equivalent pattern for the `regex` crate.
//!
//! Prometheus compiles `label_replace` patterns (and `=~` matchers) with Go's
//! `regexp`. The two syntaxes mostly agree, but not everywhere:
//! - `\d`, `\s`, `\w` and `\b` are ASCII in Go, Unicode in `regex`;
//! - Go takes a `{` that does not start a repetition as a literal, `regex`
//!   rejects it;
//! - inside `[...]`, `[` is a literal in Go and starts a nested class in
//!   `regex`, and `&&`, `--`, `~~` are set operations only in `regex`;
//! - `\Q...\E` is literal text in Go; `\<`, `\>` are literals in Go and word
//!   boundaries in `regex`; octal escapes (`\012`) are Go's only;
//! - Go 1.19 rejects `(?<name>...)`, non-ASCII group names, the flags other
//!   than `imsU`, stacked repetitions (`a**`) and counts above 1000.
//!
//! [`translate`] reads the pattern as Go's parser reads it and writes every
//! literal as an escape `regex` cannot misread, so a pattern matches the same
//! strings (with the same groups) in both, and one Go rejects is an error.

use std::fmt::Write;

/// The `regex`-crate pattern equivalent to the Go pattern `pattern`, or the
/// reason Go's parser rejects it (in Go's wording).
pub(crate) fn translate(pattern: &str) -> Result<String, String> {
    let mut t = Translator {
        out: String::with_capacity(pattern.len() + 16),
        pending: String::new(),
        depth: 0,
    };
    t.run(pattern)?;
    t.out.push_str(&t.pending);
    Ok(t.out)
}

struct Translator {
    out: String,
    /// A flag group (`(?i)`) not written yet: Go applies a repetition that
    /// follows it to what came before it (`a(?i)*`), which `regex` rejects,
    /// so the flags go after the repetition.
    pending: String,
    /// Open groups, to tell `(?i)` at the top from one inside a group (both
    /// fine) and to reject a `)` without a `(`.
    depth: usize,
}

fn err(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

/// Go's `[:name:]` classes (ASCII), also negated as `[:^name:]`.
const POSIX: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// Go's Unicode general categories for `\p{..}` (exact names).
const CATEGORIES: [&str; 38] = [
    "C", "Cc", "Cf", "Cn", "Co", "Cs", "L", "LC", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me",
    "Mn", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk",
    "Sm", "So", "Z", "Zl", "Zp", "Zs",
];

/// Go 1.19's Unicode 13 scripts for `\p{..}` (exact names; Go takes no
/// aliases, unlike `regex`).
#[rustfmt::skip]
const SCRIPTS: [&str; 156] = [
    "Adlam", "Ahom", "Anatolian_Hieroglyphs", "Arabic", "Armenian", "Avestan", "Balinese", "Bamum",
    "Bassa_Vah", "Batak", "Bengali", "Bhaiksuki", "Bopomofo", "Brahmi", "Braille", "Buginese",
    "Buhid", "Canadian_Aboriginal", "Carian", "Caucasian_Albanian", "Chakma", "Cham", "Cherokee",
    "Chorasmian", "Common", "Coptic", "Cuneiform", "Cypriot", "Cyrillic", "Deseret", "Devanagari",
    "Dives_Akuru", "Dogra", "Duployan", "Egyptian_Hieroglyphs", "Elbasan", "Elymaic", "Ethiopic",
    "Georgian", "Glagolitic", "Gothic", "Grantha", "Greek", "Gujarati", "Gunjala_Gondi",
    "Gurmukhi", "Han", "Hangul", "Hanifi_Rohingya", "Hanunoo", "Hatran", "Hebrew", "Hiragana",
    "Imperial_Aramaic", "Inherited", "Inscriptional_Pahlavi", "Inscriptional_Parthian", "Javanese",
    "Kaithi", "Kannada", "Katakana", "Kayah_Li", "Kharoshthi", "Khitan_Small_Script", "Khmer",
    "Khojki", "Khudawadi", "Lao", "Latin", "Lepcha", "Limbu", "Linear_A", "Linear_B", "Lisu",
    "Lycian", "Lydian", "Mahajani", "Makasar", "Malayalam", "Mandaic", "Manichaean", "Marchen",
    "Masaram_Gondi", "Medefaidrin", "Meetei_Mayek", "Mende_Kikakui", "Meroitic_Cursive",
    "Meroitic_Hieroglyphs", "Miao", "Modi", "Mongolian", "Mro", "Multani", "Myanmar", "Nabataean",
    "Nandinagari", "New_Tai_Lue", "Newa", "Nko", "Nushu", "Nyiakeng_Puachue_Hmong", "Ogham",
    "Ol_Chiki", "Old_Hungarian", "Old_Italic", "Old_North_Arabian", "Old_Permic", "Old_Persian",
    "Old_Sogdian", "Old_South_Arabian", "Old_Turkic", "Oriya", "Osage", "Osmanya", "Pahawh_Hmong",
    "Palmyrene", "Pau_Cin_Hau", "Phags_Pa", "Phoenician", "Psalter_Pahlavi", "Rejang", "Runic",
    "Samaritan", "Saurashtra", "Sharada", "Shavian", "Siddham", "SignWriting", "Sinhala",
    "Sogdian", "Sora_Sompeng", "Soyombo", "Sundanese", "Syloti_Nagri", "Syriac", "Tagalog",
    "Tagbanwa", "Tai_Le", "Tai_Tham", "Tai_Viet", "Takri", "Tamil", "Tangut", "Telugu", "Thaana",
    "Thai", "Tibetan", "Tifinagh", "Tirhuta", "Ugaritic", "Vai", "Wancho", "Warang_Citi", "Yezidi",
    "Yi", "Zanabazar_Square",
];

/// Go's Perl classes, ASCII: the class body for `\d`, `\s`, `\w`.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    Some(match c {
        'd' => ("0-9", false),
        'D' => ("0-9", true),
        's' => (r"\t\n\x0C\r ", false),
        'S' => (r"\t\n\x0C\r ", true),
        'w' => ("0-9A-Za-z_", false),
        'W' => ("0-9A-Za-z_", true),
        _ => return None,
    })
}

/// A literal character written so that `regex` reads it as itself anywhere
/// (in or out of a class, whatever follows).
fn push_literal(out: &mut String, c: char) {
    if c.is_alphanumeric() || c == '_' {
        out.push(c);
    } else {
        let _ = write!(out, "\\x{{{:X}}}", c as u32);
    }
}

impl Translator {
    fn run(&mut self, pattern: &str) -> Result<(), String> {
        let mut t = pattern;
        // The repetition operator just written, for Go's "invalid nested
        // repetition operator"; and whether anything repeatable precedes.
        let mut last_repeat: Option<&str> = None;
        let mut have_operand = false;
        while let Some(c) = t.chars().next() {
            let mut repeat = None;
            let is_repeat = matches!(c, '*' | '+' | '?') || (c == '{' && parse_repeat(t).is_some());
            if !is_repeat {
                self.out.push_str(&std::mem::take(&mut self.pending));
            }
            match c {
                '(' if t[1..].starts_with('?') => {
                    let (rest, opens) = self.perl_flags(t)?;
                    t = rest;
                    // Flags alone change nothing on Go's parse stack.
                    if opens {
                        self.depth += 1;
                        have_operand = false;
                    }
                }
                '(' => {
                    self.out.push('(');
                    self.depth += 1;
                    have_operand = false;
                    t = &t[1..];
                }
                '|' => {
                    self.out.push('|');
                    have_operand = false;
                    t = &t[1..];
                }
                ')' => {
                    if self.depth == 0 {
                        return Err(err("unexpected )", pattern));
                    }
                    self.depth -= 1;
                    self.out.push(')');
                    have_operand = true;
                    t = &t[1..];
                }
                '^' | '$' | '.' => {
                    self.out.push(c);
                    have_operand = true;
                    t = &t[1..];
                }
                '[' => {
                    t = self.class(t)?;
                    have_operand = true;
                }
                '*' | '+' | '?' => {
                    let before = t;
                    let mut after = &t[1..];
                    if !have_operand {
                        return Err(err("missing argument to repetition operator", &t[..1]));
                    }
                    self.out.push(c);
                    if let Some(a) = after.strip_prefix('?') {
                        self.out.push('?');
                        after = a;
                    }
                    if let Some(last) = last_repeat {
                        let n = last.len() - after.len();
                        return Err(err("invalid nested repetition operator", &last[..n]));
                    }
                    repeat = Some(before);
                    t = after;
                }
                '{' => match parse_repeat(t) {
                    None => {
                        // Not a repetition: a literal brace.
                        push_literal(&mut self.out, '{');
                        have_operand = true;
                        t = &t[1..];
                    }
                    Some((min, max, after)) => {
                        let spelled = &t[..t.len() - after.len()];
                        if !(0..=1000).contains(&min) || max > 1000 || (max >= 0 && min > max) {
                            return Err(err("invalid repeat count", spelled));
                        }
                        if !have_operand {
                            return Err(err("missing argument to repetition operator", spelled));
                        }
                        self.out.push_str(spelled);
                        let mut after = after;
                        if let Some(a) = after.strip_prefix('?') {
                            self.out.push('?');
                            after = a;
                        }
                        if let Some(last) = last_repeat {
                            let n = last.len() - after.len();
                            return Err(err("invalid nested repetition operator", &last[..n]));
                        }
                        repeat = Some(t);
                        t = after;
                    }
                },
                '\\' => {
                    t = self.escape(t)?;
                    have_operand = true;
                }
                _ => {
                    push_literal(&mut self.out, c);
                    have_operand = true;
                    t = &t[c.len_utf8()..];
                }
            }
            last_repeat = repeat;
        }
        if self.depth > 0 {
            return Err(err("missing closing )", pattern));
        }
        Ok(())
    }

    /// `(?` …: a named group, a non-capturing group or flags. Returns the
    /// rest and whether a group was opened.
    fn perl_flags<'p>(&mut self, s: &'p str) -> Result<(&'p str, bool), String> {
        if let Some(rest) = s.strip_prefix("(?P<") {
            let Some(end) = rest.find('>') else {
                return Err(err("invalid named capture", s));
            };
            let name = &rest[..end];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(err("invalid named capture", &s[..4 + end + 1]));
            }
            self.out.push_str(&s[..4 + end + 1]);
            return Ok((&rest[end + 1..], true));
        }
        let t = &s[2..];
        // Flags set and cleared; a flag set and then cleared is cleared, as
        // in Go (which also takes a repeated flag, unlike `regex`).
        let (mut on, mut off) = (String::new(), String::new());
        let mut negated = false;
        let mut saw_flag = false;
        for (i, c) in t.char_indices() {
            match c {
                'i' | 'm' | 's' | 'U' => {
                    saw_flag = true;
                    let (add, remove) = if negated {
                        (&mut off, &mut on)
                    } else {
                        (&mut on, &mut off)
                    };
                    remove.retain(|f| f != c);
                    if !add.contains(c) {
                        add.push(c);
                    }
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' => {
                    if negated && !saw_flag {
                        break;
                    }
                    let mut flags = on;
                    if !off.is_empty() {
                        flags.push('-');
                        flags.push_str(&off);
                    }
                    if c == ':' {
                        let _ = write!(self.out, "(?{flags}:");
                    } else if !flags.is_empty() {
                        let _ = write!(self.pending, "(?{flags})");
                    }
                    return Ok((&t[i + 1..], c == ':'));
                }
                _ => {
                    let n = 2 + i + c.len_utf8();
                    return Err(err("invalid or unsupported Perl syntax", &s[..n]));
                }
            }
        }
        let n = s
            .len()
            .min(2 + t.find([':', ')']).map_or(t.len(), |i| i + 1));
        Err(err("invalid or unsupported Perl syntax", &s[..n]))
    }

    /// A backslash outside a class.
    fn escape<'p>(&mut self, t: &'p str) -> Result<&'p str, String> {
        let mut chars = t[1..].chars();
        match chars.next() {
            Some('A') => self.out.push_str(r"\A"),
            Some('z') => self.out.push_str(r"\z"),
            Some('b') => self.out.push_str(r"(?-u:\b)"),
            Some('B') => self.out.push_str(r"(?-u:\B)"),
            Some('C') => return Err(err("invalid escape sequence", &t[..2])),
            Some('Q') => {
                let body = &t[2..];
                let (lit, rest) = match body.find(r"\E") {
                    Some(i) => (&body[..i], &body[i + 2..]),
                    None => (body, ""),
                };
                // A repetition after it applies to the last literal, in
                // both syntaxes.
                for c in lit.chars() {
                    push_literal(&mut self.out, c);
                }
                return Ok(rest);
            }
            Some('p' | 'P') => return self.unicode_class(t, &mut String::new(), false),
            Some(c) if perl_class(c).is_some() => {
                let (body, neg) = perl_class(c).expect("checked");
                self.out.push_str(if neg { "[^" } else { "[" });
                self.out.push_str(body);
                self.out.push(']');
                return Ok(&t[2..]);
            }
            _ => {
                let (c, rest) = parse_escape(t)?;
                push_literal(&mut self.out, c);
                return Ok(rest);
            }
        }
        Ok(&t[2..])
    }

    /// `\pX`, `\p{Name}`, `\PX`, `\P{^Name}`: written to `self.out`, or to
    /// `into` when `in_class`.
    fn unicode_class<'p>(
        &mut self,
        s: &'p str,
        into: &mut String,
        in_class: bool,
    ) -> Result<&'p str, String> {
        let mut negated = s.as_bytes()[1] == b'P';
        let t = &s[2..];
        let Some(c) = t.chars().next() else {
            return Err(err("invalid character class range", s));
        };
        let (mut name, rest) = if c == '{' {
            let Some(end) = t.find('}') else {
                return Err(err("invalid character class range", s));
            };
            (&t[1..end], &t[end + 1..])
        } else {
            (&t[..c.len_utf8()], &t[c.len_utf8()..])
        };
        if let Some(n) = name.strip_prefix('^') {
            negated = !negated;
            name = n;
        }
        if !(name == "Any" || CATEGORIES.contains(&name) || SCRIPTS.contains(&name)) {
            return Err(err(
                "invalid character class range",
                &s[..s.len() - rest.len()],
            ));
        }
        let out = if in_class { into } else { &mut self.out };
        let _ = write!(out, "\\{}{{{name}}}", if negated { 'P' } else { 'p' });
        Ok(rest)
    }

    /// A bracket class, as Go reads it, written as a `regex` class.
    fn class<'p>(&mut self, s: &'p str) -> Result<&'p str, String> {
        let mut t = &s[1..];
        let mut body = String::new();
        let negated = t.starts_with('^');
        if negated {
            t = &t[1..];
        }
        let mut first = true;
        loop {
            if t.is_empty() {
                return Err(err("missing closing ]", s));
            }
            if t.starts_with(']') && !first {
                break;
            }
            first = false;
            // [:name:]
            if t.starts_with("[:") {
                if let Some(i) = t[2..].find(":]") {
                    let name = &t[2..2 + i];
                    let bare = name.strip_prefix('^').unwrap_or(name);
                    if !POSIX.contains(&bare) {
                        return Err(err("invalid character class range", &t[..i + 4]));
                    }
                    body.push_str(&t[..i + 4]);
                    t = &t[i + 4..];
                    continue;
                }
            }
            if t.starts_with(r"\p") || t.starts_with(r"\P") {
                t = self.unicode_class(t, &mut body, true)?;
                continue;
            }
            if let Some((cls, neg)) = t
                .strip_prefix('\\')
                .and_then(|r| r.chars().next())
                .and_then(perl_class)
            {
                body.push_str(if neg { "[^" } else { "[" });
                body.push_str(cls);
                body.push(']');
                t = &t[2..];
                continue;
            }
            let before = t;
            let (lo, rest) = class_char(t, s)?;
            t = rest;
            let mut hi = lo;
            if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
                let (h, rest) = class_char(&t[1..], s)?;
                hi = h;
                t = rest;
                if hi < lo {
                    let n = before.len() - t.len();
                    return Err(err("invalid character class range", &before[..n]));
                }
            }
            push_literal(&mut body, lo);
            if hi != lo {
                body.push('-');
                push_literal(&mut body, hi);
            }
        }
        self.out.push_str(if negated { "[^" } else { "[" });
        self.out.push_str(&body);
        self.out.push(']');
        Ok(&t[1..])
    }
}

/// One character of a class (`\` escapes allowed).
fn class_char<'p>(t: &'p str, whole: &str) -> Result<(char, &'p str), String> {
    match t.chars().next() {
        None => Err(err("missing closing ]", whole)),
        Some('\\') => parse_escape(t),
        Some(c) => Ok((c, &t[c.len_utf8()..])),
    }
}

/// Go's `parseEscape`: `\` + punctuation, octal, `\x..`, `\x{..}`, or one of
/// `\a \f \n \r \t \v`.
fn parse_escape(s: &str) -> Result<(char, &str), String> {
    let t = &s[1..];
    let Some(c) = t.chars().next() else {
        return Err("error parsing regexp: trailing backslash at end of expression: ``".into());
    };
    let rest = &t[c.len_utf8()..];
    let invalid = |end: &str| err("invalid escape sequence", &s[..s.len() - end.len()]);
    let octal = |c: u8| (b'0'..=b'7').contains(&c);
    match c {
        '1'..='7' if !rest.bytes().next().is_some_and(octal) => Err(invalid(rest)),
        '0'..='7' => {
            let mut r = c as u32 - '0' as u32;
            let mut rest = rest;
            for _ in 1..3 {
                match rest.bytes().next() {
                    Some(d) if octal(d) => {
                        r = r * 8 + u32::from(d - b'0');
                        rest = &rest[1..];
                    }
                    _ => break,
                }
            }
            Ok((char::from_u32(r).expect("below 512"), rest))
        }
        'x' => {
            if let Some(body) = rest.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    return Err(invalid(""));
                };
                let hex = &body[..end];
                let after = &body[end + 1..];
                if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid(after));
                }
                let v = u32::from_str_radix(hex, 16).ok().filter(|&v| v <= 0x10FFFF);
                match v.and_then(char::from_u32) {
                    Some(ch) => Ok((ch, after)),
                    // Go accepts surrogates as runes; they cannot be in a
                    // Rust string, so such a literal matches nothing.
                    None if v.is_some() => Ok(('\u{FFFD}', after)),
                    None => Err(invalid(after)),
                }
            } else {
                let h = rest
                    .get(..2)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                match h {
                    Some(h) => {
                        let v = u32::from_str_radix(h, 16).expect("hex digits");
                        Ok((char::from_u32(v).expect("below 256"), &rest[2..]))
                    }
                    None => Err(invalid(rest.get(2..).unwrap_or(""))),
                }
            }
        }
        'a' => Ok(('\x07', rest)),
        'f' => Ok(('\x0C', rest)),
        'n' => Ok(('\n', rest)),
        'r' => Ok(('\r', rest)),
        't' => Ok(('\t', rest)),
        'v' => Ok(('\x0B', rest)),
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, rest)),
        _ => Err(invalid(rest)),
    }
}

/// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}` → `(min, max, rest)`, max -1
/// for none; a count too large to read makes min -1 (an error for the
/// caller). `None` if `s` does not start with that form (then `{` is a
/// literal).
fn parse_repeat(s: &str) -> Option<(i64, i64, &str)> {
    let s = s.strip_prefix('{')?;
    let (mut min, s) = parse_int(s)?;
    let (max, s) = match s.strip_prefix(',') {
        None => (min, s),
        Some(s) => {
            if let Some(rest) = s.strip_prefix('}') {
                return Some((min, -1, rest));
            }
            let (max, s) = parse_int(s)?;
            if max < 0 {
                min = -1;
            }
            (max, s)
        }
    };
    Some((min, max, s.strip_prefix('}')?))
}

/// A decimal without leading zeros; -1 from 10^8 up (Go's "too big").
fn parse_int(s: &str) -> Option<(i64, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || (n >= 2 && s.starts_with('0')) {
        return None;
    }
    let mut v: i64 = 0;
    for b in s[..n].bytes() {
        if v >= 100_000_000 {
            v = -1;
            break;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some((v, &s[n..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// Whether the Go pattern, anchored, matches `s` (after translation).
    fn full(pattern: &str, s: &str) -> bool {
        let re = Regex::new(&format!("^(?:{})$", translate(pattern).unwrap())).unwrap();
        re.is_match(s)
    }

    #[test]
    fn perl_classes_and_word_boundaries_are_ascii() {
        assert!(full(r"\d+", "0123"));
        assert!(!full(r"\d", "٣")); // Arabic-Indic three
        assert!(full(r"\w+", "a_Z9"));
        assert!(!full(r"\w", "é"));
        assert!(full(r"\W", "é"));
        assert!(full(r"\s", "\t"));
        assert!(!full(r"\s", "\x0B")); // Go's \s has no vertical tab
        assert!(!full(r"\s", "\u{A0}"));
        assert!(full(r"[\d\s]+", "1 2"));
        assert!(full(r"[^\d]", "x"));
        assert!(!full(r"[^\d]", "5"));
        // é is not a word character in Go: a boundary on each side of it.
        assert!(full(r"a\bé\bb", "aéb"));
        assert!(!full(r"a\Bé", "aé"));
    }

    #[test]
    fn braces_that_are_not_repetitions_are_literal() {
        assert!(full("a{", "a{"));
        assert!(full("{foo}", "{foo}"));
        assert!(full("a{,3}", "a{,3}"));
        assert!(full("a{2}", "aa"));
        assert!(full("a{2,}", "aaaa"));
        assert!(full("a{1,2}?b", "ab"));
        assert!(full("x{01}", "x{01}"));
        assert!(translate("a{1001}").is_err());
        assert!(translate("a{3,2}").is_err());
        assert!(translate("a{100000000000}").is_err());
        assert!(translate("{2}").is_err());
    }

    #[test]
    fn classes_read_as_go_reads_them() {
        // [ is a literal inside a class; &&, --, ~~ are not operators.
        assert!(full(r"[[a]+", "[a["));
        assert!(full(r"[a&&b]+", "a&b"));
        assert!(full(r"[a~~b]+", "~"));
        assert!(full(r"[]a]+", "]a"));
        assert!(full(r"[^]a]", "b"));
        assert!(!full(r"[^]a]", "]"));
        assert!(full(r"[a-]+", "a-"));
        assert!(full(r"[-a]+", "-a"));
        assert!(full(r"[\]]", "]"));
        assert!(full(r"[[:alpha:]]+", "aZ"));
        assert!(full(r"[[:^digit:]]", "a"));
        assert!(full(r"[[:a]+", ":a["));
        assert!(full(r"[\x41-\x{43}]+", "ABC"));
        assert!(full(r"[\pL]+", "éa"));
        assert!(full(r"[\p{^L}]", "1"));
        assert!(translate("[z-a]").is_err());
        assert!(translate("[a").is_err());
        assert!(translate("[[:foo:]]").is_err());
        assert!(translate("[]").is_err());
    }

    #[test]
    fn escapes() {
        assert!(full(r"\Q.*+\E.", ".*+x"));
        assert!(full(r"a\Q", "a"));
        assert!(full(r"\<\>", "<>"));
        assert!(full(r"\012", "\n"));
        assert!(full(r"\0", "\0"));
        assert!(full(r"\x41\x{1F600}", "A😀"));
        assert!(full(r"\a\f\t\v", "\x07\x0C\t\x0B"));
        assert!(full(r"\_\-\.", "_-."));
        assert!(full(r"\pL\p{Greek}\PL", "aαx".replace('x', "1").as_str()));
        assert!(full(r"\p{^Greek}", "a"));
        assert!(full(r"\p{Any}\p{Old_Italic}", "a\u{10300}"));
        assert!(translate(r"\p{Letter}").is_err());
        assert!(translate(r"\p{greek}").is_err());
        assert!(translate(r"\p{Toto}").is_err()); // Unicode 14, after Go 1.19
        for bad in [
            r"\1",
            r"\8",
            r"\e",
            r"\y",
            r"\C",
            r"\x",
            r"\xZ1",
            r"\x{}",
            r"\x{110000}",
            "\\",
            r"\p{Foo Bar}",
        ] {
            assert!(translate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_and_flags() {
        assert!(full("(?i)abc", "ABC"));
        assert!(full("(?i:a)b", "Ab"));
        assert!(!full("(?i:a)b", "AB"));
        assert!(full("(?s).", "\n"));
        assert!(!full(".", "\n"));
        assert!(full("(?U)(a+)(a*)", "aa"));
        assert!(full("(?)a", "a"));
        assert!(full("(?-i)a", "a"));
        assert!(full("(?ii)a", "A"));
        assert!(!full("(?i-i)a", "A"));
        // Go repeats what precedes a flag group.
        assert!(full("a(?i)*b", "aaB"));
        assert!(full("(?P<n1_x>a)", "a"));
        assert!(translate("(?<n>a)").is_err());
        assert!(translate("(?P<é>a)").is_err());
        assert!(translate("(?P<>a)").is_err());
        assert!(translate("(?x)a").is_err());
        assert!(translate("(?i-)a").is_err());
        assert!(translate("(?=a)").is_err());
        assert!(translate("(a").is_err());
        assert!(translate("a)").is_err());
        // Group numbers are kept.
        let re = Regex::new(&translate(r"(\d+)-(?P<w>\w+)-(x)").unwrap()).unwrap();
        let c = re.captures("12-ab-x").unwrap();
        assert_eq!((&c[1], &c["w"], &c[3]), ("12", "ab", "x"));
    }

    #[test]
    fn repetitions() {
        assert!(full("a*?b+c?", "bbc"));
        assert!(translate("a**").is_err());
        assert!(translate("a+*").is_err());
        assert!(translate("a{2}*").is_err());
        assert!(translate("*a").is_err());
        assert!(translate("(*a)").is_err());
        assert!(translate("a|*").is_err());
        assert!(full("a*?", ""));
        assert!(full("(a*)*", "aa"));
    }

    #[test]
    fn plain_patterns_are_unchanged_in_meaning() {
        assert!(full("source-value-(.*)", "source-value-10"));
        assert!(full("foo|bar", "bar"));
        assert!(full("^a$", "a"));
        assert!(full("é+ü", "ééü"));
        assert!(full("a b", "a b"));
        assert!(full("#x", "#x"));
    }
}
