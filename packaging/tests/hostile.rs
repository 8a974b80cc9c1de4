//! Hostile input: escapes, links, special files, bombs, truncation, garbage. Each must be refused
//! with a precise problem, and unpacking must leave nothing behind.

use dm_testkit::{gzip, sample_tar_gz, TarGz, Zip};
use packaging::{code, Limits, Problems, Reader, RuleSet};
use std::io::Write;
use std::path::{Path, PathBuf};

const VALID: &str = "p-1.0.0/flink/c/application.properties";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Unpacks `bytes` (named `name`) and asserts the refusal left no trace: the destination does
/// not exist, and nothing else appeared beside it. Returns the problems.
fn refuse_unpack(reader: &Reader, name: &str, bytes: &[u8]) -> Problems {
    let input = tempfile::tempdir().unwrap();
    let file = write(input.path(), name, bytes);
    let output = tempfile::tempdir().unwrap();
    let dest = output.path().join("unpacked");
    let problems = reader.unpack(&file, &dest).expect_err("must be refused");
    assert!(!dest.exists(), "refusal must not create the destination");
    let leftovers: Vec<_> = std::fs::read_dir(output.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "refusal left {leftovers:?}");
    // Inspecting gives the same verdict.
    assert_eq!(reader.inspect(&file).unwrap_err(), problems);
    problems
}

fn only(problems: &Problems, code: &str, path: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.code == code && p.path.as_deref() == Some(path)),
        "expected {code} at {path} in {problems}"
    );
}

#[test]
fn refuses_absolute_and_parent_paths_in_tar() {
    let tar = TarGz::new()
        .file(VALID, "")
        .file("/etc/evil", "x")
        .file("p-1.0.0/../../evil", "x");
    let problems = refuse_unpack(&Reader::default(), "p-1.0.0.tar.gz", &tar.bytes());
    only(&problems, code::UNSAFE_PATH, "/etc/evil");
    only(&problems, code::UNSAFE_PATH, "p-1.0.0/../../evil");
    assert_eq!(problems.0.len(), 2, "{problems}");
}

#[test]
fn refuses_links_and_special_files_in_tar() {
    let tar = TarGz::new()
        .file(VALID, "")
        .symlink("p-1.0.0/flink/c/escape", "/etc")
        .hard_link("p-1.0.0/flink/c/passwd", "/etc/passwd")
        .fifo("p-1.0.0/flink/c/pipe")
        .char_device("p-1.0.0/flink/c/null");
    let problems = refuse_unpack(&Reader::default(), "p-1.0.0.tar.gz", &tar.bytes());
    only(&problems, code::LINK, "p-1.0.0/flink/c/escape");
    only(&problems, code::LINK, "p-1.0.0/flink/c/passwd");
    only(&problems, code::SPECIAL_FILE, "p-1.0.0/flink/c/pipe");
    only(&problems, code::SPECIAL_FILE, "p-1.0.0/flink/c/null");
}

#[test]
fn a_link_followed_by_a_write_through_it_never_escapes() {
    // The classic two-step escape: a symlink to outside, then a file "inside" it.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    let tar = TarGz::new()
        .file(VALID, "")
        .symlink("p-1.0.0/flink/c/out", &target)
        .file("p-1.0.0/flink/c/out/planted", "x");
    refuse_unpack(&Reader::default(), "p-1.0.0.tar.gz", &tar.bytes());
    assert!(!outside.path().join("planted").exists());
}

#[test]
fn refuses_escapes_and_links_in_zip() {
    let zip = Zip::new()
        .file(VALID, "")
        .file("p-1.0.0/../evil", "x")
        .symlink("p-1.0.0/flink/c/escape", "/etc");
    let problems = refuse_unpack(&Reader::default(), "p-1.0.0.zip", &zip.bytes());
    only(&problems, code::UNSAFE_PATH, "p-1.0.0/../evil");
    only(&problems, code::LINK, "p-1.0.0/flink/c/escape");
}

#[test]
fn refuses_duplicate_and_clashing_entries() {
    let tar = TarGz::new()
        .file(VALID, "a")
        .file(VALID, "b")
        .file("p-1.0.0/flink/c/x", "")
        .file("p-1.0.0/flink/c/x/y", "");
    let problems = refuse_unpack(&Reader::default(), "p-1.0.0.tar.gz", &tar.bytes());
    only(&problems, code::DUPLICATE_ENTRY, VALID);
    only(&problems, code::DUPLICATE_ENTRY, "p-1.0.0/flink/c/x/y");
}

#[test]
fn refuses_more_entries_than_the_limit() {
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let mut tar = TarGz::new().file(VALID, "");
    for i in 0..20 {
        tar = tar.file(format!("p-1.0.0/flink/c/f{i}"), "");
    }
    let problems = refuse_unpack(
        &Reader::new(limits, RuleSet::builtin()),
        "p-1.0.0.tar.gz",
        &tar.bytes(),
    );
    assert!(problems.has(code::LIMIT_EXCEEDED), "{problems}");
    assert!(problems
        .0
        .last()
        .unwrap()
        .message
        .contains("more than 10 entries"));
}

#[test]
fn refuses_a_file_larger_than_the_limit_before_reading_it() {
    // The header declares 10 GiB and no data follows: refused on the header alone.
    let tar = TarGz::new()
        .file(VALID, "")
        .header_only("p-1.0.0/flink/c/huge.jar", 10 << 30);
    let problems = refuse_unpack(&Reader::default(), "p-1.0.0.tar.gz", &tar.bytes());
    only(&problems, code::LIMIT_EXCEEDED, "p-1.0.0/flink/c/huge.jar");
}

#[test]
fn refuses_a_package_larger_than_the_total_limit() {
    let limits = Limits {
        max_total_bytes: 1000,
        ..Limits::default()
    };
    let tar = TarGz::new()
        .file(VALID, "")
        .file("p-1.0.0/flink/c/a", [1u8; 600])
        .file("p-1.0.0/flink/c/b", [2u8; 600]);
    let problems = refuse_unpack(
        &Reader::new(limits, RuleSet::builtin()),
        "p-1.0.0.tar.gz",
        &tar.bytes(),
    );
    only(&problems, code::LIMIT_EXCEEDED, "p-1.0.0/flink/c/b");
}

#[test]
fn refuses_too_long_paths() {
    let limits = Limits {
        max_path_bytes: 40,
        ..Limits::default()
    };
    let long = format!("p-1.0.0/flink/c/{}", "x".repeat(40));
    let tar = TarGz::new().file(VALID, "").file(&long, "");
    let problems = refuse_unpack(
        &Reader::new(limits, RuleSet::builtin()),
        "p-1.0.0.tar.gz",
        &tar.bytes(),
    );
    only(&problems, code::LIMIT_EXCEEDED, &long);
}

/// A gzip stream that unpacks to a tar header declaring a 4 GiB file followed by 4 GiB of zeros,
/// made cheaply from concatenated gzip members of 64 MiB of zeros each, and then — after the
/// first 256 MiB of zeros — garbage. A reader that stops at the ratio limit never reaches the
/// garbage; one that read (or wrote) everything would report a corrupt archive instead.
fn zeros_bomb() -> Vec<u8> {
    let header = TarGz::new()
        .file(VALID, "")
        .header_only("p-1.0.0/flink/c/zeros.bin", 4 << 30)
        .tar_bytes();
    let zeros = gzip(&vec![0u8; 64 << 20]);
    let mut bomb = gzip(&header);
    for _ in 0..4 {
        bomb.extend_from_slice(&zeros);
    }
    bomb.extend_from_slice(b"this is where a reader that did not stop would fail");
    bomb
}

#[test]
fn refuses_a_zeros_bomb_after_a_bounded_amount_of_work() {
    let limits = Limits {
        max_file_bytes: 8 << 30,
        max_total_bytes: 8 << 30,
        ..Limits::default()
    };
    let bomb = zeros_bomb();
    assert!(
        bomb.len() < 1 << 20,
        "the bomb itself is small: {} bytes",
        bomb.len()
    );
    let problems = refuse_unpack(
        &Reader::new(limits, RuleSet::builtin()),
        "p-1.0.0.tar.gz",
        &bomb,
    );
    assert_eq!(problems.0.len(), 1, "{problems}");
    assert_eq!(problems.0[0].code, code::COMPRESSION_RATIO, "{problems}");
    assert_eq!(
        problems.0[0].path.as_deref(),
        Some("p-1.0.0/flink/c/zeros.bin")
    );
}

#[test]
fn with_a_lenient_ratio_the_size_limit_still_stops_a_bomb_early() {
    let limits = Limits {
        max_compression_ratio: u64::MAX,
        max_file_bytes: 8 << 30,
        max_total_bytes: 100 << 20,
        ..Limits::default()
    };
    let problems = refuse_unpack(
        &Reader::new(limits, RuleSet::builtin()),
        "p-1.0.0.tar.gz",
        &zeros_bomb(),
    );
    // The declared size already exceeds the total: refused before any content is read.
    assert_eq!(problems.0[0].code, code::LIMIT_EXCEEDED, "{problems}");
}

#[test]
fn refuses_a_zip_bomb() {
    let limits = Limits {
        ratio_grace_bytes: 1 << 20,
        ..Limits::default()
    };
    let zip = Zip::new()
        .file(VALID, "")
        .file("p-1.0.0/flink/c/zeros.bin", vec![0u8; 32 << 20]);
    let problems = refuse_unpack(
        &Reader::new(limits, RuleSet::builtin()),
        "p-1.0.0.zip",
        &zip.bytes(),
    );
    only(
        &problems,
        code::COMPRESSION_RATIO,
        "p-1.0.0/flink/c/zeros.bin",
    );
}

#[test]
fn a_small_highly_compressible_package_is_fine() {
    // Ratio checks start after the grace amount: a few MiB of repetitive text is normal.
    let tar = TarGz::new().file(VALID, "x=1\n".repeat(1 << 20));
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "p-1.0.0.tar.gz", &tar.bytes());
    Reader::default().inspect(&file).unwrap();
}

#[test]
fn truncated_archives_are_reported_not_panicked_on() {
    let full = sample_tar_gz("sample-1.0.0").bytes();
    for cut in [10, full.len() / 3, full.len() / 2, full.len() - 30] {
        let problems = refuse_unpack(&Reader::default(), "sample-1.0.0.tar.gz", &full[..cut]);
        assert!(
            problems.has(code::CORRUPT_ARCHIVE),
            "cut at {cut}: {problems}"
        );
    }
    let zip = Zip::new().file(VALID, "").bytes();
    let problems = refuse_unpack(&Reader::default(), "p-1.0.0.zip", &zip[..zip.len() - 10]);
    assert!(problems.has(code::CORRUPT_ARCHIVE), "{problems}");
}

#[test]
fn non_archives_get_a_clear_error() {
    let problems = refuse_unpack(
        &Reader::default(),
        "p-1.0.0.tar.gz",
        b"<html>not found</html>",
    );
    assert_eq!(problems.0[0].code, code::NOT_AN_ARCHIVE);
    assert!(
        problems.0[0]
            .message
            .starts_with("not a gzip-compressed tar archive"),
        "{problems}"
    );

    let problems = refuse_unpack(&Reader::default(), "p-1.0.0.zip", b"");
    assert_eq!(
        problems.0[0].message,
        "the file is empty; expected a zip archive"
    );

    // gzip, but not a tar inside.
    let problems = refuse_unpack(&Reader::default(), "p-1.0.0.tar.gz", &gzip(&[7u8; 4096]));
    assert!(problems.has(code::CORRUPT_ARCHIVE), "{problems}");
}

#[test]
fn unpack_refuses_a_non_empty_destination_and_keeps_it() {
    let input = tempfile::tempdir().unwrap();
    let file = write(
        input.path(),
        "sample-1.0.0.tar.gz",
        &sample_tar_gz("sample-1.0.0").bytes(),
    );
    let output = tempfile::tempdir().unwrap();
    std::fs::File::create(output.path().join("mine"))
        .unwrap()
        .write_all(b"keep me")
        .unwrap();
    let problems = Reader::default().unpack(&file, output.path()).unwrap_err();
    assert_eq!(problems.0[0].message, "destination folder is not empty");
    assert_eq!(
        std::fs::read(output.path().join("mine")).unwrap(),
        b"keep me"
    );
}

#[test]
fn unpack_writes_the_package_under_the_destination() {
    let input = tempfile::tempdir().unwrap();
    let tar = sample_tar_gz("sample-1.0.0").file_with_mode(
        "sample-1.0.0/flink/stream/run.sh",
        "#!/bin/sh\n",
        0o4755,
    );
    let file = write(input.path(), "sample-1.0.0.tar.gz", &tar.bytes());
    let output = tempfile::tempdir().unwrap();
    // An existing empty folder is fine, as is an absent one.
    let package = Reader::default().unpack(&file, output.path()).unwrap();
    assert_eq!(package.id.as_str(), "sample-1.0.0");
    let root = output.path().join("sample-1.0.0");
    assert_eq!(
        std::fs::read_to_string(root.join("flink/stream/application.properties")).unwrap(),
        "parallelism=1\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("jupyter/notes/analysis/explore.ipynb")).unwrap(),
        "{}\n"
    );
    use std::os::unix::fs::PermissionsExt;
    // The executable bit survives; set-uid and the like do not.
    let mode = std::fs::metadata(root.join("flink/stream/run.sh"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o755);
    let mode = std::fs::metadata(root.join("flink/stream/stream.jar"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o644);
    let names: Vec<_> = std::fs::read_dir(output.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["sample-1.0.0"]);
}
