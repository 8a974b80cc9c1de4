//! Building packages from folders: checked first, reproducible, and readable by the reader.

use dm_testkit::write_sample_folder;
use packaging::build::{build, BuildOptions};
use packaging::{code, Reader};
use std::path::Path;

fn no_progress() -> impl FnMut(u64, u64) {
    |_, _| {}
}

#[test]
fn builds_a_package_the_reader_accepts_with_the_same_metadata() {
    let work = tempfile::tempdir().unwrap();
    write_sample_folder(work.path(), "sample-1.0.0").unwrap();
    let out = work.path().join("sample-1.0.0.tar.gz");
    let reader = Reader::default();
    let built = build(
        &reader,
        &work.path().join("sample-1.0.0"),
        &out,
        BuildOptions::default(),
        &mut no_progress(),
    )
    .unwrap();
    let read = reader.inspect(&out).unwrap();
    assert_eq!(built.metadata, read.metadata);
    assert_eq!(built.totals.files, read.totals.files);
    assert_eq!(built.totals.bytes, read.totals.bytes);
}

#[test]
fn builds_are_byte_identical_whatever_the_file_times_and_order() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    write_sample_folder(first.path(), "sample-1.0.0").unwrap();
    write_sample_folder(second.path(), "sample-1.0.0").unwrap();
    // Different mtimes and permissions noise on the second copy.
    let touched = second.path().join("sample-1.0.0/flink/stream/stream.jar");
    std::fs::File::options()
        .append(true)
        .open(&touched)
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    let build_in = |dir: &Path| {
        let out = dir.join("sample-1.0.0.tar.gz");
        build(
            &Reader::default(),
            &dir.join("sample-1.0.0"),
            &out,
            BuildOptions::default(),
            &mut no_progress(),
        )
        .unwrap();
        std::fs::read(out).unwrap()
    };
    assert_eq!(build_in(first.path()), build_in(second.path()));
    // The stamp is honoured, and changes the bytes.
    let stamped = first.path().join("stamped").join("sample-1.0.0.tar.gz");
    std::fs::create_dir(stamped.parent().unwrap()).unwrap();
    build(
        &Reader::default(),
        &first.path().join("sample-1.0.0"),
        &stamped,
        BuildOptions {
            mtime: 1_700_000_000,
        },
        &mut no_progress(),
    )
    .unwrap();
    assert_ne!(std::fs::read(stamped).unwrap(), build_in(first.path()));
}

#[test]
fn refuses_to_build_an_invalid_package_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    write_sample_folder(work.path(), "sample-1.0.0").unwrap();
    let root = work.path().join("sample-1.0.0");
    std::fs::remove_file(root.join("oozie/nightly/workflow.xml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("flink/stream/passwd")).unwrap();
    let out = work.path().join("sample-1.0.0.tar.gz");
    let problems = build(
        &Reader::default(),
        &root,
        &out,
        BuildOptions::default(),
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(
        problems.iter().any(|p| p.code == code::LINK
            && p.path.as_deref() == Some("sample-1.0.0/flink/stream/passwd")),
        "{problems}"
    );
    assert!(!out.exists());
    let names: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["sample-1.0.0"], "no temporary output left behind");

    std::fs::remove_file(root.join("flink/stream/passwd")).unwrap();
    let problems = build(
        &Reader::default(),
        &root,
        &out,
        BuildOptions::default(),
        &mut no_progress(),
    )
    .unwrap_err();
    assert_eq!(problems.0.len(), 1);
    assert_eq!(
        problems.0[0].path.as_deref(),
        Some("sample-1.0.0/oozie/nightly/workflow.xml")
    );
}

#[test]
fn the_output_name_must_match_the_folder() {
    let work = tempfile::tempdir().unwrap();
    write_sample_folder(work.path(), "sample-1.0.0").unwrap();
    let out = work.path().join("sample-2.0.0.tar.gz");
    let problems = build(
        &Reader::default(),
        &work.path().join("sample-1.0.0"),
        &out,
        BuildOptions::default(),
        &mut no_progress(),
    )
    .unwrap_err();
    assert_eq!(problems.0[0].code, code::FOLDER_MISMATCH);
}

#[test]
fn reports_progress_up_to_the_total() {
    let work = tempfile::tempdir().unwrap();
    write_sample_folder(work.path(), "sample-1.0.0").unwrap();
    let mut last = (0, 0);
    let mut calls = 0;
    let package = build(
        &Reader::default(),
        &work.path().join("sample-1.0.0"),
        &work.path().join("sample-1.0.0.tar.gz"),
        BuildOptions::default(),
        &mut |done, total| {
            assert!(done >= last.0, "progress never goes back");
            last = (done, total);
            calls += 1;
        },
    )
    .unwrap();
    assert!(calls > 0);
    assert_eq!(last, (package.totals.bytes, package.totals.bytes));
}

#[test]
fn long_paths_survive_the_round_trip() {
    // Over tar's 100-byte name field: written with a GNU long-name entry, read back whole.
    let work = tempfile::tempdir().unwrap();
    write_sample_folder(work.path(), "sample-1.0.0").unwrap();
    let deep = format!(
        "flink/stream/{}/{}",
        "d".repeat(90),
        "settings-with-a-long-name.conf"
    );
    let file = work.path().join("sample-1.0.0").join(&deep);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "deep").unwrap();
    let out = work.path().join("sample-1.0.0.tar.gz");
    build(
        &Reader::default(),
        &work.path().join("sample-1.0.0"),
        &out,
        BuildOptions::default(),
        &mut no_progress(),
    )
    .unwrap();
    let dest = work.path().join("unpacked");
    Reader::default().unpack(&out, &dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("sample-1.0.0").join(&deep)).unwrap(),
        "deep"
    );
}
