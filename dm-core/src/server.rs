//! Assembles dmd from its configuration (registry, repository, runtimes, engine, API), runs
//! start-up recovery, then serves HTTP until stopped.

use crate::api::{self, Api};
use crate::auth::Authenticator;
use crate::callbacks::Callbacks;
use crate::config::Config;
use crate::hdfs::Hdfs;
use crate::health::{self, HealthBoard};
use crate::lifecycle::{Dirs, Engine, EngineParts};
use crate::metrics::Metrics;
use crate::notebooks::NotebookRepos;
use crate::oozie::runner::OozieRunner;
use crate::pause_points::PauseHook;
use crate::plugin_runtime::{JobSettings, PluginRuntime, SupervisorLink};
use crate::registry::Registry;
use crate::repository::LocalStore;
use crate::runtime::{enable_test_components, Runtimes};
use crate::status::derive::Summarize;
use crate::status::{self, StatusBoard};
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use dm_plugin_api::host::{self, PluginInfo};
use packaging::{Limits, Reader, RuleSet};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub const REDACTED: &str = "********";

/// The engine and API state for `config`, after recovering from whatever the last run left.
pub fn build(config: &Config) -> anyhow::Result<web::Data<Api>> {
    let data = config.data_dir();
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create the data folder {}", data.display()))?;
    let lock = lock_data_dir(data)?;
    let registry =
        Arc::new(Registry::open(&data.join("registry.db")).map_err(|e| anyhow::anyhow!("{e}"))?);
    let repository = config.repository_dir();
    let store = Arc::new(
        LocalStore::open(&repository)
            .with_context(|| format!("cannot open the repository {}", repository.display()))?,
    );
    let dirs = Dirs::new(data)
        .with_context(|| format!("cannot create folders under {}", data.display()))?;

    let hdfs = Hdfs::from_config(&config.hdfs)
        .map_err(|e| anyhow::anyhow!(e))?
        .map(Arc::new);
    let oozie = match (config.oozie.client(), &hdfs) {
        (Some(oozie), Some(hdfs)) => Some(Arc::new(OozieRunner {
            oozie: Arc::new(oozie),
            hdfs: Arc::clone(hdfs),
            rm: config
                .yarn
                .rm_url
                .as_deref()
                .map(dm_clients::yarn::ResourceManager::new),
        })),
        (Some(_), None) => {
            log::warn!(
                "[oozie] url is set but [hdfs] namenode is not: Oozie components cannot be created"
            );
            None
        }
        _ => None,
    };
    let notebooks = Arc::new(NotebookRepos::new(config.jupyter_repos_root()));
    let mut rules = RuleSet::builtin();
    let mut runtimes = Runtimes::default();
    let mut summarizers = HashMap::new();
    let plugins = load_plugins(
        config,
        hdfs.clone(),
        oozie,
        Arc::clone(&notebooks),
        &mut rules,
        &mut runtimes,
        &mut summarizers,
    )?;
    if config.lifecycle.test_components {
        log::warn!("the no-op `test` component type is enabled (lifecycle.test_components): not for production");
        enable_test_components(&mut rules, &mut runtimes);
    }

    let mut environment = config.environment.clone();
    // Applications (and the Oozie plugin's application paths) read the NameNode as
    // `environment_name_node`; dmd's own HDFS is the default.
    if let Some(namenode) = &config.hdfs.namenode {
        environment
            .entry("name_node")
            .or_insert_with(|| Value::String(namenode.clone()));
    }
    let (mut endpoints, mut app_environment) = (Map::new(), Map::new());
    for (key, value) in &environment {
        if config.secrets.is_secret(key) {
            endpoints.insert(key.clone(), Value::String(REDACTED.into()));
        } else {
            endpoints.insert(key.clone(), value.clone());
            app_environment.insert(key.clone(), value.clone());
        }
    }

    let engine = Arc::new(Engine::new(EngineParts {
        registry: Arc::clone(&registry),
        store,
        metrics: Arc::new(Metrics::new()),
        reader: Reader::new(Limits::default(), rules),
        runtimes,
        dirs,
        app_environment,
        callbacks: Callbacks::start(&config.callbacks, Arc::clone(&registry)),
        hooks: PauseHook::from_env(data),
        hdfs: hdfs.clone(),
        savepoint_io: config.yarn.rm_url.as_deref().map(|rm_url| {
            Arc::new(crate::savepoints::flink_rest::RestIo::new(
                rm_url,
                hdfs.clone(),
            )) as Arc<dyn crate::savepoints::worker::FlinkIo>
        }),
        workers: config.lifecycle.workers,
    }));
    let report = engine
        .recover()
        .map_err(|e| anyhow::anyhow!("start-up recovery failed: {e}"))?;
    log::info!(
        "recovery resolved {} interrupted operation(s)",
        report.len()
    );
    if config.yarn.rm_url.is_some() {
        // After recovery: a trigger a crash left in flight is resolved by its first tick.
        crate::savepoints::worker::spawn(Arc::downgrade(&engine));
    }

    let (status, health) = observe(config, &registry, &engine, summarizers);
    Ok(web::Data::new(Api {
        engine,
        status,
        health,
        auth: Authenticator::new(&config.auth)?,
        auth_mode: config.auth.mode,
        policy: config.authorization.clone(),
        endpoints: Value::Object(endpoints),
        max_upload_bytes: config.repository.max_upload_bytes,
        max_json_bytes: config.server.max_json_bytes,
        body_idle_timeout: std::time::Duration::from_secs(config.server.body_idle_timeout_secs),
        secrets: config.secrets.clone(),
        plugins,
        notebooks,
        discovered: config.discovered.clone(),
        data_lock: lock,
    }))
}

/// Starts the status observer and the health probes, on the cluster endpoints of `[cluster]`
/// (defaulting to the supervisor's ResourceManager, `[hdfs]`'s NameNode and `[oozie]`'s url).
fn observe(
    config: &Config,
    registry: &Arc<Registry>,
    engine: &Arc<Engine>,
    summarizers: HashMap<String, Arc<dyn Summarize>>,
) -> (Arc<StatusBoard>, Arc<HealthBoard>) {
    let cluster = config.endpoints();
    let status = status::start(
        &config.status,
        status::Sources {
            registry: Arc::clone(registry),
            rm_url: cluster.rm_url.clone(),
            supervisor_socket: config.supervisor_dir().join("supervisor.sock"),
            flink_history_url: cluster.flink_history_urls.first().cloned(),
            oozie_url: cluster.oozie_url.clone(),
            summarizers,
        },
    );
    let health = health::start(
        &config.health,
        health::Targets {
            cluster,
            engine: Arc::clone(engine),
            status: Arc::clone(&status),
        },
    );
    (status, health)
}

/// Loads the runtime plugins of `[plugins] dir`: each validates its component type (in place
/// of the built-in rules) and runs its components through the supervisor. A file that is not a
/// plugin, or one built for another ABI, is logged and skipped; the others still load.
fn load_plugins(
    config: &Config,
    hdfs: Option<Arc<Hdfs>>,
    oozie: Option<Arc<OozieRunner>>,
    notebooks: Arc<NotebookRepos>,
    rules: &mut RuleSet,
    runtimes: &mut Runtimes,
    summarizers: &mut HashMap<String, Arc<dyn Summarize>>,
) -> anyhow::Result<Vec<PluginInfo>> {
    let Some(dir) = &config.plugins.dir else {
        return Ok(Vec::new());
    };
    let (plugins, refused) = host::load_dir(dir)
        .with_context(|| format!("cannot read the plugins folder {}", dir.display()))?;
    for error in refused {
        log::error!("{error}");
    }
    let supervisor = Arc::new(SupervisorLink::from_config(config));
    if !plugins.is_empty() {
        // Jobs left running by a crash of both processes are adopted as soon as a supervisor runs.
        let link = Arc::clone(&supervisor);
        std::thread::spawn(move || {
            if let Err(e) = link.ensure_running() {
                log::error!("{e}");
            }
        });
    }
    let jobs = JobSettings::from_config(config);
    let mut infos = Vec::new();
    for plugin in plugins {
        let plugin = Arc::new(plugin);
        let info = plugin.info();
        log::info!(
            "plugin {} {} loaded from {}",
            info.component_type,
            info.version,
            info.file
        );
        rules.register(plugin.clone());
        // Each plugin derives its components' summaries.
        summarizers.insert(info.component_type.clone(), plugin.clone());
        runtimes.register(Arc::new(PluginRuntime::new(
            plugin,
            jobs.clone(),
            Arc::clone(&supervisor),
            hdfs.clone(),
            oozie.clone(),
            Arc::clone(&notebooks),
        )));
        infos.push(info);
    }
    Ok(infos)
}

/// Two dmds on one data folder would each take the other's operations for interrupted ones:
/// the second refuses to start. The lock goes with the process, however it ends.
fn lock_data_dir(data: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = data.join("dmd.lock");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        anyhow::bail!(
            "another dmd is using the data folder {} (it holds {})",
            data.display(),
            path.display()
        );
    }
    Ok(file)
}

pub fn run(config: Config) -> anyhow::Result<()> {
    let api = build(&config)?;
    let engine = Arc::clone(&api.engine);
    let listen = config.server.listen;
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*")))
                .wrap_fn(api::count_requests)
                .configure(api::configure(api.clone()))
        })
        .workers(config.server.workers)
        .client_request_timeout(std::time::Duration::from_millis(config.server.header_timeout_ms))
        .max_connections(config.server.max_connections.div_ceil(config.server.workers))
        .bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
        // The bound address, which differs from `listen` for port 0.
        let bound: Vec<String> = server.addrs().iter().map(ToString::to_string).collect();
        log::info!("dmd listening on {}, data in {}", bound.join(", "), config.data_dir().display());
        server.run().await.context("HTTP server")?;
        let grace = std::time::Duration::from_secs(config.server.shutdown_grace_secs);
        log::info!("HTTP stopped; waiting up to {grace:?} for running operations");
        let engine = Arc::clone(&engine);
        let left = actix_web::rt::task::spawn_blocking(move || engine.drain(grace)).await.unwrap_or(0);
        if left > 0 {
            log::warn!("stopping with {left} operation(s) still running: recovery resolves them at the next start");
        }
        log::info!("dmd stopped");
        Ok(())
    })
}
