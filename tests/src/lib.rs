//! # dm-testkit
//!
//! Fixtures for dm's tests: archives written entry by entry, so tests can make exactly the
//! package they need, well-formed or hostile (absolute paths, `..`, links, devices, bombs,
//! truncation), without trusting the code under test to make them.
//!
//! With the `real-cluster` feature, [`cluster`] holds what the slow suites against the loopback
//! Hadoop cluster (`tests/env/`) share beyond its endpoints. [`mirror`] writes and serves test
//! mirrors.

#[cfg(feature = "real-cluster")]
pub mod cluster;
pub mod mirror;

use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{self, Write};
use std::path::Path;

/// One raw tar entry.
enum TarItem {
    Dir(Vec<u8>),
    File(Vec<u8>, Vec<u8>, u32),
    Symlink(Vec<u8>, Vec<u8>),
    HardLink(Vec<u8>, Vec<u8>),
    Fifo(Vec<u8>),
    CharDevice(Vec<u8>),
    /// A regular-file header declaring `size` bytes, followed by no data: a truncated archive
    /// or the start of a bomb.
    HeaderOnly(Vec<u8>, u64),
}

/// Builds a `.tar.gz` entry by entry. Names are written byte for byte, unchecked.
#[derive(Default)]
pub struct TarGz {
    items: Vec<TarItem>,
}

impl TarGz {
    pub fn new() -> Self {
        TarGz::default()
    }

    pub fn dir(mut self, name: impl AsRef<[u8]>) -> Self {
        self.items.push(TarItem::Dir(name.as_ref().to_vec()));
        self
    }

    pub fn file(self, name: impl AsRef<[u8]>, content: impl AsRef<[u8]>) -> Self {
        self.file_with_mode(name, content, 0o644)
    }

    pub fn file_with_mode(
        mut self,
        name: impl AsRef<[u8]>,
        content: impl AsRef<[u8]>,
        mode: u32,
    ) -> Self {
        self.items.push(TarItem::File(
            name.as_ref().to_vec(),
            content.as_ref().to_vec(),
            mode,
        ));
        self
    }

    pub fn symlink(mut self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        self.items.push(TarItem::Symlink(
            name.as_ref().to_vec(),
            target.as_ref().to_vec(),
        ));
        self
    }

    pub fn hard_link(mut self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        self.items.push(TarItem::HardLink(
            name.as_ref().to_vec(),
            target.as_ref().to_vec(),
        ));
        self
    }

    pub fn fifo(mut self, name: impl AsRef<[u8]>) -> Self {
        self.items.push(TarItem::Fifo(name.as_ref().to_vec()));
        self
    }

    pub fn char_device(mut self, name: impl AsRef<[u8]>) -> Self {
        self.items.push(TarItem::CharDevice(name.as_ref().to_vec()));
        self
    }

    pub fn header_only(mut self, name: impl AsRef<[u8]>, size: u64) -> Self {
        self.items
            .push(TarItem::HeaderOnly(name.as_ref().to_vec(), size));
        self
    }

    /// The uncompressed tar stream.
    pub fn tar_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for item in &self.items {
            let (name, kind, size, link, mode): (&[u8], tar::EntryType, u64, Option<&[u8]>, u32) =
                match item {
                    TarItem::Dir(n) => (n, tar::EntryType::Directory, 0, None, 0o755),
                    TarItem::File(n, c, mode) => {
                        (n, tar::EntryType::Regular, c.len() as u64, None, *mode)
                    }
                    TarItem::Symlink(n, t) => (n, tar::EntryType::Symlink, 0, Some(t), 0o777),
                    TarItem::HardLink(n, t) => (n, tar::EntryType::Link, 0, Some(t), 0o644),
                    TarItem::Fifo(n) => (n, tar::EntryType::Fifo, 0, None, 0o644),
                    TarItem::CharDevice(n) => (n, tar::EntryType::Char, 0, None, 0o666),
                    TarItem::HeaderOnly(n, size) => {
                        (n, tar::EntryType::Regular, *size, None, 0o644)
                    }
                };
            out.extend_from_slice(&raw_header(name, kind, size, link, mode));
            if let TarItem::File(_, content, _) = item {
                out.extend_from_slice(content);
                out.resize(out.len().next_multiple_of(512), 0);
            }
        }
        if !self
            .items
            .iter()
            .any(|i| matches!(i, TarItem::HeaderOnly(..)))
        {
            out.extend_from_slice(&[0u8; 1024]);
        }
        out
    }

    pub fn bytes(&self) -> Vec<u8> {
        gzip(&self.tar_bytes())
    }

    pub fn write(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.bytes())
    }
}

/// A ustar header written by hand, so any name bytes (up to 100) and any type can be produced.
fn raw_header(
    name: &[u8],
    kind: tar::EntryType,
    size: u64,
    link: Option<&[u8]>,
    mode: u32,
) -> [u8; 512] {
    assert!(name.len() <= 100, "fixture names are limited to 100 bytes");
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    write_octal(&mut h[100..108], mode as u64);
    write_octal(&mut h[108..116], 0);
    write_octal(&mut h[116..124], 0);
    write_octal(&mut h[124..136], size);
    write_octal(&mut h[136..148], 0);
    h[156] = kind.as_byte();
    if let Some(link) = link {
        h[157..157 + link.len()].copy_from_slice(link);
    }
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    write_octal(&mut h[148..155], sum as u64);
    h
}

fn write_octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    if digits.len() >= field.len() {
        // GNU base-256 for numbers too large for octal (sizes over 8 GiB).
        field.fill(0);
        field[0] = 0x80;
        let n = field.len();
        field[n - 8..].copy_from_slice(&value.to_be_bytes());
        return;
    }
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field[digits.len()] = 0;
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("in-memory write");
    encoder.finish().expect("in-memory write")
}

/// Builds a `.zip` entry by entry.
pub struct Zip {
    writer: zip::ZipWriter<io::Cursor<Vec<u8>>>,
}

impl Default for Zip {
    fn default() -> Self {
        Zip::new()
    }
}

impl Zip {
    pub fn new() -> Self {
        Zip {
            writer: zip::ZipWriter::new(io::Cursor::new(Vec::new())),
        }
    }

    fn options(mode: u32) -> zip::write::SimpleFileOptions {
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode)
    }

    pub fn dir(mut self, name: &str) -> Self {
        self.writer
            .add_directory(name, Self::options(0o755))
            .expect("zip dir");
        self
    }

    pub fn file(mut self, name: &str, content: impl AsRef<[u8]>) -> Self {
        self.writer
            .start_file(name, Self::options(0o644))
            .expect("zip file");
        self.writer.write_all(content.as_ref()).expect("zip write");
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> Self {
        self.writer
            .add_symlink(name, target, Self::options(0o777))
            .expect("zip symlink");
        self
    }

    pub fn bytes(self) -> Vec<u8> {
        self.writer.finish().expect("zip finish").into_inner()
    }

    pub fn write(self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.bytes())
    }
}

/// Files of a small valid package with one component of each PNDA type, as (path, content)
/// pairs under the package folder `id`.
pub fn sample_files(id: &str) -> Vec<(String, Vec<u8>)> {
    let f = |p: &str, c: &str| (format!("{id}/{p}"), c.as_bytes().to_vec());
    vec![
        f("flink/stream/application.properties", "parallelism=1\n"),
        f(
            "flink/stream/properties.json",
            r#"{"main_jar": "stream.jar", "main_class": "dm.Stream"}"#,
        ),
        f("flink/stream/stream.jar", "not really a jar"),
        f("sparkStreaming/counter/application.properties", "batch=5\n"),
        f(
            "sparkStreaming/counter/log4j.properties",
            "log4j.rootLogger=INFO\n",
        ),
        f("sparkStreaming/counter/counter.py", "print('count')\n"),
        f(
            "oozie/nightly/workflow.xml",
            "<workflow-app name=\"x\" xmlns=\"uri:oozie:workflow:0.4\"/>\n",
        ),
        f("oozie/nightly/hdfs.json", "[]\n"),
        f("jupyter/notes/analysis/explore.ipynb", "{}\n"),
    ]
}

/// The sample package as a tar.gz with explicit directory entries, as PNDA's tools made them.
pub fn sample_tar_gz(id: &str) -> TarGz {
    let files = sample_files(id);
    let mut dirs: Vec<String> = files
        .iter()
        .flat_map(|(p, _)| {
            p.match_indices('/')
                .map(|(i, _)| format!("{}/", &p[..i]))
                .collect::<Vec<_>>()
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut tar = TarGz::new();
    for dir in dirs {
        tar = tar.dir(dir);
    }
    for (path, content) in files {
        tar = tar.file(path, content);
    }
    tar
}

/// Writes the sample package's folder under `parent`.
pub fn write_sample_folder(parent: &Path, id: &str) -> io::Result<()> {
    for (path, content) in sample_files(id) {
        let target = parent.join(path);
        std::fs::create_dir_all(target.parent().expect("has parent"))?;
        std::fs::write(target, content)?;
    }
    Ok(())
}

/// The shared library cargo built for a `cdylib` crate (e.g. `dm_plugin_flink`), found beside
/// the running test binary (`target/<profile>/deps`). Panics when it was not built.
pub fn built_cdylib(lib_name: &str) -> std::path::PathBuf {
    let deps = std::env::current_exe()
        .expect("test binary path")
        .parent()
        .expect("deps folder")
        .to_path_buf();
    let library = deps.join(format!("lib{lib_name}.so"));
    assert!(library.exists(), "{} was not built", library.display());
    library
}
