//! The status observer: what each application's components are really doing, in PNDA's
//! summary shapes (pnda-dm.md §5.6), kept in memory for `/applications/{a}/summary` and
//! `/detail`.
//!
//! Here: the observer thread and its cycle; the published board is `board.rs`, `[status]`
//! `config.rs`, the per-application metric `metrics.rs`.
//!
//! A background thread runs one cycle every `[status] interval_secs`: one ResourceManager call
//! for all of dm's YARN applications (tag `dm`), then, for running jobs only, Flink's or Spark's
//! REST API through the tracking URL, the supervisor for jobs not on YARN, and, once per failed
//! YARN run, its ApplicationMaster's log for the root exception; those calls run `concurrency`
//! at a time, each bounded by `timeout_ms`.
//! The API only ever swaps in or reads the finished snapshot.
//!
//! Every component summary says where it came from and when (`observed`). A source that does
//! not answer makes the component `UNKNOWN` with `since` and the `last_good` observation — never
//! a guessed FAILED: FAILED needs evidence (YARN's final state, the supervisor giving up).

mod board;
mod config;
pub mod derive;
pub mod engines;
mod metrics;
pub mod rollup;

use board::{AppView, Snapshot};
pub use board::{Kpi, StatusBoard};
pub use config::StatusConfig;

use crate::cluster::now_ms;
use crate::oozie::summary as oozie_summary;
use crate::registry::{self, AppState, Registry};
use derive::{ComponentRef, LastDerived, Staleness, Status, Summarize};
use dm_clients::flink::Flink;
use dm_clients::oozie::Oozie;
use dm_clients::spark::Spark;
use dm_clients::yarn::{ResourceManager, YarnApp};
use dm_clients::HttpClient;
use dm_plugin_api::identity;
use dm_plugin_api::observe::{
    Engine, EngineSeen, FlinkHistory, Observations, Observe, OozieSeen, YarnSeen,
};
use dm_supervisor::client::Client;
use dm_supervisor::protocol::{JobReport, Request, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the observer needs to know of the rest of dmd.
pub struct Sources {
    pub registry: Arc<Registry>,
    /// The ResourceManager's web address; without one, no component is looked for on YARN.
    pub rm_url: Option<String>,
    /// The supervisor's socket (asked only if it exists).
    pub supervisor_socket: PathBuf,
    /// Where finished Flink jobs are shown (the first HistoryServer).
    pub flink_history_url: Option<String>,
    /// Oozie, for `oozie` components (PNDA's Oozie summary).
    pub oozie_url: Option<String>,
    /// Each plugin's type and the plugin; other types are [`derive::BuiltIn`]'s.
    pub summarizers: HashMap<String, Arc<dyn Summarize>>,
}

/// Starts the observer thread; its results appear on the returned board.
pub fn start(config: &StatusConfig, sources: Sources) -> Arc<StatusBoard> {
    let interval = Duration::from_secs_f64(config.interval_secs);
    let board = Arc::new(StatusBoard::new(interval));
    let timeout = Duration::from_millis(config.timeout_ms);
    let http = HttpClient::builder()
        .connect_timeout(timeout)
        .total_timeout(timeout)
        .build();
    let mut observer = Observer {
        rm: sources
            .rm_url
            .as_deref()
            .map(|url| ResourceManager::with_timeouts(url, timeout, timeout)),
        flink: Flink::new(http.clone()),
        spark: Spark::new(http.clone()),
        http,
        oozie: sources
            .oozie_url
            .as_deref()
            .map(|url| Oozie::with_timeouts(url, timeout, timeout)),
        timeout,
        supervisor_socket: sources.supervisor_socket,
        flink_history: sources.flink_history_url,
        concurrency: config.concurrency,
        registry: sources.registry,
        board: Arc::clone(&board),
        apps: HashMap::new(),
        rm_down_since: None,
        summarizers: sources.summarizers,
    };
    std::thread::Builder::new()
        .name("dm-status".into())
        .spawn(move || loop {
            let started = Instant::now();
            observer.cycle();
            release_freed_memory();
            std::thread::sleep(interval.saturating_sub(started.elapsed()));
        })
        .expect("start the status observer thread");
    board
}

/// Gives the pages the last snapshot freed back to the OS: glibc keeps them otherwise, and a
/// cycle over 10,000 applications frees a few MB that the next one allocates again elsewhere.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One component of an application, and what the observer remembers of it between cycles.
struct Component {
    /// PNDA's summary key, `<type>-<n>`.
    key: String,
    /// Its type, name and job name.
    id: ComponentRef,
    /// Its plugin (or dmd) and what it declared to observe.
    summarizer: Arc<dyn Summarize>,
    observe: Observe,
    /// The last observations and the summary derived from them.
    derived: LastDerived,
    /// The YARN tag of this component's applications.
    tag: String,
    staleness: Staleness,
    /// The Flink job last seen running, to link its page on the HistoryServer once it ended.
    flink_jid: Option<String>,
    /// The root cause found for a failed YARN application: (its id, the cause).
    failure: Option<(String, String)>,
    /// The Oozie job of an `oozie` component, once created.
    oozie_job: Option<String>,
}

struct Tracked {
    updated_at: String,
    state: AppState,
    app_tag: String,
    components: Vec<Component>,
}

/// A call the cycle makes beside the RM, run on the bounded pool.
enum Task {
    Flink {
        tracking: String,
    },
    Spark {
        tracking: String,
        id: String,
    },
    Supervisor {
        job: String,
    },
    /// Why a YARN application failed: its ApplicationMaster's log, else what the supervisor
    /// recorded (`job`, for plugin components), else YARN's diagnostics.
    Failure {
        app: Arc<YarnApp>,
        job: Option<String>,
    },
    /// PNDA's summary of an Oozie job and its actions.
    Oozie {
        job: String,
    },
}

enum TaskResult {
    Flink(Result<engines::FlinkView, String>),
    Spark(Result<engines::SparkView, String>),
    Supervisor(Result<Option<JobReport>, String>),
    Failure(String),
    Oozie(Result<dm_plugin_api::observe::OozieJob, String>),
}

/// What is observed of a component before its task (if any) has answered.
struct Pending {
    observations: Observations,
    yarn: Option<Arc<YarnApp>>,
    task: Option<usize>,
}

struct Observer {
    registry: Arc<Registry>,
    rm: Option<ResourceManager>,
    /// NodeManagers' container logs.
    http: HttpClient,
    flink: Flink,
    spark: Spark,
    oozie: Option<Oozie>,
    timeout: Duration,
    supervisor_socket: PathBuf,
    flink_history: Option<String>,
    concurrency: usize,
    board: Arc<StatusBoard>,
    apps: HashMap<String, Tracked>,
    rm_down_since: Option<i64>,
    summarizers: HashMap<String, Arc<dyn Summarize>>,
}

impl Observer {
    fn cycle(&mut self) {
        let started = Instant::now();
        if let Err(e) = self.refresh_applications() {
            log::warn!("status: cannot read the applications: {e}");
            return;
        }
        let now = now_ms();
        let yarn = self.rm.as_ref().map(|rm| {
            self.board.rm_calls.inc();
            rm.apps_tagged(identity::DM_TAG).map_err(|e| e.to_string())
        });
        let yarn = match yarn {
            Some(Ok(apps)) => {
                self.rm_down_since = None;
                // Shared by the snapshot's details, never copied.
                Some(Ok(apps.into_iter().map(Arc::new).collect::<Vec<_>>()))
            }
            Some(Err(e)) => {
                let since = *self.rm_down_since.get_or_insert(now);
                Some(Err((e, since)))
            }
            None => None,
        };
        // (application tag, component tag) → the component's YARN applications, newest first.
        // Keyed by both: components of the same name in different applications share a tag.
        let mut by_tag: HashMap<(&str, &str), Vec<&Arc<YarnApp>>> = HashMap::new();
        if let Some(Ok(apps)) = &yarn {
            for app in apps {
                let tags = app.application_tags.as_deref().unwrap_or("");
                let Some(app_tag) = tags
                    .split(',')
                    .find(|t| t.starts_with(identity::APP_TAG_PREFIX))
                else {
                    continue;
                };
                for tag in tags
                    .split(',')
                    .filter(|t| t.starts_with(identity::COMPONENT_TAG_PREFIX))
                {
                    by_tag.entry((app_tag, tag)).or_default().push(app);
                }
            }
            for list in by_tag.values_mut() {
                list.sort_by_key(|a| std::cmp::Reverse(a.started_time));
            }
        }

        let mut tasks = Vec::new();
        let mut pending: Vec<(String, Vec<Pending>)> = Vec::with_capacity(self.apps.len());
        for (name, tracked) in &self.apps {
            let list = tracked
                .components
                .iter()
                .map(|c| {
                    let apps: &[&Arc<YarnApp>] = match (&yarn, c.observe) {
                        (Some(Ok(_)), Observe::Yarn { .. }) => by_tag
                            .get(&(tracked.app_tag.as_str(), c.tag.as_str()))
                            .map_or(&[], Vec::as_slice),
                        _ => &[],
                    };
                    let seen = match (&yarn, c.observe) {
                        (_, Observe::Oozie | Observe::Nothing) | (None, _) => YarnSeen::NotWatched,
                        (Some(Err((e, since))), _) => YarnSeen::Silent {
                            error: e.clone(),
                            since: *since,
                        },
                        (Some(Ok(_)), _) => derive::yarn_seen(apps),
                    };
                    let latest = apps.first().copied();
                    self.plan(name, tracked.state, c, seen, latest, now, &mut tasks)
                })
                .collect();
            pending.push((name.clone(), list));
        }

        let results = self.run(&tasks);

        let mut snapshot = Snapshot {
            apps: HashMap::with_capacity(pending.len()),
            kpis: Vec::new(),
        };
        for (name, list) in pending {
            let Some(tracked) = self.apps.get_mut(&name) else {
                continue;
            };
            let mut view = AppView {
                aggregate: Status::NotFound,
                at: now,
                components: Vec::with_capacity(list.len()),
                yarn: Vec::new(),
            };
            for (component, mut p) in tracked.components.iter_mut().zip(list) {
                if let Some(i) = p.task {
                    let result = results[i].lock().unwrap_or_else(|e| e.into_inner()).take();
                    finish(component, &mut p, result, &name, &mut snapshot.kpis);
                }
                if let Some(app) = p.yarn.take() {
                    let id = &component.id;
                    view.yarn
                        .push((id.component_type.clone(), id.name.clone(), app));
                }
                let summary = component.derived.summary(
                    &*component.summarizer,
                    &component.id,
                    p.observations,
                );
                let summary = component.staleness.settle(summary, now);
                view.components.push((component.key.clone(), summary));
            }
            let statuses = view.components.iter().map(|(_, c)| c.aggregate_status);
            let Some(aggregate) = rollup::aggregate(statuses) else {
                continue;
            };
            view.aggregate = aggregate;
            snapshot.apps.insert(name.clone(), view.publish(&name));
        }
        self.board.publish(snapshot, started.elapsed());
    }

    /// What is observed of a component before the calls of the cycle, and the call its
    /// declaration still needs: its engine while its newest YARN application (`latest`) runs,
    /// the root cause once it failed, the supervisor off YARN, Oozie for an Oozie job.
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &self,
        app: &str,
        state: AppState,
        c: &Component,
        yarn: YarnSeen,
        latest: Option<&Arc<YarnApp>>,
        now: i64,
        tasks: &mut Vec<Task>,
    ) -> Pending {
        let mut observations = Observations {
            now,
            dm: derive::dm_state(state),
            yarn,
            failure: None,
            engine: None,
            flink_history: None,
            supervisor: None,
            oozie: None,
        };
        let mut task = None;
        let supervised = matches!(
            c.observe,
            Observe::Yarn {
                supervised: true,
                ..
            }
        );
        if let Observe::Yarn {
            engine: Some(Engine::Flink),
            ..
        } = c.observe
        {
            observations.flink_history = Some(FlinkHistory {
                url: self.flink_history.clone(),
                last_jid: c.flink_jid.clone(),
            });
        }
        if c.observe == Observe::Oozie {
            observations.oozie = Some(match (&c.oozie_job, &self.oozie) {
                (None, _) => OozieSeen::NoJob,
                (Some(_), None) => OozieSeen::NoOozie,
                (Some(job), Some(_)) => {
                    task = Some(push(tasks, Task::Oozie { job: job.clone() }));
                    // Until its answer comes (`finish`).
                    OozieSeen::Answer(Err("Oozie was not asked".into()))
                }
            });
        }
        if let YarnSeen::Apps {
            latest: Some(seen), ..
        } = &observations.yarn
        {
            let latest = latest.expect("seen on YARN");
            let tracking = seen.tracking_url.clone().unwrap_or_default();
            match derive::engine_to_ask(c.observe, seen) {
                Some(Engine::Flink) => task = Some(push(tasks, Task::Flink { tracking })),
                Some(Engine::Spark) => {
                    let id = seen.id.clone();
                    task = Some(push(tasks, Task::Spark { tracking, id }));
                }
                None => {}
            }
            if derive::failed(seen) {
                match &c.failure {
                    // Found once per failed application: its logs do not change any more.
                    Some((id, reason)) if *id == seen.id => {
                        observations.failure = Some(reason.clone());
                    }
                    _ => {
                        let job = supervised.then(|| job_id(app, c));
                        let app = Arc::clone(latest);
                        task = Some(push(tasks, Task::Failure { app, job }));
                    }
                }
            }
        } else if derive::ask_supervisor(c.observe, &observations.yarn, state) {
            let job = job_id(app, c);
            task = Some(push(tasks, Task::Supervisor { job }));
        }
        Pending {
            observations,
            yarn: latest.cloned(),
            task,
        }
    }

    /// Runs the cycle's tasks, `concurrency` at a time; result `i` belongs to task `i`.
    fn run(&self, tasks: &[Task]) -> Vec<Mutex<Option<TaskResult>>> {
        let results: Vec<Mutex<Option<TaskResult>>> =
            tasks.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let workers = self.concurrency.min(tasks.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(i) else { break };
                    let result = self.execute(task);
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                });
            }
        });
        results
    }

    fn execute(&self, task: &Task) -> TaskResult {
        match task {
            Task::Flink { tracking } => {
                TaskResult::Flink(engines::flink(&self.flink, tracking).map_err(|e| e.to_string()))
            }
            Task::Spark { tracking, id } => TaskResult::Spark(
                engines::spark(&self.spark, tracking, id).map_err(|e| e.to_string()),
            ),
            Task::Supervisor { job } => TaskResult::Supervisor(self.supervisor_job(job)),
            Task::Failure { app, job } => TaskResult::Failure(self.failure(app, job.as_deref())),
            Task::Oozie { job } => {
                let oozie = self.oozie.as_ref().expect("planned only with an Oozie");
                let facts = oozie_summary::LiveFacts {
                    oozie,
                    rm: self.rm.as_ref(),
                };
                TaskResult::Oozie(oozie_summary::component_summary(&facts, job))
            }
        }
    }

    fn failure(&self, app: &YarnApp, job: Option<&str>) -> String {
        if let Some(cause) = self.root_cause_in_logs(app) {
            return cause;
        }
        let recorded = job
            .and_then(|job| self.supervisor_job(job).ok().flatten())
            .and_then(|report| {
                let attempt = report
                    .attempts
                    .iter()
                    .rev()
                    .find(|a| a.yarn_application_id.as_deref() == Some(app.id.as_str()))?;
                attempt.reason.clone()
            });
        recorded.unwrap_or_else(|| dm_plugin_api::summarize::diagnostics(&derive::yarn_app(app)))
    }

    /// The root exception in the ApplicationMaster container's logs, read from its NodeManager
    /// (YARN keeps them there for a while without log aggregation): Flink's JobManager log,
    /// else the container's stderr (a Spark driver's).
    fn root_cause_in_logs(&self, app: &YarnApp) -> Option<String> {
        ["jobmanager.log", "stderr"].iter().find_map(|file| {
            let url = app.am_log_url(file, 256 * 1024)?;
            let text = self.http.get_text(&url).ok()?;
            dm_supervisor::process::root_cause(&text)
        })
    }

    /// `Ok(None)` when the supervisor has no such job.
    fn supervisor_job(&self, id: &str) -> Result<Option<JobReport>, String> {
        if !self.supervisor_socket.exists() {
            return Err("the supervisor is not running".into());
        }
        let client = Client::new(&self.supervisor_socket);
        match client.call(&Request::Status { id: id.to_string() }, self.timeout) {
            Ok(Response::Job { job }) => Ok(Some(job)),
            Ok(Response::Error { message }) if message.starts_with("no job") => Ok(None),
            Ok(other) => Err(format!("unexpected answer from the supervisor: {other:?}")),
            Err(e) => Err(format!("the supervisor does not answer: {e}")),
        }
    }

    /// Re-reads the components of applications whose registry row changed since the last cycle.
    fn refresh_applications(&mut self) -> Result<(), crate::error::DmError> {
        let rows: Vec<(String, String, String)> = self.registry.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, state, updated_at FROM applications WHERE state != 'NOTCREATED'",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        let mut seen = HashMap::with_capacity(rows.len());
        for (name, state, updated_at) in rows {
            let state = AppState::parse(&state).unwrap_or(AppState::NotCreated);
            let fresh = self
                .apps
                .get(&name)
                .is_some_and(|t| t.updated_at == updated_at);
            if !fresh {
                if let Some(row) = self.registry.read(|c| registry::get_app(c, &name))? {
                    let mut components =
                        components_of(&row.name, row.create_data.as_ref(), &self.summarizers);
                    // Keep what was learnt about components that are still there.
                    if let Some(old) = self.apps.remove(&name) {
                        for (new, old) in components.iter_mut().zip(old.components) {
                            if new.key == old.key && new.id.name == old.id.name {
                                new.staleness = old.staleness;
                                new.derived = old.derived;
                                new.flink_jid = old.flink_jid;
                                new.failure = old.failure;
                            }
                        }
                    }
                    self.apps.insert(
                        name.clone(),
                        Tracked {
                            updated_at,
                            state,
                            app_tag: identity::app_tag(&name),
                            components,
                        },
                    );
                }
            }
            seen.insert(name, ());
        }
        self.apps.retain(|name, _| seen.contains_key(name));
        Ok(())
    }
}

fn push(tasks: &mut Vec<Task>, task: Task) -> usize {
    tasks.push(task);
    tasks.len() - 1
}

/// Completes a component's observations with what its task found (and remembers what later
/// cycles need of it).
fn finish(
    c: &mut Component,
    p: &mut Pending,
    result: Option<TaskResult>,
    app: &str,
    kpis: &mut Vec<Kpi>,
) {
    let obs = &mut p.observations;
    match result {
        Some(TaskResult::Flink(view)) => {
            if let Ok(view) = &view {
                if let Some(jid) = &view.jid {
                    c.flink_jid = Some(jid.clone());
                }
                for (metric, value) in &view.kpis {
                    if let Some(value) = value.as_f64() {
                        kpis.push(Kpi {
                            application: app.to_string(),
                            component: c.id.name.clone(),
                            metric: metric.clone(),
                            value,
                        });
                    }
                }
            }
            obs.engine = Some(EngineSeen::Flink(view));
        }
        Some(TaskResult::Spark(view)) => obs.engine = Some(EngineSeen::Spark(view)),
        Some(TaskResult::Oozie(answer)) => obs.oozie = Some(OozieSeen::Answer(answer)),
        Some(TaskResult::Failure(cause)) => {
            if let Some(app) = &p.yarn {
                c.failure = Some((app.id.clone(), cause.clone()));
            }
            obs.failure = Some(cause);
        }
        Some(TaskResult::Supervisor(report)) => {
            obs.supervisor = Some(derive::supervisor_seen(report));
        }
        None => {}
    }
}

/// The supervisor's id of a component's job.
fn job_id(app: &str, c: &Component) -> String {
    identity::job_id(app, &c.id.component_type, &c.id.name)
}

/// The components of an application's create data, in order, keyed `<type>-<n>` as PNDA did.
fn components_of(
    app: &str,
    create_data: Option<&Value>,
    summarizers: &HashMap<String, Arc<dyn Summarize>>,
) -> Vec<Component> {
    let Some(Value::Object(types)) = create_data else {
        return Vec::new();
    };
    let mut list = Vec::new();
    for (ty, components) in types {
        for c in components.as_array().into_iter().flatten() {
            let Some(name) = c["component_name"].as_str() else {
                continue;
            };
            let job_name = c["properties"]["component_job_name"]
                .as_str()
                .map_or_else(|| identity::default_job_name(app, name), str::to_string);
            let summarizer = summarizers
                .get(ty)
                .cloned()
                .unwrap_or_else(|| Arc::new(derive::BuiltIn));
            list.push(Component {
                key: format!("{ty}-{}", list.len() + 1),
                id: ComponentRef {
                    job_name,
                    name: name.to_string(),
                    component_type: ty.clone(),
                },
                observe: summarizer.observe(),
                summarizer,
                derived: LastDerived::default(),
                tag: identity::component_tag(ty, name),
                staleness: Staleness::default(),
                flink_jid: None,
                failure: None,
                oozie_job: c["runtime"]["oozie"]["job_id"].as_str().map(str::to_string),
            });
        }
    }
    // Kept for the application's life: without this, the vector's doubling leaves room for
    // four components behind most applications, which have one or two.
    list.shrink_to_fit();
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn components_are_keyed_as_pnda_did_with_dms_tags() {
        let data = json!({
            "flink": [{"component_name": "Stream", "properties": {"component_job_name": "app1-Stream-job"}}],
            "sparkStreaming": [{"component_name": "totals", "properties": {}}],
        });
        let list = components_of("app1", Some(&data), &HashMap::new());
        let keys: Vec<(&str, &str, &str, &str)> = list
            .iter()
            .map(|c| {
                (
                    c.key.as_str(),
                    c.id.name.as_str(),
                    c.id.job_name.as_str(),
                    c.tag.as_str(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (
                    "flink-1",
                    "Stream",
                    "app1-Stream-job",
                    "dm-component-flink-stream"
                ),
                (
                    "sparkStreaming-2",
                    "totals",
                    "app1-totals-job",
                    "dm-component-sparkstreaming-totals"
                ),
            ]
        );
        assert!(components_of("app1", None, &HashMap::new()).is_empty());
    }
}
