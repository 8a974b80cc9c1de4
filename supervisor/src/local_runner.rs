//! Where local jobs run: starting an attempt as a process, observing it for [`decide`], and
//! stopping it. The supervisor reaps the processes it spawned; those it adopted after a restart
//! are recognised by pid and start time, and only their end can be known, not its status.
//!
//! [`decide`]: crate::decide

use crate::decide::{Launched, LocalProcess, StartFailure};
use crate::process;
use crate::protocol::{Attempt, JobSpec};
use dm_plugin_api::{expand, Slot, StopStep};
use std::collections::HashMap;
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

/// A local attempt's log is copied aside and truncated past this.
const LOG_CAP_BYTES: u64 = 16 << 20;
/// How much of a failed attempt's log is searched for its root cause.
const CAUSE_SEARCH_BYTES: u64 = 256 * 1024;
/// The grace period between SIGTERM and SIGKILL when the plan names none.
const DEFAULT_GRACE: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct LocalRunner {
    /// Processes this supervisor spawned (and so must reap), by job id.
    children: Mutex<HashMap<String, Child>>,
}

impl LocalRunner {
    /// Starts the attempt's process, restoring from `last_savepoint` if the command asks for it.
    pub fn start(
        &self,
        spec: &JobSpec,
        attempt: &Attempt,
        last_savepoint: Option<String>,
    ) -> Result<Launched, StartFailure> {
        let value_of = |slot: Slot| match slot {
            Slot::RestoreFrom => last_savepoint.clone(),
            Slot::AllowNonRestoredState => Some(spec.allow_non_restored_state.to_string()),
            _ => None,
        };
        let argv = expand(&spec.job.submit.argv, &value_of).map_err(StartFailure::transient)?;
        let child = process::spawn(
            &argv,
            &spec.workdir,
            &spec.submit_env(),
            spec.user.as_deref(),
            &attempt.log,
        )
        .map_err(|e| StartFailure::transient(format!("cannot start {}: {e}", argv[0])))?;
        let pid = child.id();
        self.children().insert(spec.id.clone(), child);
        Ok(Launched::Local {
            pid,
            ticks: process::start_ticks(pid),
        })
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<String, Child>> {
        self.children.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the attempt's process still runs, or how it ended. Caps its log meanwhile.
    pub fn observe(&self, id: &str, attempt: &Attempt, pid_ticks: Option<u64>) -> LocalProcess {
        process::rotate_if_larger(&attempt.log, LOG_CAP_BYTES);
        let Some(pid) = attempt.pid else {
            return LocalProcess::Gone;
        };
        match self.ended(id, pid, pid_ticks) {
            None => LocalProcess::Alive,
            Some(Some(status)) => LocalProcess::Exited {
                success: status.success(),
                code: status.code(),
                root_cause: (!status.success())
                    .then(|| process::root_cause(&process::tail(&attempt.log, CAUSE_SEARCH_BYTES)))
                    .flatten(),
            },
            Some(None) => LocalProcess::Gone,
        }
    }

    /// `None` while the process runs; once it ended, its exit status when it was our child.
    fn ended(
        &self,
        id: &str,
        pid: u32,
        pid_ticks: Option<u64>,
    ) -> Option<Option<std::process::ExitStatus>> {
        let mut children = self.children();
        if let Some(child) = children.get_mut(id) {
            return match child.try_wait() {
                Ok(Some(status)) => {
                    children.remove(id);
                    Some(Some(status))
                }
                Ok(None) => None,
                Err(_) => Some(None),
            };
        }
        match pid_ticks {
            Some(ticks) if process::is_alive(pid, ticks) => None,
            _ => Some(None),
        }
    }

    /// SIGTERM to the attempt's process group, SIGKILL after the plan's grace period.
    pub fn stop(
        &self,
        spec: &JobSpec,
        attempt: &Attempt,
        pid_ticks: Option<u64>,
    ) -> Result<(), String> {
        let Some(pid) = attempt.pid else {
            return Ok(());
        };
        let grace = spec
            .job
            .stop
            .iter()
            .find_map(|s| match s {
                StopStep::Signal { grace_sec } => Some(Duration::from_secs(*grace_sec)),
                _ => None,
            })
            .unwrap_or(DEFAULT_GRACE);
        if process::stop_group(pid, grace, || {
            self.ended(&spec.id, pid, pid_ticks).is_some()
        }) {
            Ok(())
        } else {
            Err(format!("process {pid} survived SIGKILL"))
        }
    }

    /// Ends a process started for a job that was stopped meanwhile.
    pub fn undo(&self, id: &str, pid: u32) {
        process::stop_group(pid, Duration::from_secs(5), || {
            self.ended(id, pid, None).is_some()
        });
    }
}
