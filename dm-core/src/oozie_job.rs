//! Carries out an `oozie` component's plan ([`OozieJob`]) with HDFS and Oozie, as PNDA did but
//! checking every answer:
//!
//! - create: copy the component folder to its HDFS folder (leaving out the descriptors), write
//!   the effective properties beside it (`application.properties`, informational), kill any job
//!   a crashed earlier attempt left at the same application path, submit the configuration and,
//!   for a coordinator, suspend it at once so nothing fires before start. A workflow waits in PREP.
//! - start: a workflow in PREP is started, a suspended job resumed, an ended workflow rerun.
//! - stop: a running job is suspended.
//! - destroy: every live job at the application path is killed and the HDFS folder removed.

use crate::hdfs::Hdfs;
use crate::oozie::{is_final, JobType, Oozie};
use crate::properties::auto_fill_lines;
use dm_plugin_api::{OozieJob, OozieKind};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::Arc;

pub struct OozieRunner {
    pub oozie: Arc<Oozie>,
    pub hdfs: Arc<Hdfs>,
}

fn job_type(job: &OozieJob) -> JobType {
    match job.kind {
        OozieKind::Workflow => JobType::Workflow,
        OozieKind::Coordinator => JobType::Coordinator,
    }
}

/// The `oozie.*.application.path` the plan submits.
fn app_path(job: &OozieJob) -> Result<&str, String> {
    job.configuration
        .iter()
        .rev()
        .find(|(name, _)| {
            name == "oozie.wf.application.path" || name == "oozie.coord.application.path"
        })
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| "the plan's configuration has no application path".to_string())
}

impl OozieRunner {
    /// Stages and submits; returns what start, stop and destroy need (`{"job_id": …}`).
    pub fn create(
        &self,
        job: &OozieJob,
        dir: &Path,
        properties: &Map<String, Value>,
    ) -> Result<Value, String> {
        self.hdfs.upload_dir(dir, &job.hdfs_dir, &job.skip)?;
        self.hdfs.write(
            &format!(
                "{}/application.properties",
                job.hdfs_dir.trim_end_matches('/')
            ),
            auto_fill_lines(properties).into_bytes(),
        )?;
        // A create repeated after a crash must not leave a second job behind.
        self.kill_all(job)?;
        let id = self.oozie.submit(&job.configuration_xml())?;
        if job.kind == OozieKind::Coordinator {
            self.oozie.act(&id, "suspend", &job.user)?;
        }
        log::info!("Oozie {:?} {id} submitted for {}", job.kind, job.hdfs_dir);
        Ok(json!({ "job_id": id }))
    }

    pub fn start(&self, job: &OozieJob, id: &str) -> Result<(), String> {
        let status = self.oozie.status(id)?;
        match (job.kind, status.as_str()) {
            (OozieKind::Workflow, "PREP") => self.oozie.act(id, "start", &job.user),
            (_, "SUSPENDED" | "SUSPENDEDWITHERROR" | "PREPSUSPENDED" | "PAUSED" | "PAUSEDWITHERROR" | "PREPPAUSED") => {
                self.oozie.act(id, "resume", &job.user)
            }
            (OozieKind::Workflow, s) if is_final(s) => {
                let mut rerun = job.clone();
                rerun
                    .configuration
                    .push(("oozie.wf.rerun.failnodes".into(), "false".into()));
                self.oozie.rerun(id, &rerun.configuration_xml())
            }
            (OozieKind::Coordinator, s) if is_final(s) => Err(format!(
                "coordinator {id} has ended ({s}); destroy and create the application to schedule it again"
            )),
            // PREP coordinator, RUNNING: already going.
            _ => Ok(()),
        }
    }

    pub fn stop(&self, job: &OozieJob, id: &str) -> Result<(), String> {
        let status = self.oozie.status(id)?;
        match (job.kind, status.as_str()) {
            (_, "RUNNING" | "RUNNINGWITHERROR")
            | (OozieKind::Coordinator, "PREP" | "PAUSED" | "PAUSEDWITHERROR") => {
                self.oozie.act(id, "suspend", &job.user)
            }
            // A workflow in PREP has not run; suspended or ended jobs do nothing.
            _ => Ok(()),
        }
    }

    /// Kills the job (and any other live job at its application path), removes its HDFS folder.
    pub fn destroy(&self, job: &OozieJob, id: Option<&str>) -> Result<(), String> {
        if let Some(id) = id {
            match self.oozie.status(id) {
                Ok(status) if !is_final(&status) => self.oozie.act(id, "kill", &job.user)?,
                Ok(_) => {}
                // Oozie no longer knows the job (its database was reset): nothing to kill.
                Err(e) if e.contains("E0604") => log::warn!("{e}"),
                Err(e) => return Err(e),
            }
        }
        self.kill_all(job)?;
        self.hdfs.remove(&job.hdfs_dir, true)?;
        Ok(())
    }

    /// What Oozie says of the job, and its log.
    pub fn logs(&self, id: &str) -> Result<Value, String> {
        let status = self.oozie.status(id)?;
        let text = self.oozie.log(id)?;
        Ok(json!({"job_id": id, "status": status, "text": text}))
    }

    fn kill_all(&self, job: &OozieJob) -> Result<(), String> {
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
