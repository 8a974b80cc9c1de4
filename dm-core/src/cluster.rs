//! Where the cluster's services answer (`[cluster]`), for the status observer and the health
//! probes; their calls go through `dm_clients`.

use serde::Deserialize;
use std::time::{SystemTime, UNIX_EPOCH};

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
