//! dmd's configuration: embedded defaults, then an optional TOML file, then `DMD__SECTION__KEY`
//! environment variables, then command-line flags (applied by the caller). Checked as a whole
//! by [`Config::validate`], which `dmd --check-config` runs too.

use crate::auth::{AuthMode, Policy};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Prefix of environment variables that override configuration keys:
/// `DMD__SERVER__LISTEN=127.0.0.1:5000` sets `[server] listen`.
pub const ENV_PREFIX: &str = "DMD__";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: Server,
    pub storage: Storage,
    pub repository: Repository,
    /// PNDA's `environment`: cluster endpoints, served by `/environment/endpoints` and handed to
    /// applications as `environment_<key>` properties.
    pub environment: Map<String, Value>,
    pub secrets: Secrets,
    pub callbacks: CallbackConfig,
    pub auth: Auth,
    pub authorization: Policy,
    pub lifecycle: Lifecycle,
    pub logging: Logging,
    pub plugins: Plugins,
    pub jobs: Jobs,
    pub supervisor: SupervisorConfig,
    pub yarn: YarnConfig,
    pub hdfs: crate::hdfs::HdfsConfig,
    pub oozie: crate::oozie::OozieConfig,
    pub jupyter: Jupyter,
    /// The cluster's service endpoints, for status observation and health probes.
    pub cluster: crate::cluster::ClusterConfig,
    pub status: crate::status::StatusConfig,
    pub health: crate::health::HealthConfig,
    /// Filling what is unset from dmd's surroundings ([`crate::discovery`]).
    pub discovery: crate::discovery::DiscoveryConfig,
    /// What discovery filled in and what is missing, for `GET /plugins`; not configurable.
    #[serde(skip)]
    pub discovered: crate::discovery::Report,
    /// Keys still used under their old names, each naming its new one ([`Config::load`]).
    #[serde(skip)]
    pub deprecated: Vec<String>,
    /// The same endpoint given different values under its old and new keys.
    #[serde(skip)]
    conflicts: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plugins {
    /// Folder of runtime plugins (`*.so`), loaded at start-up. A component type with a plugin
    /// is validated and run by it; without one, PNDA's built-in validation rules apply and its
    /// applications cannot be created.
    pub dir: Option<PathBuf>,
}

/// Where and how jobs run (what plugins plan for).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jobs {
    /// `yarn` (the cluster) or `local` (on this node, for laptops and demos).
    pub target: dm_plugin_api::Target,
    /// The engine installations: `flink_homes = { "2.3.0" = "/opt/flink" }`,
    /// `default_flink_version`, `spark_home`, `python`, `oozie_spark_version`.
    pub engines: dm_plugin_api::Engines,
    /// Savepoints go to `<savepoint_dir>/<application>/<component>`.
    pub savepoint_dir: Option<String>,
    /// Environment of every submit command and local job (e.g. `HADOOP_CONF_DIR`).
    pub env: BTreeMap<String, String>,
}

/// `jupyter` components' notebooks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jupyter {
    /// The users' notebook repositories, `jupyter-<user>` each (PNDA's `git_repos_root`);
    /// `<data_dir>/git-repos` when unset. Served read-only at `/notebooks/jupyter-<user>`.
    pub repos_root: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// Its state, logs and socket; `<data_dir>/supervisor` when unset.
    pub dir: Option<PathBuf>,
    /// The binary dmd starts when no supervisor answers; `dm-supervisor` beside `dmd` when unset.
    pub binary: Option<PathBuf>,
    /// Deprecated: `[yarn] rm_url`.
    pub yarn_rm: Option<String>,
}

/// YARN's ResourceManager: one key per endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct YarnConfig {
    /// Its web address (`http://rm:8088`): jobs on YARN, status, health.
    pub rm_url: Option<String>,
    /// Its RPC address (`rm:8032`), for the Flink jobs Oozie's actions submit.
    pub rm_address: Option<String>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            target: dm_plugin_api::Target::Local,
            engines: Default::default(),
            savepoint_dir: None,
            env: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub listen: SocketAddr,
    pub workers: usize,
    /// On SIGTERM/SIGINT, how long running operations may take to end before dmd exits.
    pub shutdown_grace_secs: u64,
    /// Largest JSON request body (`PUT /applications/{name}`); larger ones get 413.
    pub max_json_bytes: usize,
    /// A request's head (line and headers) must arrive within this, or the connection is
    /// closed with 408: a slow-loris client holds no connection longer.
    pub header_timeout_ms: u64,
    /// A request body (an upload) that sends nothing for this long is answered 408 and its
    /// staging file dropped.
    pub body_idle_timeout_secs: u64,
    /// Connections held open at once, across workers; past it new ones wait in the kernel's
    /// accept queue. Keeps dmd within its file descriptors however many clients connect.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Holds the registry, the repository (by default), deployed packages and applications.
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Repository {
    /// Folder of the local package store; `<data_dir>/repository` when unset.
    pub path: Option<PathBuf>,
    /// Largest package accepted by upload.
    pub max_upload_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Secrets {
    /// Environment keys containing any of these (case-insensitive) are secrets: redacted from
    /// `/environment/endpoints` and never handed to applications.
    pub key_patterns: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackConfig {
    /// PNDA's `package_callback`; empty disables.
    pub package: String,
    /// PNDA's `application_callback`; empty disables.
    pub application: String,
    pub timeout_ms: u64,
    pub retries: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub mode: AuthMode,
    /// Header carrying the user in `trusted-header` mode (set by the proxy, e.g. Knox).
    pub user_header: String,
    /// Optional header carrying comma-separated groups in `trusted-header` mode.
    pub groups_header: String,
    /// `bearer` mode: a file of lines `<token> <user> [group,group…]`; `#` starts a comment.
    pub tokens_file: Option<PathBuf>,
    /// Group memberships known to dmd: group name → users (e.g. `admin = ["alice"]`).
    pub groups: BTreeMap<String, Vec<String>>,
    /// Also take groups from the host (`/etc/passwd`, `/etc/group`) as PNDA did; users the
    /// host does not know are then refused (403).
    pub os_groups: bool,
    /// `trusted-header` mode: the peers whose user header (and `user.name`) are believed, the
    /// proxy's addresses; anyone else is answered 401. Loopback by default.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lifecycle {
    /// Enables the built-in no-op `test` component type. For dm's own tests only.
    pub test_components: bool,
    /// Operations run at once (PNDA's `deployer_thread_limit`); more wait their turn.
    pub workers: usize,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            test_components: false,
            workers: 32,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Logging {
    /// A log4rs YAML file; without one, dmd logs to the console at `level`.
    pub config: Option<PathBuf>,
    pub level: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: Server::default(),
            storage: Storage::default(),
            repository: Repository::default(),
            environment: Map::new(),
            secrets: Secrets::default(),
            callbacks: CallbackConfig::default(),
            auth: Auth::default(),
            authorization: Policy::default(),
            lifecycle: Lifecycle::default(),
            logging: Logging::default(),
            plugins: Plugins::default(),
            jobs: Jobs::default(),
            supervisor: SupervisorConfig::default(),
            yarn: YarnConfig::default(),
            hdfs: Default::default(),
            oozie: Default::default(),
            jupyter: Default::default(),
            cluster: Default::default(),
            status: Default::default(),
            health: Default::default(),
            discovery: Default::default(),
            discovered: Default::default(),
            deprecated: Vec::new(),
            conflicts: Vec::new(),
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            workers: 2,
            shutdown_grace_secs: 30,
            max_json_bytes: 1 << 20,
            header_timeout_ms: 5000,
            body_idle_timeout_secs: 30,
            max_connections: 4096,
        }
    }
}

impl Default for Repository {
    fn default() -> Self {
        Repository {
            path: None,
            max_upload_bytes: 2 << 30,
        }
    }
}

impl Default for Secrets {
    fn default() -> Self {
        let patterns = [
            "password",
            "secret",
            "token",
            "private_key",
            "credential",
            "access_key",
        ];
        Secrets {
            key_patterns: patterns.iter().map(|p| p.to_string()).collect(),
        }
    }
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            package: String::new(),
            application: String::new(),
            timeout_ms: 5000,
            retries: 3,
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            mode: AuthMode::None,
            user_header: "X-Forwarded-User".into(),
            groups_header: String::new(),
            tokens_file: None,
            groups: BTreeMap::new(),
            os_groups: false,
            trusted_proxies: vec![
                std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::Ipv6Addr::LOCALHOST.into(),
            ],
        }
    }
}

impl Secrets {
    /// The redaction rule: a name (environment key, property, variable) that contains one of
    /// `key_patterns`, ignoring case, holds a secret.
    pub fn is_secret(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        self.key_patterns
            .iter()
            .any(|p| key.contains(&p.to_ascii_lowercase()))
    }

    /// `value` with the value of every secret-named key, at any depth, replaced by
    /// [`crate::server::REDACTED`] (null stays null: nothing is hidden there).
    pub fn redact(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if self.is_secret(key) && !inner.is_null() {
                        *inner = Value::String(crate::server::REDACTED.into());
                    } else {
                        self.redact(inner);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact(v)),
            _ => {}
        }
    }
}

impl Config {
    /// Defaults, overlaid with `file` (if any) and then with `DMD__…` variables from `vars`.
    pub fn load(
        file: Option<&Path>,
        vars: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read config file {}: {e}", path.display())
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    // Only the position: the full error quotes the line, which may hold a secret.
                    let line = e
                        .span()
                        .map_or(0, |span| text[..span.start].matches('\n').count() + 1);
                    anyhow::anyhow!(
                        "config file {} is not valid TOML at line {line}: {}",
                        path.display(),
                        e.message()
                    )
                })?
            }
            None => toml::Table::new(),
        };
        for (name, value) in vars {
            if let Some(key) = name.strip_prefix(ENV_PREFIX) {
                apply_override(&mut table, key, &value)
                    .map_err(|e| anyhow::anyhow!("environment variable {name}: {e}"))?;
            }
        }
        let origin = file.map_or_else(|| "the defaults".to_string(), |p| p.display().to_string());
        let mut config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| anyhow::anyhow!("configuration from {origin}: {e}"))?;
        config.move_deprecated_keys();
        Ok(config)
    }

    /// Endpoints used to have several keys; each has one now. The old keys are read for one
    /// release: their value moves to the new key, with a warning naming it; different values
    /// under both are a problem.
    fn move_deprecated_keys(&mut self) {
        let (mut deprecated, mut conflicts) = (Vec::new(), Vec::new());
        let mut move_key = |old: &str,
                            new: &str,
                            value: Option<String>,
                            target: &mut Option<String>| {
            let Some(value) = value else { return };
            deprecated.push(format!(
                "{old} is deprecated and will be removed: use {new}"
            ));
            match target {
                Some(current) if *current != value => conflicts.push(format!(
                    "{old} ({value:?}) and {new} ({current:?}) name the same endpoint differently: keep {new}"
                )),
                Some(_) => {}
                None => *target = Some(value),
            }
        };
        let yarn = &mut self.yarn;
        move_key(
            "supervisor.yarn_rm",
            "yarn.rm_url",
            self.supervisor.yarn_rm.take(),
            &mut yarn.rm_url,
        );
        move_key(
            "cluster.rm_url",
            "yarn.rm_url",
            self.cluster.rm_url.take(),
            &mut yarn.rm_url,
        );
        move_key(
            "jobs.engines.yarn_rm_url",
            "yarn.rm_url",
            self.jobs.engines.yarn_rm_url.take(),
            &mut yarn.rm_url,
        );
        move_key(
            "jobs.engines.yarn_rm_address",
            "yarn.rm_address",
            self.jobs.engines.yarn_rm_address.take(),
            &mut yarn.rm_address,
        );
        move_key(
            "cluster.namenode_url",
            "hdfs.namenode",
            self.cluster.namenode_url.take(),
            &mut self.hdfs.namenode,
        );
        move_key(
            "cluster.namenode_http_url",
            "hdfs.namenode_http",
            self.cluster.namenode_http_url.take(),
            &mut self.hdfs.namenode_http,
        );
        move_key(
            "cluster.oozie_url",
            "oozie.url",
            self.cluster.oozie_url.take(),
            &mut self.oozie.url,
        );
        self.deprecated = deprecated;
        self.conflicts = conflicts;
    }

    /// The service endpoints, each from its one key.
    pub fn endpoints(&self) -> crate::cluster::Endpoints {
        crate::cluster::Endpoints {
            rm_url: self.yarn.rm_url.clone(),
            namenode_url: self.hdfs.namenode.clone(),
            namenode_http_url: self.hdfs.namenode_http.clone(),
            flink_history_urls: self.cluster.flink_history_urls.clone(),
            spark_history_url: self.cluster.spark_history_url.clone(),
            oozie_url: self.oozie.url.clone(),
        }
    }

    /// Everything that would stop dmd from running correctly, as one message per problem.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = self.conflicts.clone();
        if self.storage.data_dir.is_none() {
            problems.push(
                "storage.data_dir is not set (pass --data-dir or set [storage] data_dir)"
                    .to_string(),
            );
        }
        if self.server.workers == 0 {
            problems.push("server.workers must be at least 1".to_string());
        }
        for (key, value) in [
            ("server.max_json_bytes", self.server.max_json_bytes as u64),
            ("server.header_timeout_ms", self.server.header_timeout_ms),
            (
                "server.body_idle_timeout_secs",
                self.server.body_idle_timeout_secs,
            ),
            ("server.max_connections", self.server.max_connections as u64),
            (
                "repository.max_upload_bytes",
                self.repository.max_upload_bytes,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{key} must be at least 1"));
            }
        }
        if self.lifecycle.workers == 0 {
            problems.push("lifecycle.workers must be at least 1".to_string());
        }
        // Without authentication anyone who can connect may act as anyone: loopback only.
        if self.auth.mode == AuthMode::None && !self.server.listen.ip().is_loopback() {
            problems.push(format!(
                "auth.mode \"none\" is only allowed on a loopback address, but server.listen is {}",
                self.server.listen
            ));
        }
        if self.auth.mode == AuthMode::Bearer && self.auth.tokens_file.is_none() {
            problems.push("auth.mode \"bearer\" needs auth.tokens_file".to_string());
        }
        if self.auth.mode == AuthMode::TrustedHeader && self.auth.user_header.trim().is_empty() {
            problems.push("auth.mode \"trusted-header\" needs auth.user_header".to_string());
        }
        for (name, url) in [
            ("callbacks.package", &self.callbacks.package),
            ("callbacks.application", &self.callbacks.application),
        ] {
            // Plain HTTP only: PNDA's data logger speaks it, and dmd carries no TLS client.
            if !(url.is_empty() || url.starts_with("http://")) {
                problems.push(format!(
                    "{name} must be an http:// URL or empty, not {url:?}"
                ));
            }
        }
        problems.extend(self.authorization.problems());
        if let Some(dir) = &self.plugins.dir {
            if !dir.is_dir() {
                problems.push(format!("plugins.dir {} is not a folder", dir.display()));
            }
        }
        if self.jobs.target == dm_plugin_api::Target::Yarn && self.yarn.rm_url.is_none() {
            problems.push(
                "jobs.target \"yarn\" needs yarn.rm_url (the ResourceManager's web address)"
                    .to_string(),
            );
        }
        problems.extend(self.endpoints().problems());
        problems.extend(self.status.problems());
        problems.extend(self.health.problems());
        if let Some(path) = &self.logging.config {
            if let Err(e) = log4rs::config::load_config_file(path, Default::default()) {
                problems.push(format!("logging.config {}: {e}", path.display()));
            }
        }
        problems
    }

    pub fn data_dir(&self) -> &Path {
        self.storage
            .data_dir
            .as_deref()
            .expect("validated: data_dir is set")
    }

    pub fn supervisor_dir(&self) -> PathBuf {
        self.supervisor
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("supervisor"))
    }

    pub fn jupyter_repos_root(&self) -> PathBuf {
        self.jupyter
            .repos_root
            .clone()
            .unwrap_or_else(|| self.data_dir().join("git-repos"))
    }

    pub fn repository_dir(&self) -> PathBuf {
        self.repository
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir().join("repository"))
    }
}

/// Sets `section__key` (any depth, lower-cased) in `table`. The value is read as a TOML value
/// when it parses as one (`true`, `3`, `["a"]`), else taken as a plain string.
fn apply_override(table: &mut toml::Table, key: &str, value: &str) -> Result<(), String> {
    let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err("the name must look like DMD__SECTION__KEY".into());
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let (last, parents) = path.split_last().expect("non-empty");
    let mut current = table;
    for part in parents {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("{part} is not a section"))?;
    }
    current.insert(last.clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_need_only_a_data_dir() {
        let config = Config::load(None, vars(&[])).unwrap();
        assert_eq!(
            config.validate(),
            vec!["storage.data_dir is not set (pass --data-dir or set [storage] data_dir)"]
        );
        assert!(
            !config.lifecycle.test_components,
            "the test component type is off by default"
        );
    }

    #[test]
    fn old_endpoint_keys_still_work_with_a_warning_naming_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dm.toml");
        std::fs::write(
            &file,
            "[supervisor]\nyarn_rm = \"http://rm:8088\"\n[cluster]\noozie_url = \"http://oozie:11000/oozie\"\nnamenode_http_url = \"http://nn:9870\"\n[jobs.engines]\nyarn_rm_address = \"rm:8032\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), vars(&[])).unwrap();
        assert_eq!(config.yarn.rm_url.as_deref(), Some("http://rm:8088"));
        assert_eq!(config.yarn.rm_address.as_deref(), Some("rm:8032"));
        assert_eq!(
            config.oozie.url.as_deref(),
            Some("http://oozie:11000/oozie")
        );
        assert_eq!(
            config.endpoints().namenode_http_url.as_deref(),
            Some("http://nn:9870")
        );
        assert_eq!(config.endpoints().rm_url.as_deref(), Some("http://rm:8088"));
        assert_eq!(
            config.deprecated,
            [
                "supervisor.yarn_rm is deprecated and will be removed: use yarn.rm_url",
                "jobs.engines.yarn_rm_address is deprecated and will be removed: use yarn.rm_address",
                "cluster.namenode_http_url is deprecated and will be removed: use hdfs.namenode_http",
                "cluster.oozie_url is deprecated and will be removed: use oozie.url",
            ]
        );
        assert!(config.validate().iter().all(|p| !p.contains("endpoint")));
    }

    #[test]
    fn one_endpoint_with_two_values_is_a_problem_naming_both_keys() {
        let config = Config::load(
            None,
            vars(&[
                ("DMD__YARN__RM_URL", "http://rm-a:8088"),
                ("DMD__CLUSTER__RM_URL", "http://rm-b:8088"),
                ("DMD__STORAGE__DATA_DIR", "/tmp/dm"),
            ]),
        )
        .unwrap();
        assert_eq!(config.yarn.rm_url.as_deref(), Some("http://rm-a:8088"));
        let problems = config.validate();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("cluster.rm_url") && p.contains("yarn.rm_url")),
            "{problems:?}"
        );
        // New keys alone: no warning.
        let clean = Config::load(None, vars(&[("DMD__YARN__RM_URL", "http://rm:8088")])).unwrap();
        assert!(clean.deprecated.is_empty());
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dm.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:7000\"\n[storage]\ndata_dir = \"/x\"\n[environment]\nkafka = \"k:9092\"\n").unwrap();
        let config = Config::load(
            Some(&file),
            vars(&[
                ("DMD__SERVER__LISTEN", "127.0.0.1:7001"),
                ("DMD__LIFECYCLE__TEST_COMPONENTS", "true"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 7001);
        assert!(config.lifecycle.test_components);
        assert_eq!(config.environment["kafka"], "k:9092");
        assert!(config.validate().is_empty());
    }

    #[test]
    fn errors_name_the_culprit() {
        let err = Config::load(None, vars(&[("DMD__SERVER__LISTEN", "nonsense")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen") || err.contains("address"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dm.toml");
        std::fs::write(&file, "[server]\nlisen = 1\n").unwrap();
        let err = Config::load(Some(&file), vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen") && err.contains("dm.toml"), "{err}");
    }

    #[test]
    fn syntax_errors_do_not_echo_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dm.toml");
        std::fs::write(
            &file,
            "[environment]\nkafka = \"k\"\nhadoop_manager_password = \"hunter2\n",
        )
        .unwrap();
        let err = Config::load(Some(&file), vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dm.toml") && err.contains("line 3"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn no_auth_only_on_loopback() {
        let config = Config::load(
            None,
            vars(&[
                ("DMD__SERVER__LISTEN", "0.0.0.0:5000"),
                ("DMD__STORAGE__DATA_DIR", "/d"),
            ]),
        )
        .unwrap();
        let problems = config.validate();
        assert!(
            problems.iter().any(|p| p.contains("loopback")),
            "{problems:?}"
        );
    }

    #[test]
    fn callback_urls_are_plain_http() {
        let config = Config::load(
            None,
            vars(&[
                ("DMD__STORAGE__DATA_DIR", "/d"),
                ("DMD__CALLBACKS__PACKAGE", "https://logger:3001/packages"),
            ]),
        )
        .unwrap();
        assert_eq!(config.validate(), vec!["callbacks.package must be an http:// URL or empty, not \"https://logger:3001/packages\""]);
    }

    #[test]
    fn secret_keys() {
        let secrets = Secrets::default();
        assert!(secrets.is_secret("hadoop_manager_password"));
        assert!(secrets.is_secret("cluster_private_key"));
        assert!(!secrets.is_secret("kafka_brokers"));
        for name in [
            "DM_SECRET_KEY",
            "DB_PASSWORD",
            "API_TOKEN",
            "aws_access_key_id",
        ] {
            assert!(secrets.is_secret(name), "{name}");
        }
    }

    #[test]
    fn redaction_reaches_every_depth() {
        let mut value = serde_json::json!({
            "package": "p-1.0.0",
            "test": {"c1": {"db_password": "hunter2", "threads": "2", "api_token": null}},
            "list": [{"Secret_Key": 1}],
        });
        Secrets::default().redact(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "package": "p-1.0.0",
                "test": {"c1": {"db_password": "********", "threads": "2", "api_token": null}},
                "list": [{"Secret_Key": "********"}],
            })
        );
    }
}
