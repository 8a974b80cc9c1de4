//! `oozie` components: how to reach Oozie (`[oozie]`), running a plan's Oozie job
//! ([`runner`]) and PNDA's summary of it ([`summary`]). Oozie's REST API itself is
//! `dm_clients::oozie`.

pub mod runner;
pub mod summary;

use dm_clients::oozie::Oozie;
use std::time::Duration;

/// How to reach Oozie (`[oozie]` in dmd's configuration).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OozieConfig {
    /// Oozie's base URL, e.g. `http://oozie:11000/oozie`. Oozie components cannot be created
    /// when unset.
    pub url: Option<String>,
}

impl OozieConfig {
    /// A client of the configured Oozie (5 s to connect, 60 s a call), if one is.
    pub fn client(&self) -> Option<Oozie> {
        let url = self.url.as_ref()?;
        Some(Oozie::with_timeouts(
            url,
            Duration::from_secs(5),
            Duration::from_secs(60),
        ))
    }
}
