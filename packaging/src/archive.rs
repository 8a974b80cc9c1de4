//! Streaming archive reader for `.tar.gz` and `.zip`: one pass, bounded memory, every entry
//! checked before a byte of it is handed to a [`Sink`].

use crate::entry_path::EntryPath;
use crate::limits::{CompressedSide, ExpandedSide, Limits, Meter};
use crate::metadata::{parse_properties, EntryKind, Listing};
use crate::name::ArchiveFormat;
use crate::problem::{code, Problem, Problems};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::rc::Rc;

const COPY_BUFFER: usize = 256 * 1024;

/// Where the content of accepted entries goes.
pub(crate) trait Sink {
    fn dir(&mut self, path: &EntryPath) -> io::Result<()>;
    fn file(&mut self, path: &EntryPath, executable: bool) -> io::Result<Box<dyn Write>>;
}

/// Reads and checks everything, keeps nothing.
pub(crate) struct Discard;

impl Sink for Discard {
    fn dir(&mut self, _: &EntryPath) -> io::Result<()> {
        Ok(())
    }

    fn file(&mut self, _: &EntryPath, _: bool) -> io::Result<Box<dyn Write>> {
        Ok(Box::new(io::sink()))
    }
}

/// Writes entries under a fresh folder that this process created and that holds no links, so
/// joining checked [`EntryPath`]s to it cannot leave it.
pub(crate) struct WriteUnder<'a>(pub &'a Path);

impl Sink for WriteUnder<'_> {
    fn dir(&mut self, path: &EntryPath) -> io::Result<()> {
        std::fs::create_dir_all(path.under(self.0))
    }

    fn file(&mut self, path: &EntryPath, executable: bool) -> io::Result<Box<dyn Write>> {
        use std::os::unix::fs::OpenOptionsExt;
        let target = path.under(self.0);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o755 } else { 0o644 })
            .open(target)?;
        Ok(Box::new(file))
    }
}

/// What an archive entry is, as far as we are concerned.
enum Kind {
    File {
        executable: bool,
    },
    Dir,
    /// Metadata-only entries (e.g. a pax global header) that carry no file.
    Ignore,
    Refuse(Problem),
}

/// What a read found: the listing (for the layout check), totals, and the problems of single
/// entries that were skipped.
pub(crate) struct ReadOutcome {
    pub listing: Listing,
    pub totals: Totals,
    pub entry_problems: Vec<Problem>,
}

/// Reads `file` in `format`, checks every entry and passes accepted ones to `sink` (none once a
/// problem is known). `Err` means reading could not go on (a limit, a corrupt stream); it
/// carries the entry problems found before as well.
/// `shown` names the file in problems: the name it is published as, not where it is staged.
pub(crate) fn read_archive(
    file: &Path,
    shown: &str,
    format: ArchiveFormat,
    limits: &Limits,
    wants_content: &dyn Fn(&EntryPath) -> bool,
    sink: &mut dyn Sink,
) -> Result<ReadOutcome, Problems> {
    let mut input = File::open(file)
        .map_err(|e| Problem::new(code::IO_ERROR, format!("cannot open: {e}")).at(shown))?;
    check_magic(&mut input, format, shown)?;
    let meter = Rc::new(Meter::default());
    let mut walker = Walker {
        limits,
        wants_content,
        sink,
        meter: meter.clone(),
        listing: Listing::default(),
        problems: Vec::new(),
        totals: Totals::default(),
        entries: 0,
        buffer: vec![0; COPY_BUFFER],
    };
    let outcome = match format {
        ArchiveFormat::TarGz => read_tar(input, &mut walker),
        ArchiveFormat::Zip => read_zip(input, &mut walker),
    };
    match outcome {
        Ok(()) => Ok(ReadOutcome {
            listing: walker.listing,
            totals: walker.totals,
            entry_problems: walker.problems,
        }),
        Err(fatal) => {
            walker.problems.push(fatal);
            Err(Problems(walker.problems))
        }
    }
}

/// Files and bytes unpacked.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
}

fn check_magic(input: &mut File, format: ArchiveFormat, shown: &str) -> Result<(), Problem> {
    use std::io::{Seek, SeekFrom};
    let mut head = [0u8; 4];
    let n = read_up_to(input, &mut head)
        .map_err(|e| Problem::new(code::IO_ERROR, format!("cannot read: {e}")).at(shown))?;
    input
        .seek(SeekFrom::Start(0))
        .map_err(|e| Problem::new(code::IO_ERROR, e.to_string()).at(shown))?;
    let (ok, expected) = match format {
        ArchiveFormat::TarGz => (
            head[..n].starts_with(&[0x1f, 0x8b]) && n >= 2,
            "gzip-compressed tar archive",
        ),
        ArchiveFormat::Zip => (
            n == 4 && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06"),
            "zip archive",
        ),
    };
    if ok {
        Ok(())
    } else if n == 0 {
        Err(Problem::new(
            code::NOT_AN_ARCHIVE,
            format!("the file is empty; expected a {expected}"),
        )
        .at(shown))
    } else {
        Err(Problem::new(
            code::NOT_AN_ARCHIVE,
            format!(
                "not a {expected} (it starts with bytes {:02x?})",
                &head[..n]
            ),
        )
        .at(shown))
    }
}

fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn read_tar(input: File, walker: &mut Walker<'_>) -> Result<(), Problem> {
    let compressed = CompressedSide {
        inner: BufReader::with_capacity(COPY_BUFFER, input),
        meter: walker.meter.clone(),
    };
    let expanded = ExpandedSide {
        inner: MultiGzDecoder::new(compressed),
        meter: walker.meter.clone(),
        limits: walker.limits.clone(),
    };
    let mut archive = tar::Archive::new(expanded);
    let entries = archive
        .entries()
        .map_err(|e| walker.read_failure(e, None))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| walker.read_failure(e, None))?;
        let raw = entry.path_bytes().into_owned();
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File {
                executable: header.mode().map(|m| m & 0o111 != 0).unwrap_or(false),
            },
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::XGlobalHeader => Kind::Ignore,
            tar::EntryType::Symlink | tar::EntryType::Link => Kind::Refuse(Problem::new(
                code::LINK,
                "refusing entry: symbolic and hard links are not allowed in packages",
            )),
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                Kind::Refuse(Problem::new(
                    code::SPECIAL_FILE,
                    "refusing entry: device files and fifos are not allowed in packages",
                ))
            }
            other => Kind::Refuse(Problem::new(
                code::UNSUPPORTED_ENTRY,
                format!("refusing entry of unsupported tar type {other:?}"),
            )),
        };
        let size = entry.size();
        walker.entry(&raw, kind, size, &mut entry)?;
    }
    Ok(())
}

fn read_zip(input: File, walker: &mut Walker<'_>) -> Result<(), Problem> {
    let file_len = input.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut archive =
        zip::ZipArchive::new(BufReader::with_capacity(COPY_BUFFER, input)).map_err(|e| {
            Problem::new(
                code::CORRUPT_ARCHIVE,
                format!("cannot read the zip archive: {e}"),
            )
        })?;
    if archive.len() as u64 > walker.limits.max_entries {
        return Err(too_many_entries(walker.limits));
    }
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(|e| {
            Problem::new(
                code::CORRUPT_ARCHIVE,
                format!("cannot read zip entry #{index}: {e}"),
            )
        })?;
        // Overlapping entries (a classic zip bomb) would count the same compressed bytes many
        // times; never credit more compressed bytes than the file has.
        let credit = entry
            .compressed_size()
            .min(file_len.saturating_sub(walker.meter.compressed()));
        walker.meter.add_compressed(credit);
        let raw = entry.name_raw().to_vec();
        let kind = match entry.unix_mode().map(|m| m & 0o170000) {
            _ if entry.encrypted() => Kind::Refuse(Problem::new(
                code::UNSUPPORTED_ENTRY,
                "refusing entry: encrypted zip entries are not supported",
            )),
            Some(0o120000) => Kind::Refuse(Problem::new(
                code::LINK,
                "refusing entry: symbolic links are not allowed in packages",
            )),
            Some(0o040000) => Kind::Dir,
            _ if entry.is_dir() => Kind::Dir,
            Some(0o100000) | Some(0) | None => Kind::File {
                executable: entry.unix_mode().map(|m| m & 0o111 != 0).unwrap_or(false),
            },
            Some(_) => Kind::Refuse(Problem::new(
                code::SPECIAL_FILE,
                "refusing entry: device files and fifos are not allowed in packages",
            )),
        };
        let size = entry.size();
        let mut content = ExpandedSide {
            inner: entry,
            meter: walker.meter.clone(),
            limits: walker.limits.clone(),
        };
        walker.entry(&raw, kind, size, &mut content)?;
    }
    Ok(())
}

fn too_many_entries(limits: &Limits) -> Problem {
    Problem::new(
        code::LIMIT_EXCEEDED,
        format!("the archive has more than {} entries", limits.max_entries),
    )
}

/// Applies the per-entry checks and limits common to both formats.
struct Walker<'a> {
    limits: &'a Limits,
    /// Which files the component rules read by content.
    wants_content: &'a dyn Fn(&EntryPath) -> bool,
    sink: &'a mut dyn Sink,
    meter: Rc<Meter>,
    listing: Listing,
    /// Entry problems: reading goes on so that all of them are reported together.
    problems: Vec<Problem>,
    totals: Totals,
    entries: u64,
    buffer: Vec<u8>,
}

impl Walker<'_> {
    /// Handles one entry. `Err` is fatal (a limit, a corrupt stream); entry problems are
    /// collected and the entry skipped.
    fn entry(
        &mut self,
        raw: &[u8],
        kind: Kind,
        declared_size: u64,
        content: &mut dyn Read,
    ) -> Result<(), Problem> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(too_many_entries(self.limits));
        }
        let shown = String::from_utf8_lossy(raw);
        // Checked on the declared size first, so an oversized entry is refused before anything
        // is written (or skipped over, which would cost the same decompression work).
        self.check_size(declared_size, 0, &shown)?;
        let path = match EntryPath::parse(raw, self.limits) {
            Ok(Some(path)) => path,
            Ok(None) => return Ok(()),
            Err(problem) => {
                self.problems.push(problem);
                return Ok(());
            }
        };
        let executable = match kind {
            Kind::Ignore => return Ok(()),
            Kind::Refuse(problem) => {
                self.problems.push(problem.at(path.as_str()));
                return Ok(());
            }
            Kind::Dir => {
                if let Err(problem) = self.listing.add(&path, EntryKind::Dir) {
                    self.problems.push(problem);
                } else if self.problems.is_empty() {
                    self.sink.dir(&path).map_err(|e| write_failure(&path, e))?;
                }
                return Ok(());
            }
            Kind::File { executable } => executable,
        };
        if let Err(problem) = self.listing.add(&path, EntryKind::File) {
            self.problems.push(problem);
            return Ok(());
        }
        if Listing::is_component_properties(&path) || (self.wants_content)(&path) {
            return self.keep(&path, executable, content);
        }
        // Once a problem is known the package will be refused: keep reading to find the other
        // problems, but stop writing.
        let mut out: Box<dyn Write> = if self.problems.is_empty() {
            self.sink
                .file(&path, executable)
                .map_err(|e| write_failure(&path, e))?
        } else {
            Box::new(io::sink())
        };
        let mut written = 0u64;
        loop {
            let n = match content.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_failure(e, Some(&path))),
            };
            self.check_size(written, n as u64, path.as_str())?;
            written += n as u64;
            out.write_all(&self.buffer[..n])
                .map_err(|e| write_failure(&path, e))?;
        }
        out.flush().map_err(|e| write_failure(&path, e))?;
        self.totals.files += 1;
        self.totals.bytes += written;
        Ok(())
    }

    /// A file checked by content — a component's `properties.json`, parsed here, or a file its
    /// type's rules read — is held in memory (within a size bound) as well as written.
    fn keep(
        &mut self,
        path: &EntryPath,
        executable: bool,
        content: &mut dyn Read,
    ) -> Result<(), Problem> {
        let mut bytes = Vec::new();
        content
            .take(self.limits.max_descriptor_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_failure(e, Some(path)))?;
        if bytes.len() as u64 > self.limits.max_descriptor_bytes {
            self.problems.push(
                Problem::new(
                    code::LIMIT_EXCEEDED,
                    format!(
                        "file is checked by content and larger than the limit of {} bytes",
                        self.limits.max_descriptor_bytes
                    ),
                )
                .at(path.as_str()),
            );
            return Ok(());
        }
        if Listing::is_component_properties(path) {
            match parse_properties(path, &bytes) {
                Ok(properties) => {
                    self.listing.properties.insert(path.clone(), properties);
                }
                Err(problem) => self.problems.push(problem),
            }
        } else {
            self.listing.contents.insert(path.clone(), bytes.clone());
        }
        self.check_size(0, bytes.len() as u64, path.as_str())?;
        self.totals.files += 1;
        self.totals.bytes += bytes.len() as u64;
        if self.problems.is_empty() {
            let mut out = self
                .sink
                .file(path, executable)
                .map_err(|e| write_failure(path, e))?;
            out.write_all(&bytes).map_err(|e| write_failure(path, e))?;
        }
        Ok(())
    }

    /// Refuses a file once it (or the package) would exceed its size limit.
    fn check_size(&self, file_so_far: u64, more: u64, shown: &str) -> Result<(), Problem> {
        if file_so_far + more > self.limits.max_file_bytes {
            return Err(Problem::new(
                code::LIMIT_EXCEEDED,
                format!(
                    "file is larger than the limit of {} bytes",
                    self.limits.max_file_bytes
                ),
            )
            .at(shown));
        }
        if self.totals.bytes + file_so_far + more > self.limits.max_total_bytes {
            return Err(Problem::new(
                code::LIMIT_EXCEEDED,
                format!(
                    "package unpacks to more than the limit of {} bytes",
                    self.limits.max_total_bytes
                ),
            )
            .at(shown));
        }
        Ok(())
    }

    /// Turns a read error into the limit that caused it or, failing that, a corrupt archive.
    fn read_failure(&self, error: io::Error, path: Option<&EntryPath>) -> Problem {
        if let Some(breach) = self.meter.take_breach() {
            return match path {
                Some(path) if breach.path.is_none() => breach.at(path.as_str()),
                _ => breach,
            };
        }
        let problem = Problem::new(
            code::CORRUPT_ARCHIVE,
            format!("the archive is truncated or corrupt: {error}"),
        );
        match path {
            Some(path) => problem.at(path.as_str()),
            None => problem,
        }
    }
}

fn write_failure(path: &EntryPath, error: io::Error) -> Problem {
    Problem::new(
        code::IO_ERROR,
        format!("cannot write the unpacked file: {error}"),
    )
    .at(path.as_str())
}
