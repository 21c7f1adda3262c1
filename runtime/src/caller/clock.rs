//! Timestamps: the TSC through `minstant` on the caller's thread (a few ns), converted to Unix time
//! on telemark's thread.

use std::sync::RwLock;

static ANCHOR: RwLock<Option<minstant::Anchor>> = RwLock::new(None);

/// Re-reads the wall clock against the TSC (at `init`).
pub(crate) fn reanchor() {
    if let Ok(mut a) = ANCHOR.write() {
        *a = Some(minstant::Anchor::new());
    }
}

/// The current anchor (read once per collector pass, then used for every record).
pub(crate) fn anchor() -> minstant::Anchor {
    if let Some(a) = ANCHOR.read().ok().and_then(|a| *a) {
        return a;
    }
    let anchor = minstant::Anchor::new();
    if let Ok(mut a) = ANCHOR.write() {
        return *a.get_or_insert(anchor);
    }
    anchor
}

/// Converts a `minstant` reading to nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos(at: minstant::Instant) -> u64 {
    let read = ANCHOR.read().ok().and_then(|a| a.as_ref().map(|a| at.as_unix_nanos(a)));
    match read {
        Some(n) => n,
        None => {
            let anchor = minstant::Anchor::new();
            let n = at.as_unix_nanos(&anchor);
            if let Ok(mut a) = ANCHOR.write() {
                a.get_or_insert(anchor);
            }
            n
        }
    }
}

/// The current time in nanoseconds since the Unix epoch.
pub(crate) fn now_unix_nanos() -> u64 {
    unix_nanos(minstant::Instant::now())
}

/// (year, month, day, hour, minute, second) in UTC of Unix seconds (Howard Hinnant's
/// civil-from-days).
pub fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, (rem / 60) % 60, rem % 60)
}
