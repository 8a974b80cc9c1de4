//! Resource limits for reading untrusted archives, and the meter that enforces them while the
//! bytes stream through (so a bomb is refused after a bounded amount of work, not after it is
//! written out).

use crate::problem::{code, Problem};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::rc::Rc;

const MIB: u64 = 1024 * 1024;

/// Limits applied to every archive read. The defaults suit real packages (fat jars of a few
/// hundred MiB, a few thousand files) and refuse what is clearly hostile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Sum of the sizes of all files once unpacked.
    pub max_total_bytes: u64,
    /// Size of any one unpacked file.
    pub max_file_bytes: u64,
    /// Number of entries (files and directories).
    pub max_entries: u64,
    /// Length in bytes of an entry path inside the archive.
    pub max_path_bytes: usize,
    /// Unpacked bytes per compressed byte, over the whole archive...
    pub max_compression_ratio: u64,
    /// ...checked only once this many bytes were unpacked, so tiny, highly compressible
    /// packages (a few JSON files) are not refused.
    pub ratio_grace_bytes: u64,
    /// Size of a descriptor (`properties.json`) that is parsed in memory.
    pub max_descriptor_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 2048 * MIB,
            max_file_bytes: 1024 * MIB,
            max_entries: 20_000,
            max_path_bytes: 1024,
            max_compression_ratio: 100,
            ratio_grace_bytes: 16 * MIB,
            max_descriptor_bytes: MIB,
        }
    }
}

/// Counts compressed bytes consumed and unpacked bytes produced, and remembers which limit
/// tripped, so that the `io::Error` surfacing from deep inside a decoder can be turned back into
/// a precise [`Problem`].
#[derive(Debug, Default)]
pub(crate) struct Meter {
    compressed: Cell<u64>,
    expanded: Cell<u64>,
    breach: RefCell<Option<Problem>>,
}

impl Meter {
    pub fn add_compressed(&self, n: u64) {
        self.compressed.set(self.compressed.get() + n);
    }

    pub fn compressed(&self) -> u64 {
        self.compressed.get()
    }

    /// Records `problem` as the reason for the next I/O failure and returns that failure.
    pub fn trip(&self, problem: Problem) -> io::Error {
        let err = io::Error::other(problem.message.clone());
        self.breach.borrow_mut().get_or_insert(problem);
        err
    }

    /// The limit that stopped reading, if one did.
    pub fn take_breach(&self) -> Option<Problem> {
        self.breach.borrow_mut().take()
    }

    fn add_expanded(&self, n: u64, limits: &Limits) -> io::Result<()> {
        let expanded = self.expanded.get() + n;
        self.expanded.set(expanded);
        let compressed = self.compressed.get().max(1);
        if expanded > limits.ratio_grace_bytes
            && expanded / compressed > limits.max_compression_ratio
        {
            return Err(self.trip(Problem::new(
                code::COMPRESSION_RATIO,
                format!(
                    "compression ratio above {}:1 ({expanded} bytes unpacked from {compressed} \
                     compressed bytes); refusing a likely archive bomb",
                    limits.max_compression_ratio
                ),
            )));
        }
        Ok(())
    }
}

/// Wraps the compressed input: everything read through it counts as consumed.
pub(crate) struct CompressedSide<R> {
    pub inner: R,
    pub meter: Rc<Meter>,
}

impl<R: Read> Read for CompressedSide<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.add_compressed(n as u64);
        Ok(n)
    }
}

/// Wraps the decompressed output: everything read through it counts as unpacked, and the
/// compression ratio is checked as it grows.
pub(crate) struct ExpandedSide<R> {
    pub inner: R,
    pub meter: Rc<Meter>,
    pub limits: Limits,
}

impl<R: Read> Read for ExpandedSide<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.add_expanded(n as u64, &self.limits)?;
        Ok(n)
    }
}
