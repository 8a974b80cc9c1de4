//! dmd's HDFS client: the few file operations the lifecycle needs (folders for `hdfs.json`,
//! Oozie components staged, YARN staging folders cleaned), over hdfs-native's native RPC.
//!
//! Lifecycle operations run on plain worker threads and are synchronous; hdfs-native is async.
//! [`Hdfs`] owns a small runtime and runs each call on it, waiting on a channel, so it can be
//! called from any thread, even one inside another runtime (start-up recovery).

use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// How to reach HDFS (`[hdfs]` in dmd's configuration).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HdfsConfig {
    /// The NameNode, e.g. `hdfs://namenode:8020`. HDFS features are off when unset.
    pub namenode: Option<String>,
    /// The NameNode's web address, e.g. `http://namenode:9870`, for the health probe's DataNode
    /// and capacity figures (JMX).
    pub namenode_http: Option<String>,
    /// The HDFS user dmd acts as (simple authentication); the OS user running dmd when unset.
    pub user: Option<String>,
}

/// Every call gives up after this long: a NameNode that does not answer must not hold a
/// lifecycle operation (and its application's lock) for ever.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Hdfs {
    client: Client,
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl Hdfs {
    /// `None` when no NameNode is configured.
    pub fn from_config(config: &HdfsConfig) -> Result<Option<Hdfs>, String> {
        let Some(url) = &config.namenode else {
            return Ok(None);
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dm-hdfs")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HDFS client's runtime: {e}"))?;
        let mut builder = ClientBuilder::new()
            .with_url(url.as_str())
            .with_io_runtime(runtime.handle().clone())
            // hdfs-native retries a dead NameNode for minutes by default; fail fast and say so.
            .with_config([("dfs.client.failover.max.attempts", "1")]);
        if let Some(user) = &config.user {
            builder = builder.with_user(user.as_str());
        }
        let client = builder
            .build()
            .map_err(|e| format!("[hdfs] namenode {url}: {e}"))?;
        Ok(Some(Hdfs {
            client,
            url: url.trim_end_matches('/').to_string(),
            runtime,
        }))
    }

    fn run<T: Send + 'static>(
        &self,
        what: String,
        call: impl Future<Output = Result<T, HdfsError>> + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(tokio::time::timeout(CALL_TIMEOUT, call).await);
        });
        match rx.recv() {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(format!("HDFS {}: {what}: {e}", self.url)),
            Ok(Err(_)) => Err(format!(
                "HDFS {}: {what}: no answer within {} s",
                self.url,
                CALL_TIMEOUT.as_secs()
            )),
            Err(_) => Err(format!("HDFS {}: {what}: the client stopped", self.url)),
        }
    }

    pub fn mkdirs(&self, path: &str) -> Result<(), String> {
        let (client, p) = (self.client.clone(), path.to_string());
        self.run(format!("cannot create {path}"), async move {
            client.mkdirs(&p, 0o755, true).await
        })
    }

    /// The names of the entries of folder `path` (none when it does not exist).
    pub fn list(&self, path: &str) -> Result<Vec<String>, String> {
        let (client, p) = (self.client.clone(), path.to_string());
        self.run(format!("cannot list {path}"), async move {
            match client.list_status(&p, false).await {
                Ok(entries) => Ok(entries
                    .into_iter()
                    .map(|e| e.path.rsplit('/').next().unwrap_or_default().to_string())
                    .collect()),
                Err(HdfsError::FileNotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
    }

    /// Whether `path` exists.
    pub fn exists(&self, path: &str) -> Result<bool, String> {
        let (client, p) = (self.client.clone(), path.to_string());
        self.run(format!("cannot look up {path}"), async move {
            match client.get_file_info(&p).await {
                Ok(_) => Ok(true),
                Err(HdfsError::FileNotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// Removes `path` (with everything under it when `recursive`); a missing path is fine.
    /// Returns whether something was removed.
    pub fn remove(&self, path: &str, recursive: bool) -> Result<bool, String> {
        let (client, p) = (self.client.clone(), path.to_string());
        self.run(format!("cannot remove {path}"), async move {
            match client.delete(&p, recursive).await {
                Ok(removed) => Ok(removed),
                Err(HdfsError::FileNotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// Removes the folder `path` if it is empty; a missing or non-empty one is left as it is.
    pub fn remove_if_empty(&self, path: &str) -> Result<(), String> {
        let (client, p) = (self.client.clone(), path.to_string());
        self.run(format!("cannot remove {path}"), async move {
            match client.list_status(&p, false).await {
                Ok(entries) if entries.is_empty() => client.delete(&p, false).await.map(drop),
                Ok(_) | Err(HdfsError::FileNotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    /// Writes `bytes` to `path`, replacing what was there.
    pub fn write(&self, path: &str, bytes: Vec<u8>) -> Result<(), String> {
        let (client, p) = (self.client.clone(), path.to_string());
        self.run(format!("cannot write {path}"), async move {
            // hdfs-native's `overwrite` fails on a missing file: remove first instead.
            match client.delete(&p, false).await {
                Ok(_) | Err(HdfsError::FileNotFound(_)) => {}
                Err(e) => return Err(e),
            }
            let options = WriteOptions::default().permission(0o644);
            let mut writer = client.create(&p, options).await?;
            writer.write_bytes(bytes.into()).await?;
            writer.close().await
        })
    }

    /// Copies the local folder `from` to `to` on HDFS, replacing whatever `to` held, leaving out
    /// files and folders whose name is in `skip` at any depth. Returns the files copied
    /// (relative, `/`-separated).
    pub fn upload_dir(
        &self,
        from: &Path,
        to: &str,
        skip: &[String],
    ) -> Result<Vec<String>, String> {
        self.remove(to, true)?;
        self.mkdirs(to)?;
        let mut copied = Vec::new();
        let mut pending = vec![(from.to_path_buf(), to.trim_end_matches('/').to_string())];
        while let Some((local, remote)) = pending.pop() {
            let entries = std::fs::read_dir(&local)
                .map_err(|e| format!("cannot list {}: {e}", local.display()))?;
            for entry in entries {
                let entry = entry.map_err(|e| format!("cannot list {}: {e}", local.display()))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if skip.contains(&name) {
                    continue;
                }
                let kind = entry
                    .file_type()
                    .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
                let target = format!("{remote}/{name}");
                if kind.is_dir() {
                    self.mkdirs(&target)?;
                    pending.push((entry.path(), target));
                } else if kind.is_file() {
                    let bytes = std::fs::read(entry.path())
                        .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
                    self.write(&target, bytes)?;
                    copied.push(target[to.trim_end_matches('/').len() + 1..].to_string());
                }
            }
        }
        copied.sort();
        Ok(copied)
    }
}
