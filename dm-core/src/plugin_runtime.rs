//! Components run by runtime plugins: the plugin plans, dmd carries the plan out.
//!
//! Create asks the plugin for a plan and renders the files it lists (PNDA's templating), and
//! keeps the plan as the component's create data; start hands the plan's job to the
//! supervisor, stop and destroy ask the supervisor to stop and forget it. An Oozie plan is
//! carried out by [`OozieRunner`] instead, a notebooks plan by [`NotebookRepos`]. The supervisor is
//! started (detached) the first time it is needed, so one `dmd` still runs everything.

use crate::config::Config;
use crate::hdfs::Hdfs;
use crate::notebooks::NotebookRepos;
use crate::oozie::runner::OozieRunner;
use crate::properties::python_str;
use crate::runtime::{ComponentContext, ComponentRuntime, SavepointJob, StartOptions};
use dm_plugin_api::host::LoadedPlugin;
use dm_plugin_api::identity;
use dm_plugin_api::template::substitute;
use dm_plugin_api::{ComponentFiles, Engines, Notebooks, OozieJob, Plan, PlanRequest, Target};
use dm_supervisor::client::Client;
use dm_supervisor::protocol::{JobReport, JobSpec, Request, Response};
use packaging::ComponentRules;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest dmd waits for the supervisor's answer: a stop with a savepoint of a job still
/// deploying takes up to 90 s of waiting plus 120 s per stop step.
pub const SUPERVISOR_CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// How dmd reaches the supervisor, starting it when none answers.
pub struct SupervisorLink {
    client: Client,
    binary: PathBuf,
    dir: PathBuf,
    args: Vec<String>,
}

impl SupervisorLink {
    pub fn from_config(config: &Config) -> SupervisorLink {
        let dir = config.supervisor_dir();
        let binary = config.supervisor.binary.clone().unwrap_or_else(|| {
            let here = std::env::current_exe().ok();
            here.and_then(|exe| exe.parent().map(|d| d.join("dm-supervisor")))
                .unwrap_or_else(|| PathBuf::from("dm-supervisor"))
        });
        let args = match &config.yarn.rm_url {
            Some(rm) => vec!["--yarn-rm".to_string(), rm.clone()],
            None => Vec::new(),
        };
        SupervisorLink {
            client: Client::new(&dir.join("supervisor.sock")),
            binary,
            dir,
            args,
        }
    }

    /// Makes sure a supervisor runs (starting one if none answers), so jobs are watched even
    /// when dmd has nothing to ask; run at start-up.
    pub fn ensure_running(&self) -> Result<(), String> {
        self.client
            .ensure_running(&self.binary, &self.dir, &self.args)
            .map_err(|e| {
                format!(
                    "cannot reach the supervisor ({}): {e}",
                    self.binary.display()
                )
            })
    }

    /// Sends `request`; stopping a job (savepoints) may take minutes.
    pub fn call(&self, request: Request) -> Result<Response, String> {
        self.ensure_running()?;
        self.client
            .call(&request, SUPERVISOR_CALL_TIMEOUT)
            .map_err(|e| format!("supervisor: {e}"))
    }
}

/// Where and how jobs run, from the configuration.
#[derive(Clone)]
pub struct JobSettings {
    pub target: Target,
    pub engines: Engines,
    pub savepoint_dir: Option<String>,
    pub env: Vec<(String, String)>,
}

impl JobSettings {
    pub fn from_config(config: &Config) -> JobSettings {
        let mut engines = config.jobs.engines.clone();
        engines.git_repos_root = Some(config.jupyter_repos_root().display().to_string());
        // What plugins plan with comes from dmd's one key per endpoint.
        engines.yarn_rm_url = config.yarn.rm_url.clone();
        engines.yarn_rm_address = config.yarn.rm_address.clone();
        if engines.cluster_env.is_empty() {
            // Edge node and cluster nodes are alike unless the configuration says otherwise.
            engines.cluster_env = ["JAVA_HOME", "HADOOP_CONF_DIR", "HADOOP_CLASSPATH"]
                .iter()
                .filter_map(|k| Some((k.to_string(), config.jobs.env.get(*k)?.clone())))
                .collect();
        }
        JobSettings {
            target: config.jobs.target,
            engines,
            savepoint_dir: config.jobs.savepoint_dir.clone(),
            env: config.jobs.env.clone().into_iter().collect(),
        }
    }
}

pub struct PluginRuntime {
    plugin: Arc<LoadedPlugin>,
    jobs: JobSettings,
    supervisor: Arc<SupervisorLink>,
    /// For cleaning up after jobs on YARN; `None` when HDFS is not configured.
    hdfs: Option<Arc<Hdfs>>,
    /// For Oozie plans; `None` when Oozie or HDFS is not configured.
    oozie: Option<Arc<OozieRunner>>,
    /// For notebooks plans.
    notebooks: Arc<NotebookRepos>,
}

impl PluginRuntime {
    pub fn new(
        plugin: Arc<LoadedPlugin>,
        jobs: JobSettings,
        supervisor: Arc<SupervisorLink>,
        hdfs: Option<Arc<Hdfs>>,
        oozie: Option<Arc<OozieRunner>>,
        notebooks: Arc<NotebookRepos>,
    ) -> PluginRuntime {
        PluginRuntime {
            plugin,
            jobs,
            supervisor,
            hdfs,
            oozie,
            notebooks,
        }
    }

    /// Flink and Spark clean their YARN staging folders (`~/.flink/<app id>`,
    /// `~/.sparkStaging/<app id>`) only when the application ends by itself; one killed (from
    /// outside, or by a stop that fell back to a kill) leaves its jars there for ever. Once the
    /// job is stopped, those of all its attempts are removed.
    fn remove_yarn_staging(&self, ctx: &ComponentContext, job: &JobReport) {
        let (Some(hdfs), Some(user)) = (
            &self.hdfs,
            ctx.properties
                .get("application_user")
                .and_then(Value::as_str),
        ) else {
            return;
        };
        for id in job
            .attempts
            .iter()
            .filter_map(|a| a.yarn_application_id.as_deref())
        {
            for folder in [".flink", ".sparkStaging"] {
                let path = format!("/user/{user}/{folder}/{id}");
                match hdfs.remove(&path, true) {
                    Ok(true) => log::info!("removed {path}, left by {}", job.id),
                    Ok(false) => {}
                    Err(e) => log::warn!("{}: {e}", job.id),
                }
            }
        }
    }

    /// Asks the plugin what to do for this component.
    fn plan(&self, ctx: &ComponentContext) -> Result<Plan, String> {
        let files =
            list_files(ctx.dir).map_err(|e| format!("cannot list {}: {e}", ctx.dir.display()))?;
        let request = PlanRequest {
            application: ctx.application.to_string(),
            user: ctx
                .properties
                .get("application_user")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            component: ComponentFiles {
                component_type: ctx.component_type.to_string(),
                name: ctx.component.to_string(),
                contents: read_contents(ctx.dir, &files, |f| self.plugin.reads(f))?,
                files,
                properties: Default::default(),
            },
            properties: ctx.properties.clone(),
            target: self.jobs.target,
            engines: self.jobs.engines.clone(),
            workdir: ctx.dir.display().to_string(),
            now_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        };
        self.plugin.plan(&request).map_err(|e| e.to_string())
    }

    /// The plan, if this dmd can carry it out, with the Oozie runner it needs.
    fn runnable_plan(
        &self,
        ctx: &ComponentContext,
    ) -> Result<(Plan, Option<&OozieRunner>), String> {
        let plan = self.plan(ctx)?;
        let planned = [
            plan.job.as_ref().map(|_| "a job"),
            plan.oozie.as_ref().map(|_| "an Oozie job"),
            plan.notebooks.as_ref().map(|_| "notebooks"),
        ];
        let planned: Vec<&str> = planned.into_iter().flatten().collect();
        if planned.len() != 1 {
            return Err(format!(
                "plugin {} planned {}; exactly one job, Oozie job or set of notebooks is needed",
                self.plugin.component_type_name(),
                if planned.is_empty() {
                    "nothing to run".to_string()
                } else {
                    planned.join(" and ")
                }
            ));
        }
        if let Some(notebooks) = &plan.notebooks {
            self.notebooks.check(notebooks)?;
        }
        if plan.job.is_some() {
            let user = ctx
                .properties
                .get("application_user")
                .and_then(Value::as_str)
                .unwrap_or_default();
            check_job_user(nix::unistd::geteuid().is_root(), user, |u| {
                matches!(nix::unistd::User::from_name(u), Ok(Some(_)))
            })?;
        }
        let runner = match plan.oozie {
            Some(_) => Some(self.oozie_runner()?),
            None => None,
        };
        Ok((plan, runner))
    }

    fn oozie_runner(&self) -> Result<&OozieRunner, String> {
        self.oozie.as_deref().ok_or_else(|| {
            "this dmd cannot run Oozie components: [oozie] url and [hdfs] namenode must both be set"
                .to_string()
        })
    }

    /// The Oozie job of a component created from an Oozie plan.
    fn oozie_job_of(data: &Value) -> Option<(OozieJob, Option<String>)> {
        let job = serde_json::from_value(data["plan"]["oozie"].clone()).ok()?;
        Some((job, data["oozie"]["job_id"].as_str().map(str::to_string)))
    }

    /// The supervisor's id of a component's job.
    pub fn job_id(ctx: &ComponentContext) -> String {
        identity::job_id(ctx.application, ctx.component_type, ctx.component)
    }

    /// The notebooks of a component created from a notebooks plan.
    fn notebooks_of(data: &Value) -> Option<Notebooks> {
        serde_json::from_value(data["plan"]["notebooks"].clone()).ok()
    }

    /// The Flink version a component runs: its `flink_version`, else the configured default
    /// (as the Flink plugin picks its home).
    fn flink_version(&self, ctx: &ComponentContext) -> Option<String> {
        dm_plugin_api::props::Props(ctx.properties)
            .component("flink_version")
            .or_else(|| self.jobs.engines.default_flink_version.clone())
    }

    /// `<savepoint_dir>/<flink version>/<application>/<component>`: savepoints of one Flink
    /// version apart from another's (a savepoint's format belongs to the version that wrote it).
    fn savepoint_dir(&self, ctx: &ComponentContext) -> Option<String> {
        let root = self.jobs.savepoint_dir.as_ref()?;
        let version = self.flink_version(ctx).unwrap_or_else(|| "default".into());
        Some(format!(
            "{}/{version}/{}/{}",
            root.trim_end_matches('/'),
            ctx.application,
            ctx.component
        ))
    }

    /// Stops the component's job; `cancel` skips its stop steps that take a savepoint.
    fn stop_job(&self, ctx: &ComponentContext, data: &Value, cancel: bool) -> Result<(), String> {
        if Self::notebooks_of(data).is_some() {
            return Ok(());
        }
        if let Some((job, id)) = Self::oozie_job_of(data) {
            return match id {
                Some(id) => self
                    .oozie_runner()?
                    .stop(&job, &id)
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            };
        }
        match self.supervisor.call(Request::Stop {
            id: Self::job_id(ctx),
            cancel,
        })? {
            Response::Job { job } => {
                self.remove_yarn_staging(ctx, &job);
                Ok(())
            }
            // Never started (or already forgotten): nothing runs.
            Response::Error { message } if message.starts_with("no job") => Ok(()),
            Response::Error { message } => Err(message),
            other => Err(format!("unexpected answer from the supervisor: {other:?}")),
        }
    }

    fn plan_of(data: &Value) -> Result<Plan, String> {
        serde_json::from_value(data["plan"].clone())
            .map_err(|e| format!("the component's create data holds no readable plan: {e}"))
    }
}

impl ComponentRuntime for PluginRuntime {
    fn component_type(&self) -> &str {
        self.plugin.component_type_name()
    }

    fn check(&self, ctx: &ComponentContext) -> Result<(), String> {
        self.runnable_plan(ctx).map(drop)
    }

    fn create(&self, ctx: &ComponentContext) -> Result<Value, String> {
        let (plan, runner) = self.runnable_plan(ctx)?;
        for warning in &plan.warnings {
            log::warn!(
                "{} {} {}: {warning}",
                ctx.application,
                ctx.component_type,
                ctx.component
            );
        }
        for (file, text) in &plan.write {
            write_component_file(ctx.dir, file, text)?;
        }
        for file in &plan.render {
            render(&ctx.dir.join(file), ctx.properties)?;
        }
        if let Some(notebooks) = &plan.notebooks {
            self.notebooks.create(notebooks, ctx.dir)?;
        }
        match (runner, &plan.oozie) {
            (Some(runner), Some(job)) => {
                let submitted = runner
                    .create(job, ctx.dir, ctx.properties)
                    .map_err(|e| e.to_string())?;
                Ok(json!({ "plan": plan, "oozie": submitted }))
            }
            _ => Ok(json!({ "plan": plan })),
        }
    }

    fn start(
        &self,
        ctx: &ComponentContext,
        data: &Value,
        options: &StartOptions,
    ) -> Result<(), String> {
        if Self::notebooks_of(data).is_some() {
            // Committed at create: nothing runs.
            return Ok(());
        }
        if let Some((job, id)) = Self::oozie_job_of(data) {
            let id = id.ok_or("the component's create data has no Oozie job id")?;
            return self
                .oozie_runner()?
                .start(&job, &id)
                .map_err(|e| e.to_string());
        }
        let plan = Self::plan_of(data)?;
        let job = plan.job.ok_or("the plan has no job to start")?;
        let spec = JobSpec {
            id: Self::job_id(ctx),
            job,
            workdir: ctx.dir.to_path_buf(),
            user: ctx
                .properties
                .get("application_user")
                .and_then(Value::as_str)
                .map(str::to_string),
            savepoint_dir: self.savepoint_dir(ctx),
            env: self.jobs.env.clone(),
            restore: options.restore.clone(),
            allow_non_restored_state: options.allow_non_restored_state,
        };
        match self.supervisor.call(Request::Start {
            spec: Box::new(spec),
        })? {
            Response::Job { .. } => Ok(()),
            Response::Error { message } => Err(message),
            other => Err(format!("unexpected answer from the supervisor: {other:?}")),
        }
    }

    fn stop(&self, ctx: &ComponentContext, data: &Value) -> Result<(), String> {
        self.stop_job(ctx, data, false)
    }

    fn cancel(&self, ctx: &ComponentContext, data: &Value) -> Result<(), String> {
        self.stop_job(ctx, data, true)
    }

    fn savepoint_job(
        &self,
        ctx: &ComponentContext,
        data: &Value,
    ) -> Result<Option<SavepointJob>, String> {
        let takes_savepoints = Self::plan_of(data)
            .ok()
            .and_then(|plan| plan.job)
            .is_some_and(|job| job.savepoints);
        if !takes_savepoints {
            return Ok(None);
        }
        let report = match self.supervisor.call(Request::Status {
            id: Self::job_id(ctx),
        })? {
            Response::Job { job } => Some(job),
            Response::Error { message } if message.starts_with("no job") => None,
            Response::Error { message } => return Err(message),
            other => return Err(format!("unexpected answer from the supervisor: {other:?}")),
        };
        let running = report
            .as_ref()
            .filter(|r| r.state == dm_supervisor::protocol::JobState::Running)
            .and_then(|r| r.attempts.last());
        Ok(Some(SavepointJob {
            flink_version: self.flink_version(ctx),
            savepoint_dir: self.savepoint_dir(ctx),
            yarn_id: running.and_then(|a| a.yarn_application_id.clone()),
            running_since_ms: running.map(|a| a.started_ms as i64),
            gave_up: report
                .as_ref()
                .filter(|r| r.state == dm_supervisor::protocol::JobState::Failed)
                .map(|r| r.reason.clone().unwrap_or_else(|| "failed".into())),
            last_savepoint: report.and_then(|r| r.last_savepoint),
        }))
    }

    fn record_savepoint(&self, ctx: &ComponentContext, path: &str) -> Result<(), String> {
        let request = Request::RecordSavepoint {
            id: Self::job_id(ctx),
            path: path.to_string(),
        };
        match self.supervisor.call(request)? {
            Response::Ok => Ok(()),
            Response::Error { message } => Err(message),
            other => Err(format!("unexpected answer from the supervisor: {other:?}")),
        }
    }

    fn logs(&self, ctx: &ComponentContext, data: &Value) -> Result<Value, String> {
        if Self::notebooks_of(data).is_some() {
            return Ok(Value::Null);
        }
        if let Some((_, id)) = Self::oozie_job_of(data) {
            return match id {
                Some(id) => self.oozie_runner()?.logs(&id).map_err(|e| e.to_string()),
                None => Ok(Value::Null),
            };
        }
        let request = Request::Logs {
            id: Self::job_id(ctx),
            attempt: None,
            max_bytes: Some(64 * 1024),
        };
        // What the plugin changed in the component's properties, shown with every log.
        let warnings = Self::plan_of(data).map(|p| p.warnings).unwrap_or_default();
        match self.supervisor.call(request)? {
            Response::Log { attempt, text } if warnings.is_empty() => {
                Ok(json!({"attempt": attempt, "text": text}))
            }
            Response::Log { attempt, text } => {
                Ok(json!({"attempt": attempt, "text": text, "warnings": warnings}))
            }
            // Never started: no logs yet.
            Response::Error { message }
                if message.starts_with("no job") || message.contains("no such attempt") =>
            {
                Ok(Value::Null)
            }
            Response::Error { message } => Err(message),
            other => Err(format!("unexpected answer from the supervisor: {other:?}")),
        }
    }

    fn destroy(&self, ctx: &ComponentContext, data: &Value) -> Result<(), String> {
        if let Some((job, id)) = Self::oozie_job_of(data) {
            return self
                .oozie_runner()?
                .destroy(&job, id.as_deref())
                .map_err(|e| e.to_string());
        }
        if let Some(notebooks) = Self::notebooks_of(data) {
            return self.notebooks.destroy(&notebooks);
        }
        if data.is_null() {
            // Create failed or was cut short before recording anything: plan again to learn what
            // it may have left (a staged folder, a submitted Oozie job, a notebooks folder).
            match self.plan(ctx) {
                Ok(Plan {
                    oozie: Some(job), ..
                }) => {
                    return self
                        .oozie_runner()?
                        .destroy(&job, None)
                        .map_err(|e| e.to_string())
                }
                Ok(Plan {
                    notebooks: Some(notebooks),
                    ..
                }) => return self.notebooks.destroy(&notebooks),
                _ => {}
            }
        }
        self.stop(ctx, data)?;
        match self.supervisor.call(Request::Remove {
            id: Self::job_id(ctx),
        })? {
            Response::Ok => Ok(()),
            Response::Error { message } if message.starts_with("no job") => Ok(()),
            Response::Error { message } => Err(message),
            other => Err(format!("unexpected answer from the supervisor: {other:?}")),
        }
    }
}

/// Every file under `dir`, relative to it, `/`-separated.
fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                if let Ok(relative) = entry.path().strip_prefix(dir) {
                    files.push(relative.to_string_lossy().into_owned());
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The text of the files the plugin reads, as the package checks gave them to it.
fn read_contents(
    dir: &Path,
    files: &[String],
    reads: impl Fn(&str) -> bool,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    files
        .iter()
        .filter(|f| reads(f))
        .map(|f| {
            let bytes = std::fs::read(dir.join(f)).map_err(|e| format!("cannot read {f}: {e}"))?;
            Ok((f.clone(), String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

/// Writes a file a plugin made. The path comes from a plugin: it must stay inside the folder.
fn write_component_file(dir: &Path, relative: &str, text: &str) -> Result<(), String> {
    let path = Path::new(relative);
    let inside = !relative.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(format!(
            "the plugin asked to write {relative:?}, outside the component folder"
        ));
    }
    let target = dir.join(path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(&target, text).map_err(|e| format!("cannot write {}: {e}", target.display()))
}

/// Fills a component file with the properties in place. Files that are not UTF-8 text are left
/// alone, as PNDA did; a file that is not there has nothing to fill.
fn render(path: &Path, properties: &serde_json::Map<String, Value>) -> Result<(), String> {
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return Ok(()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let filled = substitute(&text, properties, python_str);
    if filled != text {
        std::fs::write(path, filled)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A supervised job runs as its application's user when the supervisor is root (dmd starts it
/// as its own user), so that user must exist on this host: refused at create, not at the first
/// start. Without root, jobs run as dmd's user and the name is only recorded.
pub fn check_job_user(root: bool, user: &str, exists: impl Fn(&str) -> bool) -> Result<(), String> {
    if root && !user.is_empty() && !exists(user) {
        return Err(format!(
            "user \"{user}\" does not exist on this host: the application's jobs run as its user"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_written_files_stay_in_the_component_folder() {
        let dir = tempfile::tempdir().unwrap();
        write_component_file(dir.path(), "lib/run.sh", "#!/bin/sh\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("lib/run.sh")).unwrap(),
            "#!/bin/sh\n"
        );
        for bad in ["../escape", "/etc/passwd", "lib/../../x", "", "./x"] {
            let err = write_component_file(dir.path(), bad, "x").unwrap_err();
            assert!(err.contains("outside the component folder"), "{bad}: {err}");
        }
    }

    #[test]
    fn jobs_of_root_need_a_user_the_host_knows() {
        let known = |u: &str| u == "alice";
        assert_eq!(super::check_job_user(true, "alice", known), Ok(()));
        assert_eq!(
            super::check_job_user(true, "mallory", known),
            Err("user \"mallory\" does not exist on this host: the application's jobs run as its user".into())
        );
        assert_eq!(
            super::check_job_user(false, "mallory", known),
            Ok(()),
            "not root: any name"
        );
    }
}
