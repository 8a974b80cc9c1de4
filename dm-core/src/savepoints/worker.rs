//! The catalog's thread and its way to Flink. Every few seconds it resolves the triggers in
//! flight (those a crash left too: a row never sent fails with that reason), takes the periodic
//! savepoints that are due and disposes of what retention removes. All decisions are
//! [`super::policy`]'s; this module only observes and acts.

use super::policy::Seen;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A Flink job running on YARN, reached at its JobManager's own REST address (YARN's web proxy
/// forwards only GET and PUT, so triggers and disposals cannot go through it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobAt {
    pub yarn_id: String,
    /// `http://host:port` of the JobManager's REST endpoint.
    pub jobmanager: String,
    pub job_id: String,
}

/// Why Flink could not be asked: the sentence names the endpoint and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlinkIoError(pub String);

/// What the catalog asks of Flink and YARN.
pub trait FlinkIo: Send + Sync {
    /// The running Flink job of YARN application `yarn_id`.
    fn locate(&self, yarn_id: &str) -> Result<JobAt, FlinkIoError>;
    /// Asks for a savepoint into `target_dir` (Flink's configured folder when `None`); Flink's
    /// trigger id.
    fn trigger(&self, at: &JobAt, target_dir: Option<&str>) -> Result<String, FlinkIoError>;
    /// What became of trigger `trigger` of job `job_id`.
    fn poll(&self, jobmanager: &str, job_id: &str, trigger: &str) -> Seen;
    /// Disposes of the savepoint at `path` through a JobManager when one is given, else by
    /// deleting its folder on HDFS.
    fn dispose(&self, jobmanager: Option<&str>, path: &str) -> Result<(), FlinkIoError>;
    /// The job's checkpoint statistics (Flink's `/jobs/{id}/checkpoints`), shown read-only.
    fn checkpoints(&self, at: &JobAt) -> Result<serde_json::Value, FlinkIoError>;
}

/// How often the catalog's thread looks.
pub const TICK: Duration = Duration::from_secs(2);

/// Runs the catalog's thread until the engine is dropped.
pub fn spawn(engine: Weak<crate::lifecycle::Engine>) {
    let spawned = std::thread::Builder::new()
        .name("dm-savepoints".into())
        .spawn(move || loop {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            tick(&engine);
            drop(engine);
            std::thread::sleep(TICK);
        });
    if let Err(e) = spawned {
        log::error!("cannot start the savepoint catalog's thread: {e}");
    }
}

fn tick(engine: &Arc<crate::lifecycle::Engine>) {
    if let Err(e) = engine.resolve_triggers() {
        log::warn!("savepoint catalog: cannot resolve the triggers in flight: {e}");
    }
    if let Err(e) = engine.run_schedules() {
        log::warn!("savepoint catalog: cannot run the periodic savepoints: {e}");
    }
}
