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
