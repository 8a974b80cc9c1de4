//! The artifact store on HDFS (hdfs-native's RPC): dmd's package repository with `[repository]
//! store = "hdfs"`. The same layout as a local store: `<root>/<key>` and `<root>/<key>.sha512`;
//! a put writes `<root>/.partial/<random>`, checks it, then renames it into place.

use crate::hash::hex;
use crate::store::{check_key, ArtifactStore, StoreError, Stored};
use bytes::Bytes;
use dm_clients::mirror::{parse_sha512_line, sha512_line};
use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};
use sha2::{Digest, Sha512};
use std::future::Future;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

/// Every call gives up after this long: a NameNode that does not answer must not hang a put.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A read asks HDFS for this much at a time.
const CHUNK: usize = 1024 * 1024;

pub struct HdfsStore {
    client: Client,
    root: String,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl HdfsStore {
    /// The store at `root` (an absolute HDFS path) on the NameNode `namenode`
    /// (`hdfs://host:8020`), acting as `user` when given.
    pub fn connect(namenode: &str, user: Option<&str>, root: &str) -> Result<HdfsStore, StoreError> {
        let fail = |message: String| StoreError::Other { key: root.to_string(), message };
        if !root.starts_with('/') {
            return Err(fail("the store's root must be an absolute HDFS path".into()));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dm-mirror-hdfs")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start the HDFS client's runtime: {e}")))?;
        let mut builder = ClientBuilder::new()
            .with_url(namenode)
            .with_io_runtime(runtime.handle().clone())
            // hdfs-native retries a dead NameNode for minutes by default; fail fast and say so.
            .with_config([("dfs.client.failover.max.attempts", "1")]);
        if let Some(user) = user {
            builder = builder.with_user(user);
        }
        let client = builder.build().map_err(|e| fail(format!("HDFS {namenode}: {e}")))?;
        let store = HdfsStore {
            client,
            root: root.trim_end_matches('/').to_string(),
            runtime: Arc::new(runtime),
        };
        let (c, r) = (store.client.clone(), store.root.clone());
        store.run(root, "cannot create the store's folder", async move { c.mkdirs(&r, 0o755, true).await })?;
        Ok(store)
    }

    fn path(&self, key: &str) -> String {
        format!("{}/{key}", self.root)
    }

    fn run<T: Send + 'static>(
        &self,
        key: &str,
        what: &str,
        call: impl Future<Output = Result<T, HdfsError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        run_on(&self.runtime, call).map_err(|e| StoreError::Other {
            key: key.to_string(),
            message: format!("HDFS: {what}: {e}"),
        })
    }

    /// Removes the whole store (its root folder): for tests and tear-down.
    pub fn destroy(self) -> Result<(), StoreError> {
        let (c, r) = (self.client.clone(), self.root.clone());
        self.run(&self.root, "cannot remove the store", async move {
            match c.delete(&r, true).await {
                Ok(_) | Err(HdfsError::FileNotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}

fn run_on<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    call: impl Future<Output = Result<T, HdfsError>> + Send + 'static,
) -> Result<T, String> {
    // Spawned and awaited through a channel: callable from any thread, even inside a runtime.
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(tokio::time::timeout(CALL_TIMEOUT, call).await);
    });
    match rx.recv() {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(_)) => Err(format!("no answer within {} s", CALL_TIMEOUT.as_secs())),
        Err(_) => Err("the client stopped".into()),
    }
}

/// A name no other put of this or another process uses at the same time.
fn unique_name() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

async fn remove(client: &Client, path: &str) -> Result<bool, HdfsError> {
    match client.delete(path, false).await {
        Ok(removed) => Ok(removed),
        Err(HdfsError::FileNotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

impl ArtifactStore for HdfsStore {
    fn put(&self, key: &str, from: &mut dyn Read, sha512: &str) -> Result<Stored, StoreError> {
        check_key(key)?;
        let expected = sha512.to_ascii_lowercase();
        let partial = format!("{}/.partial/{}", self.root, unique_name());
        let (c, p, dir) = (self.client.clone(), partial.clone(), format!("{}/.partial", self.root));
        let mut writer = self.run(key, "cannot create a temporary file", async move {
            c.mkdirs(&dir, 0o755, true).await?;
            c.create(&p, WriteOptions::default().permission(0o644)).await
        })?;
        let mut hasher = Sha512::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; CHUNK];
        let result: Result<(), StoreError> = (|| {
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => return Err(StoreError::Io { key: key.to_string(), what: "cannot read it", source }),
                };
                hasher.update(&buf[..n]);
                bytes += n as u64;
                let chunk = Bytes::copy_from_slice(&buf[..n]);
                writer = {
                    let mut w = writer;
                    self.run(key, "cannot write it", async move { w.write_bytes(chunk).await.map(|_| w) })?
                };
            }
            let mut w = writer;
            self.run(key, "cannot close it", async move { w.close().await })?;
            Ok(())
        })();
        let actual = hex(&hasher.finalize());
        let verdict = result.and_then(|()| crate::store::expect_sha512(key, &expected, &actual));
        let (c, target, name) = (self.client.clone(), self.path(key), key.rsplit('/').next().unwrap_or(key).to_string());
        if let Err(e) = verdict {
            let p = partial.clone();
            let _ = self.run(key, "cannot remove the temporary file", async move { remove(&c, &p).await });
            return Err(e);
        }
        let line = sha512_line(&actual, &name);
        self.run(key, "cannot move it into place", async move {
            let folder = target.rsplit_once('/').map(|(f, _)| f.to_string()).unwrap_or_default();
            c.mkdirs(&folder, 0o755, true).await?;
            // The checksum first: a reader who sees the file sees its checksum.
            let sum = format!("{target}.sha512");
            remove(&c, &sum).await?;
            let mut w = c.create(&sum, WriteOptions::default().permission(0o644)).await?;
            w.write_bytes(Bytes::from(line)).await?;
            w.close().await?;
            c.rename(&partial, &target, true).await
        })?;
        Ok(Stored { key: key.to_string(), bytes, sha512: actual })
    }

    fn get(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        check_key(key)?;
        let (c, p) = (self.client.clone(), self.path(key));
        let reader = match run_on(&self.runtime, async move { c.read(&p).await }) {
            Ok(r) => r,
            Err(e) if e.contains("not found") || e.contains("FileNotFound") => {
                return Err(StoreError::NotFound { key: key.to_string() })
            }
            Err(message) => return Err(StoreError::Other { key: key.to_string(), message: format!("HDFS: cannot open it: {message}") }),
        };
        Ok(Box::new(HdfsReader {
            reader: Arc::new(reader),
            offset: 0,
            runtime: self.runtime.clone(),
        }))
    }

    fn sha512(&self, key: &str) -> Result<String, StoreError> {
        let mut text = String::new();
        let sum = format!("{key}.sha512");
        check_key(key)?;
        let (c, p) = (self.client.clone(), self.path(&sum));
        let reader = match run_on(&self.runtime, async move { c.read(&p).await }) {
            Ok(r) => r,
            Err(_) if !self.exists(key)? => return Err(StoreError::NotFound { key: key.to_string() }),
            Err(message) => return Err(StoreError::Other { key: key.to_string(), message: format!("HDFS: its .sha512: {message}") }),
        };
        HdfsReader { reader: Arc::new(reader), offset: 0, runtime: self.runtime.clone() }
            .read_to_string(&mut text)
            .map_err(|source| StoreError::Io { key: key.to_string(), what: "cannot read its checksum", source })?;
        parse_sha512_line(&text, key.rsplit('/').next().unwrap_or(key))
            .map_err(|e| StoreError::Other { key: key.to_string(), message: format!("its .sha512: {e}") })
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let (c, r) = (self.client.clone(), self.root.clone());
        let entries = self.run(&self.root, "cannot list the store", async move {
            match c.list_status(&r, true).await {
                Ok(e) => Ok(e),
                Err(HdfsError::FileNotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })?;
        let mut keys: Vec<String> = entries
            .into_iter()
            .filter(|e| !e.isdir)
            .filter_map(|e| {
                // hdfs-native gives paths relative to the listed folder.
                let rel = e.path.strip_prefix(&format!("{}/", self.root)).unwrap_or(&e.path).to_string();
                (check_key(&rel).is_ok()).then_some(rel)
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        let (c, p) = (self.client.clone(), self.path(key));
        self.run(key, "cannot remove it", async move {
            let removed = remove(&c, &p).await?;
            remove(&c, &format!("{p}.sha512")).await?;
            Ok(removed)
        })
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        let (c, p) = (self.client.clone(), self.path(key));
        self.run(key, "cannot look it up", async move {
            match c.get_file_info(&p).await {
                Ok(status) => Ok(!status.isdir),
                Err(HdfsError::FileNotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }
}

/// A file on HDFS as a blocking reader, a chunk at a time (never the whole file in memory).
struct HdfsReader {
    reader: Arc<hdfs_native::file::FileReader>,
    offset: usize,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Read for HdfsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.reader.file_length().saturating_sub(self.offset);
        let len = left.min(buf.len()).min(CHUNK);
        if len == 0 {
            return Ok(0);
        }
        let (reader, offset) = (self.reader.clone(), self.offset);
        let chunk = run_on(&self.runtime, async move { reader.read_range(offset, len).await })
            .map_err(io::Error::other)?;
        buf[..chunk.len()].copy_from_slice(&chunk);
        self.offset += chunk.len();
        Ok(chunk.len())
    }
}
