//! Where the cluster's services answer (`[cluster]`), for the status observer and the health
//! probes, and the small HTTP client both use: every call bounded by a timeout, every failure
//! a sentence naming the URL.

use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `[cluster]`: the history servers. Its other keys named endpoints that have one key each
/// elsewhere now; they are read for one release, with a warning ([`crate::config`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Flink HistoryServers, one per installed Flink version (`http://host:8082`).
    pub flink_history_urls: Vec<String>,
    pub spark_history_url: Option<String>,
    /// Deprecated: `[yarn] rm_url`.
    pub rm_url: Option<String>,
    /// Deprecated: `[hdfs] namenode`.
    pub namenode_url: Option<String>,
    /// Deprecated: `[hdfs] namenode_http`.
    pub namenode_http_url: Option<String>,
    /// Deprecated: `[oozie] url`.
    pub oozie_url: Option<String>,
}

/// Every service endpoint dmd observes and probes, each from its one configuration key.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// The ResourceManager's web address (`[yarn] rm_url`).
    pub rm_url: Option<String>,
    /// The NameNode's RPC address (`[hdfs] namenode`), probed with hdfs-native.
    pub namenode_url: Option<String>,
    /// The NameNode's web address (`[hdfs] namenode_http`), for DataNode and capacity figures.
    pub namenode_http_url: Option<String>,
    pub flink_history_urls: Vec<String>,
    pub spark_history_url: Option<String>,
    /// Oozie's base URL (`[oozie] url`).
    pub oozie_url: Option<String>,
}

impl Endpoints {
    /// Each endpoint's problems, named by its configuration key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let http = [
            ("yarn.rm_url", self.rm_url.as_ref()),
            ("hdfs.namenode_http", self.namenode_http_url.as_ref()),
            ("cluster.spark_history_url", self.spark_history_url.as_ref()),
            ("oozie.url", self.oozie_url.as_ref()),
        ];
        let histories = self
            .flink_history_urls
            .iter()
            .map(|u| ("cluster.flink_history_urls", Some(u)));
        for (name, url) in http.into_iter().chain(histories) {
            if let Some(url) = url {
                if !url.starts_with("http://") {
                    problems.push(format!("{name} must be an http:// URL, not {url:?}"));
                }
            }
        }
        if let Some(url) = &self.namenode_url {
            if !url.starts_with("hdfs://") {
                problems.push(format!("hdfs.namenode must be an hdfs:// URL, not {url:?}"));
            }
        }
        problems
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why a GET gave no JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The service answered with this status code.
    Status(u16, String),
    /// Nothing usable came back (refused, timed out, not JSON).
    Unreachable(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Status(_, text) | Fault::Unreachable(text) => f.write_str(text),
        }
    }
}

#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    pub fn new(timeout: Duration) -> Http {
        Http {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(timeout)
                .timeout(timeout)
                .redirects(2)
                .build(),
        }
    }

    /// GETs `url` as JSON; the time it took comes back too (the health figures report it).
    pub fn get_json(&self, url: &str) -> Result<(Value, u64), Fault> {
        let started = Instant::now();
        let response = match self.agent.get(url).set("Accept", "application/json").call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let body = r.into_string().unwrap_or_default();
                return Err(Fault::Status(
                    code,
                    format!("GET {url}: HTTP {code} {}", first_line(&body)),
                ));
            }
            Err(e) => return Err(Fault::Unreachable(format!("GET {url}: {e}"))),
        };
        let value = response
            .into_json()
            .map_err(|e| Fault::Unreachable(format!("GET {url}: unreadable answer: {e}")))?;
        Ok((value, started.elapsed().as_millis() as u64))
    }

    /// GETs `url` as text (logs).
    pub fn get_text(&self, url: &str) -> Result<String, String> {
        self.agent
            .get(url)
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?
            .into_string()
            .map_err(|e| format!("GET {url}: {e}"))
    }

    pub fn post_json(&self, url: &str, body: &str) -> Result<(), String> {
        self.agent
            .post(url)
            .set("Content-Type", "application/json")
            .send_string(body)
            .map(|_| ())
            .map_err(|e| format!("POST {url}: {e}"))
    }
}

/// The first line of an error body, shortened: enough to name the problem in a cause.
fn first_line(body: &str) -> String {
    let line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.chars().take(200).collect()
}

/// `base` + `path` with exactly one `/` between them.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
