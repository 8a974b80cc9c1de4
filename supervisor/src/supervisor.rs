//! The supervisor's core: per job, one thread that starts attempts, watches them, applies the
//! respawn policy, and stops them on request. All state is saved to disk after every change,
//! so a restarted supervisor adopts what still runs instead of starting it again.

use crate::failure::{self, YarnFailure, HEALTHY_RUN_MS};
use crate::process;
use crate::protocol::{Attempt, JobReport, JobSpec, JobState, Outcome};
use crate::yarn::{FlinkJob, FlinkProgress, ResourceManager, YarnApp};
use dm_plugin_api::{expand, RespawnPolicy, Slot, StopStep};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Back-off doubles per quick failure up to this.
pub const MAX_BACKOFF_MS: u64 = 300_000;
/// More starts than this within the window make the supervisor give up.
const START_LIMIT: usize = 10;
const START_LIMIT_WINDOW_MS: u64 = 30 * 60_000;
/// A YARN application still waiting for resources after this long is killed.
pub const SUBMISSION_DEADLINE: Duration = Duration::from_secs(300);
/// How long a submit command may run.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(600);
const LOG_CAP_BYTES: u64 = 16 << 20;
const KEPT_ATTEMPT_LOGS: usize = 10;
const JOB_THREAD_STACK: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Desired {
    Running,
    Stopped,
}

/// Everything known about one job; saved in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobRecord {
    spec: JobSpec,
    desired: Desired,
    state: JobState,
    reason: Option<String>,
    attempts: Vec<Attempt>,
    last_savepoint: Option<String>,
    /// When the next attempt may start (respawn delay), ms since the epoch.
    next_start_ms: u64,
    consecutive_failures: u32,
    /// Start time of the current local process, to recognise it after a restart.
    pid_ticks: Option<u64>,
    /// Bumped by every stop, so a thread from before a stop knows to quit.
    generation: u64,
}

impl JobRecord {
    fn current(&self) -> Option<&Attempt> {
        self.attempts.last().filter(|a| a.ended_ms.is_none())
    }

    fn current_mut(&mut self) -> Option<&mut Attempt> {
        self.attempts.last_mut().filter(|a| a.ended_ms.is_none())
    }

    fn report(&self) -> JobReport {
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

struct Inner {
    jobs: BTreeMap<String, JobRecord>,
    /// Processes this supervisor spawned (and so must reap); adopted ones are not here.
    children: HashMap<String, Child>,
}

pub struct Supervisor {
    dir: PathBuf,
    inner: Mutex<Inner>,
    changed: Condvar,
    rm: Option<ResourceManager>,
    /// Kept between reports so CPU use is measured over the interval between them.
    system: Mutex<sysinfo::System>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a job thread does next.
enum Step {
    Quit,
    Wait(Duration),
    Start(u32),
    Watch,
}

impl Supervisor {
    /// Opens (or creates) the state in `dir` and resumes every job that should run, adopting
    /// attempts that are still alive.
    pub fn open(dir: &Path, rm: Option<ResourceManager>) -> anyhow::Result<Arc<Supervisor>> {
        std::fs::create_dir_all(dir.join("logs"))?;
        let state_file = dir.join("state.json");
        let saved: Saved = match std::fs::read(&state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", state_file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(e) => return Err(e.into()),
        };
        let supervisor = Arc::new(Supervisor {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                jobs: saved.jobs,
                children: HashMap::new(),
            }),
            changed: Condvar::new(),
            rm,
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

    /// Writes the state atomically (temp file + rename).
    fn save(&self, inner: &Inner) {
        let saved = Saved {
            jobs: inner.jobs.clone(),
        };
        let path = self.dir.join("state.json");
        let temp = self.dir.join("state.json.tmp");
        let result = serde_json::to_vec_pretty(&saved)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&temp, bytes))
            .and_then(|_| std::fs::rename(&temp, &path));
        if let Err(e) = result {
            eprintln!("dm-supervisor: cannot save {}: {e}", path.display());
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
    /// a stopped one starts again with the new spec.
    pub fn start(self: &Arc<Self>, spec: JobSpec) -> JobReport {
        let mut inner = self.lock();
        let id = spec.id.clone();
        let restart = match inner.jobs.get_mut(&id) {
            Some(job) if job.desired == Desired::Running => return job.report(),
            Some(job) => {
                job.spec = spec;
                job.desired = Desired::Running;
                job.state = JobState::Starting;
                job.reason = None;
                job.next_start_ms = 0;
                job.consecutive_failures = 0;
                job.generation += 1;
                job.generation
            }
            None => {
                inner.jobs.insert(
                    id.clone(),
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
                    },
                );
                0
            }
        };
        self.save(&inner);
        let report = inner.jobs[&id].report();
        drop(inner);
        self.spawn_thread(id, restart);
        report
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
    pub fn stop(self: &Arc<Self>, id: &str) -> Result<JobReport, String> {
        let (spec, attempt, pid_ticks) = {
            let mut inner = self.lock();
            let job = inner
                .jobs
                .get_mut(id)
                .ok_or_else(|| format!("no job {id}"))?;
            job.desired = Desired::Stopped;
            job.generation += 1;
            let found = (job.spec.clone(), job.current().cloned(), job.pid_ticks);
            self.save(&inner);
            self.changed.notify_all();
            found
        };
        let outcome = match &attempt {
            None => Ok(None),
            Some(attempt) if spec.job.yarn.is_some() => self.stop_yarn(&spec, attempt),
            Some(attempt) => self.stop_local(id, &spec, attempt, pid_ticks).map(|_| None),
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

    fn stop_local(
        &self,
        id: &str,
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
            .unwrap_or(Duration::from_secs(30));
        let stopped = process::stop_group(pid, grace, || {
            self.local_ended(id, pid, pid_ticks).is_some()
        });
        if stopped {
            Ok(())
        } else {
            Err(format!("process {pid} survived SIGKILL"))
        }
    }

    /// Whether the local attempt has ended, with its outcome. Reaps our own children.
    fn local_ended(
        &self,
        id: &str,
        pid: u32,
        pid_ticks: Option<u64>,
    ) -> Option<(Outcome, Option<i32>)> {
        let mut inner = self.lock();
        if let Some(child) = inner.children.get_mut(id) {
            return match child.try_wait() {
                Ok(Some(status)) => {
                    inner.children.remove(id);
                    let outcome = if status.success() {
                        Outcome::Succeeded
                    } else {
                        Outcome::Failed
                    };
                    Some((outcome, status.code()))
                }
                Ok(None) => None,
                Err(_) => Some((Outcome::Unknown, None)),
            };
        }
        // Adopted after a restart: we cannot learn its exit status, only that it is gone.
        match pid_ticks {
            Some(ticks) if process::is_alive(pid, ticks) => None,
            _ => Some((Outcome::Unknown, None)),
        }
    }

    fn stop_yarn(&self, spec: &JobSpec, attempt: &Attempt) -> Result<Option<String>, String> {
        let rm = self.rm.as_ref().ok_or("no ResourceManager configured")?;
        let Some(app_id) = attempt.yarn_application_id.clone() else {
            // Still submitting: end the submit command, then kill whatever it produced, by the
            // attempt's tag.
            if let Some(pid) = attempt.pid {
                process::stop_group(pid, Duration::from_secs(5), || {
                    process::start_ticks(pid).is_none()
                });
            }
            return self.kill_attempt_apps(rm, attempt).map(|_| None);
        };
        let app = rm.app(&app_id)?;
        if app.is_final() {
            return Ok(None);
        }
        let mut errors = Vec::new();
        for step in &spec.job.stop {
            match step {
                StopStep::YarnKill => match rm
                    .kill(&app_id)
                    .and_then(|_| wait_final(rm, &app_id, Duration::from_secs(60)))
                {
                    Ok(_) => return Ok(None),
                    Err(e) => errors.push(e),
                },
                StopStep::Signal { .. } => {}
                StopStep::Run {
                    command,
                    timeout_sec,
                    savepoint,
                } => {
                    let job_id = if *savepoint {
                        wait_all_tasks_running(rm, &app)
                    } else {
                        rm.running_flink_job(&app)
                    }
                    .map(|j| j.id);
                    let value_of = |slot: Slot| match slot {
                        Slot::YarnApplicationId => Some(app_id.clone()),
                        Slot::FlinkJobId => job_id.clone(),
                        Slot::SavepointDir => spec.savepoint_dir.clone(),
                        _ => None,
                    };
                    let argv = match expand(&command.argv, &value_of) {
                        Ok(argv) => argv,
                        Err(e) => {
                            errors.push(format!("skipped a stop command: {e}"));
                            continue;
                        }
                    };
                    let log = attempt.log.clone();
                    match run_to_end(
                        &argv,
                        &spec.workdir,
                        &spec.env,
                        spec.user.as_deref(),
                        &log,
                        Duration::from_secs(*timeout_sec),
                        &|_| {},
                    ) {
                        Ok(true) => {
                            let written = savepoint
                                .then(|| savepoint_path(&process::tail(&log, 64 * 1024)))
                                .flatten();
                            if wait_final(rm, &app_id, Duration::from_secs(60)).is_ok() {
                                return Ok(written);
                            }
                            errors.push(format!(
                                "{} returned but the application did not end",
                                argv[1]
                            ));
                        }
                        Ok(false) => errors.push(format!(
                            "{} failed (see the attempt log)",
                            argv.get(1).map(String::as_str).unwrap_or("stop")
                        )),
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        Err(errors.join("; "))
    }

    fn kill_attempt_apps(&self, rm: &ResourceManager, attempt: &Attempt) -> Result<(), String> {
        let tag = attempt_tag(attempt);
        for app in rm.apps_tagged(&tag)?.into_iter().filter(|a| !a.is_final()) {
            rm.kill(&app.id)?;
        }
        Ok(())
    }

    /// One job's life: start, watch, respawn by policy, until stopped or given up.
    fn run_job(self: Arc<Self>, id: &str, generation: u64) {
        loop {
            match self.next_step(id, generation) {
                Step::Quit => return,
                Step::Wait(delay) => {
                    let inner = self.lock();
                    let _ = self.changed.wait_timeout(inner, delay);
                }
                Step::Start(number) => self.start_attempt(id, generation, number),
                Step::Watch => {
                    let interval = self.watch(id, generation);
                    let inner = self.lock();
                    let _ = self.changed.wait_timeout(inner, interval);
                }
            }
        }
    }

    fn next_step(&self, id: &str, generation: u64) -> Step {
        let mut inner = self.lock();
        let Some(job) = inner.jobs.get_mut(id) else {
            return Step::Quit;
        };
        if job.generation != generation || job.desired != Desired::Running {
            return Step::Quit;
        }
        if job.current().is_some() {
            return Step::Watch;
        }
        if matches!(job.state, JobState::Ended | JobState::Failed) {
            return Step::Quit;
        }
        let now = now_ms();
        if now < job.next_start_ms {
            job.state = JobState::BackingOff;
            return Step::Wait(Duration::from_millis(job.next_start_ms - now));
        }
        let window_start = now.saturating_sub(START_LIMIT_WINDOW_MS);
        let recent = job
            .attempts
            .iter()
            .filter(|a| a.started_ms >= window_start)
            .count();
        if recent >= START_LIMIT {
            job.state = JobState::Failed;
            job.reason = Some(format!(
                "start limit hit: {recent} attempts in {} minutes; last failure: {}",
                START_LIMIT_WINDOW_MS / 60_000,
                job.attempts
                    .last()
                    .and_then(|a| a.reason.clone())
                    .unwrap_or_else(|| "none recorded".into())
            ));
            self.save(&inner);
            return Step::Quit;
        }
        let number = job.attempts.last().map_or(1, |a| a.number + 1);
        let log = self.log_dir(id).join(format!("attempt-{number}.log"));
        job.attempts.push(Attempt {
            number,
            started_ms: now,
            ended_ms: None,
            pid: None,
            yarn_application_id: None,
            outcome: None,
            reason: None,
            log,
        });
        job.state = JobState::Starting;
        prune_logs(&mut job.attempts);
        self.save(&inner);
        Step::Start(number)
    }

    fn start_attempt(&self, id: &str, generation: u64, number: u32) {
        let (spec, attempt, last_savepoint) = {
            let inner = self.lock();
            let Some(job) = inner.jobs.get(id) else {
                return;
            };
            let Some(attempt) = job.current().cloned() else {
                return;
            };
            (job.spec.clone(), attempt, job.last_savepoint.clone())
        };
        let result = if spec.job.yarn.is_some() {
            self.start_on_yarn(&spec, &attempt, last_savepoint)
                .map(|app| (None, Some(app)))
        } else {
            self.start_local(id, &spec, &attempt, last_savepoint)
                .map(|pid| (Some(pid), None))
                .map_err(StartError::transient)
        };
        let mut inner = self.lock();
        let stale = inner
            .jobs
            .get(id)
            .is_none_or(|job| job.generation != generation);
        if stale {
            // Stopped (or removed) while this attempt was starting: undo what it started.
            drop(inner);
            match result {
                Ok((_, Some(app))) => {
                    if let Some(rm) = &self.rm {
                        let _ = rm.kill(&app);
                    }
                }
                Ok((Some(pid), None)) => {
                    process::stop_group(pid, Duration::from_secs(5), || {
                        self.local_ended(id, pid, None).is_some()
                    });
                }
                _ => {}
            }
            return;
        }
        let job = inner.jobs.get_mut(id).expect("checked above");
        match result {
            Ok((pid, app)) => {
                job.pid_ticks = pid.and_then(process::start_ticks);
                if let Some(current) = job.current_mut().filter(|a| a.number == number) {
                    current.pid = pid;
                    current.yarn_application_id = app;
                }
                job.state = JobState::Running;
            }
            Err(StartError {
                reason,
                deterministic,
            }) => {
                if let Some(current) = job.current_mut() {
                    current.ended_ms = Some(now_ms());
                    current.outcome = Some(Outcome::Failed);
                    current.reason = Some(reason);
                }
                schedule_after_end(job, Outcome::Failed, deterministic);
            }
        }
        self.save(&inner);
    }

    fn start_local(
        &self,
        id: &str,
        spec: &JobSpec,
        attempt: &Attempt,
        last_savepoint: Option<String>,
    ) -> Result<u32, String> {
        let value_of = |slot: Slot| match slot {
            Slot::RestoreFrom => last_savepoint.clone(),
            _ => None,
        };
        let argv = expand(&spec.job.submit.argv, &value_of)?;
        let env = submit_env(spec);
        let child = process::spawn(
            &argv,
            &spec.workdir,
            &env,
            spec.user.as_deref(),
            &attempt.log,
        )
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
        let pid = child.id();
        self.lock().children.insert(id.to_string(), child);
        Ok(pid)
    }

    /// Adopts a live application of this job if YARN has one, else submits a new one. Two
    /// copies of one component never run.
    fn start_on_yarn(
        &self,
        spec: &JobSpec,
        attempt: &Attempt,
        last_savepoint: Option<String>,
    ) -> Result<String, StartError> {
        let rm = self.rm.as_ref().ok_or_else(|| {
            StartError::transient("no ResourceManager configured for a YARN job".into())
        })?;
        let yarn = spec.job.yarn.as_ref().expect("checked by the caller");
        let mut live: Vec<YarnApp> = match yarn.tags.last() {
            Some(tag) => rm
                .apps_tagged(tag)?
                .into_iter()
                .filter(|a| !a.is_final() && a.has_tags(&yarn.tags))
                .collect(),
            None => Vec::new(),
        };
        live.sort_by_key(|a| a.started_time);
        if let Some(newest) = live.pop() {
            for extra in live {
                rm.kill(&extra.id)?;
            }
            return Ok(newest.id);
        }
        let tags = yarn
            .tags
            .iter()
            .cloned()
            .chain([attempt_tag(attempt)])
            .collect::<Vec<_>>()
            .join(",");
        let value_of = |slot: Slot| match slot {
            Slot::YarnTags => Some(tags.clone()),
            Slot::RestoreFrom => last_savepoint.clone(),
            _ => None,
        };
        let argv = expand(&spec.job.submit.argv, &value_of).map_err(StartError::deterministic)?;
        let env = submit_env(spec);
        let submitted = run_to_end(
            &argv,
            &spec.workdir,
            &env,
            spec.user.as_deref(),
            &attempt.log,
            SUBMIT_TIMEOUT,
            // Recorded, so a supervisor restarted meanwhile knows the submission is under way.
            &|pid| self.record_submit_process(&spec.id, attempt.number, pid),
        )
        .map_err(|reason| StartError {
            deterministic: failure::is_deterministic(YarnFailure::Submission { log_tail: &reason }),
            reason,
        })?;
        let tag = attempt_tag(attempt);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(app) = rm.apps_tagged(&tag)?.into_iter().next() {
                return Ok(app.id);
            }
            if !submitted || Instant::now() > deadline {
                let log_tail = process::tail(&attempt.log, 256 * 1024);
                let reason = match (submitted, process::root_cause(&log_tail)) {
                    (_, Some(cause)) => format!("submission failed: {cause}"),
                    (false, None) => "the submit command failed (see the attempt log)".to_string(),
                    (true, None) => {
                        "the submit command ended but YARN has no application for this attempt"
                            .to_string()
                    }
                };
                // A client that ended well but left nothing on YARN is not judged: YARN may
                // be slow to list it.
                let deterministic = !submitted
                    && failure::is_deterministic(YarnFailure::Submission {
                        log_tail: &log_tail,
                    });
                return Err(StartError {
                    reason,
                    deterministic,
                });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Checks the current attempt once; returns how long to wait before the next check.
    fn watch(&self, id: &str, generation: u64) -> Duration {
        let (attempt, pid_ticks, yarn) = {
            let inner = self.lock();
            let Some(job) = inner.jobs.get(id) else {
                return Duration::ZERO;
            };
            let Some(attempt) = job.current().cloned() else {
                return Duration::ZERO;
            };
            (attempt, job.pid_ticks, job.spec.job.yarn.is_some())
        };
        if yarn && attempt.yarn_application_id.is_none() {
            return self.resume_submission(id, generation, &attempt);
        }
        let ended = if yarn {
            match (self.rm.as_ref(), attempt.yarn_application_id.as_deref()) {
                (Some(rm), Some(app_id)) => match rm.find(app_id) {
                    Ok(None) => Some((Outcome::Unknown, Some(format!("YARN no longer knows application {app_id} (was the ResourceManager restarted?)")), false)),
                    Ok(Some(app)) if app.is_final() => {
                        let outcome = if app.final_status == "SUCCEEDED" {
                            Outcome::Succeeded
                        } else {
                            Outcome::Failed
                        };
                        let deterministic = app.final_status == "FAILED"
                            && failure::is_deterministic(YarnFailure::Application {
                                ran_ms: elapsed_since(attempt.started_ms).as_millis() as u64,
                                diagnostics: app.diagnostics.as_deref().unwrap_or(""),
                            });
                        let reason = (outcome == Outcome::Failed).then(|| {
                            let first = app
                                .diagnostics
                                .as_deref()
                                .and_then(|d| d.lines().next())
                                .unwrap_or("")
                                .trim()
                                .to_string();
                            format!(
                                "YARN application {} ended {} ({}){}",
                                app.id,
                                app.state,
                                app.final_status,
                                if first.is_empty() {
                                    String::new()
                                } else {
                                    format!(": {first}")
                                }
                            )
                        });
                        Some((outcome, reason, deterministic))
                    }
                    Ok(Some(app))
                        if app.is_pending()
                            && elapsed_since(attempt.started_ms) > SUBMISSION_DEADLINE =>
                    {
                        let _ = rm.kill(app_id);
                        Some((
                            Outcome::Failed,
                            Some(format!(
                                "YARN application {app_id} was still {} after {} s: killed",
                                app.state,
                                SUBMISSION_DEADLINE.as_secs()
                            )),
                            false,
                        ))
                    }
                    // Running, or the RM cannot be reached: an outage is not a failure.
                    _ => None,
                },
                _ => None,
            }
        } else {
            process::rotate_if_larger(&attempt.log, LOG_CAP_BYTES);
            attempt
                .pid
                .and_then(|pid| self.local_ended(id, pid, pid_ticks))
                .map(|(outcome, code)| {
                    let reason = match outcome {
                        Outcome::Failed => Some(
                            process::root_cause(&process::tail(&attempt.log, 256 * 1024))
                                .unwrap_or_else(|| {
                                    format!(
                                        "exited with status {}",
                                        code.map_or("(killed by a signal)".to_string(), |c| c
                                            .to_string())
                                    )
                                }),
                        ),
                        Outcome::Unknown => Some(
                            "ended while the supervisor was not running; exit status unknown"
                                .to_string(),
                        ),
                        _ => None,
                    };
                    (outcome, reason, false)
                })
        };
        let Some((outcome, reason, deterministic)) = ended else {
            return if yarn {
                Duration::from_secs(2)
            } else {
                Duration::from_millis(200)
            };
        };
        let mut inner = self.lock();
        if let Some(job) = inner
            .jobs
            .get_mut(id)
            .filter(|j| j.generation == generation)
        {
            if let Some(current) = job.current_mut() {
                current.ended_ms = Some(now_ms());
                current.outcome = Some(outcome);
                current.reason = reason;
                current.pid = None;
            }
            job.pid_ticks = None;
            schedule_after_end(job, outcome, deterministic);
            self.save(&inner);
        }
        Duration::ZERO
    }
}

impl Supervisor {
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

    /// An attempt left without its YARN application id: this supervisor was restarted while the
    /// attempt was being submitted. The submit command may still deliver (it outlives the
    /// supervisor), so the application is looked for by the attempt's tag and adopted when it
    /// shows up; while the recorded submit process still runs nothing else is submitted, and
    /// once it is gone (or never started) without an application the attempt has ended.
    fn resume_submission(&self, id: &str, generation: u64, attempt: &Attempt) -> Duration {
        let Some(rm) = self.rm.as_ref() else {
            return Duration::from_secs(2);
        };
        let found = match rm.apps_tagged(&attempt_tag(attempt)) {
            Ok(apps) => apps.into_iter().next(),
            // The RM cannot be reached: an outage is not an answer.
            Err(_) => return Duration::from_secs(2),
        };
        if found.is_none() {
            let pid_ticks = self.lock().jobs.get(id).and_then(|j| j.pid_ticks);
            let submitting = match (attempt.pid, pid_ticks) {
                (Some(pid), Some(ticks)) => process::is_alive(pid, ticks),
                _ => false,
            };
            if submitting && elapsed_since(attempt.started_ms) < SUBMIT_TIMEOUT {
                return Duration::from_secs(2);
            }
        }
        let mut inner = self.lock();
        let Some(job) = inner
            .jobs
            .get_mut(id)
            .filter(|j| j.generation == generation)
        else {
            return Duration::ZERO;
        };
        let Some(current) = job.current_mut().filter(|a| a.number == attempt.number) else {
            return Duration::ZERO;
        };
        match found {
            Some(app) => {
                current.yarn_application_id = Some(app.id);
                current.pid = None;
                job.pid_ticks = None;
                job.state = JobState::Running;
            }
            None => {
                current.ended_ms = Some(now_ms());
                current.outcome = Some(Outcome::Unknown);
                current.pid = None;
                current.reason = Some("the submission was interrupted by a supervisor restart and produced no YARN application".into());
                schedule_after_end(job, Outcome::Unknown, false);
            }
        }
        self.save(&inner);
        Duration::ZERO
    }
}

/// Why an attempt could not be started.
struct StartError {
    reason: String,
    /// It would fail the same way again ([`failure::is_deterministic`]).
    deterministic: bool,
}

impl StartError {
    fn transient(reason: String) -> StartError {
        StartError {
            reason,
            deterministic: false,
        }
    }

    fn deterministic(reason: String) -> StartError {
        StartError {
            reason,
            deterministic: true,
        }
    }
}

impl From<String> for StartError {
    /// The ResourceManager's answers: an outage is worth another attempt.
    fn from(reason: String) -> StartError {
        StartError::transient(reason)
    }
}

/// After an attempt ended on its own: decide by policy whether and when to start another. A
/// deterministic failure ends the job FAILED whatever the policy.
fn schedule_after_end(job: &mut JobRecord, outcome: Outcome, deterministic: bool) {
    let respawn = &job.spec.job.respawn;
    let again = !deterministic
        && match respawn.policy {
            RespawnPolicy::Always => true,
            RespawnPolicy::OnFailure => matches!(outcome, Outcome::Failed | Outcome::Unknown),
            RespawnPolicy::OnSuccess => outcome == Outcome::Succeeded,
            RespawnPolicy::No => false,
        };
    let ran_ms = job
        .attempts
        .last()
        .map(|a| a.ended_ms.unwrap_or(a.started_ms) - a.started_ms)
        .unwrap_or(0);
    if outcome == Outcome::Succeeded || ran_ms >= HEALTHY_RUN_MS {
        job.consecutive_failures = 0;
    } else {
        job.consecutive_failures += 1;
    }
    if again {
        let base = (respawn.delay_sec * 1000).max(200);
        let backoff = base
            .saturating_mul(1u64 << job.consecutive_failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF_MS);
        job.next_start_ms = now_ms() + backoff;
        job.state = JobState::BackingOff;
        job.reason = job.attempts.last().and_then(|a| a.reason.clone());
    } else {
        job.state = if outcome == Outcome::Succeeded {
            JobState::Ended
        } else {
            JobState::Failed
        };
        job.reason = job.attempts.last().and_then(|a| a.reason.clone());
        if deterministic && respawn.policy != RespawnPolicy::No {
            job.reason = Some(format!(
                "{}; not respawned: it failed before it ran and would fail the same way again",
                job.reason.as_deref().unwrap_or("failed")
            ));
        }
    }
}

/// The plan's environment for the submit command, then the supervisor's own for the job.
fn submit_env(spec: &JobSpec) -> Vec<(String, String)> {
    spec.job
        .submit
        .env
        .clone()
        .into_iter()
        .chain(spec.env.iter().cloned())
        .collect()
}

/// The tag that marks one attempt, unique even if attempt numbers restart.
fn attempt_tag(attempt: &Attempt) -> String {
    format!("dm-attempt-{}-{}", attempt.number, attempt.started_ms)
}

fn elapsed_since(ms: u64) -> Duration {
    Duration::from_millis(now_ms().saturating_sub(ms))
}

/// Keeps the logs of the last attempts only.
fn prune_logs(attempts: &mut [Attempt]) {
    let excess = attempts.len().saturating_sub(KEPT_ATTEMPT_LOGS);
    for attempt in &attempts[..excess] {
        let _ = std::fs::remove_file(&attempt.log);
        let _ = std::fs::remove_file(attempt.log.with_extension("log.1"));
    }
}

/// Runs a command to its end (within `timeout`, killing its group after), output appended to
/// `log`. `Ok(true)` on exit status 0.
fn run_to_end(
    argv: &[String],
    workdir: &Path,
    env: &[(String, String)],
    user: Option<&str>,
    log: &Path,
    timeout: Duration,
    on_spawn: &dyn Fn(u32),
) -> Result<bool, String> {
    let mut child = process::spawn(argv, workdir, env, user, log)
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    on_spawn(child.id());
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.success()),
            Ok(None) if Instant::now() > deadline => {
                process::stop_group(child.id(), Duration::from_secs(5), || {
                    matches!(child.try_wait(), Ok(Some(_)))
                });
                return Err(format!(
                    "{} timed out: it did not finish within {} s",
                    argv[0],
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for {}: {e}", argv[0])),
        }
    }
}

/// A savepoint needs every task running; a job just (re)started may still be building its
/// graph or deploying its tasks, and a JobManager just started may not answer yet: wait for
/// that (up to a limit), not for a job that has ended.
fn wait_all_tasks_running(rm: &ResourceManager, app: &YarnApp) -> Option<FlinkJob> {
    if app.state != "RUNNING" {
        // No JobManager yet: nothing to take a savepoint of.
        return None;
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let progress = rm.flink_job_progress(app);
        let out_of_time = Instant::now() > deadline;
        match progress {
            FlinkProgress::Running(job) if job.all_tasks_running || out_of_time => {
                return Some(job)
            }
            FlinkProgress::Ended => return None,
            FlinkProgress::Unknown | FlinkProgress::Starting if out_of_time => return None,
            _ => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

fn wait_final(rm: &ResourceManager, app_id: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        if rm.app(app_id)?.is_final() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{app_id} did not end within {} s",
                within.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The savepoint path that `flink stop` printed ("Savepoint completed. Path: …").
fn savepoint_path(output: &str) -> Option<String> {
    output
        .lines()
        .rev()
        .find_map(|l| l.split("Savepoint completed. Path: ").nth(1))
        .map(|p| p.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_savepoint_flink_printed() {
        let out = "Suspending job abc.\nSavepoint completed. Path: hdfs://nn:9000/sp/savepoint-abc-1234\nOK\n";
        assert_eq!(
            savepoint_path(out).as_deref(),
            Some("hdfs://nn:9000/sp/savepoint-abc-1234")
        );
        assert_eq!(savepoint_path("nothing here"), None);
    }
}
