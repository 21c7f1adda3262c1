//! The `console` channel: one readable block per notification on stderr.

use crate::notify::{AlertHandler, Notification};
use std::io::Write;

/// Prints each notification to stderr as a block (see [`Notification::render`]), prefixed with
/// `telemark alert`.
#[derive(Debug, Default)]
pub struct ConsoleChannel {
    _private: (),
}

impl ConsoleChannel {
    /// The console channel.
    pub fn new() -> ConsoleChannel {
        ConsoleChannel { _private: () }
    }

    /// The block it prints for `n`.
    pub fn format(n: &Notification) -> String {
        let mut s = String::from("telemark alert ");
        s.push_str(&n.render());
        s
    }
}

impl AlertHandler for ConsoleChannel {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let block = ConsoleChannel::format(n);
        let mut err = std::io::stderr().lock();
        err.write_all(block.as_bytes()).map_err(|e| format!("writing to stderr: {e}"))?;
        let _ = err.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Alert, AlertState};
    use crate::Severity;
    use std::collections::BTreeMap;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn one_block_per_notification() {
        let a = Alert {
            name: "checkout_p99_latency".into(),
            function: "shop::checkout".into(),
            severity: Severity::Warning,
            labels: BTreeMap::from([
                ("alertname".into(), "checkout_p99_latency".into()),
                ("function".into(), "shop::checkout".into()),
                ("severity".into(), "warning".into()),
            ]),
            annotations: BTreeMap::from([("summary".into(), "p99 is 312ms (> 200ms)".into())]),
            state: AlertState::Firing,
            metric: crate::Metric::Latency(crate::Quantile::P99),
            value: 0.312,
            starts_at: UNIX_EPOCH + Duration::from_secs(1_795_535_492),
            ends_at: None,
            channels: vec!["console".into()],
        };
        let n = Notification::new("console", "checkout_p99_latency", vec![a]);
        let s = ConsoleChannel::format(&n);
        assert_eq!(
            s,
            "telemark alert [FIRING:1] checkout_p99_latency (warning)\n\
             - firing checkout_p99_latency on shop::checkout  value=312ms  since 2026-11-24T15:51:32.000Z\n    \
             summary: p99 is 312ms (> 200ms)\n    labels: severity=warning\n"
        );
        assert_eq!(ConsoleChannel::new().notify(&n), Ok(()));
    }
}
