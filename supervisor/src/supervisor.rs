//! The supervisor's core: per job, one thread that observes its current attempt, asks
//! [`decide`] what to do, records the answer in the job's record (saved before anything is
//! done), then acts on it through the runner of the job's kind ([`LocalRunner`],
//! [`YarnRunner`]); and the requests dmd makes (start, stop, remove, status, logs). All state
//! is saved to disk after every change, so a restarted supervisor adopts what still runs
//! instead of starting it again.

use crate::decide::{self, Launched, Observation, Step};
use crate::local_runner::LocalRunner;
use crate::process;
use crate::protocol::{Attempt, JobReport, JobSpec, JobState, Outcome};
use crate::state::{Desired, JobRecord, StateFile};
use crate::yarn_runner::YarnRunner;
use dm_clients::yarn::ResourceManager;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const KEPT_ATTEMPT_LOGS: usize = 10;
const JOB_THREAD_STACK: usize = 256 * 1024;

struct Inner {
    jobs: BTreeMap<String, JobRecord>,
}

pub struct Supervisor {
    dir: PathBuf,
    state: StateFile,
    inner: Mutex<Inner>,
    changed: Condvar,
    local: LocalRunner,
    yarn: YarnRunner,
    /// Kept between reports so CPU use is measured over the interval between them.
    system: Mutex<sysinfo::System>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Supervisor {
    /// Opens (or creates) the state in `dir` and resumes every job that should run, adopting
    /// attempts that are still alive.
    pub fn open(dir: &Path, rm: Option<ResourceManager>) -> anyhow::Result<Arc<Supervisor>> {
        std::fs::create_dir_all(dir.join("logs"))?;
        let state = StateFile::in_dir(dir);
        let jobs = state.load()?;
        let supervisor = Arc::new(Supervisor {
            dir: dir.to_path_buf(),
            state,
            inner: Mutex::new(Inner { jobs }),
            changed: Condvar::new(),
            local: LocalRunner::default(),
            yarn: YarnRunner::new(rm),
            system: Mutex::new(
                sysinfo::System::new()
                    .map_err(|e| anyhow::anyhow!("cannot read process figures: {e}"))?,
            ),
        });
        let resume: Vec<(String, u64)> = supervisor
            .lock()
            .jobs
            .values()
            .filter(|j| j.desired == Desired::Running)
            .map(|j| (j.spec.id.clone(), j.generation))
            .collect();
        for (id, generation) in resume {
            supervisor.spawn_thread(id, generation);
        }
        Ok(supervisor)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, inner: &Inner) {
        if let Err(e) = self.state.save(&inner.jobs) {
            eprintln!(
                "dm-supervisor: cannot save {}: {e}",
                self.state.path().display()
            );
        }
    }

    fn spawn_thread(self: &Arc<Self>, id: String, generation: u64) {
        let supervisor = Arc::clone(self);
        std::thread::Builder::new()
            .name(format!("job {id}"))
            // Job threads only wait and make small calls; a small stack keeps many jobs cheap.
            .stack_size(JOB_THREAD_STACK)
            .spawn(move || supervisor.run_job(&id, generation))
            .expect("thread spawn");
    }

    /// Starts supervising `spec`. A job already running is left alone (never started twice);
    /// a stopped or failed one starts again with the new spec, its back-off and start limit
    /// begun afresh.
    pub fn start(self: &Arc<Self>, spec: JobSpec) -> JobReport {
        let mut inner = self.lock();
        let id = spec.id.clone();
        let generation = match inner.jobs.get_mut(&id) {
            Some(job) if job.desired == Desired::Running => return job.report(),
            Some(job) => {
                job.restore(&spec.restore);
                job.spec = spec;
                job.user_request(Desired::Running);
                job.state = JobState::Starting;
                job.reason = None;
                job.generation
            }
            None => {
                let mut job = JobRecord::new(spec);
                job.restore(&job.spec.restore.clone());
                inner.jobs.insert(id.clone(), job);
                0
            }
        };
        self.save(&inner);
        let report = inner.jobs[&id].report();
        drop(inner);
        self.spawn_thread(id, generation);
        report
    }

    /// Records a savepoint dmd took of a job, as what its next respawn resumes from.
    pub fn record_savepoint(&self, id: &str, path: &str) -> Result<(), String> {
        let mut inner = self.lock();
        let job = inner
            .jobs
            .get_mut(id)
            .ok_or_else(|| format!("no job {id}"))?;
        job.last_savepoint = Some(path.to_string());
        self.save(&inner);
        Ok(())
    }

    pub fn status(&self, id: &str) -> Option<JobReport> {
        let report = self.lock().jobs.get(id).map(JobRecord::report)?;
        Some(self.with_resources(report))
    }

    pub fn list(&self) -> Vec<JobReport> {
        let reports: Vec<JobReport> = self.lock().jobs.values().map(JobRecord::report).collect();
        reports
            .into_iter()
            .map(|r| self.with_resources(r))
            .collect()
    }

    /// Adds the memory and CPU of the running local process, through sysinfo.
    fn with_resources(&self, mut report: JobReport) -> JobReport {
        let Some(pid) = report
            .attempts
            .last()
            .filter(|a| a.ended_ms.is_none())
            .and_then(|a| a.pid)
        else {
            return report;
        };
        let pid = sysinfo::Pid::from_u32(pid);
        let mut system = self.system.lock().unwrap_or_else(|p| p.into_inner());
        system.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
        report.resources = system.process(pid).map(|p| crate::protocol::Resources {
            memory_bytes: p.memory(),
            cpu_percent: p.cpu_usage(),
        });
        report
    }

    /// Forgets a job that is not running, with its logs.
    pub fn remove(&self, id: &str) -> Result<(), String> {
        let mut inner = self.lock();
        match inner.jobs.get(id) {
            None => return Err(format!("no job {id}")),
            Some(job) if job.desired == Desired::Running || job.current().is_some() => {
                return Err(format!("job {id} is not stopped; stop it first"))
            }
            Some(_) => {}
        }
        inner.jobs.remove(id);
        self.save(&inner);
        let _ = std::fs::remove_dir_all(self.log_dir(id));
        Ok(())
    }

    pub fn log(
        &self,
        id: &str,
        attempt: Option<u32>,
        max_bytes: u64,
    ) -> Result<(u32, String), String> {
        let inner = self.lock();
        let job = inner.jobs.get(id).ok_or_else(|| format!("no job {id}"))?;
        let chosen = match attempt {
            Some(n) => job.attempts.iter().find(|a| a.number == n),
            None => job.attempts.last(),
        }
        .ok_or_else(|| format!("job {id} has no such attempt"))?;
        Ok((chosen.number, process::tail(&chosen.log, max_bytes)))
    }

    fn log_dir(&self, id: &str) -> PathBuf {
        self.dir.join("logs").join(id.replace('/', "__"))
    }
    /// Stops the job and keeps it stopped. Returns once it has stopped (or could not be).
    pub fn stop(self: &Arc<Self>, id: &str, cancel: bool) -> Result<JobReport, String> {
        let (spec, attempt, pid_ticks) = {
            let mut inner = self.lock();
            let job = inner
                .jobs
                .get_mut(id)
                .ok_or_else(|| format!("no job {id}"))?;
            job.user_request(Desired::Stopped);
            let found = (job.spec.clone(), job.current().cloned(), job.pid_ticks);
            self.save(&inner);
            self.changed.notify_all();
            found
        };
        let outcome = match &attempt {
            None => Ok(None),
            Some(attempt) if spec.job.yarn.is_some() => self.yarn.stop(&spec, attempt, cancel),
            Some(attempt) => self.local.stop(&spec, attempt, pid_ticks).map(|_| None),
        };
        let mut inner = self.lock();
        let job = inner
            .jobs
            .get_mut(id)
            .ok_or_else(|| format!("job {id} vanished while stopping"))?;
        match outcome {
            Ok(savepoint) => {
                if let Some(current) = job.current_mut() {
                    current.ended_ms = Some(now_ms());
                    current.outcome = Some(Outcome::Stopped);
                    current.pid = None;
                }
                if savepoint.is_some() {
                    job.last_savepoint = savepoint;
                }
                job.pid_ticks = None;
                job.state = JobState::Stopped;
                job.reason = None;
            }
            Err(e) => {
                job.reason = Some(format!("stop failed: {e}"));
            }
        }
        let report = job.report();
        self.save(&inner);
        match &report.reason {
            Some(reason) => Err(reason.clone()),
            None => Ok(report),
        }
    }

    /// One job's life until it is stopped or given up: observe the current attempt, decide,
    /// record the decision, act on it.
    fn run_job(self: Arc<Self>, id: &str, generation: u64) {
        // What starting an attempt gave is the next observation; otherwise the runner looks.
        let mut seen: Option<Observation> = None;
        loop {
            if seen.is_none() {
                let Some(look) = self.what_to_look_at(id, generation) else {
                    return;
                };
                // Without the lock: the RM or a process may take a while to answer.
                seen = look.map(|look| self.observe(id, look));
            }
            let step = {
                let mut inner = self.lock();
                let Some(job) = inner
                    .jobs
                    .get_mut(id)
                    .filter(|j| j.generation == generation)
                else {
                    drop(inner);
                    // Stopped (or removed) while this attempt was starting: undo what it started.
                    if let Some(Observation::Started(Ok(launched))) = seen {
                        self.undo(id, &launched);
                    }
                    return;
                };
                let now = now_ms();
                let step = decide::decide(job, seen.take().as_ref(), now);
                if decide::record(job, &step, now, &self.log_dir(id)) {
                    self.save(&inner);
                }
                step
            };
            match step {
                Step::Quit => return,
                Step::BackOff { until_ms } => {
                    self.wait(Duration::from_millis(until_ms.saturating_sub(now_ms())))
                }
                Step::Watch(after) => self.wait(after),
                Step::Start { .. } => seen = self.start_attempt(id, generation),
                Step::Running(_) | Step::Adopt { .. } => {}
                Step::Ended { kill, .. } => {
                    if let Some(app_id) = kill {
                        self.yarn.kill(&app_id);
                    }
                }
            }
        }
    }

    /// Waits this long, or until a request changes a job.
    fn wait(&self, delay: Duration) {
        let inner = self.lock();
        let _ = self.changed.wait_timeout(inner, delay);
    }

    fn record_of(&self, id: &str, generation: u64) -> Option<JobRecord> {
        self.lock()
            .jobs
            .get(id)
            .filter(|j| j.generation == generation)
            .cloned()
    }

    /// `None` once the thread is stale; then the current attempt, if any, with what its runner
    /// needs (copied, rather than the whole record, on every tick).
    fn what_to_look_at(&self, id: &str, generation: u64) -> Option<Option<Look>> {
        let inner = self.lock();
        let job = inner.jobs.get(id).filter(|j| j.generation == generation)?;
        Some(job.current().map(|attempt| Look {
            attempt: attempt.clone(),
            pid_ticks: job.pid_ticks,
            yarn_tags: job.spec.job.yarn.as_ref().map(|y| y.tags.clone()),
        }))
    }

    fn observe(&self, id: &str, look: Look) -> Observation {
        match &look.yarn_tags {
            Some(tags) => self.yarn.observe(tags, &look.attempt, look.pid_ticks),
            None => Observation::Local(self.local.observe(id, &look.attempt, look.pid_ticks)),
        }
    }

    /// Starts the attempt just recorded; what it gave is the next observation.
    fn start_attempt(&self, id: &str, generation: u64) -> Option<Observation> {
        let job = self.record_of(id, generation)?;
        let attempt = job.current()?;
        prune_logs(&job.attempts);
        let result = if job.spec.job.yarn.is_some() {
            self.yarn.start(
                &job.spec,
                attempt,
                job.last_savepoint.clone(),
                // Recorded, so a supervisor restarted meanwhile knows the submission is under way.
                &|pid| self.record_submit_process(id, attempt.number, pid),
            )
        } else {
            self.local
                .start(&job.spec, attempt, job.last_savepoint.clone())
        };
        Some(Observation::Started(result))
    }

    fn undo(&self, id: &str, launched: &Launched) {
        match launched {
            Launched::Yarn { app_id } => self.yarn.kill(app_id),
            Launched::Local { pid, .. } => self.local.undo(id, *pid),
        }
    }

    fn record_submit_process(&self, id: &str, number: u32, pid: u32) {
        let mut inner = self.lock();
        if let Some(job) = inner.jobs.get_mut(id) {
            job.pid_ticks = process::start_ticks(pid);
            if let Some(current) = job.current_mut().filter(|a| a.number == number) {
                current.pid = Some(pid);
            }
            self.save(&inner);
        }
    }
}

/// What a job's thread looks at on a tick.
struct Look {
    attempt: Attempt,
    pid_ticks: Option<u64>,
    /// The job's YARN tags; `None` for a local job.
    yarn_tags: Option<Vec<String>>,
}

/// Keeps the logs of the last attempts only.
fn prune_logs(attempts: &[Attempt]) {
    let excess = attempts.len().saturating_sub(KEPT_ATTEMPT_LOGS);
    for attempt in &attempts[..excess] {
        let _ = std::fs::remove_file(&attempt.log);
        let _ = std::fs::remove_file(attempt.log.with_extension("log.1"));
    }
}
