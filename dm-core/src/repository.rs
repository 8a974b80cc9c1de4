//! The package repository: where uploaded packages are kept before (and after) deployment.
//! Storage is behind [`PackageStore`] so HDFS can be added; [`LocalStore`] keeps packages in a
//! folder. File names are always checked with the packaging crate's rules before they reach a
//! path, so a name from a request can never leave the store's folder.

use crate::error::DmError;
use packaging::{ArchiveFormat, PackageId};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// A package file name that passed the checks: `<name>-<x.y.z>.tar.gz|.tgz|.zip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub file: String,
    pub id: PackageId,
}

impl PackageFile {
    pub fn parse(file: &str) -> Result<PackageFile, DmError> {
        let (stem, _) =
            ArchiveFormat::split_file_name(file).map_err(|p| DmError::BadRequest(p.message))?;
        let id = PackageId::parse(stem).map_err(|p| DmError::BadRequest(p.message))?;
        Ok(PackageFile {
            file: file.to_string(),
            id,
        })
    }
}

pub trait PackageStore: Send + Sync {
    /// Every package file held, in name order.
    fn list(&self) -> io::Result<Vec<PackageFile>>;

    /// The file holding package `id`, if any.
    fn find(&self, id: &PackageId) -> io::Result<Option<PackageFile>> {
        Ok(self.list()?.into_iter().find(|f| &f.id == id))
    }

    /// A readable local path for `file` (the stored file itself for a local store).
    fn local_path(&self, file: &PackageFile) -> io::Result<PathBuf>;

    /// A temporary file to receive an upload into, removed unless published.
    fn incoming(&self) -> io::Result<NamedTempFile>;

    /// Stores a received file under `file`, uploaded by `owner`; fails with `AlreadyExists`
    /// rather than replace one.
    fn publish(&self, received: NamedTempFile, file: &PackageFile, owner: &str) -> io::Result<()>;

    /// Who uploaded `file`: `None` for a file without a record (placed by hand, or uploaded
    /// before owners were recorded), which only an admin may delete.
    fn owner(&self, file: &PackageFile) -> io::Result<Option<String>>;

    /// Removes `file` and its owner record; false when there was none.
    fn delete(&self, file: &PackageFile) -> io::Result<bool>;

    /// Drops uploads that were being received when dmd stopped.
    fn clean_incoming(&self) -> io::Result<()>;
}

/// Packages as files in one folder; uploads arrive in `.incoming/` on the same filesystem so
/// publishing is a single link. Each file's uploader is in `.owners/<file>`.
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn open(root: &Path) -> io::Result<LocalStore> {
        std::fs::create_dir_all(root.join(".incoming"))?;
        std::fs::create_dir_all(root.join(".owners"))?;
        Ok(LocalStore {
            root: root.to_path_buf(),
        })
    }

    fn owner_record(&self, file: &PackageFile) -> PathBuf {
        self.root.join(".owners").join(&file.file)
    }
}

impl PackageStore for LocalStore {
    fn list(&self) -> io::Result<Vec<PackageFile>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            // Files that are not package names (notes, partial copies) are not packages.
            if let Some(file) = entry
                .file_name()
                .to_str()
                .and_then(|n| PackageFile::parse(n).ok())
            {
                files.push(file);
            }
        }
        files.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(files)
    }

    fn local_path(&self, file: &PackageFile) -> io::Result<PathBuf> {
        let path = self.root.join(&file.file);
        if path.is_file() {
            Ok(path)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not in the repository", file.file),
            ))
        }
    }

    fn incoming(&self) -> io::Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(self.root.join(".incoming"))
    }

    fn publish(&self, received: NamedTempFile, file: &PackageFile, owner: &str) -> io::Result<()> {
        received.as_file().sync_all()?;
        received
            .persist_noclobber(self.root.join(&file.file))
            .map_err(|e| e.error)?;
        // After the file, so a refused publish never changes another file's owner; a crash in
        // between leaves a file without an owner, which an admin can still delete.
        let mut record = tempfile::Builder::new()
            .prefix("owner-")
            .tempfile_in(self.root.join(".incoming"))?;
        io::Write::write_all(&mut record, owner.as_bytes())?;
        record
            .persist(self.owner_record(file))
            .map_err(|e| e.error)?;
        Ok(())
    }

    fn owner(&self, file: &PackageFile) -> io::Result<Option<String>> {
        match std::fs::read_to_string(self.owner_record(file)) {
            Ok(owner) => Ok(Some(owner)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, file: &PackageFile) -> io::Result<bool> {
        match std::fs::remove_file(self.root.join(&file.file)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        match std::fs::remove_file(self.owner_record(file)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(true),
        }
    }

    fn clean_incoming(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(self.root.join(".incoming"))? {
            std::fs::remove_file(entry?.path())?;
        }
        Ok(())
    }
}

/// PNDA's repository listing: `[{name, latest_versions: [{version, file}]}]`, newest version
/// first, at most `recency` versions per package (all when `recency` is 0).
pub fn group_by_name(files: &[PackageFile], recency: usize) -> Value {
    let mut by_name: BTreeMap<&str, Vec<&PackageFile>> = BTreeMap::new();
    for file in files {
        by_name.entry(file.id.name()).or_default().push(file);
    }
    let groups: Vec<Value> = by_name
        .into_iter()
        .map(|(name, mut versions)| {
            versions.sort_by(|a, b| compare_versions(b.id.version(), a.id.version()));
            let keep = if recency == 0 {
                versions.len()
            } else {
                recency
            };
            let latest: Vec<Value> = versions
                .iter()
                .take(keep)
                .map(|f| json!({"version": f.id.version(), "file": f.file}))
                .collect();
            json!({"name": name, "latest_versions": latest})
        })
        .collect();
    Value::Array(groups)
}

/// Orders versions part by part, numerically where both parts are numbers.
fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut a_parts = a.split('.');
    let mut b_parts = b.split('.');
    loop {
        match (a_parts.next(), b_parts.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(name: &str) -> PackageFile {
        PackageFile::parse(name).unwrap()
    }

    #[test]
    fn names_are_checked() {
        for bad in [
            "../x-1.0.0.tar.gz",
            "x-1.0.tar.gz",
            "x-1.0.0.tar",
            "a/b-1.0.0.tar.gz",
            ".x-1.0.0.zip",
        ] {
            assert!(PackageFile::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            file("spark-batch-app-1.0.23.tar.gz").id.name(),
            "spark-batch-app"
        );
    }

    #[test]
    fn listing_groups_and_orders_versions() {
        let files = [
            "a-1.0.2.tar.gz",
            "a-1.0.10.tar.gz",
            "a-1.0.9.zip",
            "b-0.1.0.tgz",
        ]
        .map(file);
        assert_eq!(
            group_by_name(&files, 2),
            json!([
                {"name": "a", "latest_versions": [{"version": "1.0.10", "file": "a-1.0.10.tar.gz"}, {"version": "1.0.9", "file": "a-1.0.9.zip"}]},
                {"name": "b", "latest_versions": [{"version": "0.1.0", "file": "b-0.1.0.tgz"}]}
            ])
        );
        assert_eq!(
            group_by_name(&files, 0)[0]["latest_versions"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn publish_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let mut upload = store.incoming().unwrap();
        upload.write_all(b"one").unwrap();
        store
            .publish(upload, &file("p-1.0.0.tar.gz"), "alice")
            .unwrap();
        let mut again = store.incoming().unwrap();
        again.write_all(b"two").unwrap();
        assert_eq!(
            store
                .publish(again, &file("p-1.0.0.tar.gz"), "mallory")
                .unwrap_err()
                .kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            store.owner(&file("p-1.0.0.tar.gz")).unwrap().as_deref(),
            Some("alice"),
            "a refused upload does not take the file over"
        );
        assert_eq!(
            std::fs::read(dir.path().join("p-1.0.0.tar.gz")).unwrap(),
            b"one"
        );
        assert_eq!(store.list().unwrap(), vec![file("p-1.0.0.tar.gz")]);
        assert_eq!(
            std::fs::read_dir(dir.path().join(".incoming"))
                .unwrap()
                .count(),
            0,
            "refused upload is removed"
        );
        assert!(store.delete(&file("p-1.0.0.tar.gz")).unwrap());
        assert_eq!(store.owner(&file("p-1.0.0.tar.gz")).unwrap(), None);
        assert!(!store.delete(&file("p-1.0.0.tar.gz")).unwrap());
    }
}
