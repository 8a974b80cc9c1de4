//! `dmctl package …` as a user runs it: exit codes, output, and what ends up on disk.

use std::path::Path;
use std::process::{Command, Output};

fn dmctl(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmctl"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("dmctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn build_validate_inspect_unpack_round_trip() {
    let work = tempfile::tempdir().unwrap();
    dm_testkit::write_sample_folder(work.path(), "sample-1.0.0").unwrap();

    let built = dmctl(&["package", "build", "sample-1.0.0"], work.path());
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(
        stdout(&built).contains("built sample-1.0.0.tar.gz (4 components, 9 files"),
        "{}",
        stdout(&built)
    );

    let validated = dmctl(&["package", "validate", "sample-1.0.0.tar.gz"], work.path());
    assert!(validated.status.success(), "{}", stderr(&validated));
    assert!(stdout(&validated).contains("valid package sample-1.0.0"));

    let inspected = dmctl(&["package", "inspect", "sample-1.0.0.tar.gz"], work.path());
    assert!(inspected.status.success());
    let metadata: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(metadata["package_name"], "sample-1.0.0");
    assert_eq!(
        metadata["component_types"]["flink"]["stream"]["component_detail"]["properties.json"]
            ["main_class"],
        "dm.Stream"
    );

    let unpacked = dmctl(
        &["package", "unpack", "sample-1.0.0.tar.gz", "out"],
        work.path(),
    );
    assert!(unpacked.status.success(), "{}", stderr(&unpacked));
    assert_eq!(
        std::fs::read_to_string(
            work.path()
                .join("out/sample-1.0.0/sparkStreaming/counter/counter.py")
        )
        .unwrap(),
        "print('count')\n"
    );
}

#[test]
fn validate_lists_every_problem_and_exits_1() {
    let work = tempfile::tempdir().unwrap();
    dm_testkit::write_sample_folder(work.path(), "good-1.0.0").unwrap();
    assert!(dmctl(&["package", "build", "good-1.0.0"], work.path())
        .status
        .success());
    dm_testkit::TarGz::new()
        .file("bad-1.0.0/flink/f/job.jar", "")
        .file("bad-1.0.0/oozie/o/coordinator.xml", "")
        .write(&work.path().join("bad-1.0.0.tar.gz"))
        .unwrap();

    let text = dmctl(
        &[
            "package",
            "validate",
            "good-1.0.0.tar.gz",
            "bad-1.0.0.tar.gz",
        ],
        work.path(),
    );
    assert_eq!(text.status.code(), Some(1));
    assert!(stdout(&text).contains("good-1.0.0.tar.gz: valid package"));
    let err = stderr(&text);
    assert!(
        err.contains("bad-1.0.0.tar.gz: invalid, 2 problems"),
        "{err}"
    );
    assert!(err.contains("[missing_file] bad-1.0.0/flink/f/application.properties: missing file application.properties"), "{err}");
    assert!(
        err.contains("[missing_file] bad-1.0.0/oozie/o/workflow.xml: missing file workflow.xml"),
        "{err}"
    );

    let json = dmctl(
        &[
            "package",
            "validate",
            "--json",
            "good-1.0.0.tar.gz",
            "bad-1.0.0.tar.gz",
        ],
        work.path(),
    );
    assert_eq!(json.status.code(), Some(1));
    let results: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(results[0]["valid"], true);
    assert_eq!(results[0]["package"], "good-1.0.0");
    assert_eq!(results[1]["valid"], false);
    assert_eq!(results[1]["problems"].as_array().unwrap().len(), 2);
    assert_eq!(results[1]["problems"][1]["component"], "oozie/o");
}

#[test]
fn unpack_refusal_exits_non_zero_and_leaves_no_folder() {
    let work = tempfile::tempdir().unwrap();
    dm_testkit::TarGz::new()
        .file("evil-1.0.0/flink/f/application.properties", "")
        .symlink("evil-1.0.0/flink/f/etc", "/etc")
        .write(&work.path().join("evil-1.0.0.tar.gz"))
        .unwrap();
    let out = dmctl(
        &["package", "unpack", "evil-1.0.0.tar.gz", "dest"],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("[link] evil-1.0.0/flink/f/etc"),
        "{}",
        stderr(&out)
    );
    assert!(!work.path().join("dest").exists());
}

#[test]
fn build_refuses_an_invalid_folder() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("x-1.0.0/sparkStreaming/s")).unwrap();
    std::fs::write(
        work.path().join("x-1.0.0/sparkStreaming/s/upstart.conf"),
        "",
    )
    .unwrap();
    let out = dmctl(
        &["package", "build", "x-1.0.0", "-o", "x-1.0.0.tgz"],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("3 problems"), "{err}");
    assert!(err.contains("deprecated"), "{err}");
    assert!(!work.path().join("x-1.0.0.tgz").exists());
}

#[test]
fn every_example_package_builds_and_validates() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let work = tempfile::tempdir().unwrap();
    let mut built = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let folder = entry.unwrap().path();
        let name = folder.file_name().unwrap().to_str().unwrap().to_string();
        if !folder.is_dir() || packaging::PackageId::parse(&name).is_err() {
            continue;
        }
        let archive = work.path().join(format!("{name}.tar.gz"));
        let out = dmctl(
            &[
                "package",
                "build",
                folder.to_str().unwrap(),
                "-o",
                archive.to_str().unwrap(),
            ],
            work.path(),
        );
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let out = dmctl(
            &["package", "validate", archive.to_str().unwrap()],
            work.path(),
        );
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        built += 1;
    }
    assert!(
        built >= 1,
        "no example packages found in {}",
        examples.display()
    );
}

/// `dmctl … | head`: the reader goes away; dmctl ends quietly with a writer's usual status.
#[test]
fn a_closed_pipe_ends_dmctl_quietly() {
    let work = tempfile::tempdir().unwrap();
    dm_testkit::write_sample_folder(work.path(), "sample-1.0.0").unwrap();
    let built = dmctl(&["package", "build", "sample-1.0.0"], work.path());
    assert!(built.status.success(), "{}", stderr(&built));
    // `true` exits without reading: dmctl's first write meets a closed pipe.
    let out = Command::new("bash")
        .args([
            "-c",
            "set -o pipefail; for i in 1 2 3 4 5 6 7 8; do \"$0\" package inspect sample-1.0.0.tar.gz; done | true",
            env!("CARGO_BIN_EXE_dmctl"),
        ])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert_eq!(stderr(&out), "", "no panic, no message");
    // 128 + SIGPIPE: what `yes | true` reports under pipefail.
    assert!(
        matches!(out.status.code(), Some(0) | Some(141)),
        "{:?}",
        out.status
    );
}
