//! Levels and level directives (`info,my_crate::db=debug`), the same grammar as `RUST_LOG`.

use std::fmt;
use std::str::FromStr;

/// The verbosity of a span or log record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Very fine-grained detail.
    Trace = 0,
    /// Diagnostic detail.
    Debug = 1,
    /// The default for `#[traced]` spans.
    Info = 2,
    /// Something unexpected that the program handled.
    Warn = 3,
    /// A failure.
    Error = 4,
}

impl Level {
    /// The lowercase name (`"info"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
    /// The upper-case name used as OTLP severity text (`"INFO"`).
    pub fn severity_text(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
    /// The OpenTelemetry severity number (TRACE=1, DEBUG=5, INFO=9, WARN=13, ERROR=17).
    pub fn severity_number(self) -> i32 {
        match self {
            Level::Trace => 1,
            Level::Debug => 5,
            Level::Info => 9,
            Level::Warn => 13,
            Level::Error => 17,
        }
    }
    pub(crate) fn from_tracing(l: &tracing::Level) -> Level {
        match *l {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::ERROR => Level::Error,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Ok(Level::Trace),
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" | "warning" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            other => Err(format!(
                "unknown level `{other}`, expected one of `trace`, `debug`, `info`, `warn`, `error`, `off`"
            )),
        }
    }
}

/// Level directives: a default and per-target overrides; the longest matching target prefix wins.
///
/// `"info,hyper=warn,my_app::db=debug,noisy=off"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Directives {
    default: Option<Level>,
    targets: Vec<(String, Option<Level>)>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { default: Some(Level::Info), targets: Vec::new() }
    }
}

fn parse_level(s: &str) -> Result<Option<Level>, String> {
    if s.trim().eq_ignore_ascii_case("off") {
        Ok(None)
    } else {
        s.parse().map(Some)
    }
}

impl FromStr for Directives {
    type Err = String;
    fn from_str(s: &str) -> Result<Directives, String> {
        let mut out = Directives { default: Some(Level::Info), targets: Vec::new() };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((target, level)) => {
                    let target = target.trim();
                    if target.is_empty() || target.contains(char::is_whitespace) {
                        return Err(format!("invalid target `{target}` in directive `{part}`"));
                    }
                    out.targets.push((target.to_string(), parse_level(level)?));
                }
                None => out.default = parse_level(part)?,
            }
        }
        // Longest prefix first, so the first match is the most specific.
        out.targets.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        Ok(out)
    }
}

impl Directives {
    /// Whether something at `level` from `target` (a module path) passes.
    pub fn enabled(&self, target: &str, level: Level) -> bool {
        for (prefix, max) in &self.targets {
            if target_matches(target, prefix) {
                return max.is_some_and(|m| level >= m);
            }
        }
        self.default.is_some_and(|m| level >= m)
    }

    /// The most verbose level any directive lets through (for a quick global check).
    pub fn most_verbose(&self) -> Option<Level> {
        self.targets.iter().map(|t| t.1).chain([self.default]).flatten().min()
    }
}

fn target_matches(target: &str, prefix: &str) -> bool {
    target == prefix || (target.starts_with(prefix) && target[prefix.len()..].starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        let d: Directives = "warn,app=debug,app::noisy=off,hyper=error".parse().unwrap();
        assert!(d.enabled("app", Level::Debug));
        assert!(d.enabled("app::db", Level::Debug));
        assert!(!d.enabled("app::db", Level::Trace));
        assert!(!d.enabled("app::noisy", Level::Error));
        assert!(!d.enabled("application", Level::Info));
        assert!(d.enabled("other", Level::Warn));
        assert!(!d.enabled("hyper::client", Level::Warn));
        assert_eq!(d.most_verbose(), Some(Level::Debug));
        assert!("info,=debug".parse::<Directives>().is_err());
        assert!("loud".parse::<Directives>().is_err());
    }
}
