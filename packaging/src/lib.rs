//! # packaging
//!
//! The dm application package format (PNDA's): `name-x.y.z.tar.gz`, `.tgz` or `.zip`, holding
//! exactly one folder `name-x.y.z/` with components grouped by type,
//! `<componentType>/<componentName>/{properties.json, files…}`.
//!
//! This crate reads packages safely and in a stream ([`Reader::inspect`], [`Reader::unpack`]),
//! checks them (layout, names, and per-type rules supplied through [`ComponentRules`]), produces
//! PNDA-shaped [`PackageMetadata`], and builds reproducible packages from a folder
//! ([`build::build`]). Every check reports all its [`Problem`]s at once.
//!
//! Packages come from users over the network, so reading one never writes outside the target
//! folder (no absolute paths, no `..`, no links, no device files) and never exhausts the
//! machine ([`Limits`], enforced while bytes stream through). Unpacking goes to a temporary
//! sibling folder that is renamed into place only when everything checked out.

mod archive;
pub mod build;
mod entry_path;
mod limits;
mod metadata;
mod name;
mod problem;
mod rules;

pub use archive::Totals;
pub use entry_path::EntryPath;
pub use limits::Limits;
pub use metadata::{Component, PackageMetadata, PROPERTIES_JSON};
pub use name::{ArchiveFormat, PackageId};
pub use problem::{code, Problem, Problems};
pub use rules::{file_rules, ComponentRules, Finding, RuleSet, BUILTIN_TYPES};

use archive::{read_archive, Discard, Sink, WriteUnder};
use std::path::Path;

/// A package that passed every check.
#[derive(Debug, Clone)]
pub struct Package {
    pub id: PackageId,
    pub format: ArchiveFormat,
    pub metadata: PackageMetadata,
    pub totals: Totals,
}

/// Reads and checks packages with a set of limits and component rules.
#[derive(Clone)]
pub struct Reader {
    pub limits: Limits,
    pub rules: RuleSet,
}

impl Default for Reader {
    /// Default limits and PNDA's four built-in component types.
    fn default() -> Self {
        Reader {
            limits: Limits::default(),
            rules: RuleSet::builtin(),
        }
    }
}

impl Reader {
    pub fn new(limits: Limits, rules: RuleSet) -> Self {
        Reader { limits, rules }
    }

    /// Reads the whole package and checks it, writing nothing. The package id and format come
    /// from the file name.
    pub fn inspect(&self, file: &Path) -> Result<Package, Problems> {
        self.inspect_as(file, &file_name(file)?)
    }

    /// Like [`Reader::inspect`] for a file stored under another name (e.g. an upload being
    /// received), with `file_name` the name it is published as.
    pub fn inspect_as(&self, file: &Path, file_name: &str) -> Result<Package, Problems> {
        self.read(file, file_name, &mut Discard)
    }

    /// Checks the package and unpacks it so that `dest/<name-x.y.z>/…` holds its content.
    /// `dest` must be absent or an empty folder; on any problem it is left as it was and no
    /// partial output remains.
    pub fn unpack(&self, file: &Path, dest: &Path) -> Result<Package, Problems> {
        self.unpack_as(file, &file_name(file)?, dest)
    }

    /// [`Reader::unpack`] for a file stored under another name.
    pub fn unpack_as(
        &self,
        file: &Path,
        file_name: &str,
        dest: &Path,
    ) -> Result<Package, Problems> {
        let shown = dest.display().to_string();
        let io_problem = |what: &str, e: std::io::Error| {
            Problem::new(code::IO_ERROR, format!("{what}: {e}")).at(&shown)
        };
        match std::fs::read_dir(dest).map(|mut entries| entries.next().is_some()) {
            Ok(true) => {
                return Err(
                    Problem::new(code::IO_ERROR, "destination folder is not empty")
                        .at(&shown)
                        .into(),
                )
            }
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_problem("cannot use destination", e).into()),
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent)
            .map_err(|e| io_problem("cannot create the parent folder", e))?;
        // Same filesystem as `dest`, so the final rename is atomic; removed on drop if we fail.
        let staging = tempfile::Builder::new()
            .prefix(".dm-unpack-")
            .tempdir_in(parent)
            .map_err(|e| io_problem("cannot create a staging folder", e))?;
        let package = self.read(file, file_name, &mut WriteUnder(staging.path()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_problem("cannot set permissions", e))?;
        // rename(2) replaces an empty folder atomically and fails on a non-empty one.
        std::fs::rename(staging.path(), dest)
            .map_err(|e| io_problem("cannot move the unpacked package into place", e))?;
        let _ = staging.keep();
        Ok(package)
    }

    fn read(&self, file: &Path, file_name: &str, sink: &mut dyn Sink) -> Result<Package, Problems> {
        let (stem, format) = ArchiveFormat::split_file_name(file_name)?;
        let id = PackageId::parse(stem);
        // A bad name does not stop the other checks: every problem is reported at once.
        let mut problems: Vec<Problem> = id.as_ref().err().cloned().into_iter().collect();
        let read = match read_archive(
            file,
            file_name,
            format,
            &self.limits,
            &|path| self.rules.wants_content(path),
            sink,
        ) {
            Ok(read) => read,
            Err(more) => {
                problems.extend(more.0);
                return Err(Problems(problems));
            }
        };
        problems.extend(read.entry_problems);
        match metadata::check_layout(stem, &read.listing, &self.rules) {
            Ok(metadata) if problems.is_empty() => Ok(Package {
                id: id.expect("no problems, so the id parsed"),
                format,
                metadata,
                totals: read.totals,
            }),
            Ok(_) => Err(Problems(problems)),
            Err(more) => {
                problems.extend(more.0);
                Err(Problems(problems))
            }
        }
    }
}

fn file_name(file: &Path) -> Result<String, Problems> {
    file.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            Problem::new(
                code::BAD_FILE_NAME,
                "the package path has no UTF-8 file name",
            )
            .at(file.display().to_string())
            .into()
        })
}
