//! Secrets found inside text: one pass over a string's bytes finds the byte ranges to mask.
//!
//! What is found (each check starts only at the byte that can begin it, so text with none of
//! them costs one table lookup a byte):
//! - `key: value`, `key=value`, `"key": "value"` whose key names a secret (`keys`): the value —
//!   `Debug` output of structs and maps, query strings, headers, `KEY=value` lines;
//! - payment card numbers: 13 to 19 digits (spaces or dashes between groups), a card network's
//!   prefix and length, and a valid Luhn check digit;
//! - JWTs (`eyJ…​.eyJ…​.…`), bearer tokens, AWS access key ids (`AKIA…`, `ASIA…`, …), PEM private
//!   key blocks, the password of a URL's userinfo (`https://user:pw@host`);
//! - with personal data on: e-mail addresses, IPv4 and IPv6 addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

/// What to look for besides the built-in secrets.
pub(crate) struct Finder<'a> {
    /// Whether a key names a secret (the built-in list, the config's patterns and allow-list);
    /// the key's bytes are ASCII.
    pub secret_key: &'a dyn Fn(&[u8]) -> bool,
    /// E-mail and IP addresses too.
    pub personal: bool,
}

/// Bytes that can begin a secret [`Finder::find`] looks for (`[0]`), and those that can begin a
/// secret or personal data (`[1]`).
const TRIGGERS: [[bool; 256]; 2] = {
    let mut t = [[false; 256]; 2];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        // Digits (cards), eyJ (JWTs, by their J), AKIA… (AWS), bearer, -----BEGIN, key: value,
        // scheme://, key=value.
        let secret = b.is_ascii_digit() || matches!(b, b'J' | b'A' | b'b' | b'B' | b'-' | b':' | b'=');
        t[0][c] = secret;
        // E-mail and IP addresses.
        t[1][c] = secret || b == b'@' || b.is_ascii_hexdigit();
        c += 1;
    }
    t
};

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_key_byte(b: u8) -> bool {
    is_word(b) || matches!(b, b'-' | b'.')
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl Finder<'_> {
    /// Appends the byte ranges of `s` to mask to `out` (unsorted, possibly overlapping; every
    /// bound is a character boundary, as every check starts and stops at ASCII bytes).
    pub(crate) fn find(&self, s: &str, out: &mut Vec<(usize, usize)>) {
        let b = s.as_bytes();
        let triggers = &TRIGGERS[usize::from(self.personal)];
        let mut i = 0;
        while i < b.len() {
            if !triggers[usize::from(b[i])] {
                i += 1;
                continue;
            }
            let word_start = i == 0 || !is_word(b[i - 1]);
            let next = b.get(i + 1).copied().unwrap_or(0);
            let mut found = match b[i] {
                b'0'..=b'9' if word_start => {
                    card(b, i).or_else(|| if self.personal { ip(b, i) } else { None })
                }
                b'J' if i >= 2 && &b[i - 2..i] == b"ey" && (i == 2 || !is_word(b[i - 3])) => jwt(b, i - 2),
                b'A' if word_start => aws_key(b, i),
                b'b' | b'B' if word_start && next | 0x20 == b'e' => bearer(b, i),
                b'-' if next == b'-' => pem(b, i),
                b':' if next == b'/' && b[i + 1..].starts_with(b"//") => userinfo(b, i + 3),
                b':' | b'=' => self.key_value(b, i),
                b'@' if self.personal => email(b, i),
                _ => None,
            };
            if found.is_none() && self.personal && (b[i] == b':' || word_start && b[i].is_ascii_hexdigit()) {
                found = ipv6(b, i);
            }
            match found {
                Some(r) => {
                    out.push(r);
                    // A key's value is looked into as well (it may hold a URL or a card); other
                    // finds are skipped whole.
                    i = if matches!(b[i], b':' | b'=') { i + 1 } else { r.1.max(i + 1) };
                }
                None => i += 1,
            }
        }
    }

    /// At a `:` or `=`: the value, if the key before it names a secret.
    fn key_value(&self, b: &[u8], sep: usize) -> Option<(usize, usize)> {
        // `a::b` is a path, not a key.
        if b[sep] == b':' && (b.get(sep + 1) == Some(&b':') || (sep > 0 && b[sep - 1] == b':')) {
            return None;
        }
        let mut end = sep;
        if b[sep] == b':' {
            while end > 0 && b[end - 1] == b' ' {
                end -= 1;
            }
        }
        let quote = (end > 0 && matches!(b[end - 1], b'"' | b'\'')).then(|| b[end - 1]);
        if quote.is_some() {
            end -= 1;
        }
        let mut start = end;
        while start > 0 && is_key_byte(b[start - 1]) && end - start < 128 {
            start -= 1;
        }
        if start == end || quote.is_some_and(|q| start == 0 || b[start - 1] != q) {
            return None;
        }
        let key = &b[start..end];
        if !(self.secret_key)(key) {
            return None;
        }
        // `==` is base64's padding or a comparison, not a value.
        if b[sep] == b'=' && b.get(sep + 1) == Some(&b'=') {
            return None;
        }
        let mut v = sep + 1;
        while v < b.len() && b[v] == b' ' {
            v += 1;
        }
        let value_end = match b.get(v) {
            None => return None,
            Some(&q @ (b'"' | b'\'')) => {
                // The inside of a quoted value (the quotes stay), escapes skipped.
                let mut j = v + 1;
                while j < b.len() && b[j] != q {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let j = j.min(b.len());
                return (j > v + 1).then_some((v + 1, j));
            }
            Some(_) if key.windows(6).any(|w| w.eq_ignore_ascii_case(b"cookie")) => line_end(b, v),
            Some(_) => unquoted_end(b, v),
        };
        (value_end > v).then_some((v, value_end))
    }
}

/// Where an unquoted value ends: at a delimiter outside brackets (`Some("a b")` is one value); an
/// auth scheme (`Bearer x`, `Basic x`) takes the credential after it too.
fn unquoted_end(b: &[u8], v: usize) -> usize {
    let scan = |from: usize| {
        let mut depth = 0usize;
        let mut j = from;
        while j < b.len() {
            match b[j] {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' if depth == 0 => break,
                b')' | b']' | b'}' => depth -= 1,
                b'"' | b'\'' if depth > 0 => {
                    let q = b[j];
                    j += 1;
                    while j < b.len() && b[j] != q {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                }
                b' ' | b'\t' | b'\r' | b'\n' | b',' | b';' | b'&' | b'"' | b'\'' | b'<' | b'>'
                    if depth == 0 =>
                {
                    break
                }
                _ => {}
            }
            j += 1;
        }
        j.min(b.len())
    };
    let end = scan(v);
    let word = &b[v..end];
    let scheme = ["bearer", "basic", "token", "digest", "negotiate", "apikey"]
        .iter()
        .any(|s| word.eq_ignore_ascii_case(s.as_bytes()));
    if scheme && b.get(end) == Some(&b' ') && b.get(end + 1).is_some_and(|&c| is_token_byte(c)) {
        scan(end + 1)
    } else {
        end
    }
}

fn line_end(b: &[u8], v: usize) -> usize {
    b[v..].iter().position(|&c| c == b'\n' || c == b'\r').map_or(b.len(), |p| v + p)
}

/// A payment card number starting at `i`: the longest run of digit groups that is one.
fn card(b: &[u8], i: usize) -> Option<(usize, usize)> {
    // Most numbers are short and stand alone: out before any bookkeeping.
    // (A card's groups have 3 digits or more: `2026-11-02` is a date.)
    let digits_at = |k: usize| b.get(k..).map_or(0, |t| t.iter().take_while(|c| c.is_ascii_digit()).count());
    let run = digits_at(i);
    let grouped = run >= 3 && matches!(b.get(i + run), Some(b' ' | b'-')) && digits_at(i + run + 1) >= 3;
    if !grouped && !(13..=19).contains(&run) {
        return None;
    }
    let mut digits = [0u8; 19];
    let mut n = 0;
    let mut sep = None;
    let mut j = i;
    // (end, digits so far) at each group's end.
    let mut ends: [(usize, usize); 20] = [(0, 0); 20];
    let mut groups = 0;
    loop {
        while j < b.len() && b[j].is_ascii_digit() {
            if n == 19 {
                return None; // too long to be a card: an id, a timestamp
            }
            digits[n] = b[j] - b'0';
            n += 1;
            j += 1;
        }
        if groups < ends.len() {
            ends[groups] = (j, n);
            groups += 1;
        }
        // A single space or dash between groups, the same one each time.
        match b.get(j) {
            Some(&c @ (b' ' | b'-'))
                if sep.is_none_or(|s| s == c) && b.get(j + 1).is_some_and(u8::is_ascii_digit) =>
            {
                sep = Some(c);
                j += 1;
            }
            _ => break,
        }
    }
    if j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        return None;
    }
    // The longest prefix of whole groups that is a card (a card then a year is still a card).
    ends[..groups]
        .iter()
        .rev()
        .find(|&&(_, n)| (13..=19).contains(&n) && is_card(&digits[..n]))
        .map(|&(e, _)| (i, e))
}

/// A card network's prefix and length, and the Luhn check.
pub(super) fn is_card(d: &[u8]) -> bool {
    let n = d.len();
    let prefix = |k: usize| d[..k].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let network = match d[0] {
        4 => matches!(n, 13 | 16 | 19), // Visa
        5 => (51..=55).contains(&prefix(2)) && n == 16 || matches!(prefix(2), 50 | 56..=59), // Mastercard, Maestro
        2 => (2221..=2720).contains(&prefix(4)) && n == 16,                                  // Mastercard
        3 => match prefix(2) {
            34 | 37 => n == 15,                                  // American Express
            35 => (3528..=3589).contains(&prefix(4)) && n >= 16, // JCB
            36 | 38 | 39 => n >= 14,                             // Diners Club
            30 => (300..=305).contains(&prefix(3)) && n >= 14,
            _ => false,
        },
        6 => n >= 16 || prefix(2) >= 60, // Discover, UnionPay, Maestro
        _ => false,
    };
    network && luhn_ok(d)
}

/// The Luhn check.
pub(super) fn luhn_ok(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &x)| {
            let x = u32::from(x);
            if k % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    sum % 10 == 0
}

/// `eyJ….eyJ….sig`: a JSON header and payload, base64url, and a signature (empty for `alg: none`).
fn jwt(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let seg = |from: usize| {
        let mut j = from;
        while j < b.len() && is_b64url(b[j]) {
            j += 1;
        }
        j
    };
    if !b[i..].starts_with(b"eyJ") {
        return None;
    }
    let h = seg(i);
    if h - i < 10 || b.get(h) != Some(&b'.') || !b[h + 1..].starts_with(b"eyJ") {
        return None;
    }
    let p = seg(h + 1);
    if p - h - 1 < 10 || b.get(p) != Some(&b'.') {
        return None;
    }
    Some((i, seg(p + 1)))
}

/// An AWS access key id: a known four-letter prefix and 16 upper-case letters or digits.
fn aws_key(b: &[u8], i: usize) -> Option<(usize, usize)> {
    const PREFIXES: [&[u8]; 12] = [
        b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AIPA", b"ANPA", b"ANVA", b"APKA", b"AROA",
        b"ASCA",
    ];
    let key = b.get(i..i + 20)?;
    let ok = PREFIXES.iter().any(|p| key.starts_with(p))
        && key[4..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b.get(i + 20).is_none_or(|&c| !is_word(c));
    ok.then_some((i, i + 20))
}

/// `Bearer <token>`: the token, if it looks like one (8 or more token characters, one of them not
/// a letter — so prose such as "bearer of news" is left alone).
fn bearer(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let word = b.get(i..i + 6)?;
    if !word.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let mut t = i + 6;
    if !b.get(t).is_some_and(|&c| c == b' ' || c == b'\t') {
        return None;
    }
    while t < b.len() && (b[t] == b' ' || b[t] == b'\t') {
        t += 1;
    }
    let mut e = t;
    while e < b.len() && is_token_byte(b[e]) {
        e += 1;
    }
    let token = &b[t..e];
    (token.len() >= 8 && token.iter().any(|c| !c.is_ascii_alphabetic())).then_some((t, e))
}

/// A PEM private key block, from `-----BEGIN … PRIVATE KEY-----` to its `-----END …-----` (or the
/// end of the text, if it was cut).
fn pem(b: &[u8], i: usize) -> Option<(usize, usize)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    if !b[i..].starts_with(BEGIN) {
        return None;
    }
    let label_end = find(&b[i + BEGIN.len()..], b"-----")? + i + BEGIN.len();
    find(&b[i..label_end], b"PRIVATE KEY")?;
    let from = label_end + 5;
    let end = match find(&b[from..], b"-----END ") {
        Some(p) => {
            let tail = from + p + 9;
            find(&b[tail..], b"-----").map_or(b.len(), |q| tail + q + 5)
        }
        None => b.len(),
    };
    Some((i, end))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// After `scheme://`: the password of `user:password@host`.
fn userinfo(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut end = from;
    while end < b.len()
        && !matches!(b[end], b'/' | b'?' | b'#' | b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'<' | b'>')
    {
        end += 1;
    }
    let authority = &b[from..end];
    let at = authority.iter().rposition(|&c| c == b'@')?;
    let colon = authority[..at].iter().position(|&c| c == b':')?;
    (colon + 1 < at).then_some((from + colon + 1, from + at))
}

/// Around an `@`: an e-mail address.
fn email(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let local = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
    let mut s = at;
    while s > 0 && local(b[s - 1]) {
        s -= 1;
    }
    let mut e = at + 1;
    while e < b.len() && (b[e].is_ascii_alphanumeric() || matches!(b[e], b'.' | b'-')) {
        e += 1;
    }
    while e > at + 1 && b[e - 1] == b'.' {
        e -= 1;
    }
    let domain = &b[at + 1..e];
    let tld = domain.rsplit(|&c| c == b'.').next()?;
    let ok = s < at && domain.contains(&b'.') && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic);
    ok.then_some((s, e))
}

/// A dotted-quad IPv4 address starting at `i`.
fn ip(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut e = i;
    while e < b.len() && e - i < 15 && (b[e].is_ascii_digit() || b[e] == b'.') {
        e += 1;
    }
    while e > i && b[e - 1] == b'.' {
        e -= 1;
    }
    if b.get(e).is_some_and(|&c| is_word(c) || c == b'.') {
        return None;
    }
    let text = std::str::from_utf8(&b[i..e]).ok()?;
    text.parse::<Ipv4Addr>().ok().map(|_| (i, e))
}

/// An IPv6 address starting at `i` (hex groups and colons, at least two of them).
fn ipv6(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (is_word(b[i - 1]) || b[i - 1] == b':') {
        return None;
    }
    let mut e = i;
    while e < b.len() && e - i < 45 && (b[e].is_ascii_hexdigit() || b[e] == b':' || b[e] == b'.') {
        e += 1;
    }
    if b.get(e).is_some_and(|&c| is_word(c)) {
        return None;
    }
    let cand = &b[i..e];
    if cand.iter().filter(|&&c| c == b':').count() < 2 || !cand.iter().any(u8::is_ascii_hexdigit) {
        return None;
    }
    let text = std::str::from_utf8(cand).ok()?;
    text.parse::<Ipv6Addr>().ok().map(|_| (i, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(s: &str, personal: bool) -> Vec<&str> {
        let key = |k: &[u8]| crate::sanitize::keys::is_secret_bytes(k);
        let f = Finder { secret_key: &key, personal };
        let mut r = Vec::new();
        f.find(s, &mut r);
        r.iter().map(|&(a, b)| &s[a..b]).collect()
    }

    #[test]
    fn finds_each_kind() {
        assert_eq!(masked("card 4111 1111 1111 1111 ok", false), ["4111 1111 1111 1111"]);
        assert_eq!(masked("card 4111-1111-1111-1111 2026", false), ["4111-1111-1111-1111"]);
        assert_eq!(masked("n=4111111111111112", false), Vec::<&str>::new(), "Luhn-invalid");
        assert_eq!(masked("t=1733270400000000000", false), Vec::<&str>::new(), "a timestamp");
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc-_123";
        assert_eq!(masked(&format!("tok {jwt} end"), false), [jwt]);
        assert_eq!(masked("key AKIAIOSFODNN7EXAMPLE here", false), ["AKIAIOSFODNN7EXAMPLE"]);
        assert_eq!(masked("Authorization: Bearer abc.def-123", false), ["Bearer abc.def-123", "abc.def-123"]);
        assert_eq!(masked("https://bob:hunter2@db.example.com/x", false), ["hunter2"]);
        assert_eq!(masked("https://example.com/a?b=c", false), Vec::<&str>::new());
        assert_eq!(masked("LoginRequest { user: \"bob\", password: \"hunter2\" }", false), ["hunter2"]);
        assert_eq!(masked("{\"authorization\": \"Basic eDp5\", \"x\": 1}", false), ["Basic eDp5"]);
        assert_eq!(masked("GET /?user=bob&password=s3cr3t&x=1", false), ["s3cr3t"]);
        assert_eq!(masked("Cookie: a=1; sid=2", false), ["a=1; sid=2"]);
        assert_eq!(masked("token: Some(\"abc def\"), next: 1", false), ["Some(\"abc def\")"]);
        assert_eq!(masked("std::io::Error", false), Vec::<&str>::new());
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----";
        assert_eq!(masked(&format!("k={pem} tail"), false), [pem]);
        assert_eq!(masked("-----BEGIN CERTIFICATE-----", false), Vec::<&str>::new());
        assert_eq!(
            masked("mail bob@example.com at 10.0.0.1 or ::1 or fe80::1", true),
            ["bob@example.com", "10.0.0.1", "::1", "fe80::1"]
        );
        assert_eq!(masked("mail bob@example.com at 10.0.0.1", false), Vec::<&str>::new());
    }
}
