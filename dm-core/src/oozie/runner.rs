//! Carries out an `oozie` component's plan ([`OozieJob`]) with HDFS and Oozie, as PNDA did but
//! checking every answer:
//!
//! - create: copy the component folder to its HDFS folder (leaving out the descriptors), write
//!   the effective properties beside it (`application.properties`, informational), kill any job
//!   a crashed earlier attempt left at the same application path, ask the queue policy (PNDA's
//!   `environment.queue_policy`) for the user's queue, submit the configuration and, for a
//!   coordinator, suspend it at once so nothing fires before start. A workflow waits in PREP.
//! - start: a workflow in PREP is started, a suspended job resumed, an ended workflow rerun.
//! - stop: a running job is suspended, and the YARN applications its actions started (Flink
//!   jobs, found by the plan's tags) are killed.
//! - destroy: every live job at the application path is killed, with those YARN applications,
//!   and the HDFS folder removed.

use crate::hdfs::Hdfs;
use crate::properties::auto_fill_lines;
use dm_clients::oozie::{JobType, Oozie};
use dm_clients::yarn::ResourceManager;
use dm_clients::ClientError;
use dm_plugin_api::observe::OozieJobState;
use dm_plugin_api::{OozieJob, OozieKind};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::Arc;

pub struct OozieRunner {
    pub oozie: Arc<Oozie>,
    pub hdfs: Arc<Hdfs>,
    /// For the YARN applications actions start themselves (the plan's `yarn_tags`).
    pub rm: Option<ResourceManager>,
}

/// Why an Oozie component's action failed.
#[derive(Debug, thiserror::Error)]
pub enum OozieRunError {
    /// Oozie or the ResourceManager refused or did not answer.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// HDFS refused staging or removing the job's folder.
    #[error("{0}")]
    Hdfs(String),
    /// The plan, the configuration or the job's state does not allow it.
    #[error("{0}")]
    Refused(String),
}

fn job_type(job: &OozieJob) -> JobType {
    match job.kind {
        OozieKind::Workflow => JobType::Workflow,
        OozieKind::Coordinator => JobType::Coordinator,
    }
}

/// The `oozie.*.application.path` the plan submits.
fn app_path(job: &OozieJob) -> Result<&str, OozieRunError> {
    job.configuration
        .iter()
        .rev()
        .find(|(name, _)| {
            name == "oozie.wf.application.path" || name == "oozie.coord.application.path"
        })
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| {
            OozieRunError::Refused("the plan's configuration has no application path".into())
        })
}

impl OozieRunner {
    /// Stages and submits; returns what start, stop and destroy need (`{"job_id": …}`).
    pub fn create(
        &self,
        job: &OozieJob,
        dir: &Path,
        properties: &Map<String, Value>,
    ) -> Result<Value, OozieRunError> {
        self.hdfs
            .upload_dir(dir, &job.hdfs_dir, &job.skip)
            .map_err(OozieRunError::Hdfs)?;
        self.hdfs
            .write(
                &format!(
                    "{}/application.properties",
                    job.hdfs_dir.trim_end_matches('/')
                ),
                auto_fill_lines(properties).into_bytes(),
            )
            .map_err(OozieRunError::Hdfs)?;
        // A create repeated after a crash must not leave a second job behind.
        self.kill_all(job)?;
        let mut job = job.clone();
        if let Some(policy) = properties
            .get("environment_queue_policy")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            if let Some(queue) = queue_from_policy(policy, &job.user) {
                job.configuration
                    .push(("mapreduce.job.queuename".into(), queue));
            }
        }
        let id = self.oozie.submit(&job.configuration_xml())?;
        if job.kind == OozieKind::Coordinator {
            self.oozie.act(&id, "suspend", &job.user)?;
        }
        log::info!("Oozie {:?} {id} submitted for {}", job.kind, job.hdfs_dir);
        Ok(json!({ "job_id": id }))
    }

    pub fn start(&self, job: &OozieJob, id: &str) -> Result<(), OozieRunError> {
        use OozieJobState as O;
        let s = self.oozie.status(id)?;
        match (job.kind, OozieJobState::parse(&s)) {
            (OozieKind::Workflow, Some(O::Prep)) => Ok(self.oozie.act(id, "start", &job.user)?),
            (
                _,
                Some(
                    O::Suspended
                    | O::SuspendedWithError
                    | O::PrepSuspended
                    | O::Paused
                    | O::PausedWithError
                    | O::PrepPaused,
                ),
            ) => Ok(self.oozie.act(id, "resume", &job.user)?),
            (OozieKind::Workflow, Some(state)) if state.is_final() => {
                let mut rerun = job.clone();
                rerun
                    .configuration
                    .push(("oozie.wf.rerun.failnodes".into(), "false".into()));
                Ok(self.oozie.rerun(id, &rerun.configuration_xml())?)
            }
            (OozieKind::Coordinator, Some(state)) if state.is_final() => Err(OozieRunError::Refused(format!(
                "coordinator {id} has ended ({s}); destroy and create the application to schedule it again"
            ))),
            // PREP coordinator, RUNNING: already going.
            _ => Ok(()),
        }
    }

    pub fn stop(&self, job: &OozieJob, id: &str) -> Result<(), OozieRunError> {
        use OozieJobState as O;
        let status = self.oozie.status(id)?;
        let suspended = match (job.kind, OozieJobState::parse(&status)) {
            (_, Some(O::Running | O::RunningWithError))
            | (OozieKind::Coordinator, Some(O::Prep | O::Paused | O::PausedWithError)) => {
                self.oozie.act(id, "suspend", &job.user)
            }
            // A workflow in PREP has not run; suspended or ended jobs do nothing.
            _ => Ok(()),
        };
        suspended?;
        // As PNDA's flink-stop.py did: a suspended workflow leaves its Flink job running.
        self.kill_tagged_apps(job)
    }

    /// Kills the live YARN applications carrying all of the plan's `yarn_tags`.
    fn kill_tagged_apps(&self, job: &OozieJob) -> Result<(), OozieRunError> {
        let Some(narrowest) = job.yarn_tags.last() else {
            return Ok(());
        };
        let rm = self.rm.as_ref().ok_or_else(|| OozieRunError::Refused(
            "the job starts YARN applications of its own, but no ResourceManager is configured ([yarn] rm_url)".into(),
        ))?;
        for app in rm.apps_tagged(narrowest)? {
            if !app.is_final() && app.has_tags(&job.yarn_tags) {
                log::info!(
                    "killing {} ({}), started by {}",
                    app.id,
                    app.name,
                    job.hdfs_dir
                );
                rm.kill(&app.id)?;
            }
        }
        Ok(())
    }

    /// Kills the job (and any other live job at its application path), removes its HDFS folder.
    pub fn destroy(&self, job: &OozieJob, id: Option<&str>) -> Result<(), OozieRunError> {
        if let Some(id) = id {
            match self.oozie.status(id) {
                Ok(status)
                    if !OozieJobState::parse(&status).is_some_and(OozieJobState::is_final) =>
                {
                    self.oozie.act(id, "kill", &job.user)?
                }
                Ok(_) => {}
                // Oozie no longer knows the job (its database was reset): nothing to kill.
                Err(e) if e.to_string().contains("E0604") => log::warn!("{e}"),
                Err(e) => return Err(e.into()),
            }
        }
        self.kill_all(job)?;
        self.kill_tagged_apps(job)?;
        self.hdfs
            .remove(&job.hdfs_dir, true)
            .map_err(OozieRunError::Hdfs)?;
        Ok(())
    }

    /// What Oozie says of the job, and its log.
    pub fn logs(&self, id: &str) -> Result<Value, OozieRunError> {
        let status = self.oozie.status(id)?;
        let text = self.oozie.log(id)?;
        Ok(json!({"job_id": id, "status": status, "text": text}))
    }

    fn kill_all(&self, job: &OozieJob) -> Result<(), OozieRunError> {
        for id in self
            .oozie
            .live_jobs_at(job_type(job), &job.user, app_path(job)?)?
        {
            log::warn!("killing Oozie job {id}, left at {}", job.hdfs_dir);
            self.oozie.act(&id, "kill", &job.user)?;
        }
        Ok(())
    }
}

/// PNDA's queue policy: an executable run as the application's user (when dmd runs as root;
/// otherwise as dmd's user, told the user in `DM_APPLICATION_USER`) whose first line of output,
/// on success, is the YARN queue (`mapreduce.job.queuename`). Run as an argv, never through a
/// shell. A policy that fails or says nothing leaves the queue unset, as in PNDA; why is logged.
pub fn queue_from_policy(policy: &str, user: &str) -> Option<String> {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(policy);
    command
        .env("DM_APPLICATION_USER", user)
        .stdin(std::process::Stdio::null());
    if nix::unistd::geteuid().is_root() {
        match nix::unistd::User::from_name(user) {
            Ok(Some(account)) => {
                command.uid(account.uid.as_raw()).gid(account.gid.as_raw());
            }
            _ => {
                log::warn!("queue policy {policy}: user {user} does not exist; no queue set");
                return None;
            }
        }
    }
    match command.output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let queue = text.lines().next().unwrap_or_default().trim().to_string();
            if queue.is_empty() {
                log::warn!("queue policy {policy} named no queue for {user}");
                None
            } else {
                Some(queue)
            }
        }
        Ok(out) => {
            log::warn!(
                "queue policy {policy} failed for {user} ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            None
        }
        Err(e) => {
            log::warn!("queue policy {policy} cannot run: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn policy(dir: &Path, script: &str) -> String {
        let path = dir.join("policy");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[test]
    fn the_queue_policy_names_the_queue_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap()
            .name;
        let echo = policy(
            dir.path(),
            "#!/bin/sh\necho \"q-$DM_APPLICATION_USER\"\necho ignored\n",
        );
        assert_eq!(queue_from_policy(&echo, &me), Some(format!("q-{me}")));
        let fails = policy(dir.path(), "#!/bin/sh\necho dev\nexit 3\n");
        assert_eq!(queue_from_policy(&fails, &me), None);
        let silent = policy(dir.path(), "#!/bin/sh\n");
        assert_eq!(queue_from_policy(&silent, &me), None);
        assert_eq!(queue_from_policy("/nonexistent/policy", &me), None);
    }
}
