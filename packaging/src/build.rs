//! Builds a package from a folder: checked first with the same rules the reader applies, then
//! written reproducibly (sorted entries, fixed times, owners and modes), so the same input
//! always gives a byte-identical archive.

use crate::entry_path::EntryPath;
use crate::metadata::{check_layout, parse_properties, EntryKind, Listing};
use crate::name::{ArchiveFormat, PackageId};
use crate::problem::{code, Problem, Problems};
use crate::{Package, Reader, Totals};
use flate2::{Compression, GzBuilder};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How to stamp the archive's entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Modification time of every entry, in seconds since the epoch (`SOURCE_DATE_EPOCH` by
    /// convention; 0 by default).
    pub mtime: u64,
}

impl BuildOptions {
    /// Options from the environment: honours `SOURCE_DATE_EPOCH` when it is set.
    pub fn from_env() -> Self {
        let mtime = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        BuildOptions { mtime }
    }
}

/// A file found in the input folder.
struct Source {
    path: PathBuf,
    size: u64,
    executable: bool,
}

/// Builds `out` (`name-x.y.z.tar.gz` or `.tgz`) from the package folder `dir`, whose name must
/// be the package id. `progress(done, total)` is called as content bytes are written.
pub fn build(
    reader: &Reader,
    dir: &Path,
    out: &Path,
    options: BuildOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Package, Problems> {
    let out_name = out.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let (stem, format) = ArchiveFormat::split_file_name(out_name)?;
    if format != ArchiveFormat::TarGz {
        return Err(Problem::new(
            code::BAD_FILE_NAME,
            "only .tar.gz and .tgz packages can be built",
        )
        .at(out_name)
        .into());
    }
    let folder = dir
        .canonicalize()
        .map_err(|e| io_problem(dir, "cannot read the package folder", e))?;
    let folder_name = folder
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let id = PackageId::parse(&folder_name)?;
    if stem != folder_name {
        return Err(Problem::new(
            code::FOLDER_MISMATCH,
            format!("package name must match name of enclosed folder but found {stem} and {folder_name}"),
        )
        .at(out_name)
        .into());
    }

    let (listing, sources) = scan_folder(reader, &folder, &folder_name)?;
    let metadata = check_layout(id.as_str(), &listing, &reader.rules)?;
    let totals = Totals {
        files: sources.len() as u64,
        bytes: sources.values().map(|s| s.size).sum(),
    };
    write_tar_gz(&listing, &sources, out, options, totals.bytes, progress)?;
    Ok(Package {
        id,
        format,
        metadata,
        totals,
    })
}

/// Walks the folder in sorted order, applying the reader's path rules and limits.
fn scan_folder(
    reader: &Reader,
    folder: &Path,
    folder_name: &str,
) -> Result<(Listing, BTreeMap<EntryPath, Source>), Problems> {
    let limits = &reader.limits;
    let mut listing = Listing::default();
    let mut sources = BTreeMap::new();
    let mut problems = Vec::new();
    let mut total = 0u64;
    let mut pending = vec![(folder.to_path_buf(), folder_name.to_string())];
    while let Some((dir, prefix)) = pending.pop() {
        let root = EntryPath::parse(prefix.as_bytes(), limits)
            .map_err(Problems::one)?
            .expect("non-empty prefix");
        listing.add(&root, EntryKind::Dir).map_err(Problems::one)?;
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .and_then(|entries| entries.collect::<io::Result<Vec<_>>>())
            .map_err(|e| io_problem(&dir, "cannot list folder", e))?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let name = child.file_name();
            let Some(name) = name.to_str() else {
                problems.push(
                    Problem::new(code::UNSAFE_PATH, "file name is not valid UTF-8")
                        .at(format!("{prefix}/{}", name.to_string_lossy())),
                );
                continue;
            };
            let path = match EntryPath::parse(format!("{prefix}/{name}").as_bytes(), limits) {
                Ok(Some(path)) => path,
                Ok(None) => continue,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
            let meta = child
                .metadata()
                .map_err(|e| io_problem(&child.path(), "cannot read", e))?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                problems.push(
                    Problem::new(
                        code::LINK,
                        "symbolic links cannot be packaged; copy the target in",
                    )
                    .at(path.as_str()),
                );
            } else if kind.is_dir() {
                pending.push((child.path(), path.as_str().to_string()));
            } else if kind.is_file() {
                if sources.len() as u64 + 1 > limits.max_entries {
                    return Err(Problem::new(
                        code::LIMIT_EXCEEDED,
                        format!("more than {} files", limits.max_entries),
                    )
                    .into());
                }
                if meta.len() > limits.max_file_bytes {
                    problems.push(
                        Problem::new(
                            code::LIMIT_EXCEEDED,
                            format!(
                                "file is larger than the limit of {} bytes",
                                limits.max_file_bytes
                            ),
                        )
                        .at(path.as_str()),
                    );
                }
                total += meta.len();
                let is_properties = Listing::is_component_properties(&path);
                if is_properties || reader.rules.wants_content(&path) {
                    // Checked by content, as the reader does.
                    match std::fs::read(child.path()) {
                        Ok(bytes) if bytes.len() as u64 > limits.max_descriptor_bytes => problems.push(
                            Problem::new(
                                code::LIMIT_EXCEEDED,
                                format!("file is checked by content and larger than the limit of {} bytes", limits.max_descriptor_bytes),
                            )
                            .at(path.as_str()),
                        ),
                        Ok(bytes) if is_properties => match parse_properties(&path, &bytes) {
                            Ok(properties) => {
                                listing.properties.insert(path.clone(), properties);
                            }
                            Err(problem) => problems.push(problem),
                        },
                        Ok(bytes) => {
                            listing.contents.insert(path.clone(), bytes);
                        }
                        Err(e) => problems.push(io_problem(&child.path(), "cannot read", e)),
                    }
                }
                listing.add(&path, EntryKind::File).map_err(Problems::one)?;
                let executable = meta.permissions().mode() & 0o111 != 0;
                sources.insert(
                    path,
                    Source {
                        path: child.path(),
                        size: meta.len(),
                        executable,
                    },
                );
            } else {
                problems.push(
                    Problem::new(
                        code::SPECIAL_FILE,
                        "device files, sockets and fifos cannot be packaged",
                    )
                    .at(path.as_str()),
                );
            }
        }
    }
    if total > limits.max_total_bytes {
        problems.push(Problem::new(
            code::LIMIT_EXCEEDED,
            format!(
                "package would unpack to more than the limit of {} bytes",
                limits.max_total_bytes
            ),
        ));
    }
    if problems.is_empty() {
        Ok((listing, sources))
    } else {
        Err(Problems(problems))
    }
}

fn write_tar_gz(
    listing: &Listing,
    sources: &BTreeMap<EntryPath, Source>,
    out: &Path,
    options: BuildOptions,
    total_bytes: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), Problems> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fail = |e: io::Error| io_problem(out, "cannot write the package", e);
    let temp = tempfile::Builder::new()
        .prefix(".dm-build-")
        .tempfile_in(parent)
        .map_err(fail)?;
    let gz = GzBuilder::new().mtime(0).write(
        BufWriter::with_capacity(256 * 1024, temp.as_file()),
        Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut done = 0u64;
    // Listing entries are sorted, and a folder sorts before its content.
    for (path, kind) in &listing.entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(options.mtime);
        header.set_uid(0);
        header.set_gid(0);
        match kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), io::empty())
                    .map_err(fail)?;
            }
            EntryKind::File => {
                let source = &sources[path];
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if source.executable { 0o755 } else { 0o644 });
                header.set_size(source.size);
                let file = File::open(&source.path)
                    .map_err(|e| io_problem(&source.path, "cannot read", e))?;
                // A file that changed size since the scan would corrupt the archive: refuse.
                let mut counted = Progress {
                    inner: file.take(source.size),
                    remaining: source.size,
                    done: &mut done,
                    total: total_bytes,
                    progress: &mut *progress,
                };
                tar.append_data(&mut header, path.as_str(), &mut counted)
                    .map_err(fail)?;
            }
        }
    }
    let gz = tar.into_inner().map_err(fail)?;
    gz.finish().and_then(|mut w| w.flush()).map_err(fail)?;
    temp.persist(out).map_err(|e| fail(e.error))?;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o644)).map_err(fail)?;
    Ok(())
}

/// Counts content bytes for the progress callback, and fails if the file shrank since the scan.
struct Progress<'a, R> {
    inner: R,
    remaining: u64,
    done: &'a mut u64,
    total: u64,
    progress: &'a mut dyn FnMut(u64, u64),
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a file shrank while it was being packaged",
            ));
        }
        self.remaining -= n as u64;
        *self.done += n as u64;
        (self.progress)(*self.done, self.total);
        Ok(n)
    }
}

fn io_problem(path: &Path, what: &str, error: io::Error) -> Problem {
    Problem::new(code::IO_ERROR, format!("{what}: {error}")).at(path.display().to_string())
}
