//! Feeds arbitrary bytes to the package reader as a `.tar.gz` and as a `.zip`, inspecting and
//! unpacking. Besides "never panics", it checks that unpacking never writes outside its
//! destination and never leaves a link or a partial result behind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use packaging::{Limits, Reader, RuleSet};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; they are enforced the same way as the defaults.
    let limits = Limits { max_total_bytes: 1 << 20, max_file_bytes: 1 << 20, max_entries: 200, ..Limits::default() };
    let reader = Reader::new(limits, RuleSet::builtin());
    let work = tempfile::tempdir().expect("temp dir");
    for name in ["p-1.0.0.tar.gz", "p-1.0.0.zip"] {
        let file = work.path().join(name);
        std::fs::write(&file, data).expect("write input");
        let inspected = reader.inspect(&file);
        let out = work.path().join("out");
        let unpacked = reader.unpack(&file, &out);
        assert_eq!(inspected.is_ok(), unpacked.is_ok(), "inspect and unpack must agree");
        if unpacked.is_ok() {
            assert_only_plain_files(&out);
            std::fs::remove_dir_all(&out).expect("clean up");
        } else {
            assert!(!out.exists(), "a refused package left output behind");
        }
        std::fs::remove_file(&file).expect("clean up");
        let left: Vec<_> = std::fs::read_dir(work.path()).expect("list").collect();
        assert!(left.is_empty(), "stray files: {left:?}");
    }
});

fn assert_only_plain_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("list") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("type");
        assert!(kind.is_dir() || kind.is_file(), "unexpected {:?} at {}", kind, entry.path().display());
        if kind.is_dir() {
            assert_only_plain_files(&entry.path());
        }
    }
}
