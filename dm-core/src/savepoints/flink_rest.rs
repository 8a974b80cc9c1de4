//! [`FlinkIo`] on the real services: YARN's ResourceManager finds a job's JobManager
//! (`amRPCAddress`, Flink's REST address), Flink's REST API takes the triggers and disposals,
//! HDFS removes a savepoint's folder when no JobManager runs.

use super::policy::Seen;
use super::worker::{FlinkIo, FlinkIoError, JobAt};
use crate::hdfs::Hdfs;
use dm_clients::flink::{
    DisposalStatus, Flink, JobProgress, SavepointFormat, SavepointStatus, TriggerId,
};
use dm_clients::http::HttpClient;
use dm_clients::yarn::ResourceManager;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a disposal is waited for (Flink removes the folder's files one by one).
const DISPOSAL_TIMEOUT: Duration = Duration::from_secs(120);

pub struct RestIo {
    rm: ResourceManager,
    flink: Flink,
    hdfs: Option<Arc<Hdfs>>,
}

impl RestIo {
    pub fn new(rm_url: &str, hdfs: Option<Arc<Hdfs>>) -> RestIo {
        let http = || {
            HttpClient::builder()
                .connect_timeout(Duration::from_secs(5))
                .total_timeout(Duration::from_secs(30))
                .retries(2)
                .build()
        };
        RestIo {
            rm: ResourceManager::with_client(rm_url, http()),
            flink: Flink::new(http()),
            hdfs,
        }
    }
}

fn failed(e: impl std::fmt::Display) -> FlinkIoError {
    FlinkIoError(e.to_string())
}

/// The path part of a savepoint location (`hdfs://nn:8020/sp/x` → `/sp/x`).
fn hdfs_path(location: &str) -> &str {
    match location.strip_prefix("hdfs://") {
        Some(rest) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => location,
    }
}

impl FlinkIo for RestIo {
    fn locate(&self, yarn_id: &str) -> Result<JobAt, FlinkIoError> {
        let app = self
            .rm
            .find(yarn_id)
            .map_err(failed)?
            .ok_or_else(|| failed(format!("YARN has no application {yarn_id}")))?;
        let jobmanager = app.am_url().ok_or_else(|| {
            failed(format!(
                "{yarn_id} is {}: its JobManager has not registered yet",
                app.state.as_str()
            ))
        })?;
        match self.flink.progress(&jobmanager) {
            JobProgress::Running(job) if job.all_tasks_running => Ok(JobAt {
                yarn_id: yarn_id.to_string(),
                jobmanager,
                job_id: job.id,
            }),
            // Flink refuses a savepoint until every task runs.
            JobProgress::Running(job) => Err(failed(format!(
                "job {} of {yarn_id} does not run all its tasks yet",
                job.id
            ))),
            JobProgress::Starting => Err(failed(format!(
                "the Flink job of {yarn_id} is still starting"
            ))),
            JobProgress::Ended => Err(failed(format!("the Flink job of {yarn_id} has ended"))),
            JobProgress::Unknown => Err(failed(format!(
                "the JobManager of {yarn_id} at {jobmanager} does not answer"
            ))),
        }
    }

    fn trigger(&self, at: &JobAt, target_dir: Option<&str>) -> Result<String, FlinkIoError> {
        self.flink
            .trigger_savepoint(
                &at.jobmanager,
                &at.job_id,
                target_dir,
                SavepointFormat::Canonical,
            )
            .map(|t| t.0)
            .map_err(failed)
    }

    fn poll(&self, jobmanager: &str, job_id: &str, trigger: &str) -> Seen {
        match self
            .flink
            .savepoint_status(jobmanager, job_id, &TriggerId(trigger.to_string()))
        {
            Ok(SavepointStatus::InProgress) => Seen::InProgress,
            Ok(SavepointStatus::Completed { location }) => Seen::Completed { location },
            Ok(SavepointStatus::Failed { cause }) => Seen::Failed { cause },
            Err(e) => Seen::Unreachable {
                error: e.to_string(),
            },
        }
    }

    fn dispose(&self, jobmanager: Option<&str>, path: &str) -> Result<(), FlinkIoError> {
        if let Some(jm) = jobmanager {
            let trigger = self.flink.dispose_savepoint(jm, path).map_err(failed)?;
            let deadline = Instant::now() + DISPOSAL_TIMEOUT;
            loop {
                match self.flink.disposal_status(jm, &trigger).map_err(failed)? {
                    DisposalStatus::Completed => break,
                    // Gone already: what a disposal is for.
                    DisposalStatus::Failed { cause } if cause.contains("FileNotFoundException") => {
                        break
                    }
                    DisposalStatus::Failed { cause } => return Err(failed(cause)),
                    DisposalStatus::InProgress if Instant::now() > deadline => {
                        return Err(failed(format!(
                            "not disposed of within {} s",
                            DISPOSAL_TIMEOUT.as_secs()
                        )))
                    }
                    DisposalStatus::InProgress => std::thread::sleep(Duration::from_millis(250)),
                }
            }
        }
        // Flink leaves the savepoint's (now empty) folder; without a JobManager it all goes here.
        let hdfs = self
            .hdfs
            .as_ref()
            .ok_or_else(|| failed("no JobManager runs and [hdfs] namenode is not set"))?;
        hdfs.remove(hdfs_path(path), true).map(drop).map_err(failed)
    }

    fn checkpoints(&self, at: &JobAt) -> Result<serde_json::Value, FlinkIoError> {
        let checkpoints = self
            .flink
            .checkpoints(&at.jobmanager, &at.job_id)
            .map_err(failed)?;
        serde_json::to_value(checkpoints).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn savepoint_locations_become_hdfs_paths() {
        assert_eq!(
            super::hdfs_path("hdfs://127.0.0.1:8020/sp/2.3.0/app/c/savepoint-ab12-3"),
            "/sp/2.3.0/app/c/savepoint-ab12-3"
        );
        assert_eq!(super::hdfs_path("/sp/x"), "/sp/x");
        assert_eq!(super::hdfs_path("hdfs://nn"), "/");
    }
}
