//! What scrubbing costs telemark's thread, per attribute: its sanitizing stage on a span's data as
//! the caller's side wrote it, scrubbing on and off, against the approach of the peer that scrubs
//! by default (logfire: one regular expression of secret-looking words, matched against every key
//! and value — here its default pattern compiled with the `regex` crate).
//!
//! `cargo bench -p telemark-benches --bench scrub`. The caller's thread does none of this: its
//! cost per span is measured by `benches/spans.rs`.

#![allow(clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use telemark_runtime::__bench::Sanitize;

/// Four attributes of an ordinary request span: nothing to mask.
const CLEAN: &[(&str, &str)] = &[
    ("http.route", "/api/v1/users/{id}/orders"),
    ("user", "User { id: 48213, name: \"ann\", plan: Pro, created: 2026-11-02T10:31:07Z }"),
    ("trace.note", "retrying after 250 ms (attempt 2 of 5) on 10.0.3.17:5432"),
    ("order.id", "9f1c2b7e-3d4a-4c5b-8e6f-0a1b2c3d4e5f"),
];

/// The same span where one attribute in four holds a secret (the data is rewritten).
const ONE_SECRET: &[(&str, &str)] = &[
    ("http.route", "/api/v1/users/{id}/orders"),
    ("user", "User { id: 48213, name: \"ann\", password: \"hunter2\", created: 2026-11-02T10:31:07Z }"),
    ("trace.note", "retrying after 250 ms (attempt 2 of 5) on 10.0.3.17:5432"),
    ("order.id", "9f1c2b7e-3d4a-4c5b-8e6f-0a1b2c3d4e5f"),
];

/// logfire's default scrubbing pattern (case-insensitive).
const LOGFIRE: &str = r"(?i)password|passwd|mysql_pwd|secret|auth(?!ors?\b)|credential|private[._ -]?key|api[._ -]?key|session|cookie|csrf|xsrf|jwt|ssn|social[._ -]?security|credit[._ -]?card";

/// logfire's `regex` crate has no look-ahead: the `auth(?!ors?\b)` part is `auth`.
fn logfire_regex() -> regex::Regex {
    regex::Regex::new(&LOGFIRE.replace(r"auth(?!ors?\b)", "auth")).expect("pattern")
}

/// The peer's approach: a key that matches masks its value; a value that matches is masked where
/// it matches.
fn logfire_scrub(re: &regex::Regex, attributes: &[(&str, &str)]) -> usize {
    let mut n = 0;
    for (k, v) in attributes {
        if re.is_match(k) {
            n += 1;
        } else {
            n += re.replace_all(v, "[Scrubbed]").len();
        }
    }
    n
}

fn scrub(c: &mut Criterion) {
    let mut g = c.benchmark_group("scrub per attribute");
    for (name, attrs) in [("clean", CLEAN), ("one secret in four", ONE_SECRET)] {
        g.throughput(Throughput::Elements(attrs.len() as u64));
        let record = Sanitize::record(attrs);
        for (label, scrub, personal) in [
            ("telemark, scrubbing off (limits only)", false, false),
            ("telemark, scrubbing on", true, false),
            ("telemark, scrubbing on + personal data", true, true),
        ] {
            let mut s = Sanitize::new(scrub, personal);
            g.bench_function(format!("{name}: {label}"), |b| {
                b.iter_batched_ref(|| record.clone(), |data| black_box(s.span(data)), BatchSize::SmallInput)
            });
        }
        let re = logfire_regex();
        g.bench_function(format!("{name}: logfire's default pattern (regex crate)"), |b| {
            b.iter(|| black_box(logfire_scrub(&re, black_box(attrs))))
        });
    }
    g.finish();
}

criterion_group!(benches, scrub);
criterion_main!(benches);
