//! `[status]` in dmd's configuration: how often the observer runs and how long it waits.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    /// Seconds between observation cycles.
    pub interval_secs: f64,
    /// Each call to the RM, Flink, Spark or the supervisor gives up after this long.
    pub timeout_ms: u64,
    /// Engine and supervisor calls of one cycle run this many at a time.
    pub concurrency: usize,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            interval_secs: 5.0,
            timeout_ms: 3000,
            concurrency: 4,
        }
    }
}

impl StatusConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // Also refuses NaN.
        if self.interval_secs.is_nan() || self.interval_secs < 0.1 {
            problems.push("status.interval_secs must be at least 0.1".into());
        }
        if self.concurrency == 0 {
            problems.push("status.concurrency must be at least 1".into());
        }
        if self.timeout_ms == 0 {
            problems.push("status.timeout_ms must be at least 1".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_values_are_named() {
        assert!(StatusConfig::default().problems().is_empty());
        let bad = StatusConfig {
            interval_secs: f64::NAN,
            timeout_ms: 0,
            concurrency: 0,
        };
        assert_eq!(
            bad.problems(),
            [
                "status.interval_secs must be at least 0.1",
                "status.concurrency must be at least 1",
                "status.timeout_ms must be at least 1",
            ]
        );
    }
}
