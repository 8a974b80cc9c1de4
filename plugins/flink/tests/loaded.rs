//! The Flink plugin as dmd uses it: loaded from its shared library through the C ABI, next to
//! files that are not plugins or speak another ABI version.

use dm_plugin_api::host::{load_dir, LoadedPlugin};
use dm_plugin_api::{ComponentFiles, ComponentPlugin, Engines, PlanRequest, Target};
use dm_plugin_flink::FlinkPlugin;
use packaging::{Limits, Reader, RuleSet};
use serde_json::{json, Map};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn plugin_library() -> PathBuf {
    dm_testkit::built_cdylib("dm_plugin_flink")
}

fn component(files: &[&str]) -> ComponentFiles {
    ComponentFiles {
        component_type: "flink".into(),
        name: "c".into(),
        files: files.iter().map(|f| f.to_string()).collect(),
        properties: Map::new(),
        contents: Default::default(),
    }
}

fn request(properties: serde_json::Value) -> PlanRequest {
    PlanRequest {
        application: "app".into(),
        user: "u".into(),
        component: component(&["application.properties", "job.jar"]),
        properties: properties.as_object().unwrap().clone(),
        target: Target::Yarn,
        engines: Engines {
            flink_homes: [("2.3".to_string(), "/opt/flink".to_string())].into(),
            ..Engines::default()
        },
        workdir: "/w".into(),
        now_ms: 0,
    }
}

#[test]
fn loaded_plugin_answers_like_the_in_process_one() {
    let plugin = LoadedPlugin::open(&plugin_library()).unwrap();
    let info = plugin.info();
    assert_eq!(info.component_type, "flink");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));

    for files in [&["application.properties"][..], &["job.jar"][..]] {
        assert_eq!(
            plugin.validate(&component(files)).unwrap(),
            FlinkPlugin.validate(&component(files))
        );
    }
    let request =
        request(json!({"component_main_jar": "job.jar", "component_main_class": "dm.Job"}));
    assert_eq!(
        plugin.plan(&request).unwrap(),
        FlinkPlugin.plan(&request).unwrap()
    );

    let error = plugin.plan(&self::request(json!({}))).unwrap_err();
    assert_eq!(error.kind, dm_plugin_api::ErrorKind::Invalid);
    assert_eq!(
        error.to_string(),
        "plugin flink: properties.json must contain \"main_jar or main_py\" for app flink c"
    );
}

#[test]
fn packages_are_checked_through_the_loaded_plugin() {
    let mut rules = RuleSet::empty();
    rules.register(Arc::new(LoadedPlugin::open(&plugin_library()).unwrap()));
    let reader = Reader::new(Limits::default(), rules);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p-1.0.0.tar.gz");
    dm_testkit::TarGz::new()
        .file("p-1.0.0/flink/c/job.jar", "")
        .write(&file)
        .unwrap();
    let problems = reader.inspect(&file).unwrap_err();
    assert_eq!(problems.0.len(), 1);
    assert_eq!(problems.0[0].message, "missing file application.properties");
    assert_eq!(
        problems.0[0].path.as_deref(),
        Some("p-1.0.0/flink/c/application.properties")
    );
}

/// Compiles a C shared library, the easiest way to make a foreign or broken "plugin".
fn c_library(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let so = dir.join(format!("{name}.so"));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success());
    std::fs::remove_file(c).unwrap();
    so
}

#[test]
fn a_plugins_folder_loads_what_it_can_and_says_why_not_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugin_library(), dir.path().join("a-flink.so")).unwrap();
    std::fs::copy(plugin_library(), dir.path().join("b-flink-again.so")).unwrap();
    std::fs::write(dir.path().join("c-garbage.so"), b"not an ELF file").unwrap();
    c_library(dir.path(), "d-future", "struct d { unsigned v; } desc = {999}; const void *dm_plugin_entry(void) { return &desc; }");
    // What every plugin built before status derivation moved behind the ABI says.
    c_library(
        dir.path(),
        "d-version-one",
        "struct d { unsigned v; } desc = {1}; const void *dm_plugin_entry(void) { return &desc; }",
    );
    c_library(
        dir.path(),
        "e-no-entry",
        "int something_else(void) { return 1; }",
    );
    std::fs::write(dir.path().join("README.txt"), b"ignored: not a library").unwrap();

    let (plugins, errors) = load_dir(dir.path()).unwrap();
    assert_eq!(
        plugins
            .iter()
            .map(|p| p.info().component_type)
            .collect::<Vec<_>>(),
        ["flink"]
    );
    let reasons: Vec<(String, String)> = errors
        .iter()
        .map(|e| {
            (
                e.file.file_name().unwrap().to_string_lossy().into_owned(),
                e.reason.clone(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert!(
        reasons[0].0 == "b-flink-again.so"
            && reasons[0]
                .1
                .starts_with("component type flink is already handled by"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].0 == "c-garbage.so" && reasons[1].1.starts_with("not a loadable library"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons[2],
        (
            "d-future.so".into(),
            "built for plugin ABI version 999, this dmd speaks version 2".into()
        )
    );
    assert_eq!(
        reasons[3],
        (
            "d-version-one.so".into(),
            "built for plugin ABI version 1, this dmd speaks version 2".into()
        )
    );
    assert_eq!(
        reasons[4],
        (
            "e-no-entry.so".into(),
            "not a dm plugin (no dm_plugin_entry symbol)".into()
        )
    );
    // Errors print with the file, for the start-up log.
    assert!(
        errors[2].to_string().starts_with("plugin ")
            && errors[2].to_string().contains("d-future.so refused")
    );
}

/// dmd's loader asks what to observe once, then gets each summary through the ABI: the same
/// summary as the plugin's own derivation, PNDA's JSON.
#[test]
fn the_loaded_plugin_declares_what_to_observe_and_summarizes_through_the_abi() {
    use dm_plugin_api::observe::{
        ComponentRef, DmState, Engine, FlinkHistory, Observations, Observe, SummarizeRequest,
        YarnApp, YarnSeen, YarnState,
    };
    let plugin = LoadedPlugin::open(&plugin_library()).unwrap();
    assert_eq!(
        plugin.observe(),
        Observe::Yarn {
            engine: Some(Engine::Flink),
            supervised: true
        }
    );
    let request = SummarizeRequest {
        component: ComponentRef {
            job_name: "app-c-job".into(),
            name: "c".into(),
            component_type: "flink".into(),
        },
        observations: Observations {
            now: 5,
            dm: DmState::Started,
            yarn: YarnSeen::Apps {
                latest: Some(YarnApp {
                    id: "application_1795434460817_0001".into(),
                    state: Some(YarnState::Killed),
                    final_status: None,
                    tracking_url: None,
                    diagnostics: Some("killed by user dr.who".into()),
                }),
                previous: None,
                count: 1,
            },
            failure: None,
            engine: None,
            flink_history: Some(FlinkHistory {
                url: Some("http://localhost:8082".into()),
                last_jid: Some("f00d".into()),
            }),
            supervisor: None,
            oozie: None,
        },
    };
    let summary = plugin
        .summarize(&request.component, &request.observations)
        .unwrap();
    assert_eq!(
        summary,
        FlinkPlugin.summarize(&request).unwrap(),
        "through the ABI as in process"
    );
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        json!({"aggregate_status": "KILLED", "name": "app-c-job", "component": "c",
            "componentType": "Flink", "yarnId": "application_1795434460817_0001",
            "tracking_url": "http://localhost:8082/#/jobs/f00d", "information": "killed by user dr.who",
            "observed": {"source": "yarn", "at": 5}, "yarn_attempts": 1})
    );
}
