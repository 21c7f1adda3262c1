//! Durations: the one grammar of every duration telemark reads — the config's (`export.*`,
//! `exporters.otlp.timeout`, `metrics.export_interval`, `exceptions.rate_window`, `alerts.*`) and
//! `#[alert_on(window = "..", for = "..")]` — documented on [`parse_duration`]; and
//! [`format_duration`], its inverse.

use std::time::Duration;

/// The longest duration: `106751d` (about 292 years), the whole days Prometheus (a Go
/// `time.Duration`, nanoseconds in an `i64`) can hold.
pub const MAX_DURATION: Duration = Duration::from_secs(106_751 * 86_400);

const NANOS_PER_MICRO: u128 = 1_000;
const MAX_NANOS: u128 = 106_751 * 86_400 * 1_000_000_000;

/// The units and their length in nanoseconds.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    })
}

const UNITS_LIST: &str = "`us`, `ms`, `s`, `m`, `h` and `d`";

/// Parses a duration: `500ms`, `1.5s`, `1h30m`.
///
/// A duration is one or more terms `<number><unit>`, added up, with nothing between them: the
/// number is digits with an optional fractional part (`5`, `1.5`, `0.25`); the unit is `us` (or
/// `µs`), `ms`, `s`, `m`, `h` or `d`, right after the number. Whitespace around the whole is
/// allowed. Numbers are decimal and exact (`1.1s` is 1100 ms).
///
/// Rejected, with a message that says what would be right: an empty text, a number without a
/// unit (`300`), an unknown unit (`5sec`, `2w`), a space inside (`5 m`, `1h 30m`), a sign
/// (`-5s`, `+5s`), a point without digits on both sides (`.5s`, `5.s`), an exponent (`1e3s`),
/// anything finer than a microsecond (`1.5us`) and anything longer than [`MAX_DURATION`]
/// (`106751d`). Zero (`0s`) is a duration: whether a setting may be zero is the setting's
/// business. No input makes it panic.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(
            "a duration cannot be empty: write a number with a unit, like `30s`, `1.5s` or `1h30m`".into()
        );
    }
    let malformed = || {
        format!(
            "malformed duration `{s}`: expected numbers with units `us`, `ms`, `s`, `m`, `h` or `d`, like \
             `500ms`, `1.5s` or `1h30m`"
        )
    };
    if s.starts_with('-') {
        return Err(format!("malformed duration `{s}`: a duration cannot be negative"));
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let int_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if int_end == 0 {
            if rest.starts_with(char::is_whitespace) {
                let joined: String = s.split_whitespace().collect();
                return Err(format!(
                    "malformed duration `{s}`: write the terms without spaces between them, like `{joined}`"
                ));
            }
            if rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!(
                    "malformed duration `{s}`: write a digit before the point, like `0{rest}`"
                ));
            }
            return Err(malformed());
        }
        let (int, tail) = rest.split_at(int_end);
        let (frac, tail) = match tail.strip_prefix('.') {
            Some(after) => {
                let end = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
                if end == 0 {
                    return Err(format!(
                        "malformed duration `{s}`: a number needs digits after the point, like `{int}.5s`, \
                         or none, like `{int}s`"
                    ));
                }
                after.split_at(end)
            }
            None => ("", tail),
        };
        let number = &rest[..int.len() + if frac.is_empty() { 0 } else { frac.len() + 1 }];
        let unit_end = tail.find(|c: char| !c.is_alphabetic()).unwrap_or(tail.len());
        let (unit, after) = tail.split_at(unit_end);
        let Some(nanos) = unit_nanos(unit) else {
            return Err(bad_unit(s, number, unit, after, malformed));
        };
        let term = term_nanos(int, frac, nanos).map_err(|e| match e {
            TermError::TooLong => too_long(s),
            TermError::TooFine => too_fine(s),
        })?;
        total = total.checked_add(term).filter(|t| *t <= MAX_NANOS).ok_or_else(|| too_long(s))?;
        rest = after;
    }
    if total % NANOS_PER_MICRO != 0 {
        return Err(too_fine(s));
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_long(s))?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| too_long(s))?;
    Ok(Duration::new(secs, nanos))
}

enum TermError {
    TooLong,
    TooFine,
}

/// `int.frac` units of `unit` nanoseconds each, exactly.
fn term_nanos(int: &str, frac: &str, unit: u128) -> Result<u128, TermError> {
    let whole: u128 = int.parse().map_err(|_| TermError::TooLong)?;
    let whole = whole.checked_mul(unit).ok_or(TermError::TooLong)?;
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        return Ok(whole);
    }
    // A fraction of more digits than a u128 holds is finer than a nanosecond of any unit (the
    // longest unit, a day, has 14 digits of nanoseconds); so is one whose product overflows.
    let digits = u32::try_from(frac.len()).map_err(|_| TermError::TooFine)?;
    let scale = 10u128.checked_pow(digits).ok_or(TermError::TooFine)?;
    let numerator: u128 = frac.parse().map_err(|_| TermError::TooFine)?;
    let scaled = numerator.checked_mul(unit).ok_or(TermError::TooFine)?;
    if scaled % scale != 0 {
        return Err(TermError::TooFine);
    }
    whole.checked_add(scaled / scale).ok_or(TermError::TooLong)
}

fn too_long(s: &str) -> String {
    format!(
        "duration `{s}` is too long: the longest is `106751d` (about 292 years, the longest duration \
         Prometheus can hold)"
    )
}

fn too_fine(s: &str) -> String {
    format!("duration `{s}` is finer than a microsecond, the smallest unit (`us`): round it to whole microseconds")
}

/// The message for a term whose unit is missing or unknown.
fn bad_unit(s: &str, number: &str, unit: &str, after: &str, malformed: impl Fn() -> String) -> String {
    if unit.is_empty() {
        let next = after.trim_start();
        if after.is_empty() {
            return format!(
                "malformed duration `{s}`: `{number}` needs a unit, like `{number}s` or `{number}m` (the units \
                 are {UNITS_LIST})"
            );
        }
        if after.starts_with(char::is_whitespace) {
            let word = next.split(|c: char| !c.is_alphabetic()).next().unwrap_or("");
            let hint = match unit_nanos(word).map(|_| word).or_else(|| unit_hint(word)) {
                Some(u) => format!("; did you mean `{number}{u}`?"),
                None => String::new(),
            };
            return format!(
                "malformed duration `{s}`: write the unit right after the number, like `{number}s` or \
                 `{number}m` (the units are {UNITS_LIST}){hint}"
            );
        }
        return malformed();
    }
    let hint = match unit {
        "w" | "wk" | "wks" | "week" | "weeks" => {
            match number.parse::<u128>().ok().and_then(|n| n.checked_mul(7)) {
                Some(days) => format!("; write weeks as days, like `{days}d`"),
                None => "; write weeks as days (`1w` is `7d`)".to_string(),
            }
        }
        "y" | "yr" | "yrs" | "year" | "years" => "; write years as days (`1y` is `365d`)".to_string(),
        "ns" | "nanos" | "nsec" | "nanosecond" | "nanoseconds" => "; the smallest unit is `us`".to_string(),
        "M" => "; `m` is minutes, and months are written as days (`30d`)".to_string(),
        other => {
            let lower = other.to_lowercase();
            match unit_hint(other)
                .or_else(|| unit_hint(&lower))
                .or_else(|| UNIT_NAMES.iter().copied().find(|u| *u == lower))
            {
                Some(u) => format!("; did you mean `{number}{u}`?"),
                None => String::new(),
            }
        }
    };
    format!(
        "malformed duration `{s}`: unknown unit `{unit}`, expected `us`, `ms`, `s`, `m`, `h` or `d`{hint}"
    )
}

const UNIT_NAMES: &[&str] = &["us", "ms", "s", "m", "h", "d"];

/// The unit a word for a duration means.
fn unit_hint(word: &str) -> Option<&'static str> {
    Some(match word {
        "usec" | "usecs" | "micros" | "microsecond" | "microseconds" => "us",
        "millis" | "msec" | "msecs" | "millisecond" | "milliseconds" => "ms",
        "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minute" | "minutes" => "m",
        "hr" | "hrs" | "hour" | "hours" => "h",
        "day" | "days" => "d",
        _ => return None,
    })
}

/// A duration as the grammar writes it: whole numbers of `h`, `m`, `s`, `ms` and `us`, largest
/// first, each at most once, zeros left out (`250ms`, `1s500ms`, `1h30m`, `0s`). It parses back
/// to the same duration for anything [`parse_duration`] accepts (anything finer than a
/// microsecond is dropped), and for a whole number of milliseconds — which every alert rule's
/// window and `for` are — it is also a Prometheus duration (no fractions, no `us`).
pub fn format_duration(d: Duration) -> String {
    let mut micros = d.as_micros();
    let mut out = String::new();
    for (unit, len) in
        [("h", 3_600_000_000u128), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000), ("us", 1)]
    {
        let n = micros / len;
        micros %= len;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Checks that a rule's `window` or `for` (`option`) is a whole number of milliseconds, the
/// finest Prometheus (where the rule is exported) measures; `1.5s` is, `1500us` is too.
pub fn check_rule_duration(option: &str, d: Duration) -> Result<(), String> {
    if d.subsec_nanos() % 1_000_000 == 0 {
        return Ok(());
    }
    let down = Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let up = down.saturating_add(Duration::from_millis(1));
    let what = if option == "window" { "the window".to_string() } else { format!("`{option}`") };
    let choices = if down.is_zero() {
        format!("`{}`", format_duration(up))
    } else {
        format!("`{}` or `{}`", format_duration(down), format_duration(up))
    };
    Err(format!(
        "{what} ({}) is not a whole number of milliseconds: Prometheus, where the rule is exported, has no \
         finer unit; write {choices}",
        format_duration(d)
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::{check_rule_duration, format_duration, parse_duration};
    use crate::grammar::check_window;
    use std::time::Duration;

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
    }

    fn err(text: &str) -> String {
        match parse_duration(text) {
            Ok(d) => panic!("`{text}` should be an error, parsed as {d:?}"),
            Err(e) => e,
        }
    }

    fn assert_err(text: &str, parts: &[&str]) {
        let e = err(text);
        for p in parts {
            assert!(e.contains(p), "`{text}`: `{p}` not in: {e}");
        }
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn every_unit() {
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("250µs"), Duration::from_micros(250));
        assert_eq!(ok("250ms"), MS(250));
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("1d"), Duration::from_secs(86_400));
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("0ms"), Duration::ZERO);
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(ok("1.5s"), MS(1500));
        assert_eq!(ok("0.5m"), Duration::from_secs(30));
        assert_eq!(ok("1.25h"), Duration::from_secs(4500));
        assert_eq!(ok("0.001s"), MS(1));
        assert_eq!(ok("1.5ms"), Duration::from_micros(1500));
        // Decimal, not binary floating point: 1.1 s is 1100 ms exactly.
        assert_eq!(ok("1.1s"), MS(1100));
        assert_eq!(ok("0.3s"), MS(300));
        assert_eq!(ok("2.000s"), MS(2000));
        assert_eq!(ok("0.000001s"), Duration::from_micros(1));
        assert_eq!(ok("1.000000000000000000000000000000000000000000s"), Duration::from_secs(1));
    }

    #[test]
    fn compound_terms_add_up() {
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1s500ms"), MS(1500));
        assert_eq!(ok("1d12h"), Duration::from_secs(129_600));
        assert_eq!(ok("1m30.5s"), MS(90_500));
        assert_eq!(ok("1.5h30m"), Duration::from_secs(7200));
        assert_eq!(ok("1ms500us"), Duration::from_micros(1500));
    }

    #[test]
    fn whitespace_around_is_allowed() {
        assert_eq!(ok(" 5m\t"), Duration::from_secs(300));
        assert_eq!(ok("\n1h30m "), Duration::from_secs(5400));
    }

    #[test]
    fn mistakes_say_what_would_be_right() {
        assert_err("", &["cannot be empty", "like `30s`"]);
        assert_err("   ", &["cannot be empty"]);
        assert_err("300", &["malformed duration `300`", "`300` needs a unit, like `300s` or `300m`"]);
        assert_err("1.5", &["`1.5` needs a unit, like `1.5s`"]);
        assert_err("1h30", &["`30` needs a unit"]);
        assert_err("5 minutes", &["write the unit right after the number", "did you mean `5m`?"]);
        assert_err("10 parsecs", &["write the unit right after the number"]);
        assert_err("10parsecs", &["unknown unit `parsecs`", "`us`, `ms`, `s`, `m`, `h` or `d`"]);
        assert_err("5sec", &["unknown unit `sec`", "did you mean `5s`?"]);
        assert_err("2micros", &["did you mean `2us`?"]);
        assert_err("3w", &["write weeks as days, like `21d`"]);
        assert_err("5ns", &["unknown unit `ns`", "the smallest unit is `us`"]);
        assert_err("-5s", &["cannot be negative"]);
        assert_err(".5s", &["like `0.5s`"]);
        assert_err("5.s", &["digits after the point"]);
        assert_err("1h 30m", &["without spaces", "`1h30m`"]);
        assert_err("s", &["malformed duration `s`"]);
        assert_err("5m!", &["malformed duration `5m!`"]);
        assert_err("+5s", &["malformed duration `+5s`"]);
        assert_err("1,5s", &["malformed duration `1,5s`"]);
    }

    #[test]
    fn finer_than_a_microsecond_is_rejected() {
        assert_err("1.5us", &["finer than a microsecond"]);
        assert_err("0.0000001s", &["finer than a microsecond"]);
    }

    #[test]
    fn the_longest_duration_is_that_of_prometheus() {
        assert_eq!(ok("106751d"), Duration::from_secs(106_751 * 86_400));
        assert_err("106752d", &["too long", "`106751d`"]);
        assert_err("106751d1s", &["too long"]);
        assert_err("18446744073709551616s", &["too long"]);
        assert_err(&format!("{}h", "9".repeat(100)), &["too long"]);
    }

    #[test]
    fn never_panics() {
        let long_fraction = format!("0.{}1s", "0".repeat(200));
        let long_number = format!("{}.{}s", "9".repeat(60), "9".repeat(60));
        for text in [
            "1.",
            "..",
            "1..5s",
            "µ",
            "5µ",
            "5µx",
            "é5s",
            "5sé",
            "ms",
            "0.",
            "-",
            "--5s",
            "1e3s",
            "NaNs",
            "infs",
            "5\u{0}s",
            long_fraction.as_str(),
            long_number.as_str(),
        ] {
            let _ = parse_duration(text);
        }
    }

    #[test]
    fn format_renders_what_parses_back() {
        for d in [
            Duration::ZERO,
            Duration::from_micros(1),
            Duration::from_micros(999),
            MS(1),
            Duration::from_micros(1500),
            MS(250),
            MS(1000),
            MS(1500),
            MS(90_000),
            MS(90_500),
            Duration::from_secs(300),
            Duration::from_secs(5400),
            Duration::from_millis(3_600_500),
            Duration::from_secs(86_400),
            Duration::from_secs(172_800) + Duration::from_micros(1),
            Duration::from_secs(106_751 * 86_400),
        ] {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{d:?} rendered as `{text}`");
        }
        for text in ["1.5s", "1h30m", "0.25ms", "90s", "1d", "1m30.25s", "7.5us"] {
            if let Ok(d) = parse_duration(text) {
                assert_eq!(parse_duration(&format_duration(d)), Ok(d), "`{text}`");
            }
        }
    }

    /// Prometheus' durations: whole numbers of `d`, `h`, `m`, `s`, `ms`, largest first, each at most
    /// once (no fractions).
    fn is_prometheus_duration(text: &str) -> bool {
        let mut rest = text;
        let mut last = usize::MAX;
        let units = ["y", "w", "d", "h", "m", "s", "ms"];
        if rest.is_empty() {
            return false;
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits == 0 {
                return false;
            }
            let tail = &rest[digits..];
            let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
            let Some(i) = units.iter().position(|u| *u == &tail[..unit_len]) else {
                return false;
            };
            if last != usize::MAX && i <= last {
                return false;
            }
            last = i;
            rest = &tail[unit_len..];
        }
        true
    }

    #[test]
    fn whole_milliseconds_render_as_prometheus_durations() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (MS(250), "250ms"),
            (MS(1500), "1s500ms"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(14_400), "4h"),
            (MS(3_600_500), "1h500ms"),
        ] {
            assert_eq!(format_duration(d), text);
            assert!(is_prometheus_duration(text), "{text}");
        }
        for ms in [1, 999, 1000, 1001, 59_999, 60_000, 3_599_999, 86_400_000, 123_456_789] {
            let text = format_duration(MS(ms));
            assert!(is_prometheus_duration(&text), "{ms} ms rendered as `{text}`");
        }
        assert_eq!(format_duration(Duration::from_micros(1500)), "1ms500us");
    }

    #[test]
    fn rule_durations_are_whole_milliseconds() {
        assert_eq!(check_rule_duration("window", MS(1500)), Ok(()));
        assert_eq!(check_rule_duration("for", Duration::ZERO), Ok(()));
        let e = check_rule_duration("window", Duration::from_micros(1500)).unwrap_err();
        assert!(e.starts_with("the window (1ms500us) is not a whole number of milliseconds"), "{e}");
        assert!(e.ends_with("write `1ms` or `2ms`"), "{e}");
        let e = check_rule_duration("for", Duration::from_micros(500)).unwrap_err();
        assert!(e.starts_with("`for` (500us)"), "{e}");
        assert!(e.ends_with("write `1ms`"), "{e}");
    }

    #[test]
    fn alert_windows_are_checked_on_top_of_the_grammar() {
        assert!(check_window(Duration::ZERO, Duration::ZERO).unwrap_err().contains("cannot be zero"));
        assert!(check_window(MS(1500), Duration::from_secs(15)).is_ok());
        assert!(check_window(MS(1500), MS(15_001)).unwrap_err().contains("longer than 10 × the window"));
        let e = check_window(Duration::from_micros(1500), Duration::ZERO).unwrap_err();
        assert!(e.contains("whole number of milliseconds"), "{e}");
        let e = check_window(Duration::from_secs(60), Duration::from_micros(2500)).unwrap_err();
        assert!(e.contains("`for`") && e.contains("whole number of milliseconds"), "{e}");
    }
}
