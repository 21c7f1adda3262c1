//! The scrubber against a generated corpus (fixed seed): secrets of every kind, embedded in text
//! at different places and in different cases, must be masked; look-alikes that are not secrets
//! (ids, UUIDs, digests, base64, Luhn-invalid numbers, timestamps, versions, URLs without
//! userinfo) must come out untouched. `cargo test -p telemark-runtime --lib corpus -- --nocapture`
//! prints the counts.

use super::Sanitizer;
use crate::config::{LimitsConfig, ScrubConfig};

/// xorshift64*: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[self.below(alphabet.len())] as char).collect()
    }
    /// `min` to `min + spread - 1` characters of `alphabet`.
    fn some(&mut self, alphabet: &[u8], min: usize, spread: usize) -> String {
        let n = min + self.below(spread);
        self.chars(alphabet, n)
    }
    fn digits(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.below(10) as u8).collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The check digit that makes `d` pass (or, with `valid` false, fail) Luhn.
fn with_check_digit(mut d: Vec<u8>, valid: bool) -> Vec<u8> {
    d.push(0);
    for c in 0..10 {
        *d.last_mut().unwrap() = c;
        if super::values::luhn_ok(&d) == valid {
            break;
        }
    }
    d
}

/// A card number of a random network, grouped by spaces, dashes or not at all.
fn card(r: &mut Rng, valid: bool) -> String {
    let (prefix, len) = match r.below(6) {
        0 => ("4", 16),
        1 => ("5", 16),
        2 => ("37", 15),
        3 => ("6011", 16),
        4 => ("3530", 16),
        _ => ("2221", 16),
    };
    let mut d: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
    d.extend(r.digits(len - prefix.len() - 1));
    let d = with_check_digit(d, valid);
    let text: String = d.iter().map(|x| (b'0' + x) as char).collect();
    match r.below(3) {
        0 => text,
        n => {
            let sep = if n == 1 { " " } else { "-" };
            text.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(sep)
        }
    }
}

fn case(r: &mut Rng, s: &str) -> String {
    match r.below(3) {
        0 => s.to_string(),
        1 => s.to_ascii_uppercase(),
        _ => {
            let mut c = s.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        }
    }
}

/// A secret, and the text it is embedded in (the secret must not survive).
fn positive(r: &mut Rng, kind: usize) -> (String, String) {
    let keys = [
        "password",
        "passwd",
        "pwd",
        "secret",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "credentials",
        "private_key",
        "privatekey",
        "token",
        "access_token",
        "bearer",
        "cookie",
        "set-cookie",
        "session",
        "mysql_pwd",
        "client_secret",
        "x-api-key",
    ];
    let secret_value = |r: &mut Rng| r.some(ALNUM, 8, 24);
    match kind {
        0 => {
            let c = card(r, true);
            (c.clone(), c)
        }
        1 => {
            let jwt = format!(
                "eyJ{}.eyJ{}.{}",
                r.some(B64URL, 12, 30),
                r.some(B64URL, 12, 60),
                r.some(B64URL, 20, 30)
            );
            (jwt.clone(), jwt)
        }
        2 => {
            let t = format!("{}{}", r.some(ALNUM, 12, 30), r.below(10));
            (t.clone(), format!("{} {t}", case(r, "bearer")))
        }
        3 => {
            let prefix = r.pick(&["AKIA", "ASIA", "AROA", "AIDA"]);
            let k = format!("{prefix}{}", r.chars(UPPER_DIGITS, 16));
            (k.clone(), k)
        }
        4 => {
            let label = r.pick(&["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"]);
            let body = r.chars(B64, 64);
            (body.clone(), format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----"))
        }
        5 => {
            let pw = secret_value(r);
            let scheme = r.pick(&["https", "postgres", "redis", "amqp", "mysql"]);
            (pw.clone(), format!("{scheme}://{}:{pw}@db{}.internal:5432/app", r.chars(HEX, 6), r.below(9)))
        }
        6 => {
            let pw = secret_value(r);
            let key = {
                let k = r.pick(&keys);
                case(r, k)
            };
            (pw.clone(), format!("https://api.example.com/v1/login?user=ann&{key}={pw}&page=2"))
        }
        7 => {
            let pw = secret_value(r);
            let key = r.pick(&keys).replace('-', "_");
            (pw.clone(), format!("LoginRequest {{ user: \"ann\", {key}: \"{pw}\", remember: true }}"))
        }
        8 => {
            let pw = secret_value(r);
            let key = {
                let k = r.pick(&keys);
                case(r, k)
            };
            (pw.clone(), format!("{{\"host\": \"example.com\", \"{key}\": \"{pw}\"}}"))
        }
        9 => {
            let pw = secret_value(r);
            let key = {
                let k = r.pick(&["cookie", "set-cookie"]);
                case(r, k)
            };
            (pw.clone(), format!("{key}: theme=dark; sid={pw}; path=/"))
        }
        10 => {
            let pw = secret_value(r);
            let key = {
                let k = r.pick(&keys);
                case(r, k)
            }
            .replace('-', "_");
            (pw.clone(), format!("{key}={pw}"))
        }
        _ => {
            let pw = secret_value(r);
            (
                pw.clone(),
                format!("Authorization: {} {pw}", {
                    let k = r.pick(&["Basic", "Bearer", "Token"]);
                    case(r, k)
                }),
            )
        }
    }
}

/// Personal data (masked only with `personal_data: true`).
fn personal(r: &mut Rng, kind: usize) -> String {
    match kind {
        0 => format!(
            "{}.{}@{}.{}",
            r.chars(HEX, 5),
            r.chars(HEX, 4),
            r.chars(HEX, 6),
            r.pick(&["com", "org", "io"])
        ),
        1 => format!("{}.{}.{}.{}", r.below(256), r.below(256), r.below(256), r.below(256)),
        _ => format!("2001:db8:{:x}::{:x}", r.below(65536), r.below(65536)),
    }
}

/// Something that looks like a secret but is not one.
fn negative(r: &mut Rng, kind: usize) -> String {
    match kind {
        0 => r.chars(HEX, 32), // trace id
        1 => r.chars(HEX, 16), // span id
        2 => {
            let u = r.chars(HEX, 32);
            format!("{}-{}-{}-{}-{}", &u[..8], &u[8..12], &u[12..16], &u[16..20], &u[20..])
        }
        3 => r.chars(HEX, 40), // SHA-1
        4 => r.chars(HEX, 64), // SHA-256
        5 => {
            let pad = ["", "=", "=="][r.below(3)];
            format!("{}{pad}", r.some(B64, 8, 60))
        }
        6 => card(r, false), // Luhn-invalid
        7 => format!("17{}", r.digits(17).iter().map(|d| (b'0' + d) as char).collect::<String>()), // unix nanos
        8 => format!(
            "2026-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            1 + r.below(12),
            1 + r.below(28),
            r.below(24),
            r.below(60),
            r.below(60),
            r.below(1000)
        ),
        9 => format!(
            "v{}.{}.{}{}",
            r.below(20),
            r.below(100),
            r.below(100),
            ["", "-rc.1", "-beta"][r.below(3)]
        ),
        10 => format!(
            "https://{}.example.com/{}/{}?page={}&q={}",
            r.chars(HEX, 6),
            r.pick(&["users", "orders", "v1/items"]),
            r.below(100000),
            r.below(50),
            r.chars(ALNUM, 6)
        ),
        _ => format!("{:02}:{:02}:{:02}", r.below(24), r.below(60), r.below(60)),
    }
}

/// Puts `inner` at the start, in the middle or at the end of some text.
fn embed(r: &mut Rng, inner: &str) -> String {
    match r.below(4) {
        0 => inner.to_string(),
        1 => format!("{inner} while handling request {}", r.below(1000)),
        2 => format!("user ann (id {}) sent {inner} to the gateway", r.below(1000)),
        _ => format!("failed: {inner}"),
    }
}

fn sanitizer(personal: bool) -> Sanitizer {
    let scrub = ScrubConfig { personal_data: personal, ..ScrubConfig::default() };
    Sanitizer::new(&scrub, &LimitsConfig::default()).unwrap()
}

#[test]
fn positives_are_masked_and_negatives_untouched() {
    let mut r = Rng(0x7e1e_3a2c_5eed_0001);
    let mut s = sanitizer(false);
    let (mut positives, mut masked) = (0, 0);
    let mut missed = Vec::new();
    for i in 0..12_000 {
        let (secret, inner) = positive(&mut r, i % 12);
        let text = embed(&mut r, &inner);
        let out = s.clean(None, &text, usize::MAX);
        positives += 1;
        if out.contains(&secret) || !out.contains("[REDACTED]") {
            missed.push(text);
        } else {
            masked += 1;
        }
    }
    let mut p = sanitizer(true);
    let (mut personal_total, mut personal_masked) = (0, 0);
    for i in 0..3_000 {
        let inner = personal(&mut r, i % 3);
        let text = embed(&mut r, &inner);
        personal_total += 1;
        if s.clean(None, &text, usize::MAX) != text {
            missed.push(format!("personal data masked with personal_data off: {text}"));
        }
        if p.clean(None, &text, usize::MAX).contains(&inner) {
            missed.push(format!("personal data with personal_data on: {text}"));
        } else {
            personal_masked += 1;
        }
    }
    let (mut negatives, mut untouched) = (0, 0);
    let mut changed = Vec::new();
    for i in 0..12_000 {
        let inner = negative(&mut r, i % 12);
        let text = embed(&mut r, &inner);
        negatives += 1;
        let a = s.clean(None, &text, usize::MAX);
        let b = p.clean(None, &text, usize::MAX);
        if a == text && b == text {
            untouched += 1;
        } else {
            changed.push(format!("{text} -> {a} / {b}"));
        }
    }
    eprintln!(
        "scrub corpus: {masked}/{positives} secrets masked; {personal_masked}/{personal_total} personal data \
         masked with personal_data on (0 with it off); {untouched}/{negatives} look-alikes untouched"
    );
    assert!(missed.is_empty(), "{} missed, e.g. {:?}", missed.len(), &missed[..missed.len().min(5)]);
    assert!(
        changed.is_empty(),
        "{} false positives, e.g. {:?}",
        changed.len(),
        &changed[..changed.len().min(5)]
    );
    assert!(positives >= 10_000 && negatives >= 10_000);
}
