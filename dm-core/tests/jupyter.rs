//! `jupyter` components end to end: dmd with the real jupyter plugin, PNDA's literary-word-count
//! notebook (tests/pnda-examples), the users' repositories made and changed with real git, and
//! cloned back over HTTP from dmd with the real `git` binary, as JupyterHub does.

mod common;

use common::{supervisor_binary, Dmd, Options, SupervisorGuard};
use dm_testkit::{built_cdylib, TarGz};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PACKAGE: &str = "literary-word-count-app-wf-1.0.0";
/// PNDA's notebook component, as the example application ships it.
const EXAMPLE: &str =
    "../tests/pnda-examples/literary-word-count-app-wf-0.3.2/jupyter/word-count-notebook";

fn example(file: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE);
    std::fs::read(dir.join(file)).unwrap()
}

/// dmd with the jupyter plugin (and a guard that ends the supervisor plugins make it start);
/// summaries refreshed every 0.2 s.
fn start(root: &Path) -> (Dmd, SupervisorGuard) {
    start_with(root, None, "")
}

/// The same, with operations stopping at the crash-test pause point `pause_at`, and `extra`
/// configuration.
fn start_with(root: &Path, pause_at: Option<&str>, extra: &str) -> (Dmd, SupervisorGuard) {
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        built_cdylib("dm_plugin_jupyter"),
        plugins.join("libdm_plugin_jupyter.so"),
    )
    .unwrap();
    let config = format!(
        "[plugins]\ndir = \"{}\"\n[supervisor]\nbinary = \"{}\"\n[status]\ninterval_secs = 0.2\n{extra}",
        plugins.display(),
        supervisor_binary().display()
    );
    let guard = SupervisorGuard(root.join("data/supervisor"));
    let dmd = Dmd::start_with(
        root,
        &Options {
            config: Some(config),
            test_components: Some(false),
            pause_at: pause_at.map(str::to_string),
            ..Options::default()
        },
    );
    (dmd, guard)
}

/// PNDA's jupyter component plus a file that uses PNDA's templating.
fn package(components: &[&str]) -> Vec<u8> {
    let mut tar = TarGz::new();
    for c in components {
        let dir = format!("{PACKAGE}/jupyter/{c}");
        tar = tar
            .file(
                format!("{dir}/literature.ipynb"),
                example("literature.ipynb"),
            )
            .file(format!("{dir}/properties.json"), example("properties.json"))
            .file(
                format!("{dir}/notes/README.md"),
                "app ${component_application} by ${application_user}, $$5\n",
            );
    }
    tar.bytes()
}

/// `git` as a client with no configuration of the host's, bounded by a stalled-transfer limit.
fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .current_dir(dir)
        .args(["-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=30"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("run git")
}

/// A fresh clone of the user's repository from dmd, into `<into>/<name>`.
fn clone(dmd: &Dmd, user: &str, into: &Path, name: &str) -> PathBuf {
    let dest = into.join(name);
    let url = dmd.url(&format!("/notebooks/jupyter-{user}"));
    let out = git(into, &["clone", "-q", &url, dest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "git clone {url}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        dmd.log_text()
    );
    dest
}

fn log(repo: &Path) -> Vec<String> {
    let out = git(repo, &["log", "--format=%an <%ae> %s"]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Polls the application's summary until `component` has `want` (one status cycle is 0.2 s).
fn wait_summary(dmd: &Dmd, app: &str, component: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = dmd.get(&format!("/applications/{app}/summary")).body;
        if body[app][component]["aggregate_status"] == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the summary of {app} never showed {component} {want}: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn act(dmd: &Dmd, method: &str, path: &str) {
    let reply = dmd.call(method, path, None, &[]);
    assert_eq!(reply.code, 202, "{method} {path}: {}", reply.body);
}

#[test]
fn notebooks_are_committed_cloned_over_http_and_removed_on_destroy() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    dmd.deployed(PACKAGE, &package(&["word-count-notebook"]));
    let reply = dmd.create_as("literary", PACKAGE, "alice");
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status("/applications/literary/status", "CREATED");
    let summary = wait_summary(&dmd, "literary", "jupyter-1", "CREATED");
    assert_eq!(summary["literary"]["aggregate_status"], "CREATED");
    assert_eq!(summary["literary"]["jupyter-1"]["componentType"], "Jupyter");

    let clone1 = clone(&dmd, "alice", root.path(), "clone1");
    assert_eq!(
        std::fs::read(clone1.join("literary/literature.ipynb")).unwrap(),
        example("literature.ipynb"),
        "the notebook as the package has it"
    );
    assert!(clone1.join("README.ipynb").is_file());
    let properties: Value =
        serde_json::from_slice(&std::fs::read(clone1.join("literary/properties.json")).unwrap())
            .unwrap();
    assert_eq!(properties["application"], "literary");
    assert_eq!(properties["name"], "word-count-notebook");
    assert_eq!(properties["job_name"], "literary-word-count-notebook-job");
    assert!(
        properties
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("component_")),
        "{properties}"
    );
    assert_eq!(
        std::fs::read_to_string(clone1.join("literary/notes/README.md")).unwrap(),
        "app literary by alice, $5\n",
        "files are rendered with PNDA's templating"
    );
    assert_eq!(
        log(&clone1),
        [
            "dm <dm@localhost> added literary app notebooks",
            "dm <dm@localhost> Initial commit"
        ]
    );

    // Start and stop run nothing; the component follows dm's state.
    act(&dmd, "POST", "/applications/literary/start?user.name=alice");
    dmd.wait_status("/applications/literary/status", "STARTED");
    wait_summary(&dmd, "literary", "jupyter-1", "RUNNING");
    act(&dmd, "POST", "/applications/literary/stop?user.name=alice");
    dmd.wait_status("/applications/literary/status", "CREATED");

    // A second application of the same user goes to the same repository.
    let reply = dmd.create_as("second", PACKAGE, "alice");
    assert_eq!(reply.code, 202, "{}", reply.body);
    dmd.wait_status("/applications/second/status", "CREATED");
    let repos: Vec<String> = std::fs::read_dir(dmd.data.join("git-repos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(repos, ["jupyter-alice"]);

    act(&dmd, "DELETE", "/applications/literary?user.name=alice");
    dmd.wait_status("/applications/literary/status", "NOTCREATED");
    let clone2 = clone(&dmd, "alice", root.path(), "clone2");
    assert!(
        !clone2.join("literary").exists(),
        "the destroyed app's folder is gone"
    );
    assert!(clone2.join("second/literature.ipynb").is_file());
    assert_eq!(
        log(&clone2)[0],
        "dm <dm@localhost> deleted literary app notebooks"
    );
    // The first clone catches up with a pull, as JupyterHub's would.
    let out = git(&clone1, &["pull", "-q", "--ff-only"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!clone1.join("literary").exists() && clone1.join("second").is_dir());
}

#[test]
fn only_the_dumb_http_files_of_a_repository_are_served() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    dmd.deployed(PACKAGE, &package(&["word-count-notebook"]));
    assert_eq!(dmd.create_as("literary", PACKAGE, "alice").code, 202);
    dmd.wait_status("/applications/literary/status", "CREATED");

    let refs = dmd.get("/notebooks/jupyter-alice/info/refs");
    assert_eq!(refs.code, 200);
    assert!(
        String::from_utf8_lossy(&refs.bytes).contains("refs/heads/master"),
        "{:?}",
        String::from_utf8_lossy(&refs.bytes)
    );
    let head = dmd.get("/notebooks/jupyter-alice/HEAD");
    assert_eq!(head.bytes, b"ref: refs/heads/master\n");
    for path in [
        "/notebooks/jupyter-alice/config",
        "/notebooks/jupyter-alice/dm-apps/literary",
        "/notebooks/jupyter-alice/index",
        "/notebooks/jupyter-alice/%2e%2e/%2e%2e/registry.db",
        "/notebooks/jupyter-alice/objects/%2e%2e/config",
        "/notebooks/jupyter-bob/HEAD",
        "/notebooks/other/HEAD",
    ] {
        let reply = dmd.get(path);
        assert_eq!(reply.code, 404, "{path}: {}", reply.body);
    }
}

#[test]
fn a_package_without_a_notebook_is_refused_with_pndas_finding() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    let bare = TarGz::new()
        .file(format!("{PACKAGE}/jupyter/empty/properties.json"), "{}")
        .file(
            format!("{PACKAGE}/jupyter/empty/notes.txt"),
            "no notebook here",
        )
        .bytes();
    let reply = dmd.upload(PACKAGE, &bare);
    assert_eq!(reply.code, 400, "{}", reply.body);
    let text = reply.body.to_string();
    assert!(
        text.contains("missing ipynb file") && text.contains("empty"),
        "the finding names the component: {text}"
    );
}

#[test]
fn a_create_that_fails_is_rolled_back_out_of_the_repository() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start(root.path());
    // Two notebook components of one application share its folder: the second is refused
    // (PNDA's "fails if it exists"), and the rollback takes the first out again.
    dmd.deployed(PACKAGE, &package(&["a-notebook", "b-notebook"]));
    assert_eq!(dmd.create_as("twice", PACKAGE, "alice").code, 202);
    let status = dmd.wait_status("/applications/twice/status", "NOTCREATED");
    let information = status["information"].as_str().unwrap_or_default();
    assert!(
        information.contains("jupyter/b-notebook") && information.contains("twice already exists"),
        "{status}"
    );
    let repo = dmd.data.join("git-repos/jupyter-alice");
    assert!(!repo.join("twice").exists());
    assert_eq!(
        log(&repo),
        [
            "dm <dm@localhost> deleted twice app notebooks",
            "dm <dm@localhost> added twice app notebooks",
            "dm <dm@localhost> Initial commit"
        ]
    );
    let out = git(&repo, &["status", "--porcelain"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "nothing left over"
    );
}

#[test]
fn a_create_cut_short_by_a_crash_is_rolled_back_at_the_next_start() {
    let root = tempfile::tempdir().unwrap();
    let (dmd, _supervisor) = start_with(root.path(), Some("create.component"), "");
    dmd.deployed(PACKAGE, &package(&["word-count-notebook"]));
    assert_eq!(dmd.create_as("literary", PACKAGE, "alice").code, 202);
    // The notebooks are committed; dmd dies before the application is CREATED.
    dmd.wait_paused("create.component");
    let repo = dmd.data.join("git-repos/jupyter-alice");
    assert!(repo.join("literary/literature.ipynb").is_file());
    dmd.kill();

    let (dmd, _supervisor) = start(root.path());
    let status = dmd.wait_status("/applications/literary/status", "NOTCREATED");
    assert!(
        status["information"]
            .as_str()
            .unwrap_or_default()
            .contains("Interrupted"),
        "{status}"
    );
    assert!(
        !repo.join("literary").exists(),
        "recovery took the folder out"
    );
    assert_eq!(
        log(&repo)[0],
        "dm <dm@localhost> deleted literary app notebooks"
    );
    let clone = clone(&dmd, "alice", root.path(), "after-crash");
    assert!(!clone.join("literary").exists());
}

#[test]
fn notebooks_show_dms_state_even_when_yarn_does_not_answer() {
    let root = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every ResourceManager call fails.
    let (dmd, _supervisor) = start_with(
        root.path(),
        None,
        "[yarn]\nrm_url = \"http://127.0.0.1:1\"\n",
    );
    dmd.deployed(PACKAGE, &package(&["word-count-notebook"]));
    assert_eq!(dmd.create_as("literary", PACKAGE, "alice").code, 202);
    dmd.wait_status("/applications/literary/status", "CREATED");
    let summary = wait_summary(&dmd, "literary", "jupyter-1", "CREATED");
    assert_eq!(
        summary["literary"]["aggregate_status"], "CREATED",
        "{summary}"
    );
    assert_eq!(summary["literary"]["jupyter-1"]["observed"]["source"], "dm");
}
