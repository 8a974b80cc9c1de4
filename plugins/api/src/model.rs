//! The data that crosses the plugin boundary: what `dmd` tells a plugin about a component, and
//! the plan the plugin answers with. `dmd` (with the supervisor) carries the plan out; plugins
//! do no I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A component as deployed: its files (relative to the component folder) and its
/// `properties.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentFiles {
    pub component_type: String,
    pub name: String,
    pub files: Vec<String>,
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// The text of the files the plugin reads ([`crate::ComponentPlugin::READS`]).
    #[serde(default)]
    pub contents: BTreeMap<String, String>,
}

impl ComponentFiles {
    pub fn has_file(&self, file: &str) -> bool {
        self.files.iter().any(|f| f == file)
    }
}

/// Where the job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Submitted to YARN; what is supervised is the YARN application.
    Yarn,
    /// On the edge node itself (Flink local executor, Spark `local[*]`), for laptops and demos.
    Local,
}

/// The engine installations `dmd` knows, from its config (or the mirror).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Engines {
    /// Flink homes by version, e.g. `{"2.3": "/opt/flink-2.3.0", "1.20": …}`.
    #[serde(default)]
    pub flink_homes: BTreeMap<String, String>,
    /// Flink configuration folders by version (`FLINK_CONF_DIR` of that version's commands),
    /// when they are not the home's `conf/`: several versions side by side each need their own.
    #[serde(default)]
    pub flink_conf_dirs: BTreeMap<String, String>,
    /// The version used when a component names none.
    #[serde(default)]
    pub default_flink_version: Option<String>,
    #[serde(default)]
    pub spark_home: Option<String>,
    /// The Python interpreter for Python jobs (`python3` when unset).
    #[serde(default)]
    pub python: Option<String>,
    /// The Spark major version of the cluster's Oozie sharelib (PNDA's `oozie_spark_version`).
    #[serde(default)]
    pub oozie_spark_version: Option<String>,
    /// Flink distribution tarballs on HDFS by version (e.g. uploaded from dm's mirror), for
    /// Flink jobs that Oozie runs on a NodeManager: `{"2.3.0": "hdfs:///dm/dists/flink-2.3.0.tgz"}`.
    #[serde(default)]
    pub flink_dists: BTreeMap<String, String>,
    /// The ResourceManager's address (`host:port`), for Oozie actions.
    #[serde(default)]
    pub yarn_rm_address: Option<String>,
    /// The ResourceManager's web URL (dmd: `[supervisor] yarn_rm` unless set).
    #[serde(default)]
    pub yarn_rm_url: Option<String>,
    /// JAVA_HOME, HADOOP_CONF_DIR, HADOOP_CLASSPATH of the cluster's nodes, for jobs launched
    /// there (dmd: from `[jobs.env]` unless set).
    #[serde(default)]
    pub cluster_env: BTreeMap<String, String>,
    /// Where the users' notebook repositories live (PNDA's `git_repos_root`; dmd: from
    /// `[jupyter] repos_root`).
    #[serde(default)]
    pub git_repos_root: Option<String>,
}

/// Everything a plugin needs to plan a component of an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    pub application: String,
    pub user: String,
    pub component: ComponentFiles,
    /// The resolved property map (PNDA's layering: `environment_*`, `component_*`,
    /// `application_*`, …).
    pub properties: Map<String, Value>,
    pub target: Target,
    pub engines: Engines,
    /// The folder on the edge node holding the component's rendered files; the job's working
    /// directory.
    pub workdir: String,
    /// The time of the request (ms since the epoch), for plans that schedule (Oozie windows).
    #[serde(default)]
    pub now_ms: u64,
}

/// What to do to run a component: a supervised job, or an Oozie workflow or coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Component files to fill with the properties before anything runs (PNDA's templating),
    /// relative to the component folder.
    pub render: Vec<String>,
    /// Files the plugin makes, relative path → text, written into the component folder (over
    /// a file of that name) before the files are rendered.
    #[serde(default)]
    pub write: BTreeMap<String, String>,
    #[serde(default)]
    pub job: Option<Job>,
    #[serde(default)]
    pub oozie: Option<OozieJob>,
    #[serde(default)]
    pub notebooks: Option<Notebooks>,
    /// What the plugin changed or ignored in the component's properties (e.g. Flink 1.x
    /// options translated); dmd logs them and keeps them with the plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Notebooks committed to the user's git repository, which JupyterHub clones over HTTP
/// (PNDA's `jupyter`). At create dmd makes the repository if missing (committing `readme` as
/// `README.ipynb`), refuses if `<repo>/<folder>` exists, copies `files` from the component
/// folder (after rendering) into it, writes `properties.json` and commits; destroy removes the
/// folder with a commit. Start and stop do nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notebooks {
    /// The user's repository, `<repos root>/jupyter-<user>`.
    pub repo: String,
    /// The application's folder in the repository (one path segment).
    pub folder: String,
    /// Component files copied into the folder, relative to the component folder.
    pub files: Vec<String>,
    /// The text of `<folder>/properties.json`.
    pub properties_json: String,
    /// `README.ipynb` of a new repository.
    pub readme: String,
    pub initial_commit: String,
    pub added_commit: String,
    pub deleted_commit: String,
}

/// An Oozie workflow or coordinator. dmd copies the component to `hdfs_dir`, submits the
/// configuration (the job waits in PREP, suspended); start resumes it, stop suspends it,
/// destroy kills it and removes `hdfs_dir`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OozieJob {
    pub kind: OozieKind,
    /// HDFS folder of the application (absolute path, without the NameNode).
    pub hdfs_dir: String,
    /// File and folder names not copied to HDFS, at any depth (descriptors).
    pub skip: Vec<String>,
    /// The job configuration, in order.
    pub configuration: Vec<(String, String)>,
    /// The user the job runs as (Oozie's `user.name`).
    pub user: String,
    /// YARN tags of the applications the job's actions start themselves (Flink jobs), which
    /// Oozie's suspend and kill do not reach: stop and destroy kill them by these tags.
    #[serde(default)]
    pub yarn_tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OozieKind {
    Workflow,
    Coordinator,
}

impl OozieJob {
    /// The configuration as Oozie's REST API takes it, every name and value XML-escaped (PNDA
    /// did not escape, so `&` or `<` in a property broke or injected into the submission).
    pub fn configuration_xml(&self) -> String {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><configuration>");
        for (name, value) in &self.configuration {
            xml.push_str("<property><name>");
            xml.push_str(&escape_xml(name));
            xml.push_str("</name><value>");
            xml.push_str(&escape_xml(value));
            xml.push_str("</value></property>");
        }
        xml.push_str("</configuration>");
        xml
    }
}

fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A supervised job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Unique name of the job (`<app>-<component>-job`), also its YARN application name.
    pub name: String,
    pub kind: JobKind,
    /// The command that submits (YARN) or runs (local) the job. Runs in the workdir.
    pub submit: Command,
    pub respawn: Respawn,
    /// How to find the job on YARN; `None` on the local target.
    pub yarn: Option<YarnApp>,
    /// How to stop the job, tried in order until one succeeds.
    pub stop: Vec<StopStep>,
    /// The job takes Flink savepoints: dmd catalogs them and triggers, restores and disposes of
    /// them through the JobManager's REST API.
    #[serde(default)]
    pub savepoints: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Streaming,
    Batch,
}

/// An argv vector (never a shell string) plus environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub argv: Vec<Arg>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// One argument. Values known only at run time are slots the executor fills; user-supplied text
/// is always a literal and never expanded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Arg {
    Literal(String),
    /// `prefix` followed by the slot's value, as one argument (e.g. `-Dyarn.tags=` + tags).
    Slot {
        prefix: String,
        slot: Slot,
    },
    /// `flag` and then the slot's value as two arguments, only when the slot has a value
    /// (e.g. `-s <savepoint>` when restoring).
    IfSet {
        flag: String,
        if_set: Slot,
    },
}

impl Arg {
    pub fn lit(s: impl Into<String>) -> Arg {
        Arg::Literal(s.into())
    }
}

/// Run-time values an argument may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// The YARN tags of this attempt, comma-separated (the plan's tags plus the attempt's).
    YarnTags,
    YarnApplicationId,
    FlinkJobId,
    /// Where savepoints of this component go.
    SavepointDir,
    /// The savepoint to restore from, when there is one.
    RestoreFrom,
    /// `true` when the start may drop state the restored savepoint has for operators the job
    /// no longer has (Flink's `--allowNonRestoredState`), else `false`.
    AllowNonRestoredState,
}

/// Expands `argv` with the executor's run-time values. A slot without a value is an error,
/// except in [`Arg::IfSet`].
pub fn expand(
    argv: &[Arg],
    value_of: &dyn Fn(Slot) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(argv.len());
    for arg in argv {
        match arg {
            Arg::Literal(s) => out.push(s.clone()),
            Arg::Slot { prefix, slot } => {
                let value = value_of(*slot).ok_or_else(|| format!("no value for {slot:?}"))?;
                out.push(format!("{prefix}{value}"));
            }
            Arg::IfSet { flag, if_set } => {
                if let Some(value) = value_of(*if_set) {
                    out.push(flag.clone());
                    out.push(value);
                }
            }
        }
    }
    Ok(out)
}

/// When to run a job again after it ended (systemd's vocabulary, as PNDA's `respawn_type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Respawn {
    pub policy: RespawnPolicy,
    /// Seconds to wait before the first respawn (doubling up to a cap on repeats).
    pub delay_sec: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RespawnPolicy {
    Always,
    OnFailure,
    OnSuccess,
    No,
}

impl RespawnPolicy {
    /// PNDA's `respawn_type` values (systemd `Restart=`), `None` for an unknown one.
    pub fn parse(s: &str) -> Option<RespawnPolicy> {
        match s {
            "always" => Some(RespawnPolicy::Always),
            "on-failure" => Some(RespawnPolicy::OnFailure),
            "on-success" => Some(RespawnPolicy::OnSuccess),
            "no" => Some(RespawnPolicy::No),
            _ => None,
        }
    }
}

/// How to recognise the job's YARN applications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YarnApp {
    /// YARN's `applicationType` (`Apache Flink`, `SPARK`).
    pub application_type: String,
    /// Tags every attempt carries (YARN lower-cases tags).
    pub tags: Vec<String>,
}

/// One way of stopping a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopStep {
    /// Run a command; success is exit status 0 within the timeout. With `savepoint`, its output
    /// names the savepoint written, which is recorded for the next start.
    Run {
        command: Command,
        timeout_sec: u64,
        savepoint: bool,
    },
    /// Kill the YARN application through the ResourceManager.
    YarnKill,
    /// Signal the local process group, then SIGKILL after the grace period.
    Signal { grace_sec: u64 },
}
