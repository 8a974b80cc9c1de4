//! What the supervisor keeps about its jobs, and `state.json`, where it keeps it: written
//! atomically after every change, read back when the supervisor starts so that it adopts what
//! still runs. Fields added after the first release have serde defaults, so a supervisor
//! restarted on an older file still reads it.

use crate::protocol::{Attempt, JobReport, JobSpec, JobState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the user last asked of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    Running,
    Stopped,
}

/// Everything known about one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub spec: JobSpec,
    pub desired: Desired,
    pub state: JobState,
    pub reason: Option<String>,
    pub attempts: Vec<Attempt>,
    pub last_savepoint: Option<String>,
    /// When the next attempt may start (respawn delay), ms since the epoch.
    pub next_start_ms: u64,
    /// Quick failures in a row; the back-off doubles with each.
    pub consecutive_failures: u32,
    /// Start time of the current local process (or submit command), to recognise it after a
    /// restart.
    pub pid_ticks: Option<u64>,
    /// Bumped by every stop and restart, so a thread from before knows to quit.
    pub generation: u64,
    /// When the automatic respawns after failures since the user's last start or stop were
    /// scheduled (ms since the epoch, those within the start limit's window): what the start
    /// limit counts.
    #[serde(default)]
    pub respawns_ms: Vec<u64>,
}

impl JobRecord {
    /// Applies a start's choice of what to restore from.
    pub fn restore(&mut self, restore: &crate::protocol::Restore) {
        use crate::protocol::Restore;
        match restore {
            Restore::Last => {}
            Restore::Savepoint { path } => self.last_savepoint = Some(path.clone()),
            Restore::Empty => self.last_savepoint = None,
        }
    }

    /// A job the user just asked to run, before its first attempt.
    pub fn new(spec: JobSpec) -> JobRecord {
        JobRecord {
            spec,
            desired: Desired::Running,
            state: JobState::Starting,
            reason: None,
            attempts: Vec::new(),
            last_savepoint: None,
            next_start_ms: 0,
            consecutive_failures: 0,
            pid_ticks: None,
            generation: 0,
            respawns_ms: Vec::new(),
        }
    }

    /// The attempt that has not ended, if any.
    pub fn current(&self) -> Option<&Attempt> {
        self.attempts.last().filter(|a| a.ended_ms.is_none())
    }

    pub fn current_mut(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut().filter(|a| a.ended_ms.is_none())
    }

    /// The user asked for a start or a stop: a new generation, and the crash-loop bookkeeping
    /// (back-off, start limit) begins afresh.
    pub fn user_request(&mut self, desired: Desired) {
        self.desired = desired;
        self.generation += 1;
        self.next_start_ms = 0;
        self.consecutive_failures = 0;
        self.respawns_ms.clear();
    }

    pub fn report(&self) -> JobReport {
        JobReport {
            id: self.spec.id.clone(),
            state: self.state,
            reason: self.reason.clone(),
            attempts: self.attempts.clone(),
            last_savepoint: self.last_savepoint.clone(),
            resources: None,
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Saved {
    jobs: BTreeMap<String, JobRecord>,
}

/// `DIR/state.json`.
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn in_dir(dir: &Path) -> StateFile {
        StateFile {
            path: dir.join("state.json"),
        }
    }

    /// The saved jobs; none when the file does not exist yet.
    pub fn load(&self) -> anyhow::Result<BTreeMap<String, JobRecord>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice::<Saved>(&bytes)
                .map(|saved| saved.jobs)
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", self.path.display())),
        }
    }

    /// Writes all jobs atomically (temp file + rename), so a crash leaves the old state or the
    /// new one, never half of it.
    pub fn save(&self, jobs: &BTreeMap<String, JobRecord>) -> std::io::Result<()> {
        #[derive(Serialize)]
        struct SavedRef<'a> {
            jobs: &'a BTreeMap<String, JobRecord>,
        }
        let temp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&SavedRef { jobs }).map_err(std::io::Error::other)?;
        std::fs::write(&temp, bytes)?;
        std::fs::rename(&temp, &self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state.json as the supervisor wrote it before `respawns_ms` existed.
    const BEFORE_RESPAWNS: &str = r#"{
  "jobs": {
    "app/c": {
      "spec": {
        "id": "app/c",
        "job": {
          "name": "app-c",
          "kind": "streaming",
          "submit": { "argv": ["/bin/sh", "job.sh"], "env": {} },
          "respawn": { "policy": "always", "delay_sec": 0 },
          "yarn": null,
          "stop": [{ "kind": "signal", "grace_sec": 5 }]
        },
        "workdir": "/srv/app",
        "user": null,
        "savepoint_dir": null,
        "env": []
      },
      "desired": "running",
      "state": "running",
      "reason": null,
      "attempts": [{
        "number": 3, "started_ms": 1000, "ended_ms": null, "pid": 4242,
        "yarn_application_id": null, "outcome": null, "reason": null,
        "log": "/var/lib/dm/logs/app__c/attempt-3.log"
      }],
      "last_savepoint": null,
      "next_start_ms": 0,
      "consecutive_failures": 2,
      "pid_ticks": 77,
      "generation": 4
    }
  }
}"#;

    #[test]
    fn an_older_state_file_is_read_and_written_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        assert!(file.load().unwrap().is_empty(), "no file yet: no jobs");
        std::fs::write(file.path(), BEFORE_RESPAWNS).unwrap();
        let jobs = file.load().unwrap();
        let job = &jobs["app/c"];
        assert_eq!(job.current().and_then(|a| a.pid), Some(4242));
        assert_eq!(job.pid_ticks, Some(77));
        assert!(job.respawns_ms.is_empty());
        file.save(&jobs).unwrap();
        let again = file.load().unwrap();
        assert_eq!(again["app/c"].attempts, job.attempts);
        assert_eq!(again["app/c"].generation, 4);
        assert!(!dir.path().join("state.json.tmp").exists());
    }

    #[test]
    fn an_unreadable_state_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        std::fs::write(file.path(), "{ not json").unwrap();
        let error = file.load().unwrap_err().to_string();
        assert!(error.contains("state.json"), "{error}");
    }
}
