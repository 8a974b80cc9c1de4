//! Reading well-formed and malformed (but not hostile) packages: metadata, names, layout and
//! per-type rules, with PNDA's messages.

use dm_testkit::{sample_files, sample_tar_gz, TarGz, Zip};
use packaging::{code, Component, ComponentRules, Finding, Limits, Problems, Reader, RuleSet};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn write(dir: &tempfile::TempDir, name: &str, bytes: Vec<u8>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn refused(reader: &Reader, path: &Path) -> Problems {
    match reader.inspect(path) {
        Ok(package) => panic!(
            "{} should be refused but gave {:?}",
            path.display(),
            package.metadata
        ),
        Err(problems) => problems,
    }
}

fn messages(problems: &Problems) -> Vec<&str> {
    problems.iter().map(|p| p.message.as_str()).collect()
}

#[test]
fn sample_package_metadata_has_pnda_shape() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "sample-1.0.0.tar.gz",
        sample_tar_gz("sample-1.0.0").bytes(),
    );
    let package = Reader::default().inspect(&file).unwrap();
    assert_eq!(package.id.name(), "sample");
    assert_eq!(package.id.version(), "1.0.0");
    assert_eq!(
        package.totals.files,
        sample_files("sample-1.0.0").len() as u64
    );

    let metadata = serde_json::to_value(&package.metadata).unwrap();
    assert_eq!(metadata["package_name"], "sample-1.0.0");
    assert_eq!(
        metadata["component_types"]["flink"]["stream"],
        json!({
            "component_name": "stream",
            "component_path": "sample-1.0.0/flink/stream",
            "component_detail": {
                "application.properties": {},
                "properties.json": {"main_jar": "stream.jar", "main_class": "dm.Stream"},
                "stream.jar": {}
            }
        })
    );
    // Absent properties.json defaults to {}, descriptors and sub-folders are listed.
    assert_eq!(
        metadata["component_types"]["oozie"]["nightly"]["component_detail"],
        json!({"hdfs.json": {}, "properties.json": {}, "workflow.xml": {}})
    );
    assert_eq!(
        metadata["component_types"]["jupyter"]["notes"]["component_detail"],
        json!({"analysis": {}, "analysis/explore.ipynb": {}, "properties.json": {}})
    );
    assert_eq!(
        package.metadata.defaults(),
        json!({
            "flink": {"stream": {"main_jar": "stream.jar", "main_class": "dm.Stream"}},
            "jupyter": {"notes": {}},
            "oozie": {"nightly": {}},
            "sparkStreaming": {"counter": {}}
        })
    );
}

/// Accepts every type it is given, like PNDA's parser (which does not validate).
struct AnyFiles(&'static str);

impl ComponentRules for AnyFiles {
    fn component_type(&self) -> &str {
        self.0
    }

    fn check(&self, _: &Component) -> Vec<Finding> {
        Vec::new()
    }
}

#[test]
fn pnda_parser_test_package_gives_pnda_metadata() {
    // The archive of PNDA's test_package_parser.py, and the metadata it expects.
    let tar = TarGz::new()
        .dir("test_package-1.0.2/")
        .dir("test_package-1.0.2/oozie/")
        .dir("test_package-1.0.2/oozie/componentA/")
        .file(
            "test_package-1.0.2/oozie/componentA/properties.json",
            r#"{"property3": "3", "property4": "four"}"#,
        )
        .dir("test_package-1.0.2/oozie/componentB/")
        .file("test_package-1.0.2/oozie/componentB/hdfs.json", "[]")
        .dir("test_package-1.0.2/sparkStreaming/")
        .dir("test_package-1.0.2/sparkStreaming/componentC/")
        .file(
            "test_package-1.0.2/sparkStreaming/componentC/properties.json",
            r#"{"property1": "1", "property2": "two"}"#,
        );
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "test_package-1.0.2.tar.gz", tar.bytes());
    let mut rules = RuleSet::empty();
    rules.register(Arc::new(AnyFiles("oozie")));
    rules.register(Arc::new(AnyFiles("sparkStreaming")));
    let package = Reader::new(Limits::default(), rules)
        .inspect(&file)
        .unwrap();
    assert_eq!(
        serde_json::to_value(&package.metadata).unwrap(),
        json!({
            "package_name": "test_package-1.0.2",
            "component_types": {
                "oozie": {
                    "componentA": {"component_name": "componentA", "component_path": "test_package-1.0.2/oozie/componentA",
                                   "component_detail": {"properties.json": {"property3": "3", "property4": "four"}}},
                    "componentB": {"component_name": "componentB", "component_path": "test_package-1.0.2/oozie/componentB",
                                   "component_detail": {"hdfs.json": {}, "properties.json": {}}}
                },
                "sparkStreaming": {
                    "componentC": {"component_name": "componentC", "component_path": "test_package-1.0.2/sparkStreaming/componentC",
                                   "component_detail": {"properties.json": {"property1": "1", "property2": "two"}}}
                }
            }
        })
    );
    // And with the built-in rules, PNDA's validation report (test_application_creator.py).
    let problems = refused(&Reader::default(), &file);
    let report: Vec<(Option<&str>, &str)> = problems
        .iter()
        .map(|p| (p.component.as_deref(), p.message.as_str()))
        .collect();
    assert_eq!(
        report,
        [
            (Some("oozie/componentA"), "missing file workflow.xml"),
            (Some("oozie/componentB"), "missing file workflow.xml"),
            (
                Some("sparkStreaming/componentC"),
                "missing file application.properties"
            ),
            (
                Some("sparkStreaming/componentC"),
                "missing file log4j.properties"
            ),
        ]
    );
    assert_eq!(
        problems.0[0].path.as_deref(),
        Some("test_package-1.0.2/oozie/componentA/workflow.xml")
    );
    assert!(problems.iter().all(|p| p.code == code::MISSING_FILE));
}

#[test]
fn zip_and_tar_give_the_same_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let tar = write(
        &dir,
        "sample-1.0.0.tar.gz",
        sample_tar_gz("sample-1.0.0").bytes(),
    );
    let mut zip = Zip::new();
    for (path, content) in sample_files("sample-1.0.0") {
        zip = zip.file(&path, content);
    }
    let zip = write(&dir, "sample-1.0.0.zip", zip.bytes());
    let reader = Reader::default();
    assert_eq!(
        reader.inspect(&tar).unwrap().metadata,
        reader.inspect(&zip).unwrap().metadata
    );
}

#[test]
fn accepts_archives_without_directory_entries_and_with_dot_slash_names() {
    // PNDA failed on both with "Unexpected error parsing the package contents".
    let dir = tempfile::tempdir().unwrap();
    let mut tar = TarGz::new().dir("./");
    for (path, content) in sample_files("sample-1.0.0") {
        tar = tar.file(format!("./{path}"), content);
    }
    let file = write(&dir, "sample-1.0.0.tgz", tar.bytes());
    let package = Reader::default().inspect(&file).unwrap();
    assert_eq!(package.metadata.components().count(), 4);
    assert_eq!(
        package.metadata.component_types["jupyter"]["notes"].component_path,
        "sample-1.0.0/jupyter/notes"
    );
}

#[test]
fn name_rules_with_pnda_messages() {
    let dir = tempfile::tempdir().unwrap();
    let reader = Reader::default();
    let valid = |id: &str| sample_tar_gz(id).bytes();

    let mismatch = write(&dir, "other-1.0.0.tar.gz", valid("sample-1.0.0"));
    assert_eq!(
        messages(&refused(&reader, &mismatch)),
        ["package name must match name of enclosed folder but found other-1.0.0 and sample-1.0.0"]
    );
    let short_version = write(&dir, "sample-1.0.tar.gz", valid("sample-1.0"));
    assert_eq!(
        messages(&refused(&reader, &short_version)),
        ["version must be a three part major.minor.patch e.g. 1.2.3 but found 1.0"]
    );
    let no_dash = write(&dir, "sample.tar.gz", valid("sample"));
    assert_eq!(
        messages(&refused(&reader, &no_dash)),
        ["package name must be of the form name-version e.g. name-version.1.2.3 but found sample"]
    );
    let wrong_ending = write(&dir, "sample-1.0.0.tar", valid("sample-1.0.0"));
    assert_eq!(
        refused(&reader, &wrong_ending).0[0].code,
        code::BAD_FILE_NAME
    );
}

#[test]
fn a_bad_name_does_not_hide_other_problems() {
    let dir = tempfile::tempdir().unwrap();
    let tar = TarGz::new().file("sample-1.0/flink/c/job.jar", "x");
    let file = write(&dir, "sample-1.0.tar.gz", tar.bytes());
    let codes: Vec<String> = refused(&Reader::default(), &file)
        .iter()
        .map(|p| p.code.clone())
        .collect();
    assert_eq!(codes, [code::BAD_VERSION, code::MISSING_FILE]);
}

#[test]
fn layout_rules() {
    let dir = tempfile::tempdir().unwrap();
    let reader = Reader::default();

    // PNDA's test_package-1.0.3: two top-level folders.
    let two = TarGz::new()
        .file("p-1.0.0/flink/a/application.properties", "")
        .file("p-1.0.1/flink/a/application.properties", "");
    let problems = refused(&reader, &write(&dir, "p-1.0.0.tar.gz", two.bytes()));
    assert_eq!(
        messages(&problems),
        ["Expected to find a single directory inside the archive, but found more than one item at the top level"]
    );
    assert_eq!(problems.0[0].path.as_deref(), Some("p-1.0.0, p-1.0.1"));

    let top_file = TarGz::new()
        .file("p-1.0.0/flink/a/application.properties", "")
        .file("README", "");
    assert_eq!(
        refused(&reader, &write(&dir, "p-1.0.0.tar.gz", top_file.bytes())).0[0].code,
        code::MULTIPLE_TOP_LEVEL
    );

    let only_file = TarGz::new().file("p-1.0.0", "just a file");
    assert_eq!(
        refused(&reader, &write(&dir, "p-1.0.0.tar.gz", only_file.bytes())).0[0].code,
        code::NO_PACKAGE_FOLDER
    );

    let empty = TarGz::new();
    assert_eq!(
        messages(&refused(
            &reader,
            &write(&dir, "p-1.0.0.tar.gz", empty.bytes())
        )),
        ["Expected to find a single package directory inside the archive, but found none"]
    );

    // Folders and loose files, but no component with any content.
    let no_components = TarGz::new()
        .dir("p-1.0.0/")
        .dir("p-1.0.0/flink/")
        .dir("p-1.0.0/flink/a/")
        .file("p-1.0.0/notes.txt", "");
    assert_eq!(
        messages(&refused(
            &reader,
            &write(&dir, "p-1.0.0.tar.gz", no_components.bytes())
        )),
        ["Expected to find at least one component within the package directory"]
    );
}

#[test]
fn per_type_rules_report_everything_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let tar = TarGz::new()
        .file("p-1.0.0/flink/f/job.jar", "")
        .file("p-1.0.0/sparkStreaming/s/application.properties", "")
        .file("p-1.0.0/sparkStreaming/s/log4j.properties", "")
        .file("p-1.0.0/sparkStreaming/s/upstart.conf", "")
        .file("p-1.0.0/oozie/o/coordinator.xml", "")
        .file("p-1.0.0/jupyter/j/notes.txt", "")
        .file("p-1.0.0/kafka/k/topic.json", "")
        .file("p-1.0.0/flink/.hidden/application.properties", "");
    let problems = refused(
        &Reader::default(),
        &write(&dir, "p-1.0.0.tar.gz", tar.bytes()),
    );
    let found: Vec<(&str, Option<&str>, &str)> = problems
        .iter()
        .map(|p| (p.code.as_str(), p.path.as_deref(), p.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (code::BAD_COMPONENT_NAME, Some("p-1.0.0/flink/.hidden"), "component name .hidden may only contain a-z A-Z 0-9 . _ - and must not start with ."),
            (code::MISSING_FILE, Some("p-1.0.0/flink/f/application.properties"), "missing file application.properties"),
            (code::MISSING_FILE, Some("p-1.0.0/jupyter/j"), "missing ipynb file"),
            (code::UNKNOWN_COMPONENT_TYPE, Some("p-1.0.0/kafka"), "unknown component type 'kafka' (known types: flink, jupyter, oozie, sparkStreaming)"),
            (code::MISSING_FILE, Some("p-1.0.0/oozie/o/workflow.xml"), "missing file workflow.xml"),
            (
                code::FORBIDDEN_FILE,
                Some("p-1.0.0/sparkStreaming/s/upstart.conf"),
                "Support for user supplied upstart.conf files has been deprecated, the deployment manager will supply one \
                 automatically. Please see PNDA example-applications for usage."
            ),
        ]
    );
}

#[test]
fn a_folder_is_not_a_required_file() {
    // PNDA could not tell files from folders; a folder named application.properties passed.
    let dir = tempfile::tempdir().unwrap();
    let tar = TarGz::new()
        .dir("p-1.0.0/flink/f/application.properties/")
        .file("p-1.0.0/flink/f/application.properties/x", "");
    let problems = refused(
        &Reader::default(),
        &write(&dir, "p-1.0.0.tar.gz", tar.bytes()),
    );
    assert_eq!(messages(&problems), ["missing file application.properties"]);
}

#[test]
fn properties_json_must_be_a_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let tar = TarGz::new()
        .file("p-1.0.0/flink/a/application.properties", "")
        .file("p-1.0.0/flink/a/properties.json", "{not json")
        .file("p-1.0.0/flink/b/application.properties", "")
        .file("p-1.0.0/flink/b/properties.json", "[1, 2]");
    let problems = refused(
        &Reader::default(),
        &write(&dir, "p-1.0.0.tar.gz", tar.bytes()),
    );
    assert_eq!(problems.0.len(), 2);
    assert!(problems.iter().all(|p| p.code == code::INVALID_PROPERTIES));
    assert_eq!(
        problems.0[0].path.as_deref(),
        Some("p-1.0.0/flink/a/properties.json")
    );
    assert!(problems.0[0]
        .message
        .starts_with("properties.json is not valid JSON"));
    assert_eq!(
        problems.0[1].message,
        "properties.json must be a JSON object, not an array"
    );
}

#[test]
fn problems_serialise_as_code_path_message() {
    let dir = tempfile::tempdir().unwrap();
    let tar = TarGz::new().file("p-1.0.0/oozie/o/lib/x.jar", "");
    let problems = refused(
        &Reader::default(),
        &write(&dir, "p-1.0.0.tar.gz", tar.bytes()),
    );
    assert_eq!(
        serde_json::to_value(&problems).unwrap(),
        json!([{"code": "missing_file", "path": "p-1.0.0/oozie/o/workflow.xml", "component": "oozie/o", "message": "missing file workflow.xml"}])
    );
}

/// Reads `workflow.xml` and refuses one that says "broken".
struct ReadsWorkflow;

impl ComponentRules for ReadsWorkflow {
    fn component_type(&self) -> &str {
        "oozie"
    }

    fn check(&self, component: &Component) -> Vec<Finding> {
        match component.content("workflow.xml") {
            Some(text) if text == b"broken" => vec![Finding::new(
                "bad_xml",
                Some("workflow.xml"),
                "workflow.xml is broken",
            )],
            Some(_) => Vec::new(),
            None => vec![Finding::new(
                code::MISSING_FILE,
                Some("workflow.xml"),
                "missing file workflow.xml",
            )],
        }
    }

    fn reads(&self, relative_path: &str) -> bool {
        relative_path == "workflow.xml"
    }
}

#[test]
fn rules_can_read_the_files_they_ask_for_and_only_those() {
    let mut rules = RuleSet::empty();
    rules.register(Arc::new(ReadsWorkflow));
    let reader = Reader::new(Limits::default(), rules);
    let dir = tempfile::tempdir().unwrap();
    let tar = |workflow: &str| {
        TarGz::new()
            .file("p-1.0.0/oozie/good/workflow.xml", "<workflow-app/>")
            .file("p-1.0.0/oozie/bad/workflow.xml", workflow)
            .file("p-1.0.0/oozie/bad/lib/x.jar", "jar")
    };
    let file = write(&dir, "p-1.0.0.tar.gz", tar("broken").bytes());
    let problems = refused(&reader, &file);
    assert_eq!(messages(&problems), ["workflow.xml is broken"]);
    assert_eq!(
        problems.0[0].path.as_deref(),
        Some("p-1.0.0/oozie/bad/workflow.xml")
    );

    let file = write(&dir, "p-1.0.0.tar.gz", tar("<workflow-app/>").bytes());
    let package = reader.inspect(&file).unwrap();
    let bad = &package.metadata.component_types["oozie"]["bad"];
    assert_eq!(bad.content("workflow.xml"), Some(&b"<workflow-app/>"[..]));
    assert_eq!(
        bad.content("lib/x.jar"),
        None,
        "files the rules do not read are not kept"
    );

    // A file read by content is bounded like a descriptor.
    let limits = Limits {
        max_descriptor_bytes: 20,
        ..Limits::default()
    };
    let mut rules = RuleSet::empty();
    rules.register(Arc::new(ReadsWorkflow));
    let file = write(
        &dir,
        "p-1.0.0.tar.gz",
        tar("<workflow-app>much too long</workflow-app>").bytes(),
    );
    let problems = refused(&Reader::new(limits, rules), &file);
    assert_eq!(problems.0[0].code, code::LIMIT_EXCEEDED);
    assert_eq!(
        problems.0[0].path.as_deref(),
        Some("p-1.0.0/oozie/bad/workflow.xml")
    );
}
