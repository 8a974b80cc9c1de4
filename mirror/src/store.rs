//! The artifact store: where verified files live, each under a key `<section>/<file name>` with
//! its `sha512sum` line beside it (`<key>.sha512`). A put streams the bytes to a temporary
//! place, checks them against the expected SHA-512 and only then makes them visible under the
//! key, so a reader never sees a half-written or wrong file. [`LocalStore`] is a folder (what
//! `dm-mirror build` writes and `serve` serves); [`crate::hdfs_store::HdfsStore`] is HDFS.

use crate::hash;
use dm_clients::mirror::{parse_sha512_line, sha512_line};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key:?}: {problem}")]
    BadKey { key: String, problem: String },
    #[error("{key}: the bytes' SHA-512 is {actual}, not the expected {expected}")]
    Mismatch { key: String, expected: String, actual: String },
    #[error("{key}: not in the store")]
    NotFound { key: String },
    #[error("{key}: {what}: {source}")]
    Io { key: String, what: &'static str, source: io::Error },
    #[error("{key}: {message}")]
    Other { key: String, message: String },
}

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub bytes: u64,
    pub sha512: String,
}

pub trait ArtifactStore: Send + Sync {
    /// Stores what `from` yields under `key` if its SHA-512 is `sha512`; on a mismatch or a
    /// read error nothing under `key` changes.
    fn put(&self, key: &str, from: &mut dyn Read, sha512: &str) -> Result<Stored, StoreError>;
    /// The file under `key`, as a reader.
    fn get(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError>;
    /// The recorded SHA-512 of `key` (its `.sha512` file).
    fn sha512(&self, key: &str) -> Result<String, StoreError>;
    /// Every key, sorted.
    fn list(&self) -> Result<Vec<String>, StoreError>;
    /// Removes `key` and its checksum; whether it was there.
    fn delete(&self, key: &str) -> Result<bool, StoreError>;
    fn exists(&self, key: &str) -> Result<bool, StoreError>;
}

/// A key is one or more plain segments joined by `/`: never absolute, never `..`, never a
/// hidden name (temporary files start with a dot), never a `.sha512` (that is the checksum's).
pub fn check_key(key: &str) -> Result<(), StoreError> {
    let bad = |problem: String| StoreError::BadKey { key: key.to_string(), problem };
    if key.ends_with(".sha512") {
        return Err(bad("ends with .sha512, the name of a checksum file".into()));
    }
    for segment in key.split('/') {
        crate::manifest::check_segment("segment", segment).map_err(bad)?;
    }
    Ok(())
}

/// A folder of artifacts.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// The store in `root`, created if missing.
    pub fn open(root: &Path) -> io::Result<LocalStore> {
        fs::create_dir_all(root)?;
        Ok(LocalStore { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Like [`ArtifactStore::put`], with `tick` told of each chunk and the bytes (their count,
    /// SHA-512 and SHA-1) checked by `accept(bytes, sha512, sha1)` rather than against a known SHA-512 (Maven
    /// publishes only a
    /// SHA-1 for many artifacts).
    pub fn put_checked(
        &self,
        key: &str,
        from: &mut dyn Read,
        accept: &dyn Fn(u64, &str, &str) -> Result<(), StoreError>,
        tick: &mut dyn FnMut(u64),
    ) -> Result<Stored, StoreError> {
        check_key(key)?;
        let io_err = |what| move |source| StoreError::Io { key: key.to_string(), what, source };
        let target = self.path_of(key);
        let folder = target.parent().expect("a key has a file name").to_path_buf();
        fs::create_dir_all(&folder).map_err(io_err("cannot create its folder"))?;
        // In the target's folder: the rename below stays on one filesystem.
        let mut temp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&folder)
            .map_err(io_err("cannot create a temporary file"))?;
        let (bytes, sha512, sha1) = hash::copy_hashing(from, temp.as_file_mut(), tick)
            .map_err(io_err("cannot read or write it"))?;
        accept(bytes, &sha512, &sha1)?;
        temp.as_file_mut().sync_all().map_err(io_err("cannot sync it"))?;
        let file_name = key.rsplit('/').next().unwrap_or(key);
        write_atomically(
            &folder.join(format!("{file_name}.sha512")),
            sha512_line(&sha512, file_name).as_bytes(),
        )
        .map_err(io_err("cannot write its checksum"))?;
        temp.persist(&target).map_err(|e| StoreError::Io {
            key: key.to_string(),
            what: "cannot move it into place",
            source: e.error,
        })?;
        sync_dir(&folder).map_err(io_err("cannot sync its folder"))?;
        Ok(Stored { key: key.to_string(), bytes, sha512 })
    }

    /// Moves `key` (and its checksum) from `other` into this store, replacing what was there.
    /// Both must be on one filesystem (a staging store inside this one).
    pub fn adopt(&self, other: &LocalStore, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let io_err = |what| move |source| StoreError::Io { key: key.to_string(), what, source };
        let target = self.path_of(key);
        let folder = target.parent().expect("a key has a file name");
        fs::create_dir_all(folder).map_err(io_err("cannot create its folder"))?;
        let sum = format!("{key}.sha512");
        fs::rename(other.path_of(&sum), self.path_of(&sum)).map_err(io_err("cannot move its checksum"))?;
        fs::rename(other.path_of(key), &target).map_err(io_err("cannot move it into place"))?;
        sync_dir(folder).map_err(io_err("cannot sync its folder"))
    }
}

impl ArtifactStore for LocalStore {
    fn put(&self, key: &str, from: &mut dyn Read, sha512: &str) -> Result<Stored, StoreError> {
        let expected = sha512.to_ascii_lowercase();
        let accept = |_: u64, actual: &str, _: &str| expect_sha512(key, &expected, actual);
        self.put_checked(key, from, &accept, &mut |_| {})
    }

    fn get(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        check_key(key)?;
        match fs::File::open(self.path_of(key)) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::NotFound { key: key.to_string() })
            }
            Err(source) => Err(StoreError::Io { key: key.to_string(), what: "cannot open it", source }),
        }
    }

    fn sha512(&self, key: &str) -> Result<String, StoreError> {
        check_key(key)?;
        let text = match fs::read_to_string(self.path_of(&format!("{key}.sha512"))) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound { key: key.to_string() })
            }
            Err(source) => {
                return Err(StoreError::Io { key: key.to_string(), what: "cannot read its checksum", source })
            }
        };
        let name = key.rsplit('/').next().unwrap_or(key);
        parse_sha512_line(&text, name)
            .map_err(|e| StoreError::Other { key: key.to_string(), message: format!("its .sha512: {e}") })
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pending = vec![(self.root.clone(), String::new())];
        while let Some((dir, prefix)) = pending.pop() {
            let entries = fs::read_dir(&dir).map_err(|source| StoreError::Io {
                key: prefix.clone(),
                what: "cannot list it",
                source,
            })?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || name.ends_with(".sha512") || name == dm_clients::mirror::INDEX_PATH {
                    continue;
                }
                let key = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
                match entry.file_type() {
                    Ok(t) if t.is_dir() => pending.push((entry.path(), key)),
                    Ok(t) if t.is_file() => keys.push(key),
                    _ => {}
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        let removed = remove_if_there(&self.path_of(key))
            .map_err(|source| StoreError::Io { key: key.to_string(), what: "cannot remove it", source })?;
        remove_if_there(&self.path_of(&format!("{key}.sha512")))
            .map_err(|source| StoreError::Io { key: key.to_string(), what: "cannot remove its checksum", source })?;
        Ok(removed)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        Ok(self.path_of(key).is_file())
    }
}

/// `Ok` when the bytes' digest `actual` is the `expected` one.
pub fn expect_sha512(key: &str, expected: &str, actual: &str) -> Result<(), StoreError> {
    if actual == expected {
        Ok(())
    } else {
        Err(StoreError::Mismatch {
            key: key.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn remove_if_there(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` through a synced temporary file and a rename: readers see the old
/// content or the new, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(".partial-").tempfile_in(folder)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(folder)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_is_checked_before_it_is_visible() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let (_, abc) = hash::sha512_of(&mut &b"abc"[..]).unwrap();
        let stored = store.put("misc/abc.txt", &mut &b"abc"[..], &abc).unwrap();
        assert_eq!(stored.bytes, 3);
        assert_eq!(fs::read(dir.path().join("misc/abc.txt")).unwrap(), b"abc");
        assert_eq!(
            fs::read_to_string(dir.path().join("misc/abc.txt.sha512")).unwrap(),
            format!("{abc}  abc.txt\n")
        );
        assert_eq!(store.sha512("misc/abc.txt").unwrap(), abc);

        // Other bytes under the same key: refused, and the stored file is untouched.
        let e = store.put("misc/abc.txt", &mut &b"abd"[..], &abc).unwrap_err();
        assert!(matches!(e, StoreError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains("misc/abc.txt"), "{e}");
        assert_eq!(fs::read(dir.path().join("misc/abc.txt")).unwrap(), b"abc");
        assert_eq!(store.list().unwrap(), vec!["misc/abc.txt"], "no temporary file left");
        let mut back = String::new();
        store.get("misc/abc.txt").unwrap().read_to_string(&mut back).unwrap();
        assert_eq!(back, "abc");

        assert!(store.exists("misc/abc.txt").unwrap());
        assert!(store.delete("misc/abc.txt").unwrap());
        assert!(!store.delete("misc/abc.txt").unwrap());
        assert!(!store.exists("misc/abc.txt").unwrap());
        assert!(matches!(store.get("misc/abc.txt"), Err(StoreError::NotFound { .. })));
        assert!(!dir.path().join("misc/abc.txt.sha512").exists());
    }

    #[test]
    fn keys_cannot_leave_the_store() {
        for key in ["../x", "/etc/passwd", "a/../../x", "a//b", "", "a/.hidden", "a/b.sha512", "a\\..\\b"] {
            assert!(matches!(check_key(key), Err(StoreError::BadKey { .. })), "{key:?} accepted");
        }
        check_key("flink/flink-1.20.5-bin-scala_2.12.tgz").unwrap();
    }
}
