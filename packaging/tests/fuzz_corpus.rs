//! Replays the fuzzer's corpus (`fuzz/corpus/read_archive`) on stable with the fuzz target's
//! checks, so every input the fuzzer found interesting stays a regression test.

use packaging::{Limits, Reader, RuleSet};
use std::path::Path;

fn assert_only_plain_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        assert!(
            kind.is_dir() || kind.is_file(),
            "unexpected {kind:?} at {}",
            entry.path().display()
        );
        if kind.is_dir() {
            assert_only_plain_files(&entry.path());
        }
    }
}

#[test]
fn corpus_inputs_are_handled_safely() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/read_archive");
    let limits = Limits {
        max_total_bytes: 1 << 20,
        max_file_bytes: 1 << 20,
        max_entries: 200,
        ..Limits::default()
    };
    let reader = Reader::new(limits, RuleSet::builtin());
    let mut inputs = 0;
    let mut accepted = 0;
    for input in std::fs::read_dir(&corpus).unwrap() {
        // The fuzzer may be rewriting the corpus while this runs.
        let Ok(data) = std::fs::read(input.unwrap().path()) else {
            continue;
        };
        inputs += 1;
        for name in ["p-1.0.0.tar.gz", "p-1.0.0.zip"] {
            let work = tempfile::tempdir().unwrap();
            let file = work.path().join(name);
            std::fs::write(&file, &data).unwrap();
            let out = work.path().join("out");
            let inspected = reader.inspect(&file);
            let unpacked = reader.unpack(&file, &out);
            assert_eq!(inspected.is_ok(), unpacked.is_ok());
            if unpacked.is_ok() {
                accepted += 1;
                assert_only_plain_files(&out);
            } else {
                assert!(!out.exists());
            }
            let left = std::fs::read_dir(work.path()).unwrap().count();
            assert_eq!(
                left,
                1 + unpacked.is_ok() as usize,
                "stray files after {name}"
            );
        }
    }
    assert!(inputs >= 4, "the corpus is missing: {}", corpus.display());
    // The hand-written seeds include valid packages; the reader must still accept them.
    assert!(accepted >= 2, "only {accepted} corpus inputs were accepted");
}
